"""Benchmark: the capacity-planning notebook on the ``demo`` profile (bar: < 60 s, 2 cores).

Simulates the ``demo`` profile (7 days, 20 tenants, 3 replicas; seed 7) unless ``--sim-dir``
already holds one, backfills a throwaway local Prometheus from it, then executes
``notebooks/capacity_planning.ipynb`` under papermill with the simulation's window and
times the notebook run alone (kernel start included). Also runs the alert-review notebook
for reference. Everything started here is stopped at the end.

Usage::

    .venv/bin/python bench/bench_capacity.py [--sim-dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import papermill as pm

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sim-dir", type=Path, default=None)
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--skip-alerts", action="store_true")
    args = ap.parse_args()

    from tributary_analysis.demo import simulate
    from tributary_analysis.stack import demo, procs

    work = Path(tempfile.mkdtemp(prefix="bench-capacity-"))
    sim_dir = args.sim_dir or work / "sim"
    if not (sim_dir / "manifest.json").exists():
        t0 = time.perf_counter()
        simulate(profile=args.profile, seed=7, out_dir=sim_dir)
        print(f"simulate {args.profile}: {time.perf_counter() - t0:.1f} s", flush=True)
    manifest = demo.read_manifest(sim_dir)
    t0 = time.perf_counter()
    info, _ = demo.start_prometheus(manifest, work / "prom")
    print(f"backfill + start Prometheus: {time.perf_counter() - t0:.1f} s", flush=True)
    ref = procs.ProcessRef.from_dict(info["process"])
    os.environ["TRIBUTARY_PROMETHEUS_URL"] = info["url"]
    os.environ["TRIBUTARY_HOME"] = str(work / "home")
    results: dict[str, float] = {}
    try:
        params = {"since": "", "start": manifest["start"], "end": manifest["end"]}
        runs = [("capacity_planning", {**params})]
        if not args.skip_alerts:
            runs.append(("alert_review", {**params, "incidents_file":
                                          str(sim_dir / "incidents.json")}))
        for name, p in runs:
            out = work / f"{name}.ipynb"
            p["summary_path"] = str(work / f"{name}.json")
            t0 = time.perf_counter()
            pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"), str(out),
                                parameters=p, progress_bar=False, cwd=str(ROOT))
            results[name] = time.perf_counter() - t0
            print(f"{name} ({args.profile}): {results[name]:.1f} s", flush=True)
        summary = json.loads((work / "capacity_planning.json").read_text())
        for r in summary["resources"]:
            if r.get("likely_at"):
                print(f"  {r['resource']}: likely {r['likely_at']} "
                      f"(earliest {r['earliest_at']}, latest {r['latest_at']})")
        print("  MASE:", [(m["resource"], round(m["mase"], 3), round(m["mase_naive"], 3))
                          for m in summary["mase"]])
    finally:
        procs.stop(ref)
    print(json.dumps({"profile": args.profile, "seconds": results, "cpus": os.cpu_count(),
                      "loadavg": os.getloadavg()}))


if __name__ == "__main__":
    main()
