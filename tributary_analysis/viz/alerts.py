"""Figures of the alert review beyond the timeline (:func:`..planning.alert_timeline`).

* :func:`signal_chart`: what an alert compares — its expression without the threshold —
  over the window, with the rule's threshold and the variants' thresholds drawn on it, so
  a reader sees how close the signal came to each;
* :func:`server_comparison_chart`: per rule, the replay's firing intervals above
  Prometheus's own (``ALERTS``), coloured by the comparison's outcome.

Rule names and label values are untrusted text: they pass through
:func:`~tributary_analysis.viz._safe.safe_text` and never into a ``hovertemplate``.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import plotly.graph_objects as go

from tributary_analysis.analysis.alerts import (
    DIFFERENT,
    ONLY_REPLAY,
    ONLY_SERVER,
    SAME,
    ServerComparison,
)
from tributary_analysis.ground.time import Window, format_duration
from tributary_analysis.viz._safe import safe_text
from tributary_analysis.viz.theme import BAD, GOOD, NEUTRAL, PALETTE
from tributary_analysis.viz.timeseries import _layout, line_chart

__all__ = ["server_comparison_chart", "signal_chart"]

_OUTCOME_COLOURS = {SAME: GOOD, DIFFERENT: BAD, ONLY_REPLAY: PALETTE[1 % len(PALETTE)],
                    ONLY_SERVER: PALETTE[2 % len(PALETTE)]}


def signal_chart(signal: pd.DataFrame, *, rule: str, op: str, threshold: float,
                 variants: Sequence[float] = (), y_title: str = "Value",
                 window: Window | None = None, max_series: int = 8) -> go.Figure:
    """The rule's signal per series with its threshold (solid) and variants (dotted).

    ``signal`` is a long metric frame (``timestamp``, ``value``, label columns) of the
    expression without its comparison.
    """
    labels = [c for c in signal.columns if c not in ("timestamp", "value", "metric")]
    fig = line_chart(signal, by=labels or None, title=f"{rule}: the signal against its "
                     "threshold", y_title=y_title, max_series=max_series,
                     subtitle=f"fires while the value is {op} the threshold (for: holding)")
    fig.add_hline(y=threshold, line={"color": BAD, "width": 1.6},
                  annotation_text=f"threshold {threshold:g}", annotation_position="top left",
                  annotation_font={"size": 11, "color": BAD})
    for v in variants:
        fig.add_hline(y=v, line={"color": NEUTRAL, "width": 1.2, "dash": "dot"},
                      annotation_text=f"variant {v:g}", annotation_position="bottom right",
                      annotation_font={"size": 10, "color": NEUTRAL})
    if window is not None:
        fig.update_xaxes(range=[window.start, window.end])
    return fig


def server_comparison_chart(cmp: ServerComparison, *,
                            title: str = "The replay against Prometheus's own alerts"
                            ) -> go.Figure:
    """Two rows per rule (replay, Prometheus), a bar per firing interval, coloured by
    outcome (same / different times / only on one side)."""
    fig = go.Figure()
    rows: list[str] = []
    for rule in cmp.rules["rule"].astype(str):
        rows += [f"{safe_text(rule, 60)} · replay", f"{safe_text(rule, 60)} · Prometheus"]
    shown: set[str] = set()
    for r in cmp.intervals.to_dict("records"):
        rule = safe_text(r["rule"], 60)
        for side, a, b in (("replay", r["replay_start"], r["replay_end"]),
                           ("Prometheus", r["server_start"], r["server_end"])):
            if pd.isna(a):
                continue
            outcome = str(r["outcome"])
            fig.add_trace(go.Bar(
                base=[a], x=[(pd.Timestamp(b) - pd.Timestamp(a)).total_seconds() * 1000],
                y=[f"{rule} · {side}"], orientation="h", width=0.6,
                marker={"color": _OUTCOME_COLOURS[outcome]}, name=outcome,
                legendgroup=outcome, showlegend=outcome not in shown,
                customdata=[[safe_text(r["series"], 200)]],
                hovertemplate="%{base|%Y-%m-%d %H:%M:%S}<br>%{customdata[0]}<extra></extra>"))
            shown.add(outcome)
    if rows:  # quiet rules keep their rows
        fig.add_trace(go.Scatter(x=[cmp.start] * len(rows), y=rows, mode="markers",
                                 marker={"opacity": 0}, showlegend=False, hoverinfo="skip"))
    fig.update_yaxes(categoryorder="array", categoryarray=rows[::-1], type="category")
    fig.update_xaxes(type="date", range=[cmp.start, cmp.end])
    fig.update_layout(barmode="overlay", height=max(260, 28 * len(rows) + 140))
    return _layout(fig, title, "Rule · source",
                   subtitle=f"same = both ends within {format_duration(cmp.tolerance)}")
