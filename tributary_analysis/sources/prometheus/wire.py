"""The raw API body straight into columns: no Python object per sample.

``orjson.loads`` of a million-sample ``query_range`` answer builds a million lists, floats
and strings before the first column exists (0.6 s and ~150 MB on this machine). The API's
layout is regular enough to skip that: Prometheus (Go) writes every series as
``{"metric":{…},"values":[[<t>,"<v>"],…]}`` (``"value":[<t>,"<v>"]`` for vectors), so

1. a regular expression that honours JSON string escapes walks the series one by one, from
   the start of ``"result"`` (a label value cannot fool it: it never looks inside strings
   except through the string pattern);
2. each series' samples stay bytes; all series' samples are joined and turned into
   ``<t>,<v>`` lines by two C-level byte passes (``replace`` and ``translate``);
3. Arrow's CSV reader parses the two float columns in bulk, multithreaded and correctly
   rounded (``NaN``, ``+Inf``, ``-Inf`` included); per-series lengths are counted with
   ``bytes.count``;
4. the labels (one small object per series) and everything around ``result``
   (``warnings``, ``infos``, ``stats``, partial flags) are decoded with orjson.

Native histogram samples are decoded with orjson per series (their bucket layout varies);
they are rare next to float samples. Anything unexpected — another JSON writer's spacing,
a key order Go does not produce — makes :func:`parse_body` return ``None``, and the caller
uses the plain orjson parser, so behaviour never depends on this fast path: the test suite
checks both give bit-identical frames on real answers.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pacsv

_STR = rb'"(?:[^"\\]|\\.)*"'
#: one series' head at an exact position: its labels, then which array follows
_SERIES = re.compile(rb'\{"metric":(\{(?:' + _STR + rb':' + _STR + rb',?)*\}),"(values|value|'
                     rb'histograms|histogram)":\[')
_RESULT = re.compile(rb'^\{"status":"success","data":\{"resultType":"(matrix|vector)",'
                     rb'"result":\[')
_CONVERT = pacsv.ConvertOptions(column_types={"t": pa.float64(), "v": pa.float64()},
                                null_values=[], strings_can_be_null=False,
                                quoted_strings_can_be_null=False)
_READ = pacsv.ReadOptions(column_names=["t", "v"], block_size=1 << 22)


class Layout(Exception):
    """The body is not laid out as expected: use the general parser."""


def _end_of_floats(body: bytes | bytearray, start: int, matrix: bool) -> int:
    """Index just past the closing ``]`` of a ``values``/``value`` array opened before
    ``start``."""
    if matrix:
        if body.startswith(b"]", start):  # empty values array
            return start + 1
        end = body.find(b"]]", start)
        if end < 0:
            raise Layout("unterminated values array")
        return end + 2
    end = body.find(b"]", start)
    if end < 0:
        raise Layout("unterminated value")
    return end + 1


def _end_of_histograms(body: bytes | bytearray, start: int, matrix: bool) -> int:
    """Index just past the closing ``]`` of a ``histograms``/``histogram`` array."""
    if matrix:
        if body.startswith(b"]", start):
            return start + 1
        end = body.find(b"}]]", start)
        if end < 0:
            raise Layout("unterminated histograms array")
        return end + 3
    end = body.find(b"}]", start)
    if end < 0:
        raise Layout("unterminated histogram")
    return end + 2


def scan(body: bytes | bytearray) -> dict[str, Any]:
    """Walk the series of a matrix or vector answer.

    Returns the envelope (the document without ``result``, decoded), the result type, and
    per series: labels, the byte span of its float samples (or None) and of its histogram
    samples (or None). A histogram span always reads ``[<t>,{…}],[<t>,{…}]…`` (vectors
    included, one sample).
    """
    head = _RESULT.match(body)
    if head is None:
        raise Layout("not a matrix/vector answer in Prometheus's layout")
    matrix = head.group(1) == b"matrix"
    pos = head.end()
    series: list[tuple[bytes | bytearray, tuple[int, int] | None, tuple[int, int] | None]] = []
    if body.startswith(b"]", pos):
        result_end = pos
    else:
        while True:
            m = _SERIES.match(body, pos)
            if m is None:
                raise Layout(f"unexpected bytes at {pos}: {body[pos:pos + 40]!r}")
            labels, kind = m.group(1), m.group(2)
            floats = hists = None
            p = m.end()
            if kind in (b"values", b"value"):
                end = _end_of_floats(body, p, matrix)
                floats = (p, end - 1)
                if body.startswith(b',"histograms":[', end) or body.startswith(
                        b',"histogram":[', end):
                    q = body.index(b"[", end) + 1
                    hend = _end_of_histograms(body, q, matrix)
                    hists = (q, hend - 1) if matrix else (q - 1, hend)
                    end = hend
            else:
                end = _end_of_histograms(body, p, matrix)
                hists = (p, end - 1) if matrix else (p - 1, end)
            if not body.startswith(b"}", end):
                raise Layout(f"series does not end at {end}")
            series.append((labels, floats, hists))
            pos = end + 1
            if body.startswith(b",", pos):
                pos += 1
                continue
            if body.startswith(b"]", pos):
                result_end = pos
                break
            raise Layout(f"unexpected bytes after a series at {pos}")
    envelope = orjson.loads(body[:head.end()] + body[result_end:])
    return {"envelope": envelope, "matrix": matrix, "series": series, "body": body}


#: bytes of samples turned into lines and parsed per batch (bounds the temporaries)
BATCH_BYTES = 4 << 20


def _parse_lines(blob: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        table = pacsv.read_csv(pa.BufferReader(blob), read_options=_READ,
                               convert_options=_CONVERT)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise Layout(f"samples did not parse in bulk: {exc}") from exc
    return table.column("t").to_numpy(), table.column("v").to_numpy()


def floats_of(body: bytes | bytearray, spans: list[tuple[int, int]], matrix: bool
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seconds, values and per-series sample counts of the float spans, parsed in bulk.

    Series are taken in batches of about :data:`BATCH_BYTES`, so the temporaries (the
    joined bytes, the lines, Arrow's buffers) stay a few MB whatever the answer's size; the
    results go straight into two preallocated arrays.
    """
    if not spans:
        return np.empty(0), np.empty(0), np.empty(0, np.int64)
    if matrix:
        # "[t,"v"],[t,"v"]" per series; an empty series has no bytes
        counts = np.fromiter((body.count(b"],[", a, b) + 1 if b > a else 0 for a, b in spans),
                             np.int64, len(spans))
    else:
        counts = np.ones(len(spans), np.int64)
    total = int(counts.sum())
    seconds = np.empty(total)
    values = np.empty(total)
    view = memoryview(body)
    pos = 0
    i = 0
    try:
        while i < len(spans):
            j, size = i, 0
            while j < len(spans) and (j == i or size < BATCH_BYTES):
                size += spans[j][1] - spans[j][0]
                j += 1
            n = int(counts[i:j].sum())
            if n:
                blob = b"\n".join(view[a:b] for a, b in spans[i:j] if b > a)
                if matrix:
                    blob = blob.replace(b"],[", b"\n")
                t, v = _parse_lines(blob.translate(None, b'[]"'))
                if len(t) != n:
                    raise Layout("sample count mismatch")
                seconds[pos:pos + n] = t
                values[pos:pos + n] = v
                pos += n
            i = j
    finally:
        view.release()
    return seconds, values, counts


