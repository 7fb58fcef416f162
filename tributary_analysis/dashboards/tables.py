"""Table panels as HTML: one row per series, label columns then values in the panel's unit.

Grafana's table shows one frame at a time; a report shows every series, one row each
(Grafana's "Reduce → Series to rows"): for instant queries the value, for range queries the
last value, the mean and the maximum over the window, largest first. Every cell is escaped
text; the table scrolls sideways inside its box rather than widening the page, and rows past
:data:`MAX_ROWS` are counted, never silently cut.
"""

from __future__ import annotations

import html
import math

import numpy as np

from tributary_analysis.dashboards.fetch import Series
from tributary_analysis.dashboards.model import Panel
from tributary_analysis.dashboards.reduce import reduce_values
from tributary_analysis.dashboards.units import color_hex, format_value

__all__ = ["MAX_ROWS", "table_html"]

MAX_ROWS = 50


def table_html(panel: Panel, series: list[Series], *, instant: bool,
               per_second: bool = False) -> str:
    """The panel's series as an HTML table (escaped)."""
    keys: list[str] = []
    for s in series:
        for k in s.labels:
            if k != "__name__" and k not in keys:
                keys.append(k)
    calcs = [("Value", "lastNotNull")] if instant else [
        ("Last", "lastNotNull"), ("Mean", "mean"), ("Max", "max")]
    rows = []
    for s in series:
        d = panel.field_config.for_series(s.name, s.ref_id)
        vals = [reduce_values(s.values, c) for _h, c in calcs]
        rows.append((s, d, vals))
    rows.sort(key=lambda r: -(r[2][0] if math.isfinite(r[2][0]) else -np.inf))
    shown = rows[:MAX_ROWS]
    mode = str(panel.field_config.defaults.custom.get("displayMode") or (
        panel.field_config.defaults.custom.get("cellOptions") or {}).get("type") or "")
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys or ["series"])
    head += "".join(f"<th class='num'>{h}</th>" for h, _c in calcs)
    body = []
    for s, d, vals in shown:
        cells = "".join(f"<td>{html.escape(s.labels.get(k, '')) or '—'}</td>" for k in keys) \
            if keys else f"<td>{html.escape(s.name)}</td>"
        for v in vals:
            style = ""
            step = d.thresholds.step_for(v) if d.thresholds is not None and \
                mode.startswith("color") else None
            if step is not None:
                c = color_hex(step.color)
                style = (f" style='background:{c};color:#111'" if "background" in mode
                         else f" style='color:{c};font-weight:600'")
            text = format_value(v if math.isfinite(v) else None, d.unit, d.decimals)
            cells += f"<td class='num'{style}>{html.escape(text)}</td>"
        body.append(f"<tr>{cells}</tr>")
    more = (f"<p class='td-more'>{len(rows) - len(shown):,} more row(s) not shown "
            f"(largest {len(shown)} of {len(rows):,}).</p>" if len(rows) > len(shown) else "")
    where = "at the window's end" if instant else "over the window"
    if per_second and not panel.field_config.defaults.unit:
        where += " (per-second rates)"
    return (f"<div class='td-table-wrap'><table class='td-table'><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table></div>"
            f"<p class='td-caption'>{len(rows):,} series, values {where}, largest first.</p>"
            f"{more}")
