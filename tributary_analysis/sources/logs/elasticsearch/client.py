"""The Elasticsearch client of the log source, and the one translation of its errors.

Credentials come only from :class:`~tributary_analysis.config.Settings` (environment or
config file), never from arguments a notebook would record. Every client exception
becomes one of the suite's errors (:func:`translate`) naming the URL (without
credentials), the index and the fix, in one sentence: no nested ``ConnectionError(...)``
reprs, no traceback.
"""

from __future__ import annotations

import contextlib
import gc
import re
import threading
from collections.abc import Iterator
from typing import Any

import elasticsearch as es_lib
from elasticsearch.serializer import OrjsonSerializer

from tributary_analysis.config import Settings, redact_url
from tributary_analysis.errors import (
    AuthenticationError,
    NotFoundError,
    QueryError,
    QueryTimeout,
    ServerUnavailable,
    SourceError,
    SourceUnreachable,
    UnexpectedResponse,
)

#: loggers of the client that print retries and tracebacks (quiet in the CLI by default)
CLIENT_LOGGERS = ("elastic_transport", "elasticsearch")
#: client errors the source translates
CLIENT_ERRORS = (es_lib.ApiError, es_lib.TransportError, es_lib.UnsupportedProductError)

_ERRNO = re.compile(r"\[Errno -?\d+\] ([^)\]]+)")
_PROXY_STATUSES = {502: "a proxy or load balancer in front of it answered 502 Bad Gateway",
                   503: "it answered 503 Service Unavailable",
                   504: "a proxy or load balancer in front of it answered 504 Gateway Timeout",
                   429: "it answered 429 Too Many Requests"}


def make_client(settings: Settings, url: str | None = None, request_timeout: float = 60.0,
                raw: bool = False) -> es_lib.Elasticsearch:
    """A client from settings (credentials only from the environment or config file).

    ``raw=True`` leaves response bodies as bytes: export pages are parsed by pyarrow.
    """
    kwargs: dict[str, Any] = {"request_timeout": request_timeout,
                              "verify_certs": settings.es_verify}
    if settings.es_api_key:
        kwargs["api_key"] = settings.es_api_key.get()
    elif settings.es_username:
        password = settings.es_password.get() if settings.es_password else ""
        kwargs["basic_auth"] = (settings.es_username, password)
    if settings.es_ca_bundle:
        kwargs["ca_certs"] = settings.es_ca_bundle
    if raw:
        kwargs["serializers"] = {"application/json": RawSerializer(),
                                 "application/vnd.elasticsearch+json": RawSerializer()}
    else:
        kwargs["serializer"] = PagedJsonSerializer()
    return es_lib.Elasticsearch(url or settings.es_url, **kwargs)


def client_url(client: es_lib.Elasticsearch) -> str:
    """The URL of a caller's own client, for messages."""
    try:
        node = client.transport.node_pool.get()
        return f"{node.config.scheme}://{node.config.host}:{node.config.port}"
    except Exception:  # pragma: no cover - only for messages
        return "(client)"


