"""Benchmarks for the Prometheus → frame path (results go to docs/benchmarks.md).

A. One 1,000,000-sample query_range response (100 series x 10,000 points, 6 labels, saved
   JSON), ours vs prometheus-api-client's ``MetricRangeDataFrame``, all in one run. Both
   sides start from the same bytes and use the same decoder (orjson), so two comparisons
   are like with like:

   * build only:    ``build_frame(parse(doc))``    vs ``MetricRangeDataFrame(result)``
   * decode+build:  ``build_frame(parse(body))``   vs ``MetricRangeDataFrame(orjson.loads
     (body)["data"]["result"])``

   Repetitions are interleaved (so load swings hit both sides alike); medians are reported
   and the speed-ups are medians of the per-repetition ratios. Memory: each side runs in a
   fresh subprocess from the decoded document: peak RSS growth (VmHWM reset through
   /proc/self/clear_refs; counts everything, Arrow and C buffers included), plus the
   tracemalloc peak (Python + numpy) and Arrow's pool peak.
B. A 30-day, 60 s-step pull of 500 series (21.6 M samples, 60 s apart) from a throwaway
   Prometheus backfilled with promtool: wall time vs the sum of the HTTP request times and
   of the server's own ``execTotalTime``; peak RSS growth per sample.

    .venv/bin/python bench/bench_prometheus_frames.py            # A and B
    .venv/bin/python bench/bench_prometheus_frames.py --only A --reps 7
    .venv/bin/python bench/bench_prometheus_frames.py --only B --max-span none 1d
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def load() -> str:
    return "{:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


def make_response(n_series: int = 100, n_points: int = 10_000) -> bytes:
    rng = random.Random(1)
    t0 = 1_700_000_000
    result = []
    for s in range(n_series):
        vals = [[t0 + 15 * i, repr(rng.random() * 100)] for i in range(n_points)]
        vals[5][1], vals[6][1] = "NaN", "+Inf"
        result.append({"metric": {"__name__": "http_requests_total", "tenant_id": f"t{s % 10}",
                                  "endpoint": f"/api/v1/e{s % 7}", "method": "GET",
                                  "instance": f"i{s % 3}", "job": "deeplake-api"},
                       "values": vals})
    return orjson.dumps({"status": "success", "data": {"resultType": "matrix",
                                                        "result": result}})


def timed(fn: Callable[[], Any]) -> float:
    gc.collect()
    t = time.perf_counter()
    out = fn()
    dt = time.perf_counter() - t
    del out
    return dt


# -- A: memory, one side per fresh subprocess ---------------------------------------------

def _rss_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def memory_child(side: str) -> None:
    """Print JSON: peak RSS growth, tracemalloc peak and Arrow pool peak of one conversion."""
    import pyarrow as pa
    from prometheus_api_client import MetricRangeDataFrame

    from tributary_analysis.sources.prometheus.frames import build_frame, parse

    doc = orjson.loads(make_response())
    result = doc["data"]["result"]
    fn: Callable[[], Any] = ((lambda: build_frame(parse(doc))) if side == "ours"
                             else (lambda: MetricRangeDataFrame(result)))
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    base = _rss_kb("VmRSS")
    out = fn()
    hwm = _rss_kb("VmHWM")
    frame_mb = out.memory_usage(deep=True).sum() / 1e6
    arrow_mb = pa.default_memory_pool().max_memory() / 1e6
    del out
    gc.collect()
    tracemalloc.start()
    fn()  # the peak is what counts; the result is dropped right away
    tm = tracemalloc.get_traced_memory()[1] / 1e6
    tracemalloc.stop()
    print(json.dumps({"rss_mb": (hwm - base) / 1024, "tracemalloc_mb": tm,
                      "arrow_pool_mb": arrow_mb, "frame_mb": frame_mb}))


def memory(side: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, __file__, "--memory-child", side], check=True,
                         capture_output=True, text=True, cwd=Path(__file__).parents[1])
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def bench_a(reps: int) -> None:
    from prometheus_api_client import MetricRangeDataFrame

    from tributary_analysis.sources.prometheus.frames import build_frame, parse

    body = make_response()
    doc = orjson.loads(body)
    result = doc["data"]["result"]
    n = sum(len(r["values"]) for r in result)
    # same frame both ways (and warm-up)
    assert len(build_frame(parse(body))) == len(MetricRangeDataFrame(result)) == n
    runs: dict[str, list[float]] = {k: [] for k in (
        "decode", "json_stdlib", "ours", "theirs", "ours_e2e", "theirs_e2e")}
    load0 = load()
    print(f"A  samples={n:,} json={len(body) / 1e6:.1f} MB reps={reps} load {load0}",
          flush=True)
    for i in range(reps):
        runs["decode"].append(timed(lambda: orjson.loads(body)))
        runs["ours"].append(timed(lambda: build_frame(parse(doc))))
        runs["theirs"].append(timed(lambda: MetricRangeDataFrame(result)))
        runs["ours_e2e"].append(timed(lambda: build_frame(parse(body))))
        runs["theirs_e2e"].append(timed(
            lambda: MetricRangeDataFrame(orjson.loads(body)["data"]["result"])))
        runs["json_stdlib"].append(timed(lambda: json.loads(body)))
        print(f"A  rep {i + 1}: " + " ".join(f"{k}={v[-1]:.3f}" for k, v in runs.items()),
              flush=True)
    load1 = load()
    med = {k: statistics.median(v) for k, v in runs.items()}
    ratio = statistics.median(t / o for t, o in zip(runs["theirs"], runs["ours"], strict=True))
    ratio_e2e = statistics.median(
        t / o for t, o in zip(runs["theirs_e2e"], runs["ours_e2e"], strict=True))
    per_dec = statistics.median(
        o / d for o, d in zip(runs["ours"], runs["decode"], strict=True))
    m_ours, m_theirs = memory("ours"), memory("theirs")
    ours_tm = m_ours["tracemalloc_mb"] + m_ours["arrow_pool_mb"]
    print(f"A  load average at start {load0}, at end {load()} (after timing: {load1})")
    print(f"A  orjson decode                        median {med['decode']:7.3f} s")
    print(f"A  stdlib json decode (library's path)  median {med['json_stdlib']:7.3f} s")
    print(f"A  ours  build   (decoded → frame)      median {med['ours']:7.3f} s")
    print(f"A  theirs build  MetricRangeDataFrame   median {med['theirs']:7.3f} s")
    print(f"A  ours  decode+build (bytes → frame)   median {med['ours_e2e']:7.3f} s")
    print(f"A  theirs decode+build                  median {med['theirs_e2e']:7.3f} s")
    print(f"A  speed-up build-only {ratio:.1f}x, decode+build {ratio_e2e:.1f}x; "
          f"build/decode {per_dec:.2f}")
    print(f"A  memory ours:   RSS peak +{m_ours['rss_mb']:.1f} MB, tracemalloc "
          f"{m_ours['tracemalloc_mb']:.1f} MB + Arrow pool {m_ours['arrow_pool_mb']:.1f} MB; "
          f"frame {m_ours['frame_mb']:.1f} MB")
    print(f"A  memory theirs: RSS peak +{m_theirs['rss_mb']:.1f} MB, tracemalloc "
          f"{m_theirs['tracemalloc_mb']:.1f} MB; frame {m_theirs['frame_mb']:.1f} MB")
    print(f"A  memory ratio: RSS {m_theirs['rss_mb'] / m_ours['rss_mb']:.1f}x less, "
          f"tracemalloc(+Arrow) {m_theirs['tracemalloc_mb'] / ours_tm:.1f}x less")


# -- B: 30 days of 500 series at 60 s -------------------------------------------------------

def write_openmetrics(path: Path, series: int, times: np.ndarray, seed: int) -> int:
    """One OpenMetrics file for ``promtool``: formatted by pyarrow's CSV writer, not Python.

    pyarrow will not write '"' unquoted, so label quotes travel as \\x01 and are swapped
    back in the bytes.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    opts = pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none")
    rng = np.random.default_rng(seed)
    names = pa.array([f"bench_gauge{{series=\x01s{s:03d}\x01,tenant_id=\x01t{s % 25}\x01}}"
                      for s in range(series)], pa.string())
    n_t = len(times)
    with path.open("wb") as out:
        out.write(b"# TYPE bench_gauge gauge\n")
        for s in range(series):
            base = rng.random() * 1000
            vals = np.round(base + (np.arange(n_t) % 97) + rng.random(n_t), 1)
            table = pa.table({"p": pa.DictionaryArray.from_arrays(
                pa.array(np.full(n_t, s, np.int32)), names), "v": vals, "t": times})
            buf = io.BytesIO()
            pacsv.write_csv(table, buf, write_options=opts)
            out.write(buf.getvalue().replace(b"\x01", b'"'))
        out.write(b"# EOF\n")
    return series * n_t


