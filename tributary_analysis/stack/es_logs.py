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

import hashlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from elastic_transport import TransportError
from elasticsearch import AuthenticationException, AuthorizationException, Elasticsearch, helpers

from tributary_analysis.errors import AuthenticationError, DataError, SourceUnreachable, StackError
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
            "translog.durability": "async",
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


def index_for(ts: datetime) -> str:
    """The daily index of an event: ``tributary-logs-YYYY.MM.DD`` (UTC date)."""
    return f"{INDEX_PREFIX}{ts:%Y.%m.%d}"


def _utc(text: str) -> datetime:
    ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


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
    raw = line.encode() if isinstance(line, str) else line
    raw = raw.rstrip(b"\r\n")
    try:
        outer = orjson.loads(raw)
        inner_raw = outer["message"] if isinstance(outer, dict) else None
        inner = orjson.loads(inner_raw) if isinstance(inner_raw, str) else inner_raw
        if not isinstance(inner, dict):
            raise ValueError("'message' is not a JSON object string")
        ts = _utc(str(inner["timestamp"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(f"not a service log envelope ({type(exc).__name__}: {exc}): "
                        f"{raw[:120]!r}") from exc
    doc: dict[str, Any] = dict(inner)
    qp = doc.get("query_params")
    if qp is not None and not isinstance(qp, str):
        doc["query_params"] = orjson.dumps(qp, option=orjson.OPT_SORT_KEYS).decode()
    doc["@timestamp"] = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path = doc.get("path")
    if isinstance(path, str) and path:
        doc["endpoint"] = normalize_endpoint(path)
    doc["log"] = {"logger": outer.get("name")}
    return hashlib.sha1(raw).hexdigest(), index_for(ts), doc


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


def put_template(es: Elasticsearch, *, refresh_interval: str = "1s") -> None:
    """Install the ``tributary-logs`` index template (idempotent).

    ``refresh_interval="-1"`` while bulk loading saves refresh work; :func:`load_logs` puts
    ``1s`` back on the template and on the indices it wrote.
    """
    body = {**INDEX_TEMPLATE, "template": {
        **INDEX_TEMPLATE["template"],
        "settings": {**INDEX_TEMPLATE["template"]["settings"],
                     "refresh_interval": refresh_interval}}}
    es.indices.put_index_template(name=TEMPLATE_NAME, **body)


def _actions(files: Iterable[Path], report: LoadReport) -> Iterator[dict[str, Any]]:
    for path in files:
        with open(path, "rb") as fh:
            for lineno, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                report.lines += 1
                try:
                    doc_id, index, doc = envelope_to_doc(line)
                except DataError as exc:
                    report.malformed += 1
                    if len(report.errors) < 10:
                        report.errors.append(f"{path}:{lineno}: {exc}")
                    continue
                report.indices.add(index)
                yield {"_op_type": "index", "_index": index, "_id": doc_id, "_source": doc}


def load_logs(
    es: Elasticsearch, files: Iterable[Path], *, threads: int = 2, chunk_size: int = 2000,
    strict: bool = True,
) -> LoadReport:
    """Bulk-load envelope log files into daily indices with ``parallel_bulk``.

    Parameters
    ----------
    es : Elasticsearch
        A client allowed to write ``tributary-logs-*`` (the admin).
    files : iterable of Path
        JSON-lines files in the seed's envelope format.
    threads, chunk_size : int
        ``parallel_bulk`` workers and documents per bulk request.
    strict : bool
        Raise when any line was malformed or any document failed (they are always counted).

    Raises
    ------
    StackError
        When documents were rejected or lines malformed (with the first errors).
    """
    files = [Path(f) for f in files]
    for f in files:
        if not f.is_file():
            raise StackError(f"log file {f} does not exist; re-run the simulation")
    url = _url(es)
    try:
        put_template(es, refresh_interval="-1")
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
    t0 = time.monotonic()
    for ok, info in helpers.parallel_bulk(
        es, _actions(files, report), thread_count=threads, chunk_size=chunk_size,
        queue_size=threads * 2, raise_on_error=False, raise_on_exception=False,
    ):
        item = next(iter(info.values()))
        if ok:
            if item.get("result") == "created":
                report.created += 1
            else:
                report.updated += 1
        else:
            report.failed += 1
            if len(report.errors) < 10:
                report.errors.append(f"{item.get('_index')}/{item.get('_id')}: "
                                     f"{item.get('error')}")
    put_template(es)
    if report.indices:
        names = ",".join(sorted(report.indices))
        es.indices.put_settings(index=names, settings={"index": {"refresh_interval": "1s"}})
        es.indices.refresh(index=names)
    report.seconds = time.monotonic() - t0
    if strict and (report.failed or report.malformed):
        raise StackError(
            f"loading logs: {report.failed} documents rejected and {report.malformed} "
            "malformed lines; first errors:\n" + "\n".join(report.errors))
    return report
