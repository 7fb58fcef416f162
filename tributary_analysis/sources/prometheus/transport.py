"""HTTP to the Prometheus API: one request, typed errors, bounded retries, the encoding.

The connection (session, headers, auth, TLS, proxies) is prometheus-api-client's
``PrometheusConnect``; its own query helpers are not used because they raise one generic
exception, drop ``errorType`` and warnings, and let urllib3 retry every 503 — which would
re-run a query that *timed out* (Prometheus answers 503 for ``errorType: timeout``).
So a non-retrying adapter is mounted on ``<url>/api/v1/`` and retries happen here:

* retried (exponential backoff with jitter, ``Retry-After`` honoured, total time budget):
  connection failures, a body cut short (fewer bytes than ``Content-Length``) on a read
  request, 429, 502, and 503 whose body is not a timeout/cancel;
* never retried: ``bad_data`` (400), ``execution`` (422), query ``timeout``, auth
  (401/403), ``internal`` (500), and anything on a request that is not a read.

Error mapping (the body is parsed as JSON on every error status)::

    bad_data                      → QueryError (exceeded 11,000 points → TooManySamples)
    timeout, canceled             → QueryTimeout
    execution "too many samples"  → TooManySamples; "context deadline exceeded" → QueryTimeout;
    other execution → QueryError
    internal / 500                → SourceError (a server-side fault: check its log)
    unavailable / 429 / 502 / 503 → ServerUnavailable (after the retry budget)
    not_found / 404               → NotFoundError
    401 / 403                     → AuthenticationError
    body not JSON                 → UnexpectedResponse (status and first bytes)
    body cut short                → ResponseTruncated (after the retry budget)
    connection refused / DNS / TLS→ SourceUnreachable (names the URL)

Response encoding: Prometheus compresses with Go's gzip at about 12 MB/s of JSON on one
core, slower than loopback or a LAN carries the plain body, so ``compression="auto"``
asks for ``identity`` from loopback and private-network servers and for ``gzip`` from
everything else (see ``docs/prometheus.md`` for the measurement).
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import random
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import orjson
import requests
import urllib3
from requests.adapters import HTTPAdapter

from tributary_analysis.errors import (
    AuthenticationError,
    NotFoundError,
    QueryError,
    QueryTimeout,
    ResponseTruncated,
    ServerUnavailable,
    SourceError,
    SourceUnreachable,
    TooManySamples,
    UnexpectedResponse,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503})
Compression = Literal["auto", "identity", "gzip"]
#: API paths that only read: safe to send twice
READ_PATHS = ("query", "query_range", "series", "labels", "label/", "metadata", "targets",
              "status/", "features", "rules", "alerts", "query_exemplars", "format_query")
_SUCCESS_PREFIX = b'{"status":"success"'


def redact_url(url: str) -> str:
    """``url`` without user:password, query string or fragment: safe for messages, logs
    and frame metadata (tokens sometimes travel as ``?access_token=``)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def is_local_network(url: str) -> bool:
    """Whether ``url``'s host is loopback, link-local or on a private network (RFC 1918,
    RFC 4193), resolving a name once; unknown names count as remote."""
    host = urlsplit(url).hostname or ""
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        addrs = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return False
        addrs = [ipaddress.ip_address(str(i[4][0]).split("%")[0]) for i in infos]
    return bool(addrs) and all(a.is_loopback or a.is_private or a.is_link_local
                               for a in addrs)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``max_attempts`` in all, waits ``base * 2**n`` (jittered), capped
    at ``max_wait``, and never beyond ``budget`` seconds since the first attempt."""

    max_attempts: int = 6
    base: float = 0.25
    max_wait: float = 8.0
    budget: float = 60.0


class _Truncated(Exception):
    """Fewer bytes than Content-Length arrived."""


def _read_body(resp: requests.Response) -> bytes | bytearray:
    """The whole body. A plain body with a known length is read in 1 MiB pieces into one
    preallocated buffer (no list of chunks joined at the end, so the peak is the body plus
    1 MiB); compressed or chunked bodies are read by requests as usual."""
    encoding = str(resp.headers.get("Content-Encoding") or "identity").lower()
    length = str(resp.headers.get("Content-Length") or "")
    if encoding != "identity" or not length.isdigit():
        return resp.content
    n = int(length)
    buf = bytearray(n)
    pos = 0
    try:
        while pos < n:
            piece = resp.raw.read(min(1 << 20, n - pos), decode_content=False)
            if not piece:
                raise _Truncated(f"got {pos:,} of {n:,} bytes")
            buf[pos:pos + len(piece)] = piece
            pos += len(piece)
    finally:
        resp.close()
    return buf


class Response:
    """A successful API answer: the raw body (parsed by the frame builder straight into
    columns) and, decoded on first use, the document."""

    def __init__(self, body: bytes | bytearray, status: int, *,
                 doc: dict[str, Any] | None = None,
                 elapsed: float = 0.0, attempts: int = 0, encoding: str = "") -> None:
        self.body = body
        self.status = status
        self._doc = doc
        self.elapsed = elapsed
        self.attempts = attempts
        self.encoding = encoding

    @property
    def doc(self) -> dict[str, Any]:
        if self._doc is None:
            doc = orjson.loads(self.body)
            self._doc = doc if isinstance(doc, dict) else {}
        return self._doc


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


def _is_read(path: str) -> bool:
    return path.startswith(READ_PATHS)


class Transport:
    """Sends API requests over a ``PrometheusConnect``'s session; thread-safe for reads."""

    def __init__(self, connect: Any, *, retry: RetryPolicy | None = None,
                 post_threshold: int = 1500, pool_size: int = 8,
                 compression: Compression = "auto") -> None:
        if compression not in ("auto", "identity", "gzip"):
            from tributary_analysis.errors import ConfigError

            raise ConfigError(f"compression={compression!r}: use 'auto', 'identity' or "
                              "'gzip'")
        self.connect = connect
        self.base_url = str(connect.url).rstrip("/")
        self.display_url = redact_url(self.base_url)
        self.retry = retry or RetryPolicy()
        self.post_threshold = post_threshold
        self.compression: Compression = compression
        self._encoding: str | None = None
        self.session: requests.Session = connect._session
        # Take over retrying for the API (see module docstring); other paths keep the
        # user's adapter untouched.
        self.session.mount(self.base_url + "/api/v1/",
                           HTTPAdapter(pool_connections=2, pool_maxsize=max(2, pool_size)))
        self._lock = threading.Lock()
        self.request_count = 0

    @property
    def accept_encoding(self) -> str:
        """The ``Accept-Encoding`` this transport sends (decided once per server)."""
        if self._encoding is None:
            user = {k.lower(): v for k, v in (self.connect.headers or {}).items()}
            if "accept-encoding" in user:
                self._encoding = str(user["accept-encoding"])
            elif self.compression == "auto":
                self._encoding = "identity" if is_local_network(self.base_url) else "gzip"
            else:
                self._encoding = self.compression
        return self._encoding

    # -- one request ------------------------------------------------------------------
    def _send(self, method: str, url: str, params: Mapping[str, Any],
              timeout: float | None) -> requests.Response:
        headers = {**(self.connect.headers or {}), "Accept-Encoding": self.accept_encoding}
        kwargs: dict[str, Any] = {
            "headers": headers,
            "auth": self.connect.auth,
            "verify": self.session.verify,
            "cert": self.session.cert,
            "timeout": timeout if timeout is not None else self.connect._timeout,
        }
        if method == "POST":
            return self.session.request("POST", url, data=dict(params), stream=True,
                                        **kwargs)
        return self.session.request("GET", url, params=dict(params), stream=True, **kwargs)

    def request(self, path: str, params: Mapping[str, Any], *, expr: str = "",
                timeout: float | None = None, force_post: bool = False,
                idempotent: bool | None = None, retry: RetryPolicy | None = None
                ) -> Response:
        """Call ``/api/v1/<path>`` with retries; return the success or raise.

        Long expressions go as a form-encoded POST (URLs have length limits in proxies).
        ``idempotent`` (default: whether ``path`` only reads) decides whether a body cut
        short may be fetched again.
        """
        url = f"{self.base_url}/api/v1/{path}"
        size = sum(len(str(v)) for v in params.values())
        post_ok = path in ("query", "query_range", "series", "labels")
        method = "POST" if post_ok and (
            force_post or size > self.post_threshold
            or str(getattr(self.connect, "_method", "GET")).upper() == "POST") else "GET"
        safe = _is_read(path) if idempotent is None else idempotent
        policy = retry or self.retry
        what = f"query {_short(expr)!r}" if expr else f"/api/v1/{path}"
        ctx: dict[str, Any] = {"source": "prometheus", "url": self.display_url, "query": expr}
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            t0 = time.monotonic()
            retry_after = None
            try:
                resp = self._send(method, url, params, timeout)
                body = _read_body(resp)
            except requests.exceptions.ReadTimeout as exc:
                raise QueryTimeout(
                    f"no answer from Prometheus at {self.display_url} within the client "
                    f"timeout for {what}; raise timeout= (TRIBUTARY_PROMETHEUS_TIMEOUT) or "
                    "narrow the window", error_type="client_timeout", **ctx) from exc
            except (requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError, _Truncated,
                    urllib3.exceptions.ProtocolError, http.client.IncompleteRead) as exc:
                with self._lock:
                    self.request_count += 1
                err: SourceError = ResponseTruncated(
                    f"the connection to Prometheus at {self.display_url} dropped in the "
                    f"middle of the answer to {what} ({_short(str(exc), 160)}); a proxy or "
                    "load balancer may be cutting long responses: raise its timeouts or "
                    "body limits, or narrow the window / coarsen the step",
                    error_type="truncated", **ctx)
                if not safe:
                    raise err from exc
            except (requests.exceptions.ConnectionError,
                    requests.exceptions.ConnectTimeout) as exc:
                err = SourceUnreachable(
                    f"cannot reach Prometheus at {self.display_url} ({type(exc).__name__}: "
                    f"{_short(str(exc), 200)}); check the URL, that the server runs, and "
                    "TLS settings", **ctx)
            else:
                elapsed = time.monotonic() - t0
                with self._lock:
                    self.request_count += 1
                ok, failure, retry_after = self._classify(resp, body, expr, path)
                if ok is not None:
                    ok.elapsed, ok.attempts = elapsed, attempt
                    ok.encoding = str(resp.headers.get("Content-Encoding") or "identity")
                    return ok
                assert failure is not None
                err = failure
                if not _retryable(err):
                    raise err
            wait = min(policy.max_wait, policy.base * 2 ** (attempt - 1))
            wait = wait * (0.5 + random.random() / 2)
            if retry_after is not None:
                wait = max(wait, min(retry_after, policy.max_wait))
            spent = time.monotonic() - started
            if attempt >= policy.max_attempts or spent + wait > policy.budget:
                err.args = (f"{err.args[0]} (gave up after {attempt} attempt(s) in "
                            f"{spent:.1f}s)",)
                raise err
            log.info("retrying %s on %s in %.2fs: %s", path, self.display_url, wait, err)
            time.sleep(wait)

    # -- status/body → result or error ------------------------------------------------
    def _classify(self, resp: requests.Response, body: bytes | bytearray, expr: str, path: str
                  ) -> tuple[Response | None, SourceError | None, float | None]:
        status = resp.status_code
        if status < 300 and body.startswith(_SUCCESS_PREFIX):
            return Response(body, status), None, None  # decoded by the frame builder
        ctx: dict[str, Any] = {"source": "prometheus", "url": self.display_url, "query": expr,
                               "status": status}
        what = f"query {_short(expr)!r}" if expr else f"/api/v1/{path}"
        retry_after = _retry_after(resp.headers.get("Retry-After"))
        server = f"Prometheus at {self.display_url}"
        if status in (401, 403):
            return None, AuthenticationError(
                f"{server} refused {what} with HTTP {status}; check the token, "
                "username/password or tenant header (X-Scope-OrgID)", **ctx), None
        try:
            doc = orjson.loads(body)
            if not isinstance(doc, dict):
                raise ValueError("not an object")
        except ValueError:
            return None, self._non_json(status, bytes(body[:200]), what, ctx), retry_after
        if status < 300 and doc.get("status") == "success":
            return Response(body, status, doc=doc), None, None
        etype = str(doc.get("errorType") or "")
        message = str(doc.get("error") or f"HTTP {status} without an error message")
        ctx["error_type"] = etype
        if etype == "bad_data":
            if "maximum resolution" in message or "11,000 points" in message:
                return None, TooManySamples(
                    f"{server} refused {what}: {message}; increase step or split the range "
                    "(query_range splits automatically)", **ctx), None
            return None, QueryError(
                f"{server} rejected {what}: {message}; fix the PromQL", **ctx), None
        if etype in ("timeout", "canceled") or (
                etype == "execution" and ("context deadline exceeded" in message
                                          or "query timed out" in message)):
            # the engine's deadline fired while expanding series: a timeout, not a bad query
            return None, QueryTimeout(
                f"{server} gave up on {what}: {message}; narrow the time range, raise the "
                "timeout= parameter, or aggregate more", **ctx), None
        if etype == "execution":
            if "too many samples" in message:
                return None, TooManySamples(
                    f"{server} refused {what}: {message}; shorten the range, increase step "
                    "or aggregate first", **ctx), None
            return None, QueryError(f"{server} failed to execute {what}: {message}; fix "
                                    "the PromQL", **ctx), None
        if etype == "not_found" or status == 404:
            return None, NotFoundError(
                f"{server}: {message} for {what}; check the URL's path (the API root, e.g. "
                "http://host:9090 or https://mimir/prometheus)", **ctx), None
        if status == 429:
            return None, ServerUnavailable(
                f"{server} rate-limited {what} (HTTP 429): {message}; send fewer requests "
                "at once (max_workers= / --max-workers) or ask for a higher query limit",
                **ctx), retry_after
        if etype == "unavailable" or status in RETRY_STATUSES:
            return None, ServerUnavailable(
                f"{server} is unavailable for {what} (HTTP {status}): {message}; try again "
                "later", **ctx), retry_after
        if etype == "internal" or status >= 500:
            return None, SourceError(
                f"{server} failed internally on {what} (HTTP {status} "
                f"{etype or 'error'}): {message}; the fault is on the server side, not in "
                "the query: check the Prometheus log and try again later", **ctx), None
        return None, SourceError(
            f"{server} answered {what} with HTTP {status} {etype or 'error'}: {message}",
            **ctx), None

    def _non_json(self, status: int, body: bytes, what: str,
                  ctx: dict[str, Any]) -> SourceError:
        head = f"First bytes: {body[:160]!r}"
        where = f"HTTP {status} from {self.display_url} for {what} with a non-JSON body"
        if status == 502:
            return ServerUnavailable(
                f"{where}: a proxy or load balancer in front of Prometheus could not reach "
                "it (Bad Gateway); check that Prometheus runs behind it, or point the URL "
                f"(--url / TRIBUTARY_PROMETHEUS_URL) at Prometheus itself. {head}", **ctx)
        if status == 429:
            return ServerUnavailable(
                f"{where}: rate-limited; send fewer requests at once (max_workers= / "
                f"--max-workers) or ask for a higher query limit. {head}", **ctx)
        if status in RETRY_STATUSES:
            return ServerUnavailable(f"{where}: a proxy or the server is overloaded or "
                                     f"down; try again later. {head}", **ctx)
        if status == 404:
            return NotFoundError(f"{where}: is the URL the API root (http://host:9090, not "
                                 f"…/graph or …/api/v1)? {head}", **ctx)
        if status >= 500:
            return SourceError(f"{where}: the server or a proxy failed; check its log and "
                               f"try again later. {head}", **ctx)
        return UnexpectedResponse(f"{where}; is the URL the Prometheus root, not a proxy or "
                                  f"login page? {head}", **ctx)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _retryable(err: SourceError) -> bool:
    """Only failures that a later identical request could plausibly survive."""
    if isinstance(err, SourceUnreachable):
        return True
    return isinstance(err, ServerUnavailable) and (err.status in RETRY_STATUSES)