_BUCKET_CONVERT = pacsv.ConvertOptions(
    column_types={"r": pa.int8(), "l": pa.float64(), "u": pa.float64(), "c": pa.float64()},
    null_values=[], strings_can_be_null=False, quoted_strings_can_be_null=False)
_BUCKET_READ = pacsv.ReadOptions(column_names=["r", "l", "u", "c"], block_size=1 << 22)


def histograms_of(body: bytes | bytearray, span: tuple[int, int]) -> Any:
    """One series' native histogram samples, parsed in bulk into
    :class:`~tributary_analysis.sources.prometheus.native.HistogramSamples`.

    The samples are cut apart with ``split`` (they hold numbers only) and each sample's time,
    count, sum and buckets' bytes taken with ``partition``; the buckets of all samples become
    ``r,l,u,c`` lines parsed by Arrow's CSV reader — no Python object per bucket.
    """
    from tributary_analysis.sources.prometheus.native import HistogramSamples, seconds_to_ns

    a, b = span
    ts: list[bytes] = []
    counts: list[bytes] = []
    sums: list[bytes] = []
    buckets: list[bytes] = []
    if b > a:
        text = bytes(body[a:b])
        if not (text.startswith(b"[") and text.endswith(b"}]")):
            raise Layout("histogram samples are not laid out as expected")
        # samples hold numbers only (no label text), so "}],[" separates them safely
        for sample in text[1:-2].split(b"}],["):
            head, _, bks = sample.partition(b',"buckets":[')
            t, _, rest = head.partition(b',{"count":"')
            count, _, total = rest.partition(b'","sum":"')
            if not total.endswith(b'"') or (bks and not bks.endswith(b"]]")):
                raise Layout("unexpected histogram sample")
            ts.append(t)
            counts.append(count)
            sums.append(total[:-1])
            buckets.append(bks[:-1])
    n = len(ts)
    per = np.fromiter((x.count(b"],[") + 1 if x else 0 for x in buckets), np.int64, n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(per, out=offsets[1:])

    def floats(items: list[bytes]) -> np.ndarray:
        try:
            arr = pa.array(items, pa.binary()).cast(pa.string()).cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise Layout(f"histogram numbers did not parse: {exc}") from exc
        return arr.to_numpy(zero_copy_only=False)

    if int(offsets[-1]):
        blob = b"\n".join(x for x in buckets if x).replace(b"],[", b"\n")
        try:
            table = pacsv.read_csv(pa.BufferReader(blob.translate(None, b'[]"')),
                                   read_options=_BUCKET_READ, convert_options=_BUCKET_CONVERT)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise Layout(f"histogram buckets did not parse: {exc}") from exc
        if table.num_rows != int(offsets[-1]):
            raise Layout("bucket count mismatch")
        rule = table.column("r").to_numpy()
        lower, upper, bcount = (table.column(c).to_numpy() for c in ("l", "u", "c"))
    else:
        rule = np.empty(0, np.int8)
        lower = upper = bcount = np.empty(0)
    return HistogramSamples(seconds_to_ns(floats(ts)), floats(counts), floats(sums), offsets,
                            rule, lower, upper, bcount)
