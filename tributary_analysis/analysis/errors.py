"""Error analyses: error ratios, errors by type, top messages, error episodes.

Everything starts from a *counts frame*: one row per time bin (and group) with ``errors``
and ``total`` request counts in that bin. Build it from Prometheus with
:func:`request_counts` (from ``increase(http_requests_total[step])`` by ``status_code``) or
from logs with :func:`request_counts_from_logs`; the rest of the module does not care which.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tributary_analysis.analysis._common import (
    as_list,
    infer_step,
    note_problem,
    require_columns,
    utc_timestamps,
)
from tributary_analysis.frames.meta import carry
from tributary_analysis.ground.time import parse_duration, parse_time

#: Status codes that count as errors for availability (the seed's HighErrorRate: ``5..``).
DEFAULT_ERROR_STATUS = r"5.."


def _is_error(status: pd.Series, pattern: str) -> pd.Series:
    rx = re.compile(f"^(?:{pattern})$")
    return status.astype("string").fillna("").map(lambda s: bool(rx.match(s))).astype(bool)


def request_counts(
    requests: pd.DataFrame,
    by: str | Sequence[str] | None = ("endpoint",),
    *,
    error_status: str = DEFAULT_ERROR_STATUS,
) -> pd.DataFrame:
    """Per-bin error and total counts from a Prometheus metric frame.

    Parameters
    ----------
    requests : DataFrame
        Metric frame of ``increase(http_requests_total[step])`` (or ``rate``) with at least
        ``timestamp``, ``value`` and ``status_code``, plus the ``by`` labels.
    by : str or sequence of str
        Labels to keep (``endpoint``, ``tenant_id``, ``status_code`` …); ``None`` for overall.
    error_status : str
        Regular expression (PromQL-style, fully anchored) of error status codes.

    Returns
    -------
    DataFrame
        ``timestamp``, the ``by`` columns, ``errors``, ``total``, ``ratio`` (NaN when
        ``total`` is 0).

    Examples
    --------
    >>> f = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-01"] * 2, utc=True),
    ...                   "status_code": ["200", "500"], "endpoint": ["/a", "/a"],
    ...                   "value": [9.0, 1.0]})
    >>> request_counts(f)[["errors", "total", "ratio"]].iloc[0].tolist()
    [1.0, 10.0, 0.1]
    """
    keys = as_list(by)
    require_columns(requests, ["timestamp", "value", "status_code", *keys],
                    what="requests frame",
                    hint="fetch it with fetch.requests_per_bin(source, window, step, "
                         f"by=('status_code', {', '.join(map(repr, keys))}))")
    df = pd.DataFrame({"timestamp": utc_timestamps(requests["timestamp"], what="requests")})
    for k in keys:
        df[k] = requests[k].to_numpy()
    value = requests["value"].astype("float64").to_numpy()
    finite = np.isfinite(value)
    df["total"] = np.where(finite, value, 0.0)
    df["errors"] = np.where(_is_error(requests["status_code"], error_status).to_numpy()
                            & finite, value, 0.0)
    dropped = int((~finite).sum())
    out = (df.groupby(["timestamp", *keys], observed=True, sort=True)[["errors", "total"]]
             .sum().reset_index())
    out["ratio"] = _ratio(out["errors"], out["total"])
    carry(out, requests)
    return note_problem(out, "non-finite request sample (NaN/Inf)", dropped)


def request_counts_from_logs(
    logs: pd.DataFrame,
    freq: str = "1m",
    by: str | Sequence[str] | None = ("endpoint",),
    *,
    error_status: str = DEFAULT_ERROR_STATUS,
) -> pd.DataFrame:
    """Per-bin error and total counts from a normalized log frame (request events).

    Only rows with a ``status_code`` are counted (request-completed events): other events
    (startup, errors logged on their own) are not requests.
    """
    keys = as_list(by)
    require_columns(logs, ["timestamp", "status_code", *keys], what="log frame")
    step = parse_duration(freq, name="freq")
    has_status = logs["status_code"].notna()
    df = logs.loc[has_status, ["timestamp", "status_code", *keys]].copy()
    df["timestamp"] = utc_timestamps(df["timestamp"], what="log frame").dt.floor(step)
    df["total"] = 1.0
    df["errors"] = _is_error(df["status_code"].astype("Int64").astype("string"),
                             error_status).astype(float).to_numpy()
    out = (df.groupby(["timestamp", *keys], observed=True, sort=True)[["errors", "total"]]
             .sum().reset_index())
    out["ratio"] = _ratio(out["errors"], out["total"])
    return carry(out, logs)


def counts_from_log_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """A counts frame from a log source's ``summary()`` (``requests``, ``errors_5xx``).

    The summary is pushed down to DuckDB or Elasticsearch, so this is the cheap way to get
    error ratios from logs over long windows.
    """
    require_columns(summary, ["timestamp", "requests", "errors_5xx"], what="log summary",
                    hint="call LogSource.summary(start, end, interval, by=...)")
    out = summary.drop(columns=[c for c in summary.columns if c.startswith("latency_")
                                or c == "errors_4xx"]).rename(
        columns={"requests": "total", "errors_5xx": "errors"})
    out["total"] = out["total"].astype("float64")
    out["errors"] = out["errors"].astype("float64")
    out["ratio"] = _ratio(out["errors"], out["total"])
    return carry(out, summary)


def _ratio(errors: pd.Series, total: pd.Series) -> pd.Series:
    with np.errstate(invalid="ignore", divide="ignore"):
        return pd.Series(np.where(total > 0, errors / total.where(total > 0), np.nan),
                         index=errors.index, dtype="float64")


def error_ratio(
    counts: pd.DataFrame, by: str | Sequence[str] | None = None, *, window: str | None = None
) -> pd.DataFrame:
    """Error ratio over time by the given groups, optionally smoothed over a rolling window.

    Parameters
    ----------
    counts : DataFrame
        A counts frame (:func:`request_counts`, :func:`request_counts_from_logs`).
    by : str or sequence of str, optional
        Groups to keep; others are summed away. ``None`` gives the overall ratio.
    window : str, optional
        Rolling window such as ``"5m"`` (sums errors and totals, then divides, the way
        ``sum(rate(errors[5m]))/sum(rate(total[5m]))`` does).
    """
    keys = as_list(by)
    require_columns(counts, ["timestamp", "errors", "total", *keys], what="counts frame",
                    hint="build it with request_counts() or request_counts_from_logs()")
    g = counts.groupby(["timestamp", *keys], observed=True, sort=True)[["errors", "total"]].sum()
    g = g.reset_index()
    if window:
        span = parse_duration(window, name="window")
        parts = []
        for _, part in (g.groupby(keys, observed=True, sort=True) if keys else [((), g)]):
            p = part.set_index("timestamp").sort_index()
            rolled = p[["errors", "total"]].rolling(span).sum()
            p = p.assign(errors=rolled["errors"], total=rolled["total"])
            parts.append(p.reset_index())
        g = pd.concat(parts, ignore_index=True) if parts else g
    g["ratio"] = _ratio(g["errors"], g["total"])
    return carry(g, counts)


def errors_by_type(errors: pd.DataFrame, by: Sequence[str] = ("error_type", "error_code")
                   ) -> pd.DataFrame:
    """Totals of ``errors_total`` increases by type and code, largest first, with shares.

    ``errors`` is a metric frame of ``increase(errors_total[step])`` with the ``by`` labels.
    """
    keys = list(by)
    require_columns(errors, ["value", *keys], what="errors_total frame")
    vals = errors["value"].astype("float64")
    frame = errors.assign(value=vals.where(np.isfinite(vals), 0.0))
    out = (frame.groupby(keys, observed=True)["value"].sum().rename("errors").reset_index()
           .sort_values("errors", ascending=False, kind="stable").reset_index(drop=True))
    total = out["errors"].sum()
    out["share"] = out["errors"] / total if total > 0 else np.nan
    return carry(out, errors)


def top_error_messages(logs: pd.DataFrame, n: int = 10, *, min_level: str = "ERROR"
                       ) -> pd.DataFrame:
    """The most frequent error messages in a log frame.

    Groups error-level events (or any row with an ``error_type``) by message, type and
    code, and reports count, share, first/last seen, the number of distinct tenants and
    the three tenants with most occurrences.
    """
    require_columns(logs, ["timestamp", "level", "event", "error_type", "error_code",
                           "tenant_id"], what="log frame")
    levels = ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
    floor = levels.index(min_level.upper()) if min_level.upper() in levels else 3
    lvl = logs["level"].astype("string").str.upper()
    is_err = lvl.isin(levels[floor:]).fillna(False) | logs["error_type"].notna()
    df = logs.loc[is_err.to_numpy(dtype=bool)].copy()
    if df.empty:
        out = pd.DataFrame(columns=["event", "error_type", "error_code", "count", "share",
                                    "first_seen", "last_seen", "tenants", "top_tenants"])
        return carry(out, logs)
    for c in ("event", "error_type", "error_code", "tenant_id"):
        df[c] = df[c].astype("string").fillna("(none)")
    keys = ["event", "error_type", "error_code"]
    grouped = df.groupby(keys, sort=False)
    out = grouped.agg(count=("timestamp", "size"), first_seen=("timestamp", "min"),
                      last_seen=("timestamp", "max"), tenants=("tenant_id", "nunique"))
    top = grouped["tenant_id"].agg(lambda s: ", ".join(s.value_counts().index[:3]))
    out["top_tenants"] = top
    out = out.reset_index().sort_values("count", ascending=False, kind="stable")
    out["share"] = out["count"] / len(df)
    cols = ["event", "error_type", "error_code", "count", "share", "first_seen",
            "last_seen", "tenants", "top_tenants"]
    return carry(out[cols].head(n).reset_index(drop=True), logs)


@dataclass(frozen=True)
class EpisodeRules:
    """How an error episode is recognised.

    A bin is judged on at least ``min_volume`` requests (a 1-of-2 blip is not an episode):
    its own when it has them, else pooled with its neighbours — centred, widening by a bin
    each side up to ``min_duration`` — so that a quiet hour's 15-request minutes are judged
    in threes instead of not at all. It is *bad* when that error ratio ≥ ``threshold``,
    *good* when below it, and *unknown* when even the widest pool is too small. Bad bins
    merge when closer than ``merge_gap`` or when only unknown bins lie between them; runs
    shorter than ``min_duration`` or with fewer than ``min_errors`` errors are dropped.
    """

    threshold: float = 0.05
    min_volume: float = 20.0
    merge_gap: str = "5m"
    min_duration: str = "3m"
    min_errors: float = 5.0


def detect_episodes(
    counts: pd.DataFrame,
    by: str | Sequence[str] | None = "endpoint",
    *,
    rules: EpisodeRules | None = None,
    tenants: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Find error episodes: contiguous periods of elevated error ratio.

    Parameters
    ----------
    counts : DataFrame
        Counts frame at a regular step (``timestamp``, ``by``, ``errors``, ``total``).
    by : str or sequence of str, optional
        Detect per group (``"endpoint"``) or overall (``None``).
    rules : EpisodeRules, optional
        Threshold, minimum volume, gap merging and minimum duration.
    tenants : DataFrame, optional
        Counts frame that also has ``tenant_id`` (and the ``by`` columns): used to name the
        affected tenants of each episode (tenants whose error ratio in the episode is at
        least the threshold, with errors ≥ ``min_errors``), largest first.

    Returns
    -------
    DataFrame
        One row per episode: ``start``, ``end`` (end of the last bad bin), ``duration``,
        the ``by`` columns, ``peak_time``, ``peak_ratio``, ``errors``, ``requests``,
        ``ratio`` (over the episode), ``tenants`` (list) — sorted by start.
    """
    rules = rules or EpisodeRules()
    keys = as_list(by)
    require_columns(counts, ["timestamp", "errors", "total", *keys], what="counts frame",
                    hint="build it with request_counts() or request_counts_from_logs()")
    step = infer_step(counts["timestamp"], what="counts frame")
    gap = parse_duration(rules.merge_gap, name="merge_gap")
    min_dur = parse_duration(rules.min_duration, name="min_duration")
    g = counts.groupby(["timestamp", *keys], observed=True, sort=True)[["errors", "total"]]
    agg = g.sum().reset_index()
    rows: list[dict[str, object]] = []
    groups = agg.groupby(keys, observed=True, sort=True) if keys else [((), agg)]
    for key, part in groups:
        part = part.sort_values("timestamp")
        errs_p, tot_p = _pooled(part, step, rules.min_volume, max(1, int(min_dur / step)))
        ratio = _ratio(errs_p, tot_p)
        enough = tot_p >= rules.min_volume
        bad = (ratio >= rules.threshold) & enough
        good = (ratio < rules.threshold) & enough
        bad_ts = part.loc[bad.to_numpy(), "timestamp"]
        good_ts = part.loc[good.to_numpy(), "timestamp"]
        for start, end in _runs(bad_ts, step, gap, good_ts):
            if end - start < min_dur:
                continue
            inside = part[(part["timestamp"] >= start) & (part["timestamp"] < end)]
            errs, tot = float(inside["errors"].sum()), float(inside["total"].sum())
            if errs < rules.min_errors:
                continue
            r_in = _ratio(inside["errors"], inside["total"]).where(
                inside["total"] >= rules.min_volume)
            peak_i = r_in.idxmax() if r_in.notna().any() else inside.index[0]
            row: dict[str, object] = {"start": start, "end": end, "duration": end - start}
            key_t = key if isinstance(key, tuple) else (key,)
            row.update(dict(zip(keys, key_t, strict=False)))
            row.update(peak_time=inside.at[peak_i, "timestamp"],
                       peak_ratio=float(r_in.max()) if r_in.notna().any() else np.nan,
                       errors=errs, requests=tot, ratio=errs / tot if tot else np.nan)
            row["tenants"] = affected_tenants(tenants, keys, key_t, start, end, rules) \
                if tenants is not None else []
            rows.append(row)
    cols = ["start", "end", "duration", *keys, "peak_time", "peak_ratio", "errors",
            "requests", "ratio", "tenants"]
    out = pd.DataFrame(rows, columns=cols)
    if not out.empty:
        out = out.sort_values(["start", *keys], kind="stable").reset_index(drop=True)
    return carry(out, counts, step=step)


