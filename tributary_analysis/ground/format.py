"""Numbers as a reader says them — the one formatting layer of every page, tile and table.

pandas prints a two-minute bin as ``0 days 00:02:00``, a request count as ``1.438e+04``, a
ratio as ``0.01189`` and a missing value as ``NaN``; each reads as noise in a report. Every
place that shows a number to a person (tiles, tables, notebook Markdown, axis ticks, hover
text, mail) formats it here, so a report says the same thing the same way everywhere:

* durations ``2 min``, ``1 h 30 min`` (:func:`human_duration`), latencies ``250 ms``
  (:func:`human_seconds`);
* counts ``14,380`` (:func:`count`), plain numbers (:func:`number`), rates ``3.2 req/s``
  (:func:`rate`), bytes ``3.42 GiB`` (:func:`size`), factors ``240×`` (:func:`multiplier`);
* ratios as percentages with the digits that matter, ``1.19 %``, ``0.005 %``, ``99.95 %``
  (:func:`percent`), and changes that do not mislead: ``+0.30 pp`` or ``240×`` rather than
  ``+23,900 %`` (:func:`change`);
* instants to the minute in UTC, or a display time zone (:func:`timestamp`);
* ``—`` wherever a value is missing (:data:`MISSING`); :func:`value` dispatches on a unit.

Pure functions, no I/O.
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pandas as pd

from tributary_analysis.ground.time import parse_duration

__all__ = ["MISSING", "RATIO_UNITS", "approx_duration", "change", "count", "direction",
           "human_duration", "human_seconds", "is_missing", "multiplier", "number", "percent",
           "points", "rate", "size", "timestamp", "value"]

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


def approx_duration(value: pd.Timedelta | timedelta | str | float | None) -> str:
    """A duration in its largest unit, rounded for prose: ``6.5 d``, ``30 h``, ``45 min``.

    Examples
    --------
    >>> approx_duration(pd.Timedelta(days=6, hours=12)), approx_duration("7d")
    ('6.5 d', '7 d')
    >>> approx_duration("90m")
    '1.5 h'
    """
    if value is None:
        return "n/a"
    seconds = (parse_duration(value) if isinstance(value, str) else pd.Timedelta(
        value, unit="s") if isinstance(value, int | float) else pd.Timedelta(value)
               ).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{_num(round(seconds / size, 1))} {unit}"
    return human_duration(seconds)


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


# ---------------------------------------------------------------------- numbers and units

#: what a page prints where a value is missing (never ``nan``, ``NaT`` or ``None``)
MISSING = "—"
MINUS = "−"


def is_missing(value: object) -> bool:
    """True for ``None``, NaN, NaT and ``pd.NA`` (what a page prints as ``—``)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return True
    if isinstance(value, float | np.floating):
        return not math.isfinite(float(value)) and math.isnan(float(value))
    try:
        return bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def _signed(text: str, negative: bool) -> str:
    return f"{MINUS}{text}" if negative else text


def number(value: float | int | None, digits: int = 3) -> str:
    """A plain number: thousands separators, at most ``digits`` significant digits below
    1,000 and whole numbers above (``14,380``; ``0.512``; ``3``), ``—`` when missing.

    Examples
    --------
    >>> [number(v) for v in (14380.4, 234.4, 0.51234, 3.0, -1250.0, float("nan"))]
    ['14,380', '234', '0.512', '3', '−1,250', '—']
    """
    if is_missing(value):
        return MISSING
    v = float(value)  # type: ignore[arg-type]
    if math.isinf(v):
        return "∞" if v > 0 else f"{MINUS}∞"
    neg, a = v < 0, abs(v)
    if a >= 10 ** (digits - 1) or a == 0:
        text = f"{round(a):,}"
    else:
        text = f"{float(f'{a:.{digits}g}'):,.{max(digits - 1, 6)}f}".rstrip("0").rstrip(".")
    return _signed(text, neg and text != "0")


def count(value: float | int | None) -> str:
    """An integer count (requests, errors, series): rounded, thousands separators.

    Examples
    --------
    >>> count(14380.2), count(234.4), count(0.4), count(None)
    ('14,380', '234', '0', '—')
    """
    if is_missing(value):
        return MISSING
    v = float(value)  # type: ignore[arg-type]
    if math.isinf(v):
        return "∞"
    return _signed(f"{abs(round(v)):,}", round(v) < 0)


