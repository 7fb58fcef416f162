"""The live demo service: the simulation goes on in real time after the backfill.

``tributary demo up`` simulates the history *and* a live horizon in one run
(``simulate(history_end=now)``, whose ``result.live`` holds the whole families): the
backfill stops at the cut, and this service serves the rest in real time, so tenants,
trends and the incident schedule simply continue. One HTTP listener per replica (127.0.0.1
only) serves ``/metrics`` in the service's ``prometheus_client`` text format with the
cumulative values of the latest scrape-grid time at or before now; a replica inside an
injected scrape gap answers 503 (Prometheus records ``up == 0``); the injected restart
resets its counters as in the history. Log lines are appended to the day's
``deeplake-api-YYYY-MM-DD.jsonl`` as their time comes and loaded into Elasticsearch through
the stack's loader.

Files in the state directory (written by :func:`save_state`)::

    live.pkl        families sliced from the cut on, the grid, the instances
    pending.jsonl   log lines after the cut, in time order
    live.json       ports, log directory, Elasticsearch home, horizon (for status)
    status.json     the service's own heartbeat: last grid time served, lines written

Start it with ``python -m tributary_analysis.demo.live --state DIR`` (``stack.demo`` does
that, detached, and stops it by PID).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from tributary_analysis.demo.aggregate import Block, FamilyData, LiveCut, Q
from tributary_analysis.demo.remote_write import TimeSeries

MARKER = "--state="
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: seconds between two log flushes (and Elasticsearch loads)
LOG_EVERY_S = 10.0
#: where ``asctime`` ("YYYY-MM-DD HH:MM:SS") sits in a simulated log line (python-json-logger
#: writes it first: ``{"asctime": "2026-11-30 20:37:30,200", ...``)
_T0, _T1 = 13, 32
_PREFIX = '{"asctime": "'


def split_logs(files: Sequence[Path], cutoff_s: int, pending: Path) -> list[Path]:
    """Move log lines at or after ``cutoff_s`` from ``files`` into ``pending`` (time order).

    Returns the files that still hold history (files entirely after the cut are removed:
    the live service writes them again as their lines come due).
    """
    cut = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(cutoff_s))
    kept: list[Path] = []
    pending.parent.mkdir(parents=True, exist_ok=True)
    with open(pending, "w", encoding="utf-8") as out:
        for path in sorted(files):
            with open(path, encoding="utf-8") as fh:
                lines = fh.readlines()
            if lines and not lines[0].startswith(_PREFIX):
                raise ValueError(f"{path}: not the simulator's log format (no leading asctime)")
            n = next((i for i, line in enumerate(lines) if line[_T0:_T1] >= cut), len(lines))
            out.writelines(lines[n:])
            if n == 0:
                path.unlink()
                continue
            if n < len(lines):
                tmp = path.with_suffix(".jsonl.tmp")
                tmp.write_text("".join(lines[:n]), encoding="utf-8")
                os.replace(tmp, path)
            kept.append(path)
    return kept


@dataclass
class LiveState:
    """What the service serves: the families from the cut on, on the scrape grid."""

    times: np.ndarray  # (K,) unix seconds from the cut's scrape on
    instances: tuple[str, ...]
    families: list[FamilyData]
    scraped: np.ndarray  # (I, K) bool
    cutoff_s: int
    rows: dict[tuple[int, int, int], np.ndarray] = field(default_factory=dict)

    def index_at(self, now: float) -> int:
        """Index of the latest grid time at or before ``now`` (0 before the cut)."""
        return max(0, int(np.searchsorted(self.times, now, side="right")) - 1)


def _instance_of(label_text: str) -> str:
    key = f"instance={Q}"
    i = label_text.find(key)
    if i < 0:
        return ""
    j = label_text.find(Q, i + len(key))
    return label_text[i + len(key):j]


def slice_cut(cut: LiveCut, instances: Sequence[str]) -> LiveState:
    """Keep the grid from the cut's scrape on (drops the history the backfill holds)."""
    assert cut.times is not None
    k0 = max(0, int(np.searchsorted(cut.times, cut.cutoff_s, side="right")) - 1)
    fams = []
    scraped = np.ones((len(instances), cut.times.size - k0), bool)
    for fam in cut.families:
        blocks = [Block(b.sample, b.labels, b.values[:, k0:], b.mask[:, k0:], b.integer,
                        b.decimals) for b in fam.blocks]
        if fam.name == "up":  # Prometheus makes ``up`` itself; the gap is in its values
            for b in blocks:
                for row, lab in enumerate(b.labels):
                    inst = _instance_of(lab)
                    if inst in instances:
                        scraped[list(instances).index(inst)] = b.values[row] > 0
            continue
        fams.append(FamilyData(fam.name, fam.type, fam.help, blocks))
    return LiveState(cut.times[k0:], tuple(instances), fams, scraped, cut.cutoff_s)


