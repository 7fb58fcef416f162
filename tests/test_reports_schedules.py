"""Schedules: cron in a timezone (known DST truth), validation, no overlap, crontab lines."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tributary_analysis.errors import ConfigError
from tributary_analysis.reports.schedules import (
    ScheduleBusy,
    build_scheduler,
    crontab_lines,
    load_schedules,
    schedule_lock,
)

REPORTS = {"daily_operations", "tenant_usage", "errors_slo"}


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(body)
    return path


GOOD = """
timezone: Europe/Berlin
out: out
schedules:
  - name: daily
    cron: "0 6 * * *"
    reports: [daily_operations]
  - name: tenants
    cron: "15 7 * * 1"
    timezone: UTC
    reports: tenant_usage
    tenants: [all]
    since: 7d
    parameters: {top_n: 5}
"""


@pytest.mark.parametrize("expr", [
    "15 7 * * 1", "0 0 * * 0", "0 0 * * 7", "30 2 * * 1-5", "0 12 * * */2", "0 6 * * 5-7",
    "0 9 1,15 * 1", "*/20 3 * * sat,sun", "0 0 29 2 *",
])
def test_cron_semantics_match_croniter(expr: str) -> None:
    """Weekday numbers (0/7 = Sunday) and the day-of-month OR day-of-week rule, checked
    against croniter as the independent implementation of crontab(5)."""
    from zoneinfo import ZoneInfo

    from croniter import croniter

    from tributary_analysis.reports.schedules import Schedule

    tz = ZoneInfo("America/New_York")
    start = datetime(2025, 1, 1, 0, 0, 30, tzinfo=tz)
    ours = Schedule("x", expr, ("r",), timezone="America/New_York").next_fire_times(
        8, now=start)
    it = croniter(expr, start)
    theirs = [it.get_next(datetime) for _ in range(8)]
    assert [t.isoformat() for t in ours] == [t.isoformat() for t in theirs]


def test_next_fire_times_follow_the_timezone_across_dst(tmp_path: Path) -> None:
    sf = load_schedules(write(tmp_path, GOOD), REPORTS)
    daily = sf["daily"]
    # Europe/Berlin leaves CET (+1) for CEST (+2) on 2025-03-30
    times = daily.next_fire_times(3, now=datetime(2025, 3, 28, 12, 0, tzinfo=UTC))
    assert [t.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ") for t in times] == [
        "2025-03-29T05:00Z", "2025-03-30T04:00Z", "2025-03-31T04:00Z"]
    assert all(t.hour == 6 for t in times)
    weekly = sf["tenants"].next_fire_times(2, now=datetime(2025, 1, 1, tzinfo=UTC))
    assert [t.isoformat() for t in weekly] == ["2025-01-06T07:15:00+00:00",
                                               "2025-01-13T07:15:00+00:00"]
    assert sf.out_dir == tmp_path / "out"
    assert sf["tenants"].tenants == ("all",) and sf["tenants"].parameters == {"top_n": 5}


@pytest.mark.parametrize(("body", "match"), [
    ("schedules:\n  - {name: a, cron: '61 * * * *', reports: [daily_operations]}",
     r"schedule 'a': invalid cron expression '61 \* \* \* \*'"),
    ("schedules:\n  - {name: a, cron: '0 6 * * *', reports: [daily_operations], "
     "timezone: Mars/Olympus}", r"unknown timezone 'Mars/Olympus'"),
    ("schedules:\n  - {name: a, cron: '0 6 * * *', reports: [nope]}",
     r"unknown report\(s\) nope; known: daily_operations"),
    ("schedules:\n  - {name: a, cron: '0 6 * * *', reports: [daily_operations], "
     "parameters: {es_password: x}}", r"'es_password' looks like a credential"),
    ("schedules:\n  - {name: a, cron: '0 6 * * *', reports: [daily_operations], cronn: 1}",
     r"unknown key\(s\) cronn"),
    ("schedules:\n  - {name: a, cron: '0 6 * * *', reports: [daily_operations]}\n"
     "  - {name: a, cron: '0 7 * * *', reports: [daily_operations]}",
     r"duplicate schedule name 'a'"),
    ("nothing: here", r"expected a mapping with a 'schedules' list"),
])
def test_bad_schedules_are_named(tmp_path: Path, body: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_schedules(write(tmp_path, body), REPORTS)


def test_missing_file_says_where_to_look(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not exist; see docs/reports.md"):
        load_schedules(tmp_path / "nope.yaml")


def test_one_schedule_never_overlaps_itself(tmp_path: Path) -> None:
    with schedule_lock(tmp_path, "daily"):
        with pytest.raises(ScheduleBusy, match="'daily' is still running"), \
                schedule_lock(tmp_path, "daily"):
            pass
        with schedule_lock(tmp_path, "other"):  # other schedules are independent
            pass
    with schedule_lock(tmp_path, "daily"):  # released afterwards
        pass
    sched = build_scheduler(load_schedules(write(tmp_path, GOOD), REPORTS), blocking=False)
    jobs = {j.id: j for j in sched.get_jobs()}
    assert set(jobs) == {"daily", "tenants"}
    assert all(j.max_instances == 1 and j.coalesce for j in jobs.values())
    assert str(jobs["daily"].trigger.timezone) == "Europe/Berlin"


def test_crontab_lines(tmp_path: Path) -> None:
    body = GOOD.replace('"15 7 * * 1"', '"*/30 * * * *"')
    lines = crontab_lines(load_schedules(write(tmp_path, body), REPORTS), "/opt/bin/tributary")
    assert "CRON_TZ=Europe/Berlin" in lines and "CRON_TZ=UTC" in lines
    assert lines.index("CRON_TZ=Europe/Berlin") < next(
        i for i, ln in enumerate(lines) if ln.startswith("0 6 * * * "))
    daily = next(ln for ln in lines if ln.startswith("0 6 * * * "))
    assert "/opt/bin/tributary schedule fire daily --file " in daily
    assert str((tmp_path / "schedules.yaml").resolve()) in daily
    assert any(ln.startswith("*/30 * * * * ") for ln in lines)
