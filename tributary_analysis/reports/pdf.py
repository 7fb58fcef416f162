"""A report page printed to PDF by headless Chromium, offline, every figure drawn first.

:func:`html_to_pdf` starts Debian's ``chromium`` with a private, throwaway
``--user-data-dir``, every background-networking feature off and name resolution pointed
nowhere (the page loads only ``file://`` assets), and speaks the DevTools protocol over a
pipe (``--remote-debugging-pipe``: no debugging port that another local process could
reach, no websocket library). It opens the page at the paper's printable width so plotly
lays each figure out for the page, waits until every figure block has been drawn (or has
said why not), adds print rules (each section on a new page, figures and notes never split),
and calls ``Page.printToPDF`` with backgrounds. The browser's whole process group is killed
by its id at the end, also on error or timeout.

:class:`Chromium` is the same session for other uses (screenshots in tests and docs).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tributary_analysis.errors import ChromiumError, ChromiumNotFound, PdfError

__all__ = ["PAPER", "Chromium", "ChromiumError", "ChromiumNotFound", "PdfError",
           "find_chromium", "html_to_pdf"]

#: paper name → (width, height) in inches
PAPER = {"A4": (8.27, 11.69), "Letter": (8.5, 11.0), "A3": (11.69, 16.54)}
MARGIN_IN = 0.4
CSS_PX_PER_IN = 96
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-extensions", "--disable-default-apps", "--disable-dev-shm-usage",
    "--disable-quic", "--no-default-browser-check", "--disable-breakpad",
    "--disable-domain-reliability", "--metrics-recording-only", "--mute-audio",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>", "--remote-debugging-pipe",
)
#: Debian installs a shell wrapper as /usr/bin/chromium that adds flags (extensions,
#: GPU rasterisation) and sources /etc/chromium.d; the binary behind it is used directly.
CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser",
              "google-chrome", "google-chrome-stable")
INSTALL_HINT = ("install Debian's chromium (apt-get install chromium; `make test` does it "
                "through .ci/system-deps.sh) or set TRIBUTARY_CHROMIUM to a Chromium binary")

# A pipe-mode child must find the two DevTools pipes at fds 3 and 4: a tiny exec trampoline
# puts them there (no preexec_fn: reports run in threads), then becomes Chromium (same pid).
_TRAMPOLINE = ("import os,sys;r,w=int(sys.argv[1]),int(sys.argv[2]);os.dup2(r,3);"
               "os.dup2(w,4);os.execv(sys.argv[3],sys.argv[3:])")

#: resolves once every figure block of the page has been drawn or has failed visibly
_WAIT_FIGURES = """
new Promise((resolve) => {
  const t0 = Date.now();
  function check() {
    const blocks = document.querySelectorAll(
      'script[type="application/vnd.tributary.figure+json"]');
    let drawn = 0, failed = 0;
    blocks.forEach((b) => {
      const el = document.getElementById(b.getAttribute('data-target'));
      if (!el) { failed++; return; }
      if (el.classList.contains('tributary-figure-error')) { failed++; return; }
      if (el._fullLayout && el.querySelector('.main-svg')) { drawn++; }
    });
    if (drawn + failed >= blocks.length || Date.now() - t0 > %d) {
      resolve({blocks: blocks.length, drawn: drawn, failed: failed,
               plotly: typeof window.Plotly !== 'undefined'});
    } else { setTimeout(check, 100); }
  }
  if (document.readyState === 'complete') { check(); }
  else { window.addEventListener('load', check); }
})
"""

#: print rules added before printing: sections start on a new page, nothing is split
_PRINT_CSS = """
@media print {
  .jp-MarkdownCell h2, h2.td-section { break-before: page; }
  .tr-print-first { break-before: auto !important; }
  .tributary-figure, .jp-OutputArea-output table, .td-note, .tr-warnings, .tr-failure,
  .td-table-wrap tr, .td-answer { break-inside: avoid; }
  h1, h2, h3 { break-after: avoid; }
  .modebar-container { display: none !important; }
}
"""
_ADD_PRINT_CSS = """
(() => {
  const style = document.createElement('style');
  style.textContent = %s;
  document.head.appendChild(style);
  const heads = document.querySelectorAll('.jp-MarkdownCell h2, h2.td-section');
  if (heads.length) { heads[0].classList.add('tr-print-first'); }
  return heads.length;
})()
"""


#: lays every figure out again for the print layout (widths change with print rules)
_RESIZE = """
Promise.all(Array.from(document.querySelectorAll('.js-plotly-plot')).map(
  (el) => (window.Plotly ? window.Plotly.Plots.resize(el) : null))).then(() => true)
