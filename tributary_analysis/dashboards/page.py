"""A dashboard as a report: plan → fetch → review → figures, and the page a notebook shows.

:func:`render_dashboard` does the work (no display), :func:`show_dashboard` displays it in a
notebook (so the report pipeline turns it into the usual offline page), and
:func:`dashboard_summary` is the ``summary.json`` of the run. The page opens with the
answer: how many panels were drawn, what the review found (with the corrected values), and
which panels were not drawn and why; then each row of the dashboard as a section, in
Grafana's order (top to bottom, left to right). Everything written here is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from tributary_analysis.dashboards import figures, tables
from tributary_analysis.dashboards.fetch import PanelData, fetch_panel
from tributary_analysis.dashboards.fetch import label_values as fetch_label_values
from tributary_analysis.dashboards.model import Dashboard, Panel, Variable
from tributary_analysis.dashboards.plan import DEFAULT_SCRAPE, PanelPlan, plan_panel
from tributary_analysis.dashboards.review import Finding, review_panel, uses_rate
from tributary_analysis.dashboards.units import format_value
from tributary_analysis.dashboards.variables import (
    Binding,
    parse_overrides,
    resolve_variables,
    title_text,
)
from tributary_analysis.ground.format import human_duration
from tributary_analysis.ground.time import Window, parse_duration, parse_step

__all__ = ["DashboardReport", "PanelView", "dashboard_summary", "render_dashboard",
           "show_dashboard"]

TILE_TYPES = ("stat", "gauge")
DEFAULT_POINTS = 720

CSS = """
.td-answer{font-family:system-ui,sans-serif;border:1px solid #ccd;background:#f7f8fb;
  padding:.7em 1.2em;margin:.5em 0 1em 0;border-radius:6px}