def _pooled(part: pd.DataFrame, step: pd.Timedelta, min_volume: float, max_bins: int
            ) -> tuple[pd.Series, pd.Series]:
    """Errors and requests each bin is judged on: its own when it has ``min_volume``
    requests, else the smallest centred pool of neighbouring bins (on the regular grid:
    a missing bin counts as no requests) up to ``max_bins`` wide that has them."""
    errors = part["errors"].astype("float64")
    total = part["total"].astype("float64")
    if max_bins < 3 or len(part) == 0 or bool((total >= min_volume).all()):
        return errors, total
    ts = pd.DatetimeIndex(part["timestamp"])
    grid = pd.date_range(ts.min(), ts.max(), freq=step)
    e = pd.Series(errors.to_numpy(), index=ts).reindex(grid, fill_value=0.0)  # one row per
    t = pd.Series(total.to_numpy(), index=ts).reindex(grid, fill_value=0.0)  # bin and group
    out_e, out_t = e.copy(), t.copy()
    short = t < min_volume
    for width in range(3, max_bins + 1, 2):
        if not short.any():
            break
        we = e.rolling(width, center=True, min_periods=1).sum()
        wt = t.rolling(width, center=True, min_periods=1).sum()
        take = short & (wt >= min_volume)
        out_e[take], out_t[take] = we[take], wt[take]
        short &= ~take
    return (pd.Series(out_e.reindex(ts).to_numpy(), index=part.index),
            pd.Series(out_t.reindex(ts).to_numpy(), index=part.index))


