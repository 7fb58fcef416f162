"""Reports in a real browser: headless Chromium, file://, networking off.

Driven over the DevTools protocol with ``websocket-client``. Asserts every plotly figure
rendered with its traces, the console shows no error, no request left ``file://``, and a
hostile tenant id stays text (no dialog opens). Screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import websocket  # in the test extra: a missing install must fail, not skip

from tributary_analysis.ground.time import parse_window as resolve_window
from tributary_analysis.reports.registry import ReportSpec
from tributary_analysis.reports.runner import RunRequest, run_reports

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
if CHROMIUM is None and os.environ.get("CI"):
    raise RuntimeError("CI must run the browser test: chromium is missing although "
                       "`make test` installs it (.ci/system-deps.sh)")
FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
EVIL = "<script>alert(1)</script>\"'"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (make test installs it)"),
]


class Browser:
    """One headless Chromium with an empty profile, no network, and a CDP page session."""

    def __init__(self, profile: Path) -> None:
        assert CHROMIUM is not None
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions", "--disable-default-apps",
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
             "--window-size=1280,1600", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = int(port_file.read_text().split()[0])
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{port}/json/list", timeout=10) as resp:
            targets = json.load(resp)
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30,
                                              suppress_origin=True)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        msg_id = next(self.ids)
        self.ws.send(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == msg_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)
            if msg.get("method") == "Page.javascriptDialogOpening":
                self.call("Page.handleJavaScriptDialog", accept=True)

    def open(self, url: str, settle: float = 1.5) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = self.call("Runtime.evaluate", expression="document.readyState",
                              returnByValue=True)["result"].get("value")
            if state == "complete":
                break
            time.sleep(0.2)
        time.sleep(settle)  # figures draw after load; let late errors arrive
        self.call("Runtime.evaluate", expression="1")  # drain events

    def js(self, expression: str) -> Any:
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise AssertionError(f"JS failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def screenshot(self, path: Path) -> None:
        data = self.call("Page.captureScreenshot", format="png",
                         captureBeyondViewport=True)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, dialogs, and non-file requests."""
        out = []
        for ev in self.events:
            m, p = ev.get("method"), ev.get("params", {})
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append(f"console.{p['type']}: {p.get('args')}")
            elif m == "Runtime.exceptionThrown":
                out.append(f"exception: {p.get('exceptionDetails', {}).get('text')}")
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
            elif m == "Page.javascriptDialogOpening":
                out.append(f"dialog: {p.get('message')}")
            elif m == "Network.requestWillBeSent":
                url = p.get("request", {}).get("url", "")
                if not url.startswith(("file://", "data:", "about:")):
                    out.append(f"network request: {url}")
        return out

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser-reports")
    window = resolve_window("24h", end="2025-01-31T00:00:00Z")
    run_reports([
        RunRequest(ReportSpec("figures", FIXTURES / "figures.ipynb"), window),
        RunRequest(ReportSpec("tenant", FIXTURES / "tenant.ipynb", per_tenant=True), window,
                   tenant=EVIL),
        RunRequest(ReportSpec("raises", FIXTURES / "raises.ipynb"), window),
    ], out, jobs=2, timeout=300, notify=False)
    return out


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Any:
    b = Browser(tmp_path_factory.mktemp("chromium-profile"))
    yield b
    b.close()


def test_index_opens_offline_and_links_every_run(rendered: Path, browser: Browser) -> None:
    browser.open((rendered / "index.html").as_uri())
    assert browser.problems() == []
    rows = browser.js("document.querySelectorAll('#runs tbody tr').length")
    assert rows == 3
    statuses = browser.js("[...document.querySelectorAll('#runs tbody tr')]"
                          ".map(r => r.className)")
    assert sorted(statuses) == ["run run-failed", "run run-ok", "run run-ok"]
    tenant = browser.js("document.querySelector('#runs code').textContent")
    assert tenant == EVIL
    browser.screenshot(ARTIFACTS / "reports-index.png")


