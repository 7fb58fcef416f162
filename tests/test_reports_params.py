"""Report inputs, the ledger and retention: pure functions, known answers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tributary_analysis.errors import ConfigError, DataError
from tributary_analysis.reports import index, ledger
from tributary_analysis.reports.params import parse_param, resolve_window
from tributary_analysis.reports.runner import tenant_slug
from tributary_analysis.reports.scrub import Scrubber

NOW = datetime(2025, 1, 31, 12, 0, 30, 123456, tzinfo=UTC)


def test_windows() -> None:
    w = resolve_window("24h", now=NOW)
    assert w.iso() == ("2025-01-30T12:00:30Z", "2025-01-31T12:00:30Z")
    w = resolve_window(start="2025-01-01", end="2025-01-08T00:00:00+02:00")
    assert w.iso() == ("2025-01-01T00:00:00Z", "2025-01-07T22:00:00Z")
    assert w.describe().endswith("(6d22h)") or "2025-01-01" in w.describe()
    with pytest.raises(ConfigError, match="either --since or --start/--end"):
        resolve_window("1h", start="2025-01-01")
    with pytest.raises(ConfigError, match="cannot read duration '24 hours'"):
        resolve_window("24 hours")
    with pytest.raises(ConfigError, match="cannot read --start 'yesterday'"):
        resolve_window(start="yesterday")
    with pytest.raises(ConfigError, match="empty window"):
        resolve_window(start="2025-01-02", end="2025-01-01")


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
