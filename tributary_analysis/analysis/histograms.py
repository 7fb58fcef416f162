"""Client-side ``histogram_quantile`` and ``histogram_fraction`` that equal the server's.

Why client-side: once bucket rates are in a frame (one query), any quantile, any SLO
threshold and the estimate's error bound come without another round trip, and they equal
the server's numbers, for the server's version:

* **classic histograms** (``le`` buckets): ``BucketQuantile`` of ``promql/quantile.go``,
  float operations in the same order. ``algorithm="2.42"`` is Prometheus 2.42's (the
  "envelope" forcing monotonic counts); ``"3"`` adds what 2.48/2.49 changed: differences
  between neighbouring buckets below a relative 1e-12 are float noise and ignored, and a
  forced monotonicity is reported (an ``info``);
* **native histograms** (rows with ``buckets``, see
  :mod:`tributary_analysis.sources.prometheus.native`): ``HistogramQuantile`` and
  ``HistogramFraction`` of Prometheus 3 — exponential interpolation inside exponential
  buckets, linear in the zero bucket and in custom (NHCB, ``schema == -53``) buckets;
* **fractions**: :func:`histogram_fraction` (``BucketFraction`` for classic buckets);
  :func:`fraction_below` is the SLO attainment ``histogram_fraction(-Inf, t)``, so
  ``fraction_below(+Inf) == 1``.

The algorithm follows the frame's server (``FrameMeta.details["quantile_algorithm"]``, or
the server named in ``FrameMeta.server``); ``algorithm=`` overrides it. With ``"3"``, a
classic and a native histogram of the same series at the same instant give no result (as
Prometheus 3.5+ does, with a warning).

Series whose ``le`` does not parse as a float are ignored, as the server does, and counted
(``FrameMeta.problems``). Bounds are compared as floats, so ``le="1"`` (2.x) and
``le="1.0"`` (3.x) are the same bucket. By default histograms are grouped by every label
but ``le``, *including the metric name*: two histograms with different names and the same
labels are refused (Prometheus: "vector cannot contain metrics with the same labelset")
instead of being summed into one.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.errors import DataError
from tributary_analysis.frames.meta import Problem, carry, meta_of, update_meta

__all__ = [
    "ALGORITHMS", "algorithm_of", "bucket_fraction", "bucket_quantile", "classic_fraction",
    "fraction_below", "histogram_fraction", "histogram_quantile", "histogram_quantiles",
    "le_values",
    "native_fraction", "native_quantile",
]

ALGORITHMS = ("2.42", "3")
SMALL_DELTA_TOLERANCE = 1e-12
CUSTOM_SCHEMA = -53
_MIN_NORMAL = 2.2250738585072014e-308
_LN2_INV = 1 / math.log(2)
_NATIVE_COLS = ("count", "sum", "schema", "buckets")
_VALUE_COLS = ("value", *_NATIVE_COLS, "string")
Floats = Sequence[float] | np.ndarray
#: one native histogram: count, sum, bucket arrays (rules, lowers, uppers, counts), custom
Native = tuple[float, float, tuple[np.ndarray, ...], bool]


# -- Go's float helpers ----------------------------------------------------------------------

def _div(a: float, b: float) -> float:
    """IEEE division as Go does it (x/0 → ±Inf, 0/0 → NaN), not Python's exception."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _log2(x: float) -> float:
    """Go's ``math.Log2``: exact for powers of two, ``Log(frac)/Ln2 + exp`` otherwise."""
    if x == 0:
        return -math.inf
    if math.isinf(x):
        return math.inf if x > 0 else math.nan
    if x < 0 or math.isnan(x):
        return math.nan
    frac, exp = math.frexp(x)
    if frac == 0.5:
        return float(exp - 1)
    return math.log(frac) * _LN2_INV + float(exp)


def _almost_equal(a: float, b: float, epsilon: float) -> bool:
    """``util/almost.Equal`` (without the staleness marker, which never reaches a frame)."""
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    diff = abs(a - b)
    if a == 0 or b == 0 or abs_sum < _MIN_NORMAL:
        return diff < epsilon * _MIN_NORMAL
    return diff / min(abs_sum, 1.7976931348623157e308) < epsilon


