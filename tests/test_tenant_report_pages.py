"""The tenant reports and the index as their readers see them: rendered by the real CLI
from the real Prometheus fixture (small profile, seed 7), opened in headless Chromium.

One batch renders the report for the busiest tenant, a small one, a hostile id and an id
that does not exist, and the fleet tenant report (the tenant reports of one batch share
one query per family); a second batch renders the busiest tenant again, so the index has
a history to draw sparklines from. Screenshots at 1400 px go to ``test-artifacts/``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from test_browser import ARTIFACTS, CHROMIUM, Browser

from tributary_analysis.cli import main
from tributary_analysis.reports import ledger
from tributary_analysis.reports import summary as summary_mod

ROOT = Path(__file__).resolve().parents[1]
EVIL = "<script>alert(1)</script>\"'"
TYPO = "tenant-acmee"
CREDENTIAL_WORDS = ("token", "password", "passwd", "secret", "api_key", "apikey", "credential")
#: what must never reach a reader: float noise, missing markers, reprs, pandas tables
BAD_TEXT = [re.compile(p) for p in (r"\d[eE][+-]\d", r"\bnan\b", r"\bNaN\b", r"\bNaT\b",
                                    r"\bNone\b", r"Insufficient\(", r"np\.float", r"\{'",
                                    r"Timestamp\(", r"dtype")]


@pytest.mark.parametrize("name", ["tenant_usage", "tenant_fleet"])
def test_committed_tenant_notebooks_are_thin_clean_and_parameterised(name: str) -> None:
    book = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    names = [line.split("=")[0].strip() for line in params[0].source.splitlines()
             if "=" in line and not line.lstrip().startswith("#")]
    for required in ("since", "start", "end", "tenants", "endpoint", "prometheus_url",
                     "summary_path"):
        assert required in names
    assert not [n for n in names if any(w in n.lower() for w in CREDENTIAL_WORDS)]
    assert 'since = "7d"' in params[0].source  # weekly reports: a week by default
    assert not any(line.lstrip().startswith(("def ", "class ", "for ", "if "))
                   for c in code for line in c.source.splitlines())
    assert max(len(c.source.splitlines()) for c in code) <= 25
    assert sum(c.cell_type == "markdown" for c in book.cells) >= 5


def _cli(mp: pytest.MonkeyPatch, stack: Any, out: Path, *args: str) -> int:
    m = stack.manifest
    mp.setenv("TRIBUTARY_PROMETHEUS_URL", stack.url)
    mp.delenv("TRIBUTARY_REPORT_WEBHOOK_URL", raising=False)
    return main(["report", "run", *args, "--start", m["start"], "--end", m["end"],
                 "--out", str(out), "--jobs", "2", "--timeout", "600"])


@pytest.fixture(scope="module")
def pages(prometheus_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("tenant-pages")
    truth = prometheus_stack.result.requests
    api = truth[truth["tenant_id"].astype(str) != "unknown"]
    ranked = api["tenant_id"].astype(str).value_counts().index.tolist()
    busiest, smallest = ranked[0], ranked[-1]
    mp = pytest.MonkeyPatch()
    try:
        _cli(mp, prometheus_stack, out, "tenant_usage", "tenant_fleet", "--tenant", busiest,
             "--tenant", smallest, "--tenant", EVIL, "--tenant", TYPO)
        _cli(mp, prometheus_stack, out, "tenant_usage", "--tenant", busiest)
    finally:
        mp.undo()
    records, bad = ledger.read(out)
    assert bad == 0
    first = min(r.batch for r in records)
    runs = {("fleet" if r.report == "tenant_fleet" else r.tenant): r
            for r in records if r.batch == first}
    return {"out": out, "records": records, "runs": runs, "busiest": busiest,
            "smallest": smallest}


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    b = Browser(tmp_path_factory.mktemp("chromium-tenant-pages"))
    yield b
    b.close()


def _open(browser: Browser, path: Path, width: int = 1280) -> None:
    browser.call("Emulation.setDeviceMetricsOverride", width=width, height=1000,
                 deviceScaleFactor=1, mobile=False)
    browser.open(path.as_uri(), settle=2.0)


def _shot(browser: Browser, name: str) -> None:
    """A full-page screenshot at 1400 px."""
    browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
                 deviceScaleFactor=1, mobile=False)
    height = int(browser.js("document.documentElement.scrollHeight"))
    browser.call("Emulation.setDeviceMetricsOverride", width=1400,
                 height=min(height, 16000), deviceScaleFactor=1, mobile=False)
    browser.js("new Promise(r => setTimeout(r, 800))")
    browser.screenshot(ARTIFACTS / name)


def _readable(browser: Browser, what: str) -> str:
    """The page's visible text: no float noise, NaN/NaT/None, repr or pandas table."""
    text = browser.js("document.body.innerText")
    for pattern in BAD_TEXT:
        found = pattern.search(text)
        assert found is None, (what, pattern.pattern, text[max(0, found.start() - 80):
                                                           found.end() + 80])
    assert browser.js("document.querySelectorAll('table.dataframe').length") == 0, what
    assert browser.js("document.documentElement.scrollWidth") <= \
        browser.js("document.documentElement.clientWidth"), f"{what} is wider than 1280 px"
    return str(text)


