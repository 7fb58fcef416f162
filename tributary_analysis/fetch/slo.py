"""What the one SLO computation reads: requests by status code over the SLO's history.

Every report that shows an SLO asks for exactly this frame — the same query, history and
bin step for one window — so their figures are computed from the same numbers
(:func:`tributary_analysis.analysis.slo.slo_status`).
"""

from __future__ import annotations

import pandas as pd

from tributary_analysis.analysis.slo import SloDefinition
from tributary_analysis.fetch.prometheus import MetricsSource
from tributary_analysis.fetch.requests import requests_per_bin
from tributary_analysis.ground.time import Window
from tributary_analysis.promql import LabelSpec

__all__ = ["slo_requests"]


def slo_requests(source: MetricsSource, window: Window, definition: SloDefinition, *,
                 tenant: LabelSpec | None = None, endpoint: LabelSpec | None = None
                 ) -> pd.DataFrame:
    """Requests per ``definition.step`` bin by status code over
    ``definition.history(window)`` (the period ending with the window, or the window and
    the burn pairs' warm-up), optionally for some tenants or endpoints."""
    return requests_per_bin(source, definition.history(window), definition.step,
                            by=("status_code",), tenant=tenant, endpoint=endpoint)
