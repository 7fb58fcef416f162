"""Pure analyses, frame in → frame out (no I/O; notebooks and reports do the fetching).

Modules: :mod:`.latency`, :mod:`.errors`, :mod:`.slo`, :mod:`.tenants`, :mod:`.attribution`,
:mod:`.daily`, :mod:`.capacity`, :mod:`.forecast`, :mod:`.alerts`, :mod:`.histograms`.
Time (durations, instants, the one ``Window``) is :mod:`tributary_analysis.ground.time`;
every result carries its inputs' :class:`~tributary_analysis.frames.meta.FrameMeta`.
Import the module you need (``from tributary_analysis.analysis import slo``); the
names below are the ones notebooks use most.
"""

from __future__ import annotations

from tributary_analysis.analysis.attribution import attribute, top_causes
from tributary_analysis.analysis.daily import baseline_window
from tributary_analysis.analysis.errors import (
    EpisodeRules,
    detect_episodes,
    error_ratio,
    errors_by_type,
    request_counts,
    request_counts_from_logs,
    top_error_messages,
)
from tributary_analysis.analysis.slo import (
    SRE_WORKBOOK_WINDOWS,
    BurnRateWindow,
    ErrorBudget,
    budget_consumption,
    burn_rate_summary,
    burn_rates,
    error_budget,
)
from tributary_analysis.analysis.tenants import (
    chargeback,
    growth,
    noisy_neighbours,
    pareto,
    replica_gauge,
    tenant_usage,
)

__all__ = [
    "SRE_WORKBOOK_WINDOWS",
    "BurnRateWindow",
    "EpisodeRules",
    "ErrorBudget",
    "attribute",
    "baseline_window",
    "budget_consumption",
    "burn_rate_summary",
    "burn_rates",
    "chargeback",
    "detect_episodes",
    "error_budget",
    "error_ratio",
    "errors_by_type",
    "growth",
    "noisy_neighbours",
    "pareto",
    "replica_gauge",
    "request_counts",
    "request_counts_from_logs",
    "tenant_usage",
    "top_causes",
    "top_error_messages",
]