# -- classic buckets -------------------------------------------------------------------------

def _prepare(bounds: Floats, counts: Floats, algorithm: str
             ) -> tuple[list[list[float]] | None, bool]:
    """Sorted, +Inf-terminated, coalesced, monotonic buckets (or None), and whether
    monotonicity had to be forced."""
    if len(bounds) == 0:
        return None, False
    buckets = sorted(([float(b), float(c)] for b, c in zip(bounds, counts, strict=True)),
                     key=lambda x: x[0])
    if not (math.isinf(buckets[-1][0]) and buckets[-1][0] > 0):
        return None, False
    merged = [list(buckets[0])]
    for b, c in buckets[1:]:
        if b == merged[-1][0]:
            merged[-1][1] += c
        else:
            merged.append([b, c])
    forced = False
    if algorithm == "2.42":
        top = -math.inf
        for bk in merged:  # ensureMonotonic: the envelope starting from -Inf
            if bk[1] > top:
                top = bk[1]
            elif bk[1] < top:
                bk[1] = top
                forced = True
    else:  # ensureMonotonicAndIgnoreSmallDeltas
        prev = merged[0][1]
        for bk in merged[1:]:
            curr = bk[1]
            if curr == prev:
                continue
            if _almost_equal(prev, curr, SMALL_DELTA_TOLERANCE):
                bk[1] = prev
                continue
            if curr < prev:
                bk[1] = prev
                forced = True
                continue
            prev = curr
    return merged, forced


def _classic_quantile(q: float, bounds: Floats, counts: Floats,
                      algorithm: str) -> tuple[float, float, float, bool]:
    nan = math.nan
    if math.isnan(q):
        return nan, nan, nan, False
    if q < 0:
        return -math.inf, nan, nan, False
    if q > 1:
        return math.inf, nan, nan, False
    buckets, forced = _prepare(bounds, counts, algorithm)
    if buckets is None or len(buckets) < 2:
        return nan, nan, nan, forced
    observations = buckets[-1][1]
    if observations == 0:
        return nan, nan, nan, forced
    rank = q * observations
    n = len(buckets) - 1
    lo, hi = 0, n  # sort.Search(n, count >= rank)
    while lo < hi:
        mid = (lo + hi) // 2
        if not buckets[mid][1] >= rank:
            lo = mid + 1
        else:
            hi = mid
    b = lo
    if b == n:
        return buckets[n - 1][0], buckets[n - 1][0], math.inf, forced
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0], -math.inf, buckets[0][0], forced
    bucket_start = 0.0
    bucket_end = buckets[b][0]
    count = buckets[b][1]
    if b > 0:
        bucket_start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    return (bucket_start + (bucket_end - bucket_start) * _div(rank, count), bucket_start,
            bucket_end, forced)


def bucket_quantile(q: float, bounds: Floats, counts: Floats, *,
                    algorithm: str = "2.42") -> tuple[float, float, float]:
    """The ``q`` quantile of one classic histogram and the bucket that contains it.

    Parameters
    ----------
    q : float
        Quantile in [0, 1].
    bounds, counts : sequence of float
        Upper bounds (``le``, one must be +Inf) and cumulative counts (or rates), any order.
    algorithm : {"2.42", "3"}
        Which server's ``histogram_quantile`` to equal.

    Returns
    -------
    (estimate, lower, upper) : tuple of float
        ``estimate`` equals Prometheus's ``histogram_quantile``; the true quantile lies in
        ``[lower, upper]`` (the bucket's bounds), so ``upper - lower`` is the error bound.

    Examples
    --------
    >>> bucket_quantile(0.5, [1.0, 2.0, float("inf")], [10, 30, 40])
    (1.5, 1.0, 2.0)
    """
    est, lo, hi, _ = _classic_quantile(q, bounds, counts, _check_algorithm(algorithm))
    return est, lo, hi


