"""Lock the curated public API: adding or removing a name is a deliberate change."""

from __future__ import annotations

import tributary_analysis

EXPECTED = {
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


def test_import_is_light() -> None:
    """Importing the package must not drag in the heavy client libraries."""
    import subprocess
    import sys

    code = ("import sys, tributary_analysis; "
            "print(sorted(m for m in ('elasticsearch', 'duckdb', 'statsmodels', 'plotly') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
