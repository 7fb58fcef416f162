"""Opt-in Parquet cache of ``query_range`` results for windows entirely in the past.

Re-running a notebook over last week should not refetch last week. Only complete answers
whose ``end`` is older than ``settle`` seconds are stored (recent data may still arrive);
partial responses are never stored. The key hashes the server URL (without credentials),
the tenant-scoping headers (``X-Scope-OrgID`` and friends: the same URL serves different
data per tenant), the expression, start, end and step. The frame's
:class:`~tributary_analysis.frames.meta.FrameMeta` lives in a JSON sidecar
(``FrameMeta.to_json`` / ``from_json``); a hit says so in its notes and ``details["cache"]``
and counts zero requests.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd

from tributary_analysis.errors import DataError
from tributary_analysis.frames.meta import FrameMeta, meta_of
from tributary_analysis.sources.prometheus.metadata import attach

log = logging.getLogger(__name__)

#: headers that change *which* data a URL serves (never credentials)
SCOPE_HEADERS = ("x-scope-orgid", "x-tenant-id", "thanos-tenant")


def cache_key(url: str, expr: str, start_ms: int, end_ms: int, step_ms: int,
              headers: Mapping[str, str] | None = None) -> str:
    """Stable hex key for one range request."""
    scope = sorted((k.lower(), v) for k, v in (headers or {}).items()
                   if k.lower() in SCOPE_HEADERS)
    raw = json.dumps([url.rstrip("/"), scope, expr, start_ms, end_ms, step_ms],
                     separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _read(path: Path) -> pd.DataFrame:
    """The stored frame; Arrow list columns (native histogram buckets) come back as
    ``pd.ArrowDtype``, which pandas' own reader cannot restore from its metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    return table.to_pandas(types_mapper=lambda t: pd.ArrowDtype(t) if pa.types.is_list(t)
                           else None)


class FrameCache:
    """A directory of ``<key>.parquet`` + ``<key>.json`` (FrameMeta) files."""

    def __init__(self, directory: str | os.PathLike[str], *, settle: float = 600.0) -> None:
        self.directory = Path(directory).expanduser()
        self.settle = settle
        self.hits = 0
        self.misses = 0

    def cacheable(self, end_ms: int, meta: FrameMeta | None = None) -> bool:
        """Whether a window ending at ``end_ms`` (and, if given, its answer) may be stored."""
        if end_ms / 1000.0 > time.time() - self.settle:
            return False
        return not (meta is not None and meta.partial)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.directory / f"{key}.parquet", self.directory / f"{key}.json"

    def get(self, key: str) -> pd.DataFrame | None:
        """The stored frame with its metadata (``details["cache"] == "hit"``), or ``None``."""
        data, meta = self._paths(key)
        if not (data.exists() and meta.exists()):
            self.misses += 1
            return None
        try:
            df = _read(data)
            stored = FrameMeta.from_json(json.loads(meta.read_text()))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring unreadable cache entry %s: %s", data, exc)
            self.misses += 1
            return None
        df.attrs.clear()
        self.hits += 1
        return attach(df, replace(
            stored, requests=0, notes=(*stored.notes, "served from the local cache"),
            details={**stored.details, "cache": "hit",
                     "requests_when_fetched": stored.requests}))

    def put(self, key: str, df: pd.DataFrame) -> None:
        """Store ``df`` atomically (write to a temp name, then rename)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DataError(f"cannot create the cache directory {self.directory}: {exc}; "
                            "set cache_dir to a writable place") from exc
        data, meta = self._paths(key)
        doc = meta_of(df).to_json()
        tmp_data = data.with_suffix(f".parquet.{os.getpid()}.tmp")
        tmp_meta = meta.with_suffix(f".json.{os.getpid()}.tmp")
        plain = df.copy(deep=False)
        plain.attrs = {}
        plain.to_parquet(tmp_data, index=False)
        tmp_meta.write_text(json.dumps(doc, default=str))
        os.replace(tmp_data, data)
        os.replace(tmp_meta, meta)
