"""Write the service's structured logs exactly as the seed's ``StructuredLogger`` emits them.

The seed formats with python-json-logger's ``JsonFormatter('%(asctime)s %(name)s %(levelname)s
%(message)s %(pathname)s %(lineno)d')`` and passes ``json.dumps(log_data)`` as the message, so a
line is an outer JSON object whose ``message`` is a JSON *string*::

    {"asctime": "2026-11-27 08:42:10,123", "name": "deeplake-api", "levelname": "INFO",
     "message": "{\\"timestamp\\": \\"2026-11-27T08:42:10.123456\\", \\"service\\": ...}",
     "pathname": "/app/app/monitoring/logging.py", "lineno": 48}

Both layers use ``json.dumps`` defaults (separators ``', '`` / ``': '``, ``ensure_ascii``).
Lines are built from templates with pre-escaped values (a few microseconds per line), which
``tests/test_simulator.py`` checks byte for byte against the real formatter. The
``asctime`` and the inner naive ``utcnow().isoformat()`` timestamp are both UTC (the service
runs with ``TZ=UTC``); ``isoformat`` drops the fraction when the microseconds are zero.

Events per request (as the seed's middleware and handlers log them):
``Request started`` (no tenant), ``Search operation completed`` (successful searches; the
seed's ``log_search`` has no request id), an ``ERROR`` event via ``log_error`` for every
non-2xx response (with ``request_id``, ``path`` and ``dataset_id`` as context), and
``HTTP request processed`` (``tenant_id`` is null for health probes, which carry no tenant).

Trace context: every line of a traced request (all but health probes, an excluded URL of the
FastAPI instrumentation) ends with ``trace_id`` and ``span_id`` (32 and 16 lowercase hex
digits), as the service's ``_log`` adds them from the current span (the server span: the
middleware, the handler and the exception handler all run inside it) after its other fields.
Health probe lines are unchanged; every other byte of every line is what it was without them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from tributary_analysis.demo.traffic import ERRORS, US, Requests

if TYPE_CHECKING:
    from tributary_analysis.demo.traces import TraceIds
from tributary_analysis.demo.world import ENDPOINTS, EP, SEARCH_TYPES, World

SERVICE = "deeplake-api"
ENVIRONMENT = "production"
PATHNAME = "/app/app/monitoring/logging.py"
#: line of ``getattr(self.logger, level.lower())(json.dumps(log_data))`` in the seed's module
LINENO = 48
PROBE_AGENT = "kube-probe/1.29"
PROBE_IP = "10.0.0.1"
#: an event is logged this many microseconds before the response completes
INNER_LEAD_US = 100
_PLAIN = re.compile(r"^[A-Za-z0-9/._{}-]*$")


def j2(value: object) -> str:
    """A value as it appears inside the outer ``message`` string: JSON-encoded twice."""
    return json.dumps(json.dumps(value))[1:-1]


def _times(t_us: np.ndarray) -> tuple[list[str], list[str]]:
    """(asctime, inner timestamp) strings for unix-microsecond times."""
    sec = (t_us // US).astype("datetime64[s]")
    base = np.datetime_as_string(sec, unit="s").tolist()
    us = (t_us % US).tolist()
    asc = [f"{b[:10]} {b[11:]},{u // 1000:03d}" for b, u in zip(base, us, strict=True)]
    iso = [f"{b}.{u:06d}" if u else b for b, u in zip(base, us, strict=True)]
    return asc, iso


def _head(level: str) -> str:
    return (f'", "name": "{SERVICE}", "levelname": "{level}", "message": "{{\\"timestamp\\": '
            f'\\"')


def _mid(level: str, message: str) -> str:
    return (f'\\", \\"service\\": \\"{SERVICE}\\", \\"level\\": \\"{level}\\", '
            f'\\"message\\": {j2(message)}, \\"environment\\": \\"{ENVIRONMENT}\\"')


TAIL = f'}}", "pathname": "{PATHNAME}", "lineno": {LINENO}}}\n'


def _lines(t_us: np.ndarray, level: str, message: str | list[str], body: list[str],
           ) -> list[str]:
    """Whole lines: envelope + inner head + ``body`` (``, \\"k\\": v`` pairs) + tail."""
    asc, iso = _times(t_us)
    head = _head(level)
    if isinstance(message, str):
        mid = _mid(level, message)
        return [f'{{"asctime": "{a}{head}{i}{mid}{b}{TAIL}'
                for a, i, b in zip(asc, iso, body, strict=True)]
    mids = {m: _mid(level, m) for m in set(message)}
    return [f'{{"asctime": "{a}{head}{i}{mids[m]}{b}{TAIL}'
            for a, i, m, b in zip(asc, iso, message, body, strict=True)]


def _f(x: float) -> str:
    return repr(float(x))


class LogWriter:
    """Formats and writes one simulation's log events, day by day."""

    def __init__(self, world: World, req: Requests, request_ids: list[str],
                 paths: list[str], trace: TraceIds | None = None) -> None:
        self.w, self.r, self.ids, self.paths = world, req, request_ids, paths
        #: per request: the trace-context fields every line of the request ends with
        self.ctx = [""] * len(req) if trace is None else [
            f', \\"trace_id\\": \\"{t}\\", \\"span_id\\": \\"{s}\\"' if t else ""
            for t, s in zip(trace.trace_id, trace.span_id, strict=True)]
        self.tenant_j2 = [j2(t) for t in world.tenants]
        self.ds_j2 = [j2(d) for d in world.datasets]
        self.ua_j2 = [j2(u) for u in world.user_agent]
        self.ip_j2 = [j2(i) for i in world.client_ip]
        self.method_j2 = [j2(e.method) for e in ENDPOINTS]
        # paths are built from the world's plain ids, so escaping is the identity
        self.path_j2 = [f'\\"{p}\\"' if _PLAIN.match(p) else j2(p) for p in paths]

    def _started(self, rows: np.ndarray) -> list[str]:
        r = self.r
        body = []
        probe_ua, probe_ip = j2(PROBE_AGENT), j2(PROBE_IP)
        list_q = j2("limit=50")
        empty_q = j2("")
        for i, t, e in zip(rows.tolist(), r.tenant[rows].tolist(), r.ep[rows].tolist(),
                           strict=True):
            ua = self.ua_j2[t] if t >= 0 else probe_ua
            ip = self.ip_j2[t] if t >= 0 else probe_ip
            q = list_q if e == EP["list"] else empty_q
            body.append(f', \\"request_id\\": \\"{self.ids[i]}\\", \\"method\\": '
                        f'{self.method_j2[e]}, \\"path\\": {self.path_j2[i]}, '
                        f'\\"query_params\\": {q}, \\"user_agent\\": {ua}, '
                        f'\\"client_ip\\": {ip}{self.ctx[i]}')
        return _lines(r.t_us[rows] - r.dur_us[rows], "INFO", "Request started", body)

    def _search(self, rows: np.ndarray) -> list[str]:
        r = self.r
        body = []
        for i, st, d, t, du, rc in zip(rows.tolist(), r.search_type[rows].tolist(),
                                       r.ds[rows].tolist(), r.tenant[rows].tolist(),
                                       r.search_dur_us[rows].tolist(), r.results[rows].tolist(),
                                       strict=True):
            k = int(self.w.ds_top_k[d])
            body.append(f', \\"search_type\\": \\"{SEARCH_TYPES[st]}\\", \\"dataset_id\\": '
                        f'{self.ds_j2[d]}, \\"tenant_id\\": {self.tenant_j2[t]}, '
                        f'\\"duration\\": {_f(du / US)}, \\"results_count\\": {rc}, '
                        f'\\"query_params\\": {{\\"top_k\\": {k}, '
                        f'\\"include_metadata\\": true}}{self.ctx[i]}')
        return _lines(r.t_us[rows] - INNER_LEAD_US, "INFO", "Search operation completed", body)

    def _errors(self, rows: np.ndarray) -> list[str]:
        r = self.r
        body, msgs = [], []
        for i, e, d, t in zip(rows.tolist(), r.err[rows].tolist(), r.ds[rows].tolist(),
                              r.tenant[rows].tolist(), strict=True):
            kind = ERRORS[e]
            ds = self.ds_j2[d] if d >= 0 else "null"
            tj = self.tenant_j2[t] if t >= 0 else "null"
            msgs.append(kind.message)
            body.append(f', \\"error_type\\": \\"{kind.error_type}\\", \\"error_code\\": '
                        f'\\"{kind.error_code}\\", \\"tenant_id\\": {tj}, \\"request_id\\": '
                        f'\\"{self.ids[i]}\\", \\"path\\": {self.path_j2[i]}, '
                        f'\\"dataset_id\\": {ds}{self.ctx[i]}')
        return _lines(r.t_us[rows] - INNER_LEAD_US, "ERROR", msgs, body)

    def _processed(self, rows: np.ndarray) -> list[str]:
        r = self.r
        body = []
        for i, e, s, du, t in zip(rows.tolist(), r.ep[rows].tolist(), r.status[rows].tolist(),
                                  r.dur_us[rows].tolist(), r.tenant[rows].tolist(),
                                  strict=True):
            tj = self.tenant_j2[t] if t >= 0 else "null"
            body.append(f', \\"request_id\\": \\"{self.ids[i]}\\", \\"method\\": '
                        f'{self.method_j2[e]}, \\"path\\": {self.path_j2[i]}, '
                        f'\\"status_code\\": {s}, \\"duration\\": {_f(du / US)}, '
                        f'\\"tenant_id\\": {tj}{self.ctx[i]}')
        return _lines(r.t_us[rows], "INFO", "HTTP request processed", body)

    def events(self, lo_us: int, hi_us: int) -> Iterator[str]:
        """All lines with event time in ``[lo_us, hi_us)``, sorted by time."""
        r = self.r
        t_start = r.t_us - r.dur_us
        t_inner = r.t_us - INNER_LEAD_US
        parts: list[tuple[np.ndarray, np.ndarray, list[str]]] = []
        sel = np.nonzero((t_start >= lo_us) & (t_start < hi_us))[0]
        parts.append((t_start[sel], np.zeros(sel.size, np.int8), self._started(sel)))
        in_win = (t_inner >= lo_us) & (t_inner < hi_us)
        sel = np.nonzero(in_win & (r.search_type >= 0))[0]
        parts.append((t_inner[sel], np.ones(sel.size, np.int8), self._search(sel)))
        sel = np.nonzero(in_win & (r.err >= 0))[0]
        parts.append((t_inner[sel], np.ones(sel.size, np.int8), self._errors(sel)))
        sel = np.nonzero((r.t_us >= lo_us) & (r.t_us < hi_us))[0]
        parts.append((r.t_us[sel], np.full(sel.size, 2, np.int8), self._processed(sel)))
        times = np.concatenate([p[0] for p in parts])
        seq = np.concatenate([p[1] for p in parts])
        lines = [line for p in parts for line in p[2]]
        order = np.lexsort((seq, times))
        return (lines[i] for i in order.tolist())


def write_logs(world: World, req: Requests, request_ids: list[str], paths: list[str],
               out_dir: Path, trace: TraceIds | None = None) -> tuple[list[Path], int]:
    """Write ``deeplake-api-YYYY-MM-DD.jsonl`` files (UTC days); returns (paths, line count).

    ``trace`` adds each traced request's ``trace_id``/``span_id`` to its lines.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    writer = LogWriter(world, req, request_ids, paths, trace)
    if len(req) == 0:
        return [], 0
    first = int((req.t_us - req.dur_us).min() // US // 86400)
    last = int(req.t_us.max() // US // 86400)
    files, total = [], 0
    for day in range(first, last + 1):
        lines = list(writer.events(day * 86400 * US, (day + 1) * 86400 * US))
        if not lines:
            continue
        name = np.datetime_as_string(np.datetime64(day * 86400, "s"), unit="D")
        path = out_dir / f"deeplake-api-{name}.jsonl"
        with path.open("w", encoding="ascii") as fh:
            fh.writelines(lines)
        files.append(path)
        total += len(lines)
    return files, total
