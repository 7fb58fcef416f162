"""``simulate()``: one deterministic run from seed to files and ground truth.

Random streams are independent children of the seed (world, incident placement, traffic,
metrics noise, request ids, traces), so passing your own incident list changes the
incidents, not the tenants; and the trace stream, added last, leaves every other output as
it was.

Traces (see :mod:`~tributary_analysis.demo.traces`) go to ``traces/deeplake-api-YYYY-MM-DD
.jsonl``: OTLP JSON as the OpenTelemetry Collector's file exporter writes it, a
deterministic head sample of the API requests (``manifest["traces"]``); log lines carry
each request's ``trace_id``/``span_id``; ``incidents.json`` says under ``expected.spans``
which spans carry each incident.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.demo import traces as tr
from tributary_analysis.demo.aggregate import Aggregator, FamilyData, Grid, LiveCut, cut_families
from tributary_analysis.demo.incidents import (
    Incident,
    from_unix,
    iso_z,
    load_incidents,
    place_incidents,
    validate_incidents,
)
from tributary_analysis.demo.logs import write_logs
from tributary_analysis.demo.openmetrics import write_openmetrics
from tributary_analysis.demo.profiles import Profile, get_profile
from tributary_analysis.demo.traffic import (
    ERRORS,
    US,
    Requests,
    generate_requests,
    seasonality,
    versions_for,
)
from tributary_analysis.demo.world import ENDPOINTS, EP, SEARCH_TYPES, World, build_world
from tributary_analysis.errors import DataError

#: index builds per live dataset and day
BUILDS_PER_DAY = 0.15
MEMORY_MODEL = (
    "used(t) = base_bytes + slope_bytes_per_s * max(0, t - start) + load(t) + noise(t); "
    "load(t) = 0.025 * limit * (seasonality(t) - 1) has mean ~0 over a day; noise is normal "
    "with sd 0.3 % of the limit; crossing_time solves base + slope * (t - start) = f * limit"
)


@dataclass
class SimulationResult:
    """What :func:`simulate` wrote, plus the truth to compare against.

    Attributes
    ----------
    out_dir : Path
        The output directory.
    manifest : dict
        The content of ``manifest.json``.
    incidents : list of Incident
        The injected incidents (``incidents.json``).
    requests : pandas.DataFrame
        One row per request, sorted by completion ``time``.
    jobs : pandas.DataFrame
        Background jobs (index builds, backups) with their instance and duration.
    timings : dict
        Seconds spent per stage.
    live : LiveCut or None
        With ``history_end``: every metric family whole (all scrapes) and the cut, for the
        live demo service (:mod:`~tributary_analysis.demo.live`); ``None`` otherwise.
    spans : pandas.DataFrame or None
        The exported spans as written (:meth:`~tributary_analysis.demo.traces.SpanTable.
        frame`): ``request_row`` (row of ``requests``), ids, ``operation``, ``kind``,
        ``scope``, ``start``/``end``, ``duration_s``, ``status``, ``exception`` (the type it
        recorded). ``requests`` has ``trace_id``, ``span_id`` (the server span) and
        ``trace_sampled`` for every request.
    """

    out_dir: Path
    manifest: dict[str, Any]
    incidents: list[Incident]
    requests: pd.DataFrame
    jobs: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    spans: pd.DataFrame | None = None
    live: LiveCut | None = None


def _default_end(step: int) -> datetime:
    now = int(time.time())
    return from_unix(now - now % step)


def _request_ids(rng: np.random.Generator, n: int) -> list[str]:
    """Random UUID4 strings, formatted vectorised."""
    b = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    b[:, 6] = (b[:, 6] & 0x0F) | 0x40
    b[:, 8] = (b[:, 8] & 0x3F) | 0x80
    table = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), np.uint8)
    hexed = table.reshape(256, 2)[b].reshape(n, 32)
    out = np.full((n, 36), ord("-"), np.uint8)
    for lo, hi, dst in ((0, 8, 0), (8, 12, 9), (12, 16, 14), (16, 20, 19), (20, 32, 24)):
        out[:, dst:dst + hi - lo] = hexed[:, lo:hi]
    return out.view("S36").ravel().astype("U36").tolist()


def _paths(world: World, req: Requests) -> list[str]:
    templates = [e.template for e in ENDPOINTS]
    out = []
    for e, d, v in zip(req.ep.tolist(), req.ds.tolist(), req.vid.tolist(), strict=True):
        if d < 0:
            out.append(templates[e])
        elif v:
            out.append(templates[e].format(ds=world.datasets[d], vid=f"v-{v}"))
        else:
            out.append(templates[e].format(ds=world.datasets[d], vid=""))
    return out


def _jobs(world: World, rng: np.random.Generator, start_s: int, end_s: int,
          n_inst: int) -> dict[str, np.ndarray]:
    """Index builds (live datasets only, on its indexer pod); nightly backups per tenant.

    Only datasets that receive writes are re-indexed (a read-only dataset's index was built
    before the window), more often for large tenants; only tenants on a plan with backups
    (``World.backup_plan``) are backed up. Rare events on few datasets and tenants keep the
    two job histograms to a few series.
    """
    days = (end_s - start_s) / 86400
    n_d = len(world.datasets)
    size = np.clip(world.share[world.ds_tenant] * len(world.tenants), 0.1, 3.0)
    size[world.share[world.ds_tenant] == 0] = 0.0  # idle tenants (heavy_tail) write nothing
    n_b = rng.poisson(np.where(world.ds_writable, BUILDS_PER_DAY * size, 0.0) * days)
    b_ds = np.repeat(np.arange(n_d), n_b)
    b_t = rng.integers(start_s * US, end_s * US, b_ds.size)
    b_dur = np.clip(np.exp(rng.normal(np.log(90), 1.0, b_ds.size)), 2, 3000)
    b_inst = world.ds_index_pod[b_ds]
    first_day = start_s // 86400 - 1
    day = np.arange(first_day, end_s // 86400 + 1)
    backed_up = np.nonzero(world.backup_plan)[0]
    k_ten = np.repeat(backed_up, day.size)
    k_day = np.tile(day, backed_up.size)
    k_dur = np.clip(np.exp(rng.normal(np.log(240), 0.5, k_ten.size)), 15, 2400)
    k_end = (k_day * 86400 + 3600 + world.backup_offset_s[k_ten]
             + rng.uniform(-120, 120, k_ten.size) + k_dur)
    k_t = np.round(k_end * US).astype(np.int64)
    keep = (k_t >= start_s * US) & (k_t < end_s * US)
    t_us = np.concatenate([b_t, k_t[keep]])
    order = np.argsort(t_us, kind="stable")
    return {
        "kind": np.concatenate([np.zeros(b_ds.size, int), np.ones(keep.sum(), int)])[order],
        "t_us": t_us[order],
        "dur_s": np.concatenate([b_dur, k_dur[keep]])[order],
        "inst": np.concatenate([b_inst, world.backup_instance[k_ten[keep]]])[order],
        "ds": np.concatenate([b_ds, np.full(keep.sum(), -1)])[order],
        "tenant": np.concatenate([world.ds_tenant[b_ds], k_ten[keep]])[order],
    }


def _memory_trend(inc: Incident, profile: Profile, start_s: int, end_s: int,
                  fixed_start: bool) -> Incident:
    """Fill in the memory trend's model parameters and limit crossings."""
    limit = profile.memory_limit_bytes
    hours = float(inc.expected.get("hours_to_limit_after_end", np.mean(
        profile.crossing_after_end_h)))
    u_end = float(inc.expected.get("fraction_at_end", 0.75))
    if not 0.3 < u_end < 0.9 or hours <= 0:
        raise DataError(
            f"incident {inc.id!r}: fields 'expected.fraction_at_end' ({u_end}) and "
            f"'expected.hours_to_limit_after_end' ({hours}) must be in (0.3, 0.9) and > 0"
        )
    slope = (1 - u_end) * limit / (hours * 3600)
    t0 = inc.start_s
    t_max = (u_end - 0.3) * limit / slope
    step = profile.scrape_interval_s
    if not fixed_start and end_s - t0 > 0.9 * t_max:
        t0 = end_s - int(0.9 * t_max) // step * step
    base = u_end * limit - slope * (end_s - t0)
    if base < 0.25 * limit:
        raise DataError(
            f"incident {inc.id!r}: field 'start' ({iso_z(inc.start)}) is too early for the "
            f"trend to reach {u_end:.0%} at the end and the limit {hours} h later; start at "
            f"or after {iso_z(from_unix(end_s - int(t_max)))}"
        )
    cross = {f: t0 + (f * limit - base) / slope for f in (0.9, 1.0)}
    expected = {
        **inc.expected,
        "limit_bytes": limit, "fraction_at_end": u_end, "hours_to_limit_after_end": hours,
        "base_bytes": round(base), "slope_bytes_per_s": slope, "model": MEMORY_MODEL,
        "crossing_time": {str(f): iso_z(from_unix(round(t))) for f, t in cross.items()},
        "crossing_unix": {str(f): round(t) for f, t in cross.items()},
    }
    return replace(inc, start=from_unix(t0), end=from_unix(end_s), expected=expected)


