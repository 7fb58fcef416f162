"""Trace analyses (pure: span and trace frames in, frames out; no I/O).

Definitions (each computed here and nowhere else):

self time
    A span's duration minus the union of its children's intervals (clipped to the span):
    the time the span's own code ran. Self times of a trace sum to its root's duration when
    children stay inside their parents and siblings do not overlap (concurrent siblings
    count their overlap twice; the critical path does not).
critical path
    Jaeger's definition: from the end of a span, walk back through the child that finished
    last before the cursor, recursively; the gaps between are the span's own. A child that
    ran concurrently with a longer sibling is off the path. ``critical_s`` is a span's time
    on it; a trace's ``critical_s`` sum to its root's duration.
share of the critical path
    An operation's ``critical_s`` summed over the traces, divided by the traces' summed root
    durations: the share of the waiting the operation explains.
slow traces
    Slower than the ``q`` quantile of their own kind (the root's ``route``), as
    :func:`~tributary_analysis.analysis.attribution.slow_mask` selects requests; compared
    with the rest by Fisher's exact test with Benjamini–Hochberg correction
    (:func:`~tributary_analysis.analysis.attribution.attribute`).
error traces
    Traces whose root span is ERROR (the request failed: a 5xx or an exception that escaped);
    grouped by the exception where it was raised (the deepest span with one).

Estimates the data cannot carry are returned as :class:`~tributary_analysis.ground.claims.
Insufficient` (too few traces for a profile, too few slow traces to compare).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.analysis.attribution import attribute, slow_mask
from tributary_analysis.errors import DataError
from tributary_analysis.frames.meta import carry, meta_of, update_meta
from tributary_analysis.frames.traces import (
    ROUTE_ATTRIBUTE,
    TENANT_ATTRIBUTE,
    require_span_columns,
    span_depth,
    trace_frame,
)
from tributary_analysis.ground.claims import Insufficient, check_enough
from tributary_analysis.ground.time import TimeLike, Window, iso, parse_time

__all__ = [
    "DEFAULT_TRACE_ATTRIBUTES",
    "MIN_PROFILE_TRACES",
    "MIN_SLOW_TRACES",
    "Insufficient",
    "critical_path",
    "episode_traces",
    "error_groups",
    "example_ids",
    "logs_for_traces",
    "operation_profile",
    "self_time",
    "slow_traces",
    "spike_traces",
    "summary_of",
    "trace_features",
    "trace_findings",
]

#: traces an operation profile needs before it claims shares
MIN_PROFILE_TRACES = 20
#: slow traces (and as many normal ones) the slow-versus-normal comparison needs
MIN_SLOW_TRACES = 20
#: trace-level attributes compared between slow and normal traces
DEFAULT_TRACE_ATTRIBUTES: tuple[str, ...] = (
    "bottleneck", "tenant_id", "version", "pod", "dataset_id", "search_type", "cache_hit",
    "index_type", "status_code")
_SPAN_NEEDS = ["trace_id", "span_id", "parent_span_id", "operation", "start", "end",
               "duration_s"]


def _ns(col: pd.Series) -> np.ndarray:
    """UTC instants as int64 nanoseconds."""
    return np.asarray(pd.DatetimeIndex(pd.to_datetime(col, utc=True)).as_unit("ns").asi8)


def _parent_index(spans: pd.DataFrame) -> np.ndarray:
    """Row position of each span's parent in the frame (-1: a root or a missing parent)."""
    tid = spans["trace_id"].astype(str).to_numpy(dtype=object)
    key = pd.Index(tid + ":" + spans["span_id"].astype(str).to_numpy(dtype=object))
    parent = spans["parent_span_id"]
    pkey = tid + ":" + parent.astype(object).fillna("").astype(str).to_numpy(dtype=object)
    idx = key.get_indexer(pkey)
    idx[parent.isna().to_numpy()] = -1
    return idx


