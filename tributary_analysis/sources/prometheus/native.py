"""Native histograms in API answers → columns, and what kind of histogram each series is.

The API writes a native histogram sample as ``[<ts>, {"count": "…", "sum": "…", "buckets":
[[<boundaries>, "<lower>", "<upper>", "<count>"], …]}]`` with the *non-empty* buckets only,
``boundaries`` 0 = ``(l, u]``, 1 = ``[l, u)``, 2 = ``(l, u)``, 3 = ``[l, u]``. The schema is
not in the answer, so it is inferred from the bounds (:func:`infer_schema`):

* a bucket with an infinite bound, or bounds off every exponential grid → custom buckets
  (NHCB, schema ``-53``, as ``convert_classic_histograms_to_nhcb`` stores them);
* negative buckets (``[l, u)``) or a zero bucket (``[-z, z]``) → exponential;
* positive buckets ``(l, u]`` whose bounds lie on the grid ``2**(k * 2**-s)`` → exponential
  of schema ``s`` (-4 … 8).

A custom layout whose only non-empty buckets happen to be powers of two (``(0.25, 0.5]``)
cannot be told from schema 0 by one sample; the kind is therefore decided per series over
all its samples (custom wins), and is recorded in ``FrameMeta.details["histograms"]``.

The frame form (documented in ``docs/prometheus.md``): one row per sample; for histogram
samples ``value`` is NaN and ``count``, ``sum``, ``schema`` and ``buckets`` (an Arrow
``list<struct<boundaries, lower, upper, count>>``) are set. :func:`explode` gives the bucket
form (one row per bucket: ``lower``, ``upper``, ``count``) for heatmaps.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tributary_analysis.errors import UnexpectedResponse

CUSTOM_SCHEMA = -53
#: a sample whose buckets cannot tell (none, or only a zero bucket); <NA> in the frame
UNKNOWN_SCHEMA = -128
BUCKET_TYPE = pa.struct([("boundaries", pa.int8()), ("lower", pa.float64()),
                         ("upper", pa.float64()), ("count", pa.float64())])
BUCKETS_DTYPE = pd.ArrowDtype(pa.list_(BUCKET_TYPE))
#: kinds recorded per series
CLASSIC, EXPONENTIAL, NHCB = "classic", "native", "nhcb"


@dataclass
class HistogramSamples:
    """Histogram samples of one or more series, flat: sample ``i`` has buckets
    ``offsets[i]:offsets[i+1]`` of the bucket arrays."""

    ns: np.ndarray = field(default_factory=lambda: np.empty(0, np.int64))
    count: np.ndarray = field(default_factory=lambda: np.empty(0))
    sum: np.ndarray = field(default_factory=lambda: np.empty(0))
    offsets: np.ndarray = field(default_factory=lambda: np.zeros(1, np.int64))
    rule: np.ndarray = field(default_factory=lambda: np.empty(0, np.int8))
    lower: np.ndarray = field(default_factory=lambda: np.empty(0))
    upper: np.ndarray = field(default_factory=lambda: np.empty(0))
    bcount: np.ndarray = field(default_factory=lambda: np.empty(0))

    def __len__(self) -> int:
        return len(self.ns)

    def take(self, order: np.ndarray) -> HistogramSamples:
        """The samples in ``order`` (buckets moved along)."""
        starts, ends = self.offsets[:-1][order], self.offsets[1:][order]
        lengths = ends - starts
        idx = _ranges(starts, lengths)
        offsets = np.zeros(len(order) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return HistogramSamples(self.ns[order], self.count[order], self.sum[order], offsets,
                                self.rule[idx], self.lower[idx], self.upper[idx],
                                self.bcount[idx])


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, lengths)])`` without a loop."""
    total = int(lengths.sum())
    if total == 0:
        return np.empty(0, np.int64)
    reps = np.repeat(starts - np.concatenate(([0], np.cumsum(lengths)[:-1])), lengths)
    return np.arange(total, dtype=np.int64) + reps


