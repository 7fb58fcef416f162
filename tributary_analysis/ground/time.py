"""The one time vocabulary: durations, instants in UTC, and the half-open :class:`Window`.

Every entry point — CLI options, notebook parameters, schedules, rule files, PromQL
builders, log and trace sources — reads time through this module, so one input means the
same thing everywhere and is refused with the same message everywhere.

Durations
    Prometheus units ``ms s m h d w y``, compound forms (``1h30m``), decimals in the lenient
    (default) mode (``1.5h``), numbers as seconds, ``timedelta``/``Timedelta`` as they are.
    ``strict=True`` is Prometheus's own ``model.ParseDuration`` (integers, each unit at most
    once, largest first, ``0`` allowed): use it for rule files, which Prometheus reads so.
Instants
    ISO 8601 (naive means UTC, the suite's convention), ``now``, ``now-2h``, UNIX seconds,
    ``datetime``/``Timestamp``; always a timezone-aware UTC ``pandas.Timestamp``.
Windows
    ``[start, end)`` in UTC. :func:`parse_window` resolves ``since``/``start``/``end`` as the
    CLI, notebooks and schedules all give them.

Times in messages are printed with :func:`iso` (``2026-01-31T12:00:00Z``), never as epoch
milliseconds.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Final

import numpy as np
import pandas as pd

from tributary_analysis.errors import ConfigError

__all__ = [
    "DurationLike", "TimeLike", "Window", "format_duration", "iso", "parse_duration",
    "parse_step", "parse_time", "parse_window", "step_grid",
]

DurationLike = str | int | float | timedelta | pd.Timedelta | np.timedelta64
TimeLike = str | int | float | datetime | date | pd.Timestamp | np.datetime64

#: unit → seconds, largest first (the order Prometheus requires in strict mode)
UNIT_SECONDS: Final[dict[str, float]] = {
    "y": 365 * 86400.0, "w": 7 * 86400.0, "d": 86400.0, "h": 3600.0, "m": 60.0,
    "s": 1.0, "ms": 0.001,
}
_PART = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|y|w|d|h|m|s)")
_STRICT_PART = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_RELATIVE = re.compile(r"^now\s*([+-])\s*(.+)$")
#: UNIX seconds accepted as an instant: 2001-09-09 .. 2286-11-20 (refuses ms by mistake)
_EPOCH_RANGE = (1e9, 1e10)
_HINT = "write a number and a unit (ms, s, m, h, d, w, y), e.g. '30s', '5m', '1h30m', '7d'"


def _as_seconds(value: DurationLike, name: str, strict: bool) -> float:
    if isinstance(value, bool):
        raise ConfigError(f"{name}={value!r} is not a duration; {_HINT}")
    if isinstance(value, pd.Timedelta | timedelta | np.timedelta64):
        td = pd.Timedelta(value)
        if pd.isna(td):
            raise ConfigError(f"{name} is empty (NaT); {_HINT}")
        return float(td.total_seconds())
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if not isinstance(value, str):
        raise ConfigError(f"{name}={value!r} is not a duration; {_HINT}")
    raw = value.strip()
    if not raw:
        raise ConfigError(f"{name} is empty; {_HINT}")
    if strict:
        return _strict_seconds(raw, name)
    if _NUMBER.fullmatch(raw):
        return float(raw)
    compact = re.sub(r"\s+", "", raw)
    parts = _PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ConfigError(f"{name}={value!r} is not a duration; {_HINT}")
    return sum(float(n) * UNIT_SECONDS[u] for n, u in parts)


def _strict_seconds(raw: str, name: str) -> float:
    """Prometheus ``model.ParseDuration``: integers, each unit once, largest first."""
    if raw == "0":
        return 0.0
    parts = _STRICT_PART.findall(raw)
    if not parts or "".join(n + u for n, u in parts) != raw:
        raise ConfigError(f"{name}={raw!r} is not a Prometheus duration (whole numbers "
                          "only, e.g. '90s' instead of '1.5m'); " + _HINT)
    order = list(UNIT_SECONDS)
    ranks = [order.index(u) for _, u in parts]
    if any(b <= a for a, b in itertools.pairwise(ranks)):
        raise ConfigError(f"{name}={raw!r} must give each unit once, largest first "
                          "(e.g. '1h30m', not '30m1h')")
    return float(sum(int(n) * UNIT_SECONDS[u] for n, u in parts))


def parse_duration(value: DurationLike, *, name: str = "duration", strict: bool = False,
                   allow_zero: bool = False, allow_negative: bool = False) -> pd.Timedelta:
    """Read a duration as the suite reads it everywhere.

    Parameters
    ----------
    value : str, number, timedelta or Timedelta
        ``"90s"``, ``"5m"``, ``"1h30m"``, ``"1.5h"``, ``"250ms"``, ``"7d"``; a number is
        seconds. A leading ``-`` is accepted with ``allow_negative`` (offsets).
    name : str
        The parameter or option named in the error (``--since``, ``for``, ``step``).
    strict : bool
        Prometheus's rule-file grammar: whole numbers, each unit once, largest first.
    allow_zero, allow_negative : bool
        Durations are positive unless these say otherwise (``for: 0``, a backward offset).

    Returns
    -------
    pandas.Timedelta
        Rounded to the millisecond, the finest unit Prometheus knows.

    Raises
    ------
    ConfigError
        Naming ``name``, the value, and how to write it.

    Examples
    --------
    >>> parse_duration("1h30m") == parse_duration("1.5h") == parse_duration(5400)
    True
    >>> parse_duration("250ms")
    Timedelta('0 days 00:00:00.250000')
    """
    sign = 1.0
    if isinstance(value, str) and value.strip().startswith(("-", "+")) and \
            not _NUMBER.fullmatch(value.strip()):
        if not allow_negative and value.strip().startswith("-"):
            raise ConfigError(f"{name}={value!r} must be a positive duration, e.g. '24h'")
        sign = -1.0 if value.strip().startswith("-") else 1.0
        value = value.strip()[1:]
    seconds = sign * _as_seconds(value, name, strict)
    if not math.isfinite(seconds):
        raise ConfigError(f"{name}={value!r} must be finite; {_HINT}")
    if seconds < 0 and not allow_negative:
        raise ConfigError(f"{name}={value!r} must be a positive duration, e.g. '24h'")
    if seconds == 0 and not allow_zero:
        raise ConfigError(f"{name}={value!r} must be longer than zero, e.g. '5m'")
    return pd.Timedelta(milliseconds=round(seconds * 1000))


def parse_step(value: DurationLike, *, name: str = "step") -> pd.Timedelta:
    """A query step: a positive whole number of milliseconds (what Prometheus can express).

    Examples
    --------
    >>> parse_step("1m")
    Timedelta('0 days 00:01:00')
    """
    td = parse_duration(value, name=name)
    if td < pd.Timedelta(milliseconds=1):
        raise ConfigError(f"{name}={value!r} is shorter than a millisecond; use e.g. '15s'")
    return td


def format_duration(value: DurationLike) -> str:
    """A duration in Prometheus's own notation (``1h30m``, ``250ms``, ``7d``): the inverse of
    :func:`parse_duration`, used wherever PromQL or a rule file needs a duration.

    Examples
    --------
    >>> format_duration(5400), format_duration("0.25s"), format_duration(pd.Timedelta(days=7))
    ('1h30m', '250ms', '1w')
    """
    ms = round(parse_duration(value, name="duration").total_seconds() * 1000)
    out = []
    for unit, size in UNIT_SECONDS.items():
        size_ms = round(size * 1000)
        n, ms = divmod(ms, size_ms)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


def iso(ts: TimeLike) -> str:
    """An instant as ISO 8601 UTC to the second (``2026-01-31T12:00:00Z``; milliseconds
    only when present): how every message and parameter writes a time.

    Examples
    --------
    >>> iso("2026-01-31 12:00"), iso(pd.Timestamp("2026-01-31T12:00:00.250Z"))
    ('2026-01-31T12:00:00Z', '2026-01-31T12:00:00.250Z')
    """
    t = parse_time(ts)
    base = t.strftime("%Y-%m-%dT%H:%M:%S")
    ms = t.microsecond // 1000
    return f"{base}.{ms:03d}Z" if ms else f"{base}Z"


def _now(now: TimeLike | None) -> pd.Timestamp:
    if now is None:
        return pd.Timestamp.now(tz="UTC").floor("s")
    return parse_time(now, name="now")


def parse_time(value: TimeLike, *, name: str = "time", now: TimeLike | None = None
               ) -> pd.Timestamp:
    """A timezone-aware UTC instant from anything a user may write.

    Parameters
    ----------
    value : str, number, datetime, date, Timestamp or numpy datetime64
        ISO 8601 (``2026-01-31``, ``2026-01-31T12:00Z``, with any offset; naive means UTC),
        ``now``, ``now-2h`` / ``now+30m`` (relative to ``now``), or UNIX seconds.
    name : str
        The parameter or option named in the error (``--start``, ``end``).
    now : optional
        The clock for ``now`` (tests, reports pinned to a time).

    Examples
    --------
    >>> parse_time("2026-01-31T13:00:00+01:00").isoformat()
    '2026-01-31T12:00:00+00:00'
    >>> parse_time("now-1h", now="2026-01-31T12:00Z").isoformat()
    '2026-01-31T11:00:00+00:00'
    """
    if isinstance(value, bool) or value is None:
        raise ConfigError(f"{name}={value!r} is not a time; use ISO 8601, e.g. "
                          "'2026-01-31T12:00:00Z', or 'now' / 'now-2h'")
    if isinstance(value, int | float | np.integer | np.floating) or (
            isinstance(value, str) and _NUMBER.fullmatch(value.strip())):
        seconds = float(value)
        if not (math.isfinite(seconds) and _EPOCH_RANGE[0] <= seconds < _EPOCH_RANGE[1]):
            raise ConfigError(f"{name}={value!r} is not a plausible UNIX time in seconds "
                              "(milliseconds? divide by 1000); or use ISO 8601, e.g. "
                              "'2026-01-31T12:00:00Z'")
        return pd.Timestamp(round(seconds * 1000), unit="ms", tz="UTC")
    if isinstance(value, str):
        text = value.strip()
        low = text.lower()
        if low == "now":
            return _now(now)
        rel = _RELATIVE.match(low)
        if rel:
            delta = parse_duration(rel.group(2), name=name)
            base = _now(now)
            return base - delta if rel.group(1) == "-" else base + delta
        if not text:
            raise ConfigError(f"{name} is empty; give an ISO 8601 time such as "
                              "'2026-01-31T12:00:00Z'")
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f"{name}={value!r} is not a time; use ISO 8601, e.g. "
                          "'2026-01-31T12:00:00Z', or 'now' / 'now-2h'") from None
    if pd.isna(ts):
        raise ConfigError(f"{name} is empty (NaT); give an ISO 8601 time")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval ``[start, end)``: the one window type of the suite.

    Examples
    --------
    >>> w = Window.of("2026-01-01", "2026-01-02")
    >>> w.describe()
    '2026-01-01T00:00:00Z → 2026-01-02T00:00:00Z (1d)'
    """

    start: pd.Timestamp
    end: pd.Timestamp

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", parse_time(self.start, name="window start"))
        object.__setattr__(self, "end", parse_time(self.end, name="window end"))
        if self.end <= self.start:
            raise ConfigError(f"window end {iso(self.end)} is not after its start "
                              f"{iso(self.start)}; swap them or widen the window")

    @classmethod
    def of(cls, start: TimeLike, end: TimeLike) -> Window:
        """A window from any two instants :func:`parse_time` reads."""
        return cls(parse_time(start, name="start"), parse_time(end, name="end"))

    @property
    def duration(self) -> pd.Timedelta:
        return self.end - self.start

    def iso(self) -> tuple[str, str]:
        """Start and end in ISO 8601 UTC (``…Z``): notebook parameters, ledger, summaries."""
        return iso(self.start), iso(self.end)

    def describe(self) -> str:
        """``start → end (length)`` for messages and logs."""
        s, e = self.iso()
        return f"{s} → {e} ({format_duration(self.duration)})"

    def label(self) -> str:
        """For titles: ``2026-01-31 12:00 – 2026-02-01 12:00 UTC``."""
        fmt = "%Y-%m-%d %H:%M"
        return f"{self.start.strftime(fmt)} – {self.end.strftime(fmt)} UTC"

    def shift(self, offset: DurationLike) -> Window:
        """The same-length window moved by ``offset`` (negative moves back in time)."""
        delta = parse_duration(offset, name="offset", allow_negative=True)
        return Window(self.start + delta, self.end + delta)

    def previous_week(self) -> Window:
        """The same hours one week earlier (the reports' baseline)."""
        return self.shift(pd.Timedelta(days=-7))

    def contains(self, ts: pd.Series) -> pd.Series:
        """Boolean mask of timestamps inside ``[start, end)``."""
        return (ts >= self.start) & (ts < self.end)

    def clip(self, other: Window) -> Window | None:
        """The overlap with ``other`` (``None`` when they do not overlap)."""
        s, e = max(self.start, other.start), min(self.end, other.end)
        return Window(s, e) if e > s else None

    def split(self, at: TimeLike) -> tuple[Window, Window]:
        """``[start, at)`` and ``[at, end)``: before and after a deploy."""
        cut = parse_time(at, name="split time")
        if not self.start < cut < self.end:
            raise ConfigError(f"split time {iso(cut)} is outside the window "
                              f"{iso(self.start)} – {iso(self.end)}")
        return Window(self.start, cut), Window(cut, self.end)

    def step(self, max_points: int = 720, minimum: DurationLike = "15s") -> pd.Timedelta:
        """A round step giving at most ``max_points`` points over the window."""
        floor = parse_duration(minimum, name="minimum step")
        raw = self.duration / max_points
        for candidate in ("15s", "30s", "1m", "2m", "5m", "10m", "15m", "30m", "1h",
                          "2h", "3h", "6h", "12h", "1d"):
            step = parse_duration(candidate)
            if step >= raw and step >= floor:
                return step
        return pd.Timedelta(days=1)

    def aligned(self, step: DurationLike) -> Window:
        """The window with start floored and end ceiled to multiples of ``step`` since the
        epoch: query frontends (Thanos, Mimir) cache only step-aligned range queries."""
        st = parse_step(step)
        return Window(self.start.floor(st), self.end.ceil(st))