def _runs(bad_ts: pd.Series, step: pd.Timedelta, gap: pd.Timedelta, good_ts: pd.Series
          ) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Merge bad bins into ``[start, end)`` runs.

    Two bad bins join when the gap between them is at most ``gap`` *or* holds no good
    bin: bins with too little traffic to judge are neutral (a quiet minute inside an
    outage does not end it; a healthy one does, if the gap is long enough).
    """
    good = np.sort(pd.DatetimeIndex(good_ts).as_unit("ns").asi8)
    runs: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    for ts in sorted(bad_ts):
        if runs:
            last_end = runs[-1][1]
            lo = np.searchsorted(good, last_end.value, side="left")
            hi = np.searchsorted(good, pd.Timestamp(ts).value, side="left")
            if ts - last_end <= gap or hi <= lo:
                runs[-1] = (runs[-1][0], ts + step)
                continue
        runs.append((ts, ts + step))
    return runs


def affected_tenants(tenants: pd.DataFrame, keys: Sequence[str], key: Sequence[object],
                     start: pd.Timestamp, end: pd.Timestamp, rules: EpisodeRules | None = None
                     ) -> list[str]:
    """Tenants whose error ratio during ``[start, end)`` in the group ``key`` reached the
    episode threshold (with at least ``min_errors`` errors), most errors first.

    ``tenants`` is a counts frame with ``tenant_id`` and the ``keys`` columns; fetch it
    only for an episode's window when the full breakdown would be large.
    """
    rules = rules or EpisodeRules()
    keys = list(keys)
    require_columns(tenants, ["timestamp", "tenant_id", "errors", "total", *keys],
                    what="tenant counts frame")
    mask = (tenants["timestamp"] >= start) & (tenants["timestamp"] < end)
    for k, v in zip(keys, key, strict=False):
        mask &= tenants[k].astype("string") == str(v)
    sub = tenants.loc[mask.to_numpy(dtype=bool)]
    if sub.empty:
        return []
    per = sub.groupby("tenant_id", observed=True)[["errors", "total"]].sum()
    per = per[(per["errors"] >= rules.min_errors)
              & (per["errors"] / per["total"].where(per["total"] > 0) >= rules.threshold)]
    return [str(t) for t in per.sort_values("errors", ascending=False).index]


def episode_overlap(episodes: pd.DataFrame, start: object, end: object) -> pd.DataFrame:
    """Episodes that overlap ``[start, end)`` (used to match detections with incidents)."""
    require_columns(episodes, ["start", "end"], what="episodes frame")
    s = parse_time(start, name="start")  # type: ignore[arg-type]
    e = parse_time(end, name="end")  # type: ignore[arg-type]
    return episodes[(episodes["start"] < e) & (episodes["end"] > s)]
