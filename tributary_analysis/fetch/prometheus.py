"""Range and instant queries in the shapes the analyses take.

Every fetch function of the package goes through these few helpers: a range query over a
:class:`~tributary_analysis.ground.time.Window` at a step, per-bin counts from per-second
rates, an instant query. The frames keep the source's
:class:`~tributary_analysis.frames.meta.FrameMeta` (warnings, partial responses) so the page
can say what the server said.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import pandas as pd

from tributary_analysis.frames.meta import carry
from tributary_analysis.ground.time import DurationLike, TimeLike, Window, parse_step

__all__ = ["MetricsSource", "count_frame", "instant_frame", "range_frame", "rates_to_counts"]


class MetricsSource(Protocol):
    """The part of :class:`~tributary_analysis.sources.prometheus.PrometheusSource` the
    fetch layer uses (a test may pass anything with these methods)."""

    def query(self, expr: str, time: Any = None) -> pd.DataFrame: ...

    def query_range(self, expr: str, start: Any, end: Any, step: Any) -> pd.DataFrame: ...

    def series(self, match: str | list[str], start: Any = None,
               end: Any = None) -> pd.DataFrame: ...

    def label_values(self, name: str, match: str | list[str] | None = None,
                     start: Any = None, end: Any = None) -> Sequence[str]: ...


def range_frame(source: MetricsSource, expr: str, window: Window, step: DurationLike, *,
                labels: Sequence[str] = ()) -> pd.DataFrame:
    """``query_range(expr)`` over ``window`` every ``step``.

    Parameters
    ----------
    source : MetricsSource
        A ``PrometheusSource``.
    expr : str
        PromQL from :mod:`tributary_analysis.promql.catalog`.
    window : Window
        Evaluated at ``start, start + step, …`` up to ``end`` (Prometheus includes ``end``).
    step : duration
        The resolution.
    labels : sequence of str
        The ``by (...)`` labels the caller groups on: a result with no series has no label
        columns at all, so they are added (empty) and "no data" flows through the analyses
        as zero rows instead of failing as a malformed frame.
    """
    st = parse_step(step)
    frame = source.query_range(expr, window.start, window.end, st.to_pytimedelta())
    missing = [label for label in labels if label not in frame.columns]
    if missing and len(frame) == 0:
        frame = carry(frame.assign(**{label: pd.Categorical([]) for label in missing}), frame)
    return frame


def rates_to_counts(frame: pd.DataFrame, step: DurationLike) -> pd.DataFrame:
    """Per-second rates over ``[step]`` as counts per bin: ``rate × step`` is exactly
    Prometheus's ``increase`` over the same range. The metadata is kept."""
    st = parse_step(step)
    out = frame.assign(value=frame["value"].astype("float64") * st.total_seconds())
    return carry(out, frame)


def count_frame(source: MetricsSource, expr: str, window: Window, step: DurationLike, *,
                labels: Sequence[str] = ()) -> pd.DataFrame:
    """:func:`range_frame` of a ``rate(x[step])`` expression, as counts per bin."""
    return rates_to_counts(range_frame(source, expr, window, step, labels=labels), step)


def instant_frame(source: MetricsSource, expr: str, at: TimeLike) -> pd.DataFrame:
    """``query(expr)`` at one instant (e.g. an ``increase`` over a window at its end)."""
    return source.query(expr, at)
