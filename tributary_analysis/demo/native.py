"""The simulator's latency families as native histograms: exponential buckets and NHCB.

The classic families are written as OpenMetrics ``_bucket``/``_sum``/``_count`` series for
promtool. Prometheus 3 also stores histograms natively, either with exponential buckets (what
``client_golang`` exposes with ``NativeHistogramBucketFactor``; schema 3 is a growth factor of
2^(1/8) ≈ 1.09 per bucket) or with the classic boundaries as *custom buckets* (NHCB, schema
-53: what ``convert_classic_histograms_to_nhcb`` makes of a scraped classic histogram).

This module builds both forms from the same simulated requests that the classic family was
aggregated from, with the same scrape semantics (a request counts at the first scrape strictly
after it completes; the injected restart resets the replica's series right after a scrape; the
scrape gap removes that replica's samples; a series appears at its first observation), so the
three forms describe identical traffic. :func:`tributary_analysis.demo.remote_write.write`
sends them to a real Prometheus 3.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from tributary_analysis import seed
from tributary_analysis.demo.remote_write import (
    CUSTOM_BUCKETS_SCHEMA,
    RESET_YES,
    Histogram,
    Metadata,
    TimeSeries,
    spans_of,
)
from tributary_analysis.errors import DataError

Form = Literal["native", "nhcb"]
FORMS: tuple[Form, ...] = ("native", "nhcb")

#: the exponential schema the simulator uses (client_golang's bucket factor 1.1 → schema 3)
DEFAULT_SCHEMA = 3
#: client_golang's default zero threshold (2^-128)
ZERO_THRESHOLD = 2.0 ** -128
#: the latency families and how to read their observations from a simulation
LATENCY_FAMILIES: dict[str, dict[str, Any]] = {
    "http_request_duration_seconds": {
        "frame": "requests", "value": "duration_s",
        "labels": ("method", "endpoint", "tenant_id"), "where": None},
    "search_latency_seconds": {
        "frame": "requests", "value": "search_duration_s",
        "labels": ("search_type", "dataset_id", "tenant_id"), "where": "search_type"},
}


def exponential_index(values: np.ndarray, schema: int) -> np.ndarray:
    """Bucket index of each positive value in an exponential schema, as Prometheus computes it.

    Bucket ``i`` holds ``(base**(i-1), base**i]`` with ``base = 2**(2**-schema)``; the index is
    found with ``frexp`` exactly as Go's ``histogram.go`` does, so boundary values land in the
    same bucket as on the server.
    """
    v = np.asarray(values, dtype=float)
    frac, exp = np.frexp(v)
    exp = exp.astype(np.int64)
    if schema > 0:
        n = 1 << schema
        bounds = np.ldexp(np.power(2.0, np.arange(n) / n), -1)
        return np.searchsorted(bounds, frac, side="left") + (exp - 1) * n
    key = exp - (frac == 0.5)
    offset = (1 << -schema) - 1
    return (key + offset) >> -schema


def exponential_bounds(index: int | np.ndarray, schema: int) -> tuple[Any, Any]:
    """``(lower, upper)`` of exponential bucket ``index``: ``(base**(i-1), base**i]``."""
    i = np.asarray(index, dtype=float)
    base_log2 = 2.0 ** -schema
    return np.exp2((i - 1) * base_log2), np.exp2(i * base_log2)


@dataclass(frozen=True)
class ScrapeGrid:
    """Scrape times and per-replica scrape state of one simulation."""

    times: np.ndarray  # (K,) unix seconds
    instances: tuple[str, ...]
    scraped: np.ndarray  # (I, K) bool
    restart: tuple[int, int] | None  # (instance index, scrape index it restarts after)

    @classmethod
    def from_simulation(cls, manifest: Mapping[str, Any],
                        incidents: Sequence[Any]) -> ScrapeGrid:
        """The grid the simulator used, from its manifest and incidents."""
        step = int(manifest["scrape_interval_s"])
        times = np.arange(int(manifest["start_unix"]), int(manifest["end_unix"]) + step, step,
                          dtype=np.int64)
        instances = tuple(manifest["instances"])
        scraped = np.ones((len(instances), times.size), bool)
        restart = None
        for inc in incidents:
            kind = inc.kind if hasattr(inc, "kind") else inc["kind"]
            affects = inc.affects if hasattr(inc, "affects") else inc["affects"]
            if "instance" not in affects:
                continue
            i = instances.index(affects["instance"])
            start_s = int(inc.start_s) if hasattr(inc, "start_s") else int(
                pd.Timestamp(inc["start"]).timestamp())
            end_s = int(inc.end_s) if hasattr(inc, "end_s") else int(
                pd.Timestamp(inc["end"]).timestamp())
            if kind == "scrape_gap":
                scraped[i] &= ~((times >= start_s) & (times < end_s))
            if kind == "restart":
                restart = (i, int(np.searchsorted(times, start_s)))
        return cls(times, instances, scraped, restart)


def _observations(sim: Any, family: str) -> pd.DataFrame:
    spec = LATENCY_FAMILIES.get(family)
    if spec is None:
        raise DataError(f"no native form for family {family!r}; use one of "
                        f"{', '.join(sorted(LATENCY_FAMILIES))}")
    frame: pd.DataFrame = getattr(sim, spec["frame"])
    if spec["value"] not in frame.columns:
        raise DataError(f"the simulation's {spec['frame']} frame has no {spec['value']!r} "
                        f"column, needed for the native form of {family}; re-run the "
                        "simulation with a simulator that records it")
    if spec["where"]:
        frame = frame[frame[spec["where"]].notna()]
    return frame


def histogram_series(
    obs: pd.DataFrame, *, name: str, value: str, labels: Sequence[str], grid: ScrapeGrid,
    form: Form = "native", schema: int = DEFAULT_SCHEMA, bounds: Sequence[float] = (),
    const_labels: Mapping[str, str] | None = None,
) -> list[TimeSeries]:
    """Cumulative native histograms per series and scrape from one row per observation.

    Parameters
    ----------
    obs : DataFrame
        One row per observation: ``time`` (completion, UTC), ``instance``, the ``labels``
        columns and the ``value`` column.
    name : str
        The family (``__name__`` of the native series).
    grid : ScrapeGrid
        Scrape times, gaps and the restart.
    form : {"native", "nhcb"}
        Exponential buckets of ``schema``, or custom buckets with the classic ``bounds``.
    const_labels : mapping, optional
        Added to every series (default ``job`` = the seed's job).

    Returns
    -------
    list of TimeSeries
        Histograms oldest first, one per scrape from the series' first observation on,
        skipping scrapes the gap removed; the first sample after the restart carries the
        reset hint.
    """
    if form not in FORMS:
        raise DataError(f"unknown histogram form {form!r}: use one of {', '.join(FORMS)}")
    if form == "nhcb" and not bounds:
        raise DataError(f"the NHCB form of {name} needs the classic bucket bounds")
    const = dict(const_labels if const_labels is not None else {"job": seed.JOB})
    values = obs[value].to_numpy(dtype=float)
    t_us = (obs["time"].to_numpy(dtype="datetime64[us]").astype(np.int64))
    k = np.searchsorted(grid.times * 1_000_000, t_us, side="right")
    keep = k < grid.times.size
    inst_names = list(grid.instances)
    inst = pd.Categorical(obs["instance"].astype(str), categories=inst_names).codes
    cols = [pd.Categorical(obs[c].astype(str)) for c in labels]
    if form == "native":
        bidx = exponential_index(values, schema)
        zero = values <= ZERO_THRESHOLD
    else:
        bidx = np.searchsorted(np.asarray(bounds, float), values, side="left")
        zero = np.zeros(values.size, bool)
    code = inst.astype(np.int64)
    for c in cols:
        code = code * (len(c.categories) + 1) + c.codes.astype(np.int64)
    code, k, bidx, values, zero = code[keep], k[keep], bidx[keep], values[keep], zero[keep]
    rows = np.arange(len(obs))[keep]
    order = np.lexsort((k, code))
    code, k, bidx, rows = code[order], k[order], bidx[order], rows[order]
    values, zero = values[order], zero[order]
    splits = np.flatnonzero(np.diff(code)) + 1
    n_k = grid.times.size
    ts_ms = grid.times * 1000
    out: list[TimeSeries] = []
    for seg in np.split(np.arange(code.size), splits):
        if seg.size == 0:
            continue
        r0 = rows[seg[0]]
        i = int(inst[r0])
        lab = {"__name__": name, **const, "instance": inst_names[i]}
        for c_name, c in zip(labels, cols, strict=True):
            lab[c_name] = str(c[r0])
        out.append(_one_series(lab, k[seg], bidx[seg], values[seg], zero[seg], i, grid, n_k,
                               ts_ms, form, schema, bounds))
    return out


def _one_series(lab: dict[str, str], k: np.ndarray, bidx: np.ndarray, values: np.ndarray,
                zero: np.ndarray, inst: int, grid: ScrapeGrid, n_k: int, ts_ms: np.ndarray,
                form: Form, schema: int, bounds: Sequence[float]) -> TimeSeries:
    nz = ~zero
    uniq, inv = np.unique(bidx[nz], return_inverse=True)
    counts = np.zeros((uniq.size, n_k), np.int64)
    np.add.at(counts, (inv, k[nz]), 1)
    np.cumsum(counts, axis=1, out=counts)
    zc = np.cumsum(np.bincount(k[zero], minlength=n_k))
    sums = np.cumsum(np.bincount(k, weights=values, minlength=n_k))
    total = np.cumsum(np.bincount(k, minlength=n_k))
    present = (total > 0) & grid.scraped[inst]
    reset_k = -1
    if grid.restart is not None and grid.restart[0] == inst:
        k_r = grid.restart[1]
        if k_r + 1 < n_k:
            counts[:, k_r + 1:] -= counts[:, k_r:k_r + 1]
            zc[k_r + 1:] -= zc[k_r]
            sums[k_r + 1:] -= sums[k_r]
            total[k_r + 1:] -= total[k_r]
            reset_k = k_r + 1
    hists: list[Histogram] = []
    prev_key: bytes | None = None
    spans: tuple[tuple[int, int], ...] = ()
    sel = np.zeros(uniq.size, bool)
    custom = tuple(float(b) for b in bounds) if form == "nhcb" else ()
    first_after_reset = True
    for kk in np.flatnonzero(present):
        col = counts[:, kk]
        mask = col > 0
        key = mask.tobytes()
        if key != prev_key:
            prev_key, sel = key, mask
            spans = spans_of(uniq[mask])
        hint = 0
        if reset_k >= 0 and kk >= reset_k and first_after_reset:
            hint, first_after_reset = RESET_YES, False
        hists.append(Histogram(
            timestamp_ms=int(ts_ms[kk]), count=int(total[kk]), sum=float(sums[kk]),
            schema=schema if form == "native" else CUSTOM_BUCKETS_SCHEMA,
            zero_threshold=ZERO_THRESHOLD if form == "native" else 0.0,
            zero_count=int(zc[kk]), positive_spans=spans,
            positive_buckets=tuple(col[sel].tolist()), custom_values=custom,
            reset_hint=hint))
    return TimeSeries(lab, histograms=hists)


def simulated_histograms(
    sim: Any, family: str = "http_request_duration_seconds", *, form: Form = "native",
    schema: int = DEFAULT_SCHEMA, const_labels: Mapping[str, str] | None = None,
) -> list[TimeSeries]:
    """The native (or NHCB) form of a simulated latency family, from a ``SimulationResult``.

    ``sim`` needs ``manifest``, ``incidents`` and the ``requests`` frame (what
    :func:`tributary_analysis.demo.simulate` returns).
    """
    spec = LATENCY_FAMILIES.get(family)
    obs = _observations(sim, family)
    assert spec is not None
    grid = ScrapeGrid.from_simulation(sim.manifest, sim.incidents)
    fam = seed.FAMILIES_BY_NAME[family]
    return histogram_series(obs, name=family, value=spec["value"], labels=spec["labels"],
                            grid=grid, form=form, schema=schema, bounds=fam.buckets,
                            const_labels=const_labels)


def available_families(sim: Any) -> list[str]:
    """The latency families whose observations this simulation carries."""
    out = []
    for name, spec in LATENCY_FAMILIES.items():
        frame = getattr(sim, spec["frame"], None)
        if frame is not None and spec["value"] in frame.columns:
            out.append(name)
    return out


def metadata(family: str) -> Metadata:
    """Remote-write metadata (type histogram, the seed's help) of ``family``."""
    fam = seed.FAMILIES_BY_NAME[family]
    return Metadata(family, "histogram", fam.help, "seconds" if family.endswith(
        "_seconds") else "")
