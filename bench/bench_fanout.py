"""Benchmark: tenant fan-out — one tenant's report vs N tenants' reports, per executor.

End to end as a user waits (``run_reports``: prepare, execute, publish, index), against a
real Prometheus backfilled from the simulator, the ``tenant_usage`` report for the busiest
tenant, then for the N busiest (the plan ``report run tenants --top-tenants N`` makes), in
one process:

* **local** — a worker process per notebook (``--jobs`` at once);
* **pool** — ``--jobs`` warm workers: imported once, next kernel pre-started and pre-imported,
  pages exported in the worker;
* **dask** (``--dask``) — the N-tenant batch on a real local Dask cluster with 1 worker,
  then with 2 workers (one thread each, on loopback): the scale-out ratio.

Reported: each wall time, the ratio N/1 per executor (the bar: ≤ 3× for 20 tenants), the
cost per extra tenant ``(T_N − T_1)/(N − 1)``, and dask 1-worker/2-worker. Rounds alternate
the executors so the machine's load hits them alike. ``--profile large`` (1,000 tenants)
takes ``--tenants 1000`` once the profile exists.

Usage::

    .venv/bin/python bench/bench_fanout.py --tenants 20 --rounds 1 --dask
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _requests(n: int, window: Any, prom_url: str, logs: list[str], work: Path
              ) -> list[Any]:
    from tributary_analysis.reports.prepare import notebook_parameters
    from tributary_analysis.reports.registry import default_registry
    from tributary_analysis.reports.tenants import plan

    spec = default_registry()["tenant_usage"]
    # a copy: the benchmark must not see an edit of the notebook in the middle of its run
    copy = work / spec.notebook.name
    if not copy.exists():
        shutil.copyfile(spec.notebook, copy)
    spec = replace(spec, notebook=copy)
    declared = notebook_parameters(spec.notebook)
    common = {k: v for k, v in {"prometheus_url": prom_url, "log_files": logs}.items()
              if k in declared}
    return plan([spec], window, tenants=["all"], top=n, common=common)


def _batch(requests: list[Any], out: Path, executor: str, jobs: int) -> float:
    from tributary_analysis.reports.runner import run_reports

    t0 = time.perf_counter()
    records = run_reports(requests, out, jobs=jobs, timeout=900, executor=executor,
                          notify=False)
    wall = time.perf_counter() - t0
    bad = [(r.tenant, r.status, r.error) for r in records if not r.ok]
    if bad:
        raise SystemExit(f"{executor}: {len(bad)} run(s) failed: {bad[:3]}")
    return wall


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--profile", default="small", help="simulator profile (small, demo, "
                                                       "large once it exists)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--tenants", type=int, default=20)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--executors", default="local,pool")
    ap.add_argument("--dask", action="store_true", help="also 1 vs 2 Dask workers")
    ap.add_argument("--sim-dir", type=Path, default=None)
    ap.add_argument("--prometheus-url", default=None,
                    help="a Prometheus already holding the simulation (skips the backfill)")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_fanout.json")
    args = ap.parse_args()

    import pandas as pd

    from tributary_analysis.demo import simulate
    from tributary_analysis.ground.time import Window
    from tributary_analysis.stack import demo, procs

    work = Path(tempfile.mkdtemp(prefix="bench-fanout-"))
    os.environ["TRIBUTARY_HOME"] = str(work / "home")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tributary"
    sim_dir = args.sim_dir or cache / f"bench-sim-{args.profile}-{args.seed}"
    if not (sim_dir / "manifest.json").exists():
        simulate(profile=args.profile, seed=args.seed, out_dir=sim_dir)
    manifest = demo.read_manifest(sim_dir)
    ref = None
    if args.prometheus_url:
        info = {"url": args.prometheus_url.rstrip("/")}
    else:
        info, _ = demo.start_prometheus(manifest, work / "prom")
        ref = procs.ProcessRef.from_dict(info["process"])
    os.environ["TRIBUTARY_PROMETHEUS_URL"] = info["url"]  # tenant ranking, and the workers
    logs = [str(sim_dir / p) for p in manifest["files"]["logs"]]
    end = pd.Timestamp(manifest["end"])
    window = Window(end - pd.Timedelta("24h"), end)
    result: dict[str, Any] = {"profile": args.profile, "tenants": args.tenants,
                              "jobs": args.jobs, "cpus": os.cpu_count(), "rounds": []}
    try:
        many = _requests(args.tenants, window, info["url"], logs, work)
        one = many[:1]
        print(f"{len(many)} tenant runs planned; Prometheus at {info['url']}", flush=True)
        for rnd in range(args.rounds):
            row: dict[str, float] = {"load_start": os.getloadavg()[0]}
            for executor in args.executors.split(","):
                row[f"{executor}_1"] = _batch(one, work / f"out-{rnd}-{executor}-1", executor,
                                              args.jobs)
                row[f"{executor}_n"] = _batch(many, work / f"out-{rnd}-{executor}-n",
                                              executor, args.jobs)
                print(executor, {k: round(v, 1) for k, v in row.items()
                                 if k.startswith(executor)}, flush=True)
            if args.dask:
                sys.path.insert(0, str(ROOT / "tests"))
                from _fx_scale import start_dask_cluster, stop_dask_cluster

                for n_workers in (1, 2):
                    cluster = start_dask_cluster(work / f"dask-{rnd}-{n_workers}",
                                                 workers=n_workers)
                    try:
                        row[f"dask{n_workers}_n"] = _batch(
                            many, work / f"out-{rnd}-dask{n_workers}", cluster.executor,
                            args.jobs)
                    finally:
                        stop_dask_cluster(cluster)
                    print(f"dask {n_workers} worker(s)", round(row[f"dask{n_workers}_n"], 1),
                          flush=True)
            row["load_end"] = os.getloadavg()[0]
            result["rounds"].append({k: round(v, 2) for k, v in row.items()})
    finally:
        if ref is not None:
            procs.stop(ref)
        shutil.rmtree(work, ignore_errors=True)
    n = len(many)
    print(f"\n| executor | 1 tenant (s) | {n} tenants (s) | ratio | per extra tenant (s) |")
    print("|---|---:|---:|---:|---:|")
    for executor in args.executors.split(","):
        for r in result["rounds"]:
            t1, tn = r[f"{executor}_1"], r[f"{executor}_n"]
            print(f"| {executor} | {t1:.1f} | {tn:.1f} | {tn / t1:.2f}× | "
                  f"{(tn - t1) / max(n - 1, 1):.1f} |")
    for i, r in enumerate(result["rounds"]):
        print(f"round {i}: 1-minute load average {r['load_start']:.1f} at the start, "
              f"{r['load_end']:.1f} at the end ({os.cpu_count()} CPUs)")
    if args.dask:
        for r in result["rounds"]:
            d1, d2 = r["dask1_n"], r["dask2_n"]
            print(f"\nDask, {n} tenants: 1 worker {d1:.1f} s, 2 workers {d2:.1f} s, "
                  f"speed-up {d1 / d2:.2f}×")
    args.out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