def self_time(spans: pd.DataFrame) -> pd.Series:
    """Self time of every span in seconds (see the module docstring), on ``spans``' index.

    Examples
    --------
    >>> t0 = pd.Timestamp("2026-01-01", tz="UTC")
    >>> ms = lambda x: t0 + pd.Timedelta(milliseconds=x)
    >>> s = pd.DataFrame({"trace_id": ["t"] * 3, "span_id": ["r", "a", "b"],
    ...                   "parent_span_id": [None, "r", "r"], "operation": ["R", "A", "B"],
    ...                   "start": [ms(0), ms(10), ms(20)], "end": [ms(100), ms(30), ms(40)],
    ...                   "duration_s": [0.1, 0.02, 0.02]})
    >>> self_time(s).round(3).tolist()   # A and B overlap: the root waits 30 ms for them
    [0.07, 0.02, 0.02]
    """
    require_span_columns(spans, _SPAN_NEEDS)
    n = len(spans)
    if n == 0:
        return pd.Series([], index=spans.index, dtype=float)
    start, end = _ns(spans["start"]), _ns(spans["end"])
    pidx = _parent_index(spans)
    has = np.nonzero(pidx >= 0)[0]
    covered = np.zeros(n, np.int64)
    if has.size:
        p = pidx[has]
        s = np.maximum(start[has], start[p])
        e = np.minimum(end[has], end[p])
        ok = e > s
        p, s, e = p[ok], s[ok], e[ok]
        order = np.lexsort((s, p))
        p, s, e = p[order], s[order], e[order]
        # union of the children's intervals per parent: what each child adds beyond the
        # latest end of the children before it (int64 ns throughout: floats lose ns)
        cm = pd.Series(e).groupby(p).cummax().to_numpy(dtype=np.int64)
        same = np.r_[False, p[1:] == p[:-1]]
        prev = np.r_[np.iinfo(np.int64).min, cm[:-1]]
        prev[~same] = np.iinfo(np.int64).min
        part = np.maximum(0, e - np.maximum(s, prev))
        covered = np.bincount(p, weights=part, minlength=n).astype(np.int64)
    dur = np.maximum(end - start, 0)
    return pd.Series(np.maximum(dur - covered, 0) / 1e9, index=spans.index)


def critical_path(spans: pd.DataFrame) -> pd.Series:
    """Each span's time on its trace's critical path, in seconds (Jaeger's definition, see
    the module docstring), on ``spans``' index.

    Examples
    --------
    >>> t0 = pd.Timestamp("2026-01-01", tz="UTC")
    >>> ms = lambda x: t0 + pd.Timedelta(milliseconds=x)
    >>> s = pd.DataFrame({"trace_id": ["t"] * 3, "span_id": ["r", "a", "b"],
    ...                   "parent_span_id": [None, "r", "r"], "operation": ["R", "A", "B"],
    ...                   "start": [ms(0), ms(10), ms(10)], "end": [ms(100), ms(60), ms(30)],
    ...                   "duration_s": [0.1, 0.05, 0.02]})
    >>> critical_path(s).round(3).tolist()   # B ran alongside the longer A: off the path
    [0.05, 0.05, 0.0]
    """
    require_span_columns(spans, _SPAN_NEEDS)
    n = len(spans)
    out = np.zeros(n, np.int64)
    if n == 0:
        return pd.Series([], index=spans.index, dtype=float)
    start, end = _ns(spans["start"]), _ns(spans["end"])
    pidx = _parent_index(spans)
    children: dict[int, list[int]] = {}
    order = np.lexsort((-end, pidx))  # by parent, latest end first
    for i in order.tolist():
        p = int(pidx[i])
        if p >= 0:
            children.setdefault(p, []).append(i)
    st, en = start.tolist(), end.tolist()
    for root in np.nonzero(pidx < 0)[0].tolist():
        # (span, its clipped start, its clipped end): walk back from the end
        stack = [(root, st[root], en[root])]
        while stack:
            i, lo, hi = stack.pop()
            cursor = hi
            for c in children.get(i, ()):
                c_lo, c_hi = max(st[c], lo), min(en[c], hi)
                if c_hi <= c_lo or c_hi > cursor:
                    continue  # outside the parent, or overlapped by the later child
                out[i] += cursor - c_hi
                stack.append((c, c_lo, c_hi))
                cursor = c_lo
            out[i] += max(cursor - lo, 0)
    return pd.Series(out / 1e9, index=spans.index)


