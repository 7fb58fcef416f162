"""OTLP JSON as the OpenTelemetry Collector's file exporter writes it, and a loader for it.

Writing
    One ``ExportTraceServiceRequest`` per line, encoded as the Collector's ``pdata`` JSON
    marshaller does (``ptrace.JSONMarshaler``, v1.69): compact, fields in proto order and
    left out when empty (``status`` and ``scope`` always present, ``{}`` when unset), ids as
    lowercase hex, ``startTimeUnixNano``/``endTimeUnixNano``/``timeUnixNano`` and
    ``intValue`` as decimal strings, ``kind`` and ``status.code`` as integers, doubles in
    Go's shortest ``'f'`` form (``'e'`` below 1e-6), strings escaped as jsoniter does
    (``"``, ``\\``, ``\\n``, ``\\r``, ``\\t``, other control bytes as ``\\u00xx``; no HTML
    escaping; non-ASCII written as UTF-8).
Loading
    :func:`load_otlp` POSTs those lines to an OTLP/HTTP receiver (``<url>/v1/traces``,
    ``Content-Type: application/json``), joining lines into requests of at most
    ``max_spans`` spans, retrying what the OTLP spec calls retryable (429, 502, 503, 504;
    ``Retry-After`` honoured), halving a batch the server finds too large (413), and
    counting spans sent, accepted and rejected (``partialSuccess.rejectedSpans``).
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import requests

from tributary_analysis.errors import DataError, SourceUnreachable, StackError

#: OTLP span kinds as the proto numbers them
KIND = {"unspecified": 0, "internal": 1, "server": 2, "client": 3, "producer": 4,
        "consumer": 5}
#: OTLP status codes
STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
RETRYABLE = frozenset({429, 502, 503, 504})

_ESCAPES = {i: f"\\u{i:04x}" for i in range(32)}
_ESCAPES.update({ord('"'): '\\"', ord("\\"): "\\\\", ord("\n"): "\\n", ord("\r"): "\\r",
                 ord("\t"): "\\t"})


def jstr(value: str) -> str:
    """A JSON string literal exactly as the Collector's jsoniter stream writes it."""
    return '"' + value.translate(_ESCAPES) + '"'


def go_float(value: float) -> str:
    """A double as Go's ``strconv.AppendFloat(v, 'f' or 'e', -1, 64)`` in the marshaller."""
    if math.isnan(value):
        return '"NaN"'
    if math.isinf(value):
        return '"Infinity"' if value > 0 else '"-Infinity"'
    a = abs(value)
    if a != 0 and (a < 1e-6 or a >= 1e21):
        return repr(float(value))  # Python's exponent form there is Go's: 1.5e-07, 1e+21
    return np.format_float_positional(value, trim="-")


def kv(key: str, value: Any) -> str:
    """One ``KeyValue`` (``{"key":…,"value":{…}}``) for a Python value."""
    return f'{{"key":{jstr(key)},"value":{any_value(value)}}}'


def any_value(value: Any) -> str:
    """An ``AnyValue``: str → stringValue, bool → boolValue, int → intValue (a string),
    float → doubleValue, list/tuple → arrayValue, dict → kvlistValue."""
    if isinstance(value, bool):
        return f'{{"boolValue":{"true" if value else "false"}}}'
    if isinstance(value, int | np.integer):
        return f'{{"intValue":"{int(value)}"}}'
    if isinstance(value, float | np.floating):
        return f'{{"doubleValue":{go_float(float(value))}}}'
    if isinstance(value, list | tuple):
        inner = ",".join(any_value(v) for v in value)
        return f'{{"arrayValue":{{"values":[{inner}]}}}}' if value else '{"arrayValue":{}}'
    if isinstance(value, dict):
        inner = ",".join(kv(str(k), v) for k, v in value.items())
        return f'{{"kvlistValue":{{"values":[{inner}]}}}}' if value else '{"kvlistValue":{}}'
    return f'{{"stringValue":{jstr(str(value))}}}'


