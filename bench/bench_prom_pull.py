"""End-to-end pull benchmark: one ~1M-sample ``query_range`` of the ``demo`` profile, as a
user waits for it, each side in a fresh process (results go to docs/benchmarks.md).

Setup (once per run, in a temporary directory): ``simulate(profile="demo")``, the
``http_request_duration_seconds`` family's OpenMetrics lines backfilled by Prometheus 3's
promtool, Prometheus 3.16 started on them, and the same family written as exponential
native histograms through remote write (the simulator's own requests, as
``prometheus3_native`` does for the tests). A selector of ~1,026 ``_bucket`` series over 974
steps is picked (≈1M samples).

Measured, alternating the sides round by round, each child a fresh ``python``:

* ``ours``   — ``PrometheusSource(url).query_range(expr, start, end, step)`` (identity
  encoding on loopback, the raw-body parser);
* ``gzip``   — the same with ``compression="gzip"``;
* ``theirs`` — prometheus-api-client: ``PrometheusConnect(url).custom_query_range(...)`` +
  ``MetricRangeDataFrame(result)``;
* ``raw``    — the floor: the same HTTP request with ``Accept-Encoding: identity`` timed to
  the last byte (server time + transfer), then ``orjson.loads`` of the body;
* ``native`` / ``classic`` — frame build (parse + build, from saved bodies) of the native
  histogram form of the same data against the classic ``_bucket`` form.

Each child reports the call's wall time (call → frame), the process's peak RSS (VmHWM, with
the imports: pandas and pyarrow alone take ~135 MB here) and the call's own peak RSS growth
(VmHWM reset with ``/proc/self/clear_refs`` just before the call).

    .venv/bin/python bench/bench_prom_pull.py --reps 5                # Prometheus 3.16
    .venv/bin/python bench/bench_prom_pull.py --reps 5 --version 2    # Debian's 2.42
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
FAMILY = "http_request_duration_seconds"


def _load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def _kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def _reset_peak() -> int:
    Path("/proc/self/clear_refs").write_text("5")
    return _kb("VmRSS")


# -- children -------------------------------------------------------------------------------

def child(side: str, args: argparse.Namespace) -> dict[str, Any]:
    import gc

    if side not in ("native", "classic"):
        t_start, t_end, step = float(args.start), float(args.end), float(args.step)
    if side in ("ours", "gzip"):
        import pandas as pd

        from tributary_analysis.sources.prometheus import PrometheusSource

        src = PrometheusSource(args.url, compression="gzip" if side == "gzip" else "auto",
                               max_samples=None)
        assert src.server.detected  # detected before timing: once per source, as in a session
        gc.collect()
        base = _reset_peak()
        t = time.perf_counter()
        df = src.query_range(args.expr, pd.Timestamp(t_start, unit="s", tz="UTC"),
                             pd.Timestamp(t_end, unit="s", tz="UTC"), step)
        call = time.perf_counter() - t
        n = len(df)
    elif side == "theirs":
        from datetime import UTC, datetime

        from prometheus_api_client import MetricRangeDataFrame, PrometheusConnect

        connect = PrometheusConnect(url=args.url)
        gc.collect()
        base = _reset_peak()
        t = time.perf_counter()
        result = connect.custom_query_range(args.expr, datetime.fromtimestamp(t_start, UTC),
                                       datetime.fromtimestamp(t_end, UTC), str(step))
        df = MetricRangeDataFrame(result)
        call = time.perf_counter() - t
        n = len(df)
    elif side in ("raw", "rawgzip"):
        import orjson
        import requests

        s = requests.Session()
        params = {"query": args.expr, "start": str(t_start), "end": str(t_end),
                  "step": str(step)}
        gc.collect()
        base = _reset_peak()
        t = time.perf_counter()
        body = s.get(f"{args.url}/api/v1/query_range", params=params, headers={
            "Accept-Encoding": "identity" if side == "raw" else "gzip"}).content
        http_s = time.perf_counter() - t
        t2 = time.perf_counter()
        doc = orjson.loads(body)
        loads_s = time.perf_counter() - t2
        call = http_s + loads_s
        n = sum(len(r["values"]) for r in doc["data"]["result"])
        return {"call_s": call, "http_s": http_s, "loads_s": loads_s, "samples": n,
                "bytes": len(body), "hwm_mb": _kb("VmHWM") / 1024,
                "growth_mb": (_kb("VmHWM") - base) / 1024}
    elif side in ("native", "classic"):
        from tributary_analysis.sources.prometheus.frames import build_frame, parse

        body = Path(args.body).read_bytes()
        gc.collect()
        base = _reset_peak()
        t = time.perf_counter()
        df = build_frame(parse(body))
        call = time.perf_counter() - t
        n = len(df)
        if "buckets" in df.columns:
            import pyarrow as pa
            import pyarrow.compute as pc

            lengths = pc.list_value_length(pa.array(df["buckets"]))
            extra = {"buckets": int(pc.sum(lengths).as_py() or 0)}
        else:
            extra = {"buckets": n}
        return {"call_s": call, "samples": n, "hwm_mb": _kb("VmHWM") / 1024,
                "growth_mb": (_kb("VmHWM") - base) / 1024, "bytes": len(body), **extra}
    else:
        raise SystemExit(f"unknown side {side}")
    return {"call_s": call, "samples": n, "hwm_mb": _kb("VmHWM") / 1024,
            "growth_mb": (_kb("VmHWM") - base) / 1024}


def run_child(side: str, common: list[str]) -> dict[str, Any]:
    t = time.perf_counter()
    out = subprocess.run([sys.executable, __file__, "--child", side, *common], check=True,
                         capture_output=True, text=True, cwd=ROOT)
    res = dict(json.loads(out.stdout.strip().splitlines()[-1]))
    res["process_s"] = time.perf_counter() - t
    return res


# -- setup ----------------------------------------------------------------------------------

def _filter_parts(parts: list[str], out: Path) -> list[Path]:
    """Only the family's lines (and the file's # EOF) of each OpenMetrics part."""
    keep = (f"{FAMILY}_bucket", f"{FAMILY}_sum", f"{FAMILY}_count")
    meta = (f"# TYPE {FAMILY} ", f"# HELP {FAMILY} ", f"# UNIT {FAMILY} ")
    result = []
    for i, part in enumerate(parts):
        target = out / f"part-{i:03d}.om"
        with open(part, encoding="utf-8") as src, open(target, "w", encoding="utf-8") as dst:
            for line in src:
                if line.startswith(meta) or line.startswith("# EOF") or \
                        line.split("{", 1)[0].split(" ", 1)[0] in keep:
                    dst.write(line)
        result.append(target)
    return result