def _memory(world: World, profile: Profile, grid: Grid, incidents: list[Incident],
            rng: np.random.Generator) -> np.ndarray:
    limit = float(profile.memory_limit_bytes)
    t = grid.times.astype(float)
    n_i = len(world.instances)
    mem = np.empty((n_i, t.size))
    proc_start = np.full(n_i, float(t[0]))
    restart_t = {world.instances.index(i.affects["instance"]): i.start_s
                 for i in incidents if i.kind == "restart"}
    trend = {world.instances.index(i.affects["instance"]): i
             for i in incidents if i.kind == "memory_trend"}
    for i in range(n_i):
        base = limit * rng.uniform(0.33, 0.4)
        since = t - proc_start[i]
        if i in restart_t:
            since = np.where(t > restart_t[i], t - restart_t[i], since)
        load = 0.025 * limit * (seasonality(grid.times) - 1)
        noise = rng.normal(0, 0.003 * limit, t.size)
        if i in trend:
            ex = trend[i].expected
            level = ex["base_bytes"] + ex["slope_bytes_per_s"] * np.maximum(
                0, t - trend[i].start_s)
        else:
            level = base + 0.01 * limit * since / 86400
        mem[i] = np.clip(np.round(level + load + noise), 0.05 * limit, 0.995 * limit)
    return mem


