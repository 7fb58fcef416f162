"""The real reports (notebooks/*.ipynb) rendered by the CLI against the real Prometheus
fixture and the simulator's log files (``small`` profile, seed 7).

One CLI batch renders every report of the default set (the per-tenant report for the
busiest tenant); further small batches cover a hostile tenant id and a Prometheus that is
down. A canary token and password are set as the credentials for every batch and must
appear in no output file.
"""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tributary_analysis.cli import main
from tributary_analysis.reports import ledger
from tributary_analysis.reports.registry import DEFAULT_SET, GROUPS, default_registry

CANARY_TOKEN = "canary-prom-real-5e1d7b"
CANARY_PASSWORD = "canary-es-real-9a0c44"
EVIL = "<script>alert(1)</script>\"'"
MAX_HTML = 1_500_000

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(monkeypatch: pytest.MonkeyPatch, stack: Any, out: Path, *args: str,
        prometheus_url: str | None = None) -> int:
    """``tributary report run`` with the canary credentials set in the environment."""
    m = stack.manifest
    monkeypatch.setenv("TRIBUTARY_PROMETHEUS_URL", prometheus_url or stack.url)
    monkeypatch.setenv("TRIBUTARY_LOG_FILES", str(stack.out_dir / "logs"))
    monkeypatch.setenv("TRIBUTARY_TRACE_FILES", str(stack.out_dir / "traces"))  # traces
    monkeypatch.setenv("TRIBUTARY_PROMETHEUS_TOKEN", CANARY_TOKEN)
    monkeypatch.setenv("TRIBUTARY_ES_PASSWORD", CANARY_PASSWORD)
    monkeypatch.delenv("TRIBUTARY_REPORT_WEBHOOK_URL", raising=False)
    return main(["report", "run", *args, "--start", m["start"], "--end", m["end"],
                 "--out", str(out), "--jobs", "2", "--timeout", "600"])


@pytest.fixture(scope="module")
def real(prometheus_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("real-reports")
    mp = pytest.MonkeyPatch()
    try:
        codes = {
            "all": cli(mp, prometheus_stack, out, "--top-tenants", "1"),
            "evil": cli(mp, prometheus_stack, out, "tenant_usage", "-p",
                        f"tenant_usage.tenant={EVIL}"),
            "down": cli(mp, prometheus_stack, out, "daily_operations",
                        prometheus_url=f"http://127.0.0.1:{closed_port()}"),
        }
    finally:
        mp.undo()
    records, bad = ledger.read(out)
    assert bad == 0
    return {"out": out, "codes": codes, "records": records}


def batches(real: dict[str, Any]) -> list[list[ledger.RunRecord]]:
    by: dict[str, list[ledger.RunRecord]] = {}
    for r in real["records"]:
        by.setdefault(r.batch, []).append(r)
    return sorted(by.values(), key=lambda rs: min(r.started_at for r in rs))


def test_every_real_report_renders_with_figures_and_header(real: dict[str, Any],
                                                           prometheus_stack: Any) -> None:
    first = batches(real)[0]
    assert real["codes"]["all"] == (0 if all(r.ok for r in first) else 2)
    expected = {n for g in DEFAULT_SET for n in GROUPS[g]}
    assert {r.report for r in first} == expected == set(default_registry())
    m = prometheus_stack.manifest
    for r in first:
        assert r.status == "ok", (r.report, r.error)
        assert r.figures >= 1, r.report
        html = (real["out"] / r.html).read_text()
        assert r.html_bytes == len(html.encode()) < MAX_HTML
        assert 'id="tributary-header"' in html and 'id="tributary-failure"' not in html
        assert m["start"] in html and m["end"] in html
        # the source the notebook reported: the traces report reads the trace files only
        assert (".jsonl" in html if r.report == "traces" else prometheus_stack.url in html), \
            r.report
        assert html.count('type="application/vnd.tributary.figure+json"') == r.figures
        assert "Traceback" not in html
    tenant_run = next(r for r in first if r.report == "tenant_usage")
    assert tenant_run.tenant not in (None, "unknown")
    html = (real["out"] / tenant_run.html).read_text()
    assert 'id="tributary-header"' in html and tenant_run.html_bytes < MAX_HTML


def test_tenant_usage_renders_for_the_busiest_tenant(real: dict[str, Any]) -> None:
    run = next(r for r in batches(real)[0] if r.report == "tenant_usage")
    assert run.status == "ok", run.error
    assert run.figures >= 1


def test_daily_report_links_the_detailed_reports_of_its_batch(real: dict[str, Any]) -> None:
    first = batches(real)[0]
    daily = next(r for r in first if r.report == "daily_operations")
    others = [r for r in first if r.report != "daily_operations"]
    # summaries start after the rest of their batch
    assert daily.started_at >= max(r.finished_at for r in others)
    html = (real["out"] / daily.html).read_text()
    for r in others:
        href = "../../" + r.html
        assert f'href="{href}"' in html, r.report
        assert (real["out"] / daily.run_dir / href).resolve().is_file()
    nb = nbformat.read(real["out"] / daily.notebook, as_version=4)
    text = json.dumps([o for c in nb.cells for o in c.get("outputs", [])])
    assert "same hours" in text or "previous week" in text or "no baseline" in text


def test_hostile_tenant_is_inert_in_a_real_tenant_report(real: dict[str, Any]) -> None:
    run = next(r for r in real["records"] if r.tenant == EVIL)
    assert real["codes"]["evil"] == (0 if run.ok else 2)
    html = (real["out"] / run.html).read_text()
    assert 'id="tributary-header"' in html
    assert "<script>alert(1)" not in html
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 1  # header (at least)
    # the only scripts are the two shared assets and inert figure data blocks
    scripts = re.findall(r"<script\b([^>]*)>", html)
    assert all('type="application/vnd.tributary.figure+json"' in s or "src=" in s
               for s in scripts)
    index = (real["out"] / "index.html").read_text()
    assert "<script>alert" not in index and "&lt;script&gt;alert(1)" in index
    assert "<" not in run.run_dir and '"' not in run.run_dir


def test_tenant_report_for_a_tenant_without_rate_limit_hits_succeeds(
        real: dict[str, Any]) -> None:
    # a tenant with no data in the window renders and says so: status warning (issue 10 §7)
    run = next(r for r in real["records"] if r.tenant == EVIL)
    assert run.status == "warning" and not run.error, run.error


def test_source_down_gives_failure_page_index_entry_and_exit_2(real: dict[str, Any]) -> None:
    assert real["codes"]["down"] == 2
    run = batches(real)[-1][0]
    assert run.report == "daily_operations" and run.status == "failed"
    html = (real["out"] / run.html).read_text()
    assert 'id="tributary-failure"' in html
    assert re.search(r"In code cell \d+ of \d+", html)
    assert "127.0.0.1" in run.error or "connect" in run.error.lower(), run.error
    index = (real["out"] / "index.html").read_text()
    assert f'href="{run.html}"' in index and "run run-failed" in index


def test_canary_credentials_in_no_output_file_of_a_real_run(real: dict[str, Any]) -> None:
    files = [p for p in real["out"].rglob("*") if p.is_file()]
    assert any(p.name == "report.ipynb" for p in files)
    leaks = [str(p) for p in files if CANARY_TOKEN.encode() in p.read_bytes()
             or CANARY_PASSWORD.encode() in p.read_bytes()]
    assert leaks == []
