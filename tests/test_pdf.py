"""Report pages printed to PDF by headless Chromium (reports/pdf.py): figures drawn first,
a new page per section, offline, the browser gone afterwards; poppler renders every page."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import plotly.graph_objects as go
import pytest

from tributary_analysis.reports import html as html_mod
from tributary_analysis.reports.pdf import (
    Chromium,
    ChromiumNotFound,
    PdfError,
    find_chromium,
    html_to_pdf,
)

CI = bool(os.environ.get("CI"))
try:
    find_chromium()
    HAVE_CHROMIUM = True
except ChromiumNotFound:
    HAVE_CHROMIUM = False
    if CI:
        raise RuntimeError("CI must print PDFs: chromium is missing although `make test` "
                           "installs it (.ci/system-deps.sh)") from None

pytestmark = [pytest.mark.browser, pytest.mark.slow,
              pytest.mark.skipif(not HAVE_CHROMIUM, reason="needs Debian's chromium")]


def poppler(tool: str) -> str:
    """A poppler-utils tool; in CI its absence fails (the project must install it)."""
    path = shutil.which(tool)
    if path is None:
        if CI:
            pytest.fail(f"{tool} (poppler-utils) is missing in CI; .ci/system-deps.sh must "
                        "install poppler-utils")
        pytest.skip(f"{tool} (poppler-utils) is not installed here")
    return path


def _page(out: Path, *, with_assets: bool = True, remote_image: bool = False) -> Path:
    fig = go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="latency"))
    fig.update_layout(title="First figure")
    fig2 = go.Figure(go.Bar(x=["a", "b"], y=[4, 5]))
    nb = nbformat.v4.new_notebook()
    cells = [
        nbformat.v4.new_markdown_cell("## Section one\n\nThe answer first."),
        nbformat.v4.new_code_cell("fig", outputs=[nbformat.v4.new_output(
            "display_data", data={html_mod.PLOTLY_MIMETYPE: fig.to_plotly_json()})]),
        nbformat.v4.new_markdown_cell("## Section two\n\nDetails follow."),
        nbformat.v4.new_code_cell("fig2", outputs=[nbformat.v4.new_output(
            "display_data", data={html_mod.PLOTLY_MIMETYPE: fig2.to_plotly_json()})]),
    ]
    if remote_image:
        cells.append(nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output(
            "display_data", data={"text/html": "<img src='http://example.invalid/x.png'>"})]))
    nb.cells = cells
    ctx = html_mod.PageContext(title="PDF test", status="ok", window_start="2026-01-01T00:00:00Z",
                               window_end="2026-01-02T00:00:00Z",
                               generated_at="2026-01-02T00:00:00Z", index_href="index.html",
                               assets_href="assets")
    page = html_mod.render_page(nb, ctx)
    out.mkdir(parents=True, exist_ok=True)
    if with_assets:
        html_mod.install_assets(out)
    path = out / "report.html"
    path.write_text(page.html, encoding="utf-8")
    return path


def test_pdf_has_figures_and_a_page_per_section(tmp_path: Path) -> None:
    page = _page(tmp_path / "r")
    pdf = html_to_pdf(page, tmp_path / "r" / "report.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]
    info = subprocess.run([poppler("pdfinfo"), str(pdf)], capture_output=True, text=True,
                          check=True).stdout
    pages = int(next(ln.split()[-1] for ln in info.splitlines() if ln.startswith("Pages:")))
    assert pages >= 2
    text = [subprocess.run([poppler("pdftotext"), "-f", str(i), "-l", str(i), str(pdf), "-"],
                           capture_output=True, text=True, check=True).stdout
            for i in range(1, pages + 1)]
    first = next(i for i, t in enumerate(text) if "Section one" in t)
    second = next(i for i, t in enumerate(text) if "Section two" in t)
    assert second > first, "the second section starts on a new page"
    assert "First figure" in "".join(text)  # the plotly figure was drawn (its SVG title)
    subprocess.run([poppler("pdftoppm"), "-r", "40", "-png", str(pdf), str(tmp_path / "p")],
                   check=True)
    assert len(list(tmp_path.glob("p-*.png"))) == pages


def test_browser_is_offline_and_gone_afterwards(tmp_path: Path) -> None:
    page = _page(tmp_path / "r", remote_image=True)
    with Chromium(width=900) as b:
        b.call("Network.enable")
        counts = b.open(page)
        pid = b.proc.pid
        requests = [e["params"]["request"]["url"] for e in b.events("Network.requestWillBeSent")]
        failed = b.events("Network.loadingFailed")
    assert counts == {"blocks": 2, "drawn": 2, "failed": 0, "plotly": True}
    remote = [u for u in requests if not u.startswith(("file:", "data:", "about:"))]
    assert remote == ["http://example.invalid/x.png"] and failed  # asked, never reached
    assert _live_in_group(pid) == []


def _live_in_group(pgid: int) -> list[int]:
    """Processes of the group that still run (zombies reparented to a PID 1 that does not
    reap them, as in some containers, are dead and do not count)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            out.append(int(stat.parent.name))
    return out


def test_missing_plotly_asset_is_refused(tmp_path: Path) -> None:
    page = _page(tmp_path / "r", with_assets=False)
    with pytest.raises(PdfError, match=r"plotly\.js did not load"):
        html_to_pdf(page, tmp_path / "x.pdf", timeout=30)
    assert not (tmp_path / "x.pdf").exists()


def test_errors_name_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ChromiumNotFound, match="apt-get install chromium"):
        html_to_pdf(_page(tmp_path / "r"), tmp_path / "x.pdf", chromium="/nonexistent/chrome")
    with pytest.raises(PdfError, match=r"does not exist; render the report first"):
        html_to_pdf(tmp_path / "missing.html", tmp_path / "x.pdf")