def _requests_frame(world: World, req: Requests, ids: list[str], paths: list[str],
                    versions: list[tuple[str, int]]) -> pd.DataFrame:
    def cat(codes: np.ndarray, names: list[str] | list[str | None]) -> pd.Categorical[str]:
        cats = list(dict.fromkeys(n for n in names if n is not None))
        mapping = np.array([cats.index(n) if n is not None else -1 for n in names])
        return pd.Categorical.from_codes(mapping[codes], categories=pd.Index(cats))

    ep_names = [e.normalized for e in ENDPOINTS]
    ds_names: list[str | None] = [*world.datasets, None]
    err_types: list[str | None] = [*(e.error_type for e in ERRORS), None]
    err_codes: list[str | None] = [*(e.error_code for e in ERRORS), None]
    results = pd.array(np.where(req.results >= 0, req.results, 0), dtype="Int64")
    results[req.results < 0] = pd.NA
    return pd.DataFrame({
        "time": pd.to_datetime(req.t_us, unit="us", utc=True),
        "request_id": ids,
        "method": cat(req.ep, [e.method for e in ENDPOINTS]),
        "path": paths,
        "endpoint": cat(req.ep, ep_names),
        "status_code": req.status.astype(np.int64),
        "duration_s": req.dur_us / US,
        "tenant_id": cat(req.tenant + 1, ["unknown", *world.tenants]),
        "dataset_id": cat(np.where(req.ds >= 0, req.ds, len(world.datasets)), ds_names),
        "search_type": cat(np.where(req.search_type >= 0, req.search_type, 3),
                           [*SEARCH_TYPES, None]),
        "results_count": results,
        "error_type": cat(np.where(req.err >= 0, req.err, len(ERRORS)), err_types),
        "error_code": cat(np.where(req.err >= 0, req.err, len(ERRORS)), err_codes),
        "instance": cat(req.inst, list(world.instances)),
        "version": cat(req.version, [v for v, _ in versions]),
    })


