"""Panel figures in the suite's plotly look: timeseries, stat/gauge tiles, bar gauge, pie,
bucket heatmap.

Values are shown in the panel's unit, scaled once per axis (:mod:`.units`): an axis titled
``GiB`` with ticks ``0 … 3.5``, hover text ``250 ms``; threshold colours are Grafana's named
colours. Every label that comes from the data (series names, label values) is escaped
(:func:`~tributary_analysis.viz._safe.safe_text`). A chart shows at most
:data:`MAX_SERIES` series and says how many more there are; plotly.js is never embedded
(the page loads the shared asset).
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tributary_analysis.dashboards.fetch import Series, distinct_names
from tributary_analysis.dashboards.model import FieldDefaults, Panel
from tributary_analysis.dashboards.reduce import CALC_LABELS, calc_of, reduce_values
from tributary_analysis.dashboards.units import (
    NAMED_COLORS,
    color_hex,
    format_value,
    scale_for,
    shown_decimals,
    unit_label,
)
from tributary_analysis.viz._safe import MAX_LABEL
from tributary_analysis.viz.theme import FONT, HEATMAP_SCALE, PALETTE, THEME

__all__ = [
    "MAX_SERIES",
    "Tile",
    "bargauge_figure",
    "heatmap_figure",
    "pie_figure",
    "tiles_figure",
    "tiles_for",
    "timeseries_figure",
]


def safe_text(value: object, max_len: int = MAX_LABEL) -> str:
    """Untrusted text for plotly's pseudo-HTML: ``<``, ``>``, ``&`` escaped (plotly shows
    ``&quot;`` literally, so quotes stay quotes), long values shortened."""
    text = "" if value is None else str(value)
    if len(text) > max_len:
        text = text[: max_len - 1] + "…"
    return html.escape(text, quote=False)


def _wrap(text: str, width: int) -> str:
    """Break an escaped title into lines of about ``width`` characters (at spaces)."""
    lines: list[str] = []
    line = ""
    for w in text.split(" "):
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "<br>".join(lines[:3])

MAX_SERIES = 8
MAX_TILES_PER_ROW = 4
HOVER_NUMBER = ",.4~r"
NEUTRAL_TEXT = "#24292E"


def _title(title: str, subtitle: str = "") -> dict[str, object]:
    text = safe_text(title, 200)
    if subtitle:
        text += f"<br><sup>{safe_text(subtitle, 300)}</sup>"
    return {"text": text}


def _magnitude(values: Sequence[np.ndarray]) -> float:
    finite = [np.abs(v[np.isfinite(v)]) for v in values if len(v)]
    finite = [f for f in finite if len(f)]
    return float(max(f.max() for f in finite)) if finite else 0.0


def _rank(series: list[Series], limit: int = MAX_SERIES) -> tuple[list[Series], int]:
    """The ``limit`` series with the largest mean magnitude, in the original order."""
    if len(series) <= limit:
        return series, 0
    def weight(s: Series) -> float:
        f = np.abs(s.values[np.isfinite(s.values)])
        return float(f.mean()) if len(f) else -1.0
    keep = set(map(id, sorted(series, key=weight, reverse=True)[:limit]))
    return [s for s in series if id(s) in keep], len(series) - limit


def _axis_range(d: FieldDefaults, factor: float) -> list[float | None] | None:
    lo = d.min if d.min is not None else d.custom.get("axisSoftMin")
    hi = d.max if d.max is not None else d.custom.get("axisSoftMax")
    if lo is None and hi is None:
        return None
    out: list[float | None] = [None if lo is None else float(lo) / factor,
                               None if hi is None else float(hi) / factor]
    return out


def timeseries_figure(panel: Panel, series: list[Series], *, subtitle: str = "",
                      y_title: str = "") -> go.Figure:
    """Lines (or bars / stacked areas, as the panel's field config says) over time;
    ``y_title`` names the axis when the panel sets no unit."""
    fc = panel.field_config
    shown, dropped = _rank(series)
    d0 = fc.defaults
    units = {fc.for_series(s.name, s.ref_id).unit for s in shown}
    right_unit = next((u for u in units if u != d0.unit), None) if len(units) > 1 else None
    axes: dict[str, list[np.ndarray]] = {"y": [], "y2": []}
    for s in shown:
        u = fc.for_series(s.name, s.ref_id).unit
        axes["y2" if right_unit is not None and u == right_unit else "y"].append(s.values)
    scales = {"y": scale_for(d0.unit, _magnitude(axes["y"])),
              "y2": scale_for(right_unit, _magnitude(axes["y2"]))}
    custom = d0.custom
    stack = (custom.get("stacking") or {}).get("mode") if isinstance(
        custom.get("stacking"), dict) else None
    fig = go.Figure()
    shown_names = dict(zip(map(id, series), distinct_names(series), strict=True))
    for i, s in enumerate(shown):
        d = fc.for_series(s.name, s.ref_id)
        axis = "y2" if right_unit is not None and d.unit == right_unit else "y"
        sc = scales[axis]
        color = color_hex(d.fixed_color) if d.color_mode == "fixed" and d.fixed_color \
            else PALETTE[i % len(PALETTE)]
        name = safe_text(d.display_name or shown_names[id(s)], 80)
        y = s.values / sc.factor
        hover = f"%{{y:{HOVER_NUMBER}}}{safe_text(sc.suffix)}<extra>%{{fullData.name}}</extra>"
        style = str(d.custom.get("drawStyle") or "line")
        common = {"x": s.timestamps, "y": y, "name": name, "yaxis": axis,
                  "hovertemplate": hover}
        if style == "bars":
            fig.add_trace(go.Bar(marker_color=color, **common))
        else:
            fill = float(d.custom.get("fillOpacity") or 0)
            trace = go.Scatter(mode="markers" if style == "points" else "lines",
                               line={"color": color, "width": float(d.custom.get(
                                   "lineWidth") or 1.6)}, **common)
            if stack in ("normal", "percent"):
                trace.update(stackgroup="stack", groupnorm="percent" if stack == "percent"
                             else None)
            elif fill > 0:
                trace.update(fill="tozeroy", fillcolor=_alpha(color, min(fill, 100) / 100))
            fig.add_trace(trace)
    if stack in ("normal", "percent") or any(
            str(fc.for_series(s.name, s.ref_id).custom.get("drawStyle")) == "bars"
            for s in shown):
        fig.update_layout(barmode="stack")
    _threshold_lines(fig, d0, scales["y"].factor)
    notes = [subtitle] if subtitle else []
    if dropped:
        notes.append(f"{len(shown)} of {len(series)} series shown (largest mean); "
                     f"{dropped} smaller not drawn")
    fig.update_layout(
        template=THEME, title=_title(panel.title, "; ".join(notes)),
        height=400 + 18 * max(0, (len(shown) + 2) // 3 - 1),
        legend={"orientation": "h", "yanchor": "top", "y": -0.12, "x": 0, "font": {"size": 11}},
        showlegend=True,
        margin={"l": 70, "r": 30, "t": 70, "b": 50}, hovermode="x unified")
    fig.update_xaxes(title_text="", tickformat="%d %b %H:%M")
    fig.update_yaxes(title_text=unit_label(d0.unit, _magnitude(axes["y"])) or y_title,
                     range=_axis_range(d0, scales["y"].factor), rangemode="tozero"
                     if _nonneg(axes["y"]) else "normal")
    if right_unit is not None:
        fig.update_layout(yaxis2={"overlaying": "y", "side": "right", "showgrid": False,
                                  "title": {"text": unit_label(right_unit,
                                                               _magnitude(axes["y2"]))}})
    return fig


def _nonneg(values: list[np.ndarray]) -> bool:
    finite = [v[np.isfinite(v)] for v in values]
    return all((f >= 0).all() for f in finite if len(f))


def _alpha(color: str, a: float) -> str:
    h = color.lstrip("#")
    if len(h) != 6:
        return color
    r, g, b = (int(h[i:i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {a:.2f})"


def _threshold_lines(fig: go.Figure, d: FieldDefaults, factor: float) -> None:
    style = d.custom.get("thresholdsStyle")
    mode = style.get("mode") if isinstance(style, dict) else None
    if not mode or mode == "off" or d.thresholds is None:
        return
    for step in d.thresholds.steps[1:]:
        if math.isfinite(step.value) and d.thresholds.mode == "absolute":
            fig.add_hline(y=step.value / factor, line={
                "color": color_hex(step.color), "width": 1,
                "dash": "dash" if "dashed" in mode else "solid"})


# ---------------------------------------------------------------------- tiles


@dataclass(frozen=True)
class Tile:
    """One number of a stat or gauge panel."""

    panel: Panel
    label: str
    value: float
    text: str
    color: str
    calc: str
    unit: str | None
    decimals: int | None
    spark_x: np.ndarray | None = None
    spark_y: np.ndarray | None = None
    lo: float | None = None
    hi: float | None = None

    @property
    def assessment(self) -> str:
        """Grafana's colour meaning, for summaries: ok / warning / critical / ''."""
        return _ASSESS.get(self.color, "")


_ASSESS: dict[str, str] = {
    NAMED_COLORS[shade + hue]: word
    for hue, word in (("green", "ok"), ("yellow", "warning"), ("orange", "warning"),
                      ("red", "critical"))
    for shade in ("", "dark-", "semi-dark-", "light-", "super-light-")}


def tiles_for(panel: Panel, series: list[Series], limit: int = MAX_TILES_PER_ROW
              ) -> tuple[list[Tile], int, str]:
    """The stat/gauge numbers of a panel: ``(tiles, series not shown, reducer note)``."""
    calc, note = calc_of(panel.options, panel.legacy)
    shown, dropped = _rank(series, limit)
    graph = str(panel.options.get("graphMode", "area")) != "none"
    tiles = []
    names = dict(zip(map(id, series), distinct_names(series), strict=True))
    for s in shown:
        d = panel.field_config.for_series(s.name, s.ref_id)
        v = reduce_values(s.values, calc)
        finite = s.values[np.isfinite(s.values)]
        lo = d.min if d.min is not None else (0.0 if not len(finite) or finite.min() >= 0
                                             else float(finite.min()))
        hi = d.max if d.max is not None else _gauge_max(d.unit, finite)
        step = d.thresholds.step_for(v, lo, hi) if d.thresholds is not None else None
        color = color_hex(step.color) if step is not None else NEUTRAL_TEXT
        if d.color_mode == "fixed" and d.fixed_color:
            color = color_hex(d.fixed_color)
        text = d.no_value if (d.no_value and not math.isfinite(v)) else \
            format_value(v if math.isfinite(v) else None, d.unit, d.decimals)
        label = d.display_name or (panel.title if len(series) == 1 else names[id(s)])
        tiles.append(Tile(panel, label, v, text, color, calc, d.unit, d.decimals,
                          s.timestamps if graph else None, s.values if graph else None,
                          lo, hi))
    return tiles, dropped, note


def _gauge_max(unit: str | None, finite: np.ndarray) -> float:
    if unit == "percent":
        return 100.0
    if unit == "percentunit":
        return 1.0
    top = float(finite.max()) if len(finite) else 1.0
    if top <= 0:
        return 1.0
    mag = 10 ** math.floor(math.log10(top))
    return float(math.ceil(top / mag * 1.0001) * mag)


def tiles_figure(tiles: list[Tile], *, title: str = "") -> go.Figure:
    """Up to four stat numbers (with sparklines) or gauges side by side in one figure."""
    n = max(1, len(tiles))
    gap = 0.04
    width = (1 - gap * (n - 1)) / n
    fig = go.Figure()
    layout: dict[str, object] = {}
    any_gauge = any(t.panel.type == "gauge" for t in tiles)
    for i, t in enumerate(tiles):
        x0 = i * (width + gap)
        dom = [x0, x0 + width]
        sc = scale_for(t.unit, t.value if math.isfinite(t.value) else 0.0)
        sub = CALC_LABELS.get(t.calc, t.calc)
        label = _wrap(safe_text(t.label, 70), max(16, 72 // n))
        head = f"<span style='font-size:{13 if n > 2 else 14}px'><b>{label}</b></span>"
        if math.isfinite(t.value):
            head += f"<br><span style='font-size:11px;color:#666'>{safe_text(sub)}</span>"
        dec = shown_decimals(t.unit, t.decimals, sc)
        whole = math.isfinite(t.value) and sc.apply(t.value) == int(sc.apply(t.value))
        number = {"suffix": safe_text(sc.suffix), "prefix": safe_text(sc.prefix),
                  "font": {"color": t.color, "size": 34 if n > 2 else 42},
                  "valueformat": (f",.{dec}f" if dec is not None else
                                  (",d" if whole else ",.3~r"))}
        if not math.isfinite(t.value):
            fig.add_annotation(text=safe_text(t.text if t.text != "—" else "No data"),
                               x=(dom[0] + dom[1]) / 2, y=0.55, xref="paper", yref="paper",
                               showarrow=False, font={"size": 28, "color": "#888"})
            fig.add_trace(go.Indicator(mode="number", value=None, title={"text": head},
                                       number={"font": {"size": 1, "color": "white"}},
                                       domain={"x": dom, "y": [0.3, 1]}))
            continue
        if t.panel.type == "gauge":
            fig.add_trace(go.Indicator(
                mode="gauge+number", value=sc.apply(t.value), title={"text": head},
                number=number, domain={"x": dom, "y": [0.0, 0.85]},
                gauge=_gauge_spec(t, sc.factor)))
            continue
        fig.add_trace(go.Indicator(mode="number", value=sc.apply(t.value),
                                   title={"text": head}, number=number,
                                   domain={"x": dom, "y": [0.42, 1]}))
        if t.spark_x is not None and t.spark_y is not None and len(t.spark_y) > 1:
            k = i + 1
            ax = "" if k == 1 else str(k)
            fig.add_trace(go.Scatter(
                x=t.spark_x, y=t.spark_y / sc.factor, mode="lines", xaxis=f"x{ax}",
                yaxis=f"y{ax}", line={"color": _spark_color(t.color), "width": 1.4},
                fill="tozeroy", fillcolor=_alpha(_spark_color(t.color), 0.15),
                hovertemplate=f"%{{x|%Y-%m-%d %H:%M}} UTC<br>%{{y:{HOVER_NUMBER}}}"
                              f"{safe_text(sc.suffix)}<extra></extra>", showlegend=False))
            layout[f"xaxis{ax}"] = {"domain": dom, "anchor": f"y{ax}", "visible": False}
            layout[f"yaxis{ax}"] = {"domain": [0.02, 0.34], "anchor": f"x{ax}",
                                    "visible": False, "rangemode": "tozero"}
    lines = max((t.label.count(" ") for t in tiles), default=0) > 1 and n > 2
    fig.update_layout(template=THEME, height=(250 if any_gauge else 220) + (30 if lines else 0),
                      showlegend=False,
                      margin={"l": 20, "r": 20, "t": (40 if title else 20) + (30 if lines
                                                                             else 0), "b": 10},
                      hovermode="closest", font={"family": FONT},
                      title=_title(title) if title else None, **layout)
    return fig


def _spark_color(color: str) -> str:
    return "#5794F2" if color == NEUTRAL_TEXT else color


def _gauge_spec(t: Tile, factor: float) -> dict[str, object]:
    d = t.panel.field_config.for_series(t.label)
    lo = (t.lo or 0.0) / factor
    hi = (t.hi if t.hi is not None else 1.0) / factor
    steps = []
    if d.thresholds is not None:
        bounds = [lo, *[(s.value if d.thresholds.mode == "absolute" else
                         (t.lo or 0) + (s.value / 100) * ((t.hi or 1) - (t.lo or 0))) / factor
                        for s in d.thresholds.steps[1:]], hi]
        for step, a, b in zip(d.thresholds.steps, bounds[:-1], bounds[1:], strict=False):
            a, b = max(a, lo), min(b, hi)
            if b > a:
                steps.append({"range": [a, b], "color": _alpha(color_hex(step.color), 0.35)})
    return {"axis": {"range": [lo, hi], "tickformat": ",.3~r"},
            "bar": {"color": t.color if t.color != NEUTRAL_TEXT else "#5794F2"},
            "steps": steps}


# ---------------------------------------------------------------------- bar gauge, pie


def bargauge_figure(panel: Panel, series: list[Series]) -> go.Figure:
    """One horizontal bar per series (reduced), coloured by the thresholds."""
    tiles, dropped, note = tiles_for(panel, series, limit=20)
    d = panel.field_config.defaults
    mag = max((abs(t.value) for t in tiles if math.isfinite(t.value)), default=0.0)
    sc = scale_for(d.unit, mag)
    hi = max((t.hi or 0.0) for t in tiles) if tiles else 1.0
    fig = go.Figure(go.Bar(
        orientation="h", y=[safe_text(t.label, 50) for t in tiles][::-1],
        x=[sc.apply(t.value) if math.isfinite(t.value) else None for t in tiles][::-1],
        marker_color=[t.color if t.color != NEUTRAL_TEXT else "#5794F2" for t in tiles][::-1],
        text=[t.text for t in tiles][::-1], textposition="outside",
        hovertemplate="%{y}: %{text}<extra></extra>"))
    sub = "; ".join(x for x in (CALC_LABELS.get(tiles[0].calc, "") if tiles else "", note,
                                f"{dropped} more series not shown" if dropped else "") if x)
    fig.update_layout(template=THEME, title=_title(panel.title, sub), hovermode="closest",
                      height=max(220, 60 + 34 * len(tiles)), showlegend=False)
    fig.update_xaxes(title_text=unit_label(d.unit, mag), range=[d.min / sc.factor if d.min
                                                                  is not None else 0,
                                                                  hi / sc.factor * 1.15])
    return fig


def pie_figure(panel: Panel, series: list[Series], max_slices: int = MAX_SERIES) -> go.Figure:
    """A slice per series (reduced); beyond ``max_slices`` the rest is one 'other' slice."""
    calc, note = calc_of(panel.options, panel.legacy)
    d = panel.field_config.defaults
    items = [(n, reduce_values(s.values, calc))
             for s, n in zip(series, distinct_names(series), strict=True)]
    items = sorted([i for i in items if math.isfinite(i[1]) and i[1] > 0], key=lambda i: -i[1])
    other = items[max_slices:]
    items = items[:max_slices]
    if other:
        items.append((f"other ({len(other)} series)", sum(v for _n, v in other)))
    donut = str(panel.options.get("pieType", "pie")) == "donut"
    fig = go.Figure(go.Pie(
        labels=[safe_text(n, 60) for n, _v in items], values=[v for _n, v in items],
        hole=0.45 if donut else 0.0, sort=False, textinfo="percent",
        customdata=[format_value(v, d.unit, d.decimals) for _n, v in items],
        hovertemplate="%{label}: %{customdata} (%{percent})<extra></extra>",
        marker={"colors": list(PALETTE[:len(items)])}))
    sub = "; ".join(x for x in (f"slices: {CALC_LABELS.get(calc, calc)} of each series", note)
                    if x)
    fig.update_layout(template=THEME, title=_title(panel.title, sub), height=380,
                      legend={"orientation": "v", "x": 1.02, "y": 0.5}, hovermode="closest")
    return fig


# ---------------------------------------------------------------------- heatmap


def heatmap_figure(panel: Panel, series: list[Series], *, per_second: bool,
                   metric: str = "") -> go.Figure:
    """Time × bucket, colour = what fell in the bucket (``le`` series de-accumulated)."""
    from tributary_analysis.analysis.latency import heatmap_data

    rows = []
    for s in series:
        if "le" not in s.labels:
            continue
        rows.append(pd.DataFrame({"timestamp": pd.to_datetime(s.timestamps, utc=True),
                                  "le": s.labels["le"], "value": s.values}))
    frame = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        {"timestamp": pd.Series(dtype="datetime64[ns, UTC]"), "le": [], "value": []})
    heat = heatmap_data(frame.dropna(subset=["value"]))
    unit = panel.field_config.defaults.unit or _unit_from_metric(metric)
    bounds = heat.drop_duplicates("upper").sort_values("upper")
    labels = {float(hi): _bucket_label(float(lo), float(hi), unit)
              for lo, hi in zip(bounds["lower"], bounds["upper"], strict=True)}
    grid = heat.pivot_table(index="upper", columns="timestamp", values="count",
                            aggfunc="sum").sort_index()
    what = "per second" if per_second else "per bucket"
    fig = go.Figure(go.Heatmap(
        x=grid.columns, y=[labels[u] for u in grid.index], z=grid.to_numpy(),
        colorscale=HEATMAP_SCALE, colorbar={"title": {"text": what}},
        hovertemplate="%{x|%Y-%m-%d %H:%M} UTC<br>bucket %{y}<br>%{z:,.4~r} "
                      + what + "<extra></extra>"))
    fig.update_layout(template=THEME, title=_title(
        panel.title, "buckets de-accumulated from the cumulative le series"),
        height=400, hovermode="closest")
    fig.update_yaxes(title_text="bucket" + (f" ({unit_label(unit, 1.0)})" if unit else ""),
                     type="category")
    fig.update_xaxes(tickformat="%d %b %H:%M")
    return fig


def _unit_from_metric(name: str) -> str | None:
    """A bucket unit the metric's name states (``…_seconds_bucket``), when the panel has
    none."""
    if "_seconds" in name:
        return "s"
    if "_bytes" in name:
        return "bytes"
    return None


def _bucket_label(lo: float, hi: float, unit: str | None) -> str:
    if math.isinf(hi):
        return f"> {format_value(lo, unit)}"
    low = "0" if lo == 0 else format_value(lo, unit)
    return f"{low} – {format_value(hi, unit)}"
