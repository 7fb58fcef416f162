"""FileLogs (DuckDB over the simulator's files) and ElasticsearchLogs (the same logs loaded
into the real node) answer the same questions with the same frames.

Counts and top errors must be equal. Percentiles: DuckDB is exact; Elasticsearch uses
TDigest, so they must agree within the tolerance stated in docs/logs.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tributary_analysis.config import load_settings
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.sources.logs import ElasticsearchLogs, FileLogs, LogSource
from tributary_analysis.sources.logs.schema import sort_frame

pytestmark = [pytest.mark.elasticsearch, pytest.mark.timeout(600)]

START = "2000-01-01T00:00:00Z"
END = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3)).floor("D").isoformat()
#: TDigest vs exact, as documented in docs/logs.md: relative error of a percentile, or
#: its absolute error in seconds, whichever is looser
REL_TOL, ABS_TOL = 0.05, 0.002


@pytest.fixture(scope="module")
def sources(sim: Any, sim_dir: Path, elasticsearch_stack: Any) -> tuple[LogSource, LogSource]:
    files = FileLogs(sorted((sim_dir / "logs").glob("*.jsonl")))
    settings = load_settings(env={"TRIBUTARY_ES_URL": elasticsearch_stack.url,
                                  "TRIBUTARY_ES_USERNAME": elasticsearch_stack.reader[0],
                                  "TRIBUTARY_ES_PASSWORD": elasticsearch_stack.reader[1]})
    es = ElasticsearchLogs(settings=settings, progress=False)
    return files, es


def _tenants(sim: Any) -> list[str]:
    """The two busiest real tenants (health probes have none: "unknown" in the truth)."""
    counts = sim.requests["tenant_id"].astype(str).value_counts().drop("unknown", errors="ignore")
    return list(counts.index[:2])


def test_raw_exports_are_identical(sources: tuple[LogSource, LogSource]) -> None:
    files, es = sources
    a, b = sort_frame(files.search(START, END)), sort_frame(es.search(START, END))
    assert len(a) == len(b) > 0
    assert files.problems.counts == {}
    a.attrs, b.attrs = {}, {}
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


@pytest.mark.parametrize("by", [("tenant_id",), ("endpoint", "status_code"), ("search_type",)])
def test_summaries_agree(sources: tuple[LogSource, LogSource], sim: Any,
                         by: tuple[str, ...]) -> None:
    files, es = sources
    filters = {"tenant_id": _tenants(sim)}
    a = files.summary(START, END, interval="1h", by=by, filters=filters)
    b = es.summary(START, END, interval="1h", by=by, filters=filters)
    counts = ["timestamp", *by, "requests", "errors_5xx", "errors_4xx"]
    pd.testing.assert_frame_equal(a[counts], b[counts])
    truth = sim.requests[sim.requests["tenant_id"].astype(str).isin(filters["tenant_id"])]
    assert a["requests"].sum() == len(truth)
    lat = [c for c in a.columns if c.startswith("latency_")]
    exact, approx = a[lat].to_numpy(), b[lat].to_numpy()
    ok = np.isclose(approx, exact, rtol=REL_TOL, atol=ABS_TOL) | (np.isnan(exact)
                                                                  & np.isnan(approx))
    assert ok.all(), f"{(~ok).sum()} percentiles outside tolerance; worst rel error " \
                     f"{np.nanmax(np.abs(approx - exact) / exact):.3%}"
    assert meta_of(a).details["percentiles"].startswith("exact")
    assert meta_of(b).details["percentiles"].startswith("approximate")


def test_exact_percentiles_from_elasticsearch_rows_equal_duckdb(
        sources: tuple[LogSource, LogSource], sim: Any) -> None:
    files, es = sources
    filters = {"tenant_id": _tenants(sim)[-1]}
    a = files.summary(START, END, interval="6h", by=["endpoint"], filters=filters)
    b = es.exact_percentiles(START, END, interval="6h", by=["endpoint"], filters=filters)
    a.attrs, b.attrs = {}, {}
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)


def test_top_errors_are_equal(sources: tuple[LogSource, LogSource]) -> None:
    files, es = sources
    a, b = files.top_errors(START, END, k=10), es.top_errors(START, END, k=10)
    a.attrs, b.attrs = {}, {}
    assert len(a) > 0
    pd.testing.assert_frame_equal(a, b)


def test_filtered_exports_are_identical(sources: tuple[LogSource, LogSource], sim: Any) -> None:
    files, es = sources
    flt = {"tenant_id": _tenants(sim)[0], "status_code": [500, 502, 503, 504]}
    fields = ["timestamp", "request_id", "endpoint", "status_code", "duration_s"]
    a = sort_frame(files.search(START, END, flt, fields))
    b = sort_frame(es.search(START, END, flt, fields))
    a.attrs, b.attrs = {}, {}
    pd.testing.assert_frame_equal(a, b)
