"""``JaegerTraces``: traces from a Jaeger v2 query server through its HTTP API v3.

``GET /api/v3/traces`` (find) needs a time range (``query.start_time_min``/``max``, RFC 3339)
and a search depth (``query.num_traces``: at most the storage's ``max_traces``, else HTTP 500
"search depth must be greater than 0 and less than max traces"); it answers OTLP JSON under
``result``, or 404 ``No traces found`` (no traces: an empty frame, not an error). The memory
store returns the *most recently stored* matching traces, not the earliest, so a full page
may miss some: a window whose page comes back full is split in four and asked again (in time
order), down to one second; what still overflows, or what exceeds ``max_requests`` /
``max_traces_read``, makes the frame ``partial`` and says so.

The v3 HTTP API (Jaeger 2.13) cannot filter by attribute: ``service``, ``operation`` and
``min_duration``/``max_duration`` go to the server, the rest (tenant, route, errors, the
window's exact edges, the limit) is applied to what came back with the same SQL as the file
source (:mod:`.store`), so both sources answer a question the same way. Filter values travel
as URL-encoded query parameters, never as query text.

Errors: unreachable → :class:`SourceUnreachable` (after retries); 400 → :class:`QueryError`
with Jaeger's message; 401/403 → :class:`AuthenticationError`; 429/502/503/504 →
:class:`ServerUnavailable` after retries; a body that is not the API's JSON →
:class:`UnexpectedResponse`; a service Jaeger has not seen → :class:`NotFoundError` listing
the ones it has.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd
import requests

from tributary_analysis.config import redact_url
from tributary_analysis.errors import (
    AuthenticationError,
    NotFoundError,
    QueryError,
    ServerUnavailable,
    SourceError,
    SourceUnreachable,
    TooManySamples,
    UnexpectedResponse,
)
from tributary_analysis.frames.meta import FrameMeta
from tributary_analysis.ground.time import Window, iso
from tributary_analysis.sources.traces.base import TraceQuery, TraceSource, stamp
from tributary_analysis.sources.traces.store import Selection, SpanStore, empty_spans

RETRY = frozenset({429, 502, 503, 504})
_TRACE_ID_RE = re.compile(rb'"traceId":\s*"([0-9a-fA-F]{32})"')
_VERSION_RE = re.compile(r'"gitVersion"\s*:\s*"([^"]+)"')
#: the smallest window split when a page overflows
MIN_SPLIT = pd.Timedelta(seconds=1)


def rfc3339(ts: pd.Timestamp) -> str:
    """An instant as Jaeger parses it (``time.RFC3339Nano``, UTC, nanoseconds)."""
    t = ts.tz_convert("UTC")
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{t.microsecond * 1000 + t.nanosecond:09d}Z"


def _duration(td: pd.Timedelta) -> str:
    """A duration as Go's ``time.ParseDuration`` reads it."""
    return f"{int(td.value)}ns"


@dataclass
class _Fetch:
    """Accounting of one find: pages, splits, what overflowed."""

    requests: int = 0
    pages: int = 0
    splits: int = 0
    traces_read: int = 0
    overflow: int = 0  # windows still full at the smallest split
    stopped: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


