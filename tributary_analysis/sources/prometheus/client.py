"""``PrometheusSource``: PromQL in, long metric frames out.

The connection is prometheus-api-client's ``PrometheusConnect`` (pass your own, or let
:meth:`PrometheusSource.from_settings` build one from the environment/config file); the
request path, error mapping, retries, chunking, budgets and frame building are ours,
because the library's helpers drop ``errorType``/warnings and build frames one dict per
sample. The server is detected once per source (:attr:`PrometheusSource.server`) and every
frame says which server answered (``FrameMeta.server``).
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from dataclasses import replace
from typing import Any
from urllib.parse import quote as urlquote

import pandas as pd
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from tributary_analysis.config import Secret, Settings, load_settings
from tributary_analysis.errors import (
    ConfigError,
    DataError,
    NotFoundError,
    QueryError,
    SourceError,
    UnexpectedResponse,
)
from tributary_analysis.frames.meta import FrameMeta, meta_of
from tributary_analysis.ground.time import (
    DurationLike,
    TimeLike,
    Window,
    format_duration,
    iso,
    parse_duration,
    parse_time,
)
from tributary_analysis.promql import Dialect, check_label_name, series_count
from tributary_analysis.sources.prometheus import budget
from tributary_analysis.sources.prometheus.cache import FrameCache, cache_key
from tributary_analysis.sources.prometheus.chunking import (
    MAX_POINTS,
    Chunk,
    plan_chunks,
    run_bounded,
    step_ms_of,
)
from tributary_analysis.sources.prometheus.frames import (
    RawResult,
    build_frame,
    merge,
    parse,
)
from tributary_analysis.sources.prometheus.metadata import amend, attach, build_meta
from tributary_analysis.sources.prometheus.server import ServerInfo
from tributary_analysis.sources.prometheus.transport import (
    Compression,
    Response,
    RetryPolicy,
    Transport,
)

log = logging.getLogger(__name__)

_ONE_ATTEMPT = RetryPolicy(max_attempts=1, budget=10.0)


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def _sec(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


def _ts(ms: int) -> pd.Timestamp:
    return pd.Timestamp(ms, unit="ms", tz="UTC")


def _server_seconds(stats: list[dict[str, Any]]) -> float | None:
    total = 0.0
    seen = False
    for s in stats:
        timings = s.get("timings") if isinstance(s, dict) else None
        if isinstance(timings, dict) and "execTotalTime" in timings:
            total += float(timings["execTotalTime"])
            seen = True
    return total if seen else None


class LabelList(list[str]):
    """Label names or values (a plain list) with the answer's :class:`FrameMeta` in
    ``.attrs["meta"]``, so :func:`~tributary_analysis.frames.meta.meta_of` reads it."""

    attrs: dict[str, Any]

    def __init__(self, items: list[str], meta: FrameMeta) -> None:
        super().__init__(items)
        self.attrs = {"meta": meta}


class PrometheusSource:
    """A Prometheus (or Thanos/Mimir/Cortex) HTTP API as a source of metric frames.

    Parameters
    ----------
    url : str or PrometheusConnect
        The API root (``http://host:9090``, or ``https://mimir/prometheus``), or an existing
        ``PrometheusConnect`` whose session, headers and auth are reused as they are.
    token : str or Secret, optional
        Bearer token (sent as ``Authorization: Bearer ...``).
    username, password : str, optional
        HTTP basic auth.
    headers : dict, optional
        Extra headers sent with every request (every chunk of a split range too), e.g.
        ``{"X-Scope-OrgID": "team-a"}`` for Mimir/Cortex.
    ca_bundle : str, optional
        CA bundle path for TLS; ``verify=False`` disables verification (not recommended).
    timeout : float
        HTTP timeout in seconds for each request.
    retry : RetryPolicy, optional
        Attempts, backoff and total time budget for retryable failures.
    max_workers : int
        Concurrent requests when a range is split.
    max_points : int
        Points per series per request (Prometheus refuses more than 11,000).
    max_span : duration, optional
        Longest time span per request (e.g. ``"1d"``: one request per UTC day, as query
        frontends cache).
    max_samples, max_requests : int or None
        Budgets checked before a range query is sent (see :mod:`.budget`); ``None``
        disables one.
    align : bool or None
        Move range starts and ends down to multiples of the step (the instants query
        frontends cache); the last point is never after the requested end. ``None``
        (default): only for ranges that need more than one request — the long pulls a
        frontend splits and caches — so a short query evaluates exactly the instants
        asked for.
    compression : {"auto", "identity", "gzip"}
        Response encoding: ``auto`` asks loopback and private-network servers for the
        plain body (gzip costs the server more time than the bytes save there) and other
        servers for gzip.
    cache : bool, str or FrameCache, optional
        ``True`` caches past windows under ``Settings.cache_dir`` (or ``<home>/cache``); a path
        caches there.
    progress : bool, optional
        Show a progress bar for split pulls; ``None`` means only for 8+ requests.
    detect : bool
        Ask the server for its version (once, on first use); ``False`` treats it as an
        unknown Prometheus 2.x.

    Examples
    --------
    >>> src = PrometheusSource("http://127.0.0.1:9090", headers={"X-Scope-OrgID": "a"})
    >>> src
    PrometheusSource('http://127.0.0.1:9090')
    """

    def __init__(self, url: str | PrometheusConnect, *, token: str | Secret | None = None,
                 username: str | None = None, password: str | Secret | None = None,
                 headers: dict[str, str] | None = None, ca_bundle: str | None = None,
                 verify: bool = True, timeout: float = 60.0, retry: RetryPolicy | None = None,
                 max_workers: int = 4, max_points: int = MAX_POINTS,
                 max_span: DurationLike | None = None,
                 max_samples: int | None = budget.MAX_SAMPLES,
                 max_requests: int | None = budget.MAX_REQUESTS, align: bool | None = None,
                 compression: Compression = "auto",
                 cache: bool | str | os.PathLike[str] | FrameCache | None = None,
                 cache_home: str | os.PathLike[str] | None = None,
                 progress: bool | None = None, post_threshold: int = 1500,
                 detect: bool = True) -> None:
        if isinstance(url, PrometheusConnect):
            if token or username or password or headers or ca_bundle:
                raise ConfigError("pass credentials/headers either to your PrometheusConnect "
                                  "or to PrometheusSource, not both")
            connect = url
        elif isinstance(url, str) and url.startswith(("http://", "https://")):
            connect = _make_connect(url, token=token, username=username, password=password,
                                    headers=headers, ca_bundle=ca_bundle, verify=verify,
                                    timeout=timeout)
        else:
            shown = url if not isinstance(url, str) else url.split("@")[-1]
            raise ConfigError(f"Prometheus URL {shown!r} must start with http:// or https:// "
                              "(or pass a PrometheusConnect)")
        self.connect = connect
        self.transport = Transport(connect, retry=retry, post_threshold=post_threshold,
                                   pool_size=max_workers, compression=compression)
        self.max_workers = max_workers
        self.max_points = max_points
        self.max_span = None if max_span is None else parse_duration(max_span,
                                                                     name="max_span")
        self.max_samples = max_samples
        self.max_requests = max_requests
        self.align = align
        self.progress = progress
        self.cache = _make_cache(cache, cache_home)
        self._detect = detect
        self._server: ServerInfo | None = None
        self._server_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **options: Any) -> PrometheusSource:
        """A source configured from :func:`tributary_analysis.config.load_settings`.

        Secrets come from the environment or the config file only, never from arguments
        that a notebook would record. ``options`` are passed on (``max_workers``, ...).
        """
        s = settings or load_settings()
        options.setdefault("cache_home", s.cache_dir or (s.home / "cache"))
        options.setdefault("compression", s.prometheus_compression)
        return cls(s.prometheus_url, token=s.prometheus_token, username=s.prometheus_username,
                   password=s.prometheus_password, headers=dict(s.prometheus_headers),
                   ca_bundle=s.prometheus_ca_bundle, verify=s.prometheus_verify,
                   timeout=s.prometheus_timeout, **options)

    @property
    def url(self) -> str:
        """The API root, without credentials."""
        return self.transport.display_url

    def __repr__(self) -> str:
        return f"PrometheusSource({self.url!r})"

    def close(self) -> None:
        """Close the HTTP session."""
        self.connect._session.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the server -------------------------------------------------------------------
    @property
    def server(self) -> ServerInfo:
        """The server behind this source, detected once (buildinfo, then features on 3.9+).

        A server that cannot be reached right now is not remembered as unknown: the next
        use asks again.
        """
        if self._server is not None:
            return self._server
        if not self._detect:
            self._server = ServerInfo()
            return self._server
        with self._server_lock:
            if self._server is None:
                info = self._ask_server()
                if info is None:
                    return ServerInfo()
                self._server = info
        return self._server

    def _ask_server(self) -> ServerInfo | None:
        try:
            build = self.transport.request("status/buildinfo", {}, retry=_ONE_ATTEMPT).doc
        except (NotFoundError, UnexpectedResponse, QueryError):
            return ServerInfo.from_api(None)  # answers, but has no buildinfo
        except SourceError as exc:
            log.debug("server detection at %s failed: %s", self.url, exc)
            return None
        data = build.get("data") if isinstance(build.get("data"), dict) else {}
        info = ServerInfo.from_api(data)
        if info.at_least(3, 9):
            try:
                feats = self.transport.request("features", {}, retry=_ONE_ATTEMPT).doc
                info = ServerInfo.from_api(data, feats.get("data") or {})
            except SourceError as exc:
                log.debug("features at %s: %s", self.url, exc)
        return info

    @property
    def dialect(self) -> Dialect:
        """PromQL dialect of this server, for :func:`tributary_analysis.promql.selector`
        (UTF-8 names quoted on 3.x, refused on 2.x with the server named)."""
        info = self.server
        return Dialect(utf8_names=info.utf8_names, server=str(info))

    # -- helpers ----------------------------------------------------------------------
    def _meta(self, expr: str, *, window: Window | None, step: pd.Timedelta | None,
              requests: int, details: dict[str, Any], notes: list[str] | None = None
              ) -> FrameMeta:
        info = self.server
        details = {"range_semantics": info.range_semantics,
                   "quantile_algorithm": info.quantile_algorithm, **details}
        return build_meta(location=self.url, server=info.describe(), query=expr,
                          window=window, step=step, warnings=[], infos=[], partial=False,
                          requests=requests, notes=notes, details=details)

    def _parse(self, resp: Response, expr: str, what: str) -> RawResult:
        try:
            return parse(resp.body)
        except UnexpectedResponse as exc:
            raise UnexpectedResponse(
                f"Prometheus at {self.url} returned a malformed {what} for {expr!r}: {exc}; "
                "a proxy in between may have altered the answer — query the server "
                "directly (--url / TRIBUTARY_PROMETHEUS_URL) or check the proxy",
                source="prometheus", url=self.url, query=expr,
                error_type="malformed") from exc

    def _report(self, df: Any) -> Any:
        m = meta_of(df)
        for w in m.warnings:
            log.warning("Prometheus %s warned for %r: %s", self.url, m.query, w)
        for i in m.infos:
            log.info("Prometheus %s noted for %r: %s", self.url, m.query, i)
        if m.partial:
            log.warning("Prometheus %s returned a PARTIAL response for %r; some data is "
                        "missing", self.url, m.query)
        return df

    def _limit(self, raw: RawResult, limit: int | None, supported: bool) -> None:
        """Cut ``raw`` to ``limit`` series client-side when the server cannot (said)."""
        if limit is None or supported or len(raw.metrics) <= limit:
            return
        n = len(raw.metrics)
        raw.metrics = raw.metrics[:limit]
        raw.timestamps = raw.timestamps[:limit]
        raw.values = raw.values[:limit]
        raw.flat_ns = raw.flat_values = None
        raw.warnings.append(f"results truncated due to limit: {limit:,} of {n:,} series kept "
                            f"(client-side; {self.server} has no limit parameter)")

    # -- queries ----------------------------------------------------------------------
    def query(self, expr: str, time: TimeLike | None = None, *,
              timeout: DurationLike | None = None, stats: bool = False,
              limit: int | None = None) -> pd.DataFrame:
        """Evaluate ``expr`` at one instant (``/api/v1/query``) → long frame.

        Parameters
        ----------
        expr : str
            PromQL; build label filters with :func:`tributary_analysis.promql.selector`.
        time : datetime, str or float, optional
            Evaluation time (default: the server's now).
        timeout : duration, optional
            Server-side evaluation timeout (``"30s"``); exceeding it raises QueryTimeout.
        stats : bool
            Ask the server for query statistics (``details["stats"]``).
        limit : int, optional
            At most this many series (the server's ``limit`` on 3.2+, else cut here and
            said in the warnings).
        """
        params: dict[str, Any] = {"query": expr}
        at = None if time is None else parse_time(time, name="time")
        if at is not None:
            params["time"] = _sec(_ms(at))
        if timeout is not None:
            params["timeout"] = format_duration(parse_duration(timeout, name="timeout"))
        if stats:
            params["stats"] = "all"
        supported = limit is not None and self.server.limit_on_queries
        if supported:
            params["limit"] = str(int(limit or 0))
        started = _now()
        resp = self.transport.request("query", params, expr=expr)
        raw = self._parse(resp, expr, "query result")
        self._limit(raw, limit, supported)
        details: dict[str, Any] = {"timings": {"elapsed_s": _now() - started,
                                               "request_s": resp.elapsed}}
        if at is not None:
            details["time"] = iso(at)
        return self._report(build_frame(raw, self._meta(
            expr, window=None, step=None, requests=resp.attempts, details=details)))

    def plan(self, start: TimeLike | Window, end: TimeLike | None = None,
             step: DurationLike | None = None, *, align: bool | None = None,
             max_points: int | None = None, max_span: DurationLike | None = None
             ) -> tuple[list[Chunk], Window]:
        """The chunks a range query would send, and the window they evaluate.

        ``start`` may be a :class:`~tributary_analysis.ground.time.Window` (half-open:
        instants ``< end``, ``end`` omitted); otherwise ``start`` and ``end`` are both
        evaluated when on the grid, as the API takes them.
        """
        if step is None:
            raise DataError("query_range needs a step, e.g. step='1m'")
        step_ms = step_ms_of(step)
        if isinstance(start, Window):
            if end is not None:
                raise DataError("give a Window or start and end, not both")
            start_ms = _ms(start.start)
            end_ms = _ms(start.end) - 1
        else:
            if end is None:
                raise DataError("query_range needs an end (or pass a Window as start)")
            start_ms = _ms(parse_time(start, name="start"))
            end_ms = _ms(parse_time(end, name="end"))
        if end_ms < start_ms:
            raise DataError(f"end {iso(_ts(end_ms))} is before start {iso(_ts(start_ms))}; "
                            "swap them")
        span = parse_duration(max_span, name="max_span") if max_span is not None \
            else self.max_span
        span_ms = None if span is None else int(span.total_seconds() * 1000)
        per = max_points or self.max_points

        def cut(a: int, b: int) -> list[Chunk]:
            return plan_chunks(a, b, step_ms, max_points=per, max_span_ms=span_ms)

        chunks = cut(start_ms, start_ms + (end_ms - start_ms) // step_ms * step_ms)
        want = self.align if align is None else align
        if want or (want is None and len(chunks) > 1):
            a = start_ms - start_ms % step_ms
            chunks = cut(a, max(a, end_ms - end_ms % step_ms))
        return chunks, Window(_ts(chunks[0].start_ms), _ts(chunks[-1].end_ms + step_ms))

    def estimate(self, expr: str, chunks: list[Chunk], *, probe: bool = True
                 ) -> budget.Estimate:
        """Requests and points of a plan, and (``probe``) series by ``count(expr)`` at the
        plan's last instant."""
        points = sum(c.points for c in chunks)
        series = None
        at = ""
        if probe:
            last = chunks[-1].end_ms
            at = iso(_ts(last))
            try:
                probe_df = self.query(series_count(expr), time=_ts(last))
                series = int(probe_df["value"].iloc[0]) if len(probe_df) else 0
            except QueryError as exc:
                if "expected type instant vector" not in str(exc):
                    raise
                series = 1  # a scalar expression: one series
        return budget.Estimate(requests=len(chunks), points=points, series=series,
                               series_at=at)

    def query_range(self, expr: str, start: TimeLike | Window, end: TimeLike | None = None,
                    step: DurationLike | None = None, *, timeout: DurationLike | None = None,
                    stats: bool = False, limit: int | None = None,
                    max_points: int | None = None, max_span: DurationLike | None = None,
                    max_samples: int | bool | None = True,
                    max_requests: int | bool | None = True, align: bool | None = None,
                    max_workers: int | None = None, progress: bool | None = None,
                    cache: bool | None = None) -> pd.DataFrame:
        """Evaluate ``expr`` over a range every ``step`` → long frame.

        Long ranges are split on the step grid (at most ``max_points`` per series per
        request, at most ``max_span`` each, cut on UTC day boundaries) and fetched
        concurrently with the same headers; the merged frame equals one unchunked request
        sample for sample. Before anything is sent the cost is estimated and checked
        against ``max_requests`` and ``max_samples`` (``True`` = the source's budget,
        ``None`` = no limit); over budget raises
        :class:`~tributary_analysis.errors.BudgetExceeded`.

        Parameters
        ----------
        start, end : instant, or a Window as ``start``
            ``start``/``end`` are both evaluated when on the step grid (the API's closed
            range); a :class:`~tributary_analysis.ground.time.Window` evaluates ``[start,
            end)``.
        step : duration
            ``"1m"``, ``"5m"``, seconds, a timedelta.
        align : bool, optional
            Move start and end down to multiples of ``step``; default: the source's
            (``None``: when the range needs more than one request).

        Examples
        --------
        >>> src.query_range('sum by (tenant_id) (rate(http_requests_total[5m]))',
        ...                 "2024-01-01", "2024-01-31", "5m")  # doctest: +SKIP
        """
        chunks, window = self.plan(start, end, step, align=align, max_points=max_points,
                                   max_span=max_span)
        step_td = pd.Timedelta(milliseconds=chunks[0].step_ms)
        m_samples = self.max_samples if max_samples is True else (
            None if max_samples is False else max_samples)
        m_requests = self.max_requests if max_requests is True else (
            None if max_requests is False else max_requests)
        per = max_points or self.max_points
        est = self.estimate(expr, chunks, probe=len(chunks) > 1 and m_samples is not None
                            and (m_requests is None or len(chunks) <= m_requests))
        budget.check(est, expr=expr, window=window.describe(), span=window.duration - step_td,
                     step=step_td, max_samples=m_samples, max_requests=m_requests,
                     max_points=per, url=self.url)
        first, last = chunks[0].start_ms, chunks[-1].end_ms
        use_cache = self.cache is not None and cache is not False
        key = ""
        if use_cache:
            assert self.cache is not None
            key = cache_key(self.url, expr, first, last, chunks[0].step_ms,
                            self.connect.headers or {})
            if self.cache.cacheable(last):
                hit = self.cache.get(key)
                if hit is not None:
                    return self._report(hit)
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = format_duration(parse_duration(timeout, name="timeout"))
        if stats:
            extra["stats"] = "all"
        supported = limit is not None and self.server.limit_on_queries
        if supported:
            extra["limit"] = str(int(limit or 0))
        timings: list[float] = []
        attempts: list[int] = []

        def fetch(c: Chunk) -> RawResult:
            params = {"query": expr, "start": _sec(c.start_ms), "end": _sec(c.end_ms),
                      "step": _sec(c.step_ms), **extra}
            resp = self.transport.request("query_range", params, expr=expr)
            timings.append(resp.elapsed)
            attempts.append(resp.attempts)
            return self._parse(resp, expr, f"range result ({c.describe()})")

        started = _now()
        parts = run_bounded(fetch, chunks, max_workers=max_workers or self.max_workers,
                            progress=self.progress if progress is None else progress)
        raw = merge(parts)
        self._limit(raw, limit, supported)
        timing: dict[str, float] = {"elapsed_s": _now() - started,
                                    "request_s": sum(timings)}
        server_s = _server_seconds(raw.stats)
        if server_s is not None:
            timing["server_exec_s"] = server_s
        details: dict[str, Any] = {"timings": timing, "estimate": est.as_dict(),
                                   "chunks": len(chunks)}
        if self.transport.accept_encoding:
            details["encoding"] = self.transport.accept_encoding
        probes = 0 if est.series is None else 1
        df = build_frame(raw, self._meta(expr, window=window, step=step_td,
                                         requests=sum(attempts) + probes, details=details))
        if use_cache and self.cache is not None and self.cache.cacheable(last, meta_of(df)):
            self.cache.put(key, df)
            amend(df, details={"cache": "stored"})
        return self._report(df)

    # -- exploration ------------------------------------------------------------------
    def _range_params(self, start: TimeLike | None, end: TimeLike | None) -> dict[str, str]:
        out = {}
        if start is not None:
            out["start"] = _sec(_ms(parse_time(start, name="start")))
        if end is not None:
            out["end"] = _sec(_ms(parse_time(end, name="end")))
        return out

    def _list_meta(self, what: str, resp: Response, n: int, limit: int | None,
                   cut: int) -> FrameMeta:
        doc = resp.doc
        warnings = [str(w) for w in doc.get("warnings") or []]
        if cut:
            warnings.append(f"results truncated due to limit: {limit:,} of {limit + cut:,} "
                            f"kept (client-side; {self.server} has no limit parameter)"
                            if limit is not None else "")
        meta = self._meta(what, window=None, step=None, requests=resp.attempts,
                          details={"items": n})
        return replace(meta, warnings=tuple(w for w in warnings if w),
                       infos=tuple(str(i) for i in doc.get("infos") or []))

    def series(self, match: str | list[str], start: TimeLike | None = None,
               end: TimeLike | None = None, *, limit: int | None = None) -> pd.DataFrame:
        """Series matching selector(s) ``match``: one row per series, a column per label.

        ``limit`` caps the series (the server's parameter on 2.51+, else cut here and said).
        """
        matches = [match] if isinstance(match, str) else list(match)
        if not matches:
            raise DataError("series() needs at least one selector in match")
        params: dict[str, Any] = {"match[]": matches, **self._range_params(start, end)}
        supported = limit is not None and self.server.limit_on_metadata
        if supported:
            params["limit"] = str(int(limit or 0))
        expr = " or ".join(matches)
        resp = self.transport.request("series", params, expr=expr)
        rows = resp.doc.get("data") or []
        cut = 0
        if limit is not None and not supported and len(rows) > limit:
            cut, rows = len(rows) - limit, rows[:limit]
        cols = sorted({k for r in rows for k in r})
        df = pd.DataFrame({("metric" if c == "__name__" else c):
                           pd.Categorical([r.get(c) for r in rows]) for c in cols})
        meta = self._list_meta(expr, resp, len(rows), limit, cut)
        return self._report(attach(df, replace(meta, details={
            **meta.details, "series": len(rows), "match": matches})))

    def _labels(self, path: str, what: str, match: str | list[str] | None,
                start: TimeLike | None, end: TimeLike | None, limit: int | None
                ) -> LabelList:
        params: dict[str, Any] = self._range_params(start, end)
        if match:
            params["match[]"] = [match] if isinstance(match, str) else list(match)
        supported = limit is not None and self.server.limit_on_metadata
        if supported:
            params["limit"] = str(int(limit or 0))
        resp = self.transport.request(path, params)
        items = [str(x) for x in resp.doc.get("data") or []]
        cut = 0
        if limit is not None and not supported and len(items) > limit:
            cut, items = len(items) - limit, items[:limit]
        return self._report(LabelList(items, self._list_meta(what, resp, len(items), limit,
                                                             cut)))

    def label_names(self, match: str | list[str] | None = None, start: TimeLike | None = None,
                    end: TimeLike | None = None, *, limit: int | None = None) -> LabelList:
        """Label names, optionally only those of series matching ``match``."""
        return self._labels("labels", "label names", match, start, end, limit)

    def label_values(self, name: str, match: str | list[str] | None = None,
                     start: TimeLike | None = None, end: TimeLike | None = None, *,
                     limit: int | None = None) -> LabelList:
        """Values of label ``name`` (``__name__`` lists metric names); a UTF-8 name is sent
        in the API's ``U__`` escaping (3.x)."""
        if name != "__name__":
            try:
                check_label_name(name)
                path_name = name
            except DataError:
                self.dialect.check_name(name, "label")
                path_name = _escape_u(name)
        else:
            path_name = name
        path = f"label/{urlquote(path_name, safe='')}/values"
        return self._labels(path, f"values of {name}", match, start, end, limit)

    def metadata(self, metric: str | None = None) -> pd.DataFrame:
        """Type, help and unit per metric family (as the targets expose them)."""
        params = {"metric": metric} if metric else {}
        data = self.transport.request("metadata", params).doc.get("data") or {}
        rows = [{"metric": name, "type": m.get("type"), "help": m.get("help"),
                 "unit": m.get("unit")} for name, items in sorted(data.items()) for m in items]
        return pd.DataFrame(rows, columns=["metric", "type", "help", "unit"])

    def targets(self, state: str = "active") -> pd.DataFrame:
        """Scrape targets with health, last error and their labels."""
        data = self.transport.request("targets", {"state": state}).doc.get("data") or {}
        rows = []
        for t in data.get("activeTargets", []) + data.get("droppedTargets", []):
            row = {"scrape_pool": t.get("scrapePool"), "scrape_url": t.get("scrapeUrl"),
                   "health": t.get("health"), "last_error": t.get("lastError"),
                   "last_scrape": t.get("lastScrape")}
            row.update(t.get("labels") or {})
            rows.append(row)
        return pd.DataFrame(rows)

    def ping(self) -> float:
        """Round-trip a trivial query; seconds taken (raises if unreachable)."""
        started = _now()
        self.transport.request("query", {"query": "1"})
        return _now() - started


def _escape_u(name: str) -> str:
    """Prometheus's ``U__`` value-encoding escape of a UTF-8 name (``a.b`` → ``U__a_2e_b``)."""
    out = ["U__"]
    for ch in name:
        if ch == "_":
            out.append("__")
        elif ch.isascii() and ch.isalnum():
            out.append(ch)
        else:
            out.append(f"_{ord(ch):x}_")
    return "".join(out)


def _now() -> float:
    return time.perf_counter()


def _make_connect(url: str, *, token: str | Secret | None, username: str | None,
                  password: str | Secret | None, headers: dict[str, str] | None,
                  ca_bundle: str | None, verify: bool, timeout: float) -> PrometheusConnect:
    hdrs = dict(headers or {})
    tok = token.get() if isinstance(token, Secret) else token
    if tok:
        if any(k.lower() == "authorization" for k in hdrs):
            raise ConfigError("both a token and an Authorization header were given; keep one")
        hdrs["Authorization"] = f"Bearer {tok}"
    auth = None
    if username:
        pw = password.get() if isinstance(password, Secret) else (password or "")
        auth = (username, pw)
    if not math.isfinite(timeout) or timeout <= 0:
        raise ConfigError(f"timeout must be a positive number of seconds, got {timeout!r}")
    connect = PrometheusConnect(url=url.rstrip("/"), headers=hdrs or None,
                                disable_ssl=not verify, auth=auth,
                                retry=Retry(total=0, read=False), timeout=timeout)
    if ca_bundle and verify:
        if not os.path.exists(ca_bundle):
            raise ConfigError(f"CA bundle {ca_bundle!r} does not exist; fix "
                              "prometheus_ca_bundle or unset it")
        connect._session.verify = ca_bundle
    return connect


def _make_cache(cache: bool | str | os.PathLike[str] | FrameCache | None,
                home: str | os.PathLike[str] | None) -> FrameCache | None:
    if cache is None or cache is False:
        return None
    if isinstance(cache, FrameCache):
        return cache
    if cache is True:
        if home is None:
            home = load_settings().cache_dir or (load_settings().home / "cache")
        return FrameCache(os.fspath(home))
    return FrameCache(os.fspath(cache))


__all__ = ["LabelList", "PrometheusSource"]
