"""Report runs on a real kernel with fixture notebooks: pages, failures, timeout, secrets.

One batch of fixture runs (module fixture) feeds most assertions, so the kernel start-ups
are paid once.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from tributary_analysis.errors import ConfigError, ReportError
from tributary_analysis.ground.time import parse_window as resolve_window
from tributary_analysis.reports import ledger
from tributary_analysis.reports.registry import ReportSpec
from tributary_analysis.reports.runner import RunRequest, raise_for_failures, run_reports

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
CANARY_TOKEN = "canary-prom-7f3a9c1e2b"
CANARY_PASSWORD = "canary-es-4d8e6f0a13"
EVIL = "<script>alert(1)</script>\"'"
TIMEOUT = 15.0
MAX_HTML = 1_500_000

pytestmark = pytest.mark.slow


def spec(name: str, notebook: str, **kw: object) -> ReportSpec:
    return ReportSpec(name=name, notebook=FIXTURES / notebook, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, ledger.RunRecord | Path]:
    out = tmp_path_factory.mktemp("reports")
    mp = pytest.MonkeyPatch()
    mp.setenv("TRIBUTARY_PROMETHEUS_TOKEN", CANARY_TOKEN)
    mp.setenv("TRIBUTARY_ES_PASSWORD", CANARY_PASSWORD)
    mp.setenv("TRIBUTARY_HOME", str(out / "home"))
    mp.delenv("TRIBUTARY_CONFIG", raising=False)
    mp.delenv("TRIBUTARY_REPORT_WEBHOOK_URL", raising=False)
    window = resolve_window("24h", end="2025-01-31T00:00:00Z")
    reqs = [
        RunRequest(spec("figures", "figures.ipynb"), window, {"points": 20}),
        RunRequest(spec("raises", "raises.ipynb"), window),
        RunRequest(spec("tenant", "tenant.ipynb", per_tenant=True), window, tenant=EVIL),
        RunRequest(spec("credentials", "credentials.ipynb"), window),
        RunRequest(spec("credentials_raises", "credentials_raises.ipynb"), window),
    ]
    try:
        records = run_reports(reqs, out, jobs=2, timeout=300)
        records += run_reports([RunRequest(spec("sleeps", "sleeps.ipynb"), window)], out,
                               timeout=TIMEOUT)
    finally:
        mp.undo()
    result: dict[str, ledger.RunRecord | Path] = {r.report: r for r in records}
    result["out"] = out
    return result


def rec(batch: dict, name: str) -> ledger.RunRecord:
    r = batch[name]
    assert isinstance(r, ledger.RunRecord)
    return r


def page(batch: dict, name: str) -> str:
    return (batch["out"] / rec(batch, name).html).read_text()


def test_successful_report_has_figures_header_and_no_code(batch: dict) -> None:
    r = rec(batch, "figures")
    assert r.status == "ok", r.error
    assert r.figures == 2
    html = page(batch, "figures")
    assert r.html_bytes == len(html.encode()) < MAX_HTML
    # figures as inert data blocks, drawn by the shared scripts
    assert html.count('type="application/vnd.tributary.figure+json"') == 2
    assert '"name":"squares"' in html
    # plotly.js loaded once from the shared asset, never embedded or from a CDN
    srcs = re.findall(r'<script[^>]*\bsrc="([^"]+)"', html)
    assert srcs == ["../../assets/plotly.min.js", "../../assets/tributary-report.js"]
    run_dir = batch["out"] / r.run_dir
    for src in srcs:
        assert (run_dir / src).resolve().is_file()
    assert (batch["out"] / "assets" / "plotly.min.js").stat().st_size > 3_000_000
    assert "Plotly.newPlot" not in html.replace("window.Plotly.newPlot", "")
    assert "cdn" not in html.lower() and "require.js" not in html
    # header: window, sources reported by the notebook, warnings, parameters
    assert "2025-01-30T00:00:00Z" in html and "2025-01-31T00:00:00Z" in html
    assert "http://127.0.0.1:1/" in html
    assert "3 series dropped (NaN only)" in html and r.warnings == 1
    assert "points=20" in html
    # code hidden, outputs shown
    assert "go.Figure(" not in html and "window 2025-01-30T00:00:00Z" in html
    # the executed notebook carries the injected parameters and no figure HTML
    nb = nbformat.read(batch["out"] / r.notebook, as_version=4)
    assert nb.metadata.papermill.parameters["points"] == 20
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)


def test_raising_notebook_gives_failure_page_and_ledger_entry(batch: dict) -> None:
    r = rec(batch, "raises")
    assert r.status == "failed"
    assert "ValueError: fixture failure for window 2025-01-30T00:00:00Z" in r.error
    html = page(batch, "raises")
    assert 'id="tributary-failure"' in html
    # code cell 4 of the executed notebook: papermill's injected parameters cell comes 2nd
    assert "In code cell 4 of 5 (execution count [4])" in html
    assert r.error.endswith("(cell 4)")
    assert "raise ValueError" in html  # the failing cell's source excerpt
    assert "before the failure" in html  # outputs before the failure still shown
    assert "never reached" not in html.replace("print(&#39;never reached&#39;)", "")
    with pytest.raises(ReportError, match=r"raises: failed \(ValueError"):
        raise_for_failures([r])


def test_whole_notebook_timeout_stops_run_and_kernel(batch: dict) -> None:
    r = rec(batch, "sleeps")
    assert r.status == "timeout"
    assert TIMEOUT <= r.duration_s < TIMEOUT + 15
    assert "in cell 4" in r.error  # the sleeping cell, judged from the stop, not metadata
    html = page(batch, "sleeps")
    assert f"whole-notebook timeout of {TIMEOUT:g} s expired" in html
    assert "going to sleep" in html
    # no process (worker or kernel) of this output directory survives
    marker = f"TRIBUTARY_REPORTS_DIR={Path(batch['out']).resolve()}".encode()
    survivors = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in env.read_bytes().split(b"\0"):
                survivors.append(env.parent.name)
        except OSError:
            continue
    assert survivors == []


def test_hostile_tenant_id_is_inert_text(batch: dict) -> None:
    r = rec(batch, "tenant")
    assert r.status == "ok", r.error
    assert r.tenant == EVIL
    html = page(batch, "tenant")
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # header, print output, markdown output, table cell and warning: all escaped
    assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 5
    assert "\\u003cscript\\u003ealert(1)" in html  # inside the figure's JSON block
    index = (batch["out"] / "index.html").read_text()
    assert "<script>alert" not in index and "&lt;script&gt;alert(1)" in index
    # the directory name is derived, not the raw id
    assert "<" not in r.run_dir and '"' not in r.run_dir


def test_canary_credentials_appear_in_no_output_file(batch: dict) -> None:
    out: Path = batch["out"]
    assert rec(batch, "credentials").status == "ok"
    assert rec(batch, "credentials").redactions >= 3
    assert rec(batch, "credentials_raises").status == "failed"
    files = [p for p in out.rglob("*") if p.is_file()]
    assert any(p.suffix == ".ipynb" for p in files) and any(p.name == "run.log" for p in files)
    assert (out / "runs.jsonl").exists() and (out / "index.html").exists()
    leaks = [str(p) for p in files
             if CANARY_TOKEN.encode() in p.read_bytes() or CANARY_PASSWORD.encode()
             in p.read_bytes()]
    assert leaks == []
    html = page(batch, "credentials")
    assert "[redacted]" in html and "were redacted" in html
    failed = page(batch, "credentials_raises")
    assert "RuntimeError: cannot log in with [redacted]" in failed


def test_index_lists_every_run_newest_first(batch: dict) -> None:
    records, bad = ledger.read(batch["out"])
    assert bad == 0 and len(records) == 6
    index = (batch["out"] / "index.html").read_text()
    rows = re.findall(r'<tr class="run run-(\w+)">\s*<td>([^<]+)</td>', index)
    assert len(rows) == 6
    starts = [s for _, s in rows]
    assert starts == sorted(starts, reverse=True)
    assert {s for s, _ in rows} == {"ok", "failed", "timeout"}
    for r in records:
        assert f'href="{r.html}"' in index
        assert (batch["out"] / r.html).exists()


def test_parameters_are_checked_before_anything_runs(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    window = resolve_window("1h")
    with pytest.raises(ConfigError, match=r"unknown parameter\(s\) nope; figures.ipynb "
                                          r"declares: end, points, start"):
        run_reports([RunRequest(spec("figures", "figures.ipynb"), window, {"nope": 1})],
                    tmp_path)
    with pytest.raises(ConfigError, match="is per tenant: pass --tenant"):
        run_reports([RunRequest(spec("t", "tenant.ipynb", per_tenant=True), window)], tmp_path)
    monkeypatch.setenv("TRIBUTARY_PROMETHEUS_TOKEN", CANARY_TOKEN)
    with pytest.raises(ConfigError, match="'points' carries a credential"):
        from tributary_analysis.reports.runner import run_report

        run_report(RunRequest(spec("figures", "figures.ipynb"), window,
                              {"points": CANARY_TOKEN}), tmp_path)
    assert not (tmp_path / "runs.jsonl").exists()


def test_cli_refuses_secret_looking_parameter(tmp_path: Path) -> None:
    from tributary_analysis.cli import main

    assert main(["report", "run", "daily_operations", "-p", "api_token=abc",
                 "--out", str(tmp_path)]) == 2
    assert not any(tmp_path.iterdir())


def test_relative_out_dir_from_another_directory(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`make demo` passes `--out reports`: the kernel runs in the notebook's folder, so every
    path handed to the worker must be absolute (a relative kernelspec dir was not found)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIBUTARY_HOME", str(tmp_path / "home"))
    window = resolve_window("24h", end="2025-01-31T00:00:00Z")
    records = run_reports([RunRequest(spec("figures", "figures.ipynb"), window, {"points": 5})],
                          Path("reports"), timeout=300)
    assert [r.status for r in records] == ["ok"], records[0].error
    assert (tmp_path / "reports" / records[0].html).is_file()
