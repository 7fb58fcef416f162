"""Figures for capacity planning and the alert review, in the shared look.

* :func:`forecast_chart`: history, forecast mean, prediction band, the limit and the
  time-to-limit range;
* :func:`alert_timeline`: firing intervals per rule (one row per rule), incidents shaded.

Tenant ids, instances and rule names are untrusted text: they pass through
:func:`~tributary_analysis.viz._safe.safe_text` and never into a ``hovertemplate``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd
import plotly.graph_objects as go

from tributary_analysis.analysis.alerts import AlertBacktest
from tributary_analysis.analysis.forecast import Forecast, TimeToLimit
from tributary_analysis.ground.format import human_duration
from tributary_analysis.ground.time import Window
from tributary_analysis.viz._safe import safe_text
from tributary_analysis.viz.theme import BAD, NEUTRAL, PALETTE, SHADE
from tributary_analysis.viz.timeseries import _layout


def forecast_chart(fc: Forecast, *, title: str, y_title: str, limit: float | None = None,
                   ttl: TimeToLimit | None = None, history_label: str = "observed",
                   scale: float = 1.0) -> go.Figure:
    """History, forecast mean and ``level`` band; the limit as a line and, when given, the
    time-to-limit range as a shaded span. ``scale`` divides values (e.g. ``2**30`` → GiB)."""
    fig = go.Figure()
    h = fc.history / scale
    f = fc.frame / scale
    pct = f"{fc.level:.0%}"
    fig.add_trace(go.Scatter(x=h.index, y=h.to_numpy(), mode="lines", name=history_label,
                             line={"color": PALETTE[0], "width": 1.6},
                             hovertemplate="%{y:.4g}<extra>observed</extra>"))
    fig.add_trace(go.Scatter(x=f.index, y=f["upper"].to_numpy(), mode="lines",
                             line={"width": 0}, showlegend=False, hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=f.index, y=f["lower"].to_numpy(), mode="lines",
                             line={"width": 0}, fill="tonexty",
                             fillcolor="rgba(230, 159, 0, 0.25)",
                             name=f"{pct} prediction interval", hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=f.index, y=f["mean"].to_numpy(), mode="lines",
                             name="forecast", line={"color": PALETTE[1], "dash": "dash"},
                             hovertemplate="%{y:.4g}<extra>forecast</extra>"))
    if limit is not None:
        fig.add_hline(y=limit / scale, line={"color": BAD, "dash": "dot"},
                      annotation_text="limit", annotation_position="top left")
    if ttl is not None and ttl.earliest is not None:
        x0 = ttl.now + ttl.earliest
        x1 = ttl.now + ttl.latest if ttl.latest is not None else ttl.horizon_end
        fig.add_vrect(x0=x0, x1=x1, fillcolor=SHADE, line_width=0, layer="below")
        if ttl.likely is not None:
            fig.add_vline(x=ttl.now + ttl.likely, line={"color": BAD, "width": 1})
    return _layout(fig, title, y_title, subtitle=f"model {fc.method}")


def alert_timeline(backtests: Mapping[str, AlertBacktest] | Sequence[AlertBacktest], *,
                   incidents: pd.DataFrame | None = None,
                   title: str = "When each alert would have fired",
                   window: Window | None = None) -> go.Figure:
    """One row per rule — rules that stayed quiet too — a bar per firing interval (any
    series); incidents shaded. With ``window`` the time axis spans the whole window, so a
    short firing reads as short."""
    bts = list(backtests.values()) if isinstance(backtests, Mapping) else list(backtests)
    fig = go.Figure()
    names = [safe_text(bt.rule, 80) for bt in bts]
    for i, (bt, name) in enumerate(zip(bts, names, strict=True)):
        iv = bt.intervals
        if iv.empty:
            continue
        dur = iv["end"] - iv["start"]
        fig.add_trace(go.Bar(
            base=iv["start"], x=(dur.dt.total_seconds() * 1000).to_numpy(),
            y=[name] * len(iv), orientation="h", width=0.6,
            marker={"color": PALETTE[i % len(PALETTE)]}, name=name, showlegend=False,
            customdata=[[safe_text(s, 200), human_duration(d)]
                        for s, d in zip(iv["series"], dur, strict=True)],
            hovertemplate="%{base|%Y-%m-%d %H:%M} for %{customdata[1]}<br>%{customdata[0]}"
                          "<extra></extra>"))
    fig.update_yaxes(categoryorder="array", categoryarray=names[::-1], type="category",
                     range=[-0.5, max(len(names), 1) - 0.5])
    fig.update_xaxes(type="date")
    if window is not None:
        fig.update_xaxes(range=[window.start, window.end])
    starts = [bt.intervals["start"].min() for bt in bts if len(bt.intervals)]
    anchor = window.start if window is not None else (min(starts) if starts else None)
    if names and anchor is not None:  # quiet rules keep their rows
        fig.add_trace(go.Scatter(x=[anchor] * len(names), y=names, mode="markers",
                                 marker={"opacity": 0}, showlegend=False, hoverinfo="skip"))
    if incidents is not None:
        for _, inc in incidents.iterrows():
            fig.add_vrect(x0=inc["start"], x1=inc["end"], fillcolor=SHADE, line_width=0,
                          layer="below", annotation_text=safe_text(inc.get("name", ""), 40),
                          annotation_position="top left",
                          annotation_font={"size": 10, "color": NEUTRAL})
    fig.update_layout(barmode="overlay", height=max(260, 40 * len(bts) + 120))
    return _layout(fig, title, "Rule")
