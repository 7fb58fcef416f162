"""Open the trace source an analysis reads and ask it the questions the pages need.

Where traces come from when a notebook does not say (no credentials pass through here):

``files``
    ``trace_files`` given, else ``$TRIBUTARY_TRACE_FILES``, else the demo stack's simulation
    (``stack.json``'s ``sim_dir``/``traces/*.jsonl``).
``jaeger``
    ``jaeger_url`` given, else ``$TRIBUTARY_JAEGER_URL``, else the demo stack's Jaeger
    (``stack.json``'s ``jaeger.url``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from tributary_analysis.analysis import traces as ta
from tributary_analysis.errors import ConfigError, TributaryError
from tributary_analysis.frames.meta import carry, update_meta
from tributary_analysis.ground.time import Window
from tributary_analysis.sources.traces.base import DEFAULT_LIMIT, TraceSource
from tributary_analysis.sources.traces.store import empty_spans

__all__ = ["TRACE_SOURCES", "describe_source", "episode_examples", "example_ids",
           "example_log_lines", "jaeger_ui", "log_lines_for", "open_traces", "spike_examples",
           "trace_spans"]

example_ids = ta.example_ids

TRACE_SOURCES = ("files", "jaeger")
_DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def _stack() -> dict[str, Any]:
    from tributary_analysis.config import default_home, read_stack_state

    return read_stack_state(default_home())


def open_traces(kind: str = "files", files: Sequence[str] | str | None = None,
                url: str | None = None, *, window: Window | None = None) -> TraceSource:
    """The trace source of ``kind`` (see the module docstring for the defaults).

    With ``window``, trace files whose name carries a date (``…-2026-01-31.jsonl``, as the
    simulator writes them by the day) are only read when that day overlaps the window
    (with an hour's margin); how many were left out is in ``pruned_files``.

    Raises
    ------
    ConfigError
        An unknown kind, or nowhere to read from (names the parameter and the fix).
    """
    if kind not in TRACE_SOURCES:
        raise ConfigError(f"trace_source={kind!r}; use one of {', '.join(TRACE_SOURCES)}")
    if kind == "jaeger":
        from tributary_analysis.sources.traces.jaeger import JaegerTraces

        if url and (urlsplit(url).username or urlsplit(url).password):
            raise ConfigError("jaeger_url carries credentials; notebook parameters are saved "
                              "in the executed notebook. Pass the URL without them")
        target = url or os.environ.get("TRIBUTARY_JAEGER_URL") or (
            _stack().get("jaeger") or {}).get("url")
        if not target:
            raise ConfigError("no Jaeger URL: pass jaeger_url (the query server, e.g. "
                              "http://127.0.0.1:16686), set TRIBUTARY_JAEGER_URL, or start "
                              "the demo stack ('tributary demo up')")
        return JaegerTraces(str(target))
    from tributary_analysis.sources.traces.files import OtlpFiles

    given: list[str] = []
    if isinstance(files, str) and files:
        given = [files]
    elif files:
        given = [str(f) for f in files]
    if not given and os.environ.get("TRIBUTARY_TRACE_FILES"):
        given = [os.environ["TRIBUTARY_TRACE_FILES"]]
    if not given:
        sim = _stack().get("sim_dir")
        if sim:
            given = [str(Path(sim) / "traces" / "*.jsonl")]
    if not given:
        raise ConfigError("no trace files: pass trace_files (OTLP JSON lines, e.g. "
                          "'demo-data/traces/*.jsonl'), set TRIBUTARY_TRACE_FILES, or start "
                          "the demo stack ('tributary demo up')")
    src = OtlpFiles(given)
    if window is None:
        return src
    paths = src.files()
    keep = [f for f in paths if _day_overlaps(f, window)]
    if keep and len(keep) < len(paths):
        src = OtlpFiles(keep)
        src.pruned_files = len(paths) - len(keep)  # type: ignore[attr-defined]
    return src


def _day_overlaps(path: str, window: Window) -> bool:
    m = _DAY_IN_NAME.search(Path(path).name)
    if not m:
        return True
    day = pd.Timestamp(m.group(1), tz="UTC")
    margin = pd.Timedelta(hours=1)
    return bool(day - margin < window.end and day + pd.Timedelta(days=1) + margin
                > window.start)


def trace_spans(src: TraceSource, window: Window, *, route: str | None = None,
                tenant: str | None = None, errors_only: bool = False,
                limit: int = DEFAULT_LIMIT) -> pd.DataFrame:
    """The span frame of the traces starting in ``window`` (one route and tenant if given)."""
    return src.spans(start=window.start, end=window.end, route=route, tenant=tenant,
                     errors_only=errors_only, limit=limit)


def episode_examples(src: TraceSource, episodes: pd.DataFrame, *, n: int = 3,
                     by: str | None = "endpoint") -> pd.DataFrame:
    """Example failed traces for each error episode found in metrics
    (:func:`~tributary_analysis.analysis.errors.detect_episodes`): one query per episode
    (its window, its endpoint as the route, errors only), then
    :func:`~tributary_analysis.analysis.traces.episode_traces`."""
    parts: list[pd.DataFrame] = []
    for ep in episodes.itertuples(index=False):
        route = str(getattr(ep, by)) if by and by in episodes.columns and pd.notna(
            getattr(ep, by)) else None
        spans = src.spans(start=ep.start, end=ep.end,  # type: ignore[arg-type]
                          route=route, errors_only=True,
                          limit=max(50, n * 20))
        parts.append(spans)
    spans_all = carry(pd.concat(parts, ignore_index=True), *parts) if parts else empty_spans()
    return ta.episode_traces(episodes, ta.trace_frame(spans_all), n=n, by=by)


def spike_examples(src: TraceSource, window: Window, *, route: str | None = None,
                   tenant: str | None = None, n: int = 5) -> pd.DataFrame:
    """The slowest traces of a latency spike found in metrics (``window``, optionally one
    route and tenant)."""
    spans = src.spans(start=window.start, end=window.end, route=route, tenant=tenant)
    return ta.spike_traces(ta.trace_frame(spans), window.start, window.end, route=route,
                           tenant=tenant, n=n)


def example_log_lines(logs: Any, examples: pd.DataFrame, spans: pd.DataFrame | None = None,
                      *, margin: str = "2s") -> pd.DataFrame:
    """The log lines of example traces (a trace frame's rows): each trace's time span
    (± ``margin``) read from a log source (not filtered by tenant: the seed logs no tenant on
    ``Request started``), then joined on ``trace_id`` (or matched by request when the log
    frame has none: pass ``spans`` for the paths)."""
    if examples.empty:
        return ta.logs_for_traces(examples, pd.DataFrame({"trace_id": pd.Series([], dtype="str")}))
    pad = pd.Timedelta(margin)
    parts = []
    for row in examples.itertuples(index=False):
        lo = pd.Timestamp(row.start) - pad  # type: ignore[arg-type]
        hi = pd.Timestamp(row.end) + pad  # type: ignore[arg-type]
        parts.append(logs.search(lo, hi))
    rows = carry(pd.concat(parts, ignore_index=True), *parts)
    if "request_id" in rows.columns and "event" in rows.columns:
        rows = carry(rows.drop_duplicates().reset_index(drop=True), rows)
    ex = examples if spans is None else ta.attach_url_path(examples, spans)
    return ta.logs_for_traces(ex, rows)


def describe_source(src: TraceSource) -> str:
    """Where the traces came from, for the page (file names only, never local paths)."""
    if src.kind == "jaeger":
        version = getattr(src, "server_version", lambda: "Jaeger")()
        return f"{version} at {src.location}"
    try:
        names = [Path(f).name for f in getattr(src, "files", lambda: [])()]
    except TributaryError:
        names = []
    shown = ", ".join(names[:3]) + (f" (+{len(names) - 3} more)" if len(names) > 3 else "")
    pruned = int(getattr(src, "pruned_files", 0) or 0)
    if pruned:
        shown += f"; {pruned} dated file(s) outside the window not read"
    return f"OTLP files {shown}" if shown else "OTLP files"


def log_lines_for(examples: pd.DataFrame, spans: pd.DataFrame, window: Window, *,
                  log_source: str = "files", log_files: Sequence[str] = ()) -> pd.DataFrame:
    """:func:`example_log_lines` from the log source a notebook names; when the logs cannot
    be read, an empty frame whose metadata says why (the page goes on without them)."""
    from tributary_analysis.fetch.sources import open_logs

    try:
        logs = open_logs(log_source, list(log_files), window=window)
        return example_log_lines(logs, examples, spans)
    except TributaryError as exc:
        out = pd.DataFrame({"trace_id": pd.Series([], dtype="str")})
        update_meta(out, notes=(f"log lines of the example traces not shown: {exc}",))
        return out


def jaeger_ui(src: TraceSource) -> str | None:
    """The Jaeger UI to link example traces to (only when the traces came from Jaeger)."""
    return src.location if src.kind == "jaeger" else None