def translate(exc: Exception, url: str, index: str, what: str) -> SourceError:
    """One place that turns client exceptions into the suite's errors, with the fix."""
    url = redact_url(url)
    if isinstance(exc, es_lib.AuthenticationException):
        return AuthenticationError(
            f"Elasticsearch at {url} refused the credentials (401) while trying to {what}; "
            "check TRIBUTARY_ES_USERNAME/TRIBUTARY_ES_PASSWORD (or TRIBUTARY_ES_API_KEY)",
            source="elasticsearch", url=url, query=index, status=401)
    if isinstance(exc, es_lib.AuthorizationException):
        return AuthenticationError(
            f"Elasticsearch at {url} does not allow this user to {what} on {index!r} (403): "
            f"{reason(exc)}; grant the role the 'read' and 'view_index_metadata' index "
            "privileges on the log indices", source="elasticsearch", url=url, query=index,
            status=403)
    if isinstance(exc, es_lib.NotFoundError):
        return NotFoundError(
            f"no Elasticsearch index matches {index!r} at {url} ({reason(exc)}); check "
            "TRIBUTARY_ES_INDEX or load the logs ('tributary demo up')",
            source="elasticsearch", url=url, query=index, status=404)
    if isinstance(exc, es_lib.ConnectionTimeout):
        return QueryTimeout(f"Elasticsearch at {url} did not answer in time while trying to "
                            f"{what}; narrow the window or raise the timeout",
                            source="elasticsearch", url=url, query=index)
    if isinstance(exc, es_lib.ConnectionError):
        return SourceUnreachable(
            f"cannot reach Elasticsearch at {url} ({connection_reason(exc)}) while trying to "
            f"{what}; is it running? start it ('tributary demo up') or check TRIBUTARY_ES_URL",
            source="elasticsearch", url=url)
    if isinstance(exc, es_lib.BadRequestError):
        return QueryError(f"Elasticsearch at {url} rejected the request to {what} on "
                          f"{index!r}: {reason(exc)}", source="elasticsearch", url=url,
                          query=index, status=400)
    if isinstance(exc, es_lib.ApiError):
        status = exc.meta.status if exc.meta else None
        if status in _PROXY_STATUSES:
            return ServerUnavailable(
                f"Elasticsearch at {url} is unavailable while trying to {what}: "
                f"{_PROXY_STATUSES[status]} (after retries); retry later, or check that "
                "the node and any proxy in front of it are up (TRIBUTARY_ES_URL)",
                source="elasticsearch", url=url, query=index, status=status)
        return UnexpectedResponse(f"Elasticsearch at {url} answered {status} while trying to "
                                  f"{what} on {index!r}: {reason(exc)}",
                                  source="elasticsearch", url=url, query=index, status=status)
    if isinstance(exc, es_lib.UnsupportedProductError):
        return UnexpectedResponse(
            f"{url} did not answer as Elasticsearch while trying to {what} (no "
            "X-Elastic-Product header: a proxy page or another server?); check "
            "TRIBUTARY_ES_URL", source="elasticsearch", url=url)
    return SourceError(f"Elasticsearch request to {what} failed at {url}: "
                       f"{type(exc).__name__}; run with -v for the client's log",
                       source="elasticsearch", url=url, query=index)


def connection_reason(exc: Exception) -> str:
    """``connection refused`` rather than three nested reprs of the same error."""
    text = str(exc)
    m = _ERRNO.search(text)
    if m:
        return m.group(1).strip().lower()
    for hint in ("Name or service not known", "timed out", "SSL", "certificate"):
        if hint.lower() in text.lower():
            return hint.lower()
    return type(exc).__name__


def reason(exc: Exception) -> str:
    """Elasticsearch's own reason from an error body (its root cause)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            root = err.get("root_cause") or [err]
            return str(root[0].get("reason") or err.get("type") or err)
        if err:
            return str(err)
    if isinstance(body, (str, bytes)) and body:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        return " ".join(re.sub(r"<[^>]+>", " ", text).split())[:200]
    return str(getattr(exc, "message", exc))


_GC_LOCK = threading.Lock()
_GC_PAUSES = 0
_GC_WAS_ENABLED = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while decoding or converting a page of fresh dicts.

    A page is ~10,000 dicts that hold no cycles; as the export's frames grow, each full
    collection walks every live object, which measured up to 10x the cost of the decode
    itself. Reference-counted, so the prefetch thread and the converter can overlap.
    """
    global _GC_PAUSES, _GC_WAS_ENABLED
    with _GC_LOCK:
        if _GC_PAUSES == 0:
            _GC_WAS_ENABLED = gc.isenabled()
            gc.disable()
        _GC_PAUSES += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSES -= 1
            if _GC_PAUSES == 0 and _GC_WAS_ENABLED:
                gc.enable()


class PagedJsonSerializer(OrjsonSerializer):
    """orjson, with the cyclic GC paused while a response body is decoded."""

    def loads(self, data: bytes) -> Any:
        with gc_paused():
            return super().loads(data)


class RawSerializer(OrjsonSerializer):
    """Leaves response bodies as bytes (for pyarrow); request bodies still via orjson."""

    def loads(self, data: bytes) -> Any:
        return data