def save_state(state_dir: Path, state: LiveState, *, pending_logs: Path | None,
               info: dict[str, Any]) -> Path:
    """Write ``live.pkl`` and ``live.json`` for the service process."""
    state_dir.mkdir(parents=True, exist_ok=True)
    tmp = state_dir / "live.pkl.tmp"
    with open(tmp, "wb") as fh:
        pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, state_dir / "live.pkl")
    meta = {**info, "pending_logs": str(pending_logs) if pending_logs else None,
            "cutoff_s": state.cutoff_s, "horizon_end_s": int(state.times[-1]),
            "instances": list(state.instances)}
    (state_dir / "live.json").write_text(json.dumps(meta, indent=2))
    return state_dir


def load_state(state_dir: Path) -> tuple[LiveState, dict[str, Any]]:
    """The state written by :func:`save_state` (our own file, never user input)."""
    with open(state_dir / "live.pkl", "rb") as fh:
        state: LiveState = pickle.load(fh)
    return state, json.loads((state_dir / "live.json").read_text())


# ---------------------------------------------------------------- exposition
def _text_name(fam: FamilyData) -> str:
    """The family name in the 0.0.4 text format (``prometheus_client``'s spelling)."""
    if fam.type == "counter":
        return fam.name if fam.name.endswith("_total") else f"{fam.name}_total"
    if fam.type == "info":
        return f"{fam.name}_info"
    return fam.name


def _text_type(fam: FamilyData) -> str:
    return "gauge" if fam.type == "info" else fam.type


def _fmt(value: float, integer: bool) -> str:
    if integer:
        return f"{round(float(value))}.0"
    if value != value:
        return "NaN"
    return repr(float(value))


def _exposed(label_text: str) -> str:
    """The labels the service itself exposes: without ``job``/``instance`` (the simulator
    appends them last; Prometheus adds them from the target, as for the real service)."""
    i = label_text.find(f"job={Q}")
    return label_text[:i].rstrip(",") if i >= 0 else label_text


def _rows(state: LiveState, key: tuple[int, int, int], block: Block, name: str) -> np.ndarray:
    rows = state.rows.get(key)
    if rows is None:
        rows = np.array([i for i, lab in enumerate(block.labels)
                         if _instance_of(lab) == name], dtype=np.int64)
        state.rows[key] = rows
    return rows


def _line(block: Block, r: int, k: int) -> str:
    lab = _exposed(block.labels[r])
    value = block.values[r, k]
    if block.decimals is not None and not block.integer:
        value = round(float(value), block.decimals)
    series = f"{block.sample}{{{lab}}}" if lab else block.sample
    return f"{series} {_fmt(value, block.integer)}"


