"""What the server says beyond the data reaches the page: one warning box, at the top.

A real fault-injecting proxy (``tests/prom_local.py``) sits in front of the real Prometheus
fixture and adds a warning and ``partialResponse`` to every query answer. The errors
notebook runs through it under papermill, and the ``errors_slo`` report through the CLI;
both must show the warning and the partial response — in exactly one box, placed before the
first section — and the report header must list them. Through the plain proxy (no fault)
the box stays empty and no warnings bundle is emitted.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from prom_local import FaultProxy

from tributary_analysis.notebook import WARNINGS_MIMETYPE

ROOT = Path(__file__).resolve().parents[1]
INJECTED = "injected: store sidecar-2 unreachable"  # what the proxy's "partial" mode adds
PARTIAL = "partial response from prometheus for "

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


@pytest.fixture(scope="module")
def proxy(prometheus_stack: Any) -> Iterator[FaultProxy]:
    p = FaultProxy(prometheus_stack.url)
    try:
        yield p
    finally:
        p.stop()


def run_errors_notebook(tmp: Path, stack: Any, url: str) -> nbformat.NotebookNode:
    m = stack.manifest
    logs = [str(stack.out_dir / f) for f in m["files"]["logs"]]
    params = {"prometheus_url": url, "log_files": logs, "since": "", "start": m["start"],
              "end": m["end"]}
    out = tmp / "errors.ipynb"
    proc = subprocess.run(
        [sys.executable, "-m", "papermill", str(ROOT / "notebooks" / "errors.ipynb"),
         str(out), "--cwd", str(tmp), "-y", json.dumps(params)],
        capture_output=True, text=True, timeout=900, check=False, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-4000:]
    return nbformat.read(out, as_version=4)


def boxes(book: nbformat.NotebookNode) -> list[tuple[int, dict[str, Any]]]:
    """(cell index, output data) of every output carrying the warnings bundle."""
    return [(i, o["data"]) for i, c in enumerate(book.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if WARNINGS_MIMETYPE in o.get("data", {})]


def first_section(book: nbformat.NotebookNode) -> int:
    return next(i for i, c in enumerate(book.cells)
                if c.cell_type == "markdown" and c.source.startswith("## "))


def test_partial_response_and_warning_reach_the_notebooks_one_box(
        proxy: FaultProxy, prometheus_stack: Any, tmp_path: Path) -> None:
    proxy.reset(mode="partial")
    book = run_errors_notebook(tmp_path, prometheus_stack, proxy.url)
    assert any("query" in r["path"] for r in proxy.state.requests)  # it went through us
    found = boxes(book)
    assert len(found) == 1, [i for i, _ in found]  # one box per page ...
    cell, data = found[0]
    assert cell < first_section(book)  # ... at the top, before the first section
    notes = data[WARNINGS_MIMETYPE]["warnings"]
    assert INJECTED in notes
    partial = [n for n in notes if n.startswith(PARTIAL)]
    assert partial and any("http_requests_total" in n for n in partial)
    assert INJECTED in data["text/html"] and PARTIAL in data["text/html"]
    assert data[WARNINGS_MIMETYPE]["source"].startswith("prometheus")


def test_a_quiet_server_leaves_the_box_empty(proxy: FaultProxy, prometheus_stack: Any,
                                             tmp_path: Path) -> None:
    proxy.reset(mode="forward")
    book = run_errors_notebook(tmp_path, prometheus_stack, proxy.url)
    found = boxes(book)
    notes = [n for _, d in found for n in d[WARNINGS_MIMETYPE]["warnings"]]
    assert not [n for n in notes if n == INJECTED or n.startswith(PARTIAL)]
    assert all("⚠" not in str(o.get("data", {}).get("text/html", ""))
               for c in book.cells if c.cell_type == "code" for o in c.get("outputs", [])
               if WARNINGS_MIMETYPE not in o.get("data", {}))


def test_partial_response_and_warning_reach_the_rendered_report(
        proxy: FaultProxy, prometheus_stack: Any, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from tributary_analysis.cli import main
    from tributary_analysis.reports import ledger

    proxy.reset(mode="partial")
    m = prometheus_stack.manifest
    monkeypatch.setenv("TRIBUTARY_PROMETHEUS_URL", proxy.url)
    monkeypatch.setenv("TRIBUTARY_LOG_FILES", str(prometheus_stack.out_dir / "logs"))
    monkeypatch.delenv("TRIBUTARY_REPORT_WEBHOOK_URL", raising=False)
    out = tmp_path / "reports"
    code = main(["report", "run", "errors_slo", "--start", m["start"], "--end", m["end"],
                 "--out", str(out), "--jobs", "1", "--timeout", "900"])
    records, _ = ledger.read(out)
    [run] = [r for r in records if r.report == "errors_slo"]
    assert code in (0, 2) and run.html, run.error
    html = (out / run.html).read_text()
    # one warnings box, at the top of the page (the notebook's own box is not repeated)
    assert html.count('id="tributary-warnings"') == 1
    box = html[html.index('id="tributary-warnings"'):]
    box = box[:box.index("</div>")]
    assert INJECTED in box and PARTIAL in box
    assert html.index('id="tributary-warnings"') < html.index('class="tr-section')
    # the partial response makes the run a warning, and summary.json lists the notes
    summary = json.loads((out / run.run_dir / "summary.json").read_text())
    assert summary["status"] == "warning" and INJECTED in summary["warnings"]
    book = nbformat.read(out / run.notebook, as_version=4)
    assert len(boxes(book)) == 1
