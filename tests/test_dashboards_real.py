"""Grafana dashboards rendered as reports from the real Prometheus fixture (``small``
profile, seed 7), through the report runner, looked at in headless Chromium.

* both seed dashboards: every panel drawn with data (or listed with the reason), checked in
  the browser trace by trace; screenshots at 1400 px under ``test-artifacts/``;
* the business dashboard's ``sum(datasets_total)``: the review note beside the panel, the
  corrected value equal to the simulator's truth, the shown value the replica count × it;
* a dashboard with a tenant variable: a real tenant selects data, ``"}`` selects nothing;
* the overview printed to PDF by the ``dashboard`` command (``--format html,pdf``), every
  page rendered by poppler, and mailed to the local SMTP server with the PDF and its tiles.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tributary_analysis.cli.report_dashboard import dashboard_cmd
from tributary_analysis.config import Secret
from tributary_analysis.dashboards.specs import dashboard_spec
from tributary_analysis.ground.time import Window
from tributary_analysis.reports import ledger
from tributary_analysis.reports.mail import MailConfig, send_report
from tributary_analysis.reports.pdf import Chromium, ChromiumNotFound, find_chromium
from tributary_analysis.reports.runner import RunRequest, run_reports

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CI = bool(os.environ.get("CI"))
HOSTILE = '"}'
try:
    find_chromium()
except ChromiumNotFound:
    if CI:
        raise RuntimeError("CI must render dashboards in a browser: chromium is missing "
                           "although `make test` installs it") from None
    pytest.skip("needs Debian's chromium", allow_module_level=True)

pytestmark = [pytest.mark.prometheus, pytest.mark.slow, pytest.mark.browser]

ACME_RATE = 'sum(rate(http_requests_total{tenant_id="$tenant"}[$__rate_interval]))'
BY_ENDPOINT = 'sum by (endpoint) (rate(http_requests_total{tenant_id=~"$tenant"}[5m]))'
VARIABLE_BOARD = {"dashboard": {"title": "Per-tenant traffic", "templating": {"list": [
    {"name": "tenant", "type": "query", "query": "label_values(http_requests_total, tenant_id)",
     "current": {"value": "tenant-acme"}}]}, "panels": [
    {"id": 1, "type": "stat", "title": "Requests of $tenant",
     "gridPos": {"x": 0, "y": 0, "w": 12, "h": 6},
     "fieldConfig": {"defaults": {"unit": "reqps"}},
     "targets": [{"refId": "A",
                  "expr": ACME_RATE}]},
    {"id": 2, "type": "timeseries", "title": "By endpoint ($tenant)",
     "gridPos": {"x": 12, "y": 0, "w": 12, "h": 6},
     "targets": [{"refId": "A", "legendFormat": "{{endpoint}}",
                  "expr": BY_ENDPOINT}]},
    {"id": 3, "type": "text", "title": "Read me", "gridPos": {"x": 0, "y": 6, "w": 24, "h": 3},
     "options": {"content": "<script>alert(1)</script>"}},
]}}


def _summary(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "summary.json").read_text())


@pytest.fixture(scope="module")
def rendered(prometheus_stack: Any, tmp_path_factory: pytest.TempPathFactory
             ) -> dict[str, Any]:
    m = prometheus_stack.manifest
    out = tmp_path_factory.mktemp("dashboards")
    work = tmp_path_factory.mktemp("dashboards-work")
    board_file = work / "per-tenant.json"
    board_file.write_text(json.dumps(VARIABLE_BOARD))
    mp = pytest.MonkeyPatch()
    mp.setenv("TRIBUTARY_PROMETHEUS_URL", prometheus_stack.url)
    try:
        # the command, as a user runs it: the overview as HTML and PDF
        dashboard_cmd.main(["overview", "--start", m["start"], "--end", m["end"],
                            "--out", str(out), "--format", "html,pdf", "--timeout", "600"],
                           standalone_mode=False)
        window = Window.of(m["start"], m["end"])
        reqs = [
            RunRequest(dashboard_spec("business"), window,
                       parameters={"summary_path": str(work / "business.json")}),
            RunRequest(dashboard_spec(board_file), window,
                       parameters={"summary_path": str(work / "acme.json")}),
            RunRequest(dashboard_spec(board_file), window,
                       parameters={"summary_path": str(work / "hostile.json"),
                                   "variables": [f"tenant={HOSTILE}"]}),
        ]
        records = run_reports(reqs, out, jobs=2, timeout=600, notify=False)
    finally:
        mp.undo()
    all_records, bad = ledger.read(out)
    assert bad == 0
    runs = {}
    for r in all_records:
        assert r.ok, f"{r.report}: {r.error}"
        runs.setdefault(r.report, []).append(out / r.run_dir)
    for name, rec in zip(("business.json", "acme.json", "hostile.json"), records, strict=True):
        shutil.copy(work / name, out / rec.run_dir / "summary.json")
    return {"out": out, "records": records, "runs": runs, "manifest": m,
            "business": out / records[0].run_dir, "acme": out / records[1].run_dir,
            "hostile": out / records[2].run_dir,
            "overview": runs["dashboard_overview"][0]}


_TRACES = """
(() => Array.from(document.querySelectorAll('.js-plotly-plot')).map((el) => {
  const t = (el._fullLayout.title && el._fullLayout.title.text) || '';
  const n = (tr) => { for (const k of ['y', 'values', 'z']) {
      const v = tr[k]; if (v && (v.length || (v._inputArray && v._inputArray.length))) {
        return v.length || v._inputArray.length; } } return tr.value != null ? 1 : 0; };
  return {title: t, traces: el._fullData.length, points: el._fullData.map(n)};
}))()
"""


def _browser_check(page: Path, png: Path) -> tuple[list[dict[str, Any]], str]:
    with Chromium(width=1400, height=1000) as b:
        counts = b.open(page)
        figures = b.evaluate(_TRACES)
        text = b.evaluate("document.body.innerText")
        errors = b.events("Runtime.exceptionThrown")
        b.screenshot(png)
    assert counts["plotly"] and counts["drawn"] == counts["blocks"] > 0, counts
    assert not errors, errors[:1]
    return figures, text


def test_overview_every_panel_drawn_with_data(rendered: dict[str, Any]) -> None:
    run = rendered["overview"]
    figures, text = _browser_check(run / "report.html", ARTIFACTS / "dashboard_overview.png")
    # 4 stat panels (Active Connections has one tile per replica) + 7 charts
    assert len(figures) == 2 + 7
    for fig in figures:
        assert fig["traces"] and max(fig["points"]) > 0, fig
    titles = " ".join(f["title"] for f in figures)
    for t in ("Request Rate by Endpoint", "Search Latency Distribution", "Memory Usage",
              "Rate Limiting", "Cache Hit Rate", "Vector Operations", "Search Operations"):
        assert t in titles
    assert "11 panel(s): 11 drawn." in text
    assert "heatmap would bucket those rates" in text  # the review beside the heatmap
    for bad in ("NaN", "nan ", "e+0", "NaT", "undefined"):
        assert bad not in text, bad
    html = (run / "report.html").read_text()
    assert html.count("plotly.min.js") == 1 and "Plotly.newPlot" not in html.split(
        "</head>")[1]


def test_business_review_corrects_the_replicated_gauge(rendered: dict[str, Any]) -> None:
    run = rendered["business"]
    figures, text = _browser_check(run / "report.html", ARTIFACTS / "dashboard_business.png")
    assert all(f["traces"] and max(f["points"]) > 0 for f in figures)
    assert "5 panel(s): 5 drawn." in text and "Top Datasets by Usage" in text
    m = rendered["manifest"]
    truth = sum(m["truth"]["datasets_total"].values())
    replicas = len(m["instances"])
    found = {f["panel"]: f for f in _summary(run)["findings"]
             if f["kind"] == "replicated_gauge_sum"}
    assert set(found) == {"Total Datasets", "Total Vectors", "Datasets by Tenant"}
    total = found["Total Datasets"]
    assert total["corrected_value"] == truth
    assert total["shown_value"] == replicas * truth
    assert total["corrected_query"] == "sum(max without (instance) (datasets_total))"
    assert found["Datasets by Tenant"]["corrected_value"] == truth
    vectors = sum(m["truth"]["vectors_total_at_end"].values())
    assert abs(found["Total Vectors"]["corrected_value"] - vectors) / vectors < 0.01
    assert f"Corrected value: {truth} (the panel shows {replicas * truth})" in text
    assert f"{replicas}× the true value" in text


def test_variable_escaped_hostile_value_selects_nothing(rendered: dict[str, Any]) -> None:
    acme, hostile = _summary(rendered["acme"]), _summary(rendered["hostile"])
    assert acme["variables"] == {"tenant": "tenant-acme"}
    assert [p["status"] for p in acme["panels"]] == ["drawn", "drawn", "not drawn"]
    assert acme["headline"][0]["value"] > 0
    assert hostile["variables"] == {"tenant": HOSTILE}
    assert [p["status"] for p in hostile["panels"]] == ["no data", "no data", "not drawn"]
    no_series = [f for f in hostile["findings"] if f["kind"] == "no_series"]
    assert len(no_series) == 2 and all("label filters" in f["message"] for f in no_series)
    assert "text panel" in hostile["withheld"][0]["reason"]
    page = (rendered["hostile"] / "report.html").read_text()
    assert "<script>alert(1)</script>" not in page  # the text panel's HTML never runs
    # the value reached Prometheus as an escaped literal inside its string
    assert "tenant_id=&quot;\\&quot;}&quot;" in page or 'tenant_id="\\"}"' in page
    _figures, text = _browser_check(rendered["hostile"] / "report.html",
                                    ARTIFACTS / "dashboard_variable_hostile.png")
    assert "matches no series in the window" in text


def _poppler(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        if CI:
            pytest.fail(f"{tool} (poppler-utils) is missing in CI; .ci/system-deps.sh must "
                        "install poppler-utils")
        pytest.skip(f"{tool} (poppler-utils) is not installed here")
    return path


def test_pdf_of_the_overview_and_mail(rendered: dict[str, Any], smtp_server: Any,
                                      tmp_path: Path) -> None:
    run = rendered["overview"]
    pdf = run / "report.pdf"
    assert pdf.read_bytes().startswith(b"%PDF-")
    info = subprocess.run([_poppler("pdfinfo"), str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(next(ln.split()[-1] for ln in info.splitlines() if ln.startswith("Pages:")))
    assert pages >= 3
    subprocess.run([_poppler("pdftoppm"), "-r", "50", "-png", str(pdf), str(tmp_path / "pg")],
                   check=True)
    pngs = sorted(tmp_path.glob("pg-*.png"))
    assert len(pngs) == pages and all(p.stat().st_size > 5000 for p in pngs)
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run([_poppler("pdftoppm"), "-r", "80", "-png", "-f", "1", "-l", "1",
                    "-singlefile", str(pdf), str(ARTIFACTS / "dashboard_overview_pdf_page1")],
                   check=True)
    # mail the business report (tiles from its summary) with the overview's PDF beside it
    mail_run = tmp_path / "mail-run"
    shutil.copytree(rendered["business"], mail_run)
    shutil.copy(pdf, mail_run / "report.pdf")
    cfg = MailConfig(host=smtp_server.host, port=smtp_server.port,
                     sender="reports@example.test", to=("oncall@example.test",),
                     username=smtp_server.username, password=Secret(smtp_server.password),
                     ca_file=smtp_server.ca_file)
    send_report(mail_run, cfg, title="Dashboard mail e2e")
    (got,) = smtp_server.by_subject("Dashboard mail e2e")
    (att,) = list(got.message.iter_attachments())
    assert att.get_filename() == "report.pdf" and att.get_content() == pdf.read_bytes()
    body = got.message.get_body(("plain",)).get_content()
    m = rendered["manifest"]
    shown = len(m["instances"]) * sum(m["truth"]["datasets_total"].values())
    assert f"Total Datasets: {shown}" in body and "Total Vectors: " in body
    assert f"{len(m['instances'])}× the true value" in body