def concat(parts: list[HistogramSamples]) -> HistogramSamples:
    parts = [p for p in parts if len(p)]
    if not parts:
        return HistogramSamples()
    if len(parts) == 1:
        return parts[0]
    shifts = np.cumsum([0] + [int(p.offsets[-1]) for p in parts[:-1]])
    offsets = np.concatenate([[0]] + [p.offsets[1:] + s for p, s in zip(parts, shifts,
                                                                        strict=True)])
    return HistogramSamples(
        np.concatenate([p.ns for p in parts]), np.concatenate([p.count for p in parts]),
        np.concatenate([p.sum for p in parts]), offsets,
        np.concatenate([p.rule for p in parts]), np.concatenate([p.lower for p in parts]),
        np.concatenate([p.upper for p in parts]), np.concatenate([p.bcount for p in parts]))


def _floats(strings: list[Any], what: str) -> np.ndarray:
    try:
        arr = pc.cast(pa.array(strings, pa.string()), pa.float64())
        if arr.null_count == 0:
            return arr.to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        pass
    try:
        return np.array(strings, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise UnexpectedResponse(f"a native histogram's {what} is not a number ({exc}); the "
                                 "server (or a proxy) returned a malformed result") from exc


def from_json(pairs: list[list[Any]]) -> HistogramSamples:
    """``[[ts, {"count", "sum", "buckets"}], …]`` of one series → flat arrays."""
    n = len(pairs)
    if n == 0:
        return HistogramSamples()
    try:
        ts = np.fromiter((p[0] for p in pairs), np.float64, n)
        hs = [p[1] for p in pairs]
        count = _floats([h["count"] for h in hs], "count")
        total = _floats([h["sum"] for h in hs], "sum")
        buckets = [h.get("buckets") or () for h in hs]
    except (TypeError, KeyError, IndexError) as exc:
        raise UnexpectedResponse(f"malformed native histogram sample ({exc}); expected "
                                 "[<unix seconds>, {\"count\", \"sum\", \"buckets\"}]") from exc
    lengths = np.fromiter((len(b) for b in buckets), np.int64, n)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    flat = [b for bs in buckets for b in bs]
    try:
        rule = np.fromiter((b[0] for b in flat), np.int8, len(flat))
        lower = _floats([b[1] for b in flat], "bucket bound")
        upper = _floats([b[2] for b in flat], "bucket bound")
        bcount = _floats([b[3] for b in flat], "bucket count")
    except (TypeError, IndexError, ValueError) as exc:
        raise UnexpectedResponse(f"malformed native histogram bucket ({exc}); expected "
                                 "[<boundaries>, \"<lower>\", \"<upper>\", \"<count>\"]") from exc
    return HistogramSamples(seconds_to_ns(ts), count, total, offsets, rule, lower, upper,
                            bcount)


def seconds_to_ns(seconds: np.ndarray) -> np.ndarray:
    """Float seconds (millisecond precision on the wire) → int64 ns, rounded to the ms."""
    seconds = np.asarray(seconds, dtype=np.float64) * 1000.0
    np.rint(seconds, out=seconds)
    ns = seconds.astype(np.int64)
    ns *= 1_000_000
    return ns


def _any(owner: np.ndarray, mask: np.ndarray, n: int) -> np.ndarray:
    """Per sample: whether any of its buckets has ``mask``."""
    return np.bincount(owner[mask], minlength=n) > 0


def infer_schema(h: HistogramSamples) -> np.ndarray:
    """Per sample: the schema its buckets show (``-53`` custom, ``-4``…``8`` exponential),
    or :data:`UNKNOWN_SCHEMA` when they cannot tell (no bucket, or only a zero bucket)."""
    n = len(h)
    out = np.full(n, UNKNOWN_SCHEMA, np.int16)
    if n == 0 or len(h.rule) == 0:
        return out
    owner = np.repeat(np.arange(n), np.diff(h.offsets))
    lo, up, rule = h.lower, h.upper, h.rule
    infinite = ~np.isfinite(lo) | ~np.isfinite(up)
    exp_marker = (rule == 1) | ((rule == 3) & np.isfinite(lo) & (lo == -up))
    pos = (rule == 0) & (lo > 0) & np.isfinite(up)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_up = np.log2(up)
        width = log_up - np.log2(np.where(lo > 0, lo, np.nan))
        s = -np.log2(width)
        s_int = np.rint(s)
        on_ratio = pos & (np.abs(s - s_int) < 1e-9) & (s_int >= -4) & (s_int <= 8)
        grid = log_up * np.exp2(np.where(on_ratio, s_int, 0))
        on_grid = on_ratio & (np.abs(grid - np.rint(grid)) < 1e-6)
    # a positive bucket off the grid is custom, unless it is the lowest positive bucket
    # (its lower bound may be the zero threshold): then only its upper bound must be on a grid
    off = pos & ~on_grid
    custom = _any(owner, infinite | (rule == 2), n)
    exp_seen = _any(owner, exp_marker, n)
    schema = np.full(len(rule), UNKNOWN_SCHEMA, np.int16)
    schema[on_grid] = s_int[on_grid].astype(np.int16)
    starts = h.offsets[:-1]
    nonempty = np.diff(h.offsets) > 0
    best = np.full(n, UNKNOWN_SCHEMA, np.int16)
    best[nonempty] = np.maximum.reduceat(schema, starts[nonempty])
    if off.any():
        idx = np.flatnonzero(pos)
        first_pos = np.full(n, np.iinfo(np.int64).max, np.int64)
        first_of = np.unique(owner[idx], return_index=True)
        first_pos[first_of[0]] = idx[first_of[1]]
        lenient = off & (np.arange(len(rule)) == first_pos[owner])
        if lenient.any():
            g = log_up[lenient] * 256.0
            lenient[lenient] = np.abs(g - np.rint(g)) < 1e-6
        custom |= _any(owner, off & ~lenient, n)
    # a rule-0 bucket with a non-positive lower bound that is no zero bucket: custom bounds
    straddle = (rule == 0) & np.isfinite(lo) & (lo <= 0) & np.isfinite(up)
    custom |= _any(owner, straddle, n)
    out[:] = best
    out[exp_seen & (best == UNKNOWN_SCHEMA)] = 0  # exponential, exact schema unknown
    out[custom & ~exp_seen] = CUSTOM_SCHEMA
    return out


def series_kind(schemas: np.ndarray) -> str:
    """One series' kind from its samples' schemas (custom wins: see the module docstring)."""
    if (schemas == CUSTOM_SCHEMA).any():
        return NHCB
    return EXPONENTIAL


def columns(h: HistogramSamples, schema: np.ndarray) -> dict[str, Any]:
    """``count``, ``sum``, ``schema`` and ``buckets`` arrays for the frame (histogram rows)."""
    structs = pa.StructArray.from_arrays(
        [pa.array(h.rule, pa.int8()), pa.array(h.lower), pa.array(h.upper),
         pa.array(h.bcount)], fields=list(BUCKET_TYPE))
    lists = pa.ListArray.from_arrays(pa.array(h.offsets.astype(np.int32)), structs)
    return {"count": h.count, "sum": h.sum, "schema": schema, "buckets": lists}


def explode(df: pd.DataFrame) -> pd.DataFrame:
    """The bucket form of a frame's native histograms: one row per (sample, bucket) with
    ``timestamp``, the labels, ``schema``, ``boundaries``, ``lower``, ``upper`` and ``count``
    (observations in the bucket, not cumulative) — what a heatmap plots. Float rows are
    left out."""
    if "buckets" not in df.columns:
        raise_no_histograms()
    rows = df[df["buckets"].notna()].reset_index(drop=True)
    arr = pa.array(rows["buckets"], type=pa.list_(BUCKET_TYPE))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    lengths = pc.list_value_length(arr).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(arr)
    pos = np.repeat(np.arange(len(rows)), lengths)
    keep = [c for c in rows.columns if c not in ("value", "count", "sum", "buckets", "string")]
    out = rows[keep].iloc[pos].reset_index(drop=True)
    for name in ("boundaries", "lower", "upper", "count"):
        out[name] = flat.field(name).to_numpy(zero_copy_only=False)
    return out


def raise_no_histograms() -> None:
    from tributary_analysis.errors import DataError

    raise DataError("the frame has no native histograms (no 'buckets' column): query a "
                    "native histogram family (its rate, on Prometheus 3)")
