"""The one time vocabulary: durations, instants, windows (``tributary_analysis.ground.time``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from tributary_analysis.errors import ConfigError
from tributary_analysis.ground.time import (
    Window,
    format_duration,
    iso,
    parse_duration,
    parse_step,
    parse_time,
    parse_window,
    step_grid,
)

NOW = "2026-01-31T12:00:00Z"


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90), ("5m", 300), ("1h30m", 5400), ("1.5h", 5400), ("250ms", 0.25),
    ("7d", 7 * 86400), ("2w", 14 * 86400), ("1y", 365 * 86400), ("1h 30m", 5400),
    ("0.5s", 0.5), (".5h", 1800), ("30", 30), (45, 45), (1.5, 1.5),
    (timedelta(minutes=2), 120), (pd.Timedelta("3h"), 10800),
])
def test_lenient_durations(text: object, seconds: float) -> None:
    assert parse_duration(text).total_seconds() == pytest.approx(seconds)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "seconds"), [
    ("0", 0), ("15s", 15), ("1h30m", 5400), ("100ms", 0.1), ("1y2w", 365 * 86400 + 14 * 86400),
])
def test_strict_durations_follow_prometheus(text: str, seconds: float) -> None:
    assert parse_duration(text, strict=True, allow_zero=True).total_seconds() == seconds


@pytest.mark.parametrize(("text", "match"), [
    ("1.5h", "whole numbers"), ("30m1h", "largest first"), ("5m5m", "largest first"),
    ("5 m", "not a Prometheus duration"), ("", "empty"),
])
def test_strict_mode_refuses_what_prometheus_refuses(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_duration(text, strict=True, name="for")


@pytest.mark.parametrize(("value", "match"), [
    ("5", None), ("abc", "is not a duration"), ("5x", "is not a duration"),
    ("-5m", "must be a positive"), ("0s", "longer than zero"), (True, "not a duration"),
    ("inf", "is not a duration"), (float("inf"), "finite"), ("", "empty"), (None, "not a duration"),
])
def test_bad_durations_name_the_input(value: object, match: str | None) -> None:
    if match is None:
        assert parse_duration(value, name="--since") == pd.Timedelta(seconds=5)  # type: ignore[arg-type]
        return
    with pytest.raises(ConfigError, match=match) as info:
        parse_duration(value, name="--since")  # type: ignore[arg-type]
    assert "--since" in str(info.value)


def test_negative_offsets_when_asked() -> None:
    assert parse_duration("-7d", allow_negative=True) == pd.Timedelta(days=-7)
    assert parse_duration("+1h", allow_negative=True) == pd.Timedelta(hours=1)


def test_format_is_the_inverse() -> None:
    for text in ("1h30m", "250ms", "1w", "1d6h", "45s", "1y"):
        assert format_duration(text) == text
    assert format_duration(5400) == "1h30m"
    assert format_duration("1.5h") == "1h30m"
    assert parse_duration(format_duration("2h15m30s")) == pd.Timedelta("2h15min30s")


def test_step_is_a_positive_millisecond_count() -> None:
    assert parse_step("1m") == pd.Timedelta(minutes=1)
    with pytest.raises(ConfigError, match="step"):
        parse_step("0.0001s")


@pytest.mark.parametrize(("value", "expected"), [
    ("2026-01-31T12:00:00Z", "2026-01-31T12:00:00Z"),
    ("2026-01-31T13:00:00+01:00", "2026-01-31T12:00:00Z"),
    ("2026-01-31 12:00", "2026-01-31T12:00:00Z"),
    ("2026-01-31", "2026-01-31T00:00:00Z"),
    (datetime(2026, 1, 31, 12, tzinfo=UTC), "2026-01-31T12:00:00Z"),
    (datetime(2026, 1, 31, 12), "2026-01-31T12:00:00Z"),
    (pd.Timestamp("2026-01-31T12:00:00", tz="Europe/Berlin"), "2026-01-31T11:00:00Z"),
    (1769860800, "2026-01-31T12:00:00Z"), ("1769860800.5", "2026-01-31T12:00:00.500Z"),
    ("now", "2026-01-31T12:00:00Z"), ("now-2h", "2026-01-31T10:00:00Z"),
    ("now+30m", "2026-01-31T12:30:00Z"), ("NOW - 1d", "2026-01-30T12:00:00Z"),
])
def test_instants(value: object, expected: str) -> None:
    assert iso(parse_time(value, now=NOW)) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(("value", "match"), [
    ("yesterday", "is not a time"), ("", "empty"), (None, "is not a time"),
    (1769860800000, "milliseconds"), ("now-x", "not a duration"), (True, "is not a time"),
])
def test_bad_instants_name_the_input(value: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match) as info:
        parse_time(value, name="--start", now=NOW)  # type: ignore[arg-type]
    assert "--start" in str(info.value)


def test_window_parsing() -> None:
    w = parse_window(since="1h30m", now=NOW)
    assert w.iso() == ("2026-01-31T10:30:00Z", NOW)
    assert parse_window(start="2026-01-30", end="2026-01-31", now=NOW).duration == \
        pd.Timedelta(days=1)
    assert parse_window(start="2026-01-31T11:00Z", now=NOW).end == parse_time(NOW)
    assert parse_window(default_since="24h", now=NOW).duration == pd.Timedelta(hours=24)
    with pytest.raises(ConfigError, match="not both"):
        parse_window(since="1h", start="2026-01-30", now=NOW)
    with pytest.raises(ConfigError, match="give a window"):
        parse_window(now=NOW)
    with pytest.raises(ConfigError, match=r"empty window: --start 2026-02-01T00:00:00Z"):
        parse_window(start="2026-02-01", end="2026-01-31", now=NOW,
                     names=("--since", "--start", "--end"))


def test_default_now_is_whole_seconds() -> None:
    assert parse_window(since="1h").end.microsecond == 0


def test_window_operations() -> None:
    w = Window.of("2026-01-31T00:00Z", "2026-02-01T00:00Z")
    assert w.describe() == "2026-01-31T00:00:00Z → 2026-02-01T00:00:00Z (1d)"
    assert w.label() == "2026-01-31 00:00 – 2026-02-01 00:00 UTC"
    assert w.previous_week().iso()[0] == "2026-01-24T00:00:00Z"
    assert w.shift("-1h30m").iso()[0] == "2026-01-30T22:30:00Z"
    before, after = w.split("2026-01-31T06:00Z")
    assert (before.end, after.start) == (after.start, before.end)
    assert w.step(max_points=100) == pd.Timedelta("15min")
    assert Window.of("2026-01-31T00:00:07Z", "2026-01-31T00:09:53Z").aligned("1m").iso() == \
        ("2026-01-31T00:00:00Z", "2026-01-31T00:10:00Z")
    assert w.clip(Window.of("2026-01-31T23:00Z", "2026-02-02")) == \
        Window.of("2026-01-31T23:00Z", "2026-02-01")
    assert w.clip(Window.of("2026-02-02", "2026-02-03")) is None
    grid = step_grid(Window.of("2026-01-31T00:00Z", "2026-01-31T00:03Z"), "1m")
    assert [t.minute for t in grid] == [0, 1, 2]
    with pytest.raises(ConfigError, match="not after its start"):
        Window.of("2026-02-01", "2026-01-31")