def render(state: LiveState, instance: int, k: int) -> bytes:
    """The ``/metrics`` body of one replica at grid index ``k``.

    Histograms come series by series as ``prometheus_client`` writes them (the ``_bucket``
    lines in ``le`` order, then ``_count`` and ``_sum``): Prometheus's NHCB conversion
    assembles one histogram from consecutive lines.
    """
    name = state.instances[instance]
    out: list[str] = []
    for f_i, fam in enumerate(state.families):
        lines: list[str] = []
        if fam.type == "histogram" and len(fam.blocks) == 3:
            buckets, count, total = fam.blocks
            n_b = len(buckets.labels) // max(1, len(count.labels))
            for s in _rows(state, (f_i, 1, instance), count, name):
                if not count.mask[s, k]:
                    continue
                lines += [_line(buckets, r, k) for r in range(s * n_b, (s + 1) * n_b)]
                lines += [_line(count, s, k), _line(total, s, k)]
        else:
            for b_i, block in enumerate(fam.blocks):
                rows = _rows(state, (f_i, b_i, instance), block, name)
                lines += [_line(block, r, k) for r in rows[block.mask[rows, k]]]
        if lines:
            text_name = _text_name(fam)
            out.append(f"# HELP {text_name} {fam.help}\n# TYPE {text_name} {_text_type(fam)}")
            out.extend(lines)
    return ("\n".join(out) + "\n").replace(Q, '"').encode()


def series_between(state: LiveState, k_from: int, k_to: int) -> list[TimeSeries]:
    """The samples of grid indices ``k_from..k_to`` (inclusive) as remote-write series.

    ``up`` is included (1, or 0 inside the scrape gap): this fills the minutes between the
    cut and Prometheus's first live scrape.
    """
    out: list[TimeSeries] = []
    ks = np.arange(max(0, k_from), min(k_to, state.times.size - 1) + 1)
    if ks.size == 0:
        return out
    ts_ms = state.times[ks] * 1000
    for fam in state.families:
        for block in fam.blocks:
            for r, lab in enumerate(block.labels):
                sel = block.mask[r, ks]
                if not sel.any():
                    continue
                labels = _parse_labels(lab)
                labels["__name__"] = block.sample
                out.append(TimeSeries(labels, samples=list(zip(
                    ts_ms[sel].tolist(), block.values[r, ks][sel].tolist(), strict=True))))
    for i, inst in enumerate(state.instances):
        out.append(TimeSeries({"__name__": "up", "job": "deeplake-api", "instance": inst},
                              samples=list(zip(ts_ms.tolist(),
                                               state.scraped[i, ks].astype(float).tolist(),
                                               strict=True))))
    return out


