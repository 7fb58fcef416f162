"""Report inputs, the ledger and retention: pure functions, known answers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tributary_analysis.errors import ConfigError, DataError
from tributary_analysis.ground.time import parse_window as resolve_window
from tributary_analysis.reports import index, ledger
from tributary_analysis.reports.params import parse_param
from tributary_analysis.reports.runner import tenant_slug
from tributary_analysis.reports.scrub import Scrubber

NOW = datetime(2025, 1, 31, 12, 0, 30, 123456, tzinfo=UTC)


def test_windows() -> None:
    # the clock parse_window reads when no `now` is given is floored to the second; a
    # RunRequest floors any window so reruns of one window have identical parameters
    from tributary_analysis.reports.registry import default_registry
    from tributary_analysis.reports.runner import RunRequest

    req = RunRequest(default_registry()["latency"], resolve_window("24h", now=NOW))
    w = req.window
    assert w.iso() == ("2025-01-30T12:00:30Z", "2025-01-31T12:00:30Z")
    w = resolve_window(start="2025-01-01", end="2025-01-08T00:00:00+02:00")
    assert w.iso() == ("2025-01-01T00:00:00Z", "2025-01-07T22:00:00Z")
    assert w.describe().endswith("(6d22h)") or "2025-01-01" in w.describe()
    # the CLI's names for the three inputs, as cli/options.py passes them
    names = ("--since", "--start", "--end")
    with pytest.raises(ConfigError, match="give --since='1h' or --start='2025-01-01', not both"):
        resolve_window("1h", start="2025-01-01", names=names)
    with pytest.raises(ConfigError, match="--since='24 hours' is not a duration"):
        resolve_window("24 hours", names=names)
    with pytest.raises(ConfigError, match="--start='yesterday' is not a time"):
        resolve_window(start="yesterday", names=names)
    with pytest.raises(ConfigError, match="empty window"):
        resolve_window(start="2025-01-02", end="2025-01-01", names=names)


def test_parameters() -> None:
    assert parse_param("top_n=5") == ("top_n", 5)
    assert parse_param("ratio=0.5") == ("ratio", 0.5)
    assert parse_param("flag=true") == ("flag", True)
    assert parse_param("names=[a, b]") == ("names", ["a", "b"])
    assert parse_param("q=a=b") == ("q", "a=b")
    assert parse_param("empty=") == ("empty", "")
    with pytest.raises(ConfigError, match="use -p name=value"):
        parse_param("novalue")
    with pytest.raises(ConfigError, match="'prometheus_token' looks like a credential"):
        parse_param("prometheus_token=abc")
    with pytest.raises(ConfigError, match="only scalars and flat lists"):
        parse_param("d={a: 1}")


def test_tenant_slug_is_safe_and_distinct() -> None:
    a, b = tenant_slug("<script>alert(1)</script>\"'"), tenant_slug("<script>alert(2)</script>")
    assert a != b and all(c.isalnum() or c in "_.-" for c in a + b)
    assert tenant_slug("../../etc") != tenant_slug("etc") and "/" not in tenant_slug("../x")


def test_scrubber_counts_and_replaces() -> None:
    s = Scrubber(["s3cret-token-1", "short", ""])
    text = s.text("a s3cret-token-1 b s3cret-token-1 short")
    assert text == "a [redacted] b [redacted] short" and s.count == 2
    tree = s.tree({"x": ["s3cret-token-1"], "y": 1})
    assert tree == {"x": ["[redacted]"], "y": 1} and s.count == 3
    env = Scrubber.from_environment(None, {"MY_API_KEY": "abcdefgh", "HOME": "/root/abc"})
    assert env.text("abcdefgh /root/abc") == "[redacted] /root/abc"


def _rec(run_id: str, started: str, report: str = "r", tenant: str | None = None
         ) -> ledger.RunRecord:
    return ledger.RunRecord(
        run_id=run_id, report=report, title=report.title(), status="ok",
        window_start="w0", window_end="w1", started_at=started, finished_at=started,
        duration_s=1.0, run_dir=f"{report}/{run_id}", html=f"{report}/{run_id}/report.html",
        notebook="", tenant=tenant)


def test_retention_prunes_runs_and_directories(tmp_path: Path) -> None:
    recs = [_rec("a", "2025-01-01T00:00:00Z"), _rec("b", "2025-01-20T00:00:00Z"),
            _rec("c", "2025-01-30T00:00:00Z"), _rec("d", "2025-01-29T00:00:00Z", tenant="x"),
            _rec("e", "2025-01-30T00:00:00Z", tenant="x")]
    for r in recs:
        (tmp_path / r.run_dir).mkdir(parents=True)
        ledger.append(tmp_path, r)
    removed = ledger.prune(tmp_path, keep_days=14, now=NOW)
    assert [r.run_id for r in removed] == ["a"] and not (tmp_path / "r/a").exists()
    removed = ledger.prune(tmp_path, keep_runs=1, now=NOW)
    assert sorted(r.run_id for r in removed) == ["b", "d"]
    kept, bad = ledger.read(tmp_path)
    assert [r.run_id for r in kept] == ["c", "e"] and bad == 0
    assert (tmp_path / "r/c").exists() and not (tmp_path / "r/d").exists()
    html = index.write_index(tmp_path).read_text()
    assert html.index("r/c/report.html") < html.index("r/b/report.html") \
        if "r/b/report.html" in html else "r/c/report.html" in html


def test_unreadable_ledger_lines_are_reported_not_dropped(tmp_path: Path) -> None:
    ledger.append(tmp_path, _rec("a", "2025-01-01T00:00:00Z"))
    with open(tmp_path / ledger.LEDGER, "a") as fh:
        fh.write("{not json\n")
    records, bad = ledger.read(tmp_path)
    assert len(records) == 1 and bad == 1
    assert "1 ledger line(s) could not be read" in index.write_index(tmp_path).read_text()
    with pytest.raises(DataError, match="1 unreadable line"):
        ledger.prune(tmp_path, keep_runs=1)


def test_groups_expand_in_order_and_unknown_names_fail() -> None:
    from tributary_analysis.reports.registry import default_registry, expand

    reg = default_registry()
    # every registered report is in a group: a run without names renders all of them
    assert expand([], reg) == ["daily_operations", "latency", "traces", "dashboard_overview",
                               "errors_slo", "capacity", "alert_review", "tenant_fleet",
                               "dashboard_business", "tenant_usage"]
    assert set(expand([], reg)) == set(reg)
    assert expand(["weekly", "errors_slo", "daily"], reg) == [
        "errors_slo", "capacity", "alert_review", "tenant_fleet", "dashboard_business",
        "daily_operations", "latency", "traces", "dashboard_overview"]
    assert "latency" in reg and "daily" not in reg
    with pytest.raises(ConfigError, match="unknown report 'nightly'"):
        expand(["nightly"], reg)


def test_plan_top_tenants_and_tenant_parameter() -> None:
    from tributary_analysis.reports.registry import default_registry
    from tributary_analysis.reports.tenants import plan

    reg = default_registry()
    w = resolve_window("24h", now=NOW)
    ranked = ["big", "unknown", "mid", "small"]
    reqs = plan([reg["latency"], reg["tenant_usage"]], w, top=2, ranker=lambda _w: ranked)
    assert [(r.spec.name, r.tenant) for r in reqs] == [
        ("latency", None), ("tenant_usage", "big"), ("tenant_usage", "mid")]
    evil = "<script>x</script>\"'"
    reqs = plan([reg["tenant_usage"]], w, scoped={"tenant_usage": {"tenant": evil}})
    assert [(r.tenant, r.parameters) for r in reqs] == [(evil, {})]
    with pytest.raises(ConfigError, match="either as --tenant or as -p"):
        plan([reg["tenant_usage"]], w, tenants=["a"], scoped={"tenant_usage": {"tenant": "b"}})
    with pytest.raises(ConfigError, match="--top-tenants must be at least 1"):
        plan([reg["tenant_usage"]], w, top=0)


def test_batch_links_prefer_the_batch_then_latest_ok(tmp_path: Path) -> None:
    from tributary_analysis.reports.links import batch_links, links_html

    def rec(report: str, batch: str, status: str = "ok", tenant: str | None = None,
            started: str = "2025-01-31T00:00:00Z") -> ledger.RunRecord:
        d = f"{report}/{batch}{'--t' if tenant else ''}"
        return ledger.RunRecord(run_id=batch, report=report, title=report.title(),
                                status=status, window_start="", window_end="",
                                started_at=started, finished_at=started, duration_s=1.0,
                                run_dir=d, html=f"{d}/report.html", notebook="",
                                tenant=tenant, batch=batch, error="boom" if status != "ok"
                                else "")
    for r in (rec("latency", "b1", started="2025-01-30T00:00:00Z"),
              rec("latency", "b2", "failed"), rec("tenant_usage", "b2", tenant="<b>"),
              rec("daily_operations", "b2")):
        ledger.append(tmp_path, r)
    links = batch_links(out_dir=tmp_path, batch="b2")
    assert [(d["report"], d["status"], d["href"]) for d in links] == [
        ("latency", "failed", "../../latency/b2/report.html"),
        ("tenant_usage", "ok", "../../tenant_usage/b2--t/report.html")]
    page = links_html(links)
    assert "<b>" not in page and "&lt;b&gt;" in page and "failed" in page
    older = batch_links(out_dir=tmp_path, batch="b9")  # not in the ledger: latest ok runs
    assert [(d["report"], d["href"], d["same_batch"]) for d in older] == [
        ("latency", "../../latency/b1/report.html", False),
        ("tenant_usage", "../../tenant_usage/b2--t/report.html", False)]
    assert "earlier batches" in links_html(older)


def test_regular_time_grids_travel_as_x0_dx() -> None:
    from tributary_analysis.reports.html import compact_figure

    grid = [f"2026-01-01T00:{m:02d}:00+00:00" for m in range(0, 40, 2)]
    gap = grid[:5] + grid[6:]
    fig = {"data": [{"type": "scatter", "x": grid, "y": list(range(20))},
                    {"x": gap, "y": list(range(19))},
                    {"type": "bar", "orientation": "h", "x": grid, "y": grid},
                    {"type": "scatter", "x": list(range(20)), "y": list(range(20))},
                    {"type": "scatter", "x": grid + grid[::-1], "y": list(range(40))}],
           "layout": {}}
    out = compact_figure(fig)
    first = out["data"][0]
    assert "x" not in first and first["x0"] == grid[0] and first["dx"] == 120_000.0
    assert out["layout"]["xaxis"]["type"] == "date"
    assert [("x" in t) for t in out["data"][1:]] == [True, True, True, True]
    cat = compact_figure({"data": [{"x": grid, "y": grid}],
                          "layout": {"xaxis": {"type": "category"}}})
    assert "x" in cat["data"][0]
