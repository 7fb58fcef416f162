"""The tenant reports' answers: a :class:`~tributary_analysis.reports.summary.Summary` from
the analyses, and the page blocks the notebooks show.

``tenant_usage.ipynb`` (the report *for one tenant*) ends with
``nb.show_summary(tenant_summary(report), summary_path)``; ``tenant_fleet.ipynb`` with
:func:`fleet_summary`. The tiles, findings and withheld estimates come from the analysis
(:func:`tributary_analysis.analysis.tenant_report.tenant_report`,
:mod:`tributary_analysis.analysis.tenants`), so the page, ``summary.json`` and the index
say the same thing.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import Any

import pandas as pd

from tributary_analysis.analysis.tenant_report import TenantReport
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import Window, iso
from tributary_analysis.reports.summary import Headline, Summary

__all__ = [
    "SECTIONS", "closest_html", "describe_window", "export_chargeback", "fleet_figures",
    "fleet_frame", "fleet_summary",
    "growth_html", "no_data_html", "noisy_figures", "one_tenant", "page_blocks", "show",
    "tenant_summary", "tiles", "whole_service",
]


def one_tenant(params: Any) -> str:
    """The one tenant a tenant report is for (the runner passes ``tenants=[id]``), from
    checked parameters (:func:`~tributary_analysis.notebook.check_parameters`).

    Raises :class:`~tributary_analysis.errors.ConfigError` for none or several tenants,
    and for an endpoint filter (the report covers every endpoint of the tenant).
    """
    from tributary_analysis.errors import ConfigError

    tenants = tuple(params.tenants)
    if params.endpoint:
        raise ConfigError(f"endpoint={params.endpoint!r}: the tenant report covers every "
                          "endpoint of the tenant (it shows their top endpoints); leave "
                          "endpoint=None")
    if len(tenants) == 1:
        return str(tenants[0])
    known: list[str] = []
    some = ", ".join(list(known)[:5])
    hint = f" (e.g. {some})" if some else ""
    if not tenants:
        raise ConfigError("the tenant report is for one tenant: set tenants=['TENANT_ID']"
                          f"{hint}, or run 'tributary report run tenant_usage --tenant all'")
    raise ConfigError(f"the tenant report is for one tenant, got {len(tenants)}; run it once "
                      "per tenant ('tributary report run tenant_usage --tenant all'), or use "
                      "the fleet report tenant_fleet for all tenants at once")


def tiles(items: Iterable[dict[str, Any]]) -> tuple[Headline, ...]:
    """Headline tiles from the analysis' plain tile dicts (a ``withheld`` entry makes a
    withheld tile with its "not enough data" sentence)."""
    out = []
    for t in items:
        gap = t.get("withheld")
        if isinstance(gap, Insufficient):
            out.append(Headline.withheld(t["name"], gap, unit=t.get("unit", ""),
                                         key=t.get("key", ""),
                                         definition=t.get("definition", "")))
        else:
            out.append(Headline.of(t["name"], t.get("value"), t.get("unit", ""),
                                   baseline=t.get("baseline"),
                                   assessment=t.get("assessment", "info"),
                                   definition=t.get("definition", ""), key=t.get("key", ""),
                                   text=t.get("text")))
    return tuple(out)


def _data_end(frames: Iterable[pd.DataFrame]) -> str | None:
    ends = [pd.to_datetime(f["timestamp"], utc=True).max() for f in frames
            if f is not None and len(f) and "timestamp" in f]
    ends = [e for e in ends if not pd.isna(e)]
    return iso(max(ends)) if ends else None


def tenant_summary(report: TenantReport, *, data_end_from: Iterable[pd.DataFrame] = ()
                   ) -> Summary:
    """The ``summary.json`` of the report for one tenant: status ``warning`` when the
    tenant had no data in the window (with the closest known ids in the findings and in
    ``details.closest_tenants``)."""
    details: dict[str, Any] = {"rank": report.rank, "tenants": report.n_tenants}
    if not report.has_data:
        details["closest_tenants"] = list(report.closest)
    return Summary(
        report="tenant_usage", status=report.status,
        window_start=iso(report.window.start), window_end=iso(report.window.end),
        data_end=_data_end(data_end_from), tenant=report.tenant,
        headline=tiles(report.headline), findings=tuple(report.findings[:5]),
        insufficient=tuple(report.insufficient), details=details)


def no_data_html(report: TenantReport) -> str:
    """What a section shows when the tenant had no data: one line, pointing up."""
    return ("<p class='tributary-empty'>No data for this tenant in the window — see the "
            "answer at the top for the closest known tenant ids.</p>")


def closest_html(report: TenantReport) -> str:
    """The closest known tenant ids as a list (escaped)."""
    if not report.closest:
        return "<p>No tenant sent a request in this window.</p>"
    items = "".join(f"<li><code>{html.escape(t)}</code></li>" for t in report.closest)
    return f"<p>Closest known tenant ids (tenants with traffic in the window):</p><ul>{items}</ul>"


def fleet_summary(fleet: Any, window: Window, *, data_end_from: Iterable[pd.DataFrame] = ()
                  ) -> Summary:
    """The ``summary.json`` of the fleet tenant report (a
    :class:`~tributary_analysis.analysis.tenants.FleetReport`); ``details`` keeps the
    rankings (``top_requests``, ``tenants_for_80pct``, ``growth_rank``,
    ``rate_limit_rank``, ``noisy``, ``noisy_rank``)."""
    from tributary_analysis.analysis.tenants import Growth

    growth = fleet.growth
    details: dict[str, Any] = {
        "tenants": len(fleet.usage),
        "top_requests": [str(t) for t in fleet.pareto.index[:3]],
        "tenants_for_80pct": fleet.pareto.attrs.get("tenants_for_target"),
        "growth_rank": (growth.per_tenant["tenant_id"].astype(str).tolist()
                        if isinstance(growth, Growth) else None),
        "rate_limit_rank": fleet.limited["tenant_id"].astype(str).tolist(),
        "noisy": fleet.noisy.loc[fleet.noisy["noisy"].astype(bool), "tenant_id"].astype(
            str).tolist() if len(fleet.noisy) else [],
        "noisy_rank": fleet.noisy["tenant_id"].astype(str).tolist(),
        "vectors_total": float(fleet.usage["vectors"].sum()) if "vectors" in fleet.usage
        else None,
    }
    answer = fleet.answer
    return Summary(
        report="tenant_fleet", status="ok", window_start=iso(window.start),
        window_end=iso(window.end), data_end=_data_end(data_end_from), tenant=None,
        headline=tiles(answer.headline), findings=tuple(answer.findings[:5]),
        insufficient=tuple(answer.insufficient), details=details)


def whole_service(params: Any) -> None:
    """Refuse an endpoint filter: the tenant reports cover every endpoint."""
    from tributary_analysis.errors import ConfigError

    if params.endpoint:
        raise ConfigError(f"endpoint={params.endpoint!r}: the tenant reports cover every "
                          "endpoint; leave endpoint=None")


def noisy_figures(fleet: Any) -> list[Any]:
    """For a flagged noisy neighbour: its requests per bin over the other tenants'
    latency; a sentence when no tenant is flagged."""
    from tributary_analysis.viz import tenant as tviz

    noisy = fleet.noisy
    if not len(noisy) or not bool(noisy["noisy"].iloc[0]):
        return ["<p>No tenant's surge coincides with the other tenants' latency in this "
                "window.</p>"]
    suspect = str(noisy["tenant_id"].iloc[0])
    return [tviz.noisy_neighbour_chart(fleet.requests, fleet.latency, suspect)]


def fleet_figures(fleet: Any, data: Any) -> dict[str, Any]:
    """The fleet report's figures by section: ``usage`` (who carries the load),
    ``limits`` (refused requests over time, or a sentence when nobody was refused)."""
    from tributary_analysis.viz import tenant as tviz

    hits = fleet_frame(data, "rate_limit_hits", fleet)
    limits = tviz.rate_limit_hits_chart(hits, data.step)
    return {"usage": [tviz.top_tenants_chart(fleet_frame(data, "requests", fleet),
                                             data.step)] if len(fleet.usage) else [],
            "limits": [limits] if limits is not None else []}


def fleet_frame(data: Any, family: str, fleet: Any) -> pd.DataFrame:
    """A family's all-tenant frame, restricted to the tenants of the fleet report."""
    frame = data.all_frames[family]
    if len(frame) == 0:
        return frame
    keep = frame["tenant_id"].astype(str).isin([str(t) for t in fleet.usage.index])
    return frame.loc[keep.to_numpy(dtype=bool)]


