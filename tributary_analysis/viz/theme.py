"""One look for every figure: a plotly template registered as ``"tributary"``.

Reports and notebooks call :func:`use_theme` once; builders also pass ``template=THEME``
explicitly so a figure looks the same even where the default was never set. The template
only styles — it never chooses a renderer: how figures reach the page (the
``application/vnd.plotly.v1+json`` mimetype, plotly.js loaded once) is the report engine's
and :mod:`tributary_analysis.notebook`'s business.
"""

from __future__ import annotations

import plotly.graph_objects as go
import plotly.io as pio

THEME = "tributary"

#: colour-blind-safe qualitative palette (Okabe–Ito, then Tableau for more series)
PALETTE: tuple[str, ...] = (
    "#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000",
    "#4E79A7", "#F28E2B", "#59A14F", "#B07AA1", "#9C755F", "#BAB0AC",
)
BAD = "#D55E00"
GOOD = "#009E73"
NEUTRAL = "#7F7F7F"
SHADE = "rgba(213, 94, 0, 0.12)"
HEATMAP_SCALE = "Viridis"
FONT = "Inter, 'Segoe UI', Helvetica, Arial, sans-serif"


def _template() -> go.layout.Template:
    t = go.layout.Template(pio.templates["plotly_white"])
    t.layout.update(
        font={"family": FONT, "size": 13, "color": "#222"},
        title={"x": 0.0, "xanchor": "left", "font": {"size": 17}},
        colorway=list(PALETTE),
        margin={"l": 70, "r": 30, "t": 70, "b": 60},
        hovermode="x unified",
        hoverlabel={"namelength": -1},
        legend={"orientation": "v", "bgcolor": "rgba(255,255,255,0.7)", "title": {"text": ""}},
        xaxis={"showline": True, "linecolor": "#999", "ticks": "outside", "gridcolor": "#eee",
               "automargin": True},
        yaxis={"showline": True, "linecolor": "#999", "ticks": "outside", "gridcolor": "#eee",
               "zeroline": False, "automargin": True},
        height=420,
    )
    return t


def register_theme() -> str:
    """Register (idempotently) the ``"tributary"`` template; returns its name."""
    if THEME not in pio.templates:
        pio.templates[THEME] = _template()
    return THEME


def use_theme() -> str:
    """Register the theme and make it the default for every new figure."""
    register_theme()
    pio.templates.default = THEME
    return THEME


register_theme()
