"""``tributary demo up | down | status``: the local stack's life cycle.

``up`` launches Elasticsearch, simulates the telemetry (or reuses a simulation), backfills
Prometheus with promtool as soon as the metric parts are written, loads the logs into
Elasticsearch while promtool runs, starts Prometheus and writes ``stack.json``. If any step
fails, everything started so far is stopped.
``down`` stops exactly the PIDs recorded in ``stack.json`` and nothing else.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from tributary_analysis.demo.aggregate import LiveCut
from tributary_analysis.demo.profiles import get_profile
from tributary_analysis.errors import StackError
from tributary_analysis.ground.time import iso, parse_time
from tributary_analysis.stack import elasticsearch as es_mod
from tributary_analysis.stack import es_logs, procs, prometheus, state
from tributary_analysis.stack import jaeger as jaeger_mod
from tributary_analysis.stack import live as live_stack

Echo = Callable[[str], None]


@dataclass
class UpResult:
    """What ``up`` started and how long each step took (seconds)."""

    state: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)


def read_manifest(out_dir: Path) -> dict[str, Any]:
    """The simulator's ``manifest.json`` with file paths made absolute."""
    path = out_dir / "manifest.json"
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise StackError(f"cannot read the simulation manifest {path}: {exc}; re-run "
                         "'tributary demo up'") from exc
    files = manifest.get("files", {})
    for kind in ("metrics", "logs", "traces"):
        files[kind] = [str(p if Path(p).is_absolute() else out_dir / p)
                       for p in files.get(kind, [])]
    manifest["files"] = files
    return manifest


def start_prometheus(
    manifest: dict[str, Any], data_dir: Path, *, port: int | None = None, version: str = "2",
    **config: Any,
) -> tuple[dict[str, Any], prometheus.BackfillReport]:
    """Backfill the manifest's metric parts into ``data_dir/prometheus`` and start it.

    ``version`` is the server line (``"2"`` Debian's 2.42, ``"3"`` the Go build of 3.16);
    the backfill uses the promtool of the same line. ``config`` goes to
    :func:`start_prometheus_on`.
    """
    tsdb = data_dir / "prometheus" / "data"
    shutil.rmtree(tsdb, ignore_errors=True)
    tsdb.mkdir(parents=True)
    report = prometheus.backfill([Path(p) for p in manifest["files"]["metrics"]], tsdb,
                                 version=version)
    return start_prometheus_on(manifest, data_dir, port=port, version=version,
                               **config), report


def start_prometheus_on(
    manifest: dict[str, Any], data_dir: Path, *, port: int | None = None, version: str = "2",
    scrape_targets: tuple[tuple[str, dict[str, str]], ...] = (),
    rule_files: tuple[Path, ...] = (),
    remote_write: bool | None = None, scrape_interval_s: int = 15,
    echo: Echo | None = None, ooo_hours: float = 0.0,
) -> dict[str, Any]:
    """Start Prometheus on the already backfilled ``data_dir/prometheus/data``.

    Version 3 gets the remote-write receiver and an out-of-order window covering the whole
    history (so simulated native histograms can be written into the past) unless
    ``remote_write=False``; ``scrape_targets`` and ``rule_files`` make it scrape the live
    demo service and evaluate the seed's rules.
    """
    version = prometheus.check_version(version)
    v3 = version == "3"
    tsdb = data_dir / "prometheus" / "data"
    port = port or procs.free_port()
    start = parse_time(manifest["start"], name="manifest start")
    retention = prometheus.retention_for(start.to_pydatetime())
    rw = v3 if remote_write is None else remote_write
    ooo = None
    if rw and v3:
        age_h = (datetime.now(UTC) - start.to_pydatetime()).total_seconds() / 3600
        ooo = f"{int(age_h + ooo_hours) + 48}h"
    config = prometheus.write_config(
        data_dir / "prometheus" / "prometheus.yml", port=port, version=version,
        scrape_interval_s=scrape_interval_s, scrape_targets=scrape_targets,
        rule_files=rule_files, out_of_order_window=ooo, nhcb=v3 and bool(scrape_targets),
        retention=retention if v3 else None)
    ref = prometheus.start(tsdb, port=port, retention=retention, config=config,
                           log_path=data_dir / "prometheus" / "prometheus.log",
                           version=version, remote_write_receiver=rw, echo=echo)
    url = f"http://127.0.0.1:{port}"
    info = prometheus.buildinfo(url)
    return {"url": url, "port": port, "process": ref.to_dict(), "data_dir": str(tsdb),
            "retention": retention, "version": info.get("version"), "line": version,
            "remote_write": rw, "config": str(config)}