def classic_fraction(lower: float, upper: float, bounds: Floats, counts: Floats) -> float:
    """Prometheus 3's ``BucketFraction``: the fraction of observations in ``(lower, upper]``
    of one classic histogram, interpolated linearly inside buckets (from 0 in the lowest
    bucket when its bound is positive; nothing is interpolated in an infinite bucket).

    Examples
    --------
    >>> classic_fraction(-math.inf, 1.5, [1.0, 2.0, math.inf], [10, 30, 40])
    0.5
    >>> classic_fraction(-math.inf, math.inf, [1.0, 2.0, math.inf], [10, 30, 40])
    1.0
    """
    if len(bounds) == 0:
        return math.nan
    buckets = sorted(([float(b), float(c)] for b, c in zip(bounds, counts, strict=True)),
                     key=lambda x: x[0])
    if not (math.isinf(buckets[-1][0]) and buckets[-1][0] > 0):
        return math.nan
    merged = [list(buckets[0])]
    for b, c in buckets[1:]:
        if b == merged[-1][0]:
            merged[-1][1] += c
        else:
            merged.append([b, c])
    count = merged[-1][1]
    if count == 0 or math.isnan(lower) or math.isnan(upper):
        return math.nan
    if lower >= upper:
        return 0.0
    rank = lower_rank = upper_rank = 0.0
    lower_set = upper_set = False
    lower_bound = 0.0 if merged[0][0] > 0 else -math.inf
    for i, (upper_bound, bcount) in enumerate(merged):
        if i > 0:
            lower_bound = merged[i - 1][0]

        def lin(v: float, lb: float = lower_bound, ub: float = upper_bound,
                c: float = bcount, r: float = rank) -> float:
            if lb == -math.inf:
                return c
            return r + (c - r) * _div(v - lb, ub - lb)

        if not lower_set and lower_bound >= lower:
            lower_rank, lower_set = rank, True
        if not upper_set and lower_bound >= upper:
            upper_rank, upper_set = rank, True
        if lower_set and upper_set:
            break
        if not lower_set and lower_bound < lower < upper_bound:
            lower_rank, lower_set = lin(lower), True
        if not upper_set and lower_bound < upper < upper_bound:
            upper_rank, upper_set = lin(upper), True
        if lower_set and upper_set:
            break
        rank = bcount
    if not lower_set or lower_rank > count:
        lower_rank = count
    if not upper_set or upper_rank > count:
        upper_rank = count
    return _div(upper_rank - lower_rank, count)


def bucket_fraction(threshold: float, bounds: Floats, counts: Floats) -> float:
    """Fraction of observations ≤ ``threshold`` (SLO attainment) of one classic histogram:
    ``classic_fraction(-Inf, threshold)``. Above the highest finite bound the +Inf bucket
    cannot be interpolated (the fraction at that bound, a lower bound of the truth), and
    ``threshold = +Inf`` is 1.

    Examples
    --------
    >>> bucket_fraction(1.5, [1.0, 2.0, float("inf")], [10, 30, 40])
    0.5
    """
    return classic_fraction(-math.inf, threshold, bounds, counts)


# -- native histograms -----------------------------------------------------------------------

def _zero_clamp(lo: float, up: float, rules: np.ndarray) -> tuple[float, float]:
    has_neg = bool((rules == 1).any())
    has_pos = bool((rules == 0).any())
    if not has_neg and has_pos:
        return 0.0, up
    if not has_pos and has_neg:
        return lo, 0.0
    return lo, up


#: annotation codes of the native functions (what Prometheus says as an ``info``)
NAN_RESULT, NAN_SKEW, NAN_EXCLUDED = 1, 2, 3
_INFOS = {
    NAN_RESULT: "native histogram(s) with NaN observations gave NaN (the rank lies above all "
                "buckets)",
    NAN_SKEW: "native histogram(s) have NaN observations: the quantile is skewed higher",
    NAN_EXCLUDED: "native histogram(s) have NaN observations, which are excluded from all "
                  "fractions",
}