def percent(ratio: float | None, *, signed: bool = False) -> str:
    """A ratio (0–1) as a percentage with the digits that matter: three significant digits
    below 1 %, two decimals to 10 %, one to 99 %, and above 99 % as many as it takes to
    tell it from 100 % (two significant digits of the shortfall).

    Examples
    --------
    >>> [percent(v) for v in (0.0119, 0.00005, 0.533, 0.9988, 0.99995, 1.0, 0.0)]
    ['1.19 %', '0.005 %', '53.3 %', '99.88 %', '99.995 %', '100 %', '0 %']
    >>> percent(-0.0012, signed=True), percent(0.25, signed=True)
    ('−0.12 %', '+25.0 %')
    """
    if is_missing(ratio):
        return MISSING
    p = float(ratio) * 100.0  # type: ignore[arg-type]
    if math.isinf(p):
        return "∞ %" if p > 0 else f"{MINUS}∞ %"
    neg, a = p < 0, abs(p)
    if a == 0:
        text = "0"
    elif a < 1:
        text = f"{float(f'{a:.3g}'):.6f}".rstrip("0").rstrip(".")
    elif a < 10:
        text = f"{a:.2f}"
    elif a <= 99 or a >= 100:
        text = f"{a:,.1f}" if a < 1000 else f"{a:,.0f}"
        if a >= 100 and text.endswith(".0"):
            text = text[:-2]
    else:  # 99 < a < 100: show the shortfall to two significant digits
        short = 100.0 - a
        decimals = min(6, max(1, 1 - math.floor(math.log10(short))))
        text = f"{a:.{decimals}f}"
        while text.startswith("100") and decimals < 9:
            decimals += 1
            text = f"{a:.{decimals}f}"
        whole, frac = text.split(".")
        text = f"{whole}.{frac.rstrip('0') or '0'}"
    sign = "+" if signed and not neg and a else ""
    return sign + _signed(text, neg) + " %"


def points(delta: float | None) -> str:
    """A difference of two ratios in percentage points: ``+2.0 pp``, ``−0.35 pp``.

    Examples
    --------
    >>> points(0.02), points(-0.0035), points(0.0)
    ('+2.0 pp', '−0.35 pp', '0 pp')
    """
    if is_missing(delta):
        return MISSING
    pp = float(delta) * 100  # type: ignore[arg-type]
    if pp == 0:
        return "0 pp"
    a = abs(pp)
    text = f"{a:.1f}" if a >= 1 else f"{float(f'{a:.2g}'):g}"
    return f"{'+' if pp > 0 else MINUS}{text} pp"


def rate(value: float | None, unit: str = "req/s") -> str:
    """A rate with its unit: ``12.3 req/s``, ``1,250 req/s``, ``0.0412 req/s``.

    Examples
    --------
    >>> rate(12.345), rate(1250.2), rate(0.04123, "errors/s")
    ('12.3 req/s', '1,250 req/s', '0.0412 errors/s')
    """
    if is_missing(value):
        return MISSING
    return f"{number(value)} {unit}".strip()


_BYTES = (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10))


def size(value: float | None) -> str:
    """Bytes as a reader says them: ``3.42 GiB``, ``512 MiB``, ``900 B``.

    Examples
    --------
    >>> size(3.67e9), size(512 * 2**20), size(900)
    ('3.42 GiB', '512 MiB', '900 B')
    """
    if is_missing(value):
        return MISSING
    v = float(value)  # type: ignore[arg-type]
    a = abs(v)
    for unit, scale in _BYTES:
        if a >= scale:
            return f"{number(v / scale)} {unit}"
    return f"{number(v)} B"


def multiplier(value: float | None) -> str:
    """A factor: ``240×``, ``14.4×``, ``0.52×``.

    Examples
    --------
    >>> multiplier(238.6), multiplier(14.4), multiplier(0.5234)
    ('239×', '14.4×', '0.523×')
    """
    if is_missing(value):
        return MISSING
    return f"{number(value)}×"


