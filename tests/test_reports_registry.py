"""The report registry: every report registered, in a group, with its notebook and its
default window (weekly reports: seven days)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from tributary_analysis.errors import ConfigError
from tributary_analysis.reports.prepare import notebook_parameters
from tributary_analysis.reports.registry import (
    DEFAULT_SET,
    GROUPS,
    NOTEBOOKS_DIR,
    WEEKLY_WINDOW,
    ReportSpec,
    default_registry,
    expand,
)


def test_every_report_is_registered_grouped_and_rendered_by_a_run_without_names() -> None:
    reg = default_registry()
    assert {"tenant_usage", "tenant_fleet", "traces", "dashboard_overview",
            "dashboard_business"} <= set(reg)
    grouped = [n for g in DEFAULT_SET for n in GROUPS[g]]
    assert sorted(grouped) == sorted(reg) and len(grouped) == len(set(grouped))
    assert expand([], reg) == grouped
    for spec in reg.values():
        declared = notebook_parameters(spec.notebook)  # the notebook exists and is tagged
        assert {"start", "end"} <= set(declared), spec.name
        assert spec.display_title and spec.description, spec.name


def test_tenant_reports_one_per_tenant_and_one_for_the_fleet() -> None:
    reg = default_registry()
    assert reg["tenant_usage"].per_tenant and not reg["tenant_fleet"].per_tenant
    assert "tenants" in notebook_parameters(reg["tenant_usage"].notebook)
    assert GROUPS["tenants"] == ("tenant_usage",)
    assert "tenant_fleet" in GROUPS["weekly"]


def test_weekly_reports_default_to_seven_days_daily_ones_to_the_caller() -> None:
    reg = default_registry()
    assert WEEKLY_WINDOW == "7d"
    for name in GROUPS["weekly"]:
        assert reg[name].schedule_hint == "weekly", name
        assert reg[name].default_window == "7d", name
    assert reg["tenant_usage"].default_window == "7d"
    for name in GROUPS["daily"]:
        assert reg[name].schedule_hint == "daily" and reg[name].default_window is None, name
    assert reg["dashboard_overview"].schedule_hint == "daily"
    assert reg["dashboard_business"].schedule_hint == "weekly"


def test_a_default_window_is_a_duration() -> None:
    spec = ReportSpec("x", NOTEBOOKS_DIR / "latency.ipynb", default_window="1.5d")
    assert spec.default_window == "1.5d"
    with pytest.raises(ConfigError, match="default_window of 'x'"):
        ReportSpec("x", NOTEBOOKS_DIR / "latency.ipynb", default_window="weekly")


def test_the_traces_report_is_registered_only_with_its_notebook(tmp_path: Path) -> None:
    for nb in NOTEBOOKS_DIR.glob("*.ipynb"):
        if nb.name != "traces.ipynb":
            shutil.copy(nb, tmp_path / nb.name)
    reg = default_registry(tmp_path)
    assert "traces" not in reg and "tenant_fleet" in reg
    assert "traces" not in expand(["daily"], reg)
    assert set(expand([], reg)) == set(reg)
    with pytest.raises(ConfigError, match="unknown report 'traces'"):
        expand(["traces"], reg)


def test_without_a_window_weekly_reports_cover_a_week_and_a_given_window_is_everyones() -> None:
    """`report run` (and `make demo`) without --since: the daily reports the last 24 h, the
    weekly ones and the tenant reports (week over week) the last 7 days, all ending at the
    same instant; --since is every report's."""
    from tributary_analysis.ground.time import parse_window
    from tributary_analysis.reports.tenants import plan

    reg = default_registry()
    specs = [reg[n] for n in ("daily_operations", "errors_slo", "capacity", "tenant_usage")]
    day = parse_window("24h", end="2026-12-01T12:00Z")
    own = {r.spec.name: r.window for r in plan(specs, day, tenants=["tenant-acme"],
                                               own_windows=True)}
    assert own["daily_operations"] == day
    week = parse_window(WEEKLY_WINDOW, end="2026-12-01T12:00Z")
    assert week.duration == pd.Timedelta(days=7)
    assert own["errors_slo"] == own["capacity"] == own["tenant_usage"] == week
    given = plan(specs, day, tenants=["tenant-acme"], own_windows=False)
    assert {r.window for r in given} == {day}

