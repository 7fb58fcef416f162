"""Ranked and compared quantities: Pareto, growth, attribution, window comparison, error
types, SLO attainment. Category labels (tenants, endpoints) are escaped untrusted text."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tributary_analysis.analysis._common import require_columns
from tributary_analysis.viz._safe import safe_list, safe_text
from tributary_analysis.viz.theme import BAD, GOOD, NEUTRAL, PALETTE, THEME


def _finish(fig: go.Figure, title: str, x_title: str, y_title: str, subtitle: str = ""
            ) -> go.Figure:
    text = safe_text(title, 200) + (f"<br><sup>{safe_text(subtitle, 300)}</sup>"
                                    if subtitle else "")
    fig.update_layout(template=THEME, title={"text": text}, hovermode="closest")
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def pareto_chart(p: pd.DataFrame, column: str = "requests", *, unit: str = "requests",
                 title: str = "Usage by tenant (Pareto)", top: int = 25) -> go.Figure:
    """Bars per tenant, largest first, with the cumulative share on a second axis."""
    require_columns(p, [column, "cumulative_share"], what="pareto frame",
                    hint="build it with analysis.tenants.pareto()")
    head = p.head(top)
    names = safe_list(head.index)
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    fig.add_trace(go.Bar(x=names, y=head[column], name=unit, marker_color=PALETTE[0],
                         hovertemplate="%{x}<br>%{y:,.0f} " + safe_text(unit)
                         + "<extra></extra>"), secondary_y=False)
    fig.add_trace(go.Scatter(x=names, y=head["cumulative_share"] * 100, mode="lines+markers",
                             name="cumulative share", line={"color": BAD},
                             hovertemplate="%{y:.1f} %<extra>cumulative</extra>"),
                  secondary_y=True)
    target = p.attrs.get("target", 0.8)
    n = p.attrs.get("tenants_for_target")
    sub = f"{n} of {len(p)} tenants make up {target:.0%} of {unit}" if n else ""
    if len(p) > top:
        sub += f"; top {top} shown"
    fig = _finish(fig, title, "Tenant", f"{unit.capitalize()} in window", sub)
    fig.update_yaxes(title_text="Cumulative share (%)", range=[0, 105], secondary_y=True)
    return fig


def growth_chart(g: pd.DataFrame, *, title: str = "Growth per tenant") -> go.Figure:
    """Horizontal bars of growth per week (%), with the 95 % interval when fitted."""
    require_columns(g, ["tenant_id", "growth_per_week", "method"], what="growth frame")
    df = g.sort_values("growth_per_week", ascending=True, na_position="first")
    err = None
    if df["low_per_week"].notna().any():
        err = {"type": "data", "symmetric": False,
               "array": (df["high_per_week"] - df["growth_per_week"]) * 100,
               "arrayminus": (df["growth_per_week"] - df["low_per_week"]) * 100}
    colors = [BAD if v > 0 else GOOD for v in df["growth_per_week"].fillna(0)]
    fig = go.Figure(go.Bar(y=safe_list(df["tenant_id"]), x=df["growth_per_week"] * 100,
                           orientation="h", marker_color=colors, error_x=err,
                           hovertemplate="%{y}: %{x:+.1f} % per week<extra></extra>"))
    method = str(df["method"].iloc[0]) if len(df) else ""
    fig = _finish(fig, title, "Growth per week (%)", "Tenant", f"method: {method}")
    fig.update_layout(height=max(300, 24 * len(df) + 120))
    return fig


def attribution_chart(ranking: pd.DataFrame, *, n: int = 12,
                      title: str = "What is different about the selected requests"
                      ) -> go.Figure:
    """Support in the selection against the baseline share for the top-ranked values."""
    require_columns(ranking, ["attribute", "value", "support", "baseline_share",
                              "risk_ratio", "q_value", "significant"], what="attribution frame",
                    hint="build it with analysis.attribution.attribute()")
    top = ranking.head(n).iloc[::-1]
    labels = [f"{safe_text(a, 20)} = {safe_text(v, 40)}"
              for a, v in zip(top["attribute"], top["value"], strict=True)]
    custom = np.column_stack([top["risk_ratio"].to_numpy(dtype=float),
                              top["q_value"].to_numpy(dtype=float)])
    fig = go.Figure()
    fig.add_trace(go.Bar(y=labels, x=top["baseline_share"] * 100, orientation="h",
                         name="share of baseline", marker_color=NEUTRAL, customdata=custom,
                         hovertemplate="%{y}<br>baseline %{x:.1f} %<extra></extra>"))
    fig.add_trace(go.Bar(y=labels, x=top["support"] * 100, orientation="h",
                         name="share of selection",
                         marker_color=[BAD if s else PALETTE[0] for s in top["significant"]],
                         customdata=custom,
                         hovertemplate="%{y}<br>selection %{x:.1f} %<br>risk ratio "
                                       "%{customdata[0]:.2f}<br>q = %{customdata[1]:.2g}"
                                       "<extra></extra>"))
    fig.update_layout(barmode="group", height=max(320, 34 * len(top) + 140))
    sel = ranking.attrs.get("selected")
    sub = (f"{sel} selected vs {ranking.attrs.get('baseline_rows')} baseline requests; red = "
           "significant after Benjamini–Hochberg") if sel else ""
    return _finish(fig, title, "Share of requests (%)", "Attribute = value", sub)


def comparison_chart(cmp: pd.DataFrame, *, by: str = "endpoint", quantile: str = "p95",
                     title: str = "Latency before and after") -> go.Figure:
    """Quantile before vs after per group; regressions marked in the hover and colour."""
    b, a = f"{quantile}_before", f"{quantile}_after"
    require_columns(cmp, [by, b, a, "regression"], what="comparison frame",
                    hint="build it with analysis.latency.compare_windows()")
    labels = safe_list(cmp[by])
    fig = go.Figure()
    fig.add_trace(go.Bar(x=labels, y=cmp[b], name="before", marker_color=NEUTRAL,
                         hovertemplate="%{x}<br>before %{y:.3g} s<extra></extra>"))
    fig.add_trace(go.Bar(x=labels, y=cmp[a], name="after",
                         marker_color=[BAD if r else PALETTE[0] for r in cmp["regression"]],
                         hovertemplate="%{x}<br>after %{y:.3g} s<extra></extra>"))
    fig.update_layout(barmode="group")
    test = str(cmp["test"].iloc[0]) if "test" in cmp and len(cmp) else ""
    return _finish(fig, title, by.replace("_", " ").capitalize(),
                   f"{quantile} latency (seconds)",
                   f"red = significant slowdown ({test}, BH-adjusted)")


def errors_by_type_chart(e: pd.DataFrame, *, title: str = "Errors by type and code",
                         top: int = 15) -> go.Figure:
    """Horizontal bars of error counts per type/code."""
    require_columns(e, ["error_type", "error_code", "errors"], what="errors-by-type frame")
    head = e.head(top).iloc[::-1]
    labels = [f"{safe_text(t, 30)} / {safe_text(c, 30)}"
              for t, c in zip(head["error_type"], head["error_code"], strict=True)]
    fig = go.Figure(go.Bar(y=labels, x=head["errors"], orientation="h", marker_color=BAD,
                           hovertemplate="%{y}: %{x:,.0f} errors<extra></extra>"))
    fig.update_layout(height=max(300, 26 * len(head) + 120))
    return _finish(fig, title, "Errors in window (count)", "Error type / code")


def attainment_chart(att: pd.DataFrame, *, by: str = "endpoint", objective: float | None = None,
                     title: str = "Latency SLO attainment") -> go.Figure:
    """Share of requests under the latency threshold per group, with the objective line.

    The axis is zoomed to the objective: it spans from a little below the lowest bar (or
    the objective) to 100 %, so 98.6 % against a 99 % objective is visible, not a sliver
    at the top of a 0–100 % axis."""
    require_columns(att, [by, "attainment"], what="attainment frame")
    thr = att.attrs.get("threshold")
    values = att["attainment"].astype("float64")
    fig = go.Figure(go.Bar(x=safe_list(att[by]), y=values * 100,
                           marker_color=[BAD if objective is not None and v < objective
                                         else GOOD for v in values.fillna(0)],
                           hovertemplate="%{x}: %{y:.3g} %<extra></extra>"))
    if objective is not None:
        fig.add_hline(y=objective * 100, line={"color": BAD, "dash": "dash"},
                      annotation_text=f"objective {objective:.1%}",
                      annotation_position="top left")
    low = float(np.nanmin([*values.dropna().tolist(), *( [objective] if objective else [])]
                          or [0.0]))
    shortfall = max(1.0 - low, 1e-4)
    bottom = max(0.0, 1.0 - 2.0 * shortfall)
    fig.update_yaxes(range=[bottom * 100, 100.0 + shortfall * 10])
    sub = f"requests faster than {thr:g} s" if thr is not None else ""
    sub += ("; axis zoomed to the objective" if bottom > 0 else "")
    return _finish(fig, title, by.replace("_", " ").capitalize(),
                   "Requests within threshold (%)", sub)
