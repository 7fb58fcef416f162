"""Benchmark and verification: the investigation notebooks on a real local stack.

For each simulation (default: the ``demo`` profile with seed 7, and the ``small`` profile
with seed 11 — a second seed, so the incidents sit elsewhere) this backfills a throwaway
local Prometheus, executes ``notebooks/latency.ipynb``, ``errors.ipynb`` and
``tenant_usage.ipynb`` under papermill (a fresh kernel each time, so kernel start and
imports are included), times each run and checks every finding of issue 5 against the
simulation's ``incidents.json``:

* errors: exactly one episode, on the spiked endpoint, start and end within 10 minutes;
* latency: the deploy found, the regression flagged on exactly the affected endpoints by
  both tests (χ² on buckets, Mann–Whitney on logs), ``version=<bad>`` first in attribution;
* tenants: the noisy tenant first for growth and rate-limit hits, and the only one flagged.

Two windows are timed: ``24h`` (the notebooks' default: the last day of data) and ``full``
(the whole simulation, which the findings need). Results go to a JSON file; a Markdown table
is printed for ``docs/benchmarks.md``. Everything started here is stopped at the end.

Usage::

    .venv/bin/python bench/bench_notebooks.py                      # demo/7 and small/11
    .venv/bin/python bench/bench_notebooks.py --run small:11 --sim-dir small:11=/tmp/sim
    .venv/bin/python bench/bench_notebooks.py --prom-url demo:7=http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
import papermill as pm

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("latency", "errors", "tenant_usage")
TEN_MIN = pd.Timedelta(minutes=10)


def _pairs(values: list[str]) -> dict[str, str]:
    return dict(v.split("=", 1) for v in values)


def run_notebook(name: str, out_dir: Path, params: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    summary = out_dir / f"{name}-{params['_tag']}.json"
    p = {k: v for k, v in params.items() if not k.startswith("_")}
    p["summary_path"] = str(summary)
    t0 = time.perf_counter()
    pm.execute_notebook(str(ROOT / "notebooks" / f"{name}.ipynb"),
                        str(out_dir / f"{name}-{params['_tag']}.ipynb"), parameters=p,
                        cwd=str(out_dir), progress_bar=False, log_output=False)
    doc = json.loads(summary.read_text())
    # summary.json's schema fields with the report-specific details beside them
    return time.perf_counter() - t0, ({**doc.get("details", {}), **doc}
                                      if doc.get("schema") else doc)


def check(name: str, s: dict[str, Any], inc: dict[str, Any]) -> dict[str, bool]:
    """Each finding of issue 5 as a named boolean."""
    if name == "errors":
        spike = inc["error_spike"]
        eps = s["episodes"]
        one = len(eps) == 1
        ep = eps[0] if eps else {}
        return {
            "one_episode": one,
            "episode_endpoint": ep.get("endpoint") == spike["affects"]["endpoint"],
            "episode_start_10min": bool(ep) and abs(pd.Timestamp(ep["start"])
                                                   - pd.Timestamp(spike["start"])) <= TEN_MIN,
            "episode_end_10min": bool(ep) and abs(pd.Timestamp(ep["end"])
                                                 - pd.Timestamp(spike["end"])) <= TEN_MIN,
            "error_cause_first": bool(s["error_causes"]) and s["error_causes"][0]
            == f"endpoint={spike['affects']['endpoint']}",
        }
    if name == "latency":
        reg = inc["latency_regression"]
        deploys = s["deploys"]
        return {
            "deploy_found": bool(deploys) and deploys[0]["to_version"]
            == reg["affects"]["version"],
            "regression_buckets": s["regressions"] == reg["affects"]["endpoints"],
            "regression_logs": s["regressions_logs"] == reg["affects"]["endpoints"],
            "slow_cause_first": bool(s["slow_causes"]) and s["slow_causes"][0]
            == f"version={reg['affects']['version']}",
        }
    tenant = inc["noisy_tenant"]["affects"]["tenant"]
    return {
        "growth_first": s["growth_rank"][:1] == [tenant],
        "rate_limits_first": s["rate_limit_rank"][:1] == [tenant],
        "noisy_only": s["noisy"] == [tenant],
    }


def bench_one(profile: str, seed: int, work: Path, sim_dir: Path | None,
              prom_url: str | None) -> dict[str, Any]:
    from tributary_analysis.demo import simulate
    from tributary_analysis.stack import demo, procs

    sim_dir = sim_dir or work / f"sim-{profile}-{seed}"
    if not (sim_dir / "manifest.json").exists():
        t0 = time.perf_counter()
        simulate(profile=profile, seed=seed, out_dir=sim_dir)
        print(f"simulated {profile}/{seed} in {time.perf_counter() - t0:.0f} s", flush=True)
    manifest = demo.read_manifest(sim_dir)
    incidents = {i["kind"]: i for i in json.loads((sim_dir / "incidents.json").read_text())}
    ref = None
    if prom_url is None:
        t0 = time.perf_counter()
        info, _ = demo.start_prometheus(manifest, work / f"prom-{profile}-{seed}")
        ref = procs.ProcessRef.from_dict(info["process"])
        prom_url = info["url"]
        print(f"backfilled Prometheus in {time.perf_counter() - t0:.0f} s", flush=True)
    logs = [str(sim_dir / p) for p in manifest["files"]["logs"]]
    base = {"prometheus_url": prom_url, "log_files": logs, "since": ""}
    end = pd.Timestamp(manifest["end"])
    day = {"start": (end - pd.Timedelta("24h")).isoformat(), "end": manifest["end"]}
    full = {"start": manifest["start"], "end": manifest["end"]}
    noisy_end = {"start": manifest["start"], "end": incidents["noisy_tenant"]["end"]}
    out: dict[str, Any] = {"profile": profile, "seed": seed, "timings": {}, "findings": {}}
    try:
        for name in NAMES:
            t_day, _ = run_notebook(name, work, {**base, **day, "_tag": f"{profile}{seed}-24h"})
            window = noisy_end if name == "tenant_usage" else full
            t_full, s = run_notebook(name, work, {**base, **window,
                                                  "_tag": f"{profile}{seed}-full"})
            out["timings"][name] = {"24h": round(t_day, 1), "full": round(t_full, 1)}
            out["findings"][name] = check(name, s, incidents)
            print(name, out["timings"][name], out["findings"][name], flush=True)
    finally:
        if ref is not None:
            procs.stop(ref)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--run", action="append", default=None,
                    help="profile:seed to run (repeatable); default demo:7 and small:11")
    ap.add_argument("--sim-dir", action="append", default=[],
                    help="profile:seed=DIR: reuse an existing simulation")
    ap.add_argument("--prom-url", action="append", default=[],
                    help="profile:seed=URL: reuse a running Prometheus holding that simulation")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results_notebooks.json")
    args = ap.parse_args()
    runs = args.run or ["demo:7", "small:11"]
    sims, proms = _pairs(args.sim_dir), _pairs(args.prom_url)
    work = Path(tempfile.mkdtemp(prefix="bench-notebooks-"))
    results = []
    for r in runs:
        profile, seed = r.split(":")
        results.append(bench_one(profile, int(seed), work,
                                 Path(sims[r]) if r in sims else None, proms.get(r)))
    meta = {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "python": sys.version.split()[0]}
    args.out.write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    print("\n| run | notebook | 24h window | full window | findings |\n|---|---|---|---|---|")
    for res in results:
        for name in NAMES:
            t = res["timings"][name]
            f = res["findings"][name]
            ok = "all hold" if all(f.values()) else "FAILED: " + ", ".join(
                k for k, v in f.items() if not v)
            print(f"| {res['profile']}/{res['seed']} | {name} | {t['24h']} s | {t['full']} s "
                  f"| {ok} |")
    print(f"\nload average at the end: {meta['load_avg']}")


if __name__ == "__main__":
    main()
