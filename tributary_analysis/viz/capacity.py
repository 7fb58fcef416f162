"""Observed capacity histories, drawn when no forecast is (or beside one).

A forecast the history cannot carry is withheld as text ("not enough data (have X, need
Y)"), but what *was* observed still tells a planner where the resource stands: the
request rate's daily swing, the vectors held, each replica's memory and connections
against their limits. :func:`observed_chart` draws those series, one line per column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tributary_analysis.viz.theme import BAD
from tributary_analysis.viz.timeseries import line_chart

__all__ = ["observed_chart"]


def observed_chart(history: pd.Series | pd.DataFrame, *, title: str, y_title: str,
                   limit: float | pd.Series | None = None, scale: float = 1.0,
                   subtitle: str = "") -> go.Figure:
    """The observed series over time, one line per column, with the limit as a line.

    Parameters
    ----------
    history : Series or DataFrame
        Time-indexed values (a wide frame: one column per replica or tenant).
    title, y_title, subtitle : str
        Texts of the chart (``subtitle`` says why no forecast is drawn, when it is not).
    limit : float or Series, optional
        One limit for every line, or one per column (drawn when all columns share it).
    scale : float
        Divides every value and the limit (``2**30`` → GiB).

    Returns
    -------
    plotly.graph_objects.Figure
    """
    wide = history.to_frame() if isinstance(history, pd.Series) else history
    idx = pd.DatetimeIndex(wide.index)
    wide = wide.set_axis(idx.tz_localize("UTC") if idx.tz is None else idx, axis=0)
    long = (wide.rename_axis("timestamp").reset_index()
            .melt(id_vars="timestamp", var_name="series", value_name="value")
            .dropna(subset=["value"]))
    long["value"] = long["value"].astype(float) / scale
    fig = line_chart(long, by="series" if wide.shape[1] > 1 else None, title=title,
                     y_title=y_title, subtitle=subtitle)
    if wide.shape[1] == 1:
        fig.update_traces(name=str(wide.columns[0]), showlegend=False)
    level = _one_limit(limit)
    if level is not None:
        fig.add_hline(y=level / scale, line={"color": BAD, "dash": "dot"},
                      annotation_text="limit", annotation_position="top left")
    return fig


def _one_limit(limit: float | pd.Series | None) -> float | None:
    """The limit to draw: a number, or the value every column shares (else none)."""
    if limit is None:
        return None
    if isinstance(limit, pd.Series):
        vals = limit.dropna().astype(float).unique()
        return float(vals[0]) if len(vals) == 1 else None
    return float(limit) if np.isfinite(limit) else None