def _parse_labels(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    i = 0
    while i < len(text):
        eq = text.index("=", i)
        name = text[i:eq]
        j = eq + 2  # after ={Q}
        buf = []
        while text[j] != Q:
            if text[j] == "\\" and j + 1 < len(text):
                nxt = text[j + 1]
                buf.append({"n": "\n", "\\": "\\", '"': '"'}.get(nxt, nxt))
                j += 2
                continue
            buf.append(text[j])
            j += 1
        out[name] = "".join(buf)
        i = j + 2 if j + 1 < len(text) and text[j + 1] == "," else j + 1
    return out


# ---------------------------------------------------------------- service
class _Service:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.state, self.info = load_state(state_dir)
        self.stop = threading.Event()
        self.lines_written = 0
        self.docs_loaded = 0
        self.last_error = ""
        self.scrapes = [0] * len(self.state.instances)

    def handler(self, instance: int) -> type[BaseHTTPRequestHandler]:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?", 1)[0] not in ("/metrics", "/"):
                    self.send_error(404, "only /metrics here")
                    return
                k = service.state.index_at(time.time())
                if not service.state.scraped[instance, k]:
                    self.send_error(503, "replica unreachable (simulated scrape gap)")
                    return
                body = render(service.state, instance, k)
                service.scrapes[instance] += 1
                self.send_response(200)
                self.send_header("Content-Type", CONTENT_TYPE)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler

    def serve(self) -> None:
        servers = []
        for i, port in enumerate(self.info["ports"]):
            srv = ThreadingHTTPServer(("127.0.0.1", int(port)), self.handler(i))
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, daemon=True,
                             name=f"replica-{i}").start()
            servers.append(srv)
        logs = threading.Thread(target=self._logs_loop, daemon=True, name="logs")
        logs.start()
        try:
            while not self.stop.wait(5.0):
                self._heartbeat()
        finally:
            for srv in servers:
                srv.shutdown()
            self._heartbeat()

    def _heartbeat(self) -> None:
        k = self.state.index_at(time.time())
        data = {"pid": os.getpid(), "updated_s": time.time(),
                "grid_time_s": int(self.state.times[k]),
                "horizon_end_s": int(self.state.times[-1]),
                "horizon_reached": bool(k == self.state.times.size - 1),
                "scrapes": self.scrapes, "log_lines_written": self.lines_written,
                "log_docs_loaded": self.docs_loaded, "last_error": self.last_error}
        tmp = self.state_dir / "status.json.tmp"
        tmp.write_text(json.dumps(data))
        os.replace(tmp, self.state_dir / "status.json")

    def _es_client(self) -> Any:
        home = self.info.get("es_home")
        if not home:
            return None
        from elasticsearch import Elasticsearch

        from tributary_analysis.stack import elasticsearch as es_mod

        creds = es_mod.read_admin_file(Path(home))
        if creds is None:
            return None
        url = self.info["es_url"]
        return Elasticsearch(url, basic_auth=creds.as_tuple(), request_timeout=120)

    def _logs_loop(self) -> None:
        pending = self.info.get("pending_logs")
        if not pending or not Path(pending).is_file():
            return
        log_dir = Path(self.info["log_dir"])
        client = None
        try:
            client = self._es_client()
        except Exception as exc:
            self.last_error = f"elasticsearch client: {exc}"
        with open(pending, encoding="utf-8") as src:
            line = src.readline()
            while line and not self.stop.is_set():
                now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
                due: list[str] = []
                while line and line[_T0:_T1] <= now:
                    due.append(line)
                    line = src.readline()
                if due:
                    self._write(log_dir, due, client)
                self.stop.wait(LOG_EVERY_S)
        if client is not None:
            client.close()

    def _write(self, log_dir: Path, lines: list[str], client: Any) -> None:
        by_day: dict[str, list[str]] = {}
        for line in lines:
            by_day.setdefault(line[_T0:_T0 + 10], []).append(line)
        chunk = self.state_dir / "chunk.jsonl"
        chunk.write_text("".join(lines), encoding="utf-8")
        for day, day_lines in by_day.items():
            with open(log_dir / f"deeplake-api-{day}.jsonl", "a", encoding="utf-8") as fh:
                fh.write("".join(day_lines))
        self.lines_written += len(lines)
        if client is not None:
            from tributary_analysis.stack import es_logs

            try:
                report = es_logs.load_logs(client, [chunk], threads=1, strict=False)
                self.docs_loaded += report.indexed
            except Exception as exc:
                self.last_error = f"elasticsearch load: {exc}"


def read_status(state_dir: Path) -> dict[str, Any]:
    """The service's heartbeat (``{}`` before its first one)."""
    with contextlib.suppress(OSError, ValueError):
        data: dict[str, Any] = json.loads((state_dir / "status.json").read_text())
        return data
    return {}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tributary_analysis.demo.live --state=DIR``: serve until SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tributary_analysis.demo.live")
    parser.add_argument("--state", required=True, type=Path,
                        help="directory written by save_state (live.pkl, live.json)")
    args = parser.parse_args(argv)
    service = _Service(args.state)
    signal.signal(signal.SIGTERM, lambda *_: service.stop.set())
    signal.signal(signal.SIGINT, lambda *_: service.stop.set())
    print(f"live demo service: replicas {', '.join(service.state.instances)} on ports "
          f"{service.info['ports']}", flush=True)
    service.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
