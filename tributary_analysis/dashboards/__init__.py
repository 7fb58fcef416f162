"""Grafana dashboards as reports: a dashboard JSON rendered offline, every query reviewed.

Layers, one concern each: :mod:`.model` (the JSON as typed records), :mod:`.variables`
(values and safe interpolation into PromQL), :mod:`.plan` (panel → queries, Grafana's
interval built-ins), :mod:`.fetch` (the only server calls, through the safe Prometheus
client), :mod:`.review` (each query checked against the server), :mod:`.reduce`,
:mod:`.units`, :mod:`.figures`, :mod:`.tables` (drawing) and :mod:`.page` (the report).

Examples
--------
>>> from tributary_analysis import dashboards
>>> board = dashboards.load_dashboard("overview")
>>> len(board.panels), board.panels[0].title
(11, 'Request Rate')
"""

from __future__ import annotations

from tributary_analysis.dashboards.model import BUILTIN, Dashboard, builtin_path, load_dashboard
from tributary_analysis.dashboards.page import (
    DashboardReport,
    dashboard_summary,
    render_dashboard,
    show_dashboard,
)

__all__ = ["BUILTIN", "Dashboard", "DashboardReport", "builtin_path", "dashboard_summary",
           "load_dashboard", "render_dashboard", "show_dashboard"]
