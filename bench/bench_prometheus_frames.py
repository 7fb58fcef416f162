"""Benchmarks for the Prometheus → frame path (results go to docs/benchmarks.md).

A. One 1,000,000-sample query_range response (100 series x 10,000 points, 6 labels, saved
   JSON): our parse+build vs prometheus-api-client's MetricRangeDataFrame, in one run;
   time with perf_counter (best of N), peak memory with tracemalloc (separate pass).
B. A 30-day, 60 s-step pull of 500 series from a throwaway Prometheus backfilled with a
   synthetic dataset: wall time vs the sum of the server's own execTotalTime, peak RSS.

    .venv/bin/python bench/bench_prometheus_frames.py            # A and B
    .venv/bin/python bench/bench_prometheus_frames.py --only A
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


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


def best(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        gc.collect()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def peak(fn) -> float:
    gc.collect()
    tracemalloc.start()
    out = fn()
    p = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    del out
    return p / 1e6


def bench_a() -> None:
    from prometheus_api_client import MetricRangeDataFrame

    from tributary_analysis.sources.prometheus.frames import build_frame, parse

    body = make_response()
    doc = orjson.loads(body)
    result = doc["data"]["result"]
    n = sum(len(r["values"]) for r in result)
    ours = lambda: build_frame(parse(doc))  # noqa: E731
    theirs = lambda: MetricRangeDataFrame(result)  # noqa: E731
    t_dec = best(lambda: orjson.loads(body))
    t_ours = best(ours)
    t_theirs = best(theirs)
    t_e2e = best(lambda: build_frame(parse(body)))
    m_ours, m_theirs = peak(ours), peak(theirs)
    frame_mb = ours().memory_usage(deep=True).sum() / 1e6
    print(f"A  samples={n:,} json={len(body) / 1e6:.1f} MB")
    print(f"A  orjson decode              {t_dec:7.3f} s")
    print(f"A  ours build (decoded→frame) {t_ours:7.3f} s  peak {m_ours:7.1f} MB  "
          f"(frame {frame_mb:.1f} MB)")
    print(f"A  ours bytes→frame           {t_e2e:7.3f} s")
    print(f"A  MetricRangeDataFrame       {t_theirs:7.3f} s  peak {m_theirs:7.1f} MB")
    print(f"A  speed-up {t_theirs / t_ours:.1f}x  memory {m_theirs / m_ours:.1f}x less  "
          f"build/decode {t_ours / t_dec:.2f}")


def bench_b(series: int = 500, days: int = 30, interval: int = 300) -> None:
    from prom_local import start_prometheus

    from tributary_analysis.sources.prometheus import PrometheusSource

    end = (int(time.time()) // 3600 - 2) * 3600
    start = end - days * 86400
    with tempfile.TemporaryDirectory() as tmp:
        om = []
        rng = random.Random(2)
        om.append("# TYPE bench_gauge gauge")
        for s in range(series):
            base = rng.random() * 1000
            lab = f'series="s{s:03d}",tenant_id="t{s % 25}"'
            om.extend(f"bench_gauge{{{lab}}} {base + (i % 97):.1f} {start + interval * i}"
                      for i in range((end - start) // interval + 1))
        om.append("# EOF")
        t = time.perf_counter()
        prom = start_prometheus(Path(tmp), openmetrics="\n".join(om) + "\n",
                                scrape_interval="1h", backfill_timeout=1800)
        del om
        print(f"B  backfilled {series} series x {days} d every {interval} s "
              f"in {time.perf_counter() - t:.0f} s")
        try:
            src = PrometheusSource(prom.url, max_span="1d", max_workers=2, progress=False)
            gc.collect()
            rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            t = time.perf_counter()
            df = src.query_range("bench_gauge", start, end, "60s", stats=True)
            wall = time.perf_counter() - t
            rss1 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            n = len(df)
            a = df.attrs
            print(f"B  samples={n:,} series={a['series']} requests={a['requests']}")
            print(f"B  wall {wall:.1f} s; server execTotalTime sum "
                  f"{a.get('server_exec_seconds', float('nan')):.1f} s; HTTP request time sum "
                  f"{a['request_seconds']:.1f} s")
            print(f"B  peak RSS growth {(rss1 - rss0) / 1024:.0f} MB = "
                  f"{(rss1 - rss0) * 1024 / n:.0f} bytes/sample; frame "
                  f"{df.memory_usage(deep=True).sum() / n:.1f} bytes/sample")
        finally:
            prom.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["A", "B"])
    args = ap.parse_args()
    if args.only in (None, "A"):
        bench_a()
    if args.only in (None, "B"):
        bench_b()
