"""Report inputs: the time window and ``-p key=value`` parameters, checked before any run.

Parameters are written into the executed notebook by papermill, so they must never carry a
secret: names that look like credentials are refused with a pointer to the config.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import yaml

from tributary_analysis.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_SECRET_NAME = re.compile(r"(token|passw|secret|api_?key|credential|bearer|auth)", re.I)


@dataclass(frozen=True)
class Window:
    """A half-open UTC time range ``[start, end)`` for one report run."""

    start: datetime
    end: datetime

    @property
    def duration(self) -> timedelta:
        return self.end - self.start

    def iso(self) -> tuple[str, str]:
        """Start and end as ISO-8601 strings with a ``Z`` suffix (notebook parameters)."""
        return _iso(self.start), _iso(self.end)

    def describe(self) -> str:
        s, e = self.iso()
        return f"{s} → {e} ({_human(self.duration)})"


def _iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _human(delta: timedelta) -> str:
    secs = int(delta.total_seconds())
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if secs and secs % size == 0:
            return f"{secs // size}{unit}"
    return f"{secs}s"


def parse_duration(text: str) -> timedelta:
    """``"24h"``, ``"7d"``, ``"90m"``, ``"2w"`` → :class:`~datetime.timedelta`.

    Examples
    --------
    >>> parse_duration("36h")
    datetime.timedelta(days=1, seconds=43200)
    """
    m = _DURATION.match(text or "")
    if not m:
        raise ConfigError(
            f"cannot read duration {text!r}: use a number and a unit s/m/h/d/w, e.g. 24h or 7d"
        )
    value = float(m.group(1)) * _UNITS[m.group(2)]
    if value <= 0:
        raise ConfigError(f"duration {text!r} must be positive")
    return timedelta(seconds=value)


def parse_time(text: str, *, what: str) -> datetime:
    """An ISO-8601 instant (naive means UTC) or ``now``; names ``what`` on failure."""
    if text.strip().lower() == "now":
        return datetime.now(UTC)
    try:
        ts = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"cannot read {what} {text!r}: use ISO-8601 such as 2025-01-31T00:00:00Z"
        ) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def resolve_window(
    since: str | None = None,
    start: str | None = None,
    end: str | None = None,
    *,
    now: datetime | None = None,
    default_since: str = "24h",
) -> Window:
    """Turn ``--since`` or ``--start/--end`` into a :class:`Window`.

    ``--since`` counts back from ``--end`` (default now); ``--start`` without ``--end`` ends
    now. Giving ``--since`` and ``--start`` together is ambiguous and refused. The end is
    truncated to the whole second so reruns of one window have identical parameters.
    """
    if since and start:
        raise ConfigError("give either --since or --start/--end, not both")
    end_ts = parse_time(end, what="--end") if end else (now or datetime.now(UTC))
    end_ts = end_ts.replace(microsecond=0)
    if start:
        start_ts = parse_time(start, what="--start")
    else:
        start_ts = end_ts - parse_duration(since or default_since)
    if start_ts >= end_ts:
        raise ConfigError(
            f"empty window: start {_iso(start_ts)} is not before end {_iso(end_ts)}"
        )
    return Window(start_ts, end_ts)


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value`` → ``(key, value)``; the value is read as a YAML scalar or list.

    Examples
    --------
    >>> parse_param("top_n=5")
    ('top_n', 5)
    >>> parse_param("label=a=b")
    ('label', 'a=b')
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ConfigError(
            f"cannot read parameter {text!r}: use -p name=value with a Python identifier name"
        )
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
    ):
        raise ConfigError(f"parameter {key!r}: only scalars and flat lists are accepted")
    if isinstance(value, datetime):
        value = _iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    elif value is not None and not isinstance(value, str | int | float | bool | list):
        value = raw
    check_not_secret(key)
    return key, value


def check_not_secret(name: str) -> None:
    """Refuse parameter names that look like credentials (papermill records parameters)."""
    if _SECRET_NAME.search(name):
        raise ConfigError(
            f"parameter {name!r} looks like a credential; parameters are written into the "
            "report. Put credentials in the environment (TRIBUTARY_*) or the config file"
        )