def simulate(profile: str | Profile = "small", seed: int = 7, end: datetime | None = None,
             out_dir: Path | str = Path("demo-data"),
             incidents: list[Incident] | list[dict[str, Any]] | str | Path | None = None,
             progress: bool = False, n_metric_files: int | None = None,
             metrics_dir: Path | str | None = None,
             trace_sample: float | None = None,
             history_end: datetime | None = None) -> SimulationResult:
    """Simulate the service's telemetry and write metrics, logs and ground truth to ``out_dir``.

    Parameters
    ----------
    profile : str or Profile
        ``"small"`` (1 day, 5 tenants, 30 s scrapes) or ``"demo"`` (7 days, 20 tenants, 60 s).
    seed : int
        Everything random derives from it; the same seed gives identical files.
    end : datetime, optional
        End of the window (UTC); default now, floored to the scrape interval.
    out_dir : Path
        Where ``manifest.json``, ``incidents.json``, ``metrics/`` and ``logs/`` go.
    incidents : list of Incident or dicts, or a path to ``incidents.json``, optional
        Inject these instead of the seed's default set (validated; times snap to scrapes).
    progress : bool
        Print each stage's duration.
    n_metric_files : int, optional
        Number of OpenMetrics part files (at least 2; default the profile's
        ``metric_parts``).
    metrics_dir : Path, optional
        Where the OpenMetrics parts go (default ``out_dir/metrics``), e.g. a tmpfs such as
        ``/dev/shm/...``: the parts are throwaway input for promtool and the bulk of the bytes.
        The manifest then lists them by absolute path. ``parts.json`` appears in it once every
        part is final.
    trace_sample : float, optional
        Share of API requests whose traces are exported (head sampling by trace id);
        default 1/8 for ``small``, 1/16 for ``demo``, 1/64 for ``large``. It changes only the
        trace files.
    history_end : datetime, optional
        Split the run into history and a live period: the OpenMetrics parts (the backfill)
        stop at the last scrape at or before this time, while ``result.live`` keeps every
        family whole for the live demo service, so the live data continues the same tenants,
        trends and incidents. The manifest then says ``history_end`` and ``live`` (the live
        horizon, up to ``end``) and each incident in ``incidents.json`` its ``period``
        (``history``, ``live`` or ``history+live``). Logs and traces are written for the
        whole run (the stack splits them at the cut). Without it nothing of this is written
        and the outputs are those of earlier versions, byte for byte.

    Returns
    -------
    SimulationResult

    Raises
    ------
    DataError
        An incident names an unknown kind, tenant, instance or endpoint, or lies outside the
        window; the message names the field.
    ConfigError
        An unknown profile name.

    Examples
    --------
    >>> res = simulate("small", seed=7, out_dir=tmp_path)  # doctest: +SKIP
    >>> res.manifest["counts"]["requests"]  # doctest: +SKIP
    """
    t_begin = time.perf_counter()
    cpu_begin = time.process_time()
    timings: dict[str, float] = {}

    def mark(stage: str) -> None:
        timings[stage] = round(time.perf_counter() - t_begin - sum(timings.values()), 3)
        if progress:
            print(f"simulate: {stage} {timings[stage]:.2f} s", flush=True)

    prof = get_profile(profile)
    step = prof.scrape_interval_s
    if end is None:
        end_dt = _default_end(step)
    else:
        if end.tzinfo is None:
            raise DataError(f"end={end!r} has no time zone: pass an aware UTC datetime")
        e = int(end.timestamp())
        end_dt = from_unix(e - e % step)
    end_s = int(end_dt.timestamp())
    start_s = end_s - prof.duration_s
    hist_s = _history_end(history_end, start_s, end_s, step)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)

    ss = np.random.SeedSequence(seed)
    # spawn(6)'s first five children are spawn(5)'s: the trace stream changes nothing else
    r_world, r_inc, r_traffic, r_metrics, r_ids, r_traces = (np.random.default_rng(s)
                                                             for s in ss.spawn(6))
    world = build_world(prof, r_world)
    if incidents is None:
        incs = place_incidents(prof, world, r_inc, start_s, end_s)
        fixed = False
    else:
        incs = validate_incidents(load_incidents(incidents), world, start_s, end_s, step)
        fixed = True
    incs = [_memory_trend(i, prof, start_s, end_s, fixed) if i.kind == "memory_trend" else i
            for i in incs]
    incs.sort(key=lambda i: (i.start, i.id))
    versions = versions_for(incs, start_s, end_s)

    times = np.arange(start_s, end_s + step, step, dtype=np.int64)
    scraped = np.ones((len(world.instances), times.size), bool)
    restart = None
    for inc in incs:
        i = world.instances.index(inc.affects["instance"]) if "instance" in inc.affects else -1
        if inc.kind == "scrape_gap":
            scraped[i] &= ~((times >= inc.start_s) & (times < inc.end_s))
        if inc.kind == "restart":
            restart = (i, int(np.searchsorted(times, inc.start_s)))
    grid = Grid(times, world.instances, scraped, restart)
    for inc in incs:
        if inc.kind == "scrape_gap":
            i = world.instances.index(inc.affects["instance"])
            inc.expected["missing_scrapes"] = int((~scraped[i]).sum())
        if inc.kind == "restart":
            inc.expected.setdefault("last_scrape_before", iso_z(inc.start))
    mark("setup")

    req = generate_requests(prof, world, incs, r_traffic, start_s, end_s)
    jobs = _jobs(world, r_traffic, start_s, end_s, len(world.instances))
    ids = _request_ids(r_ids, len(req))
    paths = _paths(world, req)
    ratio = tr.sample_ratio(prof.name, trace_sample)
    tids = tr.assign_ids(r_traces, req, ratio)
    mark("requests")

    def trace_job(tmp: Path) -> tuple[list[Path], int, tr.SpanTable]:
        model = tr.TraceModel(world, req, tids, paths, incs, versions, r_traces)
        table = model.build()
        files, n = tr.write_traces(model, tmp)
        return files, n, table

    memory = _memory(world, prof, grid, incs, r_metrics)
    agg = Aggregator(world, grid, req, jobs, incs, versions, memory,
                     prof.memory_limit_bytes, r_metrics)
    families = agg.families()
    live = None
    if hist_s is not None:
        live = LiveCut(hist_s, families, times)
        families = cut_families(families, times, hist_s)
    vectors = agg.vector_counts()
    mark("aggregate")
    m_dir = Path(metrics_dir) if metrics_dir is not None else out / "metrics"
    metric_files, log_files, n_lines, writers, traced = _write_outputs(
        world, req, ids, paths, families, times, out, m_dir,
        n_metric_files if n_metric_files is not None else prof.metric_parts, progress,
        tids, trace_job)
    mark("write")

    frame = _requests_frame(world, req, ids, paths, versions)
    frame["trace_id"] = pd.array([t or None for t in tids.trace_id], dtype="string")
    frame["span_id"] = pd.array([t or None for t in tids.span_id], dtype="string")
    frame["trace_sampled"] = tids.sampled
    trace_files, n_trace_lines, table = traced
    spans = table.frame()
    for inc in incs:
        inc.expected["spans"] = tr.incident_spans(inc, spans, frame, ratio)
        if inc.kind in tr.NOT_IN_TRACES:
            inc.expected["spans_note"] = tr.NOT_IN_TRACES[inc.kind]
    manifest = _manifest(prof, seed, start_s, end_s, world, versions, out, metric_files,
                         log_files, len(req), n_lines, families, vectors)
    manifest["files"]["traces"] = [str(p.relative_to(out)) for p in trace_files]
    manifest["counts"].update(traces=int(tids.sampled.sum()), spans=len(table),
                              trace_lines=n_trace_lines)
    manifest["traces"] = {
        "service": tr.SERVICE, "sample_ratio": ratio,
        "sampler": f"TraceIdRatioBased({ratio:g}): exported when the lower 64 bits of the "
                   "trace id are below ratio * 2**64 (the Python SDK's rule)",
        "traced_requests": int(tids.traced.sum()),
        "not_traced": "GET /health (an excluded URL of the FastAPI instrumentation)",
        "format": "OTLP JSON lines as the OpenTelemetry Collector file exporter writes them",
    }
    inc_json = [i.to_json() for i in incs]
    if hist_s is not None:
        manifest.update(_split_manifest(hist_s, end_s))
        for doc, inc in zip(inc_json, incs, strict=True):
            doc["period"] = incident_period(inc, hist_s)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    (out / "incidents.json").write_text(json.dumps(inc_json, indent=2) + "\n")
    jobs_frame = pd.DataFrame({
        "time": pd.to_datetime(jobs["t_us"], unit="us", utc=True),
        "kind": np.where(jobs["kind"] == 0, "index_build", "backup"),
        "instance": [world.instances[i] for i in jobs["inst"]],
        "tenant_id": [world.tenants[t] for t in jobs["tenant"]],
        "dataset_id": [world.datasets[d] if d >= 0 else None for d in jobs["ds"]],
        "duration_s": jobs["dur_s"],
    })
    mark("manifest")
    timings.update(writers)
    timings["total"] = round(time.perf_counter() - t_begin, 3)
    timings["cpu"] = round(time.process_time() - cpu_begin, 3)
    return SimulationResult(out, manifest, incs, frame, jobs_frame, timings, spans, live)


