"""Window parsing as the notebooks use it (``ground.time``), and the daily report's baseline
window (``analysis.daily.baseline_window``)."""

from __future__ import annotations

import pandas as pd
import pytest

from tributary_analysis.analysis.daily import baseline_window
from tributary_analysis.errors import ConfigError
from tributary_analysis.ground.time import Window, parse_duration, parse_window

NOW = "2026-03-10T12:00:00Z"


def test_since_ends_now():
    w = parse_window(since="24h", now=NOW)
    assert w.end == pd.Timestamp(NOW)
    assert w.duration == pd.Timedelta(hours=24)


def test_explicit_start_end_naive_is_utc():
    w = parse_window(start="2026-03-01 00:00", end="2026-03-02T00:00:00+01:00")
    assert str(w.start.tz) == "UTC"
    assert w.end == pd.Timestamp("2026-03-01T23:00:00Z")


def test_previous_week_baseline_and_adjacent():
    w = parse_window(since="6h", now=NOW)
    b = baseline_window(w)
    assert b.duration == w.duration and w.start - b.start == pd.Timedelta(days=7)
    assert baseline_window(w, "previous").end == w.start


def test_split_and_step():
    w = parse_window(since="24h", now=NOW)
    before, after = w.split("2026-03-10T00:00:00Z")
    assert before.end == after.start
    assert w.step(max_points=720) == pd.Timedelta("2min")
    assert parse_duration("1h30m") == pd.Timedelta(minutes=90)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({}, "give a window"),
    ({"since": "24h", "start": "2026-01-01"}, "not both"),
    ({"since": "yesterday"}, "since='yesterday' is not a duration"),
    ({"since": "0h"}, "since='0h' must be longer than zero"),
    ({"start": "not a date"}, "start='not a date' is not a time"),
    ({"start": "2026-03-11", "end": "2026-03-10"}, "start 2026-03-11T00:00:00Z is not before"),
])
def test_bad_parameters_are_named(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        parse_window(now=NOW, **kwargs)


def test_split_outside_window():
    w = Window(pd.Timestamp("2026-01-01", tz="UTC"), pd.Timestamp("2026-01-02", tz="UTC"))
    with pytest.raises(ConfigError, match="outside the window"):
        w.split("2026-02-01")