def setup(tmp: Path, version: str) -> tuple[Any, dict[str, Any]]:
    import shutil

    from tributary_analysis.demo import native, remote_write, simulate
    from tributary_analysis.stack import demo

    t = time.perf_counter()
    shm = Path(tempfile.mkdtemp(prefix="bench-om-", dir="/dev/shm"))
    try:
        sim = simulate(profile="demo", seed=7, out_dir=tmp / "sim", metrics_dir=shm)
        print(f"setup: simulated the demo profile in {time.perf_counter() - t:.0f} s; load "
              f"{_load()}", flush=True)
        manifest = demo.read_manifest(tmp / "sim")
        (tmp / "om").mkdir()
        parts = _filter_parts(manifest["files"]["metrics"], tmp / "om")
    finally:
        shutil.rmtree(shm, ignore_errors=True)
    manifest = {**manifest, "files": {**manifest["files"], "metrics": [str(p) for p in parts]}}
    t = time.perf_counter()
    info, _ = demo.start_prometheus(manifest, tmp / "stack", version=version)
    print(f"setup: backfilled {FAMILY} and started Prometheus {info['version']} in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    if version != "3":
        return info, manifest
    t = time.perf_counter()
    series = native.simulated_histograms(sim, FAMILY, form="native")
    rep = remote_write.write(info["url"], series, metadata=[native.metadata(FAMILY)])
    print(f"setup: remote-wrote {rep.histograms:,} native histogram samples in "
          f"{time.perf_counter() - t:.0f} s", flush=True)
    return info, manifest


def pick_query(url: str, manifest: dict[str, Any], target: int = 1026,
               steps: int = 974) -> tuple[str, float, float, float]:
    """A selector of about ``target`` _bucket series and a range of ``steps`` steps."""
    import requests

    from tributary_analysis.promql import Matcher, selector

    end = float(manifest["end_unix"]) - 60
    step = float(manifest["scrape_interval_s"])
    start = end - (steps - 1) * step

    def count(expr: str) -> list[dict[str, Any]]:
        r = requests.get(f"{url}/api/v1/query", params={"query": expr, "time": str(end)})
        return list(r.json()["data"]["result"])

    best = (f"{FAMILY}_bucket", int(count(f"count({FAMILY}_bucket)")[0]["value"][1]))
    for label in ("instance", "tenant_id", "endpoint", "method"):
        rows = count(f"count by ({label}) ({FAMILY}_bucket)")
        rows.sort(key=lambda r: -float(r["value"][1]))
        chosen: list[str] = []
        total = 0
        for r in rows:
            n = int(float(r["value"][1]))
            if total + n <= target * 1.05:
                chosen.append(r["metric"].get(label, ""))
                total += n
        if chosen and abs(total - target) < abs(best[1] - target):
            best = (selector(f"{FAMILY}_bucket", Matcher.any_of(label, chosen)), total)
    return best[0], start, end, step


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--child")
    ap.add_argument("--url")
    ap.add_argument("--expr")
    ap.add_argument("--start")
    ap.add_argument("--end")
    ap.add_argument("--step")
    ap.add_argument("--body")
    ap.add_argument("--version", default="3", help="Prometheus line to serve the data: 2 or 3")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args)))
        return
    from tributary_analysis.stack import procs

    with tempfile.TemporaryDirectory(prefix="bench-prom-") as name:
        tmp = Path(name)
        info, manifest = setup(tmp, args.version)
        ref = procs.ProcessRef.from_dict(info["process"])
        try:
            bench(info["url"], manifest, args.reps, tmp, native=args.version == "3")
        finally:
            procs.stop(ref)