def timestamp(value: object, *, tz: str | None = None, seconds: bool = False) -> str:
    """An instant to the minute, in UTC unless a display time zone is given:
    ``2026-01-31 12:00 UTC`` (``2026-01-31 13:00 CET`` with ``tz="Europe/Berlin"``).

    Examples
    --------
    >>> timestamp(pd.Timestamp("2026-01-31T12:00:59.9Z")), timestamp(None)
    ('2026-01-31 12:00 UTC', '—')
    >>> timestamp("2026-01-31T12:00:00Z", tz="Europe/Berlin")
    '2026-01-31 13:00 CET'
    """
    if is_missing(value):
        return MISSING
    try:
        ts = pd.Timestamp(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return str(value)
    if pd.isna(ts):
        return MISSING
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if tz:
        ts = ts.tz_convert(tz)
    fmt = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    zone = "UTC" if not tz else (ts.strftime("%Z") or tz)
    return f"{ts.floor('s' if seconds else 'min').strftime(fmt)} {zone}"


#: units whose values are fractions shown as percentages
RATIO_UNITS = frozenset({"ratio", "%", "percent", "share"})


def value(v: object, unit: str = "") -> str:
    """``v`` in ``unit`` as a page prints it — the one dispatcher tiles and tables use.

    ``unit`` names how the value is *stored*: ``ratio`` (0–1, printed as %), ``s``
    (latency / duration in seconds), ``duration`` (a Timedelta or seconds, ``2 h 30 min``),
    ``req/s`` or any ``…/s`` rate, ``bytes``, ``count`` (integers), ``×`` (a factor),
    ``time`` (an instant); anything else is a plain number followed by the unit.

    Examples
    --------
    >>> value(0.0119, "ratio"), value(0.25, "s"), value(5400, "duration")
    ('1.19 %', '250 ms', '1 h 30 min')
    >>> value(14380.0, "count"), value(3.2, "req/s"), value(3.67e9, "bytes")
    ('14,380', '3.2 req/s', '3.42 GiB')
    >>> value(42, "connections"), value(None, "s")
    ('42 connections', '—')
    """
    if is_missing(v):
        return MISSING
    if isinstance(v, str):
        return v
    u = (unit or "").strip()
    if u in RATIO_UNITS:
        return percent(float(v))  # type: ignore[arg-type]
    if u == "s":
        return human_seconds(float(v))  # type: ignore[arg-type]
    if u == "duration":
        return human_duration(v)  # type: ignore[arg-type]
    if u == "bytes":
        return size(float(v))  # type: ignore[arg-type]
    if u in ("count", "requests", "errors", "series", "tenants"):
        return count(float(v)) + ("" if u == "count" else f" {u}")  # type: ignore[arg-type]
    if u in ("×", "x"):
        return multiplier(float(v))  # type: ignore[arg-type]
    if u == "time":
        return timestamp(v)
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, pd.Timestamp):
        return timestamp(v)
    if isinstance(v, pd.Timedelta | timedelta):
        return human_duration(v)
    return f"{number(float(v))} {u}".strip()  # type: ignore[arg-type]


def change(current: float | None, baseline: float | None, unit: str = "") -> str:
    """How ``current`` differs from ``baseline``, in the form that does not mislead:
    ratios in percentage points, or as a factor when one is many times the other
    (``240×`` rather than ``+23,900 %``); other quantities in per cent, or as a factor
    from twice or half.

    Examples
    --------
    >>> change(0.0119, 0.00005, "ratio"), change(0.012, 0.009, "ratio")
    ('238×', '+0.3 pp')
    >>> change(0.3, 0.25, "s"), change(0.9, 0.3, "s"), change(5.0, 10.0, "req/s")
    ('+20.0 %', '3×', '0.5×')
    >>> change(0.0, 0.0, "ratio"), change(1.0, None)
    ('no change', '—')
    """
    if is_missing(current) or is_missing(baseline):
        return MISSING
    c, b = float(current), float(baseline)  # type: ignore[arg-type]
    if c == b:
        return "no change"
    ratio_unit = (unit or "") in RATIO_UNITS
    if b > 0 and c > 0 and (c / b >= 2 or c / b <= 0.5):
        return multiplier(c / b)
    if ratio_unit:
        return points(c - b)
    if b == 0:
        return f"from 0 to {value(c, unit)}"
    return percent((c - b) / abs(b), signed=True)


def direction(current: float | None, baseline: float | None, *,
              tolerance: float = 0.0) -> str:
    """``up``, ``down`` or ``flat`` (within ``tolerance``, relative); ``""`` when missing."""
    if is_missing(current) or is_missing(baseline):
        return ""
    c, b = float(current), float(baseline)  # type: ignore[arg-type]
    if c == b or (b and abs(c - b) / abs(b) <= tolerance):
        return "flat"
    return "up" if c > b else "down"
