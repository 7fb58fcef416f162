"""Structured logs of the Tributary service as normalized frames, from files or Elasticsearch.

>>> from tributary_analysis.sources.logs import FileLogs, ElasticsearchLogs   # doctest: +SKIP
>>> logs = FileLogs("~/.local/state/tributary/demo/logs/*.jsonl")             # doctest: +SKIP
>>> logs.summary("2025-01-01", "2025-01-02", by=["tenant_id"])                # doctest: +SKIP

Both implement :class:`LogSource`; see ``docs/logs.md``.
"""

from __future__ import annotations

from tributary_analysis.sources.logs.base import LogSource, summarize_frame
from tributary_analysis.sources.logs.elasticsearch import ElasticsearchLogs
from tributary_analysis.sources.logs.files import FileLogs
from tributary_analysis.sources.logs.normalize import (
    DEFAULT_MAPPING,
    ECS_MAP,
    FLAT_MAP,
    FieldMap,
    LogMapping,
    Problems,
    normalize_records,
)
from tributary_analysis.sources.logs.schema import LOG_COLUMNS, LOG_SCHEMA

__all__ = [
    "DEFAULT_MAPPING",
    "ECS_MAP",
    "FLAT_MAP",
    "LOG_COLUMNS",
    "LOG_SCHEMA",
    "ElasticsearchLogs",
    "FieldMap",
    "FileLogs",
    "LogMapping",
    "LogSource",
    "Problems",
    "normalize_records",
    "summarize_frame",
]
