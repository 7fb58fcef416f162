"""Test helpers: a throwaway real Prometheus and a real fault-injecting HTTP proxy.

The Prometheus scrapes itself every second (so ``prometheus_http_request_duration_seconds``
histograms exist) and can be preloaded with an OpenMetrics file via
``promtool tsdb create-blocks-from openmetrics``. The proxy forwards to it and rewrites
answers only for faults the real server will not produce on demand (warnings, partial
responses, HTML error pages, 503/429 bursts, auth).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def prometheus3_binary(name: str = "prometheus") -> str:
    """The Prometheus 3 binary of the project's Go build (built now if not cached: the
    stack's :func:`tributary_analysis.stack.prometheus.find_binary`)."""
    from tributary_analysis.stack.prometheus import find_binary

    return find_binary(name, "3")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def om_escape(value: str) -> str:
    """OpenMetrics label-value escaping: backslash, double quote, newline."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


@dataclass
class LocalPrometheus:
    url: str
    proc: subprocess.Popen[bytes]
    data_dir: Path
    log: Any = None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        if self.log is not None:
            self.log.close()


def start_prometheus(workdir: Path, *, openmetrics: str | None = None,
                     scrape_interval: str = "1s", extra_args: tuple[str, ...] = (),
                     backfill_timeout: float = 120, version: str = "2",
                     self_scrape: bool = True, remote_write: bool = False,
                     out_of_order_window: str | None = None, extra_config: str = ""
                     ) -> LocalPrometheus:
    """Start a Prometheus on a free port; backfill ``openmetrics`` first.

    ``version="3"`` runs the project's Prometheus 3 build; ``remote_write`` enables its
    receiver, ``out_of_order_window`` accepts old remote-written samples; without
    ``self_scrape`` nothing but what a test writes is stored (no fresh samples that would
    push old ones out of the head's window).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    data = workdir / "data"
    data.mkdir(exist_ok=True)
    binary = prometheus3_binary() if version == "3" else PROMETHEUS
    tool = prometheus3_binary("promtool") if version == "3" else PROMTOOL
    if openmetrics is not None:
        om = workdir / "backfill.om"
        om.write_text(openmetrics)
        subprocess.run([tool, "tsdb", "create-blocks-from", "openmetrics", str(om),
                        str(data)], check=True, capture_output=True,
                       timeout=backfill_timeout)
    port = free_port()
    cfg = workdir / "prometheus.yml"
    text = f"global:\n  scrape_interval: {scrape_interval}\n"
    if out_of_order_window:
        text += f"storage:\n  tsdb:\n    out_of_order_time_window: {out_of_order_window}\n"
    if self_scrape:
        text += ("scrape_configs:\n  - job_name: prometheus\n    static_configs:\n"
                 f"      - targets: ['127.0.0.1:{port}']\n")
    cfg.write_text(text + extra_config)
    args = [binary, f"--config.file={cfg}", f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.path={data}", *extra_args]
    if version != "3" or "retention" not in text + extra_config:
        args.append("--storage.tsdb.retention.time=3650d")
    if remote_write:
        args.append("--web.enable-remote-write-receiver")
    log = (workdir / "prometheus.log").open("wb")
    proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.close()
            raise RuntimeError(f"prometheus exited: {(workdir / 'prometheus.log').read_text()}")
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=1) as r:
                if r.status == 200:
                    return LocalPrometheus(url, proc, data, log)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    proc.wait()
    log.close()
    raise RuntimeError("prometheus did not become ready in 60s")


def wait_for(url: str, expr: str, min_series: int = 1, timeout: float = 60) -> None:
    """Wait until ``expr`` returns at least ``min_series`` series (scrapes accumulated)."""
    deadline = time.monotonic() + timeout
    q = urllib.parse.urlencode({"query": expr})
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{url}/api/v1/query?{q}", timeout=5) as r:
            if len(json.load(r)["data"]["result"]) >= min_series:
                return
        time.sleep(0.5)
    raise RuntimeError(f"{expr} never returned {min_series} series")


@dataclass
class ProxyState:
    """What the proxy does next; tests change it between requests."""

    #: forward | warn | partial | info | html200 | html502 | fail503 | 429 | json500 |
    #: truncate | badvalue | auth
    mode: str = "forward"
    #: for fail503/429/html502/json500/truncate: how many requests fail before forwarding
    fail_times: int = 0
    #: only requests whose path contains this are faulted (others are forwarded)
    only: str = "/api/v1/query"
    token: str = ""
    org: str = ""
    requests: list[dict[str, Any]] = field(default_factory=list)


def _spoil_first_value(payload: bytes) -> bytes:
    """Replace the first sample value of a query answer by the text ``abc``."""
    doc = json.loads(payload)
    for series in doc.get("data", {}).get("result", []):
        if series.get("values"):
            series["values"][0][1] = "abc"
            break
        if "value" in series:
            series["value"][1] = "abc"
            break
    return json.dumps(doc).encode()


class FaultProxy:
    """A real HTTP server forwarding to ``upstream`` and injecting the configured fault."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.state = ProxyState()
        state, up = self.state, self.upstream

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: bytes, ctype: str, headers: dict[str, str]
                       | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                state.requests.append({"method": method, "path": self.path,
                                       "body": body, "headers": dict(self.headers)})
                mode = state.mode
                if mode == "auth" and (
                        self.headers.get("Authorization") != f"Bearer {state.token}"
                        or self.headers.get("X-Scope-OrgID") != state.org):
                    self._reply(401, b"no", "text/plain")
                    return
                faulted = state.only in self.path
                if mode in ("fail503", "429", "html502", "json500") and state.fail_times > 0 \
                        and faulted:
                    state.fail_times -= 1
                    if mode == "json500":
                        self._reply(500, b'{"status":"error","errorType":"internal",'
                                    b'"error":"unexpected error: storage is closed"}',
                                    "application/json")
                    elif mode == "fail503":
                        self._reply(503, b'{"status":"error","errorType":"unavailable",'
                                    b'"error":"too many requests in flight"}',
                                    "application/json")
                    elif mode == "429":
                        self._reply(429, b'{"status":"error","errorType":"unavailable",'
                                    b'"error":"rate limited"}', "application/json",
                                    {"Retry-After": "0"})
                    else:
                        self._reply(502, b"<html><body>502 Bad Gateway</body></html>",
                                    "text/html")
                    return
                if mode == "html200" and faulted:
                    self._reply(200, b"<!DOCTYPE html><html>Please log in</html>", "text/html")
                    return
                req = urllib.request.Request(up + self.path, data=body, method=method)
                if self.headers.get("Content-Type"):
                    req.add_header("Content-Type", self.headers["Content-Type"])
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        status, payload = r.status, r.read()
                except urllib.error.HTTPError as e:
                    status, payload = e.code, e.read()
                if mode in ("warn", "partial", "info") and status == 200 and faulted:
                    doc = json.loads(payload)
                    doc["warnings"] = ["injected: store sidecar-2 unreachable"]
                    if mode == "partial":
                        doc["partialResponse"] = True
                    if mode == "info":
                        doc["infos"] = ["PromQL info: metric might not be a counter, name "
                                        "does not end in _total/_sum/_count/_bucket"]
                    payload = json.dumps(doc).encode()
                if mode == "badvalue" and status == 200 and faulted:
                    payload = _spoil_first_value(payload)
                if mode == "truncate" and state.fail_times > 0 and faulted:
                    state.fail_times -= 1
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: max(1, len(payload) // 2)])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self._reply(status, payload, "application/json")

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def reset(self, **kwargs: Any) -> ProxyState:
        self.state.__init__(**kwargs)  # type: ignore[misc]
        return self.state

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
