"""Budgets: a range query is estimated before it is sent, and refused when too big.

A typo in a step (``1s`` for ``1m`` over a month) should not send thousands of requests or
pull hundreds of millions of samples into a notebook. Before a range query goes out:

* **requests** are counted exactly from the chunk plan (:mod:`.chunking`);
* **points per series** exactly from start, end and step;
* **series**, only when the range needs more than one request, by one instant query of
  ``count(<expr>)`` at the range's end (one step's worth of the work); a range that fits
  in one request is left to the server's own ``--query.max-samples`` guard.

``samples ≈ series × points``. Over ``max_requests`` or ``max_samples`` the query is
refused with :class:`~tributary_analysis.errors.BudgetExceeded`
naming the estimate and how to proceed: a coarser step (the message computes one that
fits), a shorter window, or a larger budget (``max_samples=`` / ``--max-samples``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from tributary_analysis.errors import BudgetExceeded
from tributary_analysis.ground.time import format_duration, parse_duration

#: defaults: a 50M-sample frame is ~1 GB in memory; 1,000 requests is a long pull
MAX_SAMPLES = 50_000_000
MAX_REQUESTS = 1_000
_NICE_STEPS = ("15s", "30s", "1m", "2m", "5m", "10m", "15m", "30m", "1h", "2h", "3h", "6h",
               "12h", "1d", "7d")


@dataclass(frozen=True)
class Estimate:
    """What a range query will cost, computed before it is sent."""

    requests: int
    points: int
    series: int | None = None
    series_at: str = ""

    @property
    def samples(self) -> int | None:
        return None if self.series is None else self.series * self.points

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["samples"] = self.samples
        return out


def _n(x: int) -> str:
    return f"{x:,}"


def suggest_step(span: pd.Timedelta, step: pd.Timedelta, series: int | None, *,
                 max_samples: int | None, max_requests: int | None,
                 max_points: int) -> pd.Timedelta | None:
    """The finest round step above ``step`` that fits both budgets (None if none does)."""
    for text in _NICE_STEPS:
        cand = parse_duration(text)
        if cand <= step:
            continue
        points = int(span / cand) + 1
        requests = -(-points // max_points)
        if max_requests is not None and requests > max_requests:
            continue
        if max_samples is not None and series is not None and series * points > max_samples:
            continue
        return cand
    return None


def check(est: Estimate, *, expr: str, window: str, span: pd.Timedelta, step: pd.Timedelta,
          max_samples: int | None, max_requests: int | None, max_points: int,
          url: str) -> None:
    """Raise :class:`BudgetExceeded` when ``est`` is over a budget (``None`` = no budget)."""
    over_requests = max_requests is not None and est.requests > max_requests
    samples = est.samples
    over_samples = max_samples is not None and samples is not None and samples > max_samples
    if not (over_requests or over_samples):
        return
    cost = f"{_n(est.requests)} request(s) of up to {_n(max_points)} points per series"
    if samples is not None:
        cost += (f" and about {_n(samples)} samples ({_n(est.series or 0)} series at "
                 f"{est.series_at} × {_n(est.points)} points)")
    else:
        cost += f" ({_n(est.points)} points per series)"
    limits = []
    if over_requests:
        limits.append(f"max_requests={_n(max_requests or 0)}")
    if over_samples:
        limits.append(f"max_samples={_n(max_samples or 0)}")
    better = suggest_step(span, step, est.series, max_samples=max_samples,
                          max_requests=max_requests, max_points=max_points)
    if better is not None:
        pts = int(span / better) + 1
        fits = f"--step {format_duration(better)} needs {_n(-(-pts // max_points))} " \
               "request(s)" + (f" and about {_n(pts * est.series)} samples"
                               if est.series is not None else "")
        how = f"use a coarser step ({fits}), a shorter window"
    else:
        how = "use a much shorter window or aggregate in PromQL first"
    raise BudgetExceeded(
        f"not sent: query_range of {expr!r} over {window} at step {format_duration(step)} "
        f"would need {cost}, over the budget ({', '.join(limits)}); {how}, or raise the "
        "budget (max_samples= / --max-samples, max_requests=; None for no limit)",
        estimate=est.as_dict(), source="prometheus", url=url, query=expr,
        error_type="budget")