def bench(url: str, manifest: dict[str, Any], reps: int, tmp: Path, *, native: bool) -> None:
    import requests

    expr, start, end, step = pick_query(url, manifest)
    common = ["--url", url, "--expr", expr, "--start", str(start), "--end", str(end),
              "--step", str(step)]
    print(f"query: {expr}  [{start:.0f}, {end:.0f}] step {step:.0f}s", flush=True)
    for side in ("raw", "ours", "theirs"):  # warm the server's page cache once
        run_child(side, common)
    sides = ("ours", "theirs", "raw", "gzip", "rawgzip")
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in sides}
    load0 = _load()
    for i in range(reps):
        order = sides if i % 2 == 0 else tuple(reversed(sides))
        for side in order:
            runs[side].append(run_child(side, common))
        print(f"round {i + 1}: " + "  ".join(
            f"{s}={runs[s][-1]['call_s']:.2f}s/{runs[s][-1]['growth_mb']:.0f}MB"
            for s in sides), flush=True)
    load1 = _load()

    def med(side: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[side])

    ratio_t = statistics.median(t["call_s"] / o["call_s"]
                                for t, o in zip(runs["theirs"], runs["ours"], strict=True))
    ratio_g = statistics.median(t["growth_mb"] / o["growth_mb"]
                                for t, o in zip(runs["theirs"], runs["ours"], strict=True))
    ratio_h = statistics.median(t["hwm_mb"] / o["hwm_mb"]
                                for t, o in zip(runs["theirs"], runs["ours"], strict=True))
    floor = statistics.median(r["http_s"] + r["loads_s"] for r in runs["raw"])
    print(f"load average {load0} at start, {load1} at end; samples "
          f"{runs['ours'][0]['samples']:,} (theirs {runs['theirs'][0]['samples']:,}); body "
          f"{runs['raw'][0]['bytes'] / 1e6:.1f} MB")
    for s in sides:
        print(f"{s:7s} call median {med(s, 'call_s'):6.2f} s  process {med(s, 'process_s'):5.2f}"
              f" s  peak RSS {med(s, 'hwm_mb'):6.0f} MB  call's growth {med(s, 'growth_mb'):5.0f}"
              " MB")
    print(f"raw     server+transfer {med('raw', 'http_s'):.2f} s + orjson.loads "
          f"{med('raw', 'loads_s'):.2f} s = {floor:.2f} s")
    print(f"ours vs theirs: {ratio_t:.1f}x faster, {ratio_g:.1f}x less peak RSS growth, "
          f"{ratio_h:.1f}x less process peak RSS (medians of per-round ratios)")
    print(f"ours / (server + orjson.loads) = {med('ours', 'call_s') / floor:.2f} (bar <= 1.5)")
    print(f"gzip vs identity (ours): {med('gzip', 'call_s'):.2f} s vs "
          f"{med('ours', 'call_s'):.2f} s; the server's answer to the last byte: gzip "
          f"{med('rawgzip', 'http_s'):.2f} s ({runs['rawgzip'][0]['bytes'] / 1e6:.1f} MB "
          f"after requests decoded it) vs identity {med('raw', 'http_s'):.2f} s")
    if not native:
        return
    # native vs classic frame build from saved bodies of the same data
    bodies = {}
    for kind, sel in (("classic", expr), ("native", expr.replace(f"{FAMILY}_bucket",
                                                                 FAMILY, 1))):
        r = requests.get(f"{url}/api/v1/query_range", params={
            "query": sel, "start": str(start), "end": str(end), "step": str(step)},
            headers={"Accept-Encoding": "identity"})
        path = tmp / f"{kind}.json"
        path.write_bytes(r.content)
        bodies[kind] = ["--body", str(path)]
    build: dict[str, list[dict[str, Any]]] = {"classic": [], "native": []}
    for i in range(reps):
        for kind in (("classic", "native") if i % 2 == 0 else ("native", "classic")):
            build[kind].append(run_child(kind, bodies[kind]))
    for kind in ("classic", "native"):
        r0 = build[kind][0]
        print(f"frame build {kind:7s}: {r0['samples']:,} samples ({r0['buckets']:,} buckets) "
              f"from {r0['bytes'] / 1e6:.1f} MB, median "
              f"{statistics.median(r['call_s'] for r in build[kind]):.3f} s, growth "
              f"{statistics.median(r['growth_mb'] for r in build[kind]):.0f} MB")


if __name__ == "__main__":
    main()