def backfill(data: Path, tmp: Path, series: int, start: int, end: int, interval: int,
             parts: int = 2) -> int:
    """Write ``parts`` files split by time and run promtool on them in parallel."""
    times = np.arange(start, end, interval, dtype=np.int64)
    chunks = np.array_split(times, parts)
    paths = [tmp / f"part-{j}.om" for j in range(parts)]
    with ThreadPoolExecutor(parts) as pool:
        total = sum(pool.map(write_openmetrics, paths, [series] * parts, chunks,
                             range(parts)))
    procs = [subprocess.Popen(["promtool", "tsdb", "create-blocks-from", "openmetrics",
                               "--max-block-duration=720h", "-q", str(p), str(data)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for p in paths]
    try:
        for p, proc in zip(paths, procs, strict=True):
            out, _ = proc.communicate(timeout=1800)
            if proc.returncode:
                raise RuntimeError(f"promtool failed on {p}: {out[-2000:]!r}")
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for p in paths:
        p.unlink()
    return total


def bench_b(spans: list[str | None], series: int = 500, days: int = 30, interval: int = 60,
            workers: int = 4) -> None:
    from prom_local import start_prometheus

    end = (int(time.time()) // 3600 - 2) * 3600
    start = end - days * 86400
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        data = tmp / "data"
        data.mkdir()
        print(f"B  load average {load()}", flush=True)
        t = time.perf_counter()
        total = backfill(data, tmp, series, start, end, interval)
        print(f"B  backfilled {total:,} samples ({series} series x {days} d every "
              f"{interval} s) in {time.perf_counter() - t:.0f} s; load {load()}", flush=True)
        prom = start_prometheus(tmp, scrape_interval="1h")
        try:
            for span in spans:
                pull(prom.url, start, end, span, workers)
        finally:
            prom.stop()


def pull(url: str, start: int, end: int, max_span: str | None, workers: int) -> None:
    """One timed 30-day pull; prints wall vs request/server time and memory per sample."""
    from tributary_analysis.sources.prometheus import PrometheusSource

    src = PrometheusSource(url, max_span=max_span, max_workers=workers, progress=False,
                           timeout=600, max_samples=None)
    try:
        src.query("count(bench_gauge)")  # open the blocks before timing
        gc.collect()
        Path("/proc/self/clear_refs").write_text("5")
        base = _rss_kb("VmRSS")
        load0 = load()
        t = time.perf_counter()
        df = src.query_range("bench_gauge", start, end, "60s", stats=True)
        wall = time.perf_counter() - t
        hwm = _rss_kb("VmHWM")
        n = len(df)
        from tributary_analysis.frames.meta import meta_of

        m = meta_of(df)
        d = m.details
        tm = d.get("timings", {})
        print(f"B  max_span={max_span} workers={workers} load at start {load0}, at end "
              f"{load()}")
        print(f"B  samples={n:,} series={d['series']} requests={m.requests} "
              f"(<= {src.max_points:,} points each) duplicates_dropped="
              f"{d.get('duplicates_dropped', 0)} warnings={list(m.warnings)}")
        print(f"B  wall {wall:.1f} s; sum of HTTP request times {tm.get('request_s', 0):.1f} s; "
              f"sum of server execTotalTime {tm.get('server_exec_s', float('nan')):.1f} s")
        print(f"B  peak RSS growth {(hwm - base) / 1024:.0f} MB = "
              f"{(hwm - base) * 1024 / n:.0f} bytes/sample; frame "
              f"{df.memory_usage(deep=True).sum() / n:.1f} bytes/sample", flush=True)
        del df
    finally:
        src.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["A", "B"])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--max-span", nargs="*", default=["none", "1d"],
                    help="B: per-request spans to pull with ('none' = split at the "
                         "11,000-point limit only)")
    ap.add_argument("--workers", type=int, default=4, help="B: concurrent requests")
    ap.add_argument("--memory-child", choices=["ours", "theirs"], help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(args.memory_child)
        sys.exit(0)
    if args.only in (None, "A"):
        bench_a(args.reps)
    if args.only in (None, "B"):
        bench_b([None if s == "none" else s for s in args.max_span], workers=args.workers)
