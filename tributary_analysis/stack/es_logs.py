"""Load the service's JSON-lines logs into Elasticsearch as flat documents.

The integ-test distribution has no ingest processors and no painless, so this loader plays
the pipeline: it decodes the seed's envelope (python-json-logger's outer object whose
``message`` is the service's own JSON document as a string) into one flat document:

- every inner key as it is (``timestamp``, ``service``, ``level``, ``message``,
  ``request_id``, ``method``, ``path``, ``status_code``, ``duration``, ``tenant_id``, …);
  ``query_params`` always as a string (the middleware logs a string, ``log_search`` a dict);
- ``@timestamp``: the inner ``timestamp`` as UTC;
- ``endpoint``: :func:`tributary_analysis.seed.normalize_endpoint` of ``path``, when present;
- ``log.logger``: the outer ``name``.

Documents go to daily indices ``tributary-logs-YYYY.MM.DD`` (by event date) and get a
deterministic ``_id`` (SHA-1 of the raw line), so loading twice changes nothing.
The contract is written down in ``docs/elasticsearch.md``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from elastic_transport import ConnectionError, ConnectionTimeout, TransportError
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
)

from tributary_analysis.errors import (
    AuthenticationError,
    ConfigError,
    DataError,
    SourceUnreachable,
    StackError,
)
from tributary_analysis.ground.time import parse_time
from tributary_analysis.seed import normalize_endpoint

INDEX_PREFIX = "tributary-logs-"
TEMPLATE_NAME = "tributary-logs"

_KEYWORD = {"type": "keyword", "ignore_above": 1024}

INDEX_TEMPLATE: dict[str, Any] = {
    "index_patterns": [f"{INDEX_PREFIX}*"],
    "priority": 200,
    "template": {
        "settings": {
            "number_of_shards": 1,
            "number_of_replicas": 0,
            "refresh_interval": "1s",
            "translog.durability": "request",
        },
        "mappings": {
            "dynamic": True,
            "dynamic_templates": [
                {"strings_as_keywords": {"match_mapping_type": "string",
                                         "mapping": _KEYWORD}},
            ],
            "properties": {
                "@timestamp": {"type": "date"},
                "timestamp": _KEYWORD,
                "service": _KEYWORD,
                "level": _KEYWORD,
                "message": {"type": "text",
                            "fields": {"keyword": {"type": "keyword", "ignore_above": 1024}}},
                "environment": _KEYWORD,
                "request_id": _KEYWORD,
                "method": _KEYWORD,
                "path": _KEYWORD,
                "endpoint": _KEYWORD,
                "status_code": {"type": "integer"},
                "duration": {"type": "double"},
                "tenant_id": _KEYWORD,
                "query_params": _KEYWORD,
                "user_agent": _KEYWORD,
                "client_ip": _KEYWORD,
                "search_type": _KEYWORD,
                "dataset_id": _KEYWORD,
                "results_count": {"type": "integer"},
                "error_type": _KEYWORD,
                "error_code": _KEYWORD,
                "log": {"properties": {"logger": _KEYWORD}},
            },
        },
    },
    "_meta": {"owner": "tributary_analysis.stack.es_logs",
              "doc": "docs/elasticsearch.md"},
}


_endpoint = functools.lru_cache(maxsize=1 << 16)(normalize_endpoint)


def index_for(ts: datetime) -> str:
    """The daily index of an event: ``tributary-logs-YYYY.MM.DD`` (UTC date)."""
    return f"{INDEX_PREFIX}{ts:%Y.%m.%d}"


def _utc(text: str) -> datetime:
    """The inner ``timestamp`` as a UTC instant (the suite's one time parser; naive = UTC)."""
    try:
        return parse_time(text, name="log timestamp").to_pydatetime()
    except ConfigError as exc:
        raise ValueError(str(exc)) from None


def _decode(raw: bytes) -> tuple[dict[str, Any], dict[str, Any], str]:
    """The envelope's outer and inner objects and the inner ``timestamp`` text.

    Raises ``ValueError`` (or orjson's, ``KeyError``, ``TypeError``) when it is no envelope.
    """
    outer = orjson.loads(raw)
    inner_raw = outer["message"] if isinstance(outer, dict) else None
    inner = orjson.loads(inner_raw) if isinstance(inner_raw, str) else inner_raw
    if not isinstance(inner, dict):
        raise ValueError("'message' is not a JSON object string")
    return outer, inner, str(inner["timestamp"])


def _flat_doc(raw: bytes, outer: dict[str, Any], inner: dict[str, Any],
              at: str) -> tuple[str, str, dict[str, Any]]:
    """``(_id, index, document)`` from a decoded envelope and its ``@timestamp`` text
    (``YYYY-MM-DDTHH:MM:SS.ffffffZ``, UTC)."""
    doc: dict[str, Any] = dict(inner)
    qp = doc.get("query_params")
    if qp is not None and not isinstance(qp, str):
        doc["query_params"] = orjson.dumps(qp, option=orjson.OPT_SORT_KEYS).decode()
    doc["@timestamp"] = at
    path = doc.get("path")
    if isinstance(path, str) and path:
        doc["endpoint"] = _endpoint(path)
    doc["log"] = {"logger": outer.get("name")}
    return hashlib.sha1(raw).hexdigest(), f"{INDEX_PREFIX}{at[:10].replace('-', '.')}", doc


def _not_envelope(raw: bytes, exc: Exception) -> DataError:
    return DataError(f"not a service log envelope ({type(exc).__name__}: {exc}): "
                     f"{raw[:120]!r}")


_DECODE_ERRORS = (orjson.JSONDecodeError, KeyError, TypeError, ValueError)


def envelope_to_doc(line: str | bytes) -> tuple[str, str, dict[str, Any]]:
    """Decode one envelope line into ``(_id, index, flat document)``.

    Raises
    ------
    DataError
        When the line is not the envelope (not JSON, no inner document, no timestamp).

    Examples
    --------
    >>> inner = '{"timestamp": "2025-01-02T03:04:05.6", "level": "INFO", "path": "/api/v1/datasets/d1"}'
    >>> import json
    >>> _, index, doc = envelope_to_doc(json.dumps({"name": "deeplake-api", "message": inner}))
    >>> index, doc["endpoint"], doc["@timestamp"], doc["log"]["logger"]
    ('tributary-logs-2025.01.02', '/api/v1/datasets/{id}', '2025-01-02T03:04:05.600000Z', 'deeplake-api')
    """  # noqa: E501
    return envelopes_to_docs([line])[0]


def envelopes_to_docs(lines: Sequence[str | bytes],
                      ) -> list[tuple[str, str, dict[str, Any]]]:
    """:func:`envelope_to_doc` for many lines; a bad line raises its :class:`DataError`.

    See :func:`envelopes_or_errors` (the loader's path, which counts bad lines instead).
    """
    out: list[tuple[str, str, dict[str, Any]]] = []
    for item in envelopes_or_errors(lines):
        if isinstance(item, DataError):
            raise item
        out.append(item)
    return out


def envelopes_or_errors(lines: Sequence[str | bytes],
                        ) -> list[tuple[str, str, dict[str, Any]] | DataError]:
    """Decode envelope lines; the timestamps of the whole batch are parsed at once.

    Parsing each line's time on its own (``parse_time``) cost ~60 µs a line, a minute per
    million lines; here the batch's ISO 8601 texts go through one vectorised
    ``pandas.to_datetime`` (naive means UTC, offsets are converted: the meaning of
    :func:`~tributary_analysis.ground.time.parse_time`), and only the texts it cannot read
    (UNIX seconds, odd forms) take ``parse_time`` one by one, so every line gets exactly
    the instant ``parse_time`` gives. Returns, per line, ``(_id, index, document)`` or the
    :class:`DataError` saying why it is no envelope.
    """
    raws = [(ln.encode() if isinstance(ln, str) else ln).rstrip(b"\r\n") for ln in lines]
    out: list[tuple[str, str, dict[str, Any]] | DataError | None] = [None] * len(raws)
    decoded: list[tuple[int, dict[str, Any], dict[str, Any]]] = []
    texts: list[str] = []
    for i, raw in enumerate(raws):
        try:
            outer, inner, text = _decode(raw)
        except _DECODE_ERRORS as exc:
            out[i] = _not_envelope(raw, exc)
            continue
        decoded.append((i, outer, inner))
        texts.append(text)
    stamps = _iso_utc(texts)
    for (i, outer, inner), text, at in zip(decoded, texts, stamps, strict=True):
        if at is None:
            try:
                at = _utc(text).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            except ValueError as exc:
                out[i] = _not_envelope(raws[i], exc)
                continue
        out[i] = _flat_doc(raws[i], outer, inner, at)
    return [o for o in out if o is not None]


def _iso_utc(texts: list[str]) -> list[str | None]:
    """``@timestamp`` texts (UTC, microseconds, ``Z``) of ISO 8601 times, in one pass;
    ``None`` where pandas cannot read the text (the caller asks ``parse_time``)."""
    if not texts:
        return []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # unreadable texts become NaT and are retried
            ts = pd.to_datetime(pd.Series(texts, dtype=object), utc=True, format="ISO8601",
                                errors="coerce")
    except (ValueError, TypeError, OverflowError):
        return [None] * len(texts)  # every line through parse_time
    ok = ts.notna().to_numpy()
    # in the unit pandas chose (seconds for far years, ns when in range), then to µs
    us = ts.dt.tz_localize(None).to_numpy().astype("datetime64[us]")
    iso = np.datetime_as_string(us, unit="us")
    return [f"{s}Z" if good else None for s, good in zip(iso.tolist(), ok.tolist(),
                                                          strict=True)]


@dataclass
class LoadReport:
    """What a load did: lines read, documents created/updated, failures, speed."""

    lines: int = 0
    created: int = 0
    updated: int = 0
    malformed: int = 0
    failed: int = 0
    seconds: float = 0.0
    indices: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)

    @property
    def indexed(self) -> int:
        return self.created + self.updated

    @property
    def docs_per_s(self) -> float:
        return self.indexed / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (f"{self.indexed:,} log documents ({self.created:,} new) into "
                f"{len(self.indices)} daily indices in {self.seconds:.1f} s "
                f"({self.docs_per_s:,.0f} docs/s); malformed {self.malformed}, "
                f"failed {self.failed}")