def _history_end(history_end: datetime | None, start_s: int, end_s: int,
                 step: int) -> int | None:
    """``history_end`` as unix seconds on the scrape grid (floored), checked in the window."""
    if history_end is None:
        return None
    if history_end.tzinfo is None:
        raise DataError(f"history_end={history_end!r} has no time zone: pass an aware UTC "
                        "datetime")
    h = int(history_end.timestamp())
    h -= (h - start_s) % step
    if not start_s < h <= end_s:
        raise DataError(
            f"history_end={iso_z(history_end)} is outside the simulated window "
            f"{iso_z(from_unix(start_s))} .. {iso_z(from_unix(end_s))}: give a time after "
            "its start and not after 'end'")
    return h


def _split_manifest(hist_s: int, end_s: int) -> dict[str, Any]:
    """The manifest's history/live keys (only written when the run is split)."""
    return {
        "history_end": iso_z(from_unix(hist_s)), "history_end_unix": hist_s,
        "live": {"start": iso_z(from_unix(hist_s)), "end": iso_z(from_unix(end_s)),
                 "start_unix": hist_s, "end_unix": end_s,
                 "note": "the OpenMetrics parts end at history_end; the live demo service "
                         "serves the simulation from there to live.end in real time"},
    }


def incident_period(inc: Incident, hist_s: int) -> str:
    """``history``, ``live`` or ``history+live``: where an incident falls around the cut."""
    if inc.end_s <= hist_s and inc.start_s < hist_s:
        return "history"
    if inc.start_s >= hist_s:
        return "live"
    return "history+live"


