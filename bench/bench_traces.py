"""Benchmark: spans per second into frames, from OTLP files and from a real Jaeger, against a
plain ``requests`` + ``pandas.json_normalize`` baseline in the same run.

Data: the simulator's ``small`` profile (seed 7, end 2026-11-20T12:00Z; ~118k spans in
~12.8k traces, 82 MB of OTLP JSON), or ``--sim-dir`` of an earlier run. Each side builds the
same thing: one row per span with start (UTC), duration, status and every attribute as a
column. Rounds interleave ours and the baseline so load swings hit both; medians reported.

Usage::

    .venv/bin/python bench/bench_traces.py [--rounds 3] [--sim-dir DIR] [--no-jaeger]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import requests

END = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def baseline_frame(docs: list[dict[str, Any]]) -> pd.DataFrame:
    """What a person writes: json_normalize the spans, then the attribute lists to columns."""
    spans = pd.json_normalize(docs, record_path=["resourceSpans", "scopeSpans", "spans"])
    attrs = pd.DataFrame([{a["key"]: next(iter(a["value"].values())) for a in (lst or [])}
                          for lst in spans.get("attributes", pd.Series([[]] * len(spans)))])
    spans["start"] = pd.to_datetime(spans["startTimeUnixNano"].astype("int64"), utc=True)
    spans["duration_s"] = (spans["endTimeUnixNano"].astype("int64")
                           - spans["startTimeUnixNano"].astype("int64")) / 1e9
    return pd.concat([spans.drop(columns=["attributes"], errors="ignore"), attrs], axis=1)


def baseline_files(files: list[Path]) -> pd.DataFrame:
    docs = [json.loads(line) for f in files for line in f.open()]
    return baseline_frame(docs)


def baseline_jaeger(url: str, start: str, end: str, depth: int) -> pd.DataFrame:
    r = requests.get(f"{url}/api/v3/traces", params={
        "query.service_name": "deeplake-api", "query.start_time_min": start,
        "query.start_time_max": end, "query.num_traces": str(depth)}, timeout=600)
    r.raise_for_status()
    return baseline_frame([r.json()["result"]])


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sim-dir", type=Path, default=None)
    ap.add_argument("--no-jaeger", action="store_true")
    args = ap.parse_args()

    from tributary_analysis.demo import simulate
    from tributary_analysis.frames.meta import meta_of
    from tributary_analysis.sources.traces import JaegerTraces, OtlpFiles

    tmp = Path(tempfile.mkdtemp(prefix="bench-traces-"))
    try:
        if args.sim_dir is None:
            res = simulate("small", seed=7, end=END, out_dir=tmp / "sim",
                           metrics_dir=tmp / "metrics")
            manifest, sim_dir = res.manifest, tmp / "sim"
        else:
            sim_dir = args.sim_dir
            manifest = json.loads((sim_dir / "manifest.json").read_text())
        files = [sim_dir / p for p in manifest["files"]["traces"]]
        n_spans = manifest["counts"]["spans"]
        size = sum(f.stat().st_size for f in files)
        print(f"{n_spans:,} spans in {manifest['counts']['traces']:,} traces, "
              f"{size / 1e6:.1f} MB of OTLP JSON; load average {os.getloadavg()[0]:.1f}")
        window = {"start": manifest["start"], "end": manifest["end"], "limit": 10**6}
        results: dict[str, list[float]] = {k: [] for k in (
            "files cold", "files warm", "files baseline", "jaeger", "jaeger one page",
            "jaeger baseline", "jaeger GET only")}
        server = None
        if not args.no_jaeger:
            from tributary_analysis.demo.otlp import load_otlp
            from tributary_analysis.stack import jaeger

            server = jaeger.start(tmp / "jaeger")
            report = load_otlp(files, server.otlp_http_url)
            print(report.summary())
            time.sleep(3)
        try:
            for r in range(args.rounds):
                src = OtlpFiles(files)
                t, df = timed(lambda src=src: src.spans(**window))
                assert len(df) == n_spans, len(df)
                results["files cold"].append(t)
                t, _ = timed(lambda src=src: src.spans(**window))
                results["files warm"].append(t)
                t, base = timed(lambda: baseline_files(files))
                assert len(base) == n_spans
                results["files baseline"].append(t)
                if server is not None:
                    js = JaegerTraces(server.query_url)
                    t, dj = timed(lambda js=js: js.spans(**window))
                    assert len(dj) == n_spans, (len(dj), meta_of(dj).notes)
                    results["jaeger"].append(t)
                    if r == 0:
                        print("jaeger pages:", {k: meta_of(dj).details[k] for k in (
                            "pages", "splits", "search_depth")}, "requests",
                            meta_of(dj).requests)
                    big = JaegerTraces(server.query_url, page_traces=100_000)
                    t, db = timed(lambda big=big: big.spans(**window))
                    assert len(db) == n_spans
                    results["jaeger one page"].append(t)
                    t, bj = timed(lambda: baseline_jaeger(
                        server.query_url, manifest["start"], manifest["end"], 100_000))
                    assert len(bj) == n_spans, len(bj)
                    results["jaeger baseline"].append(t)
                    t, _ = timed(lambda: requests.get(
                        f"{server.query_url}/api/v3/traces", timeout=600, params={
                            "query.service_name": "deeplake-api",
                            "query.start_time_min": manifest["start"],
                            "query.start_time_max": manifest["end"],
                            "query.num_traces": "100000"}).content)
                    results["jaeger GET only"].append(t)
                print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f} s"
                                                     for k, v in results.items() if v),
                      f"(load {os.getloadavg()[0]:.1f})", flush=True)
        finally:
            if server is not None:
                jaeger.stop(server)
        print("\nmedians (spans/s):")
        med = {k: statistics.median(v) for k, v in results.items() if v}
        for k, v in med.items():
            print(f"  {k:16s} {v:7.2f} s  {n_spans / v:10,.0f} spans/s")
        if "files baseline" in med:
            print(f"  files: ours cold {med['files baseline'] / med['files cold']:.2f}x, "
                  f"warm {med['files baseline'] / med['files warm']:.1f}x the baseline")
        if "jaeger baseline" in med:
            print(f"  jaeger: ours (paged) {med['jaeger baseline'] / med['jaeger']:.2f}x, "
                  f"one page {med['jaeger baseline'] / med['jaeger one page']:.2f}x the "
                  "baseline; the server's answer alone (GET, bytes only) takes "
                  f"{med['jaeger GET only']:.2f} s")
        print(json.dumps({"spans": n_spans, "bytes": size, **{k: round(v, 3)
                                                              for k, v in med.items()}}))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
