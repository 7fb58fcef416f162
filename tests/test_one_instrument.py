"""One instrument: the reports of one batch agree, and each page shows its summary.json.

A batch of ``daily_operations``, ``errors_slo`` and ``latency`` over one window of the real
Prometheus fixture (``small`` profile, seed 7): every SLO field of their ``summary.json``
is identical (one function over one definition), the pages print the same SLO figures,
each page's tiles are its summary's headline, in order, and nothing a reader should not
see reaches a page (``e+0`` numbers, ``nan``/``NaT``, reprs, the injected summary path).
"""

from __future__ import annotations

import html as html_mod
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tributary_analysis.ground.time import parse_window
from tributary_analysis.reports import summary as sm
from tributary_analysis.reports.registry import default_registry
from tributary_analysis.reports.runner import RunRequest, run_reports

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

NAMES = ("daily_operations", "errors_slo", "latency")
TILE = re.compile(r'<div class="tr-tile tr-a-([\w-]+)" data-key="([^"]*)">\s*'
                  r'<div class="tr-tile-name">([^<]*)</div>\s*'
                  r'<div class="tr-tile-value[^"]*">([^<]*)</div>')


@pytest.fixture(scope="module")
def batch(prometheus_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("one-instrument")
    m = prometheus_stack.manifest
    mp = pytest.MonkeyPatch()
    mp.setenv("TRIBUTARY_PROMETHEUS_URL", prometheus_stack.url)
    mp.setenv("TRIBUTARY_LOG_FILES", str(prometheus_stack.out_dir / "logs"))
    mp.delenv("TRIBUTARY_REPORT_WEBHOOK_URL", raising=False)
    try:
        window = parse_window(start=m["start"], end=m["end"])
        reg = default_registry()
        records = run_reports([RunRequest(reg[n], window) for n in NAMES], out, jobs=2,
                              timeout=900, notify=False)
    finally:
        mp.undo()
    runs = {}
    for r in records:
        assert r.status in ("ok", "warning"), (r.report, r.error)
        run_dir = out / r.run_dir
        runs[r.report] = {"record": r, "html": (out / r.html).read_text(),
                          "summary": json.loads((run_dir / "summary.json").read_text())}
    return runs


def test_every_slo_field_is_identical_across_the_batch(batch: dict[str, Any]) -> None:
    slos = {name: run["summary"]["slo"] for name, run in batch.items()}
    assert all(s is not None for s in slos.values()), slos
    first = slos["daily_operations"]
    assert set(first) >= {"objective", "period", "attainment", "budget_remaining",
                          "burn_pairs_fired", "definition"}
    for name, s in slos.items():
        assert s == first, name
    # the definition says how the extrapolation reconciles attainment and budget
    assert "extrapolated from" in first["definition"] and "30-day" in first["definition"]
    # the small profile holds the error spike: the fast pair fired, and says when
    fired = {p["pair"]: p for p in first["burn_pairs_fired"]}
    assert "1h/5m" in fired and fired["1h/5m"]["fired_for_s"] > 0


def test_the_pages_print_the_same_slo_figures(batch: dict[str, Any]) -> None:
    shown = {}
    for name, run in batch.items():
        tiles = {key: value for _a, key, _n, value in TILE.findall(run["html"])}
        shown[name] = {k: tiles[k] for k in ("slo_attainment", "slo_budget_remaining",
                                             "slo_burn_pairs")}
        assert html_mod.escape(run["summary"]["slo"]["definition"], quote=False) \
            in run["html"], name
    assert shown["errors_slo"] == shown["daily_operations"] == shown["latency"]


@pytest.mark.parametrize("name", NAMES)
def test_each_page_opens_with_its_summary(batch: dict[str, Any], name: str) -> None:
    run = batch[name]
    s = sm.Summary.from_json(run["summary"])  # validates the schema
    assert s.report == name and s.status == run["record"].status
    page = [(a, k, v) for a, k, _n, v in TILE.findall(run["html"])]
    assert page == [(h.assessment.replace(" ", "-"), h.key or h.name,
                     html_mod.escape(h.text, quote=False)) for h in s.headline]
    assert 1 <= len(s.findings) <= 5
    for f in s.findings:
        assert html_mod.escape(f, quote=False) in run["html"]
    body = run["html"][run["html"].index("<body"):]
    assert re.findall(r"<h1\b[^>]*>(.*?)</h1>", body, flags=re.S) == [
        html_mod.escape(run["record"].title)]  # the title once


@pytest.mark.parametrize("name", NAMES)
def test_nothing_a_reader_should_not_see(batch: dict[str, Any], name: str,
                                         tmp_path: Path) -> None:
    text = batch[name]["html"]
    visible = re.sub(r"<script\b[^>]*>.*?</script>", " ", text, flags=re.S)
    visible = re.sub(r"<style\b[^>]*>.*?</style>", " ", visible, flags=re.S)
    visible = re.sub(r"<[^>]+>", " ", visible)
    assert not re.search(r"\d[eE][+-]\d", visible), "a number in e-notation"
    assert not re.search(r"\b(nan|NaN|NaT|None)\b", visible)
    assert "Timestamp(" not in visible and "Timedelta(" not in visible
    assert "dtype" not in visible and "summary_path" not in text
    assert "0 days" not in visible
