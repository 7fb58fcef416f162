"""Client-side histogram quantiles that reproduce Prometheus 2.42's ``histogram_quantile``.

Why client-side: once bucket rates are in a frame (one query), any quantile, any SLO
threshold and the estimate's error bound come without another round trip, and they equal
the server's numbers (the algorithm below is a line-by-line port of ``bucketQuantile`` in
``promql/quantile.go`` of Prometheus 2.42, float operations in the same order):

1. ``q`` NaN → NaN; ``q < 0`` → -Inf; ``q > 1`` → +Inf;
2. sort buckets by upper bound; if the highest is not ``+Inf`` → NaN;
3. merge buckets with equal bounds (``"1"`` and ``"1.0"``), then force monotonic counts
   (a lower bucket's count never exceeds a higher one's: the "envelope");
4. fewer than 2 buckets or 0 observations → NaN;
5. rank = q·total; first bucket with count ≥ rank; in the ``+Inf`` bucket → the highest
   finite bound; in the lowest bucket with bound ≤ 0 → that bound; otherwise linear
   interpolation inside the bucket, from 0 for the lowest bucket.

Series whose ``le`` does not parse as a float are ignored, as the server does, and counted
in ``attrs["unparseable_le"]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from tributary_analysis.errors import DataError

_EXCLUDED = ("le", "metric", "__name__")


def _div(a: float, b: float) -> float:
    """IEEE division as Go does it (x/0 → ±Inf, 0/0 → NaN), not Python's exception."""
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _prepare(bounds: Sequence[float], counts: Sequence[float]) -> list[list[float]] | None:
    """Steps 2-3 of the algorithm: sorted, +Inf-terminated, coalesced, monotonic; or None."""
    if len(bounds) == 0:
        return None
    buckets = sorted(([float(b), float(c)] for b, c in zip(bounds, counts, strict=True)),
                     key=lambda x: x[0])
    if not (math.isinf(buckets[-1][0]) and buckets[-1][0] > 0):
        return None
    merged = [list(buckets[0])]
    for b, c in buckets[1:]:
        if b == merged[-1][0]:
            merged[-1][1] += c
        else:
            merged.append([b, c])
    top = -math.inf
    for bk in merged:  # ensureMonotonic (2.42: the envelope starting from -Inf)
        if bk[1] > top:
            top = bk[1]
        elif bk[1] < top:
            bk[1] = top
    return merged