class JaegerTraces(TraceSource):
    """Traces from Jaeger's query server (API v3).

    Parameters
    ----------
    url : str
        The query server, e.g. ``http://127.0.0.1:16686`` (``tributary demo status``).
    page_traces : int
        Search depth per request (``query.num_traces``); lowered automatically when the
        server's ``max_traces`` is smaller.
    max_requests : int
        Requests one question may make before it stops (``partial``).
    max_traces_read : int
        Traces one question may read before it stops (``partial``).
    max_workers : int
        Pages asked at the same time.
    timeout : float
        Seconds per request.
    headers : mapping, optional
        Extra request headers (a bearer token from the environment); never shown.

    Examples
    --------
    >>> src = JaegerTraces("http://127.0.0.1:16686")            # doctest: +SKIP
    >>> src.traces(since="1h", tenant="tenant-acme")             # doctest: +SKIP
    """

    kind = "jaeger"

    def __init__(self, url: str, *, page_traces: int = 2000, max_requests: int = 400,
                 max_traces_read: int = 250_000, max_workers: int = 3,
                 timeout: float = 60.0,
                 headers: Mapping[str, str] | None = None, max_attempts: int = 5,
                 session: requests.Session | None = None) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise QueryError(f"Jaeger URL {url!r} must start with http:// or https:// (the "
                             "query server, e.g. http://127.0.0.1:16686)", source=self.kind)
        self.base = url.rstrip("/")
        self.display = redact_url(self.base)
        self.page_traces = int(page_traces)
        self.max_requests = int(max_requests)
        self.max_traces_read = int(max_traces_read)
        self.max_workers = max(1, int(max_workers))
        self.timeout = float(timeout)
        self.max_attempts = int(max_attempts)
        self.headers = dict(headers or {})
        self.session = session or requests.Session()
        self._version: str | None = None

    @property
    def location(self) -> str:
        return self.display

    # -- transport ---------------------------------------------------------------------
    def _get(self, path: str, params: Mapping[str, str], fetch: _Fetch | None = None,
             *, not_found_ok: bool = False) -> bytes | None:
        url = f"{self.base}{path}"
        what = f"GET {self.display}{path}"
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self.session.get(url, params=dict(params), headers=self.headers,
                                        timeout=self.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                if attempt >= self.max_attempts:
                    raise SourceUnreachable(
                        f"cannot reach Jaeger at {self.display} ({type(exc).__name__}); check "
                        "the URL and that the query server runs ('tributary demo status')",
                        source=self.kind, url=self.display) from None
                time.sleep(min(4.0, 0.2 * 2 ** attempt) * (0.5 + random.random() / 2))
                continue
            if fetch is not None:
                with fetch.lock:
                    fetch.requests += 1
            status, body = resp.status_code, resp.content
            if status == 200:
                return body
            message = _message(body)
            if status == 404 and not_found_ok:
                return None
            if status in (401, 403):
                raise AuthenticationError(
                    f"Jaeger at {self.display} refused {what} with HTTP {status}; check the "
                    "token or header given in headers=", source=self.kind, url=self.display,
                    status=status)
            if status == 400:
                raise QueryError(f"Jaeger at {self.display} rejected {what}: {message}",
                                 source=self.kind, url=self.display, status=status)
            if status == 500 and "search depth" in message:
                raise TooManySamples(f"Jaeger at {self.display}: {message}", source=self.kind,
                                     url=self.display, status=status)
            if status in RETRY and attempt < self.max_attempts:
                wait = min(4.0, 0.2 * 2 ** attempt) * (0.5 + random.random() / 2)
                with contextlib.suppress(ValueError):
                    wait = max(wait, min(10.0, float(resp.headers.get("Retry-After", ""))))
                time.sleep(wait)
                continue
            if status in RETRY:
                raise ServerUnavailable(f"Jaeger at {self.display} is unavailable for {what} "
                                        f"(HTTP {status}): {message}; try again later",
                                        source=self.kind, url=self.display, status=status)
            if status == 404:
                raise NotFoundError(f"Jaeger at {self.display} has no {path} (HTTP 404): "
                                    f"{message}; is the URL the query server (port 16686)?",
                                    source=self.kind, url=self.display, status=status)
            raise SourceError(f"Jaeger at {self.display} answered {what} with HTTP {status}: "
                              f"{message}", source=self.kind, url=self.display, status=status)

    def _json(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        body = self._get(path, params)
        try:
            doc = orjson.loads(body or b"")
        except orjson.JSONDecodeError:
            doc = None
        if not isinstance(doc, dict):
            raise UnexpectedResponse(
                f"Jaeger at {self.display} answered GET {path} with a body that is not the "
                f"API's JSON ({(body or b'')[:120]!r}); is the URL the Jaeger query server?",
                source=self.kind, url=self.display)
        return doc

    # -- API -------------------------------------------------------------------------------
    def services(self) -> list[str]:
        doc = self._json("/api/v3/services", {})
        return sorted(str(s) for s in doc.get("services") or [])

    def operations(self, service: str) -> list[dict[str, str]]:
        """Span names (and kinds) Jaeger has seen for ``service``."""
        doc = self._json("/api/v3/operations", {"service": service})
        return [{"name": str(o.get("name", "")), "kind": str(o.get("spanKind", ""))}
                for o in doc.get("operations") or []]

    def server_version(self) -> str:
        """``Jaeger 2.13.0`` from the UI page, or ``Jaeger`` when it does not say."""
        if self._version is None:
            self._version = "Jaeger"
            try:
                resp = self.session.get(self.base + "/", headers=self.headers,
                                        timeout=min(self.timeout, 10.0))
                m = _VERSION_RE.search(resp.text) if resp.ok else None
                if m and m.group(1).strip():
                    self._version = f"Jaeger {m.group(1).lstrip('v')}"
            except requests.RequestException:
                pass
        return self._version

    def _check_service(self, service: str | None, fetch: _Fetch) -> None:
        if service is None:
            return
        known = self.services()
        fetch.requests += 1
        if service not in known:
            shown = ", ".join(known) or "none yet"
            raise NotFoundError(f"service {service!r} has sent no spans to Jaeger at "
                                f"{self.display}; it knows: {shown} (or pass service=None)",
                                source=self.kind, url=self.display, query=service)

    def _params(self, q: TraceQuery, lo: pd.Timestamp, hi: pd.Timestamp, depth: int
                ) -> dict[str, str]:
        params = {"query.start_time_min": rfc3339(lo),
                  "query.start_time_max": rfc3339(hi - pd.Timedelta(1, "ns")),
                  "query.num_traces": str(depth)}
        if q.service is not None:
            params["query.service_name"] = q.service
        if q.operation is not None:
            params["query.operation_name"] = q.operation
        if q.min_duration is not None and q.min_duration > pd.Timedelta(0):
            params["query.duration_min"] = _duration(q.min_duration)
        if q.max_duration is not None:
            params["query.duration_max"] = _duration(q.max_duration)
        return params

    def _page(self, q: TraceQuery, lo: pd.Timestamp, hi: pd.Timestamp, fetch: _Fetch
              ) -> tuple[bytes | None, int, int]:
        """One find: (body or None for 404, traces in it, the search depth asked)."""
        while True:
            depth = self.page_traces
            try:
                body = self._get("/api/v3/traces", self._params(q, lo, hi, depth), fetch,
                                 not_found_ok=True)
                break
            except TooManySamples:
                if depth <= 10:
                    raise
                with fetch.lock:  # the server's max_traces is lower: halve once per refusal
                    if self.page_traces == depth:
                        self.page_traces = max(10, depth // 2)
        with fetch.lock:
            fetch.pages += 1
        if body is None:
            return None, 0, depth
        if not body.lstrip().startswith(b"{"):
            raise UnexpectedResponse(
                f"Jaeger at {self.display} answered GET /api/v3/traces with a body that is "
                f"not JSON ({body[:120]!r}); is the URL the Jaeger query server?",
                source=self.kind, url=self.display)
        return body, len(set(_TRACE_ID_RE.findall(body))), depth

    def _find(self, q: TraceQuery, fetch: _Fetch) -> list[bytes]:
        """Bodies covering the window (see the module docstring): windows are asked up to
        ``max_workers`` at a time, earliest first; a full page is split in four."""
        todo = [(q.window.start, q.window.end)]
        done: list[tuple[pd.Timestamp, bytes]] = []
        with ThreadPoolExecutor(max_workers=self.max_workers,
                                thread_name_prefix="jaeger-page") as pool:
            while todo:
                if fetch.requests >= self.max_requests:
                    fetch.stopped = (f"stopped after {fetch.requests} requests (max_requests="
                                     f"{self.max_requests}) before {iso(todo[0][0])}")
                    break
                if fetch.traces_read >= self.max_traces_read:
                    fetch.stopped = (f"stopped after reading {fetch.traces_read:,} traces "
                                     f"(max_traces_read={self.max_traces_read:,}) before "
                                     f"{iso(todo[0][0])}")
                    break
                room = max(1, min(self.max_workers, self.max_requests - fetch.requests))
                batch, todo = todo[:room], todo[room:]
                pages = list(pool.map(lambda w: self._page(q, w[0], w[1], fetch), batch))
                again: list[tuple[pd.Timestamp, pd.Timestamp]] = []
                for (lo, hi), (body, n, depth) in zip(batch, pages, strict=True):
                    if n >= depth and hi - lo > MIN_SPLIT:
                        step = (hi - lo) / 4
                        cuts = [lo + step * k for k in range(1, 4)]
                        again += list(zip([lo, *cuts], [*cuts, hi], strict=True))
                        fetch.splits += 1
                        continue
                    if n >= depth:
                        fetch.overflow += 1
                    if body is not None:
                        done.append((lo, body))
                        fetch.traces_read += n
                todo = again + todo
        done.sort(key=lambda item: item[0])
        return [body for _, body in done]

    def _meta(self, query: str, window: Window | None, fetch: _Fetch, store: SpanStore | None,
              *, partial: bool, notes: list[str], details: Mapping[str, Any]) -> FrameMeta:
        st = store.stats if store is not None else None
        return FrameMeta(
            source=self.kind, location=self.display, server=self.server_version(),
            queries=(query,), window=window, partial=partial,
            problems=st.as_problems() if st is not None else (), requests=fetch.requests,
            notes=tuple(notes),
            details={"search_depth": self.page_traces, "pages": fetch.pages,
                     "splits": fetch.splits, "traces_read": fetch.traces_read,
                     "max_requests": self.max_requests,
                     "max_traces_read": self.max_traces_read,
                     "spans_read": st.read if st else 0,
                     "overlapping_spans": st.overlap if st else 0, **details})

    def _spans(self, query: TraceQuery) -> pd.DataFrame:
        fetch = _Fetch()
        self._check_service(query.service, fetch)
        bodies = self._find(query, fetch)
        notes: list[str] = []
        store: SpanStore | None = None
        matched = 0
        if bodies:
            store = SpanStore()
            try:
                store.load_bodies(bodies)
                df, matched = store.select(query.selection())
            finally:
                store.close()
        else:
            df = empty_spans()
        client = [name for name, on in (
            ("tenant/attributes", bool(query.attributes)), ("route", query.route is not None),
            ("errors_only", query.errors_only)) if on]
        if client:
            notes.append(f"Jaeger's API v3 cannot filter by {', '.join(client)}: applied here "
                         f"to the {fetch.traces_read:,} trace(s) Jaeger returned")
        returned = int(df["trace_id"].nunique()) if len(df) else 0
        partial = False
        if fetch.stopped:
            partial = True
            notes.append(f"partial: {fetch.stopped}; narrow the window or raise the limit")
        if fetch.overflow:
            partial = True
            notes.append(f"partial: {fetch.overflow} one-second window(s) held more than "
                         f"{self.page_traces:,} traces (Jaeger's search depth); some are missing")
        if matched > returned:
            partial = True
            notes.append(f"{returned:,} of {matched:,} matching traces returned (limit="
                         f"{query.limit:,}, earliest first); narrow the window or raise limit")
        return stamp(df, self._meta(query.describe(), query.window, fetch, store,
                                    partial=partial, notes=notes,
                                    details={"matched_traces": matched,
                                             "returned_traces": returned,
                                             "limit": query.limit}))

    def _trace(self, trace_id: str, window: Window | None) -> pd.DataFrame:
        fetch = _Fetch()
        params: dict[str, str] = {}
        if window is not None:
            params = {"start_time": rfc3339(window.start), "end_time": rfc3339(window.end)}
        body = self._get(f"/api/v3/traces/{trace_id}", params, fetch, not_found_ok=True)
        store: SpanStore | None = None
        if body is None:
            df = empty_spans()
        else:
            store = SpanStore()
            try:
                store.load_bodies([body])
                df, _ = store.select(Selection(start_ns=-(2**62), end_ns=2**62, limit=1,
                                               trace_ids=(trace_id,)))
            finally:
                store.close()
        return stamp(df, self._meta(f"trace {trace_id}", window, fetch, store, partial=False,
                                    notes=[], details={}))


def _message(body: bytes) -> str:
    """Jaeger's error message (``{"error": {"message": ...}}``), else the body's start."""
    try:
        doc = orjson.loads(body)
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
            return str(doc["error"].get("message", ""))[:300]
    except orjson.JSONDecodeError:
        pass
    return body[:200].decode("utf-8", "replace").strip()


__all__ = ["JaegerTraces", "rfc3339"]
