"""Plotly figure builders with one look for every notebook and report.

The ``"tributary"`` template (:mod:`.theme`) is registered on import. Builders take the
frames of :mod:`tributary_analysis.analysis` and return ``plotly.graph_objects.Figure``;
they never choose a renderer and never embed plotly.js.
"""

from __future__ import annotations

from tributary_analysis.viz.bars import (
    attainment_chart,
    attribution_chart,
    comparison_chart,
    errors_by_type_chart,
    growth_chart,
    pareto_chart,
)
from tributary_analysis.viz.theme import PALETTE, THEME, register_theme, use_theme
from tributary_analysis.viz.timeseries import (
    budget_chart,
    burn_rate_chart,
    error_ratio_chart,
    latency_heatmap,
    line_chart,
    mark_data_end,
    quantile_chart,
    shade_windows,
)

__all__ = [
    "PALETTE",
    "THEME",
    "attainment_chart",
    "attribution_chart",
    "budget_chart",
    "burn_rate_chart",
    "comparison_chart",
    "error_ratio_chart",
    "errors_by_type_chart",
    "growth_chart",
    "latency_heatmap",
    "line_chart",
    "mark_data_end",
    "pareto_chart",
    "quantile_chart",
    "register_theme",
    "shade_windows",
    "use_theme",
]
