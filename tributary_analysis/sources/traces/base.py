"""The interface every trace source implements: the same question, the same frames.

``OtlpFiles`` (DuckDB over OTLP JSON files) and ``JaegerTraces`` (Jaeger's query API v3)
subclass :class:`TraceSource`, so a notebook asks either:

- :meth:`TraceSource.spans`: every span of the traces that match, one row per span;
- :meth:`TraceSource.traces`: one row per trace (:func:`~.frames.trace_frame`);
- :meth:`TraceSource.trace`: one trace by id;
- :meth:`TraceSource.services`: the services that sent spans.

A trace matches when its earliest span starts in the window ``[start, end)`` (``since``
counts back from ``end``; :func:`~tributary_analysis.ground.time.parse_window`) and every
filter holds: ``service``/``operation`` (a span of the trace has it), ``route`` (the root
span's ``http.route``: the metrics' ``endpoint``), ``tenant`` (a span carries
``tenant_id`` = it), ``attributes`` (each ``key = value``), ``min_duration``/
``max_duration`` (the root span), ``errors_only`` (the root span failed). At most
``limit`` traces come back, the earliest first; when more matched the frame is ``partial``
and says so. Filter values are data, never query text: bound parameters in DuckDB,
encoded query parameters for Jaeger.
"""

from __future__ import annotations

import abc
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd

from tributary_analysis.errors import ConfigError, QueryError
from tributary_analysis.frames.meta import FrameMeta, meta_of, set_meta
from tributary_analysis.frames.traces import TENANT_ATTRIBUTE, trace_frame
from tributary_analysis.ground.time import (
    DurationLike,
    TimeLike,
    Window,
    format_duration,
    iso,
    parse_duration,
    parse_window,
)
from tributary_analysis.sources.traces.store import Selection

#: the Tributary service's ``service.name`` (the seed's ``TracingService`` default)
DEFAULT_SERVICE = "deeplake-api"
#: traces returned at most unless ``limit=`` says otherwise
DEFAULT_LIMIT = 20_000
_TRACE_ID = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class TraceQuery:
    """A validated question (what :meth:`TraceSource.spans` asks a backend)."""

    window: Window
    service: str | None = DEFAULT_SERVICE
    operation: str | None = None
    route: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    min_duration: pd.Timedelta | None = None
    max_duration: pd.Timedelta | None = None
    errors_only: bool = False
    limit: int = DEFAULT_LIMIT

    def selection(self, limit: int | None = None) -> Selection:
        """The same question for the span store (nanoseconds, bound values)."""
        def ns(td: pd.Timedelta | None) -> int | None:
            return None if td is None else int(td.value)

        return Selection(start_ns=int(self.window.start.value),
                         end_ns=int(self.window.end.value),
                         limit=self.limit if limit is None else limit,
                         service=self.service, operation=self.operation, route=self.route,
                         attributes=self.attributes, min_duration_ns=ns(self.min_duration),
                         max_duration_ns=ns(self.max_duration),
                         errors_only=self.errors_only)

    def describe(self) -> str:
        """The question in a line (what ``FrameMeta.queries`` records)."""
        parts = [f"traces starting in {self.window.describe()}"]
        for name in ("service", "operation", "route"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value!r}")
        parts += [f"{k}={v!r}" for k, v in self.attributes]
        if self.min_duration is not None:
            parts.append(f"duration>={format_duration(self.min_duration)}")
        if self.max_duration is not None:
            parts.append(f"duration<={format_duration(self.max_duration)}")
        if self.errors_only:
            parts.append("errors only")
        parts.append(f"limit={self.limit:,}")
        return ", ".join(parts)


def _text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise QueryError(f"{name}={value!r} must be a string (or None for any)",
                         source="traces")
    return value


def make_query(since: DurationLike | None = None, start: TimeLike | None = None,
               end: TimeLike | None = None, *, service: str | None = DEFAULT_SERVICE,
               operation: str | None = None, route: str | None = None,
               tenant: str | None = None, attributes: Mapping[str, str] | None = None,
               min_duration: DurationLike | None = None,
               max_duration: DurationLike | None = None, errors_only: bool = False,
               limit: int = DEFAULT_LIMIT, now: TimeLike | None = None,
               default_since: DurationLike | None = "1h") -> TraceQuery:
    """Validate a question; bad input is a :class:`QueryError` naming it and the fix.

    Examples
    --------
    >>> q = make_query(since="30m", now="2026-01-31T12:00:00Z", tenant="tenant-acme")
    >>> q.window.iso(), q.attributes
    (('2026-01-31T11:30:00Z', '2026-01-31T12:00:00Z'), (('tenant_id', 'tenant-acme'),))
    """
    try:
        window = parse_window(since, start, end, now=now, default_since=default_since)
        mn = None if min_duration in (None, "") else parse_duration(
            min_duration, name="min_duration", allow_zero=True)
        mx = None if max_duration in (None, "") else parse_duration(
            max_duration, name="max_duration")
    except ConfigError as exc:
        raise QueryError(f"{exc}", source="traces") from exc
    if mn is not None and mx is not None and mx < mn:
        raise QueryError(f"max_duration={format_duration(mx)} is below min_duration="
                         f"{format_duration(mn)}; swap them", source="traces")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise QueryError(f"limit={limit!r} must be a positive whole number of traces",
                         source="traces")
    attrs: list[tuple[str, str]] = []
    for key, value in (attributes or {}).items():
        if not isinstance(key, str) or not key:
            raise QueryError(f"attribute name {key!r} must be a non-empty string",
                             source="traces")
        if not isinstance(value, str):
            raise QueryError(f"attribute {key}={value!r} must be a string value (the filter "
                             "matches string attributes)", source="traces")
        attrs.append((key, value))
    t = _text(tenant, "tenant")
    if t is not None:
        attrs.insert(0, (TENANT_ATTRIBUTE, t))
    return TraceQuery(window=window, service=_text(service, "service"),
                      operation=_text(operation, "operation"), route=_text(route, "route"),
                      attributes=tuple(attrs), min_duration=mn, max_duration=mx,
                      errors_only=bool(errors_only), limit=limit)


