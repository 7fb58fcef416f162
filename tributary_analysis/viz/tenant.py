"""Figures and tables of the report for one tenant (and the fleet tenant report's tables).

Every number goes through :mod:`tributary_analysis.ground.format` (counts ``14,380``,
shares ``20.7 %``, latencies ``388 ms``, ``—`` for a missing value, the "not enough data"
sentence for a withheld one); tables are plain HTML without an index column, every cell
escaped (tenant, dataset and endpoint names are untrusted), narrow enough for a 1280 px
page. Figures escape untrusted text in names and labels (:mod:`._safe`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.viz._safe import safe_text
from tributary_analysis.viz.axes import set_log_axis
from tributary_analysis.viz.theme import BAD, NEUTRAL, PALETTE, THEME

__all__ = [
    "Column", "endpoints_chart", "html_table", "latency_vs_fleet_chart", "limit_chart",
    "requests_over_time_chart", "tenant_tables",
]

TIME_TITLE = "Time (UTC)"
TENANT_COLOR, FLEET_COLOR = PALETTE[0], NEUTRAL

#: a table column: (header, column name, formatter of one cell value, align right?)
Column = tuple[str, str, Callable[[Any], str], bool]


def _cell(value: Any, formatter: Callable[[Any], str]) -> str:
    if isinstance(value, Insufficient):
        return f"<span class='withheld' title='{html.escape(value.message(), quote=True)}'>" \
               f"{html.escape(value.short())}</span>"
    if fmt.is_missing(value):
        return fmt.MISSING
    return html.escape(formatter(value))


def html_table(df: pd.DataFrame, columns: Sequence[Column], *, caption: str = "",
               empty: str = "Nothing in this window.", css_class: str = "tributary-table"
               ) -> str:
    """``df`` as an HTML table of the given columns: formatted, escaped, no index.

    Parameters
    ----------
    df : DataFrame
        The rows, in order.
    columns : sequence of (header, column, formatter, right-aligned)
        What to show; ``formatter`` gets the raw cell (an :class:`Insufficient` cell shows
        its "not enough data" sentence, a missing one ``—``).
    caption : str
        Shown above the table (escaped).
    empty : str
        Said instead of an empty table.
    """
    cap = (f"<caption style='text-align:left;caption-side:top'>{html.escape(caption)}"
           "</caption>" if caption else "")
    if df is None or len(df) == 0:
        return f"<p class='tributary-empty'>{html.escape(empty)}</p>"

    def align(right: bool) -> str:  # explicit: the notebook stylesheet right-aligns all
        return " class='num' style='text-align:right'" if right else \
            " style='text-align:left'"

    head = "".join(f"<th{align(r)}>{html.escape(h)}</th>" for h, _, _, r in columns)
    rows = []
    for rec in df.to_dict(orient="records"):
        cells = "".join(f"<td{align(r)}>{_cell(rec.get(c), f)}</td>" for _, c, f, r in columns)
        rows.append(f"<tr>{cells}</tr>")
    return (f"<table class='{css_class}'>{cap}<thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def _text(v: Any) -> str:
    return str(v)


def _count(v: Any) -> str:
    return fmt.count(float(v))


def _pct(v: Any) -> str:
    return fmt.percent(float(v))


def _ms(v: Any) -> str:
    return fmt.human_seconds(float(v))


def tenant_tables(report: Any) -> dict[str, str]:
    """Every table of a :class:`~tributary_analysis.analysis.tenant_report.TenantReport`
    as HTML, by name: ``usage``, ``latency``, ``endpoints``, ``search_types``,
    ``operations``, ``errors``, ``datasets``, ``limits``."""
    out: dict[str, str] = {}
    out["usage"] = html_table(report.usage, [
        ("Measure", "measure", _text, False), ("This tenant", "tenant", _count, True),
        ("Fleet", "fleet", _count, True), ("Share of fleet", "share", _pct, True)],
        caption="Totals over the window; datasets and vectors at its end.")
    out["latency"] = html_table(report.latency, [
        ("Quantile", "measure", _text, False), ("This tenant", "tenant", _ms, True),
        ("Other tenants", "others", _ms, True), ("Whole fleet", "fleet", _ms, True)],
        caption="Request duration over the window (the duration histogram, summed).")
    out["endpoints"] = html_table(report.endpoints.head(8), [
        ("Endpoint", "endpoint", _text, False), ("Requests", "count", _count, True),
        ("Share of their requests", "share_of_tenant", _pct, True),
        ("Their share of the endpoint", "share_of_fleet", _pct, True),
        ("5xx ratio", "error_ratio", _pct, True)],
        caption=_more(report.endpoints, 8, "endpoint"))
    out["search_types"] = html_table(report.search_types, [
        ("Search type", "search_type", _text, False), ("Searches", "count", _count, True),
        ("Share of their searches", "share_of_tenant", _pct, True),
        ("p95 (tenant)", "p95", _ms, True), ("p95 (fleet)", "fleet_p95", _ms, True)],
        empty="No searches in this window.")
    out["operations"] = html_table(report.operations, [
        ("Operation", "operation", _text, False), ("Vector operations", "count", _count, True),
        ("Share of theirs", "share_of_tenant", _pct, True),
        ("Their share of the fleet's", "share_of_fleet", _pct, True)],
        empty="No vector operations in this window.")
    out["errors"] = html_table(report.error_types.head(10), [
        ("Error type", "error_type", _text, False), ("Code", "error_code", _text, False),
        ("Errors", "count", _count, True)],
        empty="No application errors in this window.",
        caption="Application errors of this tenant (errors_total) by type and code. "
                + _more(report.error_types, 10, "error code"))
    out["datasets"] = html_table(report.datasets.head(20), [
        ("Dataset", "dataset_id", _text, False), ("Vectors", "vectors", _count, True),
        ("At the window's start", "vectors_at_start", _count, True),
        ("Change", "change", lambda v: ("+" if float(v) > 0 else "") + fmt.count(float(v)),
         True)],
        empty="No datasets reported in this window.",
        caption=_more(report.datasets, 20, "dataset"))
    limits = report.limits.assign(limit_text=[
        f"≥ {fmt.count(r.limit)} per {r.period}" if math.isfinite(r.limit) else fmt.MISSING
        for r in report.limits.itertuples()]) if len(report.limits) else report.limits
    out["limits"] = html_table(limits, [
        ("Limit", "limit_type", _text, False), ("Limit (most seen remaining)", "limit_text",
                                                 _text, True),
        ("Hits", "hits", _count, True), ("Share of their requests", "hit_ratio", _pct, True),
        ("Least remaining (sampled)", "least_remaining", _count, True),
        ("Peak use", "peak_use", _pct, True)],
        empty="The service reported no rate limit for this tenant in this window.")
    return out


def _more(df: pd.DataFrame, shown: int, what: str) -> str:
    extra = len(df) - shown
    return f"Top {shown} of {len(df):,} {what}s; {extra:,} more not shown." if extra > 0 \
        else ""


# ---------------------------------------------------------------------- figures

def _layout(fig: go.Figure, title: str, y_title: str, subtitle: str = "",
            x_title: str = TIME_TITLE) -> go.Figure:
    text = safe_text(title, 200) + (f"<br><sup>{safe_text(subtitle, 300)}</sup>"
                                    if subtitle else "")
    fig.update_layout(template=THEME, title={"text": text},
                      legend={"orientation": "h", "y": -0.2, "x": 0})
    fig.update_layout(xaxis_title_text=x_title, yaxis_title_text=y_title)
    return fig


def requests_over_time_chart(over_time: pd.DataFrame, step: pd.Timedelta, *,
                             tenant: str) -> go.Figure:
    """The tenant's requests per bin (bars, 5xx in the error colour) and their share of
    the fleet's requests (line, right axis in %)."""
    fig = go.Figure()
    d = over_time.sort_values("timestamp")
    ok = (d["requests"] - d["errors"]).clip(lower=0)
    fig.add_trace(go.Bar(x=d["timestamp"], y=ok, name="requests (not 5xx)",
                         marker={"color": TENANT_COLOR}, hovertemplate="%{y:,.0f}<extra>"
                         "requests</extra>"))
    fig.add_trace(go.Bar(x=d["timestamp"], y=d["errors"], name="5xx",
                         marker={"color": BAD}, hovertemplate="%{y:,.0f}<extra>5xx</extra>"))
    fig.add_trace(go.Scatter(x=d["timestamp"], y=d["share"] * 100, name="share of the fleet",
                             mode="lines", yaxis="y2",
                             line={"color": PALETTE[1], "width": 2},
                             hovertemplate="%{y:.1f} %<extra>share of the fleet</extra>"))
    share_max = float(np.nanmax(d["share"].to_numpy(dtype=float))) if len(d) and \
        np.isfinite(d["share"].to_numpy(dtype=float)).any() else 1.0
    bins = fmt.human_duration(step)
    fig = _layout(fig, f"Requests from {tenant}", f"Requests per {bins}",
                  subtitle=f"{bins} bins; line: their share of all tenants' requests")
    fig.update_layout(barmode="stack", bargap=0.05, yaxis2={
        "overlaying": "y", "side": "right", "title": {"text": "Share of fleet requests"},
        "range": [0, min(100.0, max(share_max * 100 * 1.15, 1.0))], "showgrid": False,
        "ticksuffix": " %", "tickformat": ".0f", "rangemode": "tozero"})
    return fig