def operation_profile(spans: pd.DataFrame, *, by: Sequence[str] = ("service", "operation"),
                      min_traces: int = MIN_PROFILE_TRACES) -> pd.DataFrame | Insufficient:
    """Per operation: count, self time, time on the critical path and its share.

    Returns
    -------
    DataFrame or Insufficient
        ``by`` columns, ``spans``, ``traces``, ``self_s`` and ``critical_s`` (summed),
        ``self_share`` and ``critical_share`` (of the traces' summed root durations),
        ``p50_s``/``p95_s`` of the span duration, ``rank`` by ``critical_share``; rows sorted
        by rank. ``Insufficient`` with fewer than ``min_traces`` traces.
    """
    require_span_columns(spans, [*_SPAN_NEEDS, *by])
    n_traces = int(spans["trace_id"].nunique()) if len(spans) else 0
    gap = check_enough("an operation profile", have=n_traces, need=min_traces, unit="traces")
    if gap is not None:
        return gap
    df = pd.DataFrame({c: spans[c].astype(str).to_numpy() for c in by})
    df["trace_id"] = spans["trace_id"].astype(str).to_numpy()
    df["duration_s"] = spans["duration_s"].to_numpy(dtype=float)
    df["self_s"] = self_time(spans).to_numpy()
    df["critical_s"] = critical_path(spans).to_numpy()
    roots = spans["parent_span_id"].isna().to_numpy()
    total = float(np.nansum(df["duration_s"].to_numpy()[roots])) or np.nan
    g = df.groupby(list(by), sort=False, observed=True)
    out = g.agg(spans=("trace_id", "size"), traces=("trace_id", "nunique"),
                self_s=("self_s", "sum"), critical_s=("critical_s", "sum"),
                p50_s=("duration_s", "median"),
                p95_s=("duration_s", lambda s: float(np.nanquantile(s, 0.95))))
    out["self_share"] = out["self_s"] / total
    out["critical_share"] = out["critical_s"] / total
    out = out.sort_values(["critical_share", "self_share"], ascending=False,
                          kind="stable").reset_index()
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    cols = ["rank", *by, "spans", "traces", "self_s", "critical_s", "self_share",
            "critical_share", "p50_s", "p95_s"]
    out = carry(out[cols], spans)
    out.attrs.update(traces=n_traces, total_s=total)
    return out


def _first_attr(spans: pd.DataFrame, column: str, tids: pd.Index) -> pd.Series:
    """Per trace: the value of ``column`` on its shallowest span that has one."""
    if column not in spans.columns:
        return pd.Series([None] * len(tids), index=tids, dtype=object)
    v = spans[column]
    have = v.notna().to_numpy()
    sub = pd.DataFrame({"t": spans["trace_id"].astype(str).to_numpy()[have],
                        "v": v.astype(object).to_numpy()[have],
                        "d": span_depth(spans)[have]})
    first = sub.sort_values(["t", "d"], kind="stable").drop_duplicates("t").set_index("t")["v"]
    return first.reindex(tids)


