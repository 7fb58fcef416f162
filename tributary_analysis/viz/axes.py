"""Log axes that read: labelled decades with units, 2 and 5 as unlabelled minor ticks.

Plotly's automatic log ticks label the minor ticks with their first digit only
(``5, 2, 0.1, 5, 2, 0.01``), which reads as nonsense in a static report. Here the ticks are
explicit: every decade the data touch is labelled through a formatter that carries the
unit (``1 ms``, ``100 ms``, ``1 s`` for latency; ``1×``, ``10×`` for burn rates). When the
data span few decades the 2 and 5 ticks are labelled too; otherwise they stay as minor
ticks with a light grid. The range is widened to whole decades, so every figure shows at
least two labelled reference values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

import numpy as np
import plotly.graph_objects as go

from tributary_analysis.ground.format import human_seconds

__all__ = ["log_ticks", "set_log_axis", "times_label"]

#: with at most this many decades in range, 2 and 5 get labels as well
LABEL_MINOR_UP_TO = 2


def times_label(v: float) -> str:
    """A multiplier tick: ``0.1×``, ``1×``, ``10×``."""
    return f"{float(f'{v:.3g}'):g}×"


def _positive(values: Iterable[object]) -> np.ndarray:
    arrays = []
    for v in values:
        if v is None:
            continue
        a = np.asarray(v, dtype=object).ravel()
        try:
            f = a.astype(float)
        except (TypeError, ValueError):
            continue
        arrays.append(f[np.isfinite(f) & (f > 0)])
    return np.concatenate(arrays) if arrays else np.array([], dtype=float)


def log_ticks(lo: float, hi: float, fmt: Callable[[float], str] = human_seconds
              ) -> tuple[list[float], list[str], list[float], tuple[int, int]]:
    """Tick values and labels for a log axis over ``[lo, hi]`` (both > 0).

    Returns
    -------
    tickvals, ticktext, minor, (first_decade, last_decade)
        Labelled ticks, their text, the unlabelled minor ticks (2 and 5 of each decade when
        not labelled), and the decade exponents the range is widened to.

    Examples
    --------
    >>> vals, text, minor, span = log_ticks(0.004, 0.3)
    >>> text
    ['1 ms', '2 ms', '5 ms', '10 ms', '20 ms', '50 ms', '100 ms', '200 ms', '500 ms', '1 s']
    """
    if not (lo > 0 and hi > 0 and math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"log_ticks needs a positive finite range, got {lo!r}..{hi!r}")
    a = math.floor(math.log10(lo) + 1e-9)
    b = math.ceil(math.log10(hi) - 1e-9)
    if b <= a:
        b = a + 1
    label_minor = (b - a) <= LABEL_MINOR_UP_TO
    vals: list[float] = []
    minor: list[float] = []
    for e in range(a, b + 1):
        vals.append(float(f"1e{e}"))
        if e < b:
            for m in (2, 5):
                (vals if label_minor else minor).append(float(f"{m}e{e}"))
    vals.sort()
    return vals, [fmt(v) for v in vals], minor, (a, b)


def set_log_axis(fig: go.Figure, *, fmt: Callable[[float], str] = human_seconds,
                 extra: Iterable[float] = (), axis: str = "y") -> go.Figure:
    """Make ``fig``'s ``axis`` a log axis with explicit, unit-bearing decade ticks.

    The range comes from the traces' positive finite values on that axis and from
    ``extra`` (reference lines such as alert factors, which live in the layout). With no
    positive value the axis is simply logarithmic.

    Parameters
    ----------
    fig : plotly.graph_objects.Figure
        Modified in place and returned.
    fmt : callable
        Tick label for a value, with its unit (default: seconds → ``ms`` / ``s``).
    extra : iterable of float
        More values the range must include.
    axis : {"y", "x"}
        Which axis.
    """
    data = [getattr(t, axis, None) for t in fig.data]
    pos = _positive([*data, list(extra)])
    update = fig.update_yaxes if axis == "y" else fig.update_xaxes
    if not len(pos):
        update(type="log")
        return fig
    vals, text, minor, (a, b) = log_ticks(float(pos.min()), float(pos.max()), fmt)
    update(type="log", tickmode="array", tickvals=vals, ticktext=text, range=[a, b],
           minor={"tickmode": "array", "tickvals": minor, "ticks": "outside", "ticklen": 3,
                  "showgrid": True, "gridcolor": "#f5f5f5"})
    return fig
