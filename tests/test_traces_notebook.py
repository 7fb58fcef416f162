"""The ``traces`` notebook: committed clean and thin, executed on a real kernel against the
session simulation's files and the real Jaeger, its summary checked against the truth, and a
hostile tenant id inert on the page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "traces.ipynb"
CREDENTIAL_WORDS = ("token", "password", "passwd", "secret", "api_key", "apikey", "credential")


def test_committed_notebook_is_thin_clean_and_parameterised() -> None:
    book = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    names = [line.split("=")[0].strip() for line in params[0].source.splitlines()
             if "=" in line and not line.lstrip().startswith("#")]
    for required in ("since", "start", "end", "tenant", "endpoint", "trace_source",
                     "trace_files", "jaeger_url", "log_source", "log_files", "summary_path"):
        assert required in names
    assert not [n for n in names if any(w in n.lower() for w in CREDENTIAL_WORDS)]
    assert not any(line.lstrip().startswith(("def ", "class ", "for ", "while "))
                   and "examples.items()" not in line
                   for c in code for line in c.source.splitlines())
    # the answer opens the page: tiles and findings from the one summary, no prose contents
    assert any("nb.show_summary(" in c.source for c in code)
    first = next(c for c in book.cells if c.cell_type == "markdown")
    assert not any(line.lstrip().startswith(("1.", "- ")) for line in first.source.splitlines())


def _run(tmp: Path, params: dict[str, Any], min_figures: int = 3
         ) -> tuple[dict[str, Any], nbformat.NotebookNode]:
    tmp.mkdir(parents=True, exist_ok=True)
    out, summary = tmp / "traces.ipynb", tmp / "summary.json"
    args = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(out), "--cwd", str(tmp),
            "-y", json.dumps({"since": "", "summary_path": str(summary), **params})]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-4000:]
    executed = nbformat.read(out, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    stderr = [o["text"] for o in outputs if o.get("output_type") == "stream"
              and o.get("name") == "stderr"]
    assert not stderr, stderr
    figs = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figs) >= min_figures
    return json.loads(summary.read_text()), executed


def _page_text(book: nbformat.NotebookNode) -> str:
    parts = []
    for c in book.cells:
        for o in c.get("outputs", []):
            data = o.get("data", {})
            parts += [str(data.get(k, "")) for k in ("text/html", "text/markdown")]
    return "\n".join(parts)


def test_files_source_over_the_error_spike(sim: Any, trace_files: list[Path],
                                           tmp_path: Path) -> None:
    spike = next(i for i in sim.incidents if i.kind == "error_spike")
    logs = [str(sim.out_dir / p) for p in sim.manifest["files"]["logs"]]
    # half an hour either side: the 40-minute spike alone holds ~17-30 slow traces,
    # depending on the hour of day the session's simulation puts it at (the comparison
    # needs 20; that it is withheld below is tested in test_traces_analysis)
    start = pd.Timestamp(spike.start) - pd.Timedelta("30min")
    end = pd.Timestamp(spike.end) + pd.Timedelta("30min")
    summary, book = _run(tmp_path, {
        "start": start.isoformat(), "end": end.isoformat(),
        "trace_files": [str(p) for p in trace_files], "log_files": logs})
    truth = pd.DataFrame(sim.spans)
    roots = truth[truth["parent_span_id"].isna()]
    in_w = roots[(roots["start"] >= start) & (roots["start"] < end)]
    assert summary["status"] == "ok"
    tiles = {h["key"]: h for h in summary["headline"]}
    details = summary["details"]
    assert details["traces"] == len(in_w) == tiles["traces"]["value"]
    assert details["failed_traces"] == int((in_w["status"] == "error").sum())
    assert tiles["failed_traces"]["value"] == pytest.approx(details["failed_traces"] / len(in_w))
    assert tiles["top_exception"]["text"] == "SearchBackendUnavailable"
    assert len(summary["findings"]) <= 5 and "SearchBackendUnavailable" in summary["findings"][-1]
    assert details["error_groups"][0]["exception_type"] == \
        "app.services.deeplake.SearchBackendUnavailable"
    assert summary["insufficient"] == []
    text = _page_text(book)
    assert "SearchBackendUnavailable" in text and "HTTP request processed" in text
    for bad in ("NaN", "NaT", "e+0", str(sim.out_dir)):
        assert bad not in text, bad


def test_jaeger_source_and_a_hostile_tenant(jaeger_traces: Any, sim: Any,
                                            tmp_path: Path) -> None:
    reg = next(i for i in sim.incidents if i.kind == "latency_regression")
    summary, _ = _run(tmp_path / "a", {
        "start": reg.start.isoformat(), "end": reg.end.isoformat(), "trace_source": "jaeger",
        "jaeger_url": jaeger_traces.url, "endpoint": "/api/v1/datasets/{id}/search"})
    assert summary["details"]["critical_path"][0]["operation"] == "search_vectors"
    evil = "<img src=x onerror=alert(1)>' OR '1'='1"
    summary, book = _run(tmp_path / "b", {
        "start": reg.start.isoformat(), "end": reg.end.isoformat(), "trace_source": "jaeger",
        "jaeger_url": jaeger_traces.url, "tenant": evil}, min_figures=1)
    assert summary["details"]["traces"] == 0 and summary["status"] == "warning"
    text = _page_text(book)
    assert "<img src=x" not in text
    assert "No traces" in text


def test_credentials_in_the_jaeger_url_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "x.ipynb"
    args = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(out), "--cwd", str(tmp_path),
            "-y", json.dumps({"trace_source": "jaeger",
                              "jaeger_url": "http://user:hunter2@127.0.0.1:1"})]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode != 0
    assert "jaeger_url carries credentials" in proc.stderr + out.read_text()


@pytest.mark.parametrize("bad", [{"trace_source": "zipkin"}, {"since": "soon"}])
def test_bad_parameters_fail_with_the_parameter_named(tmp_path: Path, bad: dict[str, str]
                                                      ) -> None:
    out = tmp_path / "x.ipynb"
    args = [sys.executable, "-m", "papermill", str(NOTEBOOK), str(out), "--cwd", str(tmp_path),
            "-y", json.dumps(bad)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    assert proc.returncode != 0
    name = next(iter(bad))
    assert f"{name}=" in proc.stderr + out.read_text()
