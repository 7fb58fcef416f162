"""``PrometheusSource``: PromQL in, long metric frames out.

The connection is prometheus-api-client's ``PrometheusConnect`` (pass your own, or let
:meth:`PrometheusSource.from_settings` build one from the environment/config file); the
request path, error mapping, retries, chunking and frame building are ours, because the
library's helpers drop ``errorType``/warnings and build frames one dict per sample.
"""

from __future__ import annotations

import logging
import math
import os
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote as urlquote

import pandas as pd
from prometheus_api_client import PrometheusConnect
from urllib3.util.retry import Retry

from tributary_analysis.config import Secret, Settings, load_settings
from tributary_analysis.errors import ConfigError, DataError
from tributary_analysis.promql import check_label_name, format_duration, parse_duration
from tributary_analysis.sources.prometheus.cache import FrameCache, cache_key
from tributary_analysis.sources.prometheus.chunking import (
    MAX_POINTS,
    Window,
    plan_windows,
    run_bounded,
    step_ms_of,
)
from tributary_analysis.sources.prometheus.frames import (
    RawResult,
    build_frame,
    merge,
    parse,
)
from tributary_analysis.sources.prometheus.transport import Response, RetryPolicy, Transport

log = logging.getLogger(__name__)

TimeLike = datetime | pd.Timestamp | str | float | int