def check_trace_id(trace_id: str) -> str:
    """A trace id as 32 lowercase hex digits."""
    tid = str(trace_id).strip().lower()
    if not _TRACE_ID.fullmatch(tid):
        raise QueryError(f"trace id {trace_id!r} is not 32 hex digits (W3C trace id); copy "
                         "it from a span frame's trace_id or a log line", source="traces")
    return tid


class TraceSource(abc.ABC):
    """Spans and traces of one store (see the module docstring)."""

    #: ``FrameMeta.source`` of this source's frames
    kind: str = ""

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the traces are (a URL or file glob, never with credentials)."""

    @abc.abstractmethod
    def services(self) -> list[str]:
        """The services that sent spans."""

    @abc.abstractmethod
    def _spans(self, query: TraceQuery) -> pd.DataFrame:
        """The span frame for a validated query, with its :class:`FrameMeta`."""

    @abc.abstractmethod
    def _trace(self, trace_id: str, window: Window | None) -> pd.DataFrame:
        """The spans of one trace (empty when unknown)."""

    def spans(self, since: DurationLike | None = None, start: TimeLike | None = None,
              end: TimeLike | None = None, *, service: str | None = DEFAULT_SERVICE,
              operation: str | None = None, route: str | None = None,
              tenant: str | None = None, attributes: Mapping[str, str] | None = None,
              min_duration: DurationLike | None = None,
              max_duration: DurationLike | None = None, errors_only: bool = False,
              limit: int = DEFAULT_LIMIT, now: TimeLike | None = None) -> pd.DataFrame:
        """Every span of the traces that match (see the module docstring).

        Returns
        -------
        DataFrame
            The span frame (:data:`~.store.SPAN_COLUMNS` + attribute columns), ordered by
            trace and start; ``df.attrs["meta"]`` says what was asked and what came back.

        Raises
        ------
        QueryError
            A bad window, duration, limit or filter value (named, with the fix).
        NotFoundError
            ``service`` sent no spans to this store (the message lists the ones that did).
        """
        q = make_query(since, start, end, service=service, operation=operation, route=route,
                       tenant=tenant, attributes=attributes, min_duration=min_duration,
                       max_duration=max_duration, errors_only=errors_only, limit=limit,
                       now=now)
        return self._spans(q)

    def traces(self, since: DurationLike | None = None, start: TimeLike | None = None,
               end: TimeLike | None = None, **filters: Any) -> pd.DataFrame:
        """One row per matching trace (:func:`~.frames.trace_frame` of :meth:`spans`)."""
        return trace_frame(self.spans(since, start, end, **filters))

    def trace(self, trace_id: str, *, start: TimeLike | None = None,
              end: TimeLike | None = None) -> pd.DataFrame:
        """The spans of one trace; empty (with a note) when the store does not have it."""
        tid = check_trace_id(trace_id)
        window = None
        if start is not None or end is not None:
            if start is None or end is None:
                raise QueryError("give both start and end to bound a trace lookup, or "
                                 "neither", source="traces")
            window = parse_window(None, start, end)
        df = self._trace(tid, window)
        if df.empty:
            m = meta_of(df)
            set_meta(df, replace(m, notes=(*m.notes, f"trace {tid} is not in {self.location}"
                                                      + (f" between {iso(window.start)} and "
                                                         f"{iso(window.end)}" if window else ""))))
        return df


def window_note(window: Window, extent: tuple[pd.Timestamp, pd.Timestamp] | None,
                where: str) -> str | None:
    """A sentence when ``window`` misses the data (``None`` when they overlap)."""
    if extent is None:
        return f"{where} holds no spans"
    lo, hi = extent
    if window.end <= lo or window.start > hi:
        return (f"no spans in {iso(window.start)} – {iso(window.end)}: {where} holds spans "
                f"starting {iso(lo)} – {iso(hi)}")
    return None


def stamp(df: pd.DataFrame, meta: FrameMeta) -> pd.DataFrame:
    """Attach ``meta`` and return ``df``."""
    return set_meta(df, meta)


__all__ = ["DEFAULT_LIMIT", "DEFAULT_SERVICE", "TraceQuery", "TraceSource", "check_trace_id",
           "make_query", "stamp", "window_note"]
