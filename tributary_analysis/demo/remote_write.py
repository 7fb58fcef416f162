"""A small Prometheus remote-write 1.0 client: floats and native histograms into a real server.

Prometheus 3 accepts native (exponential and custom-bucket) histograms through its
remote-write receiver (``--web.enable-remote-write-receiver``), while ``promtool``'s backfill
reads OpenMetrics floats only. This module is how simulated native histograms reach a real
server: the few ``prompb`` messages (``WriteRequest``, ``TimeSeries``, ``Label``, ``Sample``,
``Histogram``, ``BucketSpan``, ``MetricMetadata``) are encoded by hand — a page of protobuf
wire format, no generated code — and the body is snappy-compressed with cramjam.

Samples older than the server's head block are only accepted when its TSDB has an
``out_of_order_time_window`` reaching back that far (see
:func:`tributary_analysis.stack.prometheus.write_config`).

Example
-------
>>> from tributary_analysis.demo.remote_write import Histogram, TimeSeries, write
>>> h = Histogram(timestamp_ms=1_700_000_000_000, count=3, sum=0.6, schema=3,
...               positive_spans=((-20, 2),), positive_buckets=(1, 2))
>>> write("http://127.0.0.1:9090", [TimeSeries({"__name__": "x_seconds"}, histograms=[h])])
... # doctest: +SKIP
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import requests

from tributary_analysis.errors import StackError

#: ``Histogram.schema`` of a native histogram with custom bucket boundaries (NHCB)
CUSTOM_BUCKETS_SCHEMA = -53
#: ``MetricMetadata.MetricType`` values
METRIC_TYPES = {"unknown": 0, "counter": 1, "gauge": 2, "histogram": 3, "gaugehistogram": 4,
                "summary": 5, "info": 6, "stateset": 7}
#: ``Histogram.ResetHint`` values
RESET_UNKNOWN, RESET_YES, RESET_NO, RESET_GAUGE = 0, 1, 2, 3

_DOUBLE = struct.Struct("<d")


@dataclass(frozen=True)
class Histogram:
    """One native histogram sample (integer counts unless ``is_float``).

    Bucket counts are absolute, in span order; the encoder turns them into the deltas the
    wire format wants for integer histograms.

    Attributes
    ----------
    timestamp_ms : int
        Sample time, milliseconds since the epoch.
    count, sum : float
        Observations and their sum.
    schema : int
        -4 … 8 for exponential buckets (bucket ``i`` is ``(2**(2**-schema))**(i-1) … **i``);
        :data:`CUSTOM_BUCKETS_SCHEMA` for custom boundaries (``custom_values``).
    zero_threshold, zero_count : float
        The zero bucket (exponential schemas only).
    positive_spans : tuple of (offset, length)
        Runs of consecutive bucket indices; the first offset is the first index, later ones
        the gap after the previous run.
    positive_buckets : tuple
        Absolute counts, one per bucket covered by the spans.
    custom_values : tuple of float
        Upper bounds (without +Inf) of an NHCB; bucket index ``i`` is ``(cv[i-1], cv[i]]``,
        index ``len(cv)`` the +Inf bucket.
    reset_hint : int
        :data:`RESET_YES` on the first sample after a counter reset, else unknown.
    """

    timestamp_ms: int
    count: float
    sum: float
    schema: int
    zero_threshold: float = 0.0
    zero_count: float = 0
    positive_spans: tuple[tuple[int, int], ...] = ()
    positive_buckets: tuple[float, ...] = ()
    negative_spans: tuple[tuple[int, int], ...] = ()
    negative_buckets: tuple[float, ...] = ()
    custom_values: tuple[float, ...] = ()
    reset_hint: int = RESET_UNKNOWN
    is_float: bool = False


@dataclass
class TimeSeries:
    """One series: its labels (``__name__`` included) and its samples, oldest first."""

    labels: Mapping[str, str]
    samples: Sequence[tuple[int, float]] = ()
    histograms: Sequence[Histogram] = ()


@dataclass(frozen=True)
class Metadata:
    """``MetricMetadata`` for one family (type, help, unit)."""

    family: str
    type: str = "histogram"
    help: str = ""
    unit: str = ""


@dataclass
class WriteReport:
    """What :func:`write` sent."""

    requests: int = 0
    series: int = 0
    samples: int = 0
    histograms: int = 0
    bytes_sent: int = 0
    seconds: float = 0.0
    extra: dict[str, int] = field(default_factory=dict)


# ------------------------------------------------------------------ protobuf wire format
def _uvarint(out: bytearray, n: int) -> None:
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)


def _zigzag(n: int) -> int:
    return (n << 1) ^ (n >> 63)


def _key(out: bytearray, field_no: int, wire: int) -> None:
    _uvarint(out, (field_no << 3) | wire)


def _bytes_field(out: bytearray, field_no: int, payload: bytes | bytearray) -> None:
    _key(out, field_no, 2)
    _uvarint(out, len(payload))
    out += payload


def _double_field(out: bytearray, field_no: int, value: float) -> None:
    _key(out, field_no, 1)
    out += _DOUBLE.pack(value)


def _varint_field(out: bytearray, field_no: int, value: int) -> None:
    _key(out, field_no, 0)
    _uvarint(out, value)


def _label(name: str, value: str) -> bytes:
    msg = bytearray()
    _bytes_field(msg, 1, name.encode())
    _bytes_field(msg, 2, value.encode())
    return bytes(msg)


def _spans(spans: Sequence[tuple[int, int]]) -> Iterator[bytes]:
    for offset, length in spans:
        msg = bytearray()
        if offset:
            _varint_field(msg, 1, _zigzag(int(offset)) & 0xFFFFFFFF)
        if length:
            _varint_field(msg, 2, int(length))
        yield bytes(msg)


def _buckets(out: bytearray, h: Histogram, spans: Sequence[tuple[int, int]],
             counts: Sequence[float], span_field: int, delta_field: int,
             count_field: int) -> None:
    for msg in _spans(spans):
        _bytes_field(out, span_field, msg)
    if not counts:
        return
    packed = bytearray()
    if h.is_float:
        for c in counts:
            packed += _DOUBLE.pack(float(c))
        _bytes_field(out, count_field, packed)
        return
    prev = 0
    for c in counts:
        ci = int(c)
        _uvarint(packed, _zigzag(ci - prev))
        prev = ci
    _bytes_field(out, delta_field, packed)


def encode_histogram(h: Histogram) -> bytes:
    """The ``prompb.Histogram`` message of ``h``."""
    out = bytearray()
    if h.is_float:
        _double_field(out, 2, float(h.count))
    else:
        _varint_field(out, 1, int(h.count))
    _double_field(out, 3, float(h.sum))
    if h.schema:
        _varint_field(out, 4, _zigzag(h.schema) & 0xFFFFFFFF)
    if h.zero_threshold:
        _double_field(out, 5, float(h.zero_threshold))
    if h.is_float:
        _double_field(out, 7, float(h.zero_count))
    else:
        _varint_field(out, 6, int(h.zero_count))
    _buckets(out, h, h.negative_spans, h.negative_buckets, 8, 9, 10)
    _buckets(out, h, h.positive_spans, h.positive_buckets, 11, 12, 13)
    if h.reset_hint:
        _varint_field(out, 14, h.reset_hint)
    _varint_field(out, 15, int(h.timestamp_ms) & 0xFFFFFFFFFFFFFFFF)
    if h.custom_values:
        packed = bytearray()
        for v in h.custom_values:
            packed += _DOUBLE.pack(float(v))
        _bytes_field(out, 16, packed)
    return bytes(out)


def encode_series(labels: Mapping[str, str], samples: Sequence[tuple[int, float]],
                  histograms: Sequence[Histogram]) -> bytes:
    """The ``prompb.TimeSeries`` message (labels sorted by name, as the receiver expects)."""
    out = bytearray()
    for name in sorted(labels):
        _bytes_field(out, 1, _label(name, labels[name]))
    for ts, value in samples:
        msg = bytearray()
        _double_field(msg, 1, float(value))
        _varint_field(msg, 2, int(ts) & 0xFFFFFFFFFFFFFFFF)
        _bytes_field(out, 2, msg)
    for h in histograms:
        _bytes_field(out, 4, encode_histogram(h))
    return bytes(out)


def encode_metadata(meta: Metadata) -> bytes:
    """The ``prompb.MetricMetadata`` message."""
    out = bytearray()
    _varint_field(out, 1, METRIC_TYPES[meta.type])
    _bytes_field(out, 2, meta.family.encode())
    if meta.help:
        _bytes_field(out, 4, meta.help.encode())
    if meta.unit:
        _bytes_field(out, 5, meta.unit.encode())
    return bytes(out)


def encode_write_request(series: Iterable[bytes], metadata: Iterable[bytes] = ()) -> bytes:
    """A ``prompb.WriteRequest`` from encoded ``TimeSeries`` (and metadata) messages."""
    out = bytearray()
    for msg in series:
        _bytes_field(out, 1, msg)
    for msg in metadata:
        _bytes_field(out, 3, msg)
    return bytes(out)


# ------------------------------------------------------------------ buckets
def spans_of(indices: Sequence[int] | np.ndarray) -> tuple[tuple[int, int], ...]:
    """Spans covering sorted, distinct bucket ``indices`` (no zero buckets inserted)."""
    idx = np.asarray(indices, dtype=np.int64)
    if idx.size == 0:
        return ()
    breaks = np.flatnonzero(np.diff(idx) != 1) + 1
    starts = np.concatenate([[0], breaks])
    ends = np.concatenate([breaks, [idx.size]])
    spans: list[tuple[int, int]] = []
    prev_end = 0
    for i, (s, e) in enumerate(zip(starts, ends, strict=True)):
        first = int(idx[s])
        offset = first if i == 0 else first - prev_end
        spans.append((offset, int(e - s)))
        prev_end = int(idx[e - 1]) + 1
    return tuple(spans)


# ------------------------------------------------------------------ sending
def _chunks(series: Iterable[TimeSeries], max_samples: int) -> Iterator[tuple[
        Mapping[str, str], Sequence[tuple[int, float]], Sequence[Histogram]]]:
    for s in series:
        n = max(len(s.samples), len(s.histograms))
        for i in range(0, max(n, 1), max_samples):
            yield (s.labels, s.samples[i:i + max_samples], s.histograms[i:i + max_samples])


def write(
    url: str,
    series: Iterable[TimeSeries],
    *,
    metadata: Sequence[Metadata] = (),
    max_samples_per_request: int = 20_000,
    session: requests.Session | None = None,
    timeout: float = 60.0,
) -> WriteReport:
    """Send ``series`` to a Prometheus remote-write receiver (protocol 1.0).

    Parameters
    ----------
    url : str
        The server's base URL (``http://127.0.0.1:9090``) or its full ``/api/v1/write`` URL.
    series : iterable of TimeSeries
        Each series' samples and histograms oldest first; large series are split over
        requests, whole series are packed together up to ``max_samples_per_request``.
    metadata : sequence of Metadata
        Family metadata sent with the first request.
    max_samples_per_request : int
        Float samples plus histograms per request (a histogram of ~30 buckets is ~150 bytes).
    session : requests.Session, optional
        Reused for every request.
    timeout : float
        Seconds per request.

    Returns
    -------
    WriteReport

    Raises
    ------
    StackError
        When the server refuses a request (its status and message, e.g. out-of-bounds samples
        when the TSDB has no out-of-order window reaching back that far) or cannot be reached.
    """
    endpoint = url.rstrip("/")
    if not endpoint.endswith("/api/v1/write"):
        endpoint += "/api/v1/write"
    import cramjam

    own = session is None
    sess = session or requests.Session()
    headers = {"Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
               "X-Prometheus-Remote-Write-Version": "0.1.0",
               "User-Agent": "tributary-analysis-remote-write"}
    report = WriteReport()
    t0 = time.monotonic()
    pending: list[bytes] = []
    pending_n = 0
    meta_msgs = [encode_metadata(m) for m in metadata]
    seen: set[tuple[tuple[str, str], ...]] = set()

    def flush() -> None:
        nonlocal pending, pending_n, meta_msgs
        if not pending and not meta_msgs:
            return
        body = bytes(cramjam.snappy.compress_raw(encode_write_request(pending, meta_msgs)))
        try:
            resp = sess.post(endpoint, data=body, headers=headers, timeout=timeout)
        except requests.RequestException as exc:
            raise StackError(f"remote write to {endpoint} failed: {type(exc).__name__}: "
                             f"{exc}; check that the server runs with "
                             "--web.enable-remote-write-receiver") from exc
        if resp.status_code >= 300:
            raise StackError(f"remote write to {endpoint} refused (HTTP {resp.status_code}): "
                             f"{resp.text.strip()[:500]}; samples older than the head block "
                             "need the TSDB's out_of_order_time_window")
        report.requests += 1
        report.bytes_sent += len(body)
        pending, pending_n, meta_msgs = [], 0, []

    try:
        for labels, samples, hists in _chunks(series, max_samples_per_request):
            key = tuple(sorted(labels.items()))
            if key not in seen:
                seen.add(key)
                report.series += 1
            n = len(samples) + len(hists)
            if pending and pending_n + n > max_samples_per_request:
                flush()
            pending.append(encode_series(labels, samples, hists))
            pending_n += n
            report.samples += len(samples)
            report.histograms += len(hists)
        flush()
    finally:
        if own:
            sess.close()
    report.seconds = time.monotonic() - t0
    return report