def _url(es: Elasticsearch) -> str:
    try:
        node = es.transport.node_pool.get()
        return f"{node.config.scheme}://{node.config.host}:{node.config.port}"
    except Exception:  # pragma: no cover - only used for messages
        return "(unknown URL)"


#: index settings while bulk loading (no refreshes, fsync in the background) and after it
LOAD_SETTINGS = {"refresh_interval": "-1", "translog.durability": "async"}
SERVE_SETTINGS = {"refresh_interval": "1s", "translog.durability": "request"}


def put_template(es: Elasticsearch, *, loading: bool = False) -> None:
    """Install the ``tributary-logs`` index template (idempotent).

    With ``loading`` new indices get :data:`LOAD_SETTINGS` (no refresh, async translog);
    :func:`load_logs` puts :data:`SERVE_SETTINGS` back on the template and on the indices it
    wrote once the load is done.
    """
    settings = {**INDEX_TEMPLATE["template"]["settings"],
                **(LOAD_SETTINGS if loading else SERVE_SETTINGS)}
    body = {**INDEX_TEMPLATE, "template": {**INDEX_TEMPLATE["template"],
                                           "settings": settings}}
    es.indices.put_index_template(name=TEMPLATE_NAME, **body)


@dataclass
class _Chunk:
    """One pre-serialised bulk body and the ``(index, _id)`` of each document in it."""

    body: bytes
    keys: list[tuple[str, str]]
    bytes_read: int