def _tiles(browser: Browser) -> dict[str, str]:
    return browser.js("Object.fromEntries([...document.querySelectorAll('.tr-tile')].map("
                      "t => [t.dataset.key, t.querySelector('.tr-tile-value').innerText]))")


def _summary(pages: dict[str, Any], key: str) -> dict[str, Any]:
    run = pages["runs"][key]
    doc = json.loads((pages["out"] / run.artifacts["summary"]).read_text())
    assert summary_mod.validate(doc) == []
    return doc


@pytest.mark.prometheus
@pytest.mark.slow
@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it)")
class TestPages:
    def test_statuses_and_summaries(self, pages: dict[str, Any]) -> None:
        runs = pages["runs"]
        assert runs[pages["busiest"]].status == "ok", runs[pages["busiest"]].error
        assert runs[pages["smallest"]].status == "ok"
        assert runs["fleet"].status == "ok", runs["fleet"].error
        for t in (EVIL, TYPO):  # no data is a finding, not a success
            assert runs[t].status == "warning" and not runs[t].error
            doc = _summary(pages, t)
            assert doc["status"] == "warning" and doc["tenant"] == t
            assert doc["findings"][0].startswith("No requests from this tenant")
        assert _summary(pages, TYPO)["details"]["closest_tenants"][0] == "tenant-acme"

    def test_busiest_tenant_page_answers_first(self, pages: dict[str, Any],
                                               browser: Browser) -> None:
        run = pages["runs"][pages["busiest"]]
        _open(browser, pages["out"] / run.html)
        assert browser.problems() == []
        text = _readable(browser, "busiest tenant")
        doc = _summary(pages, pages["busiest"])
        tiles = _tiles(browser)
        assert tiles == {h["key"]: h["text"] for h in doc["headline"]}  # page = summary
        assert set(tiles) >= {"requests", "request_share", "p95_latency", "error_ratio",
                              "rate_limit_hits", "growth"}
        assert "1st busiest" in text and "1 of 1" not in text
        # no axis drawn around nothing: every figure has data, no −1…1 empty axis
        ranges = browser.js("[...document.querySelectorAll('.js-plotly-plot')].map(p => "
                            "[p.data.length, (p._fullLayout.yaxis || {}).range])")
        assert ranges and all(n >= 1 for n, _ in ranges)
        assert not any(r == [-1, 1] for _, r in ranges)
        _shot(browser, "tenant-report-busiest.png")

    def test_small_tenant_page_is_its_own(self, pages: dict[str, Any],
                                          browser: Browser) -> None:
        run = pages["runs"][pages["smallest"]]
        _open(browser, pages["out"] / run.html)
        assert browser.problems() == []
        _readable(browser, "small tenant")
        small = _tiles(browser)
        big = {h["key"]: h["text"] for h in _summary(pages, pages["busiest"])["headline"]}
        differ = [k for k in small if k != "growth" and small[k] != big.get(k)]
        assert len(differ) >= 4, (small, big)  # their own numbers, not the fleet's
        _shot(browser, "tenant-report-small.png")

    def test_unknown_tenant_page_says_so_and_names_the_closest(
            self, pages: dict[str, Any], browser: Browser) -> None:
        run = pages["runs"][TYPO]
        _open(browser, pages["out"] / run.html)
        text = _readable(browser, "unknown tenant")
        answer = browser.js("document.querySelector('#tributary-answer').innerText")
        assert "No requests from this tenant" in answer and "tenant-acme" in answer
        assert text.count("No data for this tenant in the window") >= 4
        assert browser.js("document.querySelectorAll('.js-plotly-plot').length") == 0
        _shot(browser, "tenant-report-unknown.png")

    def test_hostile_tenant_id_is_inert(self, pages: dict[str, Any],
                                        browser: Browser) -> None:
        run = pages["runs"][EVIL]
        html = (pages["out"] / run.html).read_text()
        assert "<script>alert(1)" not in html
        assert html.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2
        scripts = re.findall(r"<script\b([^>]*)>", html)
        assert all('type="application/vnd.tributary.figure+json"' in s or "src=" in s
                   for s in scripts)
        assert "<" not in run.run_dir and '"' not in run.run_dir
        _open(browser, pages["out"] / run.html)
        assert browser.problems() == []  # no dialog opened
        text = _readable(browser, "hostile tenant")
        assert EVIL in text  # shown as text
        _shot(browser, "tenant-report-hostile.png")

    def test_fleet_page_agrees_with_the_tenant_pages(self, pages: dict[str, Any],
                                                     browser: Browser) -> None:
        run = pages["runs"]["fleet"]
        _open(browser, pages["out"] / run.html)
        assert browser.problems() == []
        _readable(browser, "fleet report")
        doc = _summary(pages, "fleet")
        assert _tiles(browser) == {h["key"]: h["text"] for h in doc["headline"]}
        assert doc["details"]["tenants"] == 5
        rows = browser.js(
            "Object.fromEntries(Array.from([...document.querySelectorAll('table')].find("
            "t => t.querySelector('th') && t.querySelector('th').innerText === 'Tenant')"
            ".querySelectorAll('tbody tr')).map(r => [r.cells[0].innerText, "
            "r.cells[1].innerText]))")
        for t in (pages["busiest"], pages["smallest"]):  # one definition of requests
            tile = {h["key"]: h["text"] for h in _summary(pages, t)["headline"]}
            assert rows[t] == tile["requests"], t
        _shot(browser, "tenant-fleet.png")

    def test_index_answers_with_tiles_trends_and_filters(self, pages: dict[str, Any],
                                                         browser: Browser) -> None:
        out = pages["out"]
        _open(browser, out / "index.html")
        assert browser.problems() == []
        _readable(browser, "index")
        html = (out / "index.html").read_text()
        assert "<script>alert" not in html and "&lt;script&gt;alert(1)" in html
        # the busiest tenant ran twice: its tiles carry a sparkline of both runs
        assert browser.js("document.querySelectorAll('table.tenants svg.spark').length") >= 1
        assert browser.js("document.querySelectorAll('#runs tbody tr').length") == \
            len(pages["records"])
        statuses = browser.js("[...document.querySelectorAll('#runs tbody tr')]"
                              ".map(r => r.className)")
        assert "run run-warning" in statuses
        _shot(browser, "reports-index-tenants.png")
        # filters: the report's page, the tenants' list, one tenant's page
        listing = out / "index" / "tenants.html"
        _open(browser, listing)
        names = browser.js("[...document.querySelectorAll('#tenants code')].map(c => "
                           "c.textContent)")
        assert EVIL in names and TYPO in names and pages["busiest"] in names
        tenant_pages = list((out / "index").glob("tenant-*.html"))
        assert len(tenant_pages) == 4
        for p in tenant_pages:
            assert "<script>alert" not in p.read_text()
        _open(browser, out / "index" / "report-tenant_usage.html")
        assert browser.problems() == []
        _readable(browser, "tenant report's index page")
        assert browser.js("document.querySelectorAll('table.tenants tbody tr').length") == 4
