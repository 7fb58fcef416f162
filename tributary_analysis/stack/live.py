"""Wiring the live demo service into the stack: prepare, start, connect Prometheus, stop.

Order matters so that the history and the live data join without a hole and without
out-of-order samples:

1. :func:`prepare` (after the simulation): log lines after the cut move to a pending file,
   the families from the cut on are saved for the service, three loopback ports are chosen.
2. :func:`start_service`: the exporter process (one listener per replica).
3. Prometheus starts on the backfill *without* the live job.
4. :func:`connect`: the grid samples between the cut and now are remote-written (so there is
   no hole while ``demo up`` was busy), then the config gains the seed's ``deeplake-api`` job
   (one target per replica, ``instance`` set to the replica's name) and the seed's
   ``alert_rules.yml``, and Prometheus reloads it (SIGHUP): its first live scrape is newer
   than every filled sample, and it now evaluates the rules, so ``ALERTS`` and
   ``ALERTS_FOR_STATE`` exist.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from tributary_analysis.demo import live as live_mod
from tributary_analysis.demo import remote_write
from tributary_analysis.demo.aggregate import LiveCut
from tributary_analysis.errors import StackError
from tributary_analysis.promql.rules import seed_rules_path
from tributary_analysis.stack import procs, prometheus

Echo = Callable[[str], None]
#: how long the live service goes on after ``demo up`` by default
DEFAULT_LIVE_HOURS = 24.0
#: the seed's prometheus.yml scrapes the service every 15 s and evaluates every 15 s
SEED_SCRAPE_INTERVAL_S = 15


@dataclass
class LivePlan:
    """What :func:`prepare` set up for the service."""

    state_dir: Path
    ports: list[int]
    instances: tuple[str, ...]
    history_logs: list[Path]
    state: live_mod.LiveState

    def targets(self) -> list[tuple[str, dict[str, str]]]:
        """Scrape targets, one per replica, labelled with the replica's instance name."""
        return [(f"127.0.0.1:{p}", {"instance": inst})
                for p, inst in zip(self.ports, self.instances, strict=True)]


def prepare(cut: LiveCut, manifest: dict[str, Any], data_dir: Path, *,
            es_home: Path | None = None, es_url: str | None = None) -> LivePlan:
    """Split the logs at the cut and save the service's state under ``data_dir/live``."""
    state_dir = data_dir / "live"
    instances = tuple(manifest["instances"])
    state = live_mod.slice_cut(cut, instances)
    logs = [Path(p) for p in manifest["files"].get("logs", [])]
    pending = state_dir / "pending.jsonl"
    state_dir.mkdir(parents=True, exist_ok=True)
    kept = live_mod.split_logs(logs, cut.cutoff_s, pending) if logs else []
    ports: list[int] = []
    while len(ports) < len(instances):
        p = procs.free_port()
        if p not in ports:
            ports.append(p)
    log_dir = Path(logs[0]).parent if logs else data_dir / "sim" / "logs"
    live_mod.save_state(state_dir, state, pending_logs=pending if logs else None, info={
        "ports": ports, "log_dir": str(log_dir),
        "es_home": str(es_home) if es_home else None, "es_url": es_url})
    return LivePlan(state_dir, ports, instances, kept, state)


def start_service(plan: LivePlan, *, timeout: float = 60.0) -> procs.ProcessRef:
    """Start the exporter detached; return once every replica's listener answers."""
    marker = f"{live_mod.MARKER}{plan.state_dir}"
    ref = procs.start_detached([sys.executable, "-m", "tributary_analysis.demo.live", marker],
                               log_path=plan.state_dir / "live.log", marker=marker,
                               cwd=plan.state_dir)
    try:
        for port in plan.ports:  # 503 is a replica inside a simulated scrape gap: it answers
            procs.wait_http(f"http://127.0.0.1:{port}/metrics", ref=ref,
                            name="the live demo service", timeout=timeout,
                            ready=lambda r: r.status_code in (200, 503))
    except StackError:
        procs.stop(ref)
        raise
    return ref


def connect(plan: LivePlan, prom_info: dict[str, Any], manifest: dict[str, Any],
            data_dir: Path, *, echo: Echo = lambda _m: None) -> dict[str, Any]:
    """Fill the cut→now samples, then make Prometheus scrape the service and evaluate rules."""
    url = prom_info["url"]
    k_now = plan.state.index_at(time.time())
    report = remote_write.write(url, live_mod.series_between(plan.state, 1, k_now))
    version = prom_info["line"]
    config = prometheus.write_config(
        Path(prom_info["config"]), port=int(prom_info["port"]), version=version,
        scrape_interval_s=SEED_SCRAPE_INTERVAL_S, scrape_targets=plan.targets(),
        rule_files=(seed_rules_path(),), nhcb=version == "3",
        out_of_order_window=_ooo(prom_info), retention=prom_info["retention"]
        if version == "3" else None)
    reload(procs.ProcessRef.from_dict(prom_info["process"]), url, config)
    echo(f"live demo service on {', '.join(t for t, _ in plan.targets())} "
         f"(filled {report.samples:,} samples since the cut); Prometheus scrapes it every "
         f"{SEED_SCRAPE_INTERVAL_S} s and evaluates the seed's alert rules")
    return {"filled_samples": report.samples, "config": str(config)}


def _ooo(prom_info: dict[str, Any]) -> str | None:
    text = Path(prom_info["config"]).read_text()
    for line in text.splitlines():
        if "out_of_order_time_window:" in line:
            return line.split(":", 1)[1].strip()
    return None


def reload(ref: procs.ProcessRef, url: str, config: Path, *, timeout: float = 60.0) -> None:
    """SIGHUP Prometheus and wait until it runs the rewritten config."""
    if not procs.is_running(ref):
        raise StackError(f"Prometheus (PID {ref.pid}) is not running; cannot reload {config}")
    want = config.read_text()
    os.kill(ref.pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            got = requests.get(f"{url}/api/v1/status/config", timeout=5).json()["data"]["yaml"]
            jobs = requests.get(f"{url}/api/v1/targets", timeout=5).json()["data"]
            if "deeplake-api" in got and any(
                    t["labels"].get("job") == "deeplake-api"
                    for t in jobs.get("activeTargets", [])):
                return
            last = "config not applied yet"
        except (requests.RequestException, ValueError, KeyError) as exc:
            last = type(exc).__name__
        time.sleep(0.25)
    raise StackError(f"Prometheus did not apply {config} within {timeout:.0f} s ({last}; "
                     f"{len(want)} bytes written); see its log {ref.log}")


def status(state_dir: Path) -> dict[str, Any]:
    """The service's heartbeat: grid time served, horizon, lines written."""
    return live_mod.read_status(state_dir)
