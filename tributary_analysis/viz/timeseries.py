"""Figures over time: lines, quantiles with bucket bounds, the latency heatmap, error
ratios with episodes, burn rates and the budget curve. Every axis carries its unit: in its
title, or — on log axes — in every tick label (``1 ms``, ``1 s``; ``10×``, see :mod:`.axes`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tributary_analysis.analysis._common import as_list, require_columns
from tributary_analysis.ground.format import human_duration
from tributary_analysis.ground.time import parse_duration
from tributary_analysis.viz._safe import safe_text
from tributary_analysis.viz.axes import set_log_axis, times_label
from tributary_analysis.viz.theme import BAD, HEATMAP_SCALE, NEUTRAL, PALETTE, SHADE, THEME

TIME_TITLE = "Time (UTC)"
_DASHES = ("solid", "dash", "dot", "dashdot")
#: a data end closer than this to the window's end is not marked (the last scrape)
DATA_END_SLACK = pd.Timedelta(minutes=5)


def _group_label(key: object, keys: list[str]) -> str:
    if not keys:
        return "all"
    vals = key if isinstance(key, tuple) else (key,)
    return " · ".join(safe_text(v) for v in vals)


def _groups(df: pd.DataFrame, keys: list[str]) -> list[tuple[str, pd.DataFrame]]:
    if not keys:
        return [("all", df)]
    return [(_group_label(k, keys), g) for k, g in df.groupby(keys, observed=True, sort=True)]


def _layout(fig: go.Figure, title: str, y_title: str, *, x_title: str = TIME_TITLE,
            subtitle: str = "") -> go.Figure:
    full = safe_text(title, 200)
    if subtitle:
        full += f"<br><sup>{safe_text(subtitle, 300)}</sup>"
    fig.update_layout(template=THEME, title={"text": full})
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


def line_chart(df: pd.DataFrame, *, y: str = "value", by: str | Sequence[str] | None = None,
               title: str, y_title: str, subtitle: str = "", max_series: int = 8,
               other: str | None = None) -> go.Figure:
    """One line per group over time, at most ``max_series`` lines: the largest groups, and
    the rest either summed into one ``other`` line (``other="sum"``, for additive
    quantities such as rates) or left out with the subtitle saying how many."""
    keys = as_list(by)
    require_columns(df, ["timestamp", y, *keys], what="line chart frame")
    groups = _groups(df, keys)
    dropped = 0
    if len(groups) > max_series:
        groups.sort(key=lambda g: -float(np.nansum(g[1][y].to_numpy(dtype=float))))
        keep = max_series - 1 if other == "sum" else max_series
        rest = groups[keep:]
        groups = groups[:keep]
        if other == "sum":
            merged = pd.concat([g for _, g in rest]).groupby("timestamp")[y] \
                .sum(min_count=1).reset_index()
            groups.append((f"other ({len(rest)})", merged))
        else:
            dropped = len(rest)
    fig = go.Figure()
    for i, (name, g) in enumerate(groups):
        g = g.sort_values("timestamp")
        fig.add_trace(go.Scatter(
            x=g["timestamp"], y=g[y], mode="lines", name=name,
            line={"color": NEUTRAL if name.startswith("other (") else PALETTE[i % len(PALETTE)],
                  "width": 1.8},
            hovertemplate="%{y:.4g}<extra>%{fullData.name}</extra>"))
    note = f"{dropped} smaller series not shown" if dropped else ""
    return _layout(fig, title, y_title, subtitle="; ".join(s for s in (subtitle, note) if s))


def mark_data_end(fig: go.Figure, end: pd.Timestamp | None, window_end: pd.Timestamp, *,
                  slack: pd.Timedelta = DATA_END_SLACK) -> go.Figure:
    """A dashed line and "data end" where the data stop, when that is more than ``slack``
    before the window's end: a chart never seems to fall to nothing where there simply
    are no data."""
    if end is None or pd.Timestamp(window_end) - pd.Timestamp(end) <= slack:
        return fig
    fig.add_vline(x=pd.Timestamp(end), line={"color": NEUTRAL, "dash": "dash", "width": 1.2})
    fig.add_annotation(x=pd.Timestamp(end), y=1.0, yref="paper", xanchor="right",
                       yanchor="bottom", text="data end", showarrow=False,
                       font={"size": 11, "color": NEUTRAL})
    return fig


def quantile_chart(q: pd.DataFrame, *, by: str | Sequence[str] | None = ("endpoint",),
                   title: str = "Request latency quantiles",
                   y_title: str | None = None, band_quantile: float | None = 0.95,
                   log_y: bool = True, max_series: int = 8, subtitle: str = "",
                   bin_size: pd.Timedelta | str | None = None) -> go.Figure:
    """Quantile lines per group (dash per quantile) and, for ``band_quantile``, the bucket
    bounds that contain the true value as a shaded band — the histogram's error bar.

    Parameters
    ----------
    q : pandas.DataFrame
        ``timestamp``, ``quantile``, ``value`` (seconds), the ``by`` columns and optionally
        ``lower``/``upper``, as from ``analysis.latency.quantiles_over_time``.
    y_title : str, optional
        Default ``"Latency (log scale)"`` (ticks carry ``ms``/``s``) or
        ``"Latency (seconds)"`` on a linear axis.
    log_y : bool
        Log axis labelled at decades (``1 ms``, ``10 ms``, … ``1 s``), see
        :func:`~tributary_analysis.viz.axes.set_log_axis`.
    subtitle : str
        Extra text under the title (escaped).
    bin_size : Timedelta or str, optional
        The time bin the quantiles were computed over, said in the subtitle
        (``"15-min bins"``): a quantile over few requests per bin is coarse.
    """
    keys = as_list(by)
    require_columns(q, ["timestamp", "quantile", "value", *keys], what="quantile frame")
    fig = go.Figure()
    qs = sorted(q["quantile"].unique())
    groups = _groups(q, keys)[:max_series]
    for i, (name, g) in enumerate(groups):
        color = PALETTE[i % len(PALETTE)]
        for j, qv in enumerate(qs):
            s = g[g["quantile"] == qv].sort_values("timestamp")
            label = (f"p{qv * 100:g}" if not keys else name if len(qs) == 1
                     else f"{name} p{qv * 100:g}")
            if band_quantile is not None and np.isclose(qv, band_quantile) \
                    and {"lower", "upper"} <= set(s.columns):
                upper = s["upper"].where(np.isfinite(s["upper"]))
                fig.add_trace(go.Scatter(x=s["timestamp"], y=upper, mode="lines",
                                         line={"width": 0}, showlegend=False,
                                         hoverinfo="skip", legendgroup=label))
                fig.add_trace(go.Scatter(x=s["timestamp"], y=s["lower"], mode="lines",
                                         line={"width": 0}, fill="tonexty",
                                         fillcolor=_alpha(color, 0.15), hoverinfo="skip",
                                         name=f"{name} p{qv * 100:g} bucket bounds",
                                         legendgroup=label, showlegend=False))
            fig.add_trace(go.Scatter(
                x=s["timestamp"], y=s["value"], mode="lines", name=label, legendgroup=label,
                line={"color": color, "dash": _DASHES[j % len(_DASHES)], "width": 1.8},
                hovertemplate="%{y:.3g} s<extra>%{fullData.name}</extra>"))
    parts = [f"{human_duration(bin_size)} bins"] if bin_size is not None else []
    if band_quantile is not None:
        parts.append(f"shaded: bucket bounds containing the true p{band_quantile * 100:g}")
    if subtitle:
        parts.append(subtitle)
    if y_title is None:
        y_title = "Latency (log scale)" if log_y else "Latency (seconds)"
    fig = _layout(fig, title, y_title, subtitle="; ".join(parts))
    if log_y:
        set_log_axis(fig)
    return fig


def _alpha(hex_color: str, a: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {a})"


def latency_heatmap(heat: pd.DataFrame, *, title: str = "Latency distribution",
                    value_title: str = "Requests per bucket") -> go.Figure:
    """The Grafana heatmap panel: time × latency bucket, colour = requests in the bucket."""
    require_columns(heat, ["timestamp", "lower", "upper", "bucket", "count"],
                    what="heatmap frame", hint="build it with analysis.latency.heatmap_data()")
    order = heat.drop_duplicates("bucket").sort_values("upper")["bucket"].tolist()
    grid = heat.pivot_table(index="bucket", columns="timestamp", values="count",
                            aggfunc="sum").reindex(order)
    fig = go.Figure(go.Heatmap(
        x=grid.columns, y=grid.index, z=grid.to_numpy(), colorscale=HEATMAP_SCALE,
        colorbar={"title": {"text": value_title}},
        hovertemplate="%{x}<br>latency %{y}<br>%{z:.4g} requests<extra></extra>"))
    fig = _layout(fig, title, "Latency bucket (seconds)")
    fig.update_layout(hovermode="closest")
    return fig


def shade_windows(fig: go.Figure, windows: pd.DataFrame, *, label: str = "episode",
                  color: str = SHADE) -> go.Figure:
    """Shade ``start``–``end`` intervals (episodes, incidents, deploy windows); the label
    is written once, on the first interval, so labels never pile up."""
    for i, (_, w) in enumerate(windows.iterrows()):
        fig.add_vrect(x0=w["start"], x1=w["end"], fillcolor=color, line_width=0, layer="below",
                      annotation_text=safe_text(label, 40) if i == 0 else "",
                      annotation_position="top left", annotation_font_size=10)
    return fig


def error_ratio_chart(ratio: pd.DataFrame, *, by: str | Sequence[str] | None = ("endpoint",),
                      episodes: pd.DataFrame | None = None, threshold: float | None = None,
                      title: str = "Error ratio (5xx / all requests)", max_series: int = 8
                      ) -> go.Figure:
    """Error ratio per group in percent, detected episodes shaded, threshold dashed.

    At most ``max_series`` lines: the groups with the most errors, and the others as one
    ``other`` line whose ratio is their summed errors over their summed requests."""
    keys = as_list(by)
    df = ratio
    if keys and {"errors", "total"} <= set(ratio.columns):
        key = ratio[keys].astype(str).agg(" · ".join, axis=1) if len(keys) > 1 \
            else ratio[keys[0]].astype(str)
        order = ratio.assign(_k=key.to_numpy()).groupby("_k")["errors"].sum() \
            .sort_values(ascending=False)
        if len(order) > max_series:
            top = set(order.index[: max_series - 1])
            rest = ~key.isin(top).to_numpy()
            merged = ratio[rest].groupby("timestamp", as_index=False)[["errors", "total"]].sum()
            merged["ratio"] = np.where(merged["total"] > 0,
                                       merged["errors"] / merged["total"].where(
                                           merged["total"] > 0), np.nan)
            label = f"other ({len(order) - len(top)})"
            merged = merged.assign(**{k: label for k in keys})
            df = pd.concat([ratio[~rest], merged], ignore_index=True)
    df = df.assign(percent=df["ratio"] * 100.0)
    fig = line_chart(df, y="percent", by=by, title=title, y_title="Error ratio (%)",
                     max_series=max_series)
    if threshold is not None:
        fig.add_hline(y=threshold * 100.0, line={"color": BAD, "dash": "dash", "width": 1},
                      annotation_text=f"threshold {threshold:.1%}",
                      annotation_position="top right")
    if episodes is not None and not episodes.empty:
        shade_windows(fig, episodes, label="episode")
    return fig


def burn_rate_chart(rates: pd.DataFrame, windows: Sequence[object], *,
                    title: str = "Error-budget burn rate") -> go.Figure:
    """Burn rate per window (log scale) with each pair's factor; firing periods shaded.

    Factor lines carry one label each (``14.4× (1h/5m)``; pairs sharing a factor share the
    label), and each pair's firing periods carry one label, placed in its own row at the
    top: nothing piles up where pairs fire together. Windows are listed shortest first."""
    fig = go.Figure()
    names = sorted((c for c in rates.columns if c.startswith("burn_")),
                   key=lambda c: parse_duration(c.removeprefix("burn_")))
    for i, c in enumerate(names):
        fig.add_trace(go.Scatter(x=rates.index, y=rates[c], mode="lines",
                                 name=f"{c.removeprefix('burn_')} window",
                                 line={"color": PALETTE[i % len(PALETTE)], "width": 1.6},
                                 hovertemplate="%{y:.3g}×<extra>%{fullData.name}</extra>"))
    by_factor: dict[float, list[str]] = {}
    for w in windows:
        by_factor.setdefault(float(getattr(w, "factor", 1.0)), []).append(
            f"{getattr(w, 'long', '')}/{getattr(w, 'short', '')}")
    for factor, pairs in by_factor.items():
        fig.add_hline(y=factor, line={"color": NEUTRAL, "dash": "dot", "width": 1},
                      annotation_text=f"{factor:g}× ({', '.join(pairs)})",
                      annotation_position="top left", annotation_font_size=10)
    row = 0
    for w in windows:
        long, short = getattr(w, "long", ""), getattr(w, "short", "")
        fire = rates.get(f"fire_{long}_{short}")
        if fire is None or not fire.any():
            continue
        runs = _runs(fire)
        for j, (_, r) in enumerate(runs.iterrows()):
            fig.add_vrect(x0=r["start"], x1=r["end"], fillcolor=SHADE, line_width=0,
                          layer="below")
            if j == 0:
                fig.add_annotation(x=r["start"], y=1.0 - 0.06 * row, yref="paper",
                                   xanchor="left", yanchor="top", showarrow=False,
                                   text=f"{long}/{short} fires", font={"size": 10,
                                                                       "color": BAD})
        row += 1
    fig = _layout(fig, title, "Burn rate (× budget pace)")
    positive = rates[names].to_numpy(dtype=float)
    if np.isfinite(positive).any() and np.nanmax(positive) > 0:
        set_log_axis(fig, fmt=times_label,
                     extra=[float(getattr(w, "factor", 1.0)) for w in windows])
    return fig


def _runs(fire: pd.Series) -> pd.DataFrame:
    f = fire.astype(bool)
    idx = f.index
    step = (idx[1] - idx[0]) if len(idx) > 1 else pd.Timedelta(0)
    starts = idx[f & ~f.shift(1, fill_value=False)]
    ends = idx[f & ~f.shift(-1, fill_value=False)]
    return pd.DataFrame({"start": starts, "end": ends + step})


def budget_chart(curve: pd.DataFrame, *, title: str = "Error budget consumption"
                 ) -> go.Figure:
    """Share of the period's error budget spent over time, against the 1× burn line."""
    require_columns(curve, ["timestamp", "consumed", "ideal"], what="budget curve",
                    hint="build it with analysis.slo.budget_consumption()")
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=curve["timestamp"], y=curve["consumed"] * 100, mode="lines",
                             name="budget consumed", line={"color": BAD, "width": 2},
                             hovertemplate="%{y:.1f} %<extra>consumed</extra>"))
    fig.add_trace(go.Scatter(x=curve["timestamp"], y=curve["ideal"] * 100, mode="lines",
                             name="steady 1× burn", line={"color": NEUTRAL, "dash": "dash"},
                             hovertemplate="%{y:.1f} %<extra>1× burn</extra>"))
    fig.add_hline(y=100, line={"color": BAD, "dash": "dot", "width": 1},
                  annotation_text="budget exhausted")
    return _layout(fig, title, "Error budget consumed (%)")
