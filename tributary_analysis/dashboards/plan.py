"""Panel → query plan: which PromQL runs, over which range, at which step.

The report's window and step play the part of Grafana's time picker and of the interval it
derives from the panel's width; the rest follows Grafana's Prometheus data source
(``pkg/promlib/models/query.go``):

* the step is the report step, raised to the panel's *Min interval* or the target's
  *Min step* (else the data source's scrape interval), to the panel's ``maxDataPoints``,
  to ``range / 11000`` (Prometheus's point limit), then multiplied by ``intervalFactor``;
* ``$__interval`` is that step in Grafana's short form (truncated to its largest unit:
  90 s → ``1m``), ``$__interval_ms`` / ``$__interval_s`` in milli/seconds;
* ``$__rate_interval`` = max(interval + scrape interval, 4 × scrape interval), with the
  target's Min step standing in for the scrape interval when set (``_ms``, ``_s`` too);
* ``$__range`` = the window in whole seconds (``86400s``); ``$__range_s``, ``$__range_ms``;
* range queries start and end on multiples of the step (Grafana aligns them so caches hit);
  instant targets evaluate at the window's end.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

from tributary_analysis.dashboards.model import Dashboard, Panel, Target
from tributary_analysis.dashboards.variables import Binding, interpolate
from tributary_analysis.errors import DataError, TributaryError
from tributary_analysis.ground.time import Window, parse_duration

__all__ = ["PanelPlan", "PlannedQuery", "builtins_for", "grafana_interval", "plan_panel",
           "rate_interval"]

SAFE_RESOLUTION = 11_000
DEFAULT_SCRAPE = pd.Timedelta(seconds=15)


@dataclass(frozen=True)
class PlannedQuery:
    """One target, ready to run."""

    ref_id: str
    expr: str  # interpolated
    template: str  # as written in the dashboard
    legend: str
    instant: bool
    step: pd.Timedelta
    start: pd.Timestamp
    end: pd.Timestamp
    format: str = "time_series"


@dataclass(frozen=True)
class PanelPlan:
    """A panel's queries, or why it has none."""

    panel: Panel
    queries: tuple[PlannedQuery, ...] = ()
    unsupported: str = ""  # why the panel is listed instead of drawn
    notes: tuple[str, ...] = ()  # skipped targets, interpolation remarks
    error: str = ""  # a planning error (bad variable value, unknown variable)
    builtins: Mapping[str, str] = field(default_factory=dict)


def grafana_interval(td: pd.Timedelta) -> str:
    """Grafana's ``gtime.FormatInterval``: the largest whole unit, truncated.

    Examples
    --------
    >>> grafana_interval(pd.Timedelta(seconds=90)), grafana_interval(pd.Timedelta(hours=25))
    ('1m', '1d')
    """
    ms = int(td / pd.Timedelta(milliseconds=1))
    for size, unit in ((365 * 86_400_000, "y"), (86_400_000, "d"), (3_600_000, "h"),
                       (60_000, "m"), (1000, "s"), (1, "ms")):
        if ms >= size:
            return f"{ms // size}{unit}"
    return "1ms"


def _go_duration(td: pd.Timedelta) -> str:
    """A duration as PromQL reads it (Grafana writes Go's ``1m15s``; same value)."""
    ms = round(td / pd.Timedelta(milliseconds=1))
    out = []
    for size, unit in ((3_600_000, "h"), (60_000, "m"), (1000, "s"), (1, "ms")):
        n, ms = divmod(ms, size)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out) or "0s"


def rate_interval(interval: pd.Timedelta, scrape: pd.Timedelta) -> pd.Timedelta:
    """Grafana's ``$__rate_interval``: max(interval + scrape, 4 × scrape).

    Examples
    --------
    >>> rate_interval(pd.Timedelta("2min"), pd.Timedelta("15s"))
    Timedelta('0 days 00:02:15')
    >>> rate_interval(pd.Timedelta("15s"), pd.Timedelta("15s"))
    Timedelta('0 days 00:01:00')
    """
    return max(interval + scrape, 4 * scrape)


def _duration(text: str, what: str) -> pd.Timedelta | None:
    if not text or text.startswith("$"):
        return None
    try:
        return parse_duration(text.lstrip(">"), name=what)
    except TributaryError:
        raise DataError(f"{what}={text!r} is not a duration; write e.g. 30s or 1m") from None