def native_quantile(q: float, count: float, total: float, rules: np.ndarray,
                    lowers: np.ndarray, uppers: np.ndarray, counts: np.ndarray, *,
                    custom: bool) -> tuple[float, float, float, int]:
    """Prometheus 3's ``HistogramQuantile`` of one native histogram given as its non-empty
    buckets (as the API lists them, lowest first).

    Returns ``(estimate, lower, upper, info)``: the bucket bounds around the estimate (the
    error bound) and an annotation code (0, :data:`NAN_RESULT` or :data:`NAN_SKEW`).
    """
    nan = math.nan
    if q < 0:
        return -math.inf, nan, nan, 0
    if q > 1:
        return math.inf, nan, nan, 0
    if count == 0 or math.isnan(q):
        return nan, nan, nan, 0
    n = len(counts)
    forward = math.isnan(total) or q < 0.5
    order = range(n) if forward else range(n - 1, -1, -1)
    rank = q * count if forward else (1 - q) * count
    acc = 0.0
    lo = up = bc = 0.0
    stop = n
    for i in order:
        c = float(counts[i])
        if c == 0:
            continue
        acc += c
        lo, up, bc = float(lowers[i]), float(uppers[i]), c
        if acc >= rank:
            stop = i + 1
            break
    if not custom and lo < 0 < up:
        lo, up = _zero_clamp(lo, up, rules)
    elif custom:
        if lo == -math.inf:
            if up <= 0:
                return up, -math.inf, up, 0
            lo = 0.0
        elif up == math.inf:
            return lo, lo, math.inf, 0
    acc = min(acc, count)
    if acc < rank:
        if math.isnan(total):
            return nan, lo, up, NAN_RESULT
        return up, lo, up, 0
    rank = rank - (acc - bc) if forward else acc - rank
    info = 0
    if math.isnan(total) and acc + float(np.sum(counts[stop:])) < count:
        info = NAN_SKEW
    fraction = _div(rank, bc)
    if custom or (lo <= 0 <= up):
        return lo + (up - lo) * fraction, lo, up, info
    log_lo, log_up = _log2(abs(lo)), _log2(abs(up))
    if lo > 0:
        return 2.0 ** (log_lo + (log_up - log_lo) * fraction), lo, up, info
    return -(2.0 ** (log_up + (log_lo - log_up) * (1 - fraction))), lo, up, info


def _fraction_below_bucket(v: float, lo: float, up: float, linear: bool) -> float:
    if linear:
        return _div(v - lo, up - lo)
    log_lo, log_up, log_v = _log2(abs(lo)), _log2(abs(up)), _log2(abs(v))
    if v > 0:
        return _div(log_v - log_lo, log_up - log_lo)
    return 1 - _div(log_v - log_up, log_lo - log_up)


def native_fraction(lower: float, upper: float, count: float, total: float,
                    rules: np.ndarray, lowers: np.ndarray, uppers: np.ndarray,
                    counts: np.ndarray, *, custom: bool) -> tuple[float, int]:
    """Prometheus 3's ``HistogramFraction``: the fraction of observations between
    ``lower`` and ``upper`` of one native histogram (non-empty buckets, lowest first), and
    an annotation code (0 or :data:`NAN_EXCLUDED`)."""
    if count == 0 or math.isnan(lower) or math.isnan(upper):
        return math.nan, 0
    if lower >= upper:
        return 0.0, 0
    rank = lower_rank = upper_rank = 0.0
    lower_set = upper_set = False
    acc = 0.0
    n = len(counts)
    i = 0
    while i < n:
        lo, up, bc = float(lowers[i]), float(uppers[i]), float(counts[i])
        i += 1
        acc += bc
        zero_bucket = False
        if custom:
            if lo == -math.inf and up > 0:
                lo = 0.0
        elif lo <= 0 <= up:
            zero_bucket = True
            lo, up = _zero_clamp(lo, up, rules)
        linear = custom or zero_bucket

        def interpolate(v: float, lo: float = lo, up: float = up, bc: float = bc,
                        rank: float = rank, linear: bool = linear) -> float:
            if linear and lo == -math.inf:
                return bc
            return rank + bc * _fraction_below_bucket(v, lo, up, linear)

        if not lower_set and lo >= lower:
            lower_rank, lower_set = rank, True
        if not upper_set and lo >= upper:
            upper_rank, upper_set = rank, True
        if lower_set and upper_set:
            break
        if not lower_set and lo < lower < up:
            lower_rank, lower_set = interpolate(lower), True
        if not upper_set and lo < upper < up:
            upper_rank, upper_set = interpolate(upper), True
        if lower_set and upper_set:
            break
        rank += bc
    info = 0
    if math.isnan(total):
        acc += float(np.sum(counts[i:]))
        effective = acc
        if acc < count:
            info = NAN_EXCLUDED
    else:
        effective = count
    if not lower_set or lower_rank > effective:
        lower_rank = effective
    if not upper_set or upper_rank > effective:
        upper_rank = effective
    return _div(upper_rank - lower_rank, count), info


