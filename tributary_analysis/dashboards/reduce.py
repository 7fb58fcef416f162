"""Grafana's reducers: one number per series for stat, gauge, bar gauge, pie and tables.

A stat panel shows ``reduceOptions.calcs`` of each series — by default ``lastNotNull``, the
value at the end of the window (``avg`` for a legacy singlestat). The names are Grafana's;
a reducer the report does not know falls back to ``lastNotNull`` and the page says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

__all__ = ["CALC_LABELS", "calc_of", "reduce_values"]


def _finite(v: np.ndarray) -> np.ndarray:
    return v[np.isfinite(v)]


def _last(v: np.ndarray) -> float:
    return float(v[-1]) if len(v) else math.nan


def _last_not_null(v: np.ndarray) -> float:
    f = v[~np.isnan(v)]
    return float(f[-1]) if len(f) else math.nan


def _first_not_null(v: np.ndarray) -> float:
    f = v[~np.isnan(v)]
    return float(f[0]) if len(f) else math.nan


def _safe(fn: Callable[[np.ndarray], Any]) -> Callable[[np.ndarray], float]:
    def run(v: np.ndarray) -> float:
        f = _finite(v)
        return float(fn(f)) if len(f) else math.nan
    return run


REDUCERS: dict[str, Callable[[np.ndarray], float]] = {
    "lastNotNull": _last_not_null, "last": _last, "firstNotNull": _first_not_null,
    "first": lambda v: float(v[0]) if len(v) else math.nan,
    "mean": _safe(np.mean), "min": _safe(np.min), "max": _safe(np.max),
    "sum": _safe(np.sum), "count": lambda v: float(np.isfinite(v).sum()),
    "range": _safe(lambda f: f.max() - f.min()),
    "delta": _safe(lambda f: float(np.clip(np.diff(f), 0, None).sum()) if len(f) > 1 else 0.0),
    "diff": _safe(lambda f: f[-1] - f[0]), "median": _safe(np.median),
    "logmin": _safe(lambda f: f[f > 0].min() if (f > 0).any() else math.nan),
    "variance": _safe(np.var), "stdDev": _safe(np.std),
}
#: legacy singlestat valueName → reducer
LEGACY = {"avg": "mean", "current": "lastNotNull", "total": "sum", "min": "min", "max": "max",
          "first": "firstNotNull", "delta": "delta", "diff": "diff", "range": "range",
          "last_time": "lastNotNull", "name": "lastNotNull"}
CALC_LABELS = {"lastNotNull": "last value", "last": "last value", "mean": "mean",
               "min": "minimum", "max": "maximum", "sum": "sum", "count": "count",
               "firstNotNull": "first value", "first": "first value", "range": "range",
               "delta": "total increase", "diff": "difference", "median": "median"}


def calc_of(options: Mapping[str, Any], legacy: Mapping[str, Any]) -> tuple[str, str]:
    """``(reducer, note)``: the panel's first calc (``lastNotNull`` by default)."""
    raw = options.get("reduceOptions")
    ro: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    calcs = ro.get("calcs") if isinstance(ro.get("calcs"), list) else []
    name = str(calcs[0]) if calcs else LEGACY.get(str(legacy.get("valueName", "")),
                                                  "lastNotNull")
    if name not in REDUCERS:
        return "lastNotNull", f"reducer {name!r} is not known to the report; shown: last value"
    return name, ""


def reduce_values(values: np.ndarray, calc: str) -> float:
    """One number for a series (NaN when it has none)."""
    return REDUCERS.get(calc, _last_not_null)(np.asarray(values, dtype="float64"))
