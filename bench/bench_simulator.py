"""Benchmark: ``simulate()`` per profile: time per phase (wall and CPU), samples, bytes, lines,
peak memory.

The machine is shared, so CPU time (user + sys of this process, all threads) is reported
beside wall time. ``--metrics-dir`` puts the OpenMetrics parts elsewhere (e.g. a tmpfs such
as ``/dev/shm``), as ``tributary demo up`` can; everything written is deleted at the end
unless ``--keep``.

Usage::

    .venv/bin/python bench/bench_simulator.py --profile demo [--metrics-dir /dev/shm/x]
    .venv/bin/python bench/bench_simulator.py --profile large --out /var/tmp/sim-large
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="demo")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--metrics-dir", type=Path, default=None)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()

    from tributary_analysis.demo import simulate

    out = args.out or Path(tempfile.mkdtemp(prefix="bench-sim-"))
    t0, c0 = time.perf_counter(), time.process_time()
    res = simulate(args.profile, seed=7, end=END, out_dir=out, metrics_dir=args.metrics_dir)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    m = res.manifest
    parts = [Path(p) if Path(p).is_absolute() else out / p for p in m["files"]["metrics"]]
    m_bytes = sum(p.stat().st_size for p in parts)
    l_bytes = sum((out / p).stat().st_size for p in m["files"]["logs"])
    t_bytes = sum((out / p).stat().st_size for p in m["files"].get("traces", []))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    c = m["counts"]
    print(f"profile {args.profile}: wall {wall:.1f} s, CPU {cpu:.1f} s; phases (wall) "
          + ", ".join(f"{k} {v:.1f}" for k, v in res.timings.items()))
    print(f"requests {c['requests']:,}, log lines {c['log_lines']:,} ({l_bytes / 1e9:.2f} GB), "
          f"series {c['series']:,}, samples {c['samples']:,} ({m_bytes / 1e9:.2f} GB, "
          f"{m_bytes / c['samples']:.1f} bytes/sample) in {len(parts)} parts; tenants "
          f"{len(m['tenants']):,}, datasets {sum(len(v) for v in m['datasets'].values()):,}; "
          f"traces {c.get('traces', 0):,} ({c.get('spans', 0):,} spans, "
          f"{t_bytes / 1e9:.2f} GB); peak RSS {peak / 1e9:.2f} GB")
    for name, fc in sorted(m["family_counts"].items(), key=lambda kv: -kv[1]["samples"]):
        print(f"  {name:34s} {fc['series']:6,d} series {fc['samples']:12,d} samples")
    print(json.dumps({"wall": round(wall, 1), "cpu": round(cpu, 1),
                      "peak_rss_gb": round(peak / 1e9, 2), **c}))
    if not args.keep:
        shutil.rmtree(out, ignore_errors=True)
        if args.metrics_dir is not None:
            shutil.rmtree(args.metrics_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
