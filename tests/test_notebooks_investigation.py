"""The investigation notebooks (latency, errors and SLOs) and the fleet tenant report.

Committed clean; executed under papermill on a real kernel against the real Prometheus
fixture and the simulator's log files (``small`` profile, seed 7), their JSON summaries
checked against ``incidents.json`` and the request truth. Also: the helpers they call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pandas as pd
import pytest

from tributary_analysis import notebook as nb
from tributary_analysis.errors import ConfigError
from tributary_analysis.frames.meta import FrameMeta, set_meta

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("latency", "errors")
# the tenant reports read no logs (no log parameters): their structure is checked in
# tests/test_tenant_report_pages.py; the fleet tenant report's noisy-tenant run is here
NOTEBOOKS = {n: ROOT / "notebooks" / f"{n}.ipynb" for n in (*NAMES, "tenant_fleet")}
CREDENTIAL_WORDS = ("token", "password", "passwd", "secret", "api_key", "apikey", "credential")
TEN_MIN = pd.Timedelta(minutes=10)


# ------------------------------------------------------------------ committed notebooks


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_is_thin_clean_and_parameterised(name: str) -> None:
    book = nbformat.read(NOTEBOOKS[name], as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    names = [line.split("=")[0].strip() for line in params[0].source.splitlines()
             if "=" in line and not line.lstrip().startswith("#")]
    for required in ("since", "start", "end", "tenants", "endpoint", "prometheus_url",
                     "log_source", "log_files", "summary_path"):
        assert required in names
    assert not [n for n in names if any(w in n.lower() for w in CREDENTIAL_WORDS)]
    defs = sum(line.lstrip().startswith(("def ", "class ")) for c in code
               for line in c.source.splitlines())
    assert defs <= 1
    assert sum(c.cell_type == "markdown" for c in book.cells) >= 4  # explains what is shown


# ------------------------------------------------------------------ executed notebooks


def run(name: str, tmp: Path, stack: Any, params: dict[str, Any],
        env: dict[str, str] | None = None) -> tuple[dict[str, Any], nbformat.NotebookNode]:
    out, summary = tmp / f"{name}.ipynb", tmp / f"{name}.json"
    logs = [str(stack.out_dir / p) for p in stack.manifest["files"]["logs"]]
    params = {"prometheus_url": stack.url, "log_files": logs, "since": "",
              "summary_path": str(summary), **params}
    args = [sys.executable, "-m", "papermill", str(NOTEBOOKS[name]), str(out), "--cwd",
            str(tmp), "-y", json.dumps(params)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False,
                          env={**os.environ, **(env or {})})
    assert proc.returncode == 0, proc.stderr[-4000:]
    executed = nbformat.read(out, as_version=4)
    outputs = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    stderr = [o["text"] for o in outputs if o.get("output_type") == "stream"
              and o.get("name") == "stderr"]
    assert not stderr, stderr
    # figures travel as the plotly mimetype (drawn by JupyterLab or the report's shared
    # plotly.js); none embeds plotly.js
    figs = [o for o in outputs if "application/vnd.plotly.v1+json" in o.get("data", {})]
    assert len(figs) >= 4
    assert not any("plotly.js v" in str(o.get("data", {}).get("text/html", ""))
                   for o in outputs)
    return flat(json.loads(summary.read_text())), executed


def flat(doc: dict[str, Any]) -> dict[str, Any]:
    """A summary.json read as the key results it carries: the schema's fields with the
    report-specific ``details`` beside them (older free-form summaries as they are)."""
    return {**doc.get("details", {}), **doc} if doc.get("schema") else doc


@pytest.fixture(scope="module")
def incidents(prometheus_stack: Any) -> dict[str, Any]:
    raw = json.loads((prometheus_stack.out_dir / "incidents.json").read_text())
    return {i["kind"]: i for i in raw}


@pytest.mark.prometheus
@pytest.mark.slow
def test_latency_notebook_flags_the_deploy(prometheus_stack, incidents, tmp_path) -> None:  # type: ignore[no-untyped-def]
    m, truth = prometheus_stack.manifest, prometheus_stack.result.requests
    s, _ = run("latency", tmp_path, prometheus_stack, {"start": m["start"], "end": m["end"]})
    reg = incidents["latency_regression"]
    first = s["deploys"][0]
    assert first["to_version"] == reg["affects"]["version"]
    # within one bin (2 min for a day) of the true deploy
    assert abs(pd.Timestamp(first["time"]) - pd.Timestamp(reg["start"])) <= pd.Timedelta("2min")
    assert s["regressions"] == reg["affects"]["endpoints"]        # χ² on buckets
    assert s["regressions_logs"] == reg["affects"]["endpoints"]   # Mann–Whitney on logs
    assert s["slow_causes"][0] == f"version={reg['affects']['version']}"
    # every request is in the heatmap once (Prometheus extrapolation: within 2 %)
    assert s["heatmap_requests"] == pytest.approx(len(truth), rel=0.02)
    search = reg["affects"]["endpoints"][0]
    true_share = float((truth[truth["endpoint"] == search]["duration_s"] <= 0.5).mean())
    assert s["attainment"][search] == pytest.approx(true_share, abs=0.005)
    assert s["slowest_s"] == pytest.approx(float(truth["duration_s"].max()), rel=1e-6)


@pytest.mark.prometheus
@pytest.mark.slow
def test_errors_notebook_finds_the_spike_and_spends_budget(prometheus_stack, incidents,  # type: ignore[no-untyped-def]
                                                           tmp_path) -> None:
    m, truth = prometheus_stack.manifest, prometheus_stack.result.requests
    s, _ = run("errors", tmp_path, prometheus_stack, {"start": m["start"], "end": m["end"]})
    spike = incidents["error_spike"]
    assert len(s["episodes"]) == 1, s["episodes"]
    ep = s["episodes"][0]
    assert ep["endpoint"] == spike["affects"]["endpoint"]
    assert abs(pd.Timestamp(ep["start"]) - pd.Timestamp(spike["start"])) <= TEN_MIN
    assert abs(pd.Timestamp(ep["end"]) - pd.Timestamp(spike["end"])) <= TEN_MIN
    assert len(ep["tenants"]) == len(m["tenants"])
    assert s["error_causes"][0] == f"endpoint={spike['affects']['endpoint']}"
    # Prometheus misses increments before a series' first scrape (a tenant's first 5xx
    # creates its series): a few per cent under the logs, never over
    five = int((truth["status_code"] >= 500).sum())
    assert 0.9 * five <= s["budget"]["errors"] <= 1.01 * five
    assert s["budget"]["extrapolated"] and s["budget"]["coverage"] == pytest.approx(1 / 30)
    fast = next(b for b in s["burn"] if b["pair"] == "1h/5m")
    assert pd.Timestamp(spike["start"]) <= pd.Timestamp(fast["first_fired"]) \
        <= pd.Timestamp(spike["end"])
    assert {t["error_code"] for t in s["error_types"]} >= {"SEARCH_BACKEND_UNAVAILABLE"}


@pytest.mark.prometheus
@pytest.mark.slow
def test_tenant_notebook_names_the_noisy_tenant(prometheus_stack, incidents, tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = prometheus_stack.manifest
    noisy = incidents["noisy_tenant"]
    export = tmp_path / "chargeback.csv"
    s, _ = run("tenant_fleet", tmp_path, prometheus_stack,
               {"start": m["start"], "end": noisy["end"], "export_path": str(export)})
    tenant = noisy["affects"]["tenant"]
    # growth over less than 8 days of history is withheld, not ranked (issue 10 §6)
    assert s["details"]["growth_rank"] is None
    assert {g["what"] for g in s["insufficient"]} == {"week-over-week growth"}
    assert s["details"]["rate_limit_rank"][0] == tenant
    assert s["details"]["noisy"] == [tenant]
    table = pd.read_csv(export)
    assert set(table["tenant_id"]) >= set(m["tenants"])
    assert table["requests_share"].sum() == pytest.approx(1.0)


def test_bad_parameter_fails_the_run_with_a_clear_message(tmp_path: Path) -> None:
    out = tmp_path / "bad.ipynb"
    proc = subprocess.run(
        [sys.executable, "-m", "papermill", str(NOTEBOOKS["latency"]), str(out),
         "-p", "since", "yesterday", "-p", "prometheus_url", "http://127.0.0.1:9"],
        capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode != 0
    assert "since='yesterday' is not a duration" in proc.stderr + proc.stdout


# ------------------------------------------------------------------ helpers


def test_check_parameters_refuses_credentials_and_bad_values() -> None:
    with pytest.raises(ConfigError, match="carries credentials"):
        nb.check_parameters(prometheus_url="http://user:pw@127.0.0.1:9090")
    with pytest.raises(ConfigError, match="looks like a credential"):
        nb.check_parameters(es_password="x")
    with pytest.raises(ConfigError, match="log_source='s3'"):
        nb.check_parameters(log_source="s3")
    with pytest.raises(ConfigError, match="normalized path"):
        nb.check_parameters(endpoint="search")
    p = nb.check_parameters(since="24h", start="2026-01-01T00:00:00Z",
                            end="2026-01-01T06:00:00Z", tenants="a,b")
    assert p.window.duration == pd.Timedelta("6h")  # explicit start wins over default since
    assert p.tenants == ("a", "b") and p.tenant_filter() == ["a", "b"]


def test_warnings_box_shows_every_warning_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shown: list[dict[str, Any]] = []
    shell.display_pub.publish = lambda data, **kw: shown.append(data)  # type: ignore[method-assign]
    df = set_meta(pd.DataFrame({"x": [1]}), FrameMeta(
        source="prometheus", queries=("up",), partial=True,
        warnings=("tenant <script>alert(1)</script> partial",)))
    assert nb.show_source_warnings(df, "plain text warning", source="prometheus") is None
    got = nb.reader_notes(df, "plain text warning")
    assert len(got) == 3
    box = shown[-1]
    assert "&lt;script&gt;" in box["text/html"] and "<script>" not in box["text/html"]
    assert box[nb.WARNINGS_MIMETYPE]["warnings"] == got
    InteractiveShell.clear_instance()


def test_one_box_per_page_updated_in_place() -> None:
    """setup() reserves one empty box; sections add to it (same display id, updated), a
    note said twice is listed once, and a section with nothing to say changes nothing."""
    from IPython.core.interactiveshell import InteractiveShell

    from tributary_analysis.notebook.display import start_page

    shell = InteractiveShell.instance()
    shown: list[tuple[dict[str, Any], dict[str, Any]]] = []
    shell.display_pub.publish = (  # type: ignore[method-assign]
        lambda data, **kw: shown.append((data, kw)))
    try:
        start_page()
        [(placeholder, first)] = shown
        box_id = first["transient"]["display_id"]
        assert placeholder["text/html"] == "" and nb.WARNINGS_MIMETYPE not in placeholder
        quiet = set_meta(pd.DataFrame({"x": [1]}), FrameMeta(source="prometheus"))
        nb.show_source_warnings(quiet, source="prometheus")
        assert len(shown) == 1  # nothing to say: the box stays empty
        loud = set_meta(pd.DataFrame({"x": [1]}), FrameMeta(
            source="prometheus", queries=("up",), partial=True, warnings=("w1",)))
        nb.show_source_warnings(loud, source="prometheus")
        nb.show_source_warnings(loud, "w2", source="files")
        nb.show_source_warnings(loud, source="prometheus")  # nothing new
        assert len(shown) == 3
        assert all(kw.get("update") and kw["transient"]["display_id"] == box_id
                   for _, kw in shown[1:])
        final = shown[-1][0]
        assert final[nb.WARNINGS_MIMETYPE]["warnings"] == nb.page_notes() == [
            "w1", "partial response from prometheus for up: some data may be missing", "w2"]
        assert final[nb.WARNINGS_MIMETYPE]["source"] == "prometheus, files"
        assert "3 note(s)" in final["text/html"]
    finally:
        InteractiveShell.clear_instance()


def test_write_summary_is_json_safe(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    nb.write_summary(path, {"t": pd.Timestamp("2026-01-01", tz="UTC"), "nan": np.nan,
                            "d": pd.Timedelta("1min"), "f": pd.DataFrame({"a": [1]}),
                            "b": np.bool_(True)})
    assert json.loads(path.read_text()) == {"t": "2026-01-01T00:00:00+00:00", "nan": None,
                                            "d": 60.0, "f": [{"a": 1}], "b": True}


def test_setup_refuses_renderers_that_embed_plotly() -> None:
    import plotly.io as pio

    before = pio.renderers.default
    try:
        with pytest.raises(ConfigError, match=r"embeds or opens plotly\.js"):
            nb.setup("notebook")
        assert nb.setup() == "plotly_mimetype"
        assert pio.templates.default == "tributary"
    finally:
        pio.renderers.default = before