def export_chargeback(fleet: Any, path: str | None) -> str:
    """Write the chargeback table as CSV to ``path`` (nothing when empty); the sentence
    the page shows (never the local path)."""
    if not path:
        return ""
    fleet.chargeback.to_csv(path, index=False)
    return (f"<p>The chargeback table ({len(fleet.chargeback):,} tenants, "
            f"{len(fleet.chargeback.columns)} columns) was written as CSV to "
            "<code>export_path</code>.</p>")


def describe_window(window: Window, step: pd.Timedelta) -> str:
    """``2026-01-01 00:00 – 2026-01-08 00:00 UTC (7 d) · bins of 1 h``."""
    return f"{window.label()} ({fmt.human_duration(window.duration)}) · bins of " \
           f"{fmt.human_duration(step)}"


#: the sections of the report for one tenant, in page order
SECTIONS = ("usage", "latency", "limits", "growth", "endpoints", "datasets")


def page_blocks(report: TenantReport, step: pd.Timedelta) -> dict[str, list[Any]]:
    """Each section's tables (HTML) and figures, by section name (:data:`SECTIONS`); a
    tenant without data gets one line per section pointing at the answer."""
    from tributary_analysis.viz import tenant as tviz

    if not report.has_data:
        line = no_data_html(report)
        return {name: [closest_html(report)] if name == "usage" else [line]
                for name in SECTIONS}
    t = tviz.tenant_tables(report)
    limit_fig = tviz.limit_chart(report.remaining_over_time, report.limits)
    return {
        "usage": [t["usage"], tviz.requests_over_time_chart(report.over_time, step,
                                                            tenant=report.tenant)],
        "latency": [t["latency"], tviz.latency_vs_fleet_chart(report.latency_over_time, step),
                    t["errors"]],
        "limits": [t["limits"], *([limit_fig] if limit_fig is not None else [])],
        "growth": [growth_html(report)],
        "endpoints": [tviz.endpoints_chart(report.endpoints), t["endpoints"],
                      t["search_types"], t["operations"]],
        "datasets": [t["datasets"]],
    }


