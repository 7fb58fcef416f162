"""Numbers as a reader says them: durations ("2 min", "1 h 30 min") and latencies
("250 ms", "1 s").

pandas prints a two-minute bin as ``0 days 00:02:00`` and a log axis labels its minor ticks
with bare digits; both read as noise in a report. Every place that shows a duration or a
latency to a person (notebook Markdown, tables, axis ticks, hover text) formats it here, so
a report says the same thing the same way everywhere. Pure functions, no I/O.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd

from tributary_analysis.ground.time import parse_duration

__all__ = ["human_duration", "human_seconds"]

_UNITS = (("d", 86400), ("h", 3600), ("min", 60))


def _num(x: float) -> str:
    """At most three significant digits, no float noise (``0.1 * 3`` → ``0.3``)."""
    return f"{float(f'{x:.3g}'):g}"


def human_duration(value: pd.Timedelta | timedelta | np.timedelta64 | str | float | None
                   ) -> str:
    """A duration as a reader says it: ``"2 min"``, ``"1 h 30 min"``, ``"30 s"``, ``"7 d"``.

    Parameters
    ----------
    value : Timedelta, timedelta, numpy timedelta64, str or float
        The duration; a string is read as a Prometheus-style duration (``"5m"``,
        ``"1h30m"``), a number as seconds.

    Returns
    -------
    str
        Every non-zero whole unit from days down to minutes, then seconds (with up to
        three significant digits); durations under a second in ``ms`` (or ``µs``);
        ``"n/a"`` for NaT / None.

    Examples
    --------
    >>> human_duration(pd.Timedelta("2min")), human_duration("1h30m"), human_duration(0.25)
    ('2 min', '1 h 30 min', '250 ms')
    """
    if value is None:
        return "n/a"
    if isinstance(value, str):
        value = parse_duration(value)
    if isinstance(value, int | float | np.integer | np.floating):
        seconds = float(value)
    else:
        td = pd.Timedelta(value)
        if pd.isna(td):
            return "n/a"
        seconds = td.total_seconds()
    if not math.isfinite(seconds):
        return "n/a"
    if seconds < 0:
        return "−" + human_duration(-seconds)
    if seconds == 0:
        return "0 s"
    if seconds < 1:
        return human_seconds(seconds)
    parts: list[str] = []
    rest = seconds
    for unit, size in _UNITS:
        whole = int(rest // size)
        if whole:
            parts.append(f"{whole} {unit}")
            rest -= whole * size
    rest = round(rest, 3)
    if rest:
        parts.append(f"{_num(rest)} s")
    return " ".join(parts)


def human_seconds(seconds: float) -> str:
    """A latency in seconds with the unit that keeps the number short: ``"1 ms"``,
    ``"250 ms"``, ``"1 s"``, ``"10 s"`` (µs below a millisecond; minutes from 60 s).

    Examples
    --------
    >>> [human_seconds(v) for v in (0.0005, 0.001, 0.02, 0.5, 1.0, 10.0, 90.0)]
    ['500 µs', '1 ms', '20 ms', '500 ms', '1 s', '10 s', '1 min 30 s']
    """
    s = float(seconds)
    if not math.isfinite(s):
        return "∞" if s > 0 else ("−∞" if s < 0 else "n/a")
    if s < 0:
        return "−" + human_seconds(-s)
    if s == 0:
        return "0 s"
    if s < 1e-3:
        return f"{_num(s * 1e6)} µs"
    if s < 1:
        return f"{_num(s * 1e3)} ms"
    if s < 60:
        return f"{_num(s)} s"
    return human_duration(s)