@dataclass
class EsHandle:
    """A starting or started Elasticsearch node and its credentials."""

    inst: es_mod.Instance
    launcher: procs.ProcessRef
    admin: es_mod.Credentials
    reader: es_mod.Credentials

    def server(self) -> procs.ProcessRef | None:
        return es_mod.server_ref(self.inst)

    def stop(self, *, remove: bool = False) -> None:
        """Stop the node; with ``remove`` also delete its instance directory."""
        es_mod.stop_instance(self.launcher, self.server())
        if remove:
            shutil.rmtree(self.inst.root, ignore_errors=True)

    def client(self, creds: es_mod.Credentials | None = None) -> Any:
        from elasticsearch import Elasticsearch, OrjsonSerializer

        c = creds or self.admin
        return Elasticsearch(self.inst.url, basic_auth=c.as_tuple(), request_timeout=120,
                             serializer=OrjsonSerializer())


def launch_elasticsearch(*, http_port: int | None = None, heap: str = "1g") -> EsHandle:
    """Fetch, install and launch a fresh node (returns before it is ready)."""
    base = es_mod.base_dir()
    zip_path = es_mod.fetch_distribution(base / "cache")
    user = es_mod.ensure_user()
    for d in (base, base / "dist", base / "instances"):
        d.mkdir(parents=True, exist_ok=True)
        d.chmod(0o755)
    home = es_mod.install_distribution(zip_path, base / "dist")
    jdk = es_mod.find_jdk()
    http_port = http_port or procs.free_port()
    if not procs.port_is_free(http_port):
        raise StackError(f"port {http_port} on 127.0.0.1 is in use; choose another with "
                         "--es-port or leave it out to pick a free one")
    transport_port = procs.free_port()
    root = Path(tempfile.mkdtemp(prefix="es-", dir=base / "instances"))
    admin = es_mod.Credentials(es_mod.ADMIN_USER, es_mod.new_password())
    reader = es_mod.Credentials(es_mod.READER_USER, es_mod.new_password())
    inst = es_mod.prepare_instance(home, root, http_port=http_port,
                                   transport_port=transport_port, admin=admin, reader=reader,
                                   heap=heap, user=user)
    launcher = es_mod.start(inst, jdk=jdk, user=user)
    return EsHandle(inst, launcher, admin, reader)


def es_state(handle: EsHandle) -> dict[str, Any]:
    """The ``elasticsearch`` section of ``stack.json`` (no secrets)."""
    server = handle.server()
    return {"url": handle.inst.url, "port": handle.inst.http_port,
            "process": handle.launcher.to_dict(),
            "server_process": server.to_dict() if server else None,
            "instance_dir": str(handle.inst.root), "index_pattern": es_mod.INDEX_PATTERN,
            "reader_username": handle.reader.username, "version": es_mod.ES_VERSION}


def running(home: Path) -> list[str]:
    """Names of the stack's servers recorded in ``stack.json`` that are still running."""
    st = state.read_state(home)
    alive = []
    for name in ("prometheus", "elasticsearch", "jaeger", "live"):
        for key in ("process", "server_process"):
            ref = (st.get(name) or {}).get(key)
            if ref and procs.is_running(procs.ProcessRef.from_dict(ref)):
                alive.append(name)
                break
    return alive


