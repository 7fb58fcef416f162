"""Latency analyses from histogram bucket frames and from request logs.

Bucket frames are metric frames of a ``*_bucket`` series: ``timestamp``, ``le``, ``value``
plus labels, where ``value`` is a per-bin increase (or a rate) of the cumulative bucket
counter, e.g. ``sum by (le, endpoint) (increase(http_request_duration_seconds_bucket[5m]))``.
Quantiles come from :mod:`tributary_analysis.analysis.histograms`, which reproduces Prometheus's
``histogram_quantile`` (linear interpolation inside the bucket) and gives the bucket bounds
that contain the true quantile — the honest error bar of any histogram quantile.

Two-window comparison (before/after a deploy) offers two tests, named in the output:

* ``chi2-buckets``: a χ² test of homogeneity on the bucket counts of the two windows
  (scipy ``chi2_contingency``) — works from Prometheus alone;
* ``mann-whitney``: the Mann–Whitney U test on individual request durations from logs
  (scipy ``mannwhitneyu``).

Both report the same effect size, the probability of superiority
``P(after > before) + ½ P(tie)`` (0.5 = no change; Vargha & Delaney call 0.56 small,
0.64 medium, 0.71 large). With many requests every tiny shift is "significant" — and
latency drifts with the daily load by a small effect (≈0.55) — so a regression is flagged
only when the FDR-adjusted p-value is below ``alpha`` *and* the effect is at least
``min_effect`` (default 0.64, medium).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.stats import chi2_contingency, mannwhitneyu
from statsmodels.stats.multitest import multipletests

from tributary_analysis.analysis._common import (
    as_list,
    require_columns,
    utc_timestamps,
)
from tributary_analysis.errors import ConfigError, DataError
from tributary_analysis.frames.meta import carry
from tributary_analysis.ground.claims import Insufficient, check_enough
from tributary_analysis.ground.time import Window, parse_duration, parse_time

DEFAULT_QUANTILES: tuple[float, ...] = (0.5, 0.95, 0.99)


# --------------------------------------------------------------------------- buckets


def _le_float(le: pd.Series) -> np.ndarray:
    try:
        return pd.to_numeric(le.astype("string").str.replace("+Inf", "inf", regex=False),
                             errors="raise").to_numpy(dtype=float)
    except (ValueError, TypeError) as exc:
        raise DataError(f"bucket frame has a non-numeric 'le' label ({exc}); pass a "
                        "*_bucket series") from exc


def _check_buckets(buckets: pd.DataFrame, keys: list[str]) -> None:
    require_columns(buckets, ["timestamp", "le", "value", *keys], what="bucket frame",
                    hint="fetch it with fetch.latency_buckets(source, window, step, "
                         f"by={tuple(keys)!r}) (bucket counts per bin)")


def bucket_table(buckets: pd.DataFrame, by: str | Sequence[str] | None = None
                 ) -> pd.DataFrame:
    """Cumulative bucket counts summed over the whole frame: rows = groups, columns = ``le``.

    Summing increases over time gives the histogram of every request in the window.
    """
    keys = as_list(by)
    _check_buckets(buckets, keys)
    df = pd.DataFrame({"le": _le_float(buckets["le"]),
                       "value": buckets["value"].astype("float64").to_numpy()})
    for k in keys:
        df[k] = buckets[k].astype("string").to_numpy()
    df = df[np.isfinite(df["value"])]
    if keys:
        wide = df.pivot_table(index=keys, columns="le", values="value", aggfunc="sum")
    else:
        wide = df.groupby("le")["value"].sum().to_frame().T
    wide = wide.reindex(sorted(wide.columns), axis=1).fillna(0.0)
    if not np.isinf(wide.columns[-1]):
        raise DataError("bucket frame has no le=\"+Inf\" bucket; query the full histogram "
                        "(every le), not a filtered one")
    return wide


def quantiles_over_time(
    buckets: pd.DataFrame,
    qs: Sequence[float] = DEFAULT_QUANTILES,
    by: str | Sequence[str] | None = ("endpoint",),
) -> pd.DataFrame:
    """p50/p95/p99 (or any ``qs``) per timestamp and group, with the bucket error bound.

    Delegates to :func:`tributary_analysis.analysis.histograms.histogram_quantile`, which matches
    PromQL's ``histogram_quantile`` exactly.

    Returns
    -------
    DataFrame
        ``timestamp``, the ``by`` columns, ``quantile``, ``value`` (seconds), ``lower`` and
        ``upper`` (the bucket bounds that contain the true quantile).
    """
    from tributary_analysis.analysis import histograms

    keys = as_list(by)
    _check_buckets(buckets, keys)
    for q in qs:
        if not 0.0 <= float(q) <= 1.0:
            raise ConfigError(f"quantile {q!r} must be between 0 and 1, e.g. 0.95")
    parts = []
    for q in qs:
        part = histograms.histogram_quantile(float(q), buckets, by=keys)
        part.insert(len(part.columns) - 3, "quantile", float(q))
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    # every quantile saw the same buckets: one part's metadata (the buckets' plus what
    # histogram_quantile noted: samples with a bad 'le' left out, monotonicity fixes)
    return carry(out, parts[0]) if parts else carry(out, buckets)


def window_quantiles(
    buckets: pd.DataFrame,
    qs: Sequence[float] = DEFAULT_QUANTILES,
    by: str | Sequence[str] | None = ("endpoint",),
) -> pd.DataFrame:
    """Quantiles of all requests in the frame's window (buckets summed over time)."""
    keys = as_list(by)
    _check_buckets(buckets, keys)
    total = buckets.groupby([*keys, "le"], observed=True)["value"].sum().reset_index()
    total["timestamp"] = utc_timestamps(buckets["timestamp"], what="bucket frame").max()
    res = quantiles_over_time(total, qs, by=keys)
    return res.drop(columns=["timestamp"])