def latency_vs_fleet_chart(lat: pd.DataFrame, step: pd.Timedelta) -> go.Figure:
    """p95 latency per bin, the tenant against the other tenants (bins with fewer than
    100 requests are left out: their p95 would be a guess)."""
    fig = go.Figure()
    for who, color, dash in (("tenant", TENANT_COLOR, "solid"),
                             ("others", FLEET_COLOR, "dot")):
        part = lat[lat["who"] == who].sort_values("timestamp") if len(lat) else lat
        if part is None or len(part) == 0:
            continue
        fig.add_trace(go.Scatter(
            x=part["timestamp"], y=part["value"], mode="lines", connectgaps=False,
            name="this tenant" if who == "tenant" else "the other tenants",
            line={"color": color, "dash": dash, "width": 2},
            customdata=[fmt.human_seconds(v) if np.isfinite(v) else fmt.MISSING
                        for v in part["value"].to_numpy(dtype=float)],
            hovertemplate="%{customdata}<extra>%{fullData.name}</extra>"))
    bins = fmt.human_duration(step)
    fig = _layout(fig, "p95 latency against the other tenants", "p95 latency (log scale)",
                  subtitle=f"{bins} bins; bins with fewer than 100 requests are not drawn")
    return set_log_axis(fig)


def limit_chart(remaining: pd.DataFrame, limits: pd.DataFrame) -> go.Figure | None:
    """Remaining rate-limit capacity per sample against the limit (the most seen
    remaining); ``None`` when the tenant has no limit series (nothing to draw: the page
    says so instead of an empty axis)."""
    if remaining is None or len(remaining) == 0 or len(limits) == 0:
        return None
    fig = go.Figure()
    top = 0.0
    for i, (lt, part) in enumerate(remaining.groupby(remaining["limit_type"].astype(str))):
        part = part.sort_values("timestamp")
        color = PALETTE[i % len(PALETTE)]
        name = safe_text(lt)
        fig.add_trace(go.Scatter(x=part["timestamp"], y=part["value"], mode="lines",
                                 name=f"remaining ({name})", line={"color": color}))
        row = limits[limits["limit_type"].astype(str) == lt]
        if len(row) and math.isfinite(float(row["limit"].iloc[0])):
            lim = float(row["limit"].iloc[0])
            top = max(top, lim)
            fig.add_hline(y=lim, line={"color": color, "dash": "dash", "width": 1},
                          annotation_text=f"limit ≥ {fmt.count(lim)}",
                          annotation_position="top left")
    top = max(top, float(pd.to_numeric(remaining["value"], errors="coerce").max() or 0.0))
    fig.update_yaxes(range=[0, max(top * 1.12, 1.0)], rangemode="tozero")
    return _layout(fig, "Rate-limit capacity left", "Requests left in the limit window",
                   subtitle="sampled once per bin; 0 = limited (requests refused with 429)")