def growth_html(report: TenantReport) -> str:
    """Week-over-week growth of the tenant and the fleet, or why it is withheld."""
    from tributary_analysis.analysis.tenant_report import Growth

    g = report.growth
    if isinstance(g, Insufficient):
        return (f"<p class='withheld'>Growth is withheld: {html.escape(g.message())}. "
                "A trend fitted to a shorter window would mostly measure the daily cycle."
                "</p>")
    if not isinstance(g, Growth):
        return "<p class='tributary-empty'>No growth figure for this window.</p>"
    mine = g.of(report.tenant) or {"current": 0.0, "earlier": 0.0, "growth": float("nan"),
                                   "new": False}
    rows = [("This tenant", mine["current"], mine["earlier"],
             "new this week" if mine["new"] else fmt.percent(mine["growth"], signed=True)),
            ("Fleet", g.fleet_current, g.fleet_earlier, fmt.percent(g.fleet, signed=True))]
    body = "".join(f"<tr><td>{html.escape(a)}</td><td class='num'>{fmt.count(b)}</td>"
                   f"<td class='num'>{fmt.count(c)}</td><td class='num'>{html.escape(d)}</td>"
                   "</tr>" for a, b, c, d in rows)
    return ("<table class='tributary-table'><caption>Requests in the last 24 h against the "
            "same 24 h a week earlier (as of the window's end)</caption><thead><tr><th></th>"
            "<th class='num'>Last 24 h</th><th class='num'>Same hours a week earlier</th>"
            f"<th class='num'>Growth</th></tr></thead><tbody>{body}</tbody></table>")


def show(blocks: Iterable[Any]) -> None:
    """Display a section's blocks: HTML strings as HTML, figures as figures."""
    from IPython.display import HTML, display

    for block in blocks:
        if isinstance(block, str):
            if block:
                display(HTML(block))
        else:
            display(block)