def group_requests(buckets: pd.DataFrame, by: str) -> pd.Series:
    """Requests per ``by`` group over the whole frame (its ``+Inf`` bucket), busiest first."""
    _check_buckets(buckets, [by])
    inf = np.isinf(_le_float(buckets["le"])) if len(buckets) else np.array([], dtype=bool)
    return buckets[inf].groupby(buckets[by].astype(str)[inf])["value"].sum() \
        .sort_values(ascending=False)


def top_groups(buckets: pd.DataFrame, by: str, k: int = 7, *,
               exclude: Sequence[str] = ()) -> pd.DataFrame:
    """The buckets of the ``k`` busiest ``by`` groups, and every other group's buckets
    summed into one group ``other (N)`` — histogram buckets add, so its quantiles are the
    true quantiles of those requests together. ``exclude`` drops groups (health probes).

    Examples
    --------
    >>> b = pd.DataFrame({"timestamp": [0] * 6, "le": ["+Inf"] * 6,
    ...                   "endpoint": list("abcdef"), "value": [6.0, 5, 4, 3, 2, 1]})
    >>> sorted(top_groups(b, "endpoint", k=2)["endpoint"].unique())
    ['a', 'b', 'other (4)']
    """
    _check_buckets(buckets, [by])
    keys = buckets[by].astype(str)
    b = buckets.assign(**{by: keys.to_numpy()})
    b = b[~b[by].isin(list(exclude))]
    inf = np.isinf(_le_float(b["le"])) if len(b) else np.array([], dtype=bool)
    order = b[inf].groupby(by)["value"].sum().sort_values(ascending=False)
    if len(order) <= k + 1:
        return carry(b.reset_index(drop=True), buckets)
    top = set(order.index[:k])
    label = f"other ({len(order) - k})"
    b = b.assign(**{by: np.where(b[by].isin(top), b[by], label)})
    out = b.groupby(["timestamp", by, "le"], observed=True, sort=False)["value"].sum()
    return carry(out.reset_index(), buckets)


def min_requests(q: float) -> int:
    """Requests a quantile needs before it says more than "about the slowest of them":
    ``1 / (1 - q)`` (one request beyond it), at least 10 — 20 for a p95, 100 for a p99.

    Examples
    --------
    >>> min_requests(0.5), min_requests(0.95), min_requests(0.99)
    (10, 20, 100)
    """
    return max(10, int(np.ceil(1.0 / (1.0 - q) - 1e-9)))


