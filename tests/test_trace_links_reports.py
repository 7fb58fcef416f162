"""The latency and errors reports link their findings to example traces (issue 15 §5/§6).

Both reports run through the real runner on the real Prometheus fixture with the session's
OTLP trace files. Checked against the simulator's own spans (``sim.spans``, the truth the
files were written from): the latency page's examples are real traces of the regressed
endpoint, started inside the deploy regression, and among its slowest requests there; the
errors page's examples are failed traces of the error spike carrying its exception. Without
any trace source configured a page says so in one line, and a typo endpoint still renders.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from tributary_analysis.ground.time import parse_window
from tributary_analysis.reports.registry import default_registry
from tributary_analysis.reports.runner import RunRequest, run_reports

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

SEARCH = "/api/v1/datasets/{id}/search"


@pytest.fixture(scope="module")
def pages(prometheus_stack: Any, trace_files: list[Path],
          tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("trace-links")
    m = prometheus_stack.manifest
    mp = pytest.MonkeyPatch()
    mp.setenv("TRIBUTARY_PROMETHEUS_URL", prometheus_stack.url)
    mp.setenv("TRIBUTARY_LOG_FILES", str(prometheus_stack.out_dir / "logs"))
    mp.delenv("TRIBUTARY_REPORT_WEBHOOK_URL", raising=False)
    files = [str(f) for f in trace_files]
    try:
        reg = default_registry()
        window = parse_window(start=m["start"], end=m["end"])
        reqs = [RunRequest(reg["latency"], window, parameters={"trace_files": files}),
                RunRequest(reg["errors_slo"], window, parameters={"trace_files": files}),
                RunRequest(reg["latency"], parse_window("6h", end=m["end"]))]
        records = run_reports(reqs, out, jobs=2, timeout=900, notify=False)
    finally:
        mp.undo()
    found = {}
    for key, r in zip(("latency", "errors_slo", "no_source"), records, strict=True):
        assert r.status in ("ok", "warning"), (key, r.error)
        found[key] = {"html": (out / r.html).read_text(),
                      "summary": json.loads((out / r.run_dir / "summary.json").read_text())}
    return found


def _incident(sim: Any, kind: str) -> Any:
    return next(i for i in sim.incidents if i.kind == kind)


def _roots(sim: Any) -> pd.DataFrame:
    """Each trace's root span (the server span, no parent) with its request's endpoint."""
    spans = sim.spans
    roots = spans[spans["parent_span_id"].isna()].set_index("trace_id")
    req = sim.requests.iloc[roots["request_row"].to_numpy()]
    return roots.assign(endpoint=req["endpoint"].astype(str).to_numpy())


def test_latency_examples_are_slow_requests_of_the_regression(
        pages: dict[str, dict[str, Any]], sim: Any) -> None:
    page = pages["latency"]
    ids = page["summary"]["details"]["example_traces"]
    assert len(ids) == 5
    inc = _incident(sim, "latency_regression")
    start, end = pd.Timestamp(inc.start), pd.Timestamp(inc.end)
    roots = _roots(sim)
    assert set(ids) <= set(roots.index), "every example is a trace the simulator wrote"
    ex = roots.loc[ids]
    # the deploy is read from 1-minute samples: the after window may open a bin early
    assert (ex["start"] >= start - pd.Timedelta(minutes=2)).all() and (ex["start"] < end).all()
    assert set(ex["endpoint"]) == {SEARCH}
    # among the slowest sampled searches of the episode: all above its p90, and slower
    # than the p95 of the same endpoint's traces before the deploy
    inside = roots[(roots["endpoint"] == SEARCH) & (roots["start"] >= start)
                   & (roots["start"] < end)]
    before = roots[(roots["endpoint"] == SEARCH) & (roots["start"] < start)]
    assert (ex["duration_s"] >= inside["duration_s"].quantile(0.9)).all()
    assert ex["duration_s"].min() > before["duration_s"].quantile(0.95)
    # shown on the page, as text (no Jaeger URL is configured), with their log lines
    for tid in ids:
        assert f"<code>{tid}</code>" in page["html"]
    assert "Request started" in page["html"] and "no Jaeger URL is configured" in page["html"]


def test_errors_examples_are_failed_traces_of_the_spike(
        pages: dict[str, dict[str, Any]], sim: Any) -> None:
    page = pages["errors_slo"]
    ids = page["summary"]["details"]["example_traces"]
    assert ids
    inc = _incident(sim, "error_spike")
    start, end = pd.Timestamp(inc.start), pd.Timestamp(inc.end)
    roots = _roots(sim)
    ex = roots.loc[ids]
    assert (ex["status"] == "error").all()
    in_spike = (ex["start"] >= start - pd.Timedelta(minutes=5)) & (ex["start"] < end)
    assert in_spike.any(), ex[["start", "endpoint"]]
    spiked = ex[in_spike]
    assert set(spiked["endpoint"]) == {SEARCH}
    raised = sim.spans[sim.spans["trace_id"].isin(spiked.index)]["exception"].dropna()
    assert set(raised.astype(str)) & set(inc.expected["spans"][0]["exception_types"])
    for tid in ids:
        assert f"<code>{tid}</code>" in page["html"]


def test_without_a_trace_source_the_page_says_so(pages: dict[str, dict[str, Any]]) -> None:
    page = pages["no_source"]
    assert "no trace source is configured" in page["html"]
    assert page["summary"]["details"]["example_traces"] == []
