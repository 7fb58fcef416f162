"""summary.json: the schema (round trip, validation by name, older shapes), and the page's
answer rendered from the same object — tiles, findings, one warnings box, foldable
sections, the title once, no hidden parameter on the page."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.reports import html as html_mod
from tributary_analysis.reports import summary as sm

WINDOW = ("2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z")


def example() -> sm.Summary:
    return sm.Summary(
        report="daily_operations", status="warning", window_start=WINDOW[0],
        window_end=WINDOW[1], data_end="2026-01-31T20:00:00Z", tenant="<b>acme</b>",
        headline=(
            sm.Headline.of("5xx ratio", 0.0119, "ratio", baseline=0.00005,
                           assessment="worse", key="error_ratio",
                           definition="5xx / all requests"),
            sm.Headline.of("p95 latency", 0.25, "s", baseline=0.2, assessment="worse",
                           key="p95"),
            sm.Headline.of("Requests", 14380.4, "count", key="requests"),
            sm.Headline.withheld("Request-rate forecast",
                                 Insufficient("request-rate forecast", "1 d of history",
                                              "2 d of history"), key="forecast"),
        ),
        slo=sm.SloFigures(objective=0.999, period="30d", attainment=0.9988,
                          budget_remaining=0.533, budget_consumed=0.467, extrapolated=True,
                          data_covered="7 d", definition="53.3 % left of a 30-day budget",
                          burn_pairs_fired=(sm.BurnPair("3d/6h", 1.0, "ticket", 23400.0,
                                                        "2026-01-31T01:00:00Z",
                                                        "2026-01-31T07:30:00Z"),)),
        findings=("The 5xx ratio is 238× the baseline.", "<script>x</script> fired."),
        warnings=("partial response from prometheus for up",),
        insufficient=(Insufficient("request-rate forecast", "1 d of history",
                                   "2 d of history"),),
        details={"episodes": 1})


def test_round_trip_is_lossless_and_json_safe(tmp_path: Path) -> None:
    s = example()
    path = sm.write(tmp_path / "summary.json", s)
    doc = json.loads(path.read_text())
    assert doc["schema"] == sm.SCHEMA and doc["version"] == sm.VERSION
    assert set(doc) == {"schema", "version", "report", "status", "window", "data_end",
                        "tenant", "headline", "slo", "findings", "warnings", "insufficient",
                        "details"}
    assert doc["headline"][0] | {} == {
        "key": "error_ratio", "name": "5xx ratio", "value": 0.0119, "unit": "ratio",
        "baseline": 5e-05, "assessment": "worse", "definition": "5xx / all requests",
        "text": "1.19 %", "baseline_text": "0.005 %", "change": "238×", "direction": "up"}
    assert doc["headline"][3]["value"] is None
    assert doc["headline"][3]["text"] == \
        "not enough data (have 1 d of history, need 2 d of history)"
    assert doc["slo"]["burn_pairs_fired"][0]["pair"] == "3d/6h"
    assert sm.read(path) == s


def test_validation_names_each_problem() -> None:
    doc = example().to_json()
    bad = {**doc, "status": "green", "findings": ["x"] * 6}
    problems = sm.validate(bad)
    assert any("status='green'" in p for p in problems)
    assert any("6 findings" in p for p in problems)
    with pytest.raises(sm.SummaryError, match="status='green'"):
        sm.Summary.from_json(bad)
    assert any("'slo' is missing" in p for p in sm.validate({k: v for k, v in doc.items()
                                                              if k != "slo"}))
    with pytest.raises(sm.SummaryError, match="assessment='great'"):
        sm.Summary(report="r", headline=(sm.Headline("x", 1.0, assessment="great"),))
    with pytest.raises(sm.SummaryError, match="not finite"):
        sm.Summary(report="r", headline=(sm.Headline("x", float("nan")),))


def test_free_form_summaries_are_mapped_onto_the_schema() -> None:
    legacy = {"report": "dashboard", "window": {"start": "2026-01-31T00:00:00+00:00",
                                                "end": "2026-02-01T00:00:00+00:00"},
              "status": "findings",
              "headline": [{"name": "Up", "value": 3, "unit": "", "text": "3",
                            "assessment": "green"}],
              "findings": [{"panel": "Datasets", "message": "sum over replicas"}] * 7,
              "panels": [{"title": "Datasets"}]}
    s = sm.coerce(legacy, report="overview")
    assert s.report == "dashboard" and s.status == "ok"
    assert s.details["notebook_status"] == "findings"
    assert s.window_start == WINDOW[0] and s.headline[0].assessment == "ok"
    assert s.findings[0] == "Datasets: sum over replicas" and len(s.findings) == 5
    assert s.details["panels"] == [{"title": "Datasets"}]
    assert len(s.details["more_findings"]) == 2
    assert sm.Summary.from_json(s.to_json()) == s


def test_with_run_stamps_the_run_and_never_improves_the_status() -> None:
    s = example().with_run(report="errors_slo", status="ok", window=WINDOW, tenant="t",
                           warnings=["new", "partial response from prometheus for up"])
    assert (s.report, s.status, s.tenant) == ("errors_slo", "warning", "t")
    assert s.warnings == ("partial response from prometheus for up", "new")
    assert s.with_run(status="failed").status == "failed"


def _notebook(summary: sm.Summary) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    box = {"text/html": "<div class='tributary-warnings'>⚠ 1 note(s)</div>",
           "application/vnd.tributary.warnings+json": {
               "source": "prometheus", "query": "",
               "warnings": ["partial response from prometheus for up"]}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Daily operations\n\nHow did the service do?"),
        nbformat.v4.new_code_cell("nb.setup()", outputs=[
            nbformat.v4.new_output("display_data", data={"text/html": "", "text/plain": ""}),
            nbformat.v4.new_output("display_data", data=box)]),
        nbformat.v4.new_markdown_cell("## 1. Golden signals\n\nCompared with last week."),
        nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": "<table><tr><td>1</td></tr></table>"})]),
        nbformat.v4.new_markdown_cell("## 2. SLO status"),
        nbformat.v4.new_code_cell("show", outputs=[nbformat.v4.new_output(
            "display_data", data={sm.MIMETYPE: summary.to_json(), "text/plain": "s"})]),
    ]
    return nb


def test_the_page_opens_with_the_summary_it_was_rendered_from() -> None:
    s = example()
    nb = _notebook(s)
    found = sm.Summary.from_json(html_mod.find_summary(nb) or {})
    ctx = html_mod.PageContext(title="Daily operations", status="warning",
                               window_start=WINDOW[0], window_end=WINDOW[1],
                               generated_at=WINDOW[1], index_href="../../index.html",
                               assets_href="../../assets", tenant=s.tenant,
                               parameters={"objective": 0.999}, summary=found)
    page = html_mod.render_page(nb, ctx)
    text = page.html
    assert page.summary == s
    # the title once (the notebook's own "# Daily operations" line is dropped)
    assert text[text.index("<body"):].count("Daily operations") == 1
    # tiles = the summary's headline, in order, with their texts
    tiles = re.findall(r'class="tr-tile tr-a-([\w-]+)" data-key="([^"]+)">\s*'
                       r'<div class="tr-tile-name">([^<]*)</div>\s*'
                       r'<div class="tr-tile-value[^"]*">([^<]*)</div>', text)
    assert [(a, k, v) for a, k, _n, v in tiles] == [
        (h.assessment.replace(" ", "-"), h.key, h.text.replace("<", "&lt;"))
        for h in s.headline]
    assert "238× · baseline 0.005 %" in text
    assert "53.3 % left of a 30-day budget" in text
    # findings escaped; what was withheld said
    assert "&lt;script&gt;x&lt;/script&gt; fired." in text and "<script>x" not in text
    assert "request-rate forecast (have 1 d of history, need 2 d of history)" in text
    # one warnings box (the notebook's own box is dropped), placed after the answer
    assert text.count("partial response from prometheus for up") == 1
    assert text.count('id="tributary-warnings"') == 1 and "tributary-warnings'" not in text
    assert text.index('id="tributary-answer"') < text.index('id="tributary-warnings"')
    # sections fold, the first is not forced onto a new printed page
    assert text.count("<details class=\"tr-section") == 2
    assert re.search(r'<details class="tr-section tr-first" id="s-1-golden-signals" open',
                     text)
    assert "<h2>1. Golden signals</h2>" in text and "## " not in text
    # the window is readable and machine-readable; the data end is said
    assert '<time datetime="2026-01-31T00:00:00Z">2026-01-31 00:00 UTC</time>' in text
    assert "data end <time" in text and "(4 h before the window ends)" in text
    assert "&lt;b&gt;acme&lt;/b&gt;" in text


def test_answer_html_stands_alone_for_jupyterlab() -> None:
    block = html_mod.answer_html(example(), standalone=True)
    assert block.startswith("<style>") and ".tr-tile{" in block
    assert html_mod.answer_html(sm.Summary(report="r")) == ""