def builtins_for(window: Window, step: pd.Timedelta, rate: pd.Timedelta) -> dict[str, str]:
    """The built-in variables for one query (see the module docstring)."""
    range_ms = int((window.end - window.start) / pd.Timedelta(milliseconds=1))
    range_s = math.floor(range_ms / 1000.0 + 0.5)
    step_ms = int(step / pd.Timedelta(milliseconds=1))
    from_ms, to_ms = (int(t.value // 1_000_000) for t in (window.start, window.end))
    out = {
        "__interval": grafana_interval(step), "__interval_ms": str(step_ms),
        "__interval_s": str(step_ms // 1000),
        "__rate_interval": _go_duration(rate),
        "__rate_interval_ms": str(int(rate / pd.Timedelta(milliseconds=1))),
        "__rate_interval_s": str(int(rate / pd.Timedelta(seconds=1))),
        "__range": f"{range_s}s", "__range_s": str(range_s), "__range_ms": str(range_ms),
        "__from": str(from_ms), "__to": str(to_ms),
    }
    for name, ts in (("__from", window.start), ("__to", window.end)):
        out[f"{name}:date"] = out[f"{name}:date:iso"] = ts.strftime("%Y-%m-%dT%H:%M:%SZ")
        out[f"{name}:date:seconds"] = str(int(ts.value // 1_000_000_000))
    return out


def _is_prometheus(ref: object, dash_vars: Mapping[str, Binding]) -> tuple[bool, str]:
    """Whether a datasource reference is (or may be) Prometheus, and why not."""
    if ref is None:
        return True, ""
    rtype = getattr(ref, "type", None)
    name = getattr(ref, "name", None)
    if rtype:
        if rtype == "prometheus":
            return True, ""
        if rtype == "datasource":  # "-- Dashboard --": reuses another panel's results
            return False, "it reuses another panel's query results (-- Dashboard --)"
        return False, f"it reads a {rtype!r} data source, not Prometheus"
    if name:
        low = name.lower()
        if low in ("-- grafana --", "grafana"):
            return False, "it reads Grafana's built-in test data source"
        if low in ("-- mixed --",):
            return True, ""
        if low.startswith("-- dashboard"):
            return False, "it reuses another panel's query results (-- Dashboard --)"
    return True, ""


def plan_panel(panel: Panel, board: Dashboard, bindings: Mapping[str, Binding],
               window: Window, step: pd.Timedelta,
               scrape_interval: pd.Timedelta = DEFAULT_SCRAPE) -> PanelPlan:
    """The queries of ``panel`` for the report's ``window`` and ``step``.

    Never raises for a panel-level problem: an unsupported type, a non-Prometheus data
    source or a variable value that cannot be used comes back as ``unsupported`` or
    ``error`` so the page can say so in the panel's place.
    """
    from tributary_analysis.dashboards.model import UNSUPPORTED_REASONS

    if panel.library_panel and not panel.targets:
        return PanelPlan(panel, unsupported=f"library panel {panel.library_panel!r} is "
                         "stored in Grafana, not in this file; export the dashboard with "
                         "'Export for sharing externally' so its model is included")
    if not panel.drawable:
        reason = UNSUPPORTED_REASONS.get(panel.type, f"panel type {panel.raw_type or '(none)'!r}"
                                         " is not one the report draws (timeseries, stat, "
                                         "gauge, bar gauge, table, pie chart, heatmap)")
        return PanelPlan(panel, unsupported=reason)
    ok, why = _is_prometheus(panel.datasource, bindings)
    if not ok:
        return PanelPlan(panel, unsupported=f"not drawn: {why}")
    notes: list[str] = []
    queries: list[PlannedQuery] = []
    panel_min = _duration(panel.interval, f"panel {panel.title!r} min interval")
    base = step
    if panel.max_data_points:
        base = max(base, (window.end - window.start) / panel.max_data_points)
    base = max(base, (window.end - window.start) / SAFE_RESOLUTION)
    try:
        for t in panel.targets:
            plan = _plan_target(t, panel, bindings, window, base, panel_min, scrape_interval,
                                notes)
            if plan is not None:
                queries.append(plan)
    except TributaryError as exc:
        return PanelPlan(panel, notes=tuple(notes), error=str(exc))
    if not queries and not notes:
        notes.append("the panel has no queries")
    return PanelPlan(panel, tuple(queries), notes=tuple(notes),
                     builtins=dict(builtins_for(window, base, rate_interval(
                         max(base, panel_min or scrape_interval), scrape_interval))))


def _plan_target(t: Target, panel: Panel, bindings: Mapping[str, Binding], window: Window,
                 base: pd.Timedelta, panel_min: pd.Timedelta | None, scrape: pd.Timedelta,
                 notes: list[str]) -> PlannedQuery | None:
    where = f"panel {panel.title!r}, query {t.ref_id}"
    if t.hide:
        notes.append(f"query {t.ref_id} is hidden in the dashboard and not run")
        return None
    ok, why = _is_prometheus(t.datasource, bindings)
    if not ok:
        notes.append(f"query {t.ref_id} is not run: {why}")
        return None
    if not t.expr.strip():
        notes.append(f"query {t.ref_id} has no expression")
        return None
    target_min = _duration(t.interval, f"{where} min step")
    query_interval = max(base, panel_min or scrape)  # the frontend's interval
    if t.interval in ("$__rate_interval", "${__rate_interval}"):
        # Grafana: the min step is the rate interval itself, final and unscaled
        step = rate = rate_interval(max(base, scrape), scrape)
    else:
        interval = max(base, target_min or panel_min or scrape)
        step = interval * t.interval_factor
        min_step = step if t.interval in ("$__interval", "${__interval}") else (
            target_min or scrape)
        rate = rate_interval(query_interval, min_step)
    step = pd.Timedelta(milliseconds=max(1, round(step / pd.Timedelta(milliseconds=1))))
    builtins = builtins_for(window, step, rate)
    expr = interpolate(t.expr, bindings, builtins, where=where, notes=notes)
    instant = t.instant and not t.range
    if instant:
        start = end = window.end
    else:
        start, end = window.start.floor(step), window.end.floor(step)
        if end <= start:
            end = start + step
    return PlannedQuery(ref_id=t.ref_id, expr=expr, template=t.expr,
                        legend=t.legend_format, instant=instant, step=step,
                        start=start, end=end, format=t.format)