def step_grid(window: Window, step: DurationLike) -> pd.DatetimeIndex:
    """Evaluation instants ``start, start+step, …`` strictly before ``end``."""
    st = parse_step(step)
    return pd.date_range(window.start, window.end - pd.Timedelta(milliseconds=1), freq=st)


def _given(value: object) -> bool:
    return value not in (None, "")


def parse_window(since: DurationLike | None = None, start: TimeLike | None = None,
                 end: TimeLike | None = None, *, now: TimeLike | None = None,
                 default_since: DurationLike | None = None,
                 names: tuple[str, str, str] = ("since", "start", "end")) -> Window:
    """Resolve ``since`` or ``start``/``end`` into a :class:`Window`, as every entry point
    gives them.

    ``since`` counts back from ``end`` (default: now, to the whole second, so reruns of one
    window have identical parameters); ``start`` without ``end`` ends now. Giving ``since``
    and ``start`` together is ambiguous and refused; giving neither uses ``default_since``.

    Parameters
    ----------
    since : duration, optional
        ``"24h"``, ``"1h30m"``, ``"7d"``.
    start, end : instant, optional
        Anything :func:`parse_time` reads.
    now : instant, optional
        The clock (tests, reports pinned to a time).
    default_since : duration, optional
        Used when neither ``since`` nor ``start`` is given; without it that is an error.
    names : (str, str, str)
        How the caller calls the three inputs in errors (``--since``, ``--start``,
        ``--end`` for the CLI).

    Examples
    --------
    >>> parse_window(since="1h30m", now="2026-01-02T00:00:00Z").iso()
    ('2026-01-01T22:30:00Z', '2026-01-02T00:00:00Z')
    """
    n_since, n_start, n_end = names
    if _given(since) and _given(start):
        raise ConfigError(f"give {n_since}={since!r} or {n_start}={start!r}, not both; "
                          "drop one of them")
    end_ts = parse_time(end, name=n_end, now=now) if end is not None and _given(end) \
        else _now(now)
    if start is not None and _given(start):
        start_ts = parse_time(start, name=n_start, now=now)
    elif _given(since) or _given(default_since):
        span = parse_duration(since if _given(since) else default_since,  # type: ignore[arg-type]
                              name=n_since)
        start_ts = end_ts - span
    else:
        raise ConfigError(f"give a window: {n_since}='24h' or {n_start}='…' (and "
                          f"optionally {n_end}='…')")
    if start_ts >= end_ts:
        raise ConfigError(f"empty window: {n_start} {iso(start_ts)} is not before "
                          f"{n_end} {iso(end_ts)}; swap them or widen the window")
    return Window(start_ts, end_ts)
