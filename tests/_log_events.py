"""Known-truth log events for the log-source tests, written as the service writes them.

Envelope lines come from a real python-json-logger ``JsonFormatter`` configured exactly like
the seed's ``StructuredLogger`` (same format string, the service's JSON document as the
message), so the tests read what production reads. The same events are also rendered as
flat documents and as ECS documents to check that all shapes give the same frame.
"""

from __future__ import annotations

import io
import json
import logging
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from pythonjsonlogger.json import JsonFormatter

from tributary_analysis.seed import normalize_endpoint

TENANTS = ("acme", "globex", "initech", "o'brien \"quoted\" tenant", "unicode-ténant")
PATHS = ("/api/v1/datasets", "/api/v1/datasets/{ds}", "/api/v1/datasets/{ds}/vectors/{v}",
         "/api/v1/datasets/{ds}/search", "/api/v1/health", "/api/v1/backups/{b}")
ERRORS = (("ValidationError", "E400", "invalid vector dimension"),
          ("SearchTimeout", "E504", "search timed out"),
          ("StorageError", "E500", "storage backend unavailable"))


def make_events(n_requests: int = 400, seed: int = 3,
                start: datetime = datetime(2025, 3, 1, tzinfo=UTC),
                hours: int = 6) -> list[dict[str, Any]]:
    """Inner documents (what ``StructuredLogger._log`` builds), oldest first.

    Each request gives a ``Request started`` and an ``HTTP request processed`` line; some
    add a ``Search operation completed`` line and 5xx ones a ``log_error`` line.
    """
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    for _ in range(n_requests):
        t = start + timedelta(seconds=rng.uniform(0, hours * 3600))
        tenant = rng.choice(TENANTS)
        path = rng.choice(PATHS).format(ds=f"ds-{rng.randint(1, 4)}", v=f"v-{rng.randint(1, 99)}",
                                        b=f"b-{rng.randint(1, 3)}")
        method = rng.choice(("GET", "GET", "POST", "DELETE"))
        status = rng.choices((200, 201, 404, 429, 500, 503), (70, 10, 6, 4, 6, 4))[0]
        duration = round(rng.lognormvariate(-3, 1), 6)
        rid = str(uuid.UUID(int=rng.getrandbits(128)))
        base = {"service": "deeplake-api", "environment": "development"}
        events.append({"timestamp": t.replace(tzinfo=None).isoformat(), **base, "level": "INFO",
                       "message": "Request started", "request_id": rid, "method": method,
                       "path": path, "query_params": "", "user_agent": "python-httpx/0.27",
                       "client_ip": "10.0.0.7"})
        done = t + timedelta(seconds=duration)
        if "/search" in path and status < 400:
            events.append({"timestamp": done.replace(tzinfo=None).isoformat(), **base,
                           "level": "INFO", "message": "Search operation completed",
                           "search_type": rng.choice(("vector", "hybrid")),
                           "dataset_id": path.split("/")[4], "tenant_id": tenant,
                           "duration": duration, "results_count": rng.randint(0, 50),
                           "query_params": {"top_k": 10}})
        if status >= 500:
            etype, ecode, msg = rng.choice(ERRORS)
            events.append({"timestamp": done.replace(tzinfo=None).isoformat(), **base,
                           "level": "ERROR", "message": msg, "error_type": etype,
                           "error_code": ecode, "tenant_id": tenant, "request_id": rid})
        events.append({"timestamp": done.replace(tzinfo=None).isoformat(), **base,
                       "level": "INFO", "message": "HTTP request processed", "request_id": rid,
                       "method": method, "path": path, "status_code": status,
                       "duration": duration, "tenant_id": tenant})
    events.sort(key=lambda e: e["timestamp"])
    return events


def envelope_lines(events: list[dict[str, Any]]) -> list[str]:
    """Each event through python-json-logger exactly as the seed's ``StructuredLogger``."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setFormatter(JsonFormatter(
        "%(asctime)s %(name)s %(levelname)s %(message)s %(pathname)s %(lineno)d"))
    logger = logging.Logger("deeplake-api")
    logger.setLevel("DEBUG")
    logger.addHandler(handler)
    for e in events:
        getattr(logger, e["level"].lower())(json.dumps(e))
    return buf.getvalue().splitlines()


def flat_docs(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What a pipeline that decoded the envelope indexes (as the demo loader does)."""
    out = []
    for e in events:
        d = dict(e)
        d["@timestamp"] = e["timestamp"] + "Z"
        if not isinstance(d.get("query_params", ""), str):  # as the demo loader writes it
            d["query_params"] = json.dumps(d["query_params"], sort_keys=True)
        if "path" in d:
            d["endpoint"] = normalize_endpoint(d["path"])
        out.append(d)
    return out


def ecs_docs(events: list[dict[str, Any]], nested: bool = False) -> list[dict[str, Any]]:
    """The same events with Elastic Common Schema names; duration in nanoseconds."""
    rename = {"level": "log.level", "request_id": "http.request.id",
              "method": "http.request.method", "path": "url.path",
              "status_code": "http.response.status_code", "tenant_id": "labels.tenant_id",
              "error_type": "error.type", "error_code": "error.code",
              "search_type": "labels.search_type", "dataset_id": "labels.dataset_id",
              "results_count": "labels.results_count", "service": "service.name"}
    out = []
    for e in events:
        d: dict[str, Any] = {"@timestamp": e["timestamp"] + "+00:00", "message": e["message"],
                             "ecs.version": "8.11.0"}
        for k, v in e.items():
            if k in rename:
                d[rename[k]] = v
            elif k == "duration":
                d["event.duration"] = round(v * 1e9)
        out.append(_nest(d) if nested else d)
    return out


def _nest(doc: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        cur = out
        parts = key.split(".") if key != "@timestamp" else [key]
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = value
    return out


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def truth_requests(events: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per completed request (the ground truth for counts)."""
    rows = [e for e in events if e["message"] == "HTTP request processed"]
    df = pd.DataFrame(rows)
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df
