"""Benchmarks for the log sources (issue 4 bars); results go to docs/benchmarks.md.

1. Export: ``ElasticsearchLogs.search`` (PIT + search_after, _source filtering,
   filter_path, orjson, columns built directly) against the baseline
   ``elasticsearch.helpers.scan`` + ``pandas.DataFrame`` on the same index in the same run:
   docs/s and peak memory per row (each method in its own process, ``ru_maxrss`` minus the
   process's resident size before the export).
2. Summary: per-tenant, per-hour request and error counts with p95 over the events, timed in
   Elasticsearch aggregations, in DuckDB (``FileLogs``; loading timed separately), and by
   pulling raw rows into pandas; plus how far TDigest p95 is from the exact one.
3. File loading (``--files-only``, no Elasticsearch needed): what the bytes-only pre-pass
   costs inside a ``FileLogs`` load of a clean file, and what a dirty file (CRLF line
   endings throughout, one NUL line per block) costs through the repaired copy. Each load
   in a fresh process, alternating, twice.

Usage (files only)::

    .venv/bin/python bench/bench_logs.py --files-only --events 1000000 --workdir /tmp/bench-logs

Usage (credentials from the environment, as for the library)::

    TRIBUTARY_ES_URL=http://127.0.0.1:PORT TRIBUTARY_ES_USERNAME=... TRIBUTARY_ES_PASSWORD=... \\
    BENCH_ES_ADMIN_USER=... BENCH_ES_ADMIN_PASSWORD=... \\
    .venv/bin/python bench/bench_logs.py --events 1000000 --workdir /tmp/bench-logs

The admin user only loads the bench index (``tributary-bench-logs``); every measured call
uses the ``TRIBUTARY_ES_*`` user.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

INDEX = "tributary-logs-bench"  # inside the reader role's tributary-logs-* privileges
START = pd.Timestamp("2025-03-01T00:00:00Z")
DAYS = 7
TENANTS = [f"tenant-{i:02d}" for i in range(20)]
ENDPOINTS = ["/api/v1/datasets/{ds}", "/api/v1/datasets/{ds}/search",
             "/api/v1/datasets/{ds}/vectors/{v}", "/api/v1/datasets", "/api/v1/health"]
ERRORS = [("SearchTimeout", "E504", "search timed out"),
          ("StorageError", "E500", "storage backend unavailable")]


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def generate(n: int, workdir: Path, seed: int = 1) -> Path:
    """``n`` completed-request events (+3% error events) as envelope JSON lines."""
    path = workdir / "deeplake-api-bench.jsonl"
    if path.exists():
        return path
    rng = np.random.default_rng(seed)
    t = np.sort(rng.uniform(0, DAYS * 86400, n))
    weights = rng.pareto(1.2, len(TENANTS)) + 0.2
    tenant = rng.choice(len(TENANTS), n, p=weights / weights.sum())
    ep = rng.choice(len(ENDPOINTS), n, p=[0.3, 0.35, 0.2, 0.1, 0.05])
    status = rng.choice([200, 201, 404, 429, 500, 503], n, p=[0.8, 0.08, 0.05, 0.03, 0.02, 0.02])
    dur = np.round(rng.lognormal(-3.0, 0.9, n), 6)
    outer = {"asctime": "2025-03-01 00:00:00,000", "name": "deeplake-api",
             "pathname": "/app/app/monitoring/logging.py", "lineno": 63}
    with open(path, "wb") as fh:
        for i in range(n):
            ts = (START + pd.Timedelta(seconds=float(t[i]))).strftime("%Y-%m-%dT%H:%M:%S.%f")
            p = ENDPOINTS[ep[i]].format(ds=f"ds-{i % 7}", v=f"v-{i % 1000}")
            inner = {"timestamp": ts, "service": "deeplake-api", "level": "INFO",
                     "message": "HTTP request processed", "environment": "production",
                     "request_id": f"r-{i:08d}", "method": "GET", "path": p,
                     "status_code": int(status[i]), "duration": float(dur[i]),
                     "tenant_id": TENANTS[tenant[i]]}
            fh.write(orjson.dumps({**outer, "levelname": "INFO",
                                   "message": orjson.dumps(inner).decode()}) + b"\n")
            if status[i] >= 500 and i % 2 == 0:
                et, ec, msg = ERRORS[i % len(ERRORS)]
                err = {"timestamp": ts, "service": "deeplake-api", "level": "ERROR",
                       "message": msg, "environment": "production", "error_type": et,
                       "error_code": ec, "tenant_id": TENANTS[tenant[i]],
                       "request_id": f"r-{i:08d}"}
                fh.write(orjson.dumps({**outer, "levelname": "ERROR",
                                       "message": orjson.dumps(err).decode()}) + b"\n")
    return path


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


def load_es(path: Path) -> dict[str, Any]:
    """Bulk-load flat documents (as the demo loader writes them) into the bench index."""
    from elasticsearch import Elasticsearch, helpers

    from tributary_analysis.stack.es_logs import INDEX_TEMPLATE, envelope_to_doc

    admin = Elasticsearch(os.environ["TRIBUTARY_ES_URL"], request_timeout=300,
                          basic_auth=(os.environ["BENCH_ES_ADMIN_USER"],
                                      os.environ["BENCH_ES_ADMIN_PASSWORD"]))
    n_lines = _count_lines(path)
    if admin.indices.exists(index=INDEX) and admin.count(index=INDEX)["count"] == n_lines:
        return {"loaded": 0, "docs": n_lines}
    admin.options(ignore_status=404).indices.delete(index=INDEX)
    tpl = INDEX_TEMPLATE["template"]
    admin.indices.create(index=INDEX, mappings=tpl["mappings"],
                         settings={**tpl["settings"], "refresh_interval": "-1"})

    def actions() -> Any:
        with open(path, "rb") as fh:
            for line in fh:
                _id, _index, doc = envelope_to_doc(line)
                yield {"_index": INDEX, "_id": _id, "_source": doc}

    t0 = time.perf_counter()
    for ok, info in helpers.streaming_bulk(admin, actions(), chunk_size=5000,
                                           raise_on_error=True):
        assert ok, info
    admin.indices.put_settings(index=INDEX, settings={"refresh_interval": "1s"})
    admin.indices.refresh(index=INDEX)
    admin.options(request_timeout=600).indices.forcemerge(index=INDEX, max_num_segments=1)
    return {"loaded": n_lines, "load_s": time.perf_counter() - t0}


# --------------------------------------------------------------------------- one method


def run_one(method: str, end: str) -> dict[str, Any]:
    """Run one export method in this process and report time, rows and peak memory."""
    from elasticsearch import Elasticsearch, helpers

    from tributary_analysis.config import load_settings
    from tributary_analysis.sources.logs import ElasticsearchLogs

    settings = load_settings()
    window = {"range": {"@timestamp": {"gte": START.isoformat(), "lt": end}}}
    if method == "baseline":
        client = Elasticsearch(settings.es_url, request_timeout=300, basic_auth=(
            settings.es_username, settings.es_password.get() if settings.es_password else ""))
        client.count(index=INDEX)  # connect before measuring
        rss0 = _rss_mb()
        t0 = time.perf_counter()
        rows = [h["_source"] for h in helpers.scan(client, index=INDEX,
                                                   query={"query": window})]
        df = pd.DataFrame(rows)
        seconds = time.perf_counter() - t0
    else:
        src = ElasticsearchLogs(settings=settings, index=INDEX, progress=False,
                                request_timeout=300)
        src.count(START, end)
        rss0 = _rss_mb()
        t0 = time.perf_counter()
        df = src.search(START, end)
        seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"method": method, "rows": len(df), "seconds": seconds,
            "docs_per_s": len(df) / seconds, "peak_mb_over_start": peak - rss0,
            "bytes_per_row": (peak - rss0) * 2**20 / max(len(df), 1),
            "frame_mb": df.memory_usage(deep=True).sum() / 2**20}


def export_bench(end: str) -> list[dict[str, Any]]:
    out = []
    for method in ("baseline", "ours", "baseline", "ours"):  # interleaved, twice
        proc = subprocess.run([sys.executable, __file__, "--one", method, "--end", end],
                              capture_output=True, text=True, check=True)
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(out[-1], file=sys.stderr)
    return out


def _best(fn: Any, repeat: int = 3) -> tuple[float, float, Any]:
    """(first run seconds, best of ``repeat`` seconds, result)."""
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return times[0], min(times), result


def summary_bench(path: Path, workdir: Path) -> dict[str, Any]:
    from tributary_analysis.config import load_settings
    from tributary_analysis.sources.logs import ElasticsearchLogs, FileLogs, summarize_frame

    end = (START + pd.Timedelta(days=DAYS)).isoformat()
    args = {"interval": "1h", "by": ["tenant_id"], "percentiles": [95]}
    res: dict[str, Any] = {}
    es = ElasticsearchLogs(settings=load_settings(), index=INDEX, progress=False,
                           request_timeout=300)
    first, best, s_es = _best(lambda: es.summary(START, end, **args))
    res["es_aggs"] = {"first_s": first, "best_s": best, "rows": len(s_es)}

    t0 = time.perf_counter()
    files = FileLogs(path)
    _ = files.problems
    res["duckdb_load_jsonl_s"] = time.perf_counter() - t0
    first, best, s_db = _best(lambda: files.summary(START, end, **args))
    res["duckdb"] = {"first_s": first, "best_s": best, "rows": len(s_db)}
    pq = files.to_parquet(workdir / "bench.parquet")
    t0 = time.perf_counter()
    files_pq = FileLogs(pq)
    _ = files_pq.problems
    res["duckdb_load_parquet_s"] = time.perf_counter() - t0

    cols = ["timestamp", "tenant_id", "status_code", "duration_s"]
    first, best, s_pd = _best(lambda: summarize_frame(es.search(START, end, fields=cols),
                                                      **args), repeat=1)
    res["pandas_from_es_rows"] = {"first_s": first, "rows": len(s_pd)}
    raw = files.search(START, end, fields=cols)
    first, best, _ = _best(lambda: summarize_frame(raw, **args))
    res["pandas_groupby_only"] = {"best_s": best, "rows_in": len(raw)}

    counts = ["timestamp", "tenant_id", "requests", "errors_5xx", "errors_4xx"]
    res["counts_equal"] = bool(s_es[counts].equals(s_db[counts]))
    exact, approx = s_db["latency_p95_s"].to_numpy(), s_es["latency_p95_s"].to_numpy()
    rel = np.abs(approx - exact) / exact
    res["tdigest_p95_rel_error"] = {"median": float(np.median(rel)),
                                    "p99": float(np.quantile(rel, 0.99)),
                                    "max": float(rel.max()),
                                    "buckets": len(rel),
                                    "median_bucket_requests": float(s_db["requests"].median())}
    # large buckets: the whole fleet per hour (thousands of requests each)
    big_es = es.summary(START, end, interval="1h", by=[], percentiles=[50, 95, 99])
    big_db = files.summary(START, end, interval="1h", by=[], percentiles=[50, 95, 99])
    for p in (50, 95, 99):
        col = f"latency_p{p}_s"
        e, x = big_es[col].to_numpy(), big_db[col].to_numpy()
        r = np.abs(e - x) / x
        res[f"tdigest_fleet_hourly_p{p}_rel_error"] = {
            "median": float(np.median(r)), "max": float(r.max()), "buckets": len(r),
            "median_bucket_requests": float(big_db["requests"].median())}
    res["events"] = _count_lines(path)
    return res


def dirty_copy(path: Path) -> Path:
    """The same lines with CRLF endings, and a line of NUL bytes every 50,000 lines."""
    out = path.with_name(path.stem + "-dirty.jsonl")
    if out.exists():
        return out
    with open(path, "rb") as src, open(out, "wb") as dst:
        for i, line in enumerate(src):
            if i and i % 50_000 == 0:
                dst.write(b"\0" * 64 + b"\n")
            dst.write(line.rstrip(b"\n") + b"\r\n")
    return out


def load_one(path: str) -> dict[str, Any]:
    """One ``FileLogs`` load in this process: total time, pre-pass time, rows."""
    from tributary_analysis.sources.logs import lines
    from tributary_analysis.sources.logs.files import FileLogs

    spent: dict[str, float] = {"check": 0.0, "repair": 0.0}

    def timed(name: str, fn: Any) -> Any:
        def wrapper(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.perf_counter() - t
        return wrapper

    lines.check_file = timed("check", lines.check_file)  # type: ignore[assignment]
    lines.repair_file = timed("repair", lines.repair_file)  # type: ignore[assignment]
    t0 = time.perf_counter()
    logs = FileLogs(path)
    probs = logs.problems
    total = time.perf_counter() - t0
    rows = logs.count("2000-01-01", "2100-01-01")
    return {"path": Path(path).name, "load_s": total, "check_s": spent["check"],
            "repair_s": spent["repair"], "rows": rows, "records": probs.records,
            "problems": dict(probs.counts), "mb": Path(path).stat().st_size / 1e6}


def files_bench(path: Path) -> list[dict[str, Any]]:
    dirty = dirty_copy(path)
    out = []
    for p in (path, dirty, path, dirty):
        proc = subprocess.run([sys.executable, __file__, "--load-one", str(p)],
                              capture_output=True, text=True, check=True)
        out.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(out[-1], file=sys.stderr)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/bench-logs"))
    ap.add_argument("--export-days", type=float, default=DAYS,
                    help="export window length (days from the start)")
    ap.add_argument("--files-only", action="store_true",
                    help="only the file-loading benchmark (no Elasticsearch)")
    ap.add_argument("--load-one", help=argparse.SUPPRESS)
    ap.add_argument("--one", choices=["baseline", "ours"], help=argparse.SUPPRESS)
    ap.add_argument("--end", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(run_one(a.one, a.end)))
        return
    if a.load_one:
        print(json.dumps(load_one(a.load_one)))
        return
    a.workdir.mkdir(parents=True, exist_ok=True)
    path = generate(a.events, a.workdir)
    if a.files_only:
        print(json.dumps({"files": files_bench(path)}, indent=2))
        return
    result: dict[str, Any] = {"load": load_es(path)}
    end = (START + pd.Timedelta(days=a.export_days)).isoformat()
    result["export"] = export_bench(end)
    result["summary"] = summary_bench(path, a.workdir)
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