def _rel(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` when inside it, else absolute."""
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path.resolve())


TraceJob = Callable[[Path], tuple[list[Path], int, tr.SpanTable]]


def _write_outputs(world: World, req: Requests, ids: list[str], paths: list[str],
                   families: list[FamilyData], times: np.ndarray, out: Path, m_dir: Path,
                   n_parts: int, progress: bool, tids: tr.TraceIds, trace_job: TraceJob,
                   ) -> tuple[list[Path], list[Path], int, dict[str, float],
                              tuple[list[Path], int, tr.SpanTable]]:
    """Write the OpenMetrics parts, and the logs then the traces, at the same time.

    The parts are written by pyarrow threads that release the GIL, the logs and traces by
    Python string formatting in another thread, so the two overlap on two cores. Completion
    signals, in this order: every part ends in ``# EOF`` and ``parts.json`` lists them (the
    parts are final); the trace files, written into ``traces.tmp/``, are renamed to
    ``traces/``; then the log files, written into ``logs.tmp/``, are renamed to ``logs/``
    (so a ``logs/`` directory means the parts are final and every log and trace file is
    complete).
    """
    (m_dir / "parts.json").unlink(missing_ok=True)
    tmp_logs = out / "logs.tmp"
    tmp_traces = out / "traces.tmp"
    shutil.rmtree(tmp_logs, ignore_errors=True)
    shutil.rmtree(tmp_traces, ignore_errors=True)
    took: dict[str, float] = {}
    traced: list[tuple[list[Path], int, tr.SpanTable]] = []

    def logs_job() -> tuple[list[Path], int]:
        t0 = time.perf_counter()
        files, n = write_logs(world, req, ids, paths, tmp_logs, tids)
        took["write_logs"] = round(time.perf_counter() - t0, 3)
        t0 = time.perf_counter()
        traced.append(trace_job(tmp_traces))
        took["write_traces"] = round(time.perf_counter() - t0, 3)
        return files, n

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="sim-logs") as pool:
        logs_fut = pool.submit(logs_job)
        t0 = time.perf_counter()
        metric_files = write_openmetrics(families, times, m_dir, n_parts)
        tmp = m_dir / "parts.json.tmp"
        tmp.write_text(json.dumps({"parts": [p.name for p in metric_files],
                                   "samples": sum(f.n_samples for f in families)}) + "\n")
        tmp.replace(m_dir / "parts.json")
        took["write_openmetrics"] = round(time.perf_counter() - t0, 3)
        if progress:
            print(f"simulate: openmetrics parts final {took['write_openmetrics']:.2f} s",
                  flush=True)
        tmp_files, n_lines = logs_fut.result()
    t_files, n_t, table = traced[0]
    t_final = out / "traces"
    shutil.rmtree(t_final, ignore_errors=True)
    tmp_traces.mkdir(exist_ok=True)
    tmp_traces.replace(t_final)
    final = out / "logs"
    shutil.rmtree(final, ignore_errors=True)
    tmp_logs.replace(final)
    return (metric_files, [final / p.name for p in tmp_files], n_lines, took,
            ([t_final / p.name for p in t_files], n_t, table))


def _manifest(prof: Profile, seed: int, start_s: int, end_s: int, world: World,
              versions: list[tuple[str, int]], out: Path, metric_files: list[Path],
              log_files: list[Path], n_requests: int, n_lines: int,
              families: list[FamilyData], vectors: np.ndarray) -> dict[str, Any]:
    fam_counts = {f.name: {"series": f.n_series, "samples": f.n_samples} for f in families}
    return {
        "profile": prof.name,
        "seed": seed,
        "start": iso_z(from_unix(start_s)),
        "end": iso_z(from_unix(end_s)),
        "start_unix": start_s,
        "end_unix": end_s,
        "scrape_interval_s": prof.scrape_interval_s,
        "instances": list(world.instances),
        "tenants": list(world.tenants),
        "datasets": {t: world.datasets_of(j) for j, t in enumerate(world.tenants)},
        "versions": [{"version": v, "start": iso_z(from_unix(s)), "start_unix": s}
                     for v, s in versions],
        "files": {"metrics": [_rel(p, out) for p in metric_files],
                  "logs": [str(p.relative_to(out)) for p in log_files]},
        "counts": {"requests": n_requests, "log_lines": n_lines,
                   "series": sum(c["series"] for c in fam_counts.values()),
                   "samples": sum(c["samples"] for c in fam_counts.values())},
        "family_counts": fam_counts,
        "memory_limit_bytes": prof.memory_limit_bytes,
        "truth": {
            "datasets_total": {t: len(world.datasets_of(j)) for j, t in enumerate(world.tenants)},
            "vectors_total_at_end": {d: int(vectors[j, -1])
                                     for j, d in enumerate(world.datasets)},
        },
    }


__all__ = ["EP", "SimulationResult", "incident_period", "simulate"]
