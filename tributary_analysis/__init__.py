"""Tributary Analysis: Prometheus metrics and structured logs of the Tributary AI Service
for DeepLake, as tidy pandas DataFrames, analyses, notebooks and HTML reports.

The public API is curated here; ``tests/test_public_api.py`` locks the exported names.
"""

from __future__ import annotations

from typing import Any

from tributary_analysis.config import Secret, Settings, load_settings
from tributary_analysis.errors import (
    AuthenticationError,
    ConfigError,
    DataError,
    NotFoundError,
    QueryError,
    QueryTimeout,
    ReportError,
    ServerUnavailable,
    SourceError,
    SourceUnreachable,
    StackError,
    TooManySamples,
    TributaryError,
    UnexpectedResponse,
)
from tributary_analysis.seed import METRIC_FAMILIES, MetricFamily, normalize_endpoint

__version__ = "0.1.0"

#: heavy names imported on first use, so ``import tributary_analysis`` stays fast and
#: using one source does not load the other's client library
_LAZY: dict[str, str] = {
    "PrometheusSource": "tributary_analysis.sources.prometheus",
    "LogSource": "tributary_analysis.sources.logs",
    "FileLogs": "tributary_analysis.sources.logs",
    "ElasticsearchLogs": "tributary_analysis.sources.logs",
    "simulate": "tributary_analysis.demo",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tributary_analysis' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)


__all__ = [
    "METRIC_FAMILIES",
    "AuthenticationError",
    "ConfigError",
    "DataError",
    "ElasticsearchLogs",
    "FileLogs",
    "LogSource",
    "MetricFamily",
    "NotFoundError",
    "PrometheusSource",
    "QueryError",
    "QueryTimeout",
    "ReportError",
    "Secret",
    "ServerUnavailable",
    "Settings",
    "SourceError",
    "SourceUnreachable",
    "StackError",
    "TooManySamples",
    "TributaryError",
    "UnexpectedResponse",
    "__version__",
    "load_settings",
    "normalize_endpoint",
    "simulate",
]