def trace_features(spans: pd.DataFrame, traces: pd.DataFrame | None = None) -> pd.DataFrame:
    """The trace frame plus what a slow trace may have in common, one row per trace.

    Adds ``bottleneck`` (the operation with the most critical-path time in the trace),
    ``version`` and ``pod`` (resource attributes), the request's ``dataset_id``,
    ``search_type``, ``cache_hit``, ``index_type`` (from the span that has them), and a
    ``has:<operation>`` column (``yes``/``no``) for every operation present in some traces
    but not all.
    """
    require_span_columns(spans, _SPAN_NEEDS)
    tf = trace_frame(spans) if traces is None else traces
    tids = pd.Index(tf["trace_id"].astype(str))
    out = tf.copy()
    crit = critical_path(spans).to_numpy()
    op = spans["operation"].astype(str).to_numpy()
    tid = spans["trace_id"].astype(str).to_numpy()
    per = pd.DataFrame({"t": tid, "op": op, "c": crit}).groupby(["t", "op"], sort=False)[
        "c"].sum().reset_index()
    best = per.sort_values(["t", "c"], ascending=[True, False], kind="stable").drop_duplicates(
        "t").set_index("t")["op"]
    out["bottleneck"] = best.reindex(tids).to_numpy()
    for name, col in (("version", "resource.service.version"), ("pod", "resource.k8s.pod.name"),
                      ("dataset_id", "dataset_id"), ("search_type", "search_type"),
                      ("cache_hit", "cache_hit"), ("index_type", "index_type")):
        out[name] = _first_attr(spans, col, tids).to_numpy()
    present = pd.crosstab(tid, op) > 0
    n = len(present)
    for o in present.columns:
        k = int(present[o].sum())
        if 0 < k < n:
            out[f"has:{o}"] = np.where(present[o].reindex(tids).fillna(False).to_numpy(),
                                       "yes", "no")
    for c in out.columns:
        if out[c].dtype == object:
            out[c] = out[c].astype("str").astype("category")
    return carry(out, spans)


def slow_traces(spans: pd.DataFrame, *, q: float = 0.95, by: Sequence[str] = ("route",),
                attributes: Sequence[str] | None = None, reference: Any = None,
                alpha: float = 0.01, min_support: float = 0.05,
                min_slow: int = MIN_SLOW_TRACES) -> pd.DataFrame | Insufficient:
    """Which operations and attributes the slow traces have more often than the rest.

    Parameters
    ----------
    spans : DataFrame
        A span frame.
    q : float
        A trace is slow above this quantile of its kind's durations (``by``; default the
        root route).
    attributes : sequence of str, optional
        Trace features to test (default :data:`DEFAULT_TRACE_ATTRIBUTES` that exist, plus
        every ``has:<operation>``).
    reference : boolean mask over the traces, optional
        Where the quantiles come from (e.g. the traces before a deploy); default all.

    Returns
    -------
    DataFrame or Insufficient
        :func:`~tributary_analysis.analysis.attribution.attribute`'s ranking (``attribute``,
        ``value``, support, baseline share, risk ratio, p and q values, ``significant``);
        ``Insufficient`` with fewer than ``min_slow`` slow (or normal) traces.
    """
    feats = trace_features(spans)
    if feats.empty:
        return Insufficient("slow-trace comparison", "0 traces", f"{min_slow * 2} traces")
    sel = slow_mask(feats, by=list(by), q=q, reference=reference)
    n_slow, n_norm = int(sel.sum()), int((~sel).sum())
    gap = check_enough("slow-trace comparison", have=min(n_slow, n_norm), need=min_slow,
                       unit="slow traces" if n_slow <= n_norm else "normal traces")
    if gap is not None:
        return gap
    if attributes is None:
        attributes = [a for a in DEFAULT_TRACE_ATTRIBUTES if a in feats.columns
                      and feats[a].notna().any()]
        attributes += [c for c in feats.columns if str(c).startswith("has:")]
    ranking = attribute(feats, sel, attributes=list(attributes), alpha=alpha,
                        min_support=min_support)
    ranking.attrs.update(slow_traces=n_slow, normal_traces=n_norm, q=q, by=list(by))
    return ranking