# -- frames ----------------------------------------------------------------------------------

_VERSION = re.compile(r"Prometheus\s+v?(\d+)\.(\d+)")


def algorithm_of(frame: Any) -> str:
    """The algorithm that equals the frame's server: ``"3"`` for Prometheus 3.x, else
    ``"2.42"`` (also when the server is unknown, the suite's reference server)."""
    meta = meta_of(frame)
    chosen = meta.details.get("quantile_algorithm") if meta.details else None
    if chosen in ALGORITHMS:
        return str(chosen)
    m = _VERSION.search(meta.server or "")
    return "3" if m and int(m.group(1)) >= 3 else "2.42"


def _check_algorithm(algorithm: str) -> str:
    if algorithm not in ALGORITHMS:
        raise DataError(f"algorithm={algorithm!r}: use one of {', '.join(ALGORITHMS)} (the "
                        "server version whose histogram_quantile to follow)")
    return algorithm


def le_values(values: pd.Series) -> tuple[np.ndarray, int]:
    """Bucket bounds as floats (``"1"``, ``"1.0"``, ``"+Inf"``), NaN where unreadable, and
    how many were unreadable: compare bounds with these, never as text."""
    def one(text: object) -> float:
        try:
            return float(str(text))
        except ValueError:
            return math.nan

    if isinstance(values.dtype, pd.CategoricalDtype):
        cats = np.array([one(c) for c in values.cat.categories] + [math.nan])
        codes = values.cat.codes.to_numpy()
        parsed = cats[np.where(codes < 0, len(cats) - 1, codes)]
    else:
        parsed = np.array([one(v) for v in values], dtype=np.float64)
    return parsed, int(np.isnan(parsed).sum())


def _label_columns(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in _VALUE_COLS and c != "le"]


def _group_ids(df: pd.DataFrame, keys: list[str]) -> tuple[np.ndarray, pd.DataFrame]:
    if not keys or df.empty:
        return np.zeros(len(df), np.int64), df[keys].iloc[:1 if len(df) else 0]
    ids = df.groupby(keys, sort=True, observed=True, dropna=False).ngroup().to_numpy()
    first = pd.Series(np.arange(len(df))).groupby(ids).first().to_numpy()
    return ids, df[keys].iloc[first].reset_index(drop=True)


def _keys(df: pd.DataFrame, by: Sequence[str] | None) -> list[str]:
    if by is None:
        return _label_columns(df)
    keys = (["timestamp"] if "timestamp" in df.columns else []) + [
        k for k in by if k != "timestamp"]
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise DataError(f"cannot group buckets by {missing}: not columns of the frame")
    return keys


def _classic_part(df: pd.DataFrame, keys: list[str]
                  ) -> tuple[pd.DataFrame, list[np.ndarray], np.ndarray, np.ndarray, int]:
    rows = df[df["buckets"].isna()] if "buckets" in df.columns else df
    if "le" not in rows.columns:  # every float sample lacks le: malformed, as the server says
        return rows.iloc[:0][keys], [], np.empty(0), np.empty(0), len(rows)
    le, bad = le_values(rows["le"])
    keep = ~np.isnan(le)
    sub = rows.loc[keep].reset_index(drop=True)
    ids, key_frame = _group_ids(sub, keys)
    order = np.argsort(ids, kind="stable")
    cuts = np.flatnonzero(np.diff(ids[order])) + 1
    groups = np.split(order, cuts) if len(order) else []
    return key_frame, groups, le[keep], sub["value"].to_numpy(np.float64), bad


def _native_rows(df: pd.DataFrame) -> pd.DataFrame:
    if "buckets" not in df.columns:
        return df.iloc[:0]
    return df[df["buckets"].notna()].reset_index(drop=True)