def metric_parts_complete(metrics_dir: Path) -> list[Path] | None:
    """The OpenMetrics parts once the simulator has finished writing them, else None.

    ``simulate()`` writes ``parts.json`` (atomically, by rename) only when every part is
    final, so promtool can start while the simulator is still writing logs.
    """
    listing = metrics_dir / "parts.json"
    try:
        names = json.loads(listing.read_text())["parts"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [metrics_dir / name for name in names] or None


#: free memory needed before the throwaway OpenMetrics parts go to a tmpfs, besides the
#: parts themselves (the simulator, promtool and the servers need the rest)
SCRATCH_MIN_AVAILABLE = 12 * 1024**3
SCRATCH_MARGIN = 6 * 1024**3


def scratch_metrics_dir(data_dir: Path, parts_gb: float = 6.0) -> Path | None:
    """A directory on ``/dev/shm`` for the OpenMetrics parts when memory allows, else None.

    The parts are read once by promtool and deleted after the backfill; writing gigabytes of
    them to disk is what made the demo profile slow (disk-bound at ~100 MB/s). ``parts_gb``
    is the profile's size of them (``Profile.parts_gb``): memory must hold them plus
    :data:`SCRATCH_MARGIN`, and at least :data:`SCRATCH_MIN_AVAILABLE` (the ``large``
    profile's ~17 GB go to disk on a 24 GB machine).
    """
    shm = Path("/dev/shm")
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        return None
    try:
        meminfo = Path("/proc/meminfo").read_text()
        kb = int(next(line.split()[1] for line in meminfo.splitlines()
                      if line.startswith("MemAvailable:")))
    except (OSError, StopIteration, ValueError):
        return None
    if kb * 1024 < max(SCRATCH_MIN_AVAILABLE, parts_gb * 1024**3 + SCRATCH_MARGIN):
        return None
    digest = hashlib.sha1(str(data_dir).encode()).hexdigest()[:12]
    return shm / f"tributary-metrics-{digest}"


class _LoadProgress:
    """A progress line for the log load, at most every ``every`` seconds."""

    def __init__(self, echo: Echo, every: float = 10.0) -> None:
        self.echo, self.every, self.last = echo, every, time.monotonic()

    def __call__(self, report: es_logs.LoadReport, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        self.last = now
        pct = 100.0 * done / total if total else 100.0
        self.echo(f"  loading logs into Elasticsearch: {pct:3.0f} % ({report.indexed:,} "
                  f"documents, {report.docs_per_s:,.0f} docs/s)")


def _simulate(kw: dict[str, Any]) -> LiveCut | None:
    """Run the simulator; with ``history_end`` the parts stop there and the whole families
    come back for the live service (the rest of the result is dropped: it is on disk)."""
    from tributary_analysis.demo import simulate

    return simulate(**kw).live


def _load_spans(server: jaeger_mod.JaegerServer, manifest: dict[str, Any],
                cut: LiveCut | None, data_dir: Path, echo: Echo) -> dict[str, Any]:
    """Load the simulated spans (up to the cut) into Jaeger through OTLP/HTTP."""
    files = [Path(p) for p in manifest.get("files", {}).get("traces", [])]
    try:
        from tributary_analysis.demo import otlp
    except ImportError:
        echo(f"Jaeger {server.version} ready on {server.query_url}; it holds no traces (this "
             "build has no OTLP loader for the simulated spans)")
        return {"spans": 0, "note": "no OTLP loader"}
    if not files:
        echo(f"Jaeger {server.version} ready on {server.query_url}; the simulation wrote no "
             "traces, so it holds none")
        return {"spans": 0, "note": "no traces simulated"}
    if cut is not None:
        files = _traces_until(files, cut.cutoff_s, data_dir / "jaeger" / "history")
    report = otlp.load_otlp(files, server.otlp_http_url)
    echo(f"Jaeger {server.version} ready on {server.query_url}: {report.spans:,} spans loaded "
         f"({report.rejected:,} rejected) in {report.seconds:.1f} s")
    return {"spans": report.spans, "rejected": report.rejected,
            "seconds": round(report.seconds, 2)}


def _traces_until(files: list[Path], cutoff_s: int, out: Path) -> list[Path]:
    """Copies of OTLP JSON lines whose spans all start before ``cutoff_s`` (history only)."""
    import orjson

    out.mkdir(parents=True, exist_ok=True)
    limit = cutoff_s * 1_000_000_000
    result = []
    for path in files:
        target = out / path.name
        with open(path, "rb") as src, open(target, "wb") as dst:
            for line in src:
                if not line.strip():
                    continue
                doc = orjson.loads(line)
                starts = [int(sp["startTimeUnixNano"]) for rs in doc.get("resourceSpans", [])
                          for ss in rs.get("scopeSpans", []) for sp in ss.get("spans", [])]
                if starts and max(starts) < limit:
                    dst.write(line)
        result.append(target)
    return result


def up(
    *, home: Path, profile: str = "small", seed: int = 7, prom_port: int | None = None,
    es_port: int | None = None, elasticsearch: bool = True, data_dir: Path | None = None,
    sim_dir: Path | None = None, echo: Echo = lambda _msg: None,
    prometheus_version: str = prometheus.DEFAULT_VERSION, live: bool = True,
    live_hours: float = live_stack.DEFAULT_LIVE_HOURS, incidents: Any = None,
    jaeger: bool = True,
) -> UpResult:
    """Bring the demo stack up; see the module docstring for the steps.

    Work overlaps on purpose: Elasticsearch boots while the simulator runs; promtool starts
    as soon as the simulator's metric parts are final (while it still writes logs); the logs
    load while promtool backfills. Prometheus is reported (and recorded in ``stack.json``)
    as soon as it is ready; the log load goes on with a progress line.

    ``sim_dir`` reuses an existing simulation (its ``manifest.json``) instead of simulating.
    ``prometheus_version`` is ``"3"`` (3.16, built from the Go module once and cached; the
    build prints progress) or ``"2"`` (Debian's 2.42).

    With ``live`` (not with ``sim_dir``) the simulation runs ``live_hours`` past now: the
    backfill stops at now and the live demo service (:mod:`~tributary_analysis.stack.live`)
    serves the rest in real time, scraped by Prometheus with the seed's job and rules.
    ``incidents`` replaces the seed's incident schedule (e.g. one inside the live period).
    ``jaeger`` starts Jaeger v2 (built once) and loads the simulated spans into it.
    """

    pver = prometheus.check_version(prometheus_version)
    alive = running(home)
    if alive:
        raise StackError(f"the demo stack in {home} is already running ({', '.join(alive)}); "
                         "run 'tributary demo down' first")
    data_dir = (data_dir or home / "demo").resolve()
    reuse = sim_dir is not None
    if sim_dir is not None:
        sim_dir = sim_dir.resolve()
        if not (sim_dir / "manifest.json").is_file():
            raise StackError(f"{sim_dir} holds no simulation (manifest.json is missing); "
                             "leave out --sim-dir to simulate")
    else:
        sim_dir = data_dir / "sim"
    timings: dict[str, float] = {}
    t_all = time.monotonic()
    if pver == "3":  # the build (minutes, once per machine) before anything is started
        t0 = time.monotonic()
        prometheus.find_binary("promtool", pver, echo=echo)
        timings["prometheus_build"] = time.monotonic() - t0
    live = live and not reuse
    es: EsHandle | None = None
    prom_ref: procs.ProcessRef | None = None
    live_ref: procs.ProcessRef | None = None
    jaeger_server: jaeger_mod.JaegerServer | None = None
    cut: LiveCut | None = None
    jaeger_fut: Future[jaeger_mod.JaegerServer] | None = None
    pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="demo-up")
    backfill_fut: Future[prometheus.BackfillReport] | None = None
    load_fut: Future[es_logs.LoadReport] | None = None
    tsdb = data_dir / "prometheus" / "data"
    scratch: Path | None = None
    client: Any = None
    try:
        if elasticsearch:
            t0 = time.monotonic()
            es = launch_elasticsearch(http_port=es_port)
            timings["elasticsearch_launch"] = time.monotonic() - t0
            echo(f"Elasticsearch {es_mod.ES_VERSION} starting on {es.inst.url} ...")
        if jaeger:
            jaeger_fut = pool.submit(jaeger_mod.start, data_dir / "jaeger", echo=echo)
        shutil.rmtree(tsdb, ignore_errors=True)
        tsdb.mkdir(parents=True)
        t0 = time.monotonic()
        if reuse:
            backfill_fut = pool.submit(prometheus.backfill, [Path(p) for p in read_manifest(
                sim_dir)["files"]["metrics"]], tsdb, version=pver)
        else:
            shutil.rmtree(sim_dir, ignore_errors=True)
            sim_dir.mkdir(parents=True)
            prof = get_profile(profile)
            scratch = scratch_metrics_dir(data_dir, prof.parts_gb)
            if scratch is not None:
                shutil.rmtree(scratch, ignore_errors=True)
            metrics_dir = scratch or sim_dir / "metrics"
            sim_kw: dict[str, Any] = {"profile": profile, "seed": seed, "out_dir": sim_dir,
                                      "metrics_dir": scratch, "incidents": incidents}
            sim_fut: Future[LiveCut | None]
            if live:  # the profile's whole history, then the live horizon
                step = prof.scrape_interval_s
                cutoff = int(time.time()) // step * step
                horizon = int(live_hours * 3600) // step * step
                sim_kw["profile"] = replace(prof, days=prof.days + horizon / 86400)
                sim_kw["end"] = datetime.fromtimestamp(cutoff + horizon, tz=UTC)
                sim_kw["history_end"] = datetime.fromtimestamp(cutoff, tz=UTC)
            sim_fut = pool.submit(_simulate, sim_kw)
            while not sim_fut.done():
                parts = metric_parts_complete(metrics_dir)
                if parts is not None and backfill_fut is None:
                    timings["metrics_written"] = time.monotonic() - t0
                    backfill_fut = pool.submit(prometheus.backfill, parts, tsdb,
                                               version=pver)
                time.sleep(0.2)
            cut = sim_fut.result()
            timings["simulate"] = time.monotonic() - t0
            echo(f"simulated profile {profile!r} (seed {seed}) in {timings['simulate']:.1f} s")
        manifest = read_manifest(sim_dir)
        plan: live_stack.LivePlan | None = None
        if cut is not None:
            plan = live_stack.prepare(cut, manifest, data_dir, es_home=home if es else None,
                                      es_url=es.inst.url if es else None)
            manifest["files"]["logs"] = [str(p) for p in plan.history_logs]
            cut.families = []  # the plan holds the live slice; give the rest back
        if backfill_fut is None:
            backfill_fut = pool.submit(prometheus.backfill,
                                       [Path(p) for p in manifest["files"]["metrics"]], tsdb,
                                       version=pver)
        st: dict[str, Any] = {
            "started_at": datetime.now(UTC).isoformat(), "profile": manifest.get("profile",
                                                                                 profile),
            "seed": manifest.get("seed", seed), "data_dir": str(data_dir),
            "sim_dir": str(sim_dir),
            "logs": {"files": str(Path(manifest["files"]["logs"][0]).parent / "*.jsonl")
                     if manifest["files"]["logs"] else None},
            "window": {"start": manifest.get("start"), "end": manifest.get("end")},
            # the OTLP files of the whole run (history and live horizon: trace files need
            # no split, a question's window selects the spans)
            "traces": {"files": str(Path(manifest["files"]["traces"][0]).parent / "*.jsonl")
                       if manifest["files"].get("traces") else None},
        }
        if plan is not None:
            st["window"]["end"] = iso(pd.Timestamp(plan.state.cutoff_s, unit="s"))
            st["window"]["live_until"] = manifest.get("end")
        if es is not None:
            t0 = time.monotonic()
            es_mod.wait_ready(es.inst, es.launcher, es.admin)
            timings["elasticsearch_ready_wait"] = time.monotonic() - t0
            st["elasticsearch"] = es_state(es)
            state.write_state(home, st)  # written early so 'down' can clean up a failed 'up'
            es_mod.write_reader_config(home, es.reader, es.inst.url)
            es_mod.write_admin_file(home, es.admin, es.inst.url)
            echo(f"Elasticsearch ready on {es.inst.url}; loading "
                 f"{manifest.get('counts', {}).get('log_lines', 0):,} log lines ...")
            client = es.client()
            load_fut = pool.submit(es_logs.load_logs, client,
                                   [Path(p) for p in manifest["files"]["logs"]],
                                   progress=_LoadProgress(echo))
        t0 = time.monotonic()
        try:
            backfill = backfill_fut.result()
        finally:
            if scratch is not None:  # throwaway parts on the tmpfs: give the memory back
                shutil.rmtree(scratch, ignore_errors=True)
        timings["backfill"] = backfill.seconds
        if plan is not None:
            live_ref = live_stack.start_service(plan)
            st["live"] = {"process": live_ref.to_dict(), "state_dir": str(plan.state_dir),
                          "targets": [t for t, _ in plan.targets()],
                          "instances": list(plan.instances)}
            state.write_state(home, st)
        prom_info = start_prometheus_on(manifest, data_dir, port=prom_port, version=pver,
                                        echo=echo, remote_write=True if plan else None,
                                        ooo_hours=live_hours if plan else 0.0)
        prom_ref = procs.ProcessRef.from_dict(prom_info["process"])
        if plan is not None:
            st["live"].update(live_stack.connect(plan, prom_info, manifest, data_dir,
                                                 echo=echo))
        timings["prometheus_ready"] = time.monotonic() - t_all
        st["prometheus"] = prom_info
        state.write_state(home, st)
        echo(f"Prometheus {prom_info['version']} ready on {prom_info['url']} "
             f"({backfill.blocks} blocks from "
             f"{backfill.parts} parts in {backfill.seconds:.1f} s), "
             f"{timings['prometheus_ready']:.0f} s after start")
        if jaeger_fut is not None:
            jaeger_server = jaeger_fut.result()
            st["jaeger"] = jaeger_server.to_dict()
            state.write_state(home, st)
            st["jaeger"]["load"] = _load_spans(jaeger_server, manifest, cut, data_dir, echo)
            state.write_state(home, st)
        if load_fut is not None and es is not None:
            report = load_fut.result()
            timings["load_logs"] = report.seconds
            st["elasticsearch"]["load"] = {"docs": report.indexed, "lines": report.lines,
                                           "docs_per_s": round(report.docs_per_s),
                                           "indices": len(report.indices)}
            echo(report.summary())
        timings["total"] = time.monotonic() - t_all
        st["timings"] = {k: round(v, 2) for k, v in timings.items()}
        state.write_state(home, st)
        return UpResult(st, timings)
    except BaseException:
        if es is not None:  # first: a running load then fails at once instead of finishing
            es.stop(remove=True)
        for fut in (backfill_fut, load_fut):
            if fut is not None:
                fut.cancel()
                with contextlib.suppress(BaseException):
                    fut.result()
        if prom_ref is not None:
            procs.stop(prom_ref)
        if live_ref is not None:
            procs.stop(live_ref)
        if jaeger_fut is not None:
            with contextlib.suppress(BaseException):
                jaeger_server = jaeger_server or jaeger_fut.result()
        if jaeger_server is not None:
            jaeger_mod.stop(jaeger_server)
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        state.clear_state(home)
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if client is not None:
            client.close()


def down(home: Path, *, keep_data: bool = False, echo: Echo = lambda _msg: None) -> list[str]:
    """Stop exactly the processes recorded in ``stack.json``; return what was stopped."""
    st = state.read_state(home)
    if not st:
        echo(f"no demo stack recorded in {home}")
        return []
    stopped: list[str] = []
    es_info = st.get("elasticsearch") or {}
    if es_info:
        server = es_info.get("server_process")
        es_mod.stop_instance(
            procs.ProcessRef.from_dict(es_info["process"]),
            procs.ProcessRef.from_dict(server) if server else None)
        stopped.append("elasticsearch")
        inst_dir = es_info.get("instance_dir")
        if inst_dir and not keep_data and Path(inst_dir).parent == es_mod.base_dir() / \
                "instances":
            shutil.rmtree(inst_dir, ignore_errors=True)
    prom = st.get("prometheus") or {}
    if prom.get("process"):
        procs.stop(procs.ProcessRef.from_dict(prom["process"]))
        stopped.append("prometheus")
    live_info = st.get("live") or {}
    if live_info.get("process"):
        procs.stop(procs.ProcessRef.from_dict(live_info["process"]))
        stopped.append("live demo service")
    jaeger_info = st.get("jaeger") or {}
    if jaeger_info.get("process"):
        jaeger_mod.stop(jaeger_mod.JaegerServer.from_dict(jaeger_info))
        stopped.append("jaeger")
    state.clear_state(home)
    for name in stopped:
        echo(f"stopped {name}")
    return stopped


def status(home: Path) -> dict[str, Any]:
    """The recorded stack with a live ``running`` flag per server (and the live heartbeat)."""
    st = state.read_state(home)
    live_info = st.get("live")
    if isinstance(live_info, dict) and live_info.get("state_dir"):
        live_info["heartbeat"] = live_stack.status(Path(live_info["state_dir"]))
    for name in ("prometheus", "elasticsearch", "jaeger", "live"):
        info = st.get(name)
        if isinstance(info, dict):
            refs = [info.get("process"), info.get("server_process")]
            info["running"] = any(procs.is_running(procs.ProcessRef.from_dict(r))
                                  for r in refs if r)
    return st