def error_groups(spans: pd.DataFrame, traces: pd.DataFrame | None = None) -> pd.DataFrame:
    """Failed traces (root span ERROR) grouped by the exception where it was raised.

    Returns
    -------
    DataFrame
        ``exception_type`` (``(none recorded)`` when no span recorded one), ``traces``,
        ``share`` (of the failed traces), ``message`` (the most frequent), ``routes`` and
        ``tenants`` (distinct counts), ``top_route``, ``first``/``last`` (UTC),
        ``example_trace_id`` (the first); largest group first. Empty when nothing failed.
    """
    require_span_columns(spans, _SPAN_NEEDS)
    tf = trace_frame(spans) if traces is None else traces
    failed = tf[tf["error"].astype(bool)].copy()
    cols = ["exception_type", "traces", "share", "message", "routes", "tenants", "top_route",
            "first", "last", "example_trace_id"]
    if failed.empty:
        return carry(pd.DataFrame({c: [] for c in cols}), spans)
    failed["exception_type"] = failed["exception_type"].astype(object).where(
        failed["exception_type"].notna(), "(none recorded)")
    msg = pd.Series(dtype=object)
    if "exception_message" in spans.columns:
        m = spans[["trace_id", "exception_type", "exception_message"]].dropna()
        msg = m.groupby("exception_type", observed=True)["exception_message"].agg(
            lambda s: s.value_counts().index[0])
    g = failed.groupby("exception_type", sort=False)
    out = pd.DataFrame({
        "traces": g.size(),
        "routes": g["route"].nunique(), "tenants": g["tenant_id"].nunique(),
        "top_route": g["route"].agg(_most_common),
        "first": g["start"].min(), "last": g["start"].max(),
        "example_trace_id": g["trace_id"].first(),
    })
    out["share"] = out["traces"] / len(failed)
    out = out.reset_index()
    out["message"] = [msg.get(t) for t in out["exception_type"].tolist()]
    out = out.sort_values(["traces", "exception_type"], ascending=[False, True],
                          kind="stable").reset_index(drop=True)
    out = carry(out[cols], spans)
    out.attrs.update(failed_traces=len(failed), traces=len(tf))
    return out


def _most_common(values: pd.Series) -> object:
    counts = values.value_counts()
    return counts.index[0] if len(counts) else None


def _window(start: TimeLike, end: TimeLike) -> Window:
    return Window(parse_time(start, name="start"), parse_time(end, name="end"))


def spike_traces(traces: pd.DataFrame, start: TimeLike, end: TimeLike, *,
                 route: str | None = None, tenant: str | None = None, n: int = 5
                 ) -> pd.DataFrame:
    """The ``n`` slowest traces of a latency spike ``[start, end)`` (optionally one route
    and tenant): examples to open for a finding of the latency analysis."""
    w = _window(start, end)
    sel = tf_in(traces, w)
    if route is not None:
        sel = sel[sel["route"].astype(str) == route]
    if tenant is not None:
        sel = sel[sel["tenant_id"].astype(str) == tenant]
    out = sel.sort_values(["duration_s", "trace_id"], ascending=[False, True],
                          kind="stable").head(n).reset_index(drop=True)
    return carry(out, traces)