"""





def find_chromium(explicit: str | os.PathLike[str] | None = None) -> str:
    """The Chromium binary: ``explicit``, ``$TRIBUTARY_CHROMIUM``, Debian's, or on PATH.

    Raises
    ------
    ChromiumNotFound
        With how to install it.
    """
    given = explicit or os.environ.get("TRIBUTARY_CHROMIUM")
    if given:
        path = shutil.which(str(given)) or (str(given) if os.access(str(given), os.X_OK)
                                            else None)
        if path is None:
            raise ChromiumNotFound(f"Chromium binary {given!r} (TRIBUTARY_CHROMIUM or the "
                                   f"chromium= argument) is not an executable; {INSTALL_HINT}")
        return path
    for name in CANDIDATES:
        path = name if os.path.isabs(name) and os.access(name, os.X_OK) else shutil.which(name)
        if path:
            return path
    raise ChromiumNotFound(f"PDF output needs headless Chromium and none was found "
                           f"(looked for {', '.join(CANDIDATES)}); {INSTALL_HINT}")


class Chromium:
    """One headless Chromium with a private profile, no network, and one page session.

    Use as a context manager; leaving it kills the browser's process group by its id.

    Parameters
    ----------
    binary : str, optional
        See :func:`find_chromium`.
    width, height : int
        The viewport in CSS pixels.
    timeout : float
        Seconds any single DevTools call may take.
    """

    def __init__(self, binary: str | None = None, *, width: int = 1400, height: int = 1000,
                 timeout: float = 60.0) -> None:
        self.binary = find_chromium(binary)
        self.timeout = timeout
        self.width, self.height = width, height
        self._profile = tempfile.mkdtemp(prefix="tributary-chromium-")
        self._ids = iter(range(1, 1 << 30))
        self._buf = b""
        self._events: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.proc: subprocess.Popen[bytes] | None = None
        self.session = ""
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    # -- life cycle -----------------------------------------------------------------
    def _start(self) -> None:
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        args = [self.binary, *FLAGS, f"--user-data-dir={self._profile}",
                f"--window-size={self.width},{self.height}", "about:blank"]
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the browser
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", _TRAMPOLINE, str(to_child_r), str(from_child_w), *args],
                pass_fds=(to_child_r, from_child_w), stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, stderr=self._log, start_new_session=True,
                env={k: v for k, v in os.environ.items() if not k.startswith(
                    ("GOOGLE_", "TRIBUTARY_"))})
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        targets = self.call("Target.getTargets")["targetInfos"]
        page = next((t for t in targets if t.get("type") == "page"), None)
        target_id = page["targetId"] if page else self.call(
            "Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target_id,
                                 flatten=True)["sessionId"]
        for domain in ("Page", "Runtime"):
            self.call(f"{domain}.enable")
        self.set_viewport(self.width, self.height)

    def close(self) -> None:
        """Kill the browser (its whole process group, by id) and remove the profile."""
        proc = self.proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        if proc is not None:
            # renderer/zygote children share the group: make sure none is left behind
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for fd in ("_to_child", "_from_child"):
            with contextlib.suppress(AttributeError, OSError):
                os.close(getattr(self, fd))
        with contextlib.suppress(AttributeError, OSError):
            self._log.close()
        shutil.rmtree(self._profile, ignore_errors=True)
        self.proc = None

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _stderr_tail(self) -> str:
        try:
            self._log.seek(0)
            lines = self._log.read().decode(errors="replace").strip().splitlines()
        except (OSError, ValueError):
            return ""
        keep = [ln for ln in lines if "dbus" not in ln.lower()][-3:]
        return " | ".join(keep)

    # -- protocol ---------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict[str, Any]:
        import select

        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise ChromiumError(f"Chromium did not answer within {self.timeout:g} s")
            ready, _, _ = select.select([self._from_child], [], [], min(left, 1.0))
            if not ready:
                if self.proc is not None and self.proc.poll() is not None:
                    raise ChromiumError(f"Chromium exited with code {self.proc.returncode}: "
                                        f"{self._stderr_tail() or 'no message'}")
                continue
            chunk = os.read(self._from_child, 1 << 20)
            if not chunk:
                raise ChromiumError(f"Chromium closed the DevTools pipe: "
                                    f"{self._stderr_tail() or 'no message'}")
            self._buf += chunk
        raw, _, self._buf = self._buf.partition(b"\0")
        msg: dict[str, Any] = json.loads(raw)
        return msg

    def call(self, method: str, *, timeout: float | None = None, **params: Any
             ) -> dict[str, Any]:
        """Send one DevTools command and return its result (raises on a protocol error)."""
        with self._lock:
            msg_id = next(self._ids)
            body: dict[str, Any] = {"id": msg_id, "method": method, "params": params}
            if self.session and not method.startswith(("Target.", "Browser.")):
                body["sessionId"] = self.session
            os.write(self._to_child, json.dumps(body).encode() + b"\0")
            deadline = time.monotonic() + (timeout or self.timeout)
            while True:
                msg = self._read_message(deadline)
                if msg.get("id") == msg_id:
                    if "error" in msg:
                        raise ChromiumError(f"Chromium refused {method}: "
                                            f"{msg['error'].get('message', msg['error'])}")
                    result: dict[str, Any] = msg.get("result", {})
                    return result
                if "method" in msg:
                    self._events.append(msg)
                    del self._events[:-500]

    def events(self, method: str) -> list[dict[str, Any]]:
        """Events received so far with this method name (e.g. ``Runtime.exceptionThrown``)."""
        return [e for e in self._events if e.get("method") == method]

    def evaluate(self, expression: str, *, timeout: float | None = None) -> Any:
        """Evaluate JavaScript in the page (promises awaited) and return its value."""
        out = self.call("Runtime.evaluate", expression=expression, awaitPromise=True,
                        returnByValue=True, timeout=timeout)
        if "exceptionDetails" in out:
            detail = out["exceptionDetails"]
            raise ChromiumError("page script failed: " + str(
                detail.get("exception", {}).get("description") or detail.get("text")))
        return out.get("result", {}).get("value")

    # -- pages ------------------------------------------------------------------------
    def set_viewport(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def open(self, path: str | os.PathLike[str], *, wait_figures: float = 60.0
             ) -> dict[str, Any]:
        """Load a local page and wait until its figures are drawn; returns the counts
        ``{blocks, drawn, failed, plotly}``."""
        url = Path(path).resolve().as_uri()
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + self.timeout
        while True:
            state = self.evaluate("document.readyState")
            if state == "complete":
                break
            if time.monotonic() > deadline:
                raise ChromiumError(f"{path} did not finish loading within "
                                    f"{self.timeout:g} s")
            time.sleep(0.05)
        result: dict[str, Any] = self.evaluate(_WAIT_FIGURES % int(wait_figures * 1000),
                                               timeout=wait_figures + 10)
        return result

    def screenshot(self, png_path: str | os.PathLike[str], *, full_page: bool = True,
                   region: tuple[int, int] | None = None) -> Path:
        """A PNG of the page: the whole scroll height with ``full_page``, or the band
        ``region = (top, height)`` in CSS pixels."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": True}
        h = int(self.evaluate("document.documentElement.scrollHeight"))
        if region is not None:
            top, height = region
            params["clip"] = {"x": 0, "y": top, "width": self.width,
                              "height": max(1, min(height, h - top)), "scale": 1}
        elif full_page:
            params["clip"] = {"x": 0, "y": 0, "width": self.width, "height": min(h, 30000),
                              "scale": 1}
        else:
            params["captureBeyondViewport"] = False
        data = self.call("Page.captureScreenshot", timeout=self.timeout * 2, **params)
        out = Path(png_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(data["data"]))
        return out

    def print_pdf(self, pdf_path: str | os.PathLike[str], *, paper: str = "A4",
                  landscape: bool = False) -> Path:
        """Print the open page with backgrounds (streamed, so big reports fit)."""
        w, h = PAPER[paper]
        if landscape:
            w, h = h, w
        self.evaluate(_ADD_PRINT_CSS % json.dumps(_PRINT_CSS))
        self.call("Emulation.setEmulatedMedia", media="print")
        self.evaluate(_RESIZE)
        out = self.call("Page.printToPDF", timeout=self.timeout * 3, printBackground=True,
                        paperWidth=w, paperHeight=h, marginTop=MARGIN_IN,
                        marginBottom=MARGIN_IN, marginLeft=MARGIN_IN, marginRight=MARGIN_IN,
                        preferCSSPageSize=False, transferMode="ReturnAsStream",
                        displayHeaderFooter=False)
        target = Path(pdf_path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            for chunk in self._stream(out["stream"]):
                fh.write(chunk)
        tmp.replace(target)
        return target

    def _stream(self, handle: str) -> Iterator[bytes]:
        try:
            while True:
                part = self.call("IO.read", handle=handle, size=1 << 20)
                data = part.get("data", "")
                yield base64.b64decode(data) if part.get("base64Encoded") else data.encode()
                if part.get("eof"):
                    break
        finally:
            with contextlib.suppress(ChromiumError):
                self.call("IO.close", handle=handle)


def printable_width_px(paper: str = "A4", landscape: bool = False) -> int:
    """The printable width of ``paper`` in CSS pixels (what figures are laid out for)."""
    w, h = PAPER[paper]
    return int(((h if landscape else w) - 2 * MARGIN_IN) * CSS_PX_PER_IN)


def html_to_pdf(html_path: str | os.PathLike[str], pdf_path: str | os.PathLike[str], *,
                paper: str = "A4", landscape: bool = False, timeout: float = 120.0,
                chromium: str | None = None, require_figures: bool = True) -> Path:
    """Print a report page to PDF with headless Chromium, figures included.

    Parameters
    ----------
    html_path : path
        The page (``report.html``); its ``assets/`` must be where the page says.
    pdf_path : path
        Where the PDF goes (written atomically).
    paper : {"A4", "Letter", "A3"}
        Paper size; margins are 0.4 in.
    landscape : bool
        Wide dashboards read better across.
    timeout : float
        Seconds for each browser step (load, figures, printing).
    chromium : str, optional
        The binary (default: :func:`find_chromium`).
    require_figures : bool
        Refuse to print a page whose figures did not draw (plotly.js missing): a PDF with
        empty boxes would look like a report without data.

    Raises
    ------
    ChromiumNotFound
        No Chromium, with how to install it.
    PdfError
        The page is missing, a figure did not draw, or Chromium failed or timed out.
    """
    page = Path(html_path)
    if not page.is_file():
        raise PdfError(f"cannot print {page}: the page does not exist; render the report "
                       "first")
    if paper not in PAPER:
        raise PdfError(f"paper {paper!r} is not one of {', '.join(PAPER)}")
    width = printable_width_px(paper, landscape)
    with Chromium(chromium, width=width, height=1200, timeout=timeout) as browser:
        counts = browser.open(page, wait_figures=timeout)
        if require_figures and counts.get("blocks"):
            if not counts.get("plotly"):
                raise PdfError(f"cannot print {page}: plotly.js did not load from the "
                               "page's assets/ directory (copy the whole reports directory, "
                               "not only the page)")
            missing = counts["blocks"] - counts["drawn"]
            if missing:
                raise PdfError(f"cannot print {page}: {missing} of {counts['blocks']} "
                               f"figure(s) were not drawn within {timeout:g} s")
        return browser.print_pdf(pdf_path, paper=paper, landscape=landscape)
