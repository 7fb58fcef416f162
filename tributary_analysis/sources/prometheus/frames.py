"""Prometheus API responses → the long metric frame, column by column.

The JSON body is decoded once with orjson; all series' samples are then flattened into two
contiguous arrays (value strings parsed in bulk by Arrow's cast) and labels become
categorical codes repeated per sample, so a million samples cost a few tens of MB instead
of a million Python dicts (prometheus-api-client's ``MetricRangeDataFrame`` builds one dict
per sample).

Everything the server said besides the data (warnings, infos, partial-response flags,
query stats) is kept in :class:`RawResult` and lands in the frame's
:class:`~tributary_analysis.frames.meta.FrameMeta`; nothing is dropped without being
counted there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from itertools import chain, islice, pairwise
from operator import itemgetter
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tributary_analysis.errors import DataError, UnexpectedResponse
from tributary_analysis.frames.meta import FrameMeta, meta_of
from tributary_analysis.sources.prometheus import wire
from tributary_analysis.sources.prometheus.metadata import attach
from tributary_analysis.sources.prometheus.native import (
    BUCKETS_DTYPE,
    UNKNOWN_SCHEMA,
    HistogramSamples,
    infer_schema,
    series_kind,
)
from tributary_analysis.sources.prometheus.native import (
    columns as histogram_columns,
)
from tributary_analysis.sources.prometheus.native import (
    concat as concat_histograms,
)
from tributary_analysis.sources.prometheus.native import (
    from_json as histograms_from_json,
)

log = logging.getLogger(__name__)

#: frame columns that a label of the same name would clash with
RESERVED = ("timestamp", "value", "metric")
#: also reserved when a result holds native histograms
RESERVED_ALL = (*RESERVED, "count", "sum", "schema", "buckets")
_T0 = itemgetter(0)
_T1 = itemgetter(1)
#: samples converted per batch in :func:`_fill` (temporaries ~ 60 bytes x BATCH)
BATCH = 65_536


@dataclass
class RawResult:
    """One or more decoded responses, before the frame is built (merging happens here)."""

    result_type: str
    metrics: list[dict[str, str]] = field(default_factory=list)
    #: per series: int64 nanoseconds since the epoch (views into ``flat_ns`` when set)
    timestamps: list[np.ndarray] = field(default_factory=list)
    values: list[np.ndarray] = field(default_factory=list)
    #: contiguous arrays behind the per-series views, so the build needs no concatenation
    flat_ns: np.ndarray | None = None
    flat_values: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    infos: list[str] = field(default_factory=list)
    partial: bool = False
    stats: list[dict[str, Any]] = field(default_factory=list)
    duplicates_dropped: int = 0
    string_value: str | None = None
    #: native histogram samples: label sets and, per series, the samples (see .native)
    hist_metrics: list[dict[str, str]] = field(default_factory=list)
    hists: list[HistogramSamples] = field(default_factory=list)


def decode(body: bytes | bytearray | str | dict[str, Any]) -> dict[str, Any]:
    """Decode a response body, raising :class:`UnexpectedResponse` if it is not a JSON object."""
    if isinstance(body, dict):
        return body
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        head = body[:200] if isinstance(body, bytes | str) else b""
        raise UnexpectedResponse(
            f"the response is not JSON ({exc}); first bytes: {head!r}. Is the URL the "
            "Prometheus API root rather than a proxy or login page?") from exc
    if not isinstance(doc, dict):
        raise UnexpectedResponse(f"the response is JSON but not an object: {str(doc)[:200]}")
    return doc


def _seconds_to_ns(seconds: np.ndarray) -> np.ndarray:
    """Float seconds (millisecond precision on the wire) → int64 ns, rounded to the ms."""
    seconds *= 1000.0
    np.rint(seconds, out=seconds)
    ns = seconds.astype(np.int64)
    ns *= 1_000_000
    return ns


def _parse_values(strings: list[Any]) -> np.ndarray:
    """Sample value strings → float64, in bulk.

    Arrow's string→double cast parses a million strings about 10x faster than ``float()``
    per string, bit-identically (correctly rounded), and accepts ``"NaN"``, ``"+Inf"`` and
    ``"-Inf"``. Anything it refuses (non-strings, odd spellings) falls back to numpy's
    per-element ``float()``, so behaviour never depends on the fast path.
    """
    try:
        arr = pc.cast(pa.array(strings, pa.string()), pa.float64())
        if arr.null_count == 0:
            return arr.to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    try:
        return np.array(strings, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        bad = next((s for s in strings if not _is_float(s)), None)
        raise UnexpectedResponse(f"a sample value is not a number: {bad!r} ({exc}); the "
                                 "server (or a proxy) returned a malformed result") from exc


def _is_float(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _fill(pairs_per_series: list[list[list[Any]]], raw: RawResult) -> None:
    """Copy ``[[ts, "v"], ...]`` lists into two contiguous arrays ("NaN"/"+Inf" parsed).

    All series' pairs are walked as one stream in batches of :data:`BATCH` samples, so the
    per-sample Python work is two C-level ``map`` passes and the value strings are parsed
    in one vectorised call per batch; batching keeps the temporaries (pointer lists, Arrow
    strings) to a few MB whatever the response size.
    """
    lengths = [len(p) for p in pairs_per_series]
    total = sum(lengths)
    ns = np.empty(total, np.int64)
    vals = np.empty(total, np.float64)
    stream = chain.from_iterable(pairs_per_series)
    try:
        for lo in range(0, total, BATCH):
            part = list(islice(stream, BATCH))
            hi = lo + len(part)
            ns[lo:hi] = _seconds_to_ns(np.fromiter(map(_T0, part), np.float64, len(part)))
            vals[lo:hi] = _parse_values(list(map(_T1, part)))
    except (TypeError, ValueError, IndexError) as exc:
        raise UnexpectedResponse(f"malformed sample in the response ({exc}); expected "
                                 "[<unix seconds>, \"<value>\"] pairs") from exc
    pos = 0
    for n in lengths:
        raw.timestamps.append(ns[pos:pos + n])
        raw.values.append(vals[pos:pos + n])
        pos += n
    raw.flat_ns, raw.flat_values = ns, vals


def _envelope(raw: RawResult, doc: dict[str, Any], data: dict[str, Any]) -> None:
    raw.warnings = [str(w) for w in doc.get("warnings") or []]
    raw.infos = [str(w) for w in doc.get("infos") or []]
    raw.partial = bool(doc.get("partialResponse") or doc.get("isPartial")
                       or data.get("partialResponse") or data.get("isPartial"))
    if isinstance(data.get("stats"), dict):
        raw.stats.append(data["stats"])


def parse_bytes(body: bytes | bytearray) -> RawResult | None:
    """The fast path (:mod:`.wire`): columns straight from the bytes, or ``None`` when the
    body is laid out otherwise (then :func:`parse_doc` decodes it)."""
    try:
        found = wire.scan(body)
        matrix = bool(found["matrix"])
        series = found["series"]
        spans = [f for _, f, _ in series if f is not None]
        seconds, values, counts = wire.floats_of(body, spans, matrix)
    except (wire.Layout, orjson.JSONDecodeError, ValueError):
        return None
    doc = found["envelope"]
    data = doc.get("data") if isinstance(doc.get("data"), dict) else {}
    raw = RawResult(result_type="matrix" if matrix else "vector")
    _envelope(raw, doc, data)
    try:
        ns = _seconds_to_ns(seconds)
        pos = 0
        k = 0
        for labels, floats, hists in series:
            metric = orjson.loads(labels)
            if floats is not None:
                n = int(counts[k])
                k += 1
                raw.metrics.append(metric)
                raw.timestamps.append(ns[pos:pos + n])
                raw.values.append(values[pos:pos + n])
                pos += n
            if hists is not None:
                raw.hist_metrics.append(metric)
                raw.hists.append(wire.histograms_of(body, hists))
    except (orjson.JSONDecodeError, UnexpectedResponse, TypeError, IndexError, wire.Layout):
        return None
    raw.flat_ns, raw.flat_values = ns, values
    return raw


def parse(body: bytes | bytearray | str | dict[str, Any]) -> RawResult:
    """Parse a successful ``/api/v1/query`` or ``/api/v1/query_range`` body.

    Bytes take the fast path (:func:`parse_bytes`) when laid out as Prometheus writes them;
    everything else is decoded with orjson (:func:`parse_doc`). Error bodies are mapped to
    exceptions by the transport before this is called; a body without ``data`` raises
    :class:`UnexpectedResponse`.
    """
    if isinstance(body, bytes | bytearray):
        fast = parse_bytes(body)
        if fast is not None:
            return fast
    return parse_doc(body)


def parse_doc(body: bytes | bytearray | str | dict[str, Any]) -> RawResult:
    """The general parser: decode with orjson, then build the columns (any JSON layout)."""
    doc = decode(body)
    data = doc.get("data")
    if doc.get("status") != "success" or not isinstance(data, dict):
        raise UnexpectedResponse(f"expected a successful Prometheus response with 'data', got "
                                 f"{str(doc)[:200]}")
    rtype = data.get("resultType", "")
    raw = RawResult(result_type=rtype)
    _envelope(raw, doc, data)
    result: Any = data.get("result")
    if rtype in ("matrix", "vector"):
        key, hkey = ("values", "histograms") if rtype == "matrix" else ("value", "histogram")
        pairs: list[list[list[Any]]] = []
        for series in result or []:
            if key in series:
                raw.metrics.append(series.get("metric") or {})
                pairs.append(series[key] if rtype == "matrix" else [series[key]])
            if hkey in series:
                raw.hist_metrics.append(series.get("metric") or {})
                raw.hists.append(histograms_from_json(
                    series[hkey] if rtype == "matrix" else [series[hkey]]))
        _fill(pairs, raw)
    elif rtype == "scalar":
        raw.metrics.append({})
        _fill([[result]], raw)
    elif rtype == "string":
        raw.string_value = str(result[1])
        raw.metrics.append({})
        _fill([[[result[0], "NaN"]]], raw)
    else:
        raise UnexpectedResponse(f"unknown resultType {rtype!r} in the response")
    return raw


def _merge_series(out: RawResult, groups: dict[tuple[tuple[str, str], ...],
                  tuple[list[np.ndarray], list[np.ndarray]]]) -> None:
    for key in sorted(groups):
        ts_parts, val_parts = groups[key]
        ts = np.concatenate(ts_parts)
        vals = np.concatenate(val_parts)
        if len(ts) > 1 and not bool(np.all(np.diff(ts) > 0)):
            order = np.argsort(ts, kind="stable")
            ts, vals = ts[order], vals[order]
            keep = np.concatenate(([True], np.diff(ts) != 0))
            out.duplicates_dropped += int((~keep).sum())
            ts, vals = ts[keep], vals[keep]
        out.metrics.append(dict(key))
        out.timestamps.append(ts)
        out.values.append(vals)


def _merge_histograms(out: RawResult, groups: dict[tuple[tuple[str, str], ...],
                      list[HistogramSamples]]) -> None:
    for key in sorted(groups):
        h = concat_histograms(groups[key])
        if len(h) > 1 and not bool(np.all(np.diff(h.ns) > 0)):
            order = np.argsort(h.ns, kind="stable")
            ns = h.ns[order]
            keep = np.concatenate(([True], np.diff(ns) != 0))
            out.duplicates_dropped += int((~keep).sum())
            h = h.take(order[keep])
        out.hist_metrics.append(dict(key))
        out.hists.append(h)


def merge(parts: list[RawResult]) -> RawResult:
    """Merge chunk results: series joined by label set, time-ordered, duplicates counted.

    Chunks are disjoint by construction, so ``duplicates_dropped`` stays 0 unless a server
    returns overlapping samples; the count is reported, never hidden.
    """
    if len(parts) == 1:
        return parts[0]
    if not parts:
        return RawResult(result_type="matrix")
    out = RawResult(result_type=parts[0].result_type)
    groups: dict[tuple[tuple[str, str], ...], tuple[list[np.ndarray], list[np.ndarray]]] = {}
    hgroups: dict[tuple[tuple[str, str], ...], list[HistogramSamples]] = {}
    for part in parts:
        out.warnings.extend(w for w in part.warnings if w not in out.warnings)
        out.infos.extend(w for w in part.infos if w not in out.infos)
        out.partial = out.partial or part.partial
        out.stats.extend(part.stats)
        out.duplicates_dropped += part.duplicates_dropped
        for metric, ts, vals in zip(part.metrics, part.timestamps, part.values, strict=True):
            slot = groups.setdefault(tuple(sorted(metric.items())), ([], []))
            slot[0].append(ts)
            slot[1].append(vals)
        for metric, h in zip(part.hist_metrics, part.hists, strict=True):
            hgroups.setdefault(tuple(sorted(metric.items())), []).append(h)
    _merge_series(out, groups)
    _merge_histograms(out, hgroups)
    return out


def _column_name(label: str, reserved: tuple[str, ...] = RESERVED) -> str:
    if label == "__name__":
        return "metric"
    return f"label_{label}" if label in reserved else label


def frame_details(raw: RawResult, renamed: dict[str, str] | None = None,
                  kinds: dict[str, str] | None = None) -> dict[str, Any]:
    """The ``FrameMeta.details`` a parsed answer contributes (JSON-safe)."""
    n_hist = int(sum(len(h) for h in raw.hists))
    details: dict[str, Any] = {
        "result_type": raw.result_type,
        "series": len({tuple(sorted(m.items())) for m in (*raw.metrics, *raw.hist_metrics)}),
        "samples": int(sum(len(t) for t in raw.timestamps)) + n_hist,
        "stats": list(raw.stats),
    }
    if n_hist:
        details["histograms"] = {"samples": n_hist, "series": len(raw.hists),
                                 "kinds": dict(kinds or {})}
    if raw.duplicates_dropped:
        details["duplicates_dropped"] = raw.duplicates_dropped
    if renamed:
        details["renamed_labels"] = dict(renamed)
    return details


def _series_name(metric: dict[str, str]) -> str:
    name = metric.get("__name__")
    if name:
        return name
    inner = ",".join(f"{k}={v!r}" for k, v in sorted(metric.items()))
    return "{" + inner + "}"


def _kinds(metrics: list[dict[str, str]], lengths: np.ndarray, h: HistogramSamples,
           schema: np.ndarray) -> list[str]:
    """Per histogram series: ``native`` or ``nhcb``.

    Decided per series over all its samples (:func:`.native.series_kind`), then per family
    (same metric name and label names): a series whose bounds all occur among the bounds of
    the family's NHCB series is NHCB too — an NHCB whose only non-empty buckets are
    ``(0.25, 0.5]`` and ``(0.5, 1]`` looks exponential on its own.
    """
    starts = np.concatenate([[0], np.cumsum(lengths)])
    kinds = [series_kind(schema[a:b]) for a, b in pairwise(starts)]

    def bounds(i: int) -> set[float]:
        lo, hi = h.offsets[starts[i]], h.offsets[starts[i + 1]]
        vals = np.concatenate([h.lower[lo:hi], h.upper[lo:hi]])
        return set(vals[np.isfinite(vals)].tolist())

    families: dict[tuple[str, frozenset[str]], list[int]] = {}
    for i, m in enumerate(metrics):
        families.setdefault((m.get("__name__", ""), frozenset(m)), []).append(i)
    for members in families.values():
        custom = [i for i in members if kinds[i] == "nhcb"]
        if not custom or len(custom) == len(members):
            continue
        known: set[float] = set().union(*(bounds(i) for i in custom))
        for i in members:
            if kinds[i] != "nhcb" and bounds(i) <= known:
                kinds[i] = "nhcb"
    return kinds


def build_frame(raw: RawResult, meta: FrameMeta | None = None) -> pd.DataFrame:
    """The long metric frame for ``raw``, with its :class:`FrameMeta`.

    Columns: ``timestamp`` (datetime64[ns, UTC]), ``value`` (float64), ``metric`` (from
    ``__name__``, if any series has one), then one categorical column per label, sorted.
    A label named like a reserved column is renamed ``label_<name>`` (listed in
    ``details["renamed_labels"]``). Native histogram samples are rows too, with ``value``
    NaN and ``count``, ``sum``, ``schema`` and ``buckets`` set (see :mod:`.native`); the
    kind of each histogram series (``native`` or ``nhcb``) is in
    ``details["histograms"]["kinds"]``. ``meta`` (source, query, window …) is completed with
    what the server said: warnings, infos, the partial flag and the details above.
    """
    lengths = np.fromiter((len(t) for t in raw.timestamps), np.int64, len(raw.timestamps))
    total = int(lengths.sum())
    if raw.flat_ns is not None and raw.flat_values is not None and len(raw.flat_ns) == total:
        ns, vals = raw.flat_ns, raw.flat_values
    elif raw.timestamps:
        ns, vals = np.concatenate(raw.timestamps), np.concatenate(raw.values)
    else:
        ns, vals = np.empty(0, np.int64), np.empty(0)
    metrics = list(raw.metrics)
    hist_cols: dict[str, Any] | None = None
    kinds: dict[str, str] = {}
    order: np.ndarray | None = None
    if raw.hists:
        # one series id per label set, shared by float and histogram samples of a series
        ids = {tuple(sorted(m.items())): i for i, m in enumerate(metrics)}
        hsid = []
        for m in raw.hist_metrics:
            key = tuple(sorted(m.items()))
            if key not in ids:
                ids[key] = len(metrics)
                metrics.append(m)
            hsid.append(ids[key])
        h = concat_histograms(raw.hists)
        schema = infer_schema(h)
        hlen = np.fromiter((len(x) for x in raw.hists), np.int64, len(raw.hists))
        series_kinds = _kinds(raw.hist_metrics, hlen, h, schema)
        pos = 0
        for m, n, kind in zip(raw.hist_metrics, hlen, series_kinds, strict=True):
            part = schema[pos:pos + n]
            kinds[_series_name(m)] = kind
            if kind == "nhcb":
                part[:] = -53
            elif (part != UNKNOWN_SCHEMA).any():  # the series' schema for bucketless samples
                part[part == UNKNOWN_SCHEMA] = part.max()
            pos += n
        sid = np.concatenate([np.repeat(np.arange(len(raw.metrics)), lengths),
                              np.repeat(np.asarray(hsid, np.int64), hlen)])
        all_ns = np.concatenate([ns, h.ns])
        order = np.lexsort((all_ns, sid))
        ns = all_ns[order]
        vals = np.concatenate([vals, np.full(len(h), np.nan)])[order]
        hist_cols = histogram_columns(h, schema)
        row_sid = sid[order]
    columns: dict[str, Any] = {
        # int64 epoch ns read as UTC: no copy (tz_localize would copy the column twice)
        "timestamp": pd.DatetimeIndex(ns, dtype="datetime64[ns, UTC]", copy=False),
        "value": vals.astype(np.float64, copy=False),
    }
    if hist_cols is not None and order is not None:
        # histogram rows sit after the float rows before ordering: index into them
        n_float = total
        hpos = order - n_float
        is_h = hpos >= 0
        take = np.where(is_h, hpos, 0)
        for name in ("count", "sum"):
            col = np.full(len(order), np.nan)
            col[is_h] = hist_cols[name][take[is_h]]
            columns[name] = col
        raw_schema = hist_cols["schema"][take]
        sch = pd.array(np.where(is_h, raw_schema, 0), dtype="Int16")
        sch[~is_h | (raw_schema == UNKNOWN_SCHEMA)] = pd.NA
        columns["schema"] = sch
        idx = pa.array(np.where(is_h, take, -1), mask=~is_h)
        columns["buckets"] = pd.array(hist_cols["buckets"].take(idx), dtype=BUCKETS_DTYPE)
    label_names = sorted({k for m in metrics for k in m})
    ordered = (["__name__"] if "__name__" in label_names else []) + [
        k for k in label_names if k != "__name__"]
    reserved = RESERVED_ALL if raw.hists else RESERVED
    renamed = [k for k in ordered if k in reserved]
    for label in ordered:
        per_series = [m.get(label) for m in metrics]
        categories = sorted({v for v in per_series if v is not None})
        index = {v: i for i, v in enumerate(categories)}
        codes = np.fromiter((index.get(v, -1) if v is not None else -1 for v in per_series),
                            np.int32, len(per_series))
        small = codes.astype(np.int8 if len(categories) < 127 else
                             np.int16 if len(categories) < 32767 else np.int32)
        row_codes = small[row_sid] if hist_cols is not None else np.repeat(small, lengths)
        columns[_column_name(label, reserved)] = pd.Categorical.from_codes(
            row_codes, categories=pd.Index(categories, dtype=object))
    df = pd.DataFrame(columns, copy=False)
    if raw.string_value is not None:
        df["string"] = [raw.string_value]
    base = meta or FrameMeta(source="prometheus")
    details = {**base.details,
               **frame_details(raw, {k: _column_name(k, reserved) for k in renamed}, kinds)}
    notes = list(base.notes)
    if kinds:
        notes.append(f"{details['histograms']['samples']:,} native histogram sample(s) in "
                     f"{len(kinds)} series: value is empty for them, see count/sum/buckets")
    return attach(df, replace(
        base, warnings=tuple(dict.fromkeys((*base.warnings, *raw.warnings))),
        infos=tuple(dict.fromkeys((*base.infos, *raw.infos))),
        partial=base.partial or raw.partial, notes=tuple(dict.fromkeys(notes)),
        details=details))


def response_to_frame(body: bytes | str | dict[str, Any], query: str = "") -> pd.DataFrame:
    """Parse one API response (bytes or decoded) into the long frame.

    Examples
    --------
    >>> body = b'{"status":"success","data":{"resultType":"vector","result":'
    ...         b'[{"metric":{"job":"a"},"value":[1700000000.5,"+Inf"]}]}}'
    >>> df = response_to_frame(body, query="up")
    >>> df["value"].tolist(), str(df["timestamp"].dtype)
    ([inf], 'datetime64[ns, UTC]')
    """
    return build_frame(parse(body), FrameMeta(source="prometheus",
                                              queries=(query,) if query else ()))


def to_wide(df: pd.DataFrame, columns: str | list[str] | None = None) -> pd.DataFrame:
    """Pivot the long frame to one column per series, indexed by ``timestamp``.

    Parameters
    ----------
    df : DataFrame
        A long metric frame.
    columns : str or list of str, optional
        Label column(s) that name the series; default: every label column whose value
        varies. Raises :class:`DataError` if these do not identify series uniquely.
    """
    label_cols = [c for c in df.columns if c not in ("timestamp", "value", "string")]
    if columns is None:
        columns = [c for c in label_cols if df[c].nunique(dropna=False) > 1]
    cols = [columns] if isinstance(columns, str) else list(columns)
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise DataError(f"to_wide: no label column(s) {missing}; available: {label_cols}")
    if not cols:
        return attach(df.set_index("timestamp")[["value"]], meta_of(df))
    if df.duplicated(subset=["timestamp", *cols]).any():
        raise DataError(f"to_wide: labels {cols} do not identify series uniquely; pass more "
                        f"label columns (available: {label_cols})")
    return attach(df.pivot(index="timestamp", columns=cols, values="value"), meta_of(df))