def tf_in(traces: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Traces that started in ``window``."""
    if "start" not in traces.columns:
        raise DataError("trace frame lacks 'start'; build it with trace_frame()")
    return traces[window.contains(pd.to_datetime(traces["start"], utc=True)).to_numpy()]


def episode_traces(episodes: pd.DataFrame, traces: pd.DataFrame, *, n: int = 3,
                   by: str | None = "endpoint") -> pd.DataFrame:
    """Example failed traces for each error episode of :func:`~tributary_analysis.analysis.
    errors.detect_episodes` (matched on the episode's window and, when it has one, its
    ``endpoint`` = the root ``route``): up to ``n`` per episode, of its most common
    exception first.

    Returns
    -------
    DataFrame
        ``episode`` (row of ``episodes``), ``episode_start``/``episode_end``, then the trace
        frame's columns; an episode without sampled failed traces has no rows (see
        ``attrs["without_traces"]``).
    """
    for c in ("start", "end"):
        if c not in episodes.columns:
            raise DataError(f"episodes frame lacks {c!r}; build it with detect_episodes()")
    rows = []
    missing: list[int] = []
    for k, ep in enumerate(episodes.itertuples(index=False)):
        w = Window(parse_time(ep.start, name="episode start"),  # type: ignore[arg-type]
                   parse_time(ep.end, name="episode end"))  # type: ignore[arg-type]
        sel = tf_in(traces, w)
        sel = sel[sel["error"].astype(bool)]
        if by and by in episodes.columns and pd.notna(getattr(ep, by)):
            sel = sel[sel["route"].astype(str) == str(getattr(ep, by))]
        if sel.empty:
            missing.append(k)
            continue
        top = sel["exception_type"].astype(object).fillna("(none recorded)")
        rank = top.map(top.value_counts())
        pick = sel.assign(_r=rank.to_numpy()).sort_values(["_r", "start"],
                                                          ascending=[False, True],
                                                          kind="stable").head(n)
        pick = pick.drop(columns="_r").assign(episode=k, episode_start=w.start,
                                             episode_end=w.end)
        rows.append(pick)
    cols = ["episode", "episode_start", "episode_end", *traces.columns]
    out = pd.concat(rows, ignore_index=True)[cols] if rows else pd.DataFrame(
        {c: [] for c in cols})
    out = carry(out, traces, episodes)
    out.attrs["without_traces"] = missing
    if missing:
        notes = meta_of(out).notes
        update_meta(out, notes=(*notes, f"{len(missing)} episode(s) have no failed trace in "
                                        "the sample"))
    return out


def logs_for_traces(traces: pd.DataFrame, logs: pd.DataFrame, *,
                    tolerance: str = "1ms") -> pd.DataFrame:
    """The log lines of some traces, each tagged with its ``trace_id``.

    Joined on ``trace_id`` when the log frame has it (the service's lines carry it);
    otherwise matched as the request: the completion line (``status_code`` present) whose
    time equals the root span's end within ``tolerance`` and whose ``path`` and
    ``tenant_id`` are the root's, then every line with that line's ``request_id`` (lines
    without a request id are then not found). The method is in ``attrs["joined_on"]``.
    """
    if "trace_id" not in traces.columns:
        raise DataError("traces frame lacks 'trace_id'; build it with trace_frame()")
    tids = traces["trace_id"].astype(str)
    if logs.empty:
        out = logs.assign(trace_id=pd.Series([], dtype="str"))
        out = carry(out, logs, traces)
        out.attrs["joined_on"] = "trace_id" if "trace_id" in logs.columns else "request"
        return out
    if "trace_id" in logs.columns:
        out = logs[logs["trace_id"].astype(str).isin(set(tids))].copy()
        how = "trace_id"
    else:
        need = [c for c in ("timestamp", "status_code", "request_id", "path") if
                c not in logs.columns]
        if need or "end" not in traces.columns or "url_path" not in traces.columns:
            raise DataError("the log frame has no trace_id and cannot be matched by request "
                            f"(missing {', '.join(need) or 'url_path/end on the traces'}); "
                            "read logs that carry trace_id, or traces with url_path")
        done = logs[logs["status_code"].notna()]
        tol = pd.Timedelta(tolerance)
        key = traces[["trace_id", "end", "url_path"]].copy()
        key["end"] = pd.to_datetime(key["end"], utc=True)
        cand = done[["timestamp", "path", "request_id"]].copy()
        cand["timestamp"] = pd.to_datetime(cand["timestamp"], utc=True)
        m = pd.merge_asof(key.sort_values("end"), cand.sort_values("timestamp"),
                          left_on="end", right_on="timestamp", left_by="url_path",
                          right_by="path", tolerance=tol, direction="nearest")
        m = m.dropna(subset=["request_id"])
        rid = dict(zip(m["request_id"], m["trace_id"], strict=True))
        out = logs[logs["request_id"].isin(set(rid))].copy()
        out["trace_id"] = out["request_id"].map(rid)
        how = "request"
    out = out.sort_values([c for c in ("trace_id", "timestamp") if c in out.columns],
                          kind="stable").reset_index(drop=True)
    out = carry(out, logs, traces)
    out.attrs["joined_on"] = how
    return out


def attach_url_path(traces: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """The trace frame with the root's ``url.path`` as ``url_path`` (for request matching)."""
    col = "url.path"
    tids = pd.Index(traces["trace_id"].astype(str))
    roots = spans[spans["parent_span_id"].isna()]
    if col in roots.columns:
        m = pd.Series(roots[col].astype(object).to_numpy(), index=roots["trace_id"].astype(str))
        m = m[~m.index.duplicated()]
        vals = m.reindex(tids).to_numpy()
    else:
        vals = np.full(len(tids), None, dtype=object)
    return traces.assign(url_path=vals)


def trace_findings(spans: pd.DataFrame, *, q: float = 0.95) -> dict[str, Any]:
    """Everything the traces page answers first, computed once.

    Returns
    -------
    dict
        ``traces`` (trace frame), ``n_traces``, ``n_failed``, ``p50_s``/``p95_s`` of the
        trace durations (or Insufficient under 20 traces), ``profile``
        (:func:`operation_profile`), ``slow`` (:func:`slow_traces`), ``errors``
        (:func:`error_groups`), ``slowest`` (the slowest trace's id) and ``failed_example``
        (the first failed trace of the largest error group).
    """
    traces = trace_frame(spans)
    n = len(traces)
    enough = check_enough("trace duration percentiles", have=n, need=MIN_PROFILE_TRACES,
                          unit="traces")
    d = traces["duration_s"].to_numpy(dtype=float)
    groups = error_groups(spans, traces)
    return {
        "traces": traces, "n_traces": n, "n_failed": int(traces["error"].sum()) if n else 0,
        "p50_s": enough or float(np.nanquantile(d, 0.5)),
        "p95_s": enough or float(np.nanquantile(d, 0.95)),
        "profile": operation_profile(spans), "slow": slow_traces(spans, q=q),
        "errors": groups,
        "slowest": str(traces.sort_values("duration_s", ascending=False)["trace_id"].iloc[0])
        if n else None,
        "failed_example": str(groups["example_trace_id"].iloc[0]) if len(groups) else None,
    }


def example_ids(findings: dict[str, Any]) -> dict[str, str]:
    """The traces to show up close: the slowest, and one of the largest error group."""
    out: dict[str, str] = {}
    if findings.get("slowest"):
        out["Slowest trace"] = str(findings["slowest"])
    groups = findings.get("errors")
    if findings.get("failed_example") and isinstance(groups, pd.DataFrame) and len(groups):
        short = str(groups["exception_type"].iloc[0]).rsplit(".", 1)[-1]
        tid = str(findings["failed_example"])
        if tid not in out.values():
            out[f"A failed trace ({short})"] = tid
    return out


def summary_of(findings: dict[str, Any], window: Window) -> dict[str, Any]:
    """The page's ``summary.json`` content: the headline numbers, what was withheld."""
    from tributary_analysis.analysis.attribution import top_causes

    def num(v: Any) -> Any:
        return v.to_json() if isinstance(v, Insufficient) else v

    prof, slow, groups = findings["profile"], findings["slow"], findings["errors"]
    withheld = [v.to_json() for v in (findings["p50_s"], prof, slow)
                if isinstance(v, Insufficient)]
    return {
        "window": {"start": iso(window.start), "end": iso(window.end)},
        "traces": findings["n_traces"], "failed_traces": findings["n_failed"],
        "p50_s": num(findings["p50_s"]), "p95_s": num(findings["p95_s"]),
        "critical_path": [] if isinstance(prof, Insufficient) else [
            {"operation": str(r.operation), "share": round(float(r.critical_share), 4)}
            for r in prof.head(5).itertuples()],
        "slow_because": [] if isinstance(slow, Insufficient) else top_causes(slow, 3),
        "error_groups": [{"exception_type": str(r.exception_type), "traces": int(r.traces),
                          "share": round(float(r.share), 4)}
                         for r in groups.head(5).itertuples()],
        "insufficient": withheld,
    }


def describe_window(w: Window) -> str:
    """``2026-01-31T12:00:00Z – 2026-01-31T13:00:00Z`` for captions."""
    return f"{iso(w.start)} – {iso(w.end)}"


# re-exported names of the trace frame's attribute columns for callers
ROUTE = ROUTE_ATTRIBUTE
TENANT = TENANT_ATTRIBUTE
