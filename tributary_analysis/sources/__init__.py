"""Data sources, one sub-package per kind of store, each behind a shared interface.

* :mod:`tributary_analysis.sources.prometheus` — metrics (``PrometheusSource``)
* :mod:`tributary_analysis.sources.logs` — logs (``LogSource`` implementations)

Sub-packages are imported on demand so that using one source does not load the other's
client libraries.
"""

from __future__ import annotations

from typing import Any

__all__ = ["PrometheusSource"]


def __getattr__(name: str) -> Any:
    if name == "PrometheusSource":
        from tributary_analysis.sources.prometheus import PrometheusSource

        return PrometheusSource
    raise AttributeError(name)