def to_timestamp(value: TimeLike, name: str = "time") -> pd.Timestamp:
    """A UTC timestamp from a datetime (naive = UTC), ISO string, ``"now"`` or epoch seconds."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            ts = pd.Timestamp(float(value), unit="s", tz="UTC")
        elif isinstance(value, str) and value.strip().lower() == "now":
            ts = pd.Timestamp.now(tz="UTC")
        else:
            ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise DataError(f"cannot read {name}={value!r} as a time: {exc}; pass a datetime, an "
                        "ISO 8601 string or epoch seconds") from exc
    if ts is pd.NaT:
        raise DataError(f"{name} is NaT; pass a real time")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _ms(ts: pd.Timestamp) -> int:
    return int(ts.value // 1_000_000)


def _sec(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


def _server_seconds(stats: list[dict[str, Any]]) -> float | None:
    total = 0.0
    seen = False
    for s in stats:
        timings = s.get("timings") if isinstance(s, dict) else None
        if isinstance(timings, dict) and "execTotalTime" in timings:
            total += float(timings["execTotalTime"])
            seen = True
    return total if seen else None


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
        Extra headers, e.g. ``{"X-Scope-OrgID": "team-a"}`` for Mimir/Cortex.
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
    max_span : float, str or timedelta, optional
        Longest time span per request (e.g. ``"1d"`` to line up with Thanos/Mimir caches).
    cache : bool, str or FrameCache, optional
        ``True`` caches past windows under ``Settings.cache_dir`` (or ``<home>/cache``); a path
        caches there.
    progress : bool, optional
        Show a progress bar for split pulls; ``None`` means only for 8+ requests.

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
                 max_span: float | str | timedelta | None = None,
                 cache: bool | str | os.PathLike[str] | FrameCache | None = None,
                 cache_home: str | os.PathLike[str] | None = None,
                 progress: bool | None = None, post_threshold: int = 1500) -> None:
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
            raise ConfigError(f"Prometheus URL {url!r} must start with http:// or https:// "
                              "(or pass a PrometheusConnect)")
        self.connect = connect
        self.transport = Transport(connect, retry=retry, post_threshold=post_threshold,
                                   pool_size=max_workers)
        self.max_workers = max_workers
        self.max_points = max_points
        self.max_span = None if max_span is None else parse_duration(max_span)
        self.progress = progress
        self.cache = _make_cache(cache, cache_home)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **options: Any) -> PrometheusSource:
        """A source configured from :func:`tributary_analysis.config.load_settings`.

        Secrets come from the environment or the config file only, never from arguments
        that a notebook would record. ``options`` are passed on (``max_workers``, ...).
        """
        s = settings or load_settings()
        options.setdefault("cache_home", s.cache_dir or (s.home / "cache"))
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

    # -- queries ----------------------------------------------------------------------
    def _report(self, df: pd.DataFrame) -> pd.DataFrame:
        for w in df.attrs.get("warnings", []):
            log.warning("Prometheus %s warned for %r: %s", self.url, df.attrs.get("query"), w)
        if df.attrs.get("partial_response"):
            log.warning("Prometheus %s returned a PARTIAL response for %r; some data is "
                        "missing", self.url, df.attrs.get("query"))
        return df

    def query(self, expr: str, time: TimeLike | None = None, *,
              timeout: float | str | None = None, stats: bool = False) -> pd.DataFrame:
        """Evaluate ``expr`` at one instant (``/api/v1/query``) → long frame.

        Parameters
        ----------
        expr : str
            PromQL; build label filters with :func:`tributary_analysis.promql.selector`.
        time : datetime, str or float, optional
            Evaluation time (default: the server's now).
        timeout : float or str, optional
            Server-side evaluation timeout (``"30s"``); exceeding it raises QueryTimeout.
        stats : bool
            Ask the server for query statistics (``attrs["stats"]``).
        """
        params: dict[str, Any] = {"query": expr}
        if time is not None:
            params["time"] = _sec(_ms(to_timestamp(time)))
        if timeout is not None:
            params["timeout"] = format_duration(parse_duration(timeout))
        if stats:
            params["stats"] = "all"
        started = _now()
        resp = self.transport.request("query", params, expr=expr)
        raw = parse(resp.doc)
        attrs = {"query": expr, "time": params.get("time"), "source": self.url,
                 "requests": 1, "elapsed_s": _now() - started}
        return self._report(build_frame(raw, attrs))

    def query_range(self, expr: str, start: TimeLike, end: TimeLike,
                    step: float | str | timedelta, *, timeout: float | str | None = None,
                    stats: bool = False, max_points: int | None = None,
                    max_span: float | str | timedelta | None = None,
                    max_workers: int | None = None, progress: bool | None = None,
                    cache: bool | None = None) -> pd.DataFrame:
        """Evaluate ``expr`` over ``[start, end]`` every ``step`` → long frame.

        Long ranges are split on the step grid (at most ``max_points`` per series per
        request, at most ``max_span`` each) and fetched concurrently; the merged frame
        equals one unchunked request sample for sample. ``attrs`` carry the query, range,
        step, warnings, partial-response flag, request count and timings.

        Examples
        --------
        >>> src.query_range('sum by (tenant_id) (rate(http_requests_total[5m]))',
        ...                 "2024-01-01", "2024-01-31", "5m")  # doctest: +SKIP
        """
        t_start, t_end = to_timestamp(start, "start"), to_timestamp(end, "end")
        step_ms = step_ms_of(parse_duration(step))
        start_ms, end_ms = _ms(t_start), _ms(t_end)
        span = parse_duration(max_span) if max_span is not None else self.max_span
        windows = plan_windows(start_ms, end_ms, step_ms,
                               max_points=max_points or self.max_points,
                               max_span_ms=None if span is None else int(span * 1000))
        attrs: dict[str, Any] = {
            "query": expr, "start": t_start.isoformat(), "end": t_end.isoformat(),
            "step": step_ms / 1000.0, "source": self.url, "requests": len(windows)}
        use_cache = self.cache is not None and cache is not False
        key = ""
        if use_cache:
            assert self.cache is not None
            key = cache_key(self.url, expr, start_ms, end_ms, step_ms,
                            self.connect.headers or {})
            if self.cache.cacheable(end_ms):
                hit = self.cache.get(key)
                if hit is not None:
                    return self._report(hit)
        extra: dict[str, Any] = {}
        if timeout is not None:
            extra["timeout"] = format_duration(parse_duration(timeout))
        if stats:
            extra["stats"] = "all"

        timings: list[float] = []

        def fetch(w: Window) -> RawResult:
            params = {"query": expr, "start": _sec(w.start_ms), "end": _sec(w.end_ms),
                      "step": _sec(w.step_ms), **extra}
            resp: Response = self.transport.request("query_range", params, expr=expr)
            timings.append(resp.elapsed)
            return parse(resp.doc)

        started = _now()
        parts = run_bounded(fetch, windows, max_workers=max_workers or self.max_workers,
                            progress=self.progress if progress is None else progress)
        raw = merge(parts)
        attrs["elapsed_s"] = _now() - started
        attrs["request_seconds"] = sum(timings)
        server = _server_seconds(raw.stats)
        if server is not None:
            attrs["server_exec_seconds"] = server
        df = build_frame(raw, attrs)
        meta = {str(k): v for k, v in df.attrs.items()}
        if use_cache and self.cache is not None and self.cache.cacheable(end_ms, meta):
            self.cache.put(key, df)
            df.attrs["cache"] = "stored"
        return self._report(df)

    # -- exploration ------------------------------------------------------------------
    def _range_params(self, start: TimeLike | None, end: TimeLike | None) -> dict[str, str]:
        out = {}
        if start is not None:
            out["start"] = _sec(_ms(to_timestamp(start, "start")))
        if end is not None:
            out["end"] = _sec(_ms(to_timestamp(end, "end")))
        return out

    def series(self, match: str | list[str], start: TimeLike | None = None,
               end: TimeLike | None = None) -> pd.DataFrame:
        """Series matching selector(s) ``match``: one row per series, a column per label."""
        matches = [match] if isinstance(match, str) else list(match)
        if not matches:
            raise DataError("series() needs at least one selector in match")
        params: dict[str, Any] = {"match[]": matches, **self._range_params(start, end)}
        resp = self.transport.request("series", params, expr=" or ".join(matches))
        rows = resp.doc.get("data") or []
        cols = sorted({k for r in rows for k in r})
        df = pd.DataFrame({("metric" if c == "__name__" else c):
                           pd.Categorical([r.get(c) for r in rows]) for c in cols})
        df.attrs.update({"match": matches, "source": self.url,
                         "warnings": [str(w) for w in resp.doc.get("warnings") or []]})
        return self._report(df)

    def label_names(self, match: str | list[str] | None = None, start: TimeLike | None = None,
                    end: TimeLike | None = None) -> list[str]:
        """Label names, optionally only those of series matching ``match``."""
        params: dict[str, Any] = self._range_params(start, end)
        if match:
            params["match[]"] = [match] if isinstance(match, str) else list(match)
        return [str(x) for x in self.transport.request("labels", params).doc.get("data") or []]

    def label_values(self, name: str, match: str | list[str] | None = None,
                     start: TimeLike | None = None, end: TimeLike | None = None) -> list[str]:
        """Values of label ``name`` (``__name__`` lists metric names)."""
        if name != "__name__":
            check_label_name(name)
        params: dict[str, Any] = self._range_params(start, end)
        if match:
            params["match[]"] = [match] if isinstance(match, str) else list(match)
        path = f"label/{urlquote(name, safe='')}/values"
        return [str(x) for x in self.transport.request(path, params).doc.get("data") or []]

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