def _bucket_arrays(cell: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    items = list(cell) if cell is not None else []
    rules = np.array([b["boundaries"] for b in items], np.int8)
    return (rules, np.array([b["lower"] for b in items], np.float64),
            np.array([b["upper"] for b in items], np.float64),
            np.array([b["count"] for b in items], np.float64))


def _sum_native(rows: pd.DataFrame) -> list[Native]:
    """Native histograms of one group summed (same bucket layout required)."""
    total_count = float(rows["count"].sum())
    total_sum = float(rows["sum"].sum())
    schemas = set(rows["schema"].dropna().astype(int))
    custom = CUSTOM_SCHEMA in schemas
    if len(schemas) > 1:
        raise DataError(f"cannot sum native histograms of different schemas {sorted(schemas)} "
                        "client-side; aggregate on the server (a sum by the same labels "
                        "merges schemas) and pull the result")
    acc: dict[tuple[int, float, float], float] = {}
    for cell in rows["buckets"]:
        for b in cell:
            key = (int(b["boundaries"]), float(b["lower"]), float(b["upper"]))
            acc[key] = acc.get(key, 0.0) + float(b["count"])
    items = sorted(acc.items(), key=lambda kv: (kv[0][1], kv[0][2]))
    arrays = (np.array([k[0] for k, _ in items], np.int8),
              np.array([k[1] for k, _ in items]), np.array([k[2] for k, _ in items]),
              np.array([v for _, v in items]))
    return [(total_count, total_sum, arrays, custom)]


def _native_groups(df: pd.DataFrame, keys: list[str], by: Sequence[str] | None
                   ) -> tuple[pd.DataFrame, list[Native]]:
    rows = _native_rows(df)
    if rows.empty:
        return rows.iloc[:0][keys] if keys else rows.iloc[:0], []
    if by is None:  # each sample is one histogram
        out: list[Native] = []
        for cnt, tot, sch, cell in zip(rows["count"], rows["sum"], rows["schema"],
                                       rows["buckets"], strict=True):
            custom = (not pd.isna(sch)) and int(sch) == CUSTOM_SCHEMA
            out.append((float(cnt), float(tot), _bucket_arrays(cell), custom))
        return rows[keys].reset_index(drop=True), out
    ids, key_frame = _group_ids(rows, keys)
    res: list[Native] = []
    for g in range(len(key_frame)):
        res.extend(_sum_native(rows.iloc[np.flatnonzero(ids == g)]))
    return key_frame, res


def _drop_name(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=[c for c in ("metric",) if c in frame.columns])


def _conflicts(classic_keys: pd.DataFrame, native_keys: pd.DataFrame,
               keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Masks of classic groups and native rows that are the same series at one instant."""
    if classic_keys.empty or native_keys.empty or not keys:
        return np.zeros(len(classic_keys), bool), np.zeros(len(native_keys), bool)
    c = classic_keys.astype({k: str for k in keys if k != "timestamp"})
    n = native_keys.astype({k: str for k in keys if k != "timestamp"})
    c_idx = pd.MultiIndex.from_frame(c[keys])
    n_idx = pd.MultiIndex.from_frame(n[keys])
    return c_idx.isin(n_idx), n_idx.isin(c_idx)


def _restore_labels(out: pd.DataFrame, source: pd.DataFrame) -> pd.DataFrame:
    """Labels the frame builder renamed only because the histogram columns took their names
    (``schema`` → ``label_schema``) get their names back in a result without those columns."""
    renamed = meta_of(source).details.get("renamed_labels") or {}
    back = {col: orig for orig, col in renamed.items()
            if orig in _NATIVE_COLS and col in out.columns and orig not in out.columns}
    return out.rename(columns=back) if back else out


def _compute(buckets: pd.DataFrame, by: Sequence[str] | None, algorithm: str | None,
             classic_fn: Any, native_fn: Any, extra_cols: Sequence[str],
             warnings: Sequence[str] = ()) -> pd.DataFrame:
    algo = _check_algorithm(algorithm or algorithm_of(buckets))
    if "value" not in buckets.columns and len(buckets.columns) and len(buckets):
        raise DataError("a bucket frame needs 'le' and 'value' columns (classic) or native "
                        "histogram rows ('buckets'): query the *_bucket series (e.g. "
                        "promql.catalog.latency_buckets), summed by le")
    if buckets.empty or "value" not in buckets.columns:
        out = pd.DataFrame({c: [] for c in (*_label_columns(buckets), *extra_cols)})
        carry(out, buckets)
        if warnings:
            update_meta(out, warnings=(*meta_of(out).warnings, *warnings))
        return out
    keys = _keys(buckets, by)
    c_keys, c_groups, le, values, bad = _classic_part(buckets, keys)
    n_keys, n_hists = _native_groups(buckets, keys, by)
    c_drop, n_drop = (_conflicts(c_keys, n_keys, keys) if algo == "3"
                      else (np.zeros(len(c_keys), bool), np.zeros(len(n_keys), bool)))
    results: list[tuple[Any, ...]] = []
    forced = 0
    for i, idx in enumerate(c_groups):
        if c_drop[i]:
            continue
        r = classic_fn(le[idx], values[idx], algo)
        forced += int(r[-1])
        results.append(r[:-1])
    codes: dict[int, int] = {}
    for j, (cnt, tot, arrays, custom) in enumerate(n_hists):
        if n_drop[j]:
            continue
        r = native_fn(cnt, tot, arrays, custom)
        if r[-1]:
            codes[r[-1]] = codes.get(r[-1], 0) + 1
        results.append(r[:-1])
    kept = [f.reset_index(drop=True) for f in (c_keys.loc[~c_drop], n_keys.loc[~n_drop])]
    nonempty = [f for f in kept if len(f)]
    out = (pd.concat(nonempty, ignore_index=True) if len(nonempty) > 1
           else nonempty[0] if nonempty else kept[0])
    for k, col in enumerate(extra_cols):
        out[col] = np.array([r[k] for r in results], np.float64)
    if by is None:
        named = out.columns.intersection(["metric"])
        rest = [c for c in out.columns if c not in (*named, *extra_cols)]
        if len(named) and rest and out.duplicated(subset=rest).any():
            dup = out[out.duplicated(subset=rest, keep=False)]
            names = sorted(set(dup["metric"].astype(str)))
            raise DataError(
                f"histograms {', '.join(names)} have the same labels "
                f"({', '.join(rest)}) and would be one series without their names; "
                "Prometheus refuses this (\"vector cannot contain metrics with the same "
                "labelset\"): select one metric, or sum them explicitly (by=[…])")
        out = _drop_name(out)
    out = _restore_labels(out, buckets)
    carry(out, buckets)
    meta = meta_of(out)
    infos = list(meta.infos)
    warnings = [*meta.warnings, *warnings]
    if bad:
        warnings.append(f'bucket label "le" is missing or has a malformed value in {bad} '
                        "sample(s): ignored, as the server does")
    if forced and algo == "3":
        infos.append(f"input to histogram_quantile needed to be fixed for monotonicity in "
                     f"{forced} histogram(s)")
    if c_drop.any() or n_drop.any():
        warnings.append(f"{int(c_drop.sum())} series have a classic and a native histogram "
                        "at the same instant: no result for them (Prometheus 3.5+)")
    for code, n in sorted(codes.items()):
        infos.append(f"{n} {_INFOS[code]}")
    problems = list(meta.problems)
    if bad:
        problems.append(Problem("unparseable_le", bad, dropped=True))
    update_meta(out, infos=tuple(infos), warnings=tuple(warnings), problems=tuple(problems),
                notes=(*meta.notes, f"computed client-side (Prometheus {algo} algorithm)"))
    out.attrs["unparseable_le"] = bad  # legacy key: analysis/latency.py reads it
    return out


def histogram_quantile(q: float, buckets: pd.DataFrame, by: Sequence[str] | None = None,
                       *, algorithm: str | None = None) -> pd.DataFrame:
    """Quantile ``q`` per series and timestamp, as the frame's server computes it.

    Parameters
    ----------
    q : float
        Quantile in [0, 1].
    buckets : DataFrame
        Long frame of classic bucket series (``le`` column), e.g. the result of
        ``sum by (le, endpoint) (rate(http_request_duration_seconds_bucket[5m]))``, and/or
        native histogram rows (``rate(http_request_duration_seconds[5m])`` on Prometheus 3).
    by : sequence of str, optional
        Group by these labels (plus ``timestamp``), summing buckets like ``sum by``;
        default: every label except ``le``, as the server does (metric names included:
        same labels under two names are refused).
    algorithm : {"2.42", "3"}, optional
        Default: the frame's server (:func:`algorithm_of`).

    Returns
    -------
    DataFrame
        The group columns, ``value`` (the estimate), ``lower`` and ``upper`` (bounds of the
        bucket holding the quantile: the estimate's error bound).
    """
    def classic(le: np.ndarray, vals: np.ndarray, algo: str) -> tuple[Any, ...]:
        return _classic_quantile(q, le, vals, algo)

    def native(cnt: float, tot: float, arrays: tuple[np.ndarray, ...],
               custom: bool) -> tuple[Any, ...]:
        return native_quantile(q, cnt, tot, *arrays, custom=custom)

    warn = [] if 0 <= q <= 1 else [f"quantile value should be between 0 and 1, got {q!r}"]
    # (NaN fails the comparison, so it is warned about too, as the server does)
    out = _compute(buckets, by, algorithm, classic, native, ("value", "lower", "upper"), warn)
    out.attrs["quantile"] = q  # legacy key, beside unparseable_le
    return out


def histogram_quantiles(buckets: pd.DataFrame, label: str, qs: Sequence[float],
                        by: Sequence[str] | None = None, *, algorithm: str | None = None
                        ) -> pd.DataFrame:
    """Several quantiles at once (Prometheus 3's ``histogram_quantiles``): the results of
    :func:`histogram_quantile` for each ``q``, told apart by the label ``label`` set to the
    quantile as Prometheus writes it (``"0.5"``, ``"1.0"``).

    A ``label`` that the series already have would make the results collide; it is refused
    as the server refuses it.
    """
    from tributary_analysis.promql import format_om_float

    if label in _label_columns(buckets) and label != "timestamp":
        raise DataError(f"label {label!r} already exists in the histograms: the quantile "
                        "results would overwrite it (Prometheus refuses this too); pick "
                        "another label name")
    parts = []
    for q in qs:
        part = histogram_quantile(float(q), buckets, by, algorithm=algorithm)
        part[label] = format_om_float(float(q))
        parts.append(part)
    if not parts:
        raise DataError("histogram_quantiles needs at least one quantile")
    out = pd.concat(parts, ignore_index=True)
    return carry(out, *parts)


def histogram_fraction(lower: float, upper: float, buckets: pd.DataFrame,
                       by: Sequence[str] | None = None, *, algorithm: str | None = None
                       ) -> pd.DataFrame:
    """Fraction of observations between ``lower`` and ``upper`` per series and timestamp:
    Prometheus 3's ``histogram_fraction`` (classic buckets: ``BucketFraction``). Same
    grouping as :func:`histogram_quantile`."""
    def classic(le: np.ndarray, vals: np.ndarray, algo: str) -> tuple[Any, ...]:
        return classic_fraction(lower, upper, le, vals), False

    def native(cnt: float, tot: float, arrays: tuple[np.ndarray, ...],
               custom: bool) -> tuple[Any, ...]:
        return native_fraction(lower, upper, cnt, tot, *arrays, custom=custom)

    return _compute(buckets, by, algorithm, classic, native, ("value",))


def fraction_below(threshold: float, buckets: pd.DataFrame, by: Sequence[str] | None = None,
                   *, algorithm: str | None = None) -> pd.DataFrame:
    """Fraction of observations ≤ ``threshold`` per series and timestamp (SLO attainment):
    ``histogram_fraction(-Inf, threshold)``, so ``threshold = +Inf`` gives 1. Pick
    thresholds on bucket bounds for exact answers."""
    out = histogram_fraction(-math.inf, threshold, buckets, by, algorithm=algorithm)
    out.attrs["threshold"] = threshold  # legacy key
    return out
