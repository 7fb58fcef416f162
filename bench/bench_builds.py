"""Time the Go builds of Prometheus 3 and Jaeger v2: cold (empty Go build cache) and cached.

Cold means: a throwaway ``TRIBUTARY_CACHE`` and a throwaway ``GOCACHE`` (nothing compiled),
with the modules already in ``GOMODCACHE`` (downloading is network time, not build time; the
first run on a new machine adds it). Cached means: the binaries are in the cache and
``ensure`` returns without calling Go. Each line reports wall seconds, CPU seconds of the
children and the load average, since the machine is shared.

Run (a quiet moment; ~6 min for Prometheus, ~7-25 min for Jaeger on 2 cores)::

    .venv/bin/python bench/bench_builds.py prometheus jaeger
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tributary_analysis.stack import gobuild


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def cold(name: str) -> dict[str, float]:
    """Build ``name`` into throwaway caches; wall and CPU seconds."""
    program = gobuild.PROGRAMS[name]
    with tempfile.TemporaryDirectory(prefix="bench-gobuild-") as tmp:
        os.environ["GOCACHE"] = str(Path(tmp) / "gocache")
        gobuild.module_info(program)  # modules present: time the build, not the download
        load0 = os.getloadavg()[0]
        cpu0, t0 = _children_cpu(), time.monotonic()
        gobuild.ensure(program, root=Path(tmp) / "cache", echo=lambda _m: None)
        wall, cpu = time.monotonic() - t0, _children_cpu() - cpu0
        os.environ.pop("GOCACHE")
    return {"wall_s": wall, "cpu_s": cpu, "load_before": load0,
            "load_after": os.getloadavg()[0]}


def cached(name: str, repeat: int = 20) -> dict[str, float]:
    """``ensure`` on the real cache (built once first if needed): median seconds per call."""
    program = gobuild.PROGRAMS[name]
    gobuild.ensure(program)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        gobuild.ensure(program)
        times.append(time.perf_counter() - t0)
    times.sort()
    return {"median_s": times[len(times) // 2], "max_s": times[-1]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", default=["prometheus", "jaeger"],
                        choices=sorted(gobuild.PROGRAMS))
    parser.add_argument("--cached-only", action="store_true")
    args = parser.parse_args()
    for name in args.names:
        c = cached(name)
        print(f"{name} cached: ensure() {c['median_s'] * 1000:.2f} ms median "
              f"(max {c['max_s'] * 1000:.2f} ms)", flush=True)
        if not args.cached_only:
            r = cold(name)
            print(f"{name} cold: {r['wall_s']:.0f} s wall ({r['wall_s'] / 60:.1f} min), "
                  f"{r['cpu_s']:.0f} s CPU, load {r['load_before']:.1f} -> "
                  f"{r['load_after']:.1f} on {os.cpu_count()} cores", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
