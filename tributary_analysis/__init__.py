"""Tributary Analysis: Prometheus metrics and structured logs of the Tributary AI Service
for DeepLake, as tidy pandas DataFrames, analyses, notebooks and HTML reports.

The public API is curated here; ``tests/test_public_api.py`` locks the exported names.
"""

from __future__ import annotations

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

__all__ = [
    "METRIC_FAMILIES",
    "AuthenticationError",
    "ConfigError",
    "DataError",
    "MetricFamily",
    "NotFoundError",
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
]
