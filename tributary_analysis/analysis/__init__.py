"""Pure analyses, frame in → frame out (no I/O; notebooks and reports do the fetching).

Modules: :mod:`.windows` (time windows), :mod:`.latency`, :mod:`.errors`, :mod:`.slo`,
:mod:`.tenants`, :mod:`.attribution`; capacity and alert-rule analyses live beside them.
Import the module you need (``from tributary_analysis.analysis import slo``); the
names below are the ones notebooks use most.
"""

from __future__ import annotations

from tributary_analysis.analysis.attribution import attribute, top_causes
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
from tributary_analysis.analysis.windows import (
    Window,
    baseline_window,
    parse_duration,
    parse_window,
)

__all__ = [
    "SRE_WORKBOOK_WINDOWS",
    "BurnRateWindow",
    "EpisodeRules",
    "ErrorBudget",
    "Window",
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
    "parse_duration",
    "parse_window",
    "replica_gauge",
    "request_counts",
    "request_counts_from_logs",
    "tenant_usage",
    "top_causes",
    "top_error_messages",
]