def test_report_figures_render_with_data(rendered: Path, browser: Browser) -> None:
    page = next((rendered / "figures").glob("*/report.html"))
    browser.open(page.as_uri())
    assert browser.problems() == []
    # _fullData holds what plotly.js computed (numpy arrays arrive base64-encoded in data)
    figures = browser.js(
        "[...document.querySelectorAll('.js-plotly-plot')].map(el => ({traces: "
        "el._fullData.length, points: el._fullData.reduce((n, t) => n + t._length, 0), "
        "title: (el.layout.title && el.layout.title.text) || ''}))")
    assert figures == [{"traces": 1, "points": 50, "title": "Squares"},
                       {"traces": 2, "points": 6, "title": ""}]
    line = browser.js("document.querySelectorAll('.js-plotly-plot')[0]"
                      ".querySelector('.scatterlayer path.js-line').getAttribute('d').length")
    assert line > 100  # a real polyline through 50 points
    # the bars were drawn: SVG paths for 6 bars exist
    bars = browser.js("document.querySelectorAll('.js-plotly-plot')[1]"
                      ".querySelectorAll('g.point').length")
    assert bars == 6
    assert browser.js("document.getElementById('tributary-warnings').textContent"
                      ".includes('3 series dropped')")
    assert browser.js("document.querySelectorAll('.jp-CodeCell .jp-InputArea').length") == 0
    browser.screenshot(ARTIFACTS / "report-figures.png")


def test_hostile_tenant_is_text_in_the_browser(rendered: Path, browser: Browser) -> None:
    page = next((rendered / "tenant").glob("*/report.html"))
    browser.open(page.as_uri())
    assert browser.problems() == []  # no dialog: alert(1) never ran
    assert browser.js("document.querySelector('.tr-tenant').textContent") == EVIL
    assert browser.js("document.querySelectorAll('script:not([src])').length") == \
        browser.js("document.querySelectorAll("
                   "'script[type=\"application/vnd.tributary.figure+json\"]').length")
    name = browser.js("document.querySelector('.js-plotly-plot').data[0].name")
    assert name == EVIL
    browser.screenshot(ARTIFACTS / "report-hostile-tenant.png")


def test_failure_page_in_the_browser(rendered: Path, browser: Browser) -> None:
    page = next((rendered / "raises").glob("*/report.html"))
    browser.open(page.as_uri())
    assert browser.problems() == []
    text = browser.js("document.getElementById('tributary-failure').innerText")
    assert "ValueError: fixture failure" in text and "In code cell 4 of 5" in text
    browser.screenshot(ARTIFACTS / "report-failure.png")


@pytest.fixture(scope="module")
def real_rendered(prometheus_stack: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real daily operations report, rendered against the Prometheus fixture."""
    from tributary_analysis.reports.registry import default_registry

    out = tmp_path_factory.mktemp("browser-real-report")
    m = prometheus_stack.manifest
    mp = pytest.MonkeyPatch()
    mp.setenv("TRIBUTARY_PROMETHEUS_URL", prometheus_stack.url)
    mp.setenv("TRIBUTARY_LOG_FILES", str(prometheus_stack.out_dir / "logs"))
    try:
        window = resolve_window(start=m["start"], end=m["end"])
        [record] = run_reports([RunRequest(default_registry()["daily_operations"], window)],
                               out, timeout=600, notify=False)
    finally:
        mp.undo()
    assert record.status == "ok", record.error
    return out / record.html


@pytest.mark.prometheus
def test_real_report_figures_render_with_data(real_rendered: Path, browser: Browser) -> None:
    browser.open(real_rendered.as_uri(), settle=3.0)
    assert browser.problems() == []
    blocks = browser.js("document.querySelectorAll("
                        "'script[type=\"application/vnd.tributary.figure+json\"]').length")
    figures = browser.js(
        "[...document.querySelectorAll('.js-plotly-plot')].map(el => ({traces: "
        "el._fullData.length, points: el._fullData.reduce((n, t) => n + (t._length || 0), 0),"
        " title: (el.layout.title && el.layout.title.text) || ''}))")
    assert blocks >= 5 and len(figures) == blocks
    for fig in figures:
        assert fig["traces"] >= 1 and fig["points"] > 0, fig
    titles = " | ".join(f["title"] for f in figures)
    assert "Traffic" in titles and "burn rate" in titles.lower()
    assert browser.js("document.getElementById('tributary-header').innerText"
                      ".includes('Daily operations')")
    assert browser.js("document.querySelectorAll('.jp-CodeCell .jp-InputArea').length") == 0
    browser.screenshot(ARTIFACTS / "report-daily-operations.png")