def endpoints_chart(endpoints: pd.DataFrame, *, top: int = 8) -> go.Figure:
    """The tenant's requests by endpoint (top ``top`` and "other"), horizontal bars."""
    d = endpoints.sort_values("count", ascending=False)
    shown = d.head(top)
    rest = float(d["count"].iloc[top:].sum()) if len(d) > top else 0.0
    labels = [safe_text(e) for e in shown["endpoint"]]
    values = shown["count"].to_list()
    if rest > 0:
        labels.append(f"other ({len(d) - top} endpoints)")
        values.append(rest)
    fig = go.Figure(go.Bar(
        y=labels[::-1], x=values[::-1], orientation="h", marker={"color": TENANT_COLOR},
        customdata=[fmt.count(v) for v in values[::-1]],
        hovertemplate="%{customdata} requests<extra></extra>"))
    fig.update_layout(height=max(260, 60 + 34 * len(labels)))
    return _layout(fig, "Requests by endpoint", "", x_title="Requests in the window")


# ---------------------------------------------------------------------- the fleet report

def _p_value(v: Any) -> str:
    v = float(v)
    return "< 0.001" if v < 0.001 else fmt.number(v)


def _yes(v: Any) -> str:
    return "yes" if bool(v) else "no"


def fleet_tables(usage: pd.DataFrame, noisy: pd.DataFrame, limited: pd.DataFrame,
                 growth: Any, charge: pd.DataFrame, *, top: int = 25) -> dict[str, str]:
    """The fleet tenant report's tables as HTML, by name: ``usage``, ``noisy``,
    ``limited``, ``growth``, ``chargeback`` (each the ``top`` first rows, saying how many
    more there are)."""
    from tributary_analysis.analysis.tenants import Growth

    u = usage.reset_index() if "tenant_id" not in usage.columns else usage
    cols: list[Column] = [("Tenant", "tenant_id", _text, False),
                          ("Requests", "requests", _count, True),
                          ("Share", "requests_share", _pct, True)]
    for name, col, f in (("Searches", "searches", _count), ("Vector operations",
                         "vector_ops", _count), ("Datasets", "datasets", _count),
                         ("Vectors", "vectors", _count),
                         ("Rate-limit hits", "rate_limit_hits", _count),
                         ("Cache hit ratio", "cache_hit_ratio", _pct)):
        if col in u.columns:
            cols.append((name, col, f, True))
    out = {"usage": html_table(u.head(top), cols, caption=_more(u, top, "tenant"),
                               empty="No tenant sent a request in this window.")}
    surged = noisy["surge_bins"] > 0 if len(noisy) else pd.Series(dtype=bool)
    shown = noisy.assign(
        score_text=[fmt.number(float(v)) if s and np.isfinite(v) else "no surge"
                    for v, s in zip(noisy["score"], surged, strict=True)],
        q_text=[_p_value(v) if s and np.isfinite(v) else "—"
                for v, s in zip(noisy["q_value"], surged, strict=True)],
        overlap_text=[fmt.percent(float(v)) if s else "—"
                      for v, s in zip(noisy["overlap"], surged, strict=True)]) \
        if len(noisy) else noisy
    out["noisy"] = html_table(shown.head(top), [
        ("Tenant", "tenant_id", _text, False), ("Flagged", "noisy", _yes, False),
        ("Score", "score_text", _text, True),
        ("q-value", "q_text", _text, True), ("Overlap", "overlap_text", _text, True),
        ("Best lag (bins)", "best_lag", _count, True),
        ("Surge bins", "surge_bins", _count, True),
        ("Peak / expected", "peak_ratio", lambda v: fmt.multiplier(float(v)), True)],
        caption=_more(noisy, top, "tenant"),
        empty="Fewer than two tenants: nobody to be a neighbour to.")
    out["limited"] = html_table(limited.head(top), [
        ("Tenant", "tenant_id", _text, False), ("Refused requests", "rate_limit_hits",
                                                _count, True),
        ("Their requests", "requests", _count, True),
        ("Share refused", "hit_ratio", _pct, True)],
        caption=_more(limited, top, "tenant"), empty="No tenant was rate-limited.")
    if isinstance(growth, Growth):
        g = growth.per_tenant.assign(growth_text=[
            "new this week" if new else fmt.percent(v, signed=True)
            for v, new in zip(growth.per_tenant["growth"], growth.per_tenant["new"],
                              strict=True)])
        out["growth"] = html_table(g.head(top), [
            ("Tenant", "tenant_id", _text, False), ("Last 24 h", "current", _count, True),
            ("Same hours a week earlier", "earlier", _count, True),
            ("Growth", "growth_text", _text, True)],
            caption=f"Fleet: {fmt.percent(growth.fleet, signed=True)} week over week. "
                    + _more(g, top, "tenant"))
    else:
        gap = growth.message() if isinstance(growth, Insufficient) else "no growth figure"
        out["growth"] = (f"<p class='withheld'>Growth is withheld: {html.escape(gap)}. A "
                         "trend fitted to a shorter window would mostly measure the daily "
                         "cycle.</p>")
    ccols: list[Column] = [("Tenant", "tenant_id", _text, False)]
    for name, col, f in (("Requests", "requests", _count), ("Share", "requests_share", _pct),
                         ("Searches", "searches", _count),
                         ("Vector operations", "vector_ops", _count),
                         ("Vectors", "vectors", _count),
                         ("Vector share", "vectors_share", _pct),
                         ("Cost", "cost", lambda v: fmt.number(float(v))),
                         ("Cost share", "cost_share", _pct)):
        if col in charge.columns:
            ccols.append((name, col, f, True))
    out["chargeback"] = html_table(charge.head(top), ccols,
                                   caption=_more(charge, top, "tenant"),
                                   empty="No usage to charge in this window.")
    return out