#: lines decoded (and their timestamps parsed) together
BATCH_LINES = 8192


def _batches(files: list[Path]) -> Iterator[tuple[Path, list[tuple[int, int, bytes]]]]:
    """``(file, [(line number, bytes read, line)])`` in batches of :data:`BATCH_LINES`."""
    for path in files:
        batch: list[tuple[int, int, bytes]] = []
        with open(path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                batch.append((lineno, len(line), line))
                if len(batch) >= BATCH_LINES:
                    yield path, batch
                    batch = []
        if batch:
            yield path, batch


def _chunks(files: list[Path], report: LoadReport, max_bytes: int) -> Iterator[_Chunk]:
    """NDJSON bulk bodies of about ``max_bytes`` each, built with orjson (no helper per doc);
    lines are decoded a batch at a time (:func:`envelopes_or_errors`)."""
    buf = bytearray()
    keys: list[tuple[str, str]] = []
    read = 0
    for path, batch in _batches(files):
        real = [(lineno, line) for lineno, _, line in batch if line.strip()]
        docs = iter(envelopes_or_errors([line for _, line in real]))
        numbers = iter(lineno for lineno, _ in real)
        for _, size, line in batch:
            read += size
            if not line.strip():
                continue
            report.lines += 1
            item, lineno = next(docs), next(numbers)
            if isinstance(item, DataError):
                report.malformed += 1
                if len(report.errors) < 10:
                    report.errors.append(f"{path}:{lineno}: {item}")
                continue
            doc_id, index, doc = item
            report.indices.add(index)
            buf += b'{"index":{"_index":"%s","_id":"%s"}}\n' % (index.encode(),
                                                               doc_id.encode())
            buf += orjson.dumps(doc)
            buf += b"\n"
            keys.append((index, doc_id))
            if len(buf) >= max_bytes:
                yield _Chunk(bytes(buf), keys, read)
                buf, keys, read = bytearray(), [], 0
    if keys or read:
        yield _Chunk(bytes(buf), keys, read)


def _send(es: Elasticsearch, chunk: _Chunk, retries: int = 3) -> list[dict[str, Any]]:
    """POST one bulk body; retry the whole body on 429/5xx or a dropped connection.

    Re-sending is safe: every document has its deterministic ``_id``.
    """
    delay = 1.0
    for attempt in range(retries + 1):
        try:
            # a pre-serialised NDJSON body is passed through as it is (no per-document work)
            resp = es.bulk(operations=chunk.body,  # type: ignore[arg-type]
                           filter_path="items.*.result,items.*.error")
            items: list[dict[str, Any]] = resp.body.get("items", [])
            return items
        except (ApiError, ConnectionError, ConnectionTimeout) as exc:
            status = getattr(getattr(exc, "meta", None), "status", None)
            if attempt == retries or (status is not None and status != 429 and status < 500):
                raise
            time.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _count(report: LoadReport, chunk: _Chunk, items: list[dict[str, Any]]) -> None:
    if len(items) != len(chunk.keys):
        report.failed += len(chunk.keys)
        if len(report.errors) < 10:
            report.errors.append(f"a bulk request of {len(chunk.keys)} documents answered "
                                 f"{len(items)} items")
        return
    for (index, doc_id), item in zip(chunk.keys, items, strict=True):
        res = next(iter(item.values()))
        result = res.get("result")
        if result == "created":
            report.created += 1
        elif result == "updated":
            report.updated += 1
        else:
            report.failed += 1
            if len(report.errors) < 10:
                report.errors.append(f"{index}/{doc_id}: {res.get('error')}")


Progress = Callable[[LoadReport, int, int], None]


def _restore(es: Elasticsearch, report: LoadReport) -> None:
    """Serving settings back on the template and the written indices; make all searchable."""
    put_template(es)
    if report.indices:
        names = ",".join(sorted(report.indices))
        es.indices.put_settings(index=names, settings={"index": SERVE_SETTINGS})
        es.indices.refresh(index=names)


def load_logs(
    es: Elasticsearch, files: Iterable[Path], *, threads: int = 2,
    chunk_bytes: int = 8 * 1024 * 1024, strict: bool = True, progress: Progress | None = None,
) -> LoadReport:
    """Bulk-load envelope log files into daily indices, fast.

    Each bulk body is pre-serialised NDJSON of about ``chunk_bytes`` (built with orjson in
    this thread while ``threads`` earlier bodies are being indexed), sent with the client's
    ``bulk`` API. During the load the indices do not refresh and fsync their translog in the
    background; afterwards both are restored and the indices refreshed, so a search right
    after this returns sees every document.

    Parameters
    ----------
    es : Elasticsearch
        A client allowed to write ``tributary-logs-*`` (the admin).
    files : iterable of Path
        JSON-lines files in the seed's envelope format.
    threads : int
        Bulk requests in flight at once.
    chunk_bytes : int
        Approximate size of one bulk body.
    strict : bool
        Raise when any line was malformed or any document failed (they are always counted).
    progress : callable, optional
        ``progress(report, bytes_read, bytes_total)`` after every bulk response.

    Raises
    ------
    AuthenticationError
        The client may not write (HTTP 401/403).
    StackError
        When documents were rejected or lines malformed (with the count and first errors),
        or when a bulk request still failed after its retries (the load stops there).
    """
    files = [Path(f) for f in files]
    for f in files:
        if not f.is_file():
            raise StackError(f"log file {f} does not exist; re-run the simulation")
    url = _url(es)
    try:
        put_template(es, loading=True)
        existing = list(es.indices.get(index=f"{INDEX_PREFIX}*", expand_wildcards="open"))
        if existing:
            es.indices.put_settings(index=",".join(existing),
                                    settings={"index": LOAD_SETTINGS})
    except (AuthenticationException, AuthorizationException) as exc:
        raise AuthenticationError(
            f"Elasticsearch at {url} rejected the loader's credentials (HTTP "
            f"{exc.meta.status}): loading needs the admin user from "
            "$TRIBUTARY_HOME/elasticsearch-admin.toml", source="elasticsearch", url=url,
            status=exc.meta.status) from exc
    except TransportError as exc:
        raise SourceUnreachable(f"cannot reach Elasticsearch at {url}: {exc}; is the stack "
                                "up ('tributary demo status')?", source="elasticsearch",
                                url=url) from exc
    report = LoadReport()
    total = sum(f.stat().st_size for f in files)
    done = 0
    t0 = time.monotonic()
    lock = threading.Lock()

    def send(chunk: _Chunk) -> None:
        nonlocal done
        items = _send(es, chunk)  # raises after retries: the server is gone or broken
        with lock:
            _count(report, chunk, items)
            done += chunk.bytes_read
            report.seconds = time.monotonic() - t0
            if progress is not None:
                progress(report, done, total)

    try:
        with ThreadPoolExecutor(max_workers=max(1, threads),
                                thread_name_prefix="es-bulk") as pool:
            pending: set[Future[None]] = set()
            try:
                for chunk in _chunks(files, report, chunk_bytes):
                    if len(pending) >= max(1, threads):
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for fut in finished:
                            fut.result()
                    pending.add(pool.submit(send, chunk))
                for fut in pending:
                    fut.result()
            finally:
                for fut in pending:
                    fut.cancel()
    except (ApiError, TransportError) as exc:
        with contextlib.suppress(ApiError, TransportError):
            _restore(es, report)
        raise StackError(
            f"loading logs into {url} stopped: a bulk request failed after retries ({exc}); "
            f"{report.indexed:,} of {report.lines:,} documents were indexed. Check "
            "'tributary demo status' and the node's logs/console.log, then load again "
            "(documents have fixed ids, nothing is duplicated)") from exc
    _restore(es, report)
    report.seconds = time.monotonic() - t0
    if strict and (report.failed or report.malformed):
        raise StackError(
            f"loading logs into {url}: {report.failed} documents rejected and "
            f"{report.malformed} malformed lines of {report.lines}; first errors:\n"
            + "\n".join(report.errors))
    return report
