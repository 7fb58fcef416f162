"""Time windows: one parser for every notebook and report parameter.

A window is a half-open UTC interval ``[start, end)``. Notebooks accept either a relative
``since="24h"`` or explicit ``start``/``end``; reports compare against the same window one
week earlier. Parsing lives here so that every entry point rejects bad input with the same
message.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from tributary_analysis.errors import ConfigError

_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}

TimeLike = str | datetime | pd.Timestamp


def parse_duration(text: str | pd.Timedelta, *, name: str = "duration") -> pd.Timedelta:
    """Parse a Prometheus-style duration (``"90s"``, ``"5m"``, ``"24h"``, ``"7d"``, ``"2w"``).

    Parameters
    ----------
    text : str or pandas.Timedelta
        The duration. Compound forms such as ``"1h30m"`` are accepted.
    name : str
        The parameter name used in error messages.

    Returns
    -------
    pandas.Timedelta

    Examples
    --------
    >>> parse_duration("1h30m")
    Timedelta('0 days 01:30:00')
    """
    if isinstance(text, pd.Timedelta):
        seconds = text.total_seconds()
    else:
        raw = str(text).strip()
        parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)", raw)
        if not parts or "".join(n + u for n, u in parts) != raw.replace(" ", ""):
            raise ConfigError(
                f"{name}={text!r} is not a duration; write a number and a unit "
                "(ms, s, m, h, d, w), e.g. '30m', '24h', '7d'"
            )
        seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{name}={text!r} must be a positive duration, e.g. '24h'")
    return pd.Timedelta(seconds=seconds)


def to_utc(value: TimeLike, *, name: str = "time") -> pd.Timestamp:
    """A timezone-aware UTC timestamp from a string, datetime or Timestamp.

    Naive inputs are taken as UTC (the suite's convention) rather than local time, so a
    notebook gives the same answer on every machine.
    """
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"{name}={value!r} is not a time; use ISO 8601, e.g. '2026-01-31T12:00:00Z'"
        ) from exc
    if ts is pd.NaT:
        raise ConfigError(f"{name} is empty (NaT); give an ISO 8601 time")
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


@dataclass(frozen=True)
class Window:
    """A half-open UTC interval ``[start, end)``."""

    start: pd.Timestamp
    end: pd.Timestamp

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise ConfigError(
                f"window end {self.end.isoformat()} is not after start "
                f"{self.start.isoformat()}; swap them or widen the window"
            )

    @property
    def duration(self) -> pd.Timedelta:
        return self.end - self.start

    def shift(self, offset: str | pd.Timedelta) -> Window:
        """The same-length window moved by ``offset`` (negative moves back in time)."""
        delta = offset if isinstance(offset, pd.Timedelta) else _signed_duration(offset)
        return Window(self.start + delta, self.end + delta)

    def previous_week(self) -> Window:
        """The baseline used by the reports: the same hours one week earlier."""
        return self.shift(pd.Timedelta(days=-7))

    def contains(self, ts: pd.Series) -> pd.Series:
        """Boolean mask of timestamps inside the window."""
        return (ts >= self.start) & (ts < self.end)

    def split(self, at: TimeLike) -> tuple[Window, Window]:
        """Two windows ``[start, at)`` and ``[at, end)``: before and after a deploy."""
        cut = to_utc(at, name="split time")
        if not self.start < cut < self.end:
            raise ConfigError(
                f"split time {cut.isoformat()} is outside the window "
                f"{self.start.isoformat()} – {self.end.isoformat()}"
            )
        return Window(self.start, cut), Window(cut, self.end)

    def step(self, max_points: int = 720, minimum: str = "15s") -> pd.Timedelta:
        """A round query step giving at most ``max_points`` points over the window."""
        floor = parse_duration(minimum, name="minimum step")
        raw = self.duration / max_points
        for candidate in ("15s", "30s", "1m", "2m", "5m", "10m", "15m", "30m", "1h",
                          "2h", "3h", "6h", "12h", "1d"):
            step = parse_duration(candidate)
            if step >= raw and step >= floor:
                return step
        return pd.Timedelta(days=1)

    def label(self) -> str:
        """Human-readable label for titles: ``2026-01-31 12:00 – 2026-02-01 12:00 UTC``."""
        fmt = "%Y-%m-%d %H:%M"
        return f"{self.start.strftime(fmt)} – {self.end.strftime(fmt)} UTC"


def _signed_duration(text: str) -> pd.Timedelta:
    text = text.strip()
    if text.startswith("-"):
        return -parse_duration(text[1:], name="offset")
    return parse_duration(text.lstrip("+"), name="offset")


def parse_window(
    since: str | None = None,
    start: TimeLike | None = None,
    end: TimeLike | None = None,
    *,
    now: TimeLike | None = None,
) -> Window:
    """Resolve notebook parameters into a :class:`Window`.

    Exactly one of ``since`` or ``start`` must be given. ``end`` defaults to ``now``.

    Parameters
    ----------
    since : str, optional
        Relative length ending at ``end``, e.g. ``"24h"``.
    start, end : str or datetime, optional
        Explicit bounds (ISO 8601; naive means UTC).
    now : str or datetime, optional
        The clock (tests, reports pinned to a time); defaults to the current time.

    Examples
    --------
    >>> w = parse_window(since="24h", now="2026-01-02T00:00:00Z")
    >>> w.start.isoformat()
    '2026-01-01T00:00:00+00:00'
    """
    if since in ("", None) and start in ("", None):
        raise ConfigError("give a window: since='24h' or start='…' (and optionally end='…')")
    if since not in ("", None) and start not in ("", None):
        raise ConfigError(
            f"give since={since!r} or start={start!r}, not both; drop one of them"
        )
    end_ts = to_utc(end, name="end") if end not in ("", None) else (
        to_utc(now, name="now") if now is not None else pd.Timestamp.now(tz="UTC")
    )
    if since not in ("", None):
        return Window(end_ts - parse_duration(str(since), name="since"), end_ts)
    assert start is not None
    return Window(to_utc(start, name="start"), end_ts)


def baseline_window(window: Window, kind: str = "previous_week") -> Window:
    """The comparison window for ``window``: ``previous_week`` or ``previous`` (adjacent)."""
    if kind == "previous_week":
        return window.previous_week()
    if kind == "previous":
        return window.shift(-window.duration)
    raise ConfigError(f"baseline={kind!r} is unknown; use 'previous_week' or 'previous'")
