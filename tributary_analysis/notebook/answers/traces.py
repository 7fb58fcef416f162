"""Example traces of a metrics report's findings (the latency and errors pages).

The metrics find *when* and *where* (a regression after a deploy, the slowest bin, an
error episode); the traces of those requests say *why*. This module decides which trace
source the page reads (its parameters, else the settings' ``trace_files`` /
``jaeger_url``), which window a latency finding points at, and renders the section: links
to Jaeger's UI when a Jaeger URL is known, else trace ids as text, then the requests' log
lines. Fetching stays in :mod:`tributary_analysis.fetch.traces`.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.time import Window

__all__ = ["NO_TRACE_SOURCE", "Spike", "TraceChoice", "episode_examples", "example_lines",
           "examples_html", "latency_spike",
           "no_source_text", "trace_choice", "trace_ids"]

#: the one line a page shows when it has nowhere to read traces from
NO_TRACE_SOURCE = ("*Example traces: no trace source is configured (set `trace_files` or "
                   "`jaeger_url` in the settings, or pass them as parameters).*")

_PATH = re.compile(r"(?:[A-Za-z]:)?(?:[\\/][^\s'\"\\/]+)+[\\/]([^\s'\"\\/]+)")


@dataclass(frozen=True)
class TraceChoice:
    """Where a page reads its example traces, and where it links them."""

    kind: str
    files: str | list[str] | None
    url: str | None
    #: Jaeger's UI for the links (``None``: trace ids as text)
    link_url: str | None


@dataclass(frozen=True)
class Spike:
    """A latency finding to show traces of: its window, route, and what it is."""

    window: Window
    route: str | None
    what: str


def trace_choice(trace_source: str | None = None, trace_files: Any = None,
                 jaeger_url: str | None = None, settings: Any = None) -> TraceChoice | None:
    """The trace source of a page: the parameters, else the settings (``trace_files``,
    ``jaeger_url``); files are preferred when both are known (no server to ask), Jaeger
    is linked whenever its URL is known. ``None`` when neither is set."""
    if settings is None and not (trace_files or jaeger_url):
        from tributary_analysis.config import load_settings

        settings = load_settings()
    files = trace_files or getattr(settings, "trace_files", None)
    url = jaeger_url or getattr(settings, "jaeger_url", None)
    kind = trace_source or ("files" if files else "jaeger" if url else None)
    if kind is None:
        return None
    return TraceChoice(kind=kind, files=files if kind == "files" else None,
                       url=url if kind == "jaeger" else None, link_url=url or None)


def no_source_text(exc: Exception) -> str:
    """The line shown when the configured source cannot be read (file names only)."""
    msg = _PATH.sub(lambda m: m.group(1), str(exc))
    return f"*Example traces not shown: {html.escape(msg)}*"


def latency_spike(comparison: pd.DataFrame | None, after: Window | None,
                  quantiles: pd.DataFrame | None, bin_size: pd.Timedelta) -> Spike | None:
    """The latency finding to show traces of: the endpoint that regressed most after the
    deploy (the after window), else the bin with the highest p95 of all requests."""
    if (comparison is not None and after is not None and "regression" in comparison
            and comparison["regression"].any()):
        reg = comparison[comparison["regression"]].sort_values("p95_change", ascending=False)
        route = str(reg["endpoint"].iloc[0])
        return Spike(after, route, f"the slowest requests to {route} after the deploy "
                                   f"({after.label()})")
    if quantiles is None or quantiles.empty or "quantile" not in quantiles:
        return None
    p95 = quantiles[np.isclose(quantiles["quantile"].astype(float), 0.95)].dropna(
        subset=["value"])
    if p95.empty:
        return None
    top = p95.iloc[int(np.argmax(p95["value"].to_numpy(dtype=float)))]
    start = pd.Timestamp(top["timestamp"])
    w = Window(start, start + bin_size)
    return Spike(w, None, f"the slowest requests of the bin with the highest p95 "
                          f"({fmt.human_seconds(float(top['value']))}, {w.label()})")


def example_lines(logs: Any, examples: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """The example traces' log lines (:func:`tributary_analysis.fetch.traces.
    example_log_lines`, matched by request through ``spans`` where the logs carry no
    ``trace_id``); when they cannot be read, an empty frame whose metadata says why — the
    traces are still shown."""
    from tributary_analysis.errors import TributaryError
    from tributary_analysis.fetch.traces import example_log_lines
    from tributary_analysis.frames.meta import update_meta

    try:
        return example_log_lines(logs, examples, spans)
    except TributaryError as exc:
        out = pd.DataFrame({"trace_id": pd.Series([], dtype="str")})
        update_meta(out, notes=(f"log lines of the example traces not shown: "
                                f"{_PATH.sub(lambda m: m.group(1), str(exc))}",))
        return out


def episode_examples(src: Any, episodes: pd.DataFrame, *, n: int = 3
                     ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Example failed traces of each error episode and the spans they came from (the log
    lines are matched by request through them): one errors-only query per episode (its
    window and endpoint), through :func:`tributary_analysis.fetch.traces.trace_spans`."""
    from tributary_analysis.analysis import traces as ta
    from tributary_analysis.fetch.traces import trace_spans
    from tributary_analysis.frames.meta import carry
    from tributary_analysis.sources.traces.store import empty_spans

    parts = []
    for ep in episodes.itertuples(index=False):
        route = getattr(ep, "endpoint", None)
        parts.append(trace_spans(src, Window(pd.Timestamp(ep.start),  # type: ignore[arg-type]
                                             pd.Timestamp(ep.end)),  # type: ignore[arg-type]
                                 route=str(route) if isinstance(route, str) else None,
                                 errors_only=True, limit=max(50, 20 * n)))
    spans = carry(pd.concat(parts, ignore_index=True), *parts) if parts else empty_spans()
    return ta.episode_traces(episodes, ta.trace_frame(spans), n=n), spans


def trace_ids(examples: pd.DataFrame | None) -> list[str]:
    """The example traces' ids, for ``summary.json``."""
    if examples is None or examples.empty:
        return []
    return [str(t) for t in examples["trace_id"]]


def examples_html(examples: pd.DataFrame, lines: pd.DataFrame | None, *, what: str,
                  source: str, jaeger_url: str | None = None, limit: int = 10) -> str:
    """The section: what the examples are of, the linked traces, their log lines."""
    from tributary_analysis.viz.traces import log_lines_table, trace_links_html

    how = ("open in Jaeger" if jaeger_url else
           "trace ids (no Jaeger URL is configured to link them)")
    head = (f"<p>{html.escape(what[:1].upper() + what[1:])}: {len(examples.head(limit))} "
            f"trace(s) from {html.escape(source)}; {how}.</p>")
    if examples.empty:
        return head + "<p>No sampled trace matches this finding.</p>"
    body = trace_links_html(examples, jaeger_url, limit=limit)
    if lines is not None:
        body += log_lines_table(lines)
    return head + body