def attributes(pairs: Iterable[str]) -> str:
    """``"attributes":[…]`` from pre-rendered :func:`kv` strings (``""`` when empty)."""
    body = ",".join(pairs)
    return f',"attributes":[{body}]' if body else ""


def event(time_ns: int, name: str, attrs: Sequence[str] = ()) -> str:
    """One span event."""
    body = ",".join(attrs)
    tail = f',"attributes":[{body}]' if body else ""
    return f'{{"timeUnixNano":"{time_ns}","name":{jstr(name)}{tail}}}'


def status(code: int, message: str = "") -> str:
    """``"status":{…}`` as the marshaller writes it (``{}`` when unset)."""
    parts = []
    if message:
        parts.append(f'"message":{jstr(message)}')
    if code:
        parts.append(f'"code":{code}')
    return '"status":{' + ",".join(parts) + "}"


def span(trace_id: str, span_id: str, parent_span_id: str, name: str, kind: int,
         start_ns: int, end_ns: int, attrs: str = "", events: Sequence[str] = (),
         status_json: str = '"status":{}', trace_state: str = "") -> str:
    """One ``Span``; ``attrs`` is an :func:`attributes` fragment, ``events`` :func:`event`
    strings, ``status_json`` a :func:`status` fragment."""
    ts = f',"traceState":{jstr(trace_state)}' if trace_state else ""
    parent = f',"parentSpanId":"{parent_span_id}"' if parent_span_id else ""
    k = f',"kind":{kind}' if kind else ""
    ev = f',"events":[{",".join(events)}]' if events else ""
    return (f'{{"traceId":"{trace_id}","spanId":"{span_id}"{ts}{parent},"name":{jstr(name)}'
            f'{k},"startTimeUnixNano":"{start_ns}","endTimeUnixNano":"{end_ns}"{attrs}{ev},'
            f'{status_json}}}')


def resource(attrs: dict[str, Any]) -> str:
    """``"resource":{…}`` for resource attributes."""
    pairs = ",".join(kv(k, v) for k, v in attrs.items())
    return '"resource":{' + (f'"attributes":[{pairs}]' if pairs else "") + "}"


def scope(name: str, version: str = "") -> str:
    """``"scope":{…}`` for an instrumentation scope."""
    parts = []
    if name:
        parts.append(f'"name":{jstr(name)}')
    if version:
        parts.append(f'"version":{jstr(version)}')
    return '"scope":{' + ",".join(parts) + "}"


def request_line(groups: Sequence[tuple[str, Sequence[tuple[str, Sequence[str]]]]]) -> str:
    """One ``ExportTraceServiceRequest`` line (with ``\\n``).

    ``groups`` is ``[(resource_json, [(scope_json, [span_json, …]), …]), …]``.
    """
    rs = []
    for res, scopes in groups:
        ss = ",".join(f'{{{sc},"spans":[{",".join(spans)}]}}' for sc, spans in scopes if spans)
        rs.append(f'{{{res},"scopeSpans":[{ss}]}}')
    return '{"resourceSpans":[' + ",".join(rs) + "]}\n"


# ------------------------------------------------------------------------------ loading


@dataclass
class OtlpLoadReport:
    """What :func:`load_otlp` sent and what the receiver said."""

    url: str
    files: int = 0
    lines: int = 0
    requests: int = 0
    spans: int = 0
    rejected: int = 0
    bytes: int = 0
    retries: int = 0
    seconds: float = 0.0
    messages: list[str] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        """Spans the receiver took (sent minus rejected)."""
        return self.spans - self.rejected

    @property
    def spans_per_s(self) -> float:
        return self.spans / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        """One line for the CLI."""
        rej = f", {self.rejected:,} rejected" if self.rejected else ""
        return (f"loaded {self.accepted:,} spans into {self.url} in {self.requests:,} "
                f"request(s) ({self.bytes / 1e6:.1f} MB, {self.seconds:.1f} s, "
                f"{self.spans_per_s:,.0f} spans/s{rej})")


