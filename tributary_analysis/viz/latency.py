"""Figures of the latency page that the shared time-series builders do not cover.

* :func:`bucket_heatmap`: the latency distribution (time × histogram bucket) as plotly's
  long-form heatmap — one ``(x, y, z)`` triple per non-empty cell, so the figure's data are
  the cells it draws (plotly counts them as the trace's points; a 2-D ``z`` grid has none)
  and an empty bucket is left blank instead of a zero-coloured cell.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from tributary_analysis.analysis._common import require_columns
from tributary_analysis.viz.theme import HEATMAP_SCALE
from tributary_analysis.viz.timeseries import _layout

__all__ = ["bucket_heatmap"]


def bucket_heatmap(heat: pd.DataFrame, *, title: str = "Latency distribution",
                   value_title: str = "Requests per bucket") -> go.Figure:
    """The Grafana heatmap panel: time × latency bucket, colour = requests in the bucket.

    Parameters
    ----------
    heat : DataFrame
        :func:`tributary_analysis.analysis.latency.heatmap_data` (``timestamp``,
        ``lower``, ``upper``, ``bucket``, ``count``); rows of one bucket and time are summed.
    title, value_title : str
        The chart's title and the colour bar's.

    Returns
    -------
    plotly.graph_objects.Figure
        Buckets bottom-up from the fastest; cells with no request are not drawn, nor
        buckets that held none in the window.
    """
    require_columns(heat, ["timestamp", "lower", "upper", "bucket", "count"],
                    what="heatmap frame", hint="build it with analysis.latency.heatmap_data()")
    order = heat.drop_duplicates("bucket").sort_values("upper")["bucket"].astype(str).tolist()
    cells = (heat.assign(bucket=heat["bucket"].astype(str))
             .groupby(["timestamp", "bucket"], sort=True)["count"].sum().reset_index())
    cells = cells[cells["count"] > 0]
    # only buckets that hold a request: plotly.js fails on a long-form heatmap whose
    # category array names a row with no cell
    order = [b for b in order if b in set(cells["bucket"])]
    fig = go.Figure(go.Heatmap(
        x=cells["timestamp"], y=cells["bucket"],
        # a plain list: plotly.js fails on a 1-D z sent as a typed array ('bdata')
        z=cells["count"].astype(float).round(3).tolist(),
        colorscale=HEATMAP_SCALE, colorbar={"title": {"text": value_title}},
        hovertemplate="%{x}<br>latency %{y}<br>%{z:,.0f} requests<extra></extra>"))
    fig = _layout(fig, title, "Latency bucket (seconds)")
    fig.update_yaxes(type="category", categoryorder="array", categoryarray=order)
    fig.update_layout(hovermode="closest")
    return fig
