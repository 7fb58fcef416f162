"""Every built-in report this area owns, rendered from the real Prometheus fixture and
read as its reader would: in headless Chromium at 1280 px (and photographed at 1400 px).

For each page: the figures draw with data and the console stays clean; no table is wider
than the page (``scrollWidth == clientWidth``, the document's and each table's box); no
pandas table (index column), no ``e+0`` number, no ``nan``/``NaT``/``None``, no Python
repr in any visible text; the headline tiles in the page are the ``summary.json`` headline,
in order. Screenshots go to ``test-artifacts/report-<name>.png``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tributary_analysis.ground.time import parse_window
from tributary_analysis.reports.registry import default_registry
from tributary_analysis.reports.runner import RunRequest, run_reports

pytestmark = [pytest.mark.prometheus, pytest.mark.browser, pytest.mark.slow]

NAMES = ("daily_operations", "errors_slo", "latency", "capacity", "alert_review")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="module")
def pages(prometheus_stack: Any, tmp_path_factory: pytest.TempPathFactory
          ) -> dict[str, dict[str, Any]]:
    out = tmp_path_factory.mktemp("pages")
    m = prometheus_stack.manifest
    mp = pytest.MonkeyPatch()
    mp.setenv("TRIBUTARY_PROMETHEUS_URL", prometheus_stack.url)
    mp.setenv("TRIBUTARY_LOG_FILES", str(prometheus_stack.out_dir / "logs"))
    mp.delenv("TRIBUTARY_REPORT_WEBHOOK_URL", raising=False)
    try:
        reg = default_registry()
        window = parse_window(start=m["start"], end=m["end"])
        reqs = [RunRequest(reg[n], window, parameters={"step": "1m"} if n == "alert_review"
                           else {}) for n in NAMES]
        records = run_reports(reqs, out, jobs=2, timeout=900, notify=False)
    finally:
        mp.undo()
    found = {}
    for r in records:
        assert r.status in ("ok", "warning"), (r.report, r.error)
        found[r.report] = {"path": out / r.html,
                           "summary": json.loads((out / r.run_dir / "summary.json")
                                                 .read_text())}
    return found


@pytest.fixture(scope="module")
def chromium() -> Any:
    from tributary_analysis.reports.pdf import Chromium

    with Chromium(width=1280, height=1000) as b:
        yield b


_LAYOUT = """
(() => {
  const doc = document.documentElement;
  const wide = [...document.querySelectorAll('table')].filter(t => {
    const box = t.parentElement.getBoundingClientRect();
    return t.getBoundingClientRect().width > box.width + 1 || t.scrollWidth > t.clientWidth + 1;
  }).map(t => t.innerText.slice(0, 80));
  const tiles = [...document.querySelectorAll('.tr-tile')].map(el => ({
    key: el.dataset.key, name: el.querySelector('.tr-tile-name').innerText,
    text: el.querySelector('.tr-tile-value').innerText}));
  const figs = [...document.querySelectorAll('.js-plotly-plot')].map(el => ({
    title: (el.layout.title && el.layout.title.text) || '',
    points: el._fullData.reduce((n, t) => n + (t._length || 0), 0)}));
  return {scroll: doc.scrollWidth, client: doc.clientWidth, wide: wide, tiles: tiles,
          figures: figs, blocks: document.querySelectorAll(
            'script[type="application/vnd.tributary.figure+json"]').length,
          pandas: document.querySelectorAll('table.dataframe').length,
          text: document.body.innerText};
})()
"""


@pytest.mark.parametrize("name", NAMES)
def test_page_reads_as_its_reader_would(pages: dict[str, dict[str, Any]], chromium: Any,
                                        name: str) -> None:
    page = pages[name]
    counts = chromium.open(page["path"])
    assert counts["failed"] == 0 and counts["drawn"] == counts["blocks"], counts
    got = chromium.evaluate(_LAYOUT)
    # nothing wider than a 1280 px page
    assert got["scroll"] == got["client"], (got["scroll"], got["client"])
    assert got["wide"] == [], got["wide"]
    # every figure drew data
    assert len(got["figures"]) == got["blocks"] >= 3
    assert all(f["points"] > 0 for f in got["figures"]), got["figures"]
    # tables a person reads
    text = got["text"]
    assert got["pandas"] == 0
    assert not re.search(r"\d[eE][+-]\d", text)
    assert not re.search(r"\b(nan|NaN|NaT|None|True|False)\b", text), \
        re.search(r".{40}\b(nan|NaN|NaT|None|True|False)\b.{40}", text, re.S)
    assert not re.search(r"Timestamp\(|Timedelta\(|dtype|\{'|\['", text)
    assert "0 days" not in text and "summary_path" not in text
    # the tiles are the summary's headline, in order
    head = page["summary"]["headline"]
    assert [(t["key"], t["text"]) for t in got["tiles"]] == [
        (h["key"] or h["name"], h["text"]) for h in head]
    for f in page["summary"]["findings"]:
        assert f in text
    # look at it as its reader would: the page at 1400 px
    chromium.set_viewport(1400, 1000)
    try:
        chromium.open(page["path"])
        chromium.screenshot(ARTIFACTS / f"report-{name.replace('_', '-')}.png")
    finally:
        chromium.set_viewport(1280, 1000)