def traces_url(url: str) -> str:
    """The OTLP/HTTP traces endpoint for a receiver base URL (``…:4318`` → ``…/v1/traces``)."""
    base = url.rstrip("/")
    return base if base.endswith("/v1/traces") else base + "/v1/traces"


def _batches(lines: Iterable[tuple[str, int, bytes]], max_spans: int,
             max_bytes: int) -> Iterator[tuple[list[bytes], int, str]]:
    """Group ``(where, spans, line)`` into (resourceSpans bodies, span count, first where)."""
    parts: list[bytes] = []
    n = size = 0
    first = ""
    for where, k, line in lines:
        body = line.strip()
        inner = body[len(b'{"resourceSpans":['):-2] if body.startswith(
            b'{"resourceSpans":[') and body.endswith(b"]}") else None
        if inner is None:  # not the compact form: re-serialise it
            doc = orjson.loads(body)
            inner = orjson.dumps(doc.get("resourceSpans", []))[1:-1]
        if parts and (n + k > max_spans or size + len(inner) > max_bytes):
            yield parts, n, first
            parts, n, size = [], 0, 0
        if not parts:
            first = where
        parts.append(inner)
        n += k
        size += len(inner)
    if parts:
        yield parts, n, first


def _read_lines(files: Sequence[Path], report: OtlpLoadReport
                ) -> Iterator[tuple[str, int, bytes]]:
    for path in files:
        report.files += 1
        with Path(path).open("rb") as fh:
            for no, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                where = f"{path}:{no}"
                try:
                    doc = orjson.loads(line)
                except orjson.JSONDecodeError as exc:
                    raise DataError(f"{where} is not JSON ({exc}); each line of an OTLP file "
                                    "must be one ExportTraceServiceRequest") from None
                if not isinstance(doc, dict) or "resourceSpans" not in doc:
                    raise DataError(f"{where} has no 'resourceSpans'; is this an OTLP traces "
                                    "file (not metrics or logs)?")
                k = sum(len(ss.get("spans") or ()) for rs in doc["resourceSpans"] or ()
                        for ss in rs.get("scopeSpans") or ())
                report.lines += 1
                yield where, k, line


def load_otlp(files: Sequence[Path | str], url: str, *, max_spans: int = 4000,
              max_bytes: int = 4_000_000, timeout: float = 60.0, max_attempts: int = 6,
              session: requests.Session | None = None,
              progress: Callable[[OtlpLoadReport], None] | None = None) -> OtlpLoadReport:
    """POST OTLP JSON files to an OTLP/HTTP receiver (Jaeger, a Collector).

    Parameters
    ----------
    files : paths
        JSON-lines files, one ``ExportTraceServiceRequest`` per line (what
        :func:`~tributary_analysis.demo.simulate` writes under ``traces/``).
    url : str
        The receiver, e.g. ``http://127.0.0.1:4318`` (``/v1/traces`` is added).
    max_spans, max_bytes : int
        Upper bounds of one request (lines are joined until either is reached).
    progress : callable, optional
        Called with the report after every request.

    Returns
    -------
    OtlpLoadReport
        Files, lines, requests, spans sent and rejected, bytes, retries, seconds.

    Raises
    ------
    DataError
        A line is not an OTLP traces request (names the file and line).
    SourceUnreachable
        Nothing answers at ``url`` after the retries.
    StackError
        The receiver refused a batch (HTTP 4xx/5xx after retries); names the URL, the first
        line of the batch and the server's message.
    """
    endpoint = traces_url(url)
    report = OtlpLoadReport(url=endpoint)
    own = session is None
    sess = session or requests.Session()
    t0 = time.monotonic()
    try:
        paths = [Path(p) for p in files]
        missing = [str(p) for p in paths if not p.is_file()]
        if missing:
            raise DataError(f"OTLP file(s) not found: {', '.join(missing)}; simulate first "
                            "('tributary demo generate') or pass existing files")
        for parts, n, where in _batches(_read_lines(paths, report), max_spans, max_bytes):
            _send(sess, endpoint, parts, n, where, report, timeout, max_attempts)
            if progress is not None:
                report.seconds = time.monotonic() - t0
                progress(report)
    finally:
        report.seconds = time.monotonic() - t0
        if own:
            sess.close()
    return report


