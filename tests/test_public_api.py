"""Lock the curated public API: adding or removing a name is a deliberate change."""

from __future__ import annotations

import tributary_analysis

EXPECTED = {
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
}


def test_exported_names_are_locked() -> None:
    assert set(tributary_analysis.__all__) == EXPECTED


def test_every_exported_name_exists() -> None:
    missing = [n for n in tributary_analysis.__all__ if not hasattr(tributary_analysis, n)]
    assert missing == []


def test_errors_share_one_base() -> None:
    for name in tributary_analysis.__all__:
        obj = getattr(tributary_analysis, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, tributary_analysis.TributaryError), name