def bucket_quantile(q: float, bounds: Sequence[float], counts: Sequence[float]
                    ) -> tuple[float, float, float]:
    """The ``q`` quantile of one classic histogram and the bucket that contains it.

    Parameters
    ----------
    q : float
        Quantile in [0, 1].
    bounds, counts : sequence of float
        Upper bounds (``le``, one must be +Inf) and cumulative counts (or rates), any order.

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
    nan = math.nan
    if math.isnan(q):
        return nan, nan, nan
    if q < 0:
        return -math.inf, nan, nan
    if q > 1:
        return math.inf, nan, nan
    buckets = _prepare(bounds, counts)
    if buckets is None or len(buckets) < 2:
        return nan, nan, nan
    observations = buckets[-1][1]
    if observations == 0:
        return nan, nan, nan
    rank = q * observations
    n = len(buckets) - 1
    b = n  # sort.Search(n, count >= rank): first index where true, else n
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if not buckets[mid][1] >= rank:
            lo = mid + 1
        else:
            hi = mid
    b = lo
    if b == n:
        return buckets[n - 1][0], buckets[n - 1][0], math.inf
    if b == 0 and buckets[0][0] <= 0:
        return buckets[0][0], -math.inf, buckets[0][0]
    bucket_start = 0.0
    bucket_end = buckets[b][0]
    count = buckets[b][1]
    if b > 0:
        bucket_start = buckets[b - 1][0]
        count -= buckets[b - 1][1]
        rank -= buckets[b - 1][1]
    return (bucket_start + (bucket_end - bucket_start) * _div(rank, count), bucket_start,
            bucket_end)


def bucket_fraction(threshold: float, bounds: Sequence[float], counts: Sequence[float]) -> float:
    """Fraction of observations ≤ ``threshold`` (SLO attainment), interpolated linearly
    inside the bucket that contains it, with the same bucket preparation as the quantile.

    Above the highest finite bound the +Inf bucket cannot be interpolated, so the result is
    the fraction at that bound (a lower bound of the truth). The inverse of
    :func:`bucket_quantile` inside the finite buckets.

    Examples
    --------
    >>> bucket_fraction(1.5, [1.0, 2.0, float("inf")], [10, 30, 40])
    0.5
    """
    if math.isnan(threshold):
        return math.nan
    buckets = _prepare(bounds, counts)
    if buckets is None or len(buckets) < 2:
        return math.nan
    total = buckets[-1][1]
    if total == 0 or math.isnan(total):
        return math.nan
    prev_bound, prev_count = 0.0, 0.0
    if buckets[0][0] <= 0:
        prev_bound, prev_count = -math.inf, 0.0
    for bound, count in buckets[:-1]:
        if threshold < bound:
            if threshold <= prev_bound:
                return prev_count / total
            if math.isinf(prev_bound):  # lowest bucket reaches below 0: no interpolation
                return prev_count / total
            width = bound - prev_bound
            return (prev_count + (count - prev_count) * (threshold - prev_bound) / width) / total
        prev_bound, prev_count = bound, count
    return prev_count / total


def _parse_le(values: pd.Series) -> tuple[np.ndarray, int]:
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
    bad = int(np.isnan(parsed).sum())
    return parsed, bad


def _groups(df: pd.DataFrame, by: Sequence[str] | None
            ) -> tuple[list[str], pd.DataFrame, list[np.ndarray], np.ndarray, np.ndarray, int]:
    if "le" not in df.columns or "value" not in df.columns:
        raise DataError("a bucket frame needs 'le' and 'value' columns: query the *_bucket "
                        "series (e.g. promql.catalog.latency_buckets), summed by le")
    le, bad = _parse_le(df["le"])
    keep = ~np.isnan(le)
    if by is None:
        keys = [c for c in df.columns if c not in ("value", *_EXCLUDED)]
    else:
        keys = (["timestamp"] if "timestamp" in df.columns else []) + [
            k for k in by if k != "timestamp"]
        missing = [k for k in keys if k not in df.columns]
        if missing:
            raise DataError(f"cannot group buckets by {missing}: not columns of the frame")
    sub = df.loc[keep, keys].reset_index(drop=True)
    values = df["value"].to_numpy(dtype=np.float64)[keep]
    le = le[keep]
    if keys:
        ids = sub.groupby(keys, sort=True, observed=True, dropna=False).ngroup().to_numpy()
    else:
        ids = np.zeros(len(sub), dtype=np.int64)
    order = np.argsort(ids, kind="stable")
    ids_sorted = ids[order]
    cuts = np.flatnonzero(np.diff(ids_sorted)) + 1
    index_groups = np.split(order, cuts) if len(order) else []
    firsts = np.array([g[0] for g in index_groups], dtype=np.int64)
    key_frame = sub.iloc[firsts].reset_index(drop=True) if len(firsts) else sub.iloc[:0]
    return keys, key_frame, index_groups, le, values, bad


def histogram_quantile(q: float, buckets: pd.DataFrame, by: Sequence[str] | None = None
                       ) -> pd.DataFrame:
    """Quantile ``q`` per series and timestamp of a bucket frame, like the server computes.

    Parameters
    ----------
    q : float
        Quantile in [0, 1].
    buckets : DataFrame
        Long frame of bucket series (``le`` column), e.g. the result of
        ``sum by (le, endpoint) (rate(http_request_duration_seconds_bucket[5m]))``.
    by : sequence of str, optional
        Group by these labels (plus ``timestamp``), summing buckets like ``sum by``;
        default: every label except ``le`` and the metric name, as the server does.

    Returns
    -------
    DataFrame
        The group columns, ``value`` (the estimate), ``lower`` and ``upper`` (bounds of the
        bucket holding the quantile: the estimate's error bound).
    """
    _, out, groups, le, values, bad = _groups(buckets, by)
    est = np.empty(len(groups))
    lower = np.empty(len(groups))
    upper = np.empty(len(groups))
    for i, idx in enumerate(groups):
        est[i], lower[i], upper[i] = bucket_quantile(q, le[idx], values[idx])
    out = out.copy()
    out["value"], out["lower"], out["upper"] = est, lower, upper
    out.attrs = dict(buckets.attrs)
    out.attrs.update({"quantile": q, "unparseable_le": bad})
    return out


def fraction_below(threshold: float, buckets: pd.DataFrame, by: Sequence[str] | None = None
                   ) -> pd.DataFrame:
    """Fraction of observations ≤ ``threshold`` per series and timestamp (SLO attainment).

    Same grouping as :func:`histogram_quantile`; see :func:`bucket_fraction` for the
    interpolation. Pick thresholds on bucket bounds for exact answers.
    """
    _, out, groups, le, values, bad = _groups(buckets, by)
    frac = np.array([bucket_fraction(threshold, le[idx], values[idx]) for idx in groups])
    out = out.copy()
    out["value"] = frac
    out.attrs = dict(buckets.attrs)
    out.attrs.update({"threshold": threshold, "unparseable_le": bad})
    return out
