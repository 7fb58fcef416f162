"""Structured logs of the Tributary service as normalized frames, from files or Elasticsearch.

>>> from tributary_analysis.sources.logs import FileLogs, ElasticsearchLogs   # doctest: +SKIP
>>> logs = FileLogs("~/.local/state/tributary/demo/sim/logs/*.jsonl")         # doctest: +SKIP
>>> logs.summary("2025-01-01", "2025-01-02", by=["tenant_id"])                # doctest: +SKIP

Both implement :class:`LogSource`; see ``docs/logs.md``. The sources load on first use:
``FileLogs`` never imports the Elasticsearch client, and ``ElasticsearchLogs`` never
imports DuckDB.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from tributary_analysis.sources.logs.base import LogSource, summarize_frame
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

if TYPE_CHECKING:
    from tributary_analysis.sources.logs.elasticsearch import ElasticsearchLogs
    from tributary_analysis.sources.logs.files import FileLogs

#: public name → module that defines it (imported on first access)
_LAZY = {"ElasticsearchLogs": "tributary_analysis.sources.logs.elasticsearch",
         "FileLogs": "tributary_analysis.sources.logs.files"}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