def rebin(buckets: pd.DataFrame, step: pd.Timedelta, origin: pd.Timestamp,
          by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Bucket counts per bin summed into coarser ``step`` bins on the grid from ``origin``
    (bin timestamps are ends, as Prometheus's ``increase`` gives them): counts add, so the
    coarser bins' quantiles are those of the requests they hold.

    Examples
    --------
    >>> ts = pd.date_range("2026-01-01 00:02", periods=4, freq="2min", tz="UTC")
    >>> b = pd.DataFrame({"timestamp": ts, "le": "+Inf", "value": [1.0, 2, 3, 4]})
    >>> rebin(b, pd.Timedelta("4min"), pd.Timestamp("2026-01-01", tz="UTC"))["value"].tolist()
    [3.0, 7.0]
    """
    keys = as_list(by)
    _check_buckets(buckets, keys)
    ts = utc_timestamps(buckets["timestamp"], what="bucket frame")
    k = np.ceil((ts - origin) / step).astype("int64")
    frame = buckets.assign(timestamp=origin + k * step)
    out = frame.groupby(["timestamp", *keys, "le"], observed=True, sort=True)["value"].sum()
    return carry(out.reset_index(), buckets)


def withhold_thin_bins(q: pd.DataFrame, buckets: pd.DataFrame,
                       by: str | Sequence[str] | None = None) -> tuple[pd.DataFrame, int]:
    """``q`` (:func:`quantiles_over_time`) with each quantile blanked in the bins whose
    requests are fewer than it needs (:func:`min_requests`): a p99 of 30 requests is the
    slowest of them, not a p99. Returns the frame and how many points were blanked."""
    keys = as_list(by)
    if q.empty:
        return q, 0
    inf = np.isinf(_le_float(buckets["le"]))
    counts = buckets[inf].groupby(["timestamp", *keys], observed=True)["value"].sum()
    counts = counts.rename("_n").reset_index()
    counts["timestamp"] = utc_timestamps(counts["timestamp"], what="bucket frame")
    merged = q.assign(timestamp=utc_timestamps(q["timestamp"], what="quantile frame"))
    for k in keys:
        merged[k] = merged[k].astype(str)
        counts[k] = counts[k].astype(str)
    merged = merged.merge(counts, on=["timestamp", *keys], how="left")
    need = merged["quantile"].astype(float).map(min_requests)
    thin = (merged["_n"].fillna(0) < need).to_numpy() & merged["value"].notna().to_numpy()
    out = q.copy()
    for col in ("value", "lower", "upper"):
        if col in out:
            out.loc[out.index[thin], col] = np.nan
    return carry(out, q), int(thin.sum())


def quantile_claims(buckets: pd.DataFrame, qs: Sequence[float] = DEFAULT_QUANTILES
                    ) -> dict[float, float | Insufficient]:
    """Each quantile of all requests in the window, or :class:`Insufficient` when the
    window holds fewer requests than the quantile needs (:func:`min_requests`)."""
    _check_buckets(buckets, [])
    le = _le_float(buckets["le"]) if len(buckets) else np.array([])
    n = float(buckets["value"].astype("float64")[np.isinf(le)].sum()) if len(buckets) else 0.0
    values = (window_quantiles(buckets, qs, by=None) if n > 0
              else pd.DataFrame(columns=["quantile", "value"]))
    out: dict[float, float | Insufficient] = {}
    for q in qs:
        gap = check_enough(f"p{q * 100:g} latency", have=round(n), need=min_requests(q),
                           unit="requests")
        if gap is not None:
            out[q] = gap
            continue
        hit = values[np.isclose(values["quantile"].astype(float), q)]
        out[q] = float(hit["value"].iloc[0]) if len(hit) else np.nan
    return out


def heatmap_data(buckets: pd.DataFrame, by: str | Sequence[str] | None = None
                 ) -> pd.DataFrame:
    """Per-bucket (non-cumulative) counts per timestamp: the Grafana heatmap panel's data.

    Returns
    -------
    DataFrame
        ``timestamp``, the ``by`` columns, ``lower``, ``upper`` (seconds), ``bucket`` (a
        readable label such as ``"0.05–0.1 s"``), ``count``.
    """
    keys = as_list(by)
    _check_buckets(buckets, keys)
    df = pd.DataFrame({"timestamp": utc_timestamps(buckets["timestamp"], what="bucket frame"),
                       "le": _le_float(buckets["le"]),
                       "value": buckets["value"].astype("float64").to_numpy()})
    for k in keys:
        df[k] = buckets[k].astype("string").to_numpy()
    df = df.groupby(["timestamp", *keys, "le"], sort=True)["value"].sum().reset_index()
    df["count"] = df.groupby(["timestamp", *keys], sort=False)["value"].diff()
    first = df["count"].isna()
    df.loc[first, "count"] = df.loc[first, "value"]
    # a counter reset can make a difference slightly negative: never show negative counts
    df["count"] = df["count"].clip(lower=0.0)
    bounds = np.sort(df["le"].unique())
    lower = dict(zip(bounds, np.concatenate([[0.0], bounds[:-1]]), strict=True)) \
        if len(bounds) else {}
    df["lower"] = df["le"].map(lower)
    df = df.rename(columns={"le": "upper"})
    df["bucket"] = [_bucket_label(lo, hi) for lo, hi in zip(df["lower"], df["upper"],
                                                            strict=True)]
    out = df[["timestamp", *keys, "lower", "upper", "bucket", "count"]]
    return carry(out.reset_index(drop=True), buckets)


def _fmt_s(x: float) -> str:
    return f"{x:g}"


def _bucket_label(lo: float, hi: float) -> str:
    if np.isinf(hi):
        return f"> {_fmt_s(lo)} s"
    return f"{_fmt_s(lo)}–{_fmt_s(hi)} s"


def slo_attainment(
    buckets: pd.DataFrame,
    threshold: float,
    by: str | Sequence[str] | None = ("endpoint",),
    *,
    over_time: bool = False,
) -> pd.DataFrame:
    """Share of requests that finished within ``threshold`` seconds.

    Exact when ``threshold`` is a bucket bound (0.5, 1, 2.5 … for HTTP durations); else
    interpolated inside the bucket by :func:`tributary_analysis.analysis.histograms.fraction_below`
    and ``exact`` is False.

    Returns
    -------
    DataFrame
        The ``by`` columns (and ``timestamp`` when ``over_time``), ``total`` (requests),
        ``attainment`` and ``exact``.
    """
    from tributary_analysis.analysis import histograms

    keys = as_list(by)
    _check_buckets(buckets, keys)
    if not (np.isfinite(threshold) and threshold > 0):
        raise ConfigError(f"threshold={threshold!r} must be a positive number of seconds")
    frame = buckets.assign(value=buckets["value"].astype("float64"))
    if not over_time:
        frame = frame.groupby([*keys, "le"], observed=True)["value"].sum().reset_index()
    res = histograms.fraction_below(float(threshold), frame, by=keys)
    le = _le_float(frame["le"])
    group = (["timestamp"] if over_time else []) + keys
    inf_rows = frame[np.isinf(le)]
    totals = (inf_rows.groupby(group, observed=True)["value"].sum() if group
              else inf_rows["value"])
    res = res.rename(columns={"value": "attainment"})
    if group:
        res = res.merge(totals.rename("total").reset_index(), on=group, how="left")
    else:
        res["total"] = float(totals.sum())
    res["exact"] = bool(np.any(np.isclose(np.unique(le[np.isfinite(le)]), threshold)))
    out = carry(res[[*group, "total", "attainment", "exact"]], buckets)
    out.attrs["threshold"] = threshold
    return out


# ------------------------------------------------------------------ window comparison


def _superiority_binned(before: np.ndarray, after: np.ndarray) -> float:
    """P(after > before) + ½ P(same bucket) from two per-bucket count vectors."""
    nb, na = before.sum(), after.sum()
    if nb <= 0 or na <= 0:
        return float("nan")
    pb, pa = before / nb, after / na
    cdf_b_below = np.concatenate([[0.0], np.cumsum(pb)[:-1]])
    return float(np.sum(pa * (cdf_b_below + 0.5 * pb)))


def compare_windows(
    buckets: pd.DataFrame,
    before: Window,
    after: Window,
    by: str | Sequence[str] | None = ("endpoint",),
    *,
    qs: Sequence[float] = DEFAULT_QUANTILES,
    alpha: float = 0.01,
    min_effect: float = 0.64,
    min_count: float = 30.0,
) -> pd.DataFrame:
    """Compare latency between two windows per group from histogram buckets.

    Test: χ² test of homogeneity of the two windows' bucket counts (``chi2-buckets``),
    p-values adjusted with Benjamini–Hochberg across groups. Quantiles per window come from
    :mod:`tributary_analysis.analysis.histograms`.

    Returns
    -------
    DataFrame
        Per group: ``n_before``, ``n_after``, ``p50_before`` … ``p99_after``,
        ``p95_change`` (ratio − 1), ``effect`` (probability of superiority), ``test``,
        ``statistic``, ``p_value``, ``q_value``, ``regression`` (slower and significant),
        ``improvement``. Groups with fewer than ``min_count`` requests in either window are
        kept but never flagged (``note`` says why).
    """
    keys = as_list(by)
    _check_buckets(buckets, keys)
    ts = utc_timestamps(buckets["timestamp"], what="bucket frame")
    b_frame, a_frame = buckets[before.contains(ts).to_numpy()], buckets[after.contains(ts)
                                                                          .to_numpy()]
    if b_frame.empty or a_frame.empty:
        raise DataError(f"no bucket samples in the {'before' if b_frame.empty else 'after'} "
                        "window; check the windows against the data's time range")
    tb, ta = bucket_table(b_frame, keys), bucket_table(a_frame, keys)
    qb, qa = window_quantiles(b_frame, qs, keys), window_quantiles(a_frame, qs, keys)
    rows = []
    for idx in tb.index.union(ta.index):
        cb = _decumulate(tb.loc[idx]) if idx in tb.index else None
        ca = _decumulate(ta.loc[idx]) if idx in ta.index else None
        key_t = idx if isinstance(idx, tuple) else (idx,)
        row: dict[str, object] = dict(zip(keys, key_t, strict=False)) if keys else {}
        nb = float(cb.sum()) if cb is not None else 0.0
        na = float(ca.sum()) if ca is not None else 0.0
        row.update(n_before=nb, n_after=na, test="chi2-buckets")
        if cb is not None and ca is not None and min(nb, na) >= min_count:
            table = np.vstack([cb.to_numpy(), ca.reindex(cb.index, fill_value=0).to_numpy()])
            table = table[:, table.sum(axis=0) > 0]
            if table.shape[1] >= 2:
                res = chi2_contingency(table, correction=False)
                row.update(statistic=float(res.statistic), p_value=float(res.pvalue))
            else:
                row.update(statistic=0.0, p_value=1.0)
            row["effect"] = _superiority_binned(cb.to_numpy(),
                                                ca.reindex(cb.index, fill_value=0).to_numpy())
            row["note"] = ""
        else:
            row.update(statistic=np.nan, p_value=np.nan, effect=np.nan,
                       note=f"fewer than {min_count:g} requests in a window")
        rows.append(row)
    out = pd.DataFrame(rows)
    out = _attach_quantiles(out, qb, qa, keys, qs)
    return _flag(out, alpha, min_effect, before, after, buckets)


def _decumulate(cum: pd.Series) -> pd.Series:
    counts = cum.diff()
    counts.iloc[0] = cum.iloc[0]
    return counts.clip(lower=0.0)


def _qname(q: float) -> str:
    return f"p{round(q * 100, 3):g}".replace(".", "_")


def _attach_quantiles(out: pd.DataFrame, qb: pd.DataFrame, qa: pd.DataFrame,
                      keys: list[str], qs: Sequence[float]) -> pd.DataFrame:
    for frame, suffix in ((qb, "before"), (qa, "after")):
        if frame.empty:
            continue
        wide = frame.assign(name=frame["quantile"].map(_qname)).pivot_table(
            index=keys or None, columns="name", values="value", aggfunc="first") \
            if keys else frame.assign(name=frame["quantile"].map(_qname)).set_index(
                "name")["value"].to_frame().T
        wide.columns = [f"{c}_{suffix}" for c in wide.columns]
        if keys:
            wide = wide.reset_index()
            for k in keys:
                wide[k] = wide[k].astype("string")
                out[k] = out[k].astype("string")
            out = out.merge(wide, on=keys, how="left")
        else:
            for c in wide.columns:
                out[c] = wide[c].iloc[0]
    for q in qs:
        n = _qname(q)
        if f"{n}_before" in out and f"{n}_after" in out:
            out[f"{n}_change"] = out[f"{n}_after"] / out[f"{n}_before"] - 1.0
    return out


def _flag(out: pd.DataFrame, alpha: float, min_effect: float, before: Window,
          after: Window, *sources: pd.DataFrame) -> pd.DataFrame:
    p = out["p_value"].to_numpy(dtype=float)
    ok = np.isfinite(p)
    q = np.full(len(out), np.nan)
    if ok.any():
        q[ok] = multipletests(p[ok], method="fdr_bh")[1]
    out["q_value"] = q
    sig = np.nan_to_num(q, nan=1.0) < alpha
    eff = out["effect"].to_numpy(dtype=float)
    out["regression"] = sig & (np.nan_to_num(eff, nan=0.5) >= min_effect)
    out["improvement"] = sig & (np.nan_to_num(eff, nan=0.5) <= 1.0 - min_effect)
    out = out.sort_values(["regression", "effect"], ascending=[False, False],
                          kind="stable").reset_index(drop=True)
    return carry(out, *sources)


def compare_windows_logs(
    logs: pd.DataFrame,
    before: Window,
    after: Window,
    by: str | Sequence[str] | None = ("endpoint",),
    *,
    qs: Sequence[float] = DEFAULT_QUANTILES,
    alpha: float = 0.01,
    min_effect: float = 0.64,
    min_count: int = 30,
) -> pd.DataFrame:
    """Compare request durations from logs between two windows with Mann–Whitney U.

    Quantiles are exact sample quantiles (no buckets). Same output columns as
    :func:`compare_windows`, with ``test="mann-whitney"``.
    """
    keys = as_list(by)
    require_columns(logs, ["timestamp", "duration_s", *keys], what="log frame")
    df = logs[logs["duration_s"].notna()]
    ts = utc_timestamps(df["timestamp"], what="log frame")
    parts = {"before": df[before.contains(ts).to_numpy()], "after": df[after.contains(ts)
                                                                      .to_numpy()]}
    groups: dict[tuple[object, ...], dict[str, np.ndarray]] = {}
    for name, part in parts.items():
        it = part.groupby(keys, observed=True) if keys else [((), part)]
        for key, g in it:
            key_t = key if isinstance(key, tuple) else (key,)
            groups.setdefault(tuple(str(k) for k in key_t), {})[name] = \
                g["duration_s"].to_numpy(dtype=float)
    rows = []
    for key_t, d in sorted(groups.items()):
        b, a = d.get("before", np.array([])), d.get("after", np.array([]))
        row: dict[str, object] = dict(zip(keys, key_t, strict=False))
        row.update(n_before=float(len(b)), n_after=float(len(a)), test="mann-whitney")
        for q in qs:
            n = _qname(q)
            row[f"{n}_before"] = float(np.quantile(b, q)) if len(b) else np.nan
            row[f"{n}_after"] = float(np.quantile(a, q)) if len(a) else np.nan
            qb_v, qa_v = float(row[f"{n}_before"]), float(row[f"{n}_after"])  # type: ignore[arg-type]
            row[f"{n}_change"] = qa_v / qb_v - 1.0 if len(b) and len(a) and qb_v else np.nan
        if min(len(a), len(b)) >= min_count:
            res = mannwhitneyu(a, b, alternative="two-sided")
            row.update(statistic=float(res.statistic), p_value=float(res.pvalue),
                       effect=float(res.statistic) / (len(a) * len(b)), note="")
        else:
            row.update(statistic=np.nan, p_value=np.nan, effect=np.nan,
                       note=f"fewer than {min_count} requests in a window")
        rows.append(row)
    out = pd.DataFrame(rows)
    if out.empty:
        raise DataError("no log rows with a duration in either window; check the windows")
    return _flag(out, alpha, min_effect, before, after, logs)


# ---------------------------------------------------------------------------- logs


def log_quantiles(
    logs: pd.DataFrame,
    freq: str = "5m",
    by: str | Sequence[str] | None = ("endpoint",),
    qs: Sequence[float] = DEFAULT_QUANTILES,
) -> pd.DataFrame:
    """Exact duration quantiles per time bin from logs (``timestamp``, by, quantile, value)."""
    keys = as_list(by)
    require_columns(logs, ["timestamp", "duration_s", *keys], what="log frame")
    df = logs.loc[logs["duration_s"].notna(), ["timestamp", "duration_s", *keys]].copy()
    df["timestamp"] = utc_timestamps(df["timestamp"], what="log frame").dt.floor(
        parse_duration(freq, name="freq"))
    qarr = np.asarray(qs, dtype=float)
    g = df.groupby(["timestamp", *keys], observed=True)["duration_s"].quantile(qarr)
    out = g.rename("value").reset_index().rename(columns={f"level_{len(keys) + 1}":
                                                           "quantile"})
    return carry(out, logs)


_DATASET_IN_PATH = r"/datasets/([^/]+)"


def dataset_from_path(path: pd.Series) -> pd.Series:
    """The dataset id inside a raw request path (``/api/v1/datasets/<id>/...``), else NA.

    Request-completed log lines carry the raw path but no ``dataset_id`` field.
    """
    return path.astype("string").str.extract(_DATASET_IN_PATH, expand=False)


SLOWEST_COLUMNS = ("timestamp", "duration_s", "tenant_id", "dataset_id", "method", "path",
                   "endpoint", "status_code", "search_type", "request_id")


def slowest_requests(logs: pd.DataFrame, n: int = 20) -> pd.DataFrame:
    """The ``n`` slowest requests in the logs with tenant, dataset and path."""
    require_columns(logs, ["timestamp", "duration_s"], what="log frame")
    if n <= 0:
        raise ConfigError(f"n={n} must be a positive number of rows")
    cols = [c for c in SLOWEST_COLUMNS if c in logs.columns]
    out = logs.loc[logs["duration_s"].notna(), cols].nlargest(n, "duration_s").copy()
    if "path" in out.columns:
        from_path = dataset_from_path(out["path"])
        if "dataset_id" in out.columns:
            out["dataset_id"] = out["dataset_id"].astype("string").fillna(from_path)
        else:
            out.insert(3, "dataset_id", from_path)
    return carry(out.reset_index(drop=True), logs)


def fleet_version(info: pd.DataFrame, label: str = "version") -> pd.Series:
    """The fleet's version at each timestamp of ``deeplake_api_info`` samples.

    Per instance, the freshest series wins when ``value`` holds sample times (query
    ``timestamp(deeplake_api_info)``): after a deploy the old version's series stays visible
    for the 5-minute lookback (always so for backfilled data, which has no staleness
    markers). Across instances, the majority version wins.
    """
    require_columns(info, ["timestamp", label], what="deeplake_api_info frame",
                    hint="fetch it with fetch.build_info(source, window, step)")
    df = info.dropna(subset=[label]).copy()
    df[label] = df[label].astype("string")
    if "value" not in df.columns:
        df["value"] = 1.0
    if "instance" in df.columns:
        df = (df.sort_values(["timestamp", "instance", "value"], ascending=[True, True, False])
                .drop_duplicates(["timestamp", "instance"]))
    counts = df.groupby(["timestamp", label], observed=True).size().reset_index(name="n")
    major = (counts.sort_values(["timestamp", "n", label], ascending=[True, False, True])
             .drop_duplicates("timestamp").set_index("timestamp")[label])
    return major.astype("string")


def find_deploys(info: pd.DataFrame, label: str = "version") -> pd.DataFrame:
    """Version changes of the fleet (see :func:`fleet_version`), in time order.

    Returns
    -------
    DataFrame
        ``time`` (first timestamp showing the new version), ``from_version``,
        ``to_version``; empty when the version never changed.
    """
    major = fleet_version(info, label)
    if major.empty:
        return pd.DataFrame(columns=["time", "from_version", "to_version"])
    prev = major.shift()
    changed = (major != prev) & prev.notna()
    changed = changed.fillna(False).astype(bool)
    return pd.DataFrame({"time": major.index[changed.to_numpy()],
                         "from_version": prev[changed].to_numpy(),
                         "to_version": major[changed].to_numpy()})


def deploy_windows(deploys: pd.DataFrame, window: Window, *, max_before: str = "6h"
                   ) -> tuple[Window, Window] | None:
    """Before/after windows around the first deploy in ``window``: before is up to
    ``max_before`` (and never before the window), after runs to the next deploy or the
    window's end. ``None`` when no deploy falls inside the window."""
    inside = deploys[(deploys["time"] > window.start) & (deploys["time"] < window.end)]
    if inside.empty:
        return None
    t = parse_time(inside["time"].iloc[0], name="deploy time")
    nxt = inside["time"].iloc[1] if len(inside) > 1 else window.end
    span = min(t - window.start, parse_duration(max_before, name="max_before"))
    return Window(t - span, t), Window(t, parse_time(nxt, name="next deploy time"))