.td-answer h2{margin:.1em 0 .4em 0;font-size:1.25em}
.td-answer ul{margin:.3em 0 .3em 1.2em;padding:0}
.td-answer li{margin:.25em 0}
.td-meta{color:#444;font-size:.92em}
.td-section{font-family:system-ui,sans-serif;border-bottom:2px solid #ccd;padding-bottom:.2em;
  margin-top:1.4em}
.td-panel-title{font-family:system-ui,sans-serif;font-size:1.05em;margin:.8em 0 .3em 0}
.td-note{font-family:system-ui,sans-serif;font-size:.92em;border-left:4px solid #999;
  background:#fafafa;padding:.4em .8em;margin:.2em 0 .8em 0}
.td-note.error{border-color:#C4162A;background:#fdecee}
.td-note.warning{border-color:#E0B400;background:#fff8e1}
.td-note.info{border-color:#3274D9;background:#eef4ff}
.td-note p{margin:.2em 0}
.td-note code,.td-answer code{font-size:.9em;word-break:break-word}
.td-fixed{font-weight:600}
.td-query{font-size:.85em;color:#555;margin:.1em 0 .8em 0}
.td-query code{word-break:break-word;white-space:pre-wrap}
.td-table-wrap{overflow-x:auto;max-width:100%}
.td-table{border-collapse:collapse;font-family:system-ui,sans-serif;font-size:.9em}
.td-table th,.td-table td{border-bottom:1px solid #e3e3e8;padding:.25em .8em;
  text-align:left !important;overflow-wrap:anywhere}
.td-table th.num,.td-table td.num{text-align:right !important;white-space:nowrap}
.td-caption,.td-more{font-size:.85em;color:#555;margin:.2em 0 .8em 0}
.td-unsupported{font-family:system-ui,sans-serif;border:1px dashed #999;padding:.4em .8em;
  margin:.4em 0 .8em 0;color:#333}
@media print{.td-section{break-before:page}.td-section.first{break-before:auto}
  .td-note,.tributary-figure,.td-table-wrap{break-inside:avoid}}
"""


@dataclass
class PanelView:
    """One panel with its plan, data and review."""

    panel: Panel
    plan: PanelPlan
    data: PanelData | None = None
    findings: list[Finding] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``drawn`` · ``no data`` · ``not drawn`` · ``error``."""
        if self.plan.unsupported:
            return "not drawn"
        if self.plan.error or (self.data is not None and self.data.errors
                               and not self.data.series):
            return "error"
        if self.data is None or not self.data.series:
            return "no data"
        return "drawn"


@dataclass
class DashboardReport:
    """A rendered dashboard, ready to show."""

    board: Dashboard
    window: Window
    step: pd.Timedelta
    scrape_interval: pd.Timedelta
    bindings: dict[str, Binding]
    sections: list[tuple[str | None, list[PanelView]]]
    notes: list[str] = field(default_factory=list)

    @property
    def views(self) -> list[PanelView]:
        return [v for _t, vs in self.sections for v in vs]

    @property
    def warnings(self) -> list[str]:
        out: list[str] = []
        for v in self.views:
            for w in (v.data.warnings if v.data else []):
                if w not in out:
                    out.append(w)
        return out

    @property
    def findings(self) -> list[tuple[PanelView, Finding]]:
        return [(v, f) for v in self.views for f in v.findings]


def _as_window(window: Any) -> Window:
    return window if isinstance(window, Window) else Window.of(window.start, window.end)


def render_dashboard(board: Dashboard, source: Any, window: Any, *,
                     step: Any = None, variables: Any = None,
                     scrape_interval: Any = DEFAULT_SCRAPE) -> DashboardReport:
    """Plan, fetch and review every panel of ``board`` over ``window``.

    Parameters
    ----------
    board : Dashboard
        From :func:`~tributary_analysis.dashboards.load_dashboard`.
    source : PrometheusSource
        The safe client every query goes through.
    window : Window
        The report's window (any object with ``start``/``end``).
    step : duration, optional
        The resolution; default: the window over 720 points, at least the scrape interval.
    variables : mapping or list of ``NAME=VALUE``, optional
        Template variable values (escaped wherever they enter PromQL).
    scrape_interval : duration
        The data source's scrape interval (Grafana's default 15 s): the floor of the step
        and the base of ``$__rate_interval``.
    """
    w = _as_window(window)
    scrape = parse_duration(scrape_interval, name="scrape_interval")
    st = parse_step(step, name="step") if step not in (None, "") else \
        w.step(max_points=DEFAULT_POINTS, minimum=scrape)
    from tributary_analysis.dashboards.plan import builtins_for, rate_interval

    base_builtins = builtins_for(w, st, rate_interval(st, scrape))

    def label_values(label: str, match: str | None) -> list[str]:
        return fetch_label_values(source, label, match, w.start, w.end)

    def auto_interval(var: Variable) -> str:
        auto = w.duration / max(1, var.auto_count)
        floor = parse_duration(var.auto_min, name=f"${var.name} auto_min")
        from tributary_analysis.dashboards.plan import grafana_interval

        return grafana_interval(max(auto, floor))

    bindings, notes = resolve_variables(board, parse_overrides(variables),
                                        label_values=label_values, builtins=base_builtins,
                                        auto_interval=auto_interval)
    sections: list[tuple[str | None, list[PanelView]]] = []
    for section in board.sections:
        views = []
        for raw, scope in _expand_repeats(section.panels, bindings):
            panel = replace(raw, title=title_text(raw.title, scope))
            plan = plan_panel(panel, board, scope, w, st, scrape)
            view = PanelView(panel, plan)
            if plan.queries:
                view.data = fetch_panel(source, plan)
                view.findings = review_panel(source, view.data, window=w)
            elif plan.error:
                view.findings = [Finding("planning", "error", plan.error)]
            views.append(view)
        sections.append((None if section.title is None else
                         title_text(section.title, bindings), views))
    if board.time_from:
        notes.append(f"the dashboard's own time range is {board.time_from} → "
                     f"{board.time_to or 'now'}; this report covers its own window")
    return DashboardReport(board, w, st, scrape, bindings, sections, notes)


def _expand_repeats(panels: Sequence[Panel], bindings: Mapping[str, Binding]
                    ) -> list[tuple[Panel, Mapping[str, Binding]]]:
    """Panels, with a ``repeat: var`` panel once per value of ``var`` (as Grafana does)."""
    out: list[tuple[Panel, Mapping[str, Binding]]] = []
    for p in panels:
        b = bindings.get(p.repeat) if p.repeat else None
        if b is None or len(b.values) <= 1:
            out.append((p, bindings))
            continue
        for i, (value, text) in enumerate(zip(b.values, b.texts or b.values, strict=False)):
            one = replace(b, values=(value,), texts=(text,), is_all=False)
            title = p.title.replace(f"${p.repeat}", text).replace(f"${{{p.repeat}}}", text)
            if title == p.title:
                title = f"{p.title} ({text})"
            out.append((replace(p, title=title, key=f"{p.key}-{i}"),
                        {**bindings, p.repeat: one}))
    return out


# ---------------------------------------------------------------------- display


def _esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def _finding_html(f: Finding, view: PanelView) -> str:
    extra = ""
    c = f.correction
    if c is not None:
        unit = view.panel.field_config.defaults.unit
        dec = view.panel.field_config.defaults.decimals
        shown = f.details.get("shown_total")
        if c.total is not None:
            was = (f" (the panel shows {_esc(format_value(shown, unit, dec))})"
                   if shown is not None else "")
            label = "Corrected value" if len(c.values) == 1 else "Corrected total"
            extra = (f"<p class='td-fixed'>{label}: {_esc(format_value(c.total, unit, dec))}"
                     f"{was}</p>")
            if 1 < len(c.values) <= 12:
                items = ", ".join(f"{_esc(n)}: {_esc(format_value(v, unit, dec))}"
                                  for n, v in c.values)
                extra += f"<p>Corrected per series: {items}</p>"
        else:
            extra = "<p>The corrected query returned no value.</p>"
    return f"<p>{_esc(f.message)}</p>{extra}"


def _notes_html(view: PanelView) -> str:
    parts = []
    order = {"error": 0, "warning": 1, "info": 2}
    for f in sorted(view.findings, key=lambda f: order.get(f.severity, 3)):
        parts.append(f"<div class='td-note {f.severity}'><p><b>Review — "
                     f"{_esc(f.severity)}</b></p>{_finding_html(f, view)}</div>")
    extra = list(view.plan.notes) + (view.data.warnings if view.data else [])
    if view.panel.transformations:
        extra.append("Grafana transformations not applied: "
                     + ", ".join(view.panel.transformations))
    if extra:
        items = "".join(f"<p>{_esc(n)}</p>" for n in extra)
        parts.append(f"<div class='td-note info'>{items}</div>")
    queries = [q for q in view.plan.queries]
    if queries:
        qs = "<br>".join(f"{_esc(q.ref_id)}: <code>{_esc(q.expr)}</code>"
                         + (" (instant)" if q.instant else "") for q in queries)
        parts.append(f"<p class='td-query'>Query · step {_esc(human_duration(queries[0].step))}"
                     f"<br>{qs}</p>")
    return "".join(parts)


def _answer_html(report: DashboardReport) -> str:
    views = report.views
    counts: dict[str, int] = {}
    for v in views:
        counts[v.status] = counts.get(v.status, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in sorted(counts.items(), key=lambda i: (
        ["drawn", "no data", "error", "not drawn"].index(i[0]), i[1])))
    items = []
    for v, f in report.findings:
        fixed = ""
        if f.correction is not None and f.correction.total is not None:
            d = v.panel.field_config.defaults
            value = format_value(f.correction.total, d.unit, d.decimals)
            fixed = f" — corrected: <b>{_esc(value)}</b>"
        items.append(f"<li><a href='#{_esc(v.panel.key)}'>{_esc(v.panel.title)}</a>: "
                     f"{_esc(_short(f))}{fixed}</li>")
    for v in views:
        if v.status == "not drawn":
            items.append(f"<li><a href='#{_esc(v.panel.key)}'>{_esc(v.panel.title)}</a> "
                         f"({_esc(v.panel.raw_type or 'no type')}) is not drawn: "
                         f"{_esc(v.plan.unsupported)}</li>")
    findings = (f"<ul>{''.join(items)}</ul>" if items else
                "<p>The review found nothing to correct: every query selects data and none "
                "adds replicated gauges.</p>")
    var_text = "; ".join(f"<code>${_esc(n)}</code> = {_esc(b.display)}"
                         for n, b in report.bindings.items()) or "none"
    w = report.window
    notes = "".join(f"<li>{_esc(n)}</li>" for n in report.notes)
    return (f"<div class='td-answer'><h2>{_esc(report.board.title)}</h2>"
            f"<p><b>{len(views)} panel(s): {_esc(parts)}.</b> "
            f"{len(report.findings)} review finding(s).</p>{findings}"
            f"<p class='td-meta'>Window {_esc(w.label())} · step "
            f"{_esc(human_duration(report.step))} · $__rate_interval from a scrape interval "
            f"of {_esc(human_duration(report.scrape_interval))} · variables: {var_text}</p>"
            + (f"<ul class='td-meta'>{notes}</ul>" if notes else "") + "</div>")


def _short(f: Finding) -> str:
    if f.kind == "replicated_gauge_sum":
        factor = f.details.get("factor", 0)
        return (f"sum() over the replicated gauge {f.details.get('metric')} shows "
                f"{factor:g}× the true value")
    text = f.message.split(": ", 1)[-1] if f.message.startswith("query ") else f.message
    return text if len(text) < 240 else text[:237] + "…"


def show_dashboard(report: DashboardReport) -> None:
    """Display the report in the running notebook (figures via the plotly mimetype)."""
    from IPython.display import HTML, display

    from tributary_analysis.reports.outputs import display_warnings

    display_warnings(report.warnings, source="prometheus")
    display(HTML(f"<style>{CSS}</style>" + _answer_html(report)))
    first = True
    for title, views in report.sections:
        if title is not None:
            cls = "td-section first" if first else "td-section"
            display(HTML(f"<h2 class='{cls}'>{_esc(title or 'Row')}</h2>"))
        first = False
        if not views:
            display(HTML("<p class='td-caption'>This row has no panels.</p>"))
        for group in _groups(views):
            _show_group(group)


def _groups(views: list[PanelView]) -> list[list[PanelView]]:
    """Consecutive stat/gauge panels on one grid line become one row of tiles."""
    out: list[list[PanelView]] = []
    for v in views:
        prev = out[-1] if out else None
        tile = v.panel.type in TILE_TYPES and v.status in ("drawn", "no data")
        if tile and prev and prev[0].panel.type in TILE_TYPES and \
                prev[0].status in ("drawn", "no data") and \
                prev[0].panel.grid.y == v.panel.grid.y and len(prev) < figures.MAX_TILES_PER_ROW:
            prev.append(v)
        else:
            out.append([v])
    return out


def _rate_title(view: PanelView) -> str:
    """An axis title for a unitless panel whose queries are per-second rates."""
    exprs = [q.expr for q in view.plan.queries]
    return "per second" if exprs and all(uses_rate(e) for e in exprs) else ""


def _anchor(view: PanelView) -> str:
    return f"<a id='{_esc(view.panel.key)}'></a>"


def _show_group(group: list[PanelView]) -> None:
    from IPython.display import HTML, display

    first = group[0]
    if first.panel.type in TILE_TYPES and first.status in ("drawn", "no data"):
        tiles, notes = [], []
        for v in group:
            series = v.data.series if v.data else []
            ts, dropped, note = figures.tiles_for(v.panel, series)
            if not ts:
                ts = [figures.Tile(v.panel, v.panel.title, math.nan, "No data", "#888",
                                   "lastNotNull", None, None)]
            tiles.extend(ts)
            if dropped:
                notes.append(f"{v.panel.title}: {dropped} more series not shown")
            if note:
                notes.append(f"{v.panel.title}: {note}")
        display(HTML("".join(_anchor(v) for v in group)))
        for i in range(0, len(tiles), figures.MAX_TILES_PER_ROW):
            display(figures.tiles_figure(tiles[i:i + figures.MAX_TILES_PER_ROW]))
        for v in group:
            body = _notes_html(v)
            if body:
                display(HTML(f"<div class='td-panel-title'>{_esc(v.panel.title)}</div>{body}"))
        if notes:
            display(HTML("".join(f"<p class='td-caption'>{_esc(n)}</p>" for n in notes)))
        return
    view = first
    p = view.panel
    head = _anchor(view)
    if view.status == "not drawn":
        display(HTML(f"{head}<div class='td-unsupported'><b>{_esc(p.title)}</b> "
                     f"({_esc(p.raw_type or 'no type')}) — not drawn: "
                     f"{_esc(view.plan.unsupported)}</div>"))
        return
    if view.status in ("no data", "error"):
        display(HTML(f"{head}<div class='td-panel-title'>{_esc(p.title)}</div>"
                     f"<div class='td-unsupported'>No data to draw.</div>{_notes_html(view)}"))
        return
    assert view.data is not None
    series = view.data.series
    if p.type == "table":
        instant = all(q.instant for q in view.plan.queries)
        display(HTML(f"{head}<div class='td-panel-title'>{_esc(p.title)}</div>"
                     + tables.table_html(p, series, instant=instant,
                                         per_second=bool(_rate_title(view)))
                     + _notes_html(view)))
        return
    display(HTML(head))
    if p.type == "piechart":
        display(figures.pie_figure(p, series))
    elif p.type == "bargauge":
        display(figures.bargauge_figure(p, series))
    elif p.type == "heatmap" and any("le" in s.labels for s in series):
        from tributary_analysis.promql.rules import metric_names

        expr = view.plan.queries[0].expr if view.plan.queries else ""
        display(figures.heatmap_figure(p, series, per_second=uses_rate(expr),
                                       metric=next(iter(metric_names(expr)), "")))
    else:
        display(figures.timeseries_figure(p, series, y_title=_rate_title(view)))
    body = _notes_html(view)
    if body:
        display(HTML(body))


# ---------------------------------------------------------------------- summary


def dashboard_summary(report: DashboardReport) -> dict[str, Any]:
    """The run's ``summary.json``: headline tiles, findings, panels, what was withheld."""
    headline = []
    for v in report.views:
        if v.panel.type in TILE_TYPES and v.data is not None:
            ts, _d, _n = figures.tiles_for(v.panel, v.data.series)
            for t in ts:
                headline.append({"name": t.label, "value": t.value if math.isfinite(t.value)
                                 else None, "unit": t.unit or "", "text": t.text,
                                 "baseline": None, "assessment": t.assessment})
    findings = []
    for v, f in report.findings:
        item: dict[str, Any] = {"panel": v.panel.title, "kind": f.kind,
                                "severity": f.severity, "message": f.message}
        if f.correction is not None:
            item["corrected_query"] = f.correction.expr
            item["corrected_value"] = f.correction.total
            item["shown_value"] = f.details.get("shown_total")
        findings.append(item)
    w = report.window
    return {
        "report": "dashboard", "dashboard": report.board.title,
        "window": {"start": w.start, "end": w.end}, "step_s": report.step.total_seconds(),
        "status": "ok" if not any(f.severity == "error" for _v, f in report.findings)
        else "findings",
        "headline": headline, "findings": findings,
        "panels": [{"title": v.panel.title, "type": v.panel.type, "status": v.status,
                    "series": len(v.data.series) if v.data else 0,
                    "reason": v.plan.unsupported or v.plan.error} for v in report.views],
        "withheld": [{"panel": v.panel.title, "reason": v.plan.unsupported}
                     for v in report.views if v.status == "not drawn"],
        "variables": {n: b.display for n, b in report.bindings.items()},
        "warnings": report.warnings,
    }