def _send(sess: requests.Session, endpoint: str, parts: list[bytes], n: int, where: str,
          report: OtlpLoadReport, timeout: float, max_attempts: int) -> None:
    body = b'{"resourceSpans":[' + b",".join(parts) + b"]}"
    attempt = 0
    while True:
        attempt += 1
        try:
            resp = sess.post(endpoint, data=body, timeout=timeout,
                             headers={"Content-Type": "application/json"})
        except (requests.ConnectionError, requests.Timeout) as exc:
            if attempt >= max_attempts:
                raise SourceUnreachable(
                    f"cannot reach the OTLP receiver at {endpoint} ({type(exc).__name__}); "
                    "is Jaeger running? check 'tributary demo status'",
                    source="otlp", url=endpoint) from None
            report.retries += 1
            time.sleep(min(8.0, 0.25 * 2 ** attempt) * (0.5 + random.random() / 2))
            continue
        if resp.status_code == 413 and len(parts) > 1:  # too large: send it in two halves
            half = len(parts) // 2
            for sub in (parts[:half], parts[half:]):
                k = sum(_count_spans(p) for p in sub)
                _send(sess, endpoint, sub, k, where, report, timeout, max_attempts)
            return
        if resp.status_code in RETRYABLE and attempt < max_attempts:
            report.retries += 1
            wait = min(8.0, 0.25 * 2 ** attempt) * (0.5 + random.random() / 2)
            with contextlib.suppress(ValueError):
                wait = max(wait, min(30.0, float(resp.headers.get("Retry-After", ""))))
            time.sleep(wait)
            continue
        if resp.status_code >= 300:
            raise StackError(
                f"the OTLP receiver at {endpoint} refused the batch starting at {where} with "
                f"HTTP {resp.status_code}: {resp.text[:300]!r}; check that the URL is an "
                "OTLP/HTTP traces endpoint and the file is OTLP JSON")
        report.requests += 1
        report.spans += n
        report.bytes += len(body)
        rejected, message = _partial(resp.content)
        report.rejected += rejected
        if message and message not in report.messages:
            report.messages.append(message)
        return


def _count_spans(inner: bytes) -> int:
    doc = orjson.loads(b"[" + inner + b"]")
    return sum(len(ss.get("spans") or ()) for rs in doc for ss in rs.get("scopeSpans") or ())


def _partial(content: bytes) -> tuple[int, str]:
    """``partialSuccess`` of an ``ExportTraceServiceResponse`` (JSON; protobuf bodies and
    empty bodies mean full success)."""
    if not content.strip():
        return 0, ""
    try:
        doc = orjson.loads(content)
    except orjson.JSONDecodeError:
        return 0, ""
    ps = doc.get("partialSuccess") if isinstance(doc, dict) else None
    if not isinstance(ps, dict):
        return 0, ""
    try:
        rejected = int(ps.get("rejectedSpans") or 0)
    except (TypeError, ValueError):
        rejected = 0
    return rejected, str(ps.get("errorMessage") or "")


__all__ = ["KIND", "STATUS_ERROR", "STATUS_OK", "STATUS_UNSET", "OtlpLoadReport",
           "any_value", "attributes", "event", "go_float", "jstr", "kv", "load_otlp",
           "request_line", "resource", "scope", "span", "status", "traces_url"]
