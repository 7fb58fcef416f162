"""HTTP to the Prometheus API: one request, typed errors, bounded retries.

The connection (session, headers, auth, TLS, proxies) is prometheus-api-client's
``PrometheusConnect``; its own query helpers are not used because they raise one generic
exception, drop ``errorType`` and warnings, and let urllib3 retry every 503 — which would
re-run a query that *timed out* (Prometheus answers 503 for ``errorType: timeout``).
So a non-retrying adapter is mounted on ``<url>/api/v1/`` and retries happen here:

* retried (exponential backoff with jitter, ``Retry-After`` honoured, total time budget):
  connection failures, 429, 502, and 503 whose body is not a timeout/cancel;
* never retried: ``bad_data`` (400), ``execution`` (422), query ``timeout``, auth (401/403).

Error mapping (the body is parsed as JSON on *every* status)::

    bad_data                      → QueryError (exceeded 11,000 points → TooManySamples)
    timeout, canceled             → QueryTimeout
    execution "too many samples"  → TooManySamples; "context deadline exceeded" → QueryTimeout;
    other execution → QueryError
    unavailable / 429 / 502 / 503 → ServerUnavailable (after the retry budget)
    not_found / 404               → NotFoundError
    401 / 403                     → AuthenticationError
    body not JSON                 → UnexpectedResponse (status and first bytes)
    connection refused / DNS / TLS→ SourceUnreachable (names the URL)
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import orjson
import requests
from requests.adapters import HTTPAdapter

from tributary_analysis.errors import (
    AuthenticationError,
    NotFoundError,
    QueryError,
    QueryTimeout,
    ServerUnavailable,
    SourceError,
    SourceUnreachable,
    TooManySamples,
    UnexpectedResponse,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503})


def redact_url(url: str) -> str:
    """``url`` without user:password, safe for messages and logs."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: ``max_attempts`` in all, waits ``base * 2**n`` (jittered), capped
    at ``max_wait``, and never beyond ``budget`` seconds since the first attempt."""

    max_attempts: int = 6
    base: float = 0.25
    max_wait: float = 8.0
    budget: float = 60.0


@dataclass
class Response:
    """A successful, decoded API answer plus what it cost."""

    doc: dict[str, Any]
    body: bytes
    status: int
    elapsed: float
    attempts: int


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


class Transport:
    """Sends API requests over a ``PrometheusConnect``'s session; thread-safe for reads."""

    def __init__(self, connect: Any, *, retry: RetryPolicy | None = None,
                 post_threshold: int = 1500, pool_size: int = 8) -> None:
        self.connect = connect
        self.base_url = str(connect.url).rstrip("/")
        self.display_url = redact_url(self.base_url)
        self.retry = retry or RetryPolicy()
        self.post_threshold = post_threshold
        self.session: requests.Session = connect._session
        # Take over retrying for the API (see module docstring); other paths keep the
        # user's adapter untouched.
        self.session.mount(self.base_url + "/api/v1/",
                           HTTPAdapter(pool_connections=2, pool_maxsize=max(2, pool_size)))
        self._lock = threading.Lock()
        self.request_count = 0

    # -- one request ------------------------------------------------------------------
    def _send(self, method: str, url: str, params: Mapping[str, Any],
              timeout: float | None) -> requests.Response:
        kwargs: dict[str, Any] = {
            "headers": self.connect.headers,
            "auth": self.connect.auth,
            "verify": self.session.verify,
            "cert": self.session.cert,
            "timeout": timeout if timeout is not None else self.connect._timeout,
        }
        if method == "POST":
            return self.session.request("POST", url, data=dict(params), **kwargs)
        return self.session.request("GET", url, params=dict(params), **kwargs)

    def request(self, path: str, params: Mapping[str, Any], *, expr: str = "",
                timeout: float | None = None, force_post: bool = False) -> Response:
        """Call ``/api/v1/<path>`` with retries; return the decoded success or raise.

        Long expressions go as a form-encoded POST (URLs have length limits in proxies).
        """
        url = f"{self.base_url}/api/v1/{path}"
        size = sum(len(str(v)) for v in params.values())
        post_ok = path in ("query", "query_range", "series", "labels")
        method = "POST" if post_ok and (
            force_post or size > self.post_threshold
            or str(getattr(self.connect, "_method", "GET")).upper() == "POST") else "GET"
        policy = self.retry
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            t0 = time.monotonic()
            try:
                resp = self._send(method, url, params, timeout)
            except requests.exceptions.ReadTimeout as exc:
                raise QueryTimeout(
                    f"no answer from Prometheus at {self.display_url} within the client "
                    f"timeout for {_short(expr) or path!r}; raise timeout= or narrow the "
                    "window", source="prometheus", url=self.display_url, query=expr,
                    error_type="client_timeout") from exc
            except (requests.exceptions.ConnectionError,
                    requests.exceptions.ConnectTimeout) as exc:
                err: SourceError = SourceUnreachable(
                    f"cannot reach Prometheus at {self.display_url} ({type(exc).__name__}: "
                    f"{_short(str(exc), 200)}); check the URL, that the server runs, and "
                    "TLS settings", source="prometheus", url=self.display_url, query=expr)
                retry_after = None
            else:
                elapsed = time.monotonic() - t0
                with self._lock:
                    self.request_count += 1
                ok, failure, retry_after = self._classify(resp, expr, path)
                if ok is not None:
                    ok.elapsed, ok.attempts = elapsed, attempt
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
    def _classify(self, resp: requests.Response, expr: str, path: str
                  ) -> tuple[Response | None, SourceError | None, float | None]:
        status = resp.status_code
        body = resp.content
        ctx: dict[str, Any] = {"source": "prometheus", "url": self.display_url, "query": expr,
               "status": status}
        what = f"query {_short(expr)!r}" if expr else f"/api/v1/{path}"
        retry_after = _retry_after(resp.headers.get("Retry-After"))
        if status in (401, 403):
            return None, AuthenticationError(
                f"Prometheus at {self.display_url} refused {what} with HTTP {status}; check "
                "the token, username/password or tenant header (X-Scope-OrgID)", **ctx), None
        try:
            doc = orjson.loads(body)
            if not isinstance(doc, dict):
                raise ValueError("not an object")
        except ValueError:
            cls: type[SourceError] = UnexpectedResponse
            hint = "is the URL the Prometheus root, not a proxy or login page?"
            if status in RETRY_STATUSES:
                cls, hint = ServerUnavailable, "a proxy or the server is overloaded or down"
            elif status == 404:
                cls = NotFoundError
            return None, cls(
                f"HTTP {status} from {self.display_url} for {what} with a non-JSON body; "
                f"{hint}. First bytes: {body[:200]!r}", **ctx), retry_after
        if status < 300 and doc.get("status") == "success":
            return Response(doc=doc, body=body, status=status, elapsed=0.0, attempts=0), \
                None, None
        etype = str(doc.get("errorType") or "")
        message = str(doc.get("error") or f"HTTP {status} without an error message")
        ctx["error_type"] = etype
        server = f"Prometheus at {self.display_url}"
        if etype == "bad_data":
            if "maximum resolution" in message or "11,000 points" in message:
                return None, TooManySamples(
                    f"{server} refused {what}: {message}; increase step or split the range "
                    "(query_range splits automatically)", **ctx), None
            return None, QueryError(
                f"{server} rejected {what}: {message}; fix the PromQL", **ctx), None
        if etype in ("timeout", "canceled"):
            return None, QueryTimeout(
                f"{server} gave up on {what}: {message}; narrow the time range, raise the "
                "timeout= parameter, or aggregate more", **ctx), None
        if etype == "execution" and ("context deadline exceeded" in message
                                     or "query timed out" in message):
            # the engine's deadline fired while expanding series: a timeout, not a bad query
            return None, QueryTimeout(
                f"{server} gave up on {what}: {message}; narrow the time range, raise the "
                "timeout= parameter, or aggregate more", **ctx), None
        if etype == "execution":
            if "too many samples" in message:
                return None, TooManySamples(
                    f"{server} refused {what}: {message}; shorten the range, increase step "
                    "or aggregate first", **ctx), None
            return None, QueryError(f"{server} failed to execute {what}: {message}", **ctx), None
        if etype == "not_found" or status == 404:
            return None, NotFoundError(f"{server}: {message} for {what}", **ctx), None
        if etype == "unavailable" or status in RETRY_STATUSES:
            return None, ServerUnavailable(
                f"{server} is unavailable for {what} (HTTP {status}): {message}; try again "
                "later", **ctx), retry_after
        return None, SourceError(
            f"{server} answered {what} with HTTP {status} {etype or 'error'}: {message}",
            **ctx), None


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