def noisy_neighbour_chart(requests: pd.DataFrame, latency: pd.DataFrame, suspect: str
                          ) -> go.Figure:
    """The suspect's requests per bin (top) over the other tenants' latency (bottom: the
    median over the other tenants of their mean latency per bin) on one time axis."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        row_heights=[0.5, 0.5])
    mine = requests[requests["tenant_id"].astype(str) == suspect]
    per = pd.to_numeric(mine["value"], errors="coerce").groupby(
        pd.to_datetime(mine["timestamp"], utc=True)).sum().sort_index()
    fig.add_trace(go.Scatter(x=per.index, y=per.to_numpy(), mode="lines",
                             name=f"requests of {safe_text(suspect)}",
                             line={"color": BAD, "width": 1.5}), row=1, col=1)
    others = latency[latency["tenant_id"].astype(str) != suspect]
    med = pd.to_numeric(others["value"], errors="coerce").groupby(
        pd.to_datetime(others["timestamp"], utc=True)).median().sort_index() * 1000
    fig.add_trace(go.Scatter(x=med.index, y=med.to_numpy(), mode="lines",
                             name="the other tenants' latency (median of their means)",
                             line={"color": TENANT_COLOR, "width": 1.5},
                             hovertemplate="%{y:.0f} ms<extra></extra>"), row=2, col=1)
    fig.update_layout(template=THEME, height=520, legend={"orientation": "h", "y": -0.15},
                      title={"text": f"{safe_text(suspect)} against the other tenants"})
    fig.update_yaxes(title_text="Requests per bin", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="Latency (ms)", row=2, col=1, rangemode="tozero")
    fig.update_xaxes(title_text=TIME_TITLE, row=2, col=1)
    return fig


def top_tenants_chart(counts: pd.DataFrame, step: pd.Timedelta, *, top: int = 7
                      ) -> go.Figure:
    """Requests per bin of the ``top`` busiest tenants and of all the others together,
    stacked: who carries the load, and when."""
    d = counts.assign(value=pd.to_numeric(counts["value"], errors="coerce").fillna(0.0),
                      tenant_id=counts["tenant_id"].astype(str))
    order = d.groupby("tenant_id")["value"].sum().sort_values(ascending=False)
    leaders = list(order.index[:top])
    d["who"] = d["tenant_id"].where(d["tenant_id"].isin(leaders), "other tenants")
    wide = d.pivot_table(index="timestamp", columns="who", values="value", aggfunc="sum",
                         fill_value=0.0).sort_index()
    fig = go.Figure()
    names = [*leaders, *(["other tenants"] if "other tenants" in wide.columns else [])]
    for i, name in enumerate(names):
        color = NEUTRAL if name == "other tenants" else PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Scatter(
            x=wide.index, y=wide[name], mode="lines", stackgroup="one",
            name=safe_text(name) if name != "other tenants" else
            f"other tenants ({len(order) - len(leaders)})",
            line={"width": 0.5, "color": color},
            hovertemplate="%{y:,.0f}<extra>%{fullData.name}</extra>"))
    bins = fmt.human_duration(step)
    fig.update_layout(legend={"orientation": "v"})
    return _layout(fig, f"Requests per tenant, the {min(top, len(order))} busiest and the rest",
                   f"Requests per {bins}", subtitle=f"{bins} bins, stacked")


def rate_limit_hits_chart(hits: pd.DataFrame, step: pd.Timedelta) -> go.Figure | None:
    """Refused requests per bin of each rate-limited tenant; ``None`` when nobody was
    refused (the page says so instead of an empty axis)."""
    if hits is None or len(hits) == 0:
        return None
    d = hits.assign(value=pd.to_numeric(hits["value"], errors="coerce").fillna(0.0),
                    tenant_id=hits["tenant_id"].astype(str))
    totals = d.groupby("tenant_id")["value"].sum()
    limited = list(totals[totals.round() > 0].sort_values(ascending=False).index[:8])
    if not limited:
        return None
    fig = go.Figure()
    for i, t in enumerate(limited):
        part = d[d["tenant_id"] == t].groupby("timestamp")["value"].sum().sort_index()
        fig.add_trace(go.Bar(x=part.index, y=part.to_numpy(), name=safe_text(t),
                             marker={"color": PALETTE[i % len(PALETTE)]},
                             hovertemplate="%{y:,.0f}<extra>%{fullData.name}</extra>"))
    bins = fmt.human_duration(step)
    fig.update_layout(barmode="stack", bargap=0.05)
    fig.update_yaxes(rangemode="tozero")
    return _layout(fig, "Requests refused by a rate limit", f"Refused requests per {bins}",
                   subtitle=f"{bins} bins; {len(limited)} tenant(s) refused")
