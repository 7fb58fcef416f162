"""The standard query catalog (``promql/catalog.py``): valid PromQL, escaped filters, and
numbers that agree with the simulator's truth on the real Prometheus fixture.

Every builder's output is parsed by ``promtool`` (as recording rules) with plain and hostile
tenant ids; the queries the notebooks and the fetch layer took out of their cells keep
their exact text; evaluated on the fixture, request totals, mean latency, memory limits,
versions and series counts match what the simulator generated.
"""

from __future__ import annotations

import inspect
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prom_local import PROMTOOL

from tributary_analysis.errors import ConfigError
from tributary_analysis.promql import catalog

HOSTILE = ['a"}or vector(1)#', ".*", "\\", "line\nbreak", "x'y"]


def _all_queries(tenant: str | None) -> dict[str, str]:
    """Every builder of the catalog called with defaults (and ``tenant`` where it takes one)."""
    out: dict[str, str] = {}
    for name in catalog.__all__:
        fn = getattr(catalog, name)
        if not inspect.isfunction(fn) or name == "family":
            continue
        params = inspect.signature(fn).parameters
        args: list[Any] = []
        if name == "memory_bytes":
            args = ["used"]
        elif name == "series_named":
            args = ["http_requests_total"]
        elif name in ("latency_quantile", "search_latency_quantile"):
            args = [0.95]
        kwargs = {"tenant": tenant} if tenant is not None and "tenant" in params else {}
        out[name] = fn(*args, **kwargs)
    return out


def _promtool_accepts(queries: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    lines = ["groups:", "- name: catalog", "  rules:"]
    for i, expr in enumerate(queries.values()):
        quoted = expr.replace("'", "''")
        lines += [f"  - record: catalog:q{i}", f"    expr: '{quoted}'"]
    path = tmp / "catalog.yml"
    path.write_text("\n".join(lines) + "\n")
    return subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True,
                          text=True, timeout=60, check=False)


@pytest.mark.parametrize("tenant", [None, "tenant-acme", *HOSTILE])
def test_every_builder_writes_promql_promtool_accepts(tenant: str | None,
                                                      tmp_path: Path) -> None:
    queries = _all_queries(tenant)
    assert len(queries) >= 20
    proc = _promtool_accepts(queries, tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{len(queries)} rules found" in proc.stdout


def test_promtool_refuses_broken_promql(tmp_path: Path) -> None:
    """The check above can fail: an unescaped tenant id breaks the query."""
    proc = _promtool_accepts({"bad": 'sum(rate(http_requests_total{tenant_id="a"}or"}[5m]))'},
                             tmp_path)
    assert proc.returncode != 0


@pytest.mark.parametrize(("built", "text"), [
    # the exact queries notebooks and fetch/planning.py wrote inline before the catalog had them
    (lambda: catalog.request_counter_sum(), "sum(http_requests_total)"),
    (lambda: catalog.build_info_timestamps(), "timestamp(deeplake_api_info)"),
    (lambda: catalog.memory_bytes("used"),
     'max by (instance) (memory_usage_bytes{memory_type="used"})'),
    (lambda: catalog.memory_bytes("total"),
     'max by (instance) (memory_usage_bytes{memory_type="total"})'),
    (lambda: catalog.mean_latency("2m", by=("tenant_id",)),
     "sum by (tenant_id) (rate(http_request_duration_seconds_sum[2m])) / "
     "sum by (tenant_id) (rate(http_request_duration_seconds_count[2m]))"),
    (lambda: catalog.tenant_requests(pd.Timedelta(hours=24), by=("status_code",)),
     "sum by (tenant_id, status_code) (increase(http_requests_total[1d]))"),
    (lambda: catalog.tenant_requests("1d"),
     "sum by (tenant_id) (increase(http_requests_total[1d]))"),
    (lambda: catalog.series_named("up"), '{__name__="up"}'),
])
def test_queries_moved_out_of_the_notebooks_keep_their_text(built: Callable[[], str],
                                                            text: str) -> None:
    assert built() == text


@pytest.mark.parametrize(("window", "written"), [
    ("1.5h", "1h30m"), ("90m", "1h30m"), (5400, "1h30m"), ("250ms", "250ms"),
    (pd.Timedelta(days=7), "1w"), ("30s", "30s"),
])
def test_ranges_are_read_leniently_and_written_as_prometheus_does(window: Any,
                                                                  written: str) -> None:
    assert catalog.request_rate(window=window) == \
        f"sum (rate(http_requests_total[{written}]))"


@pytest.mark.parametrize("bad", ["yesterday", "5 minutes", "-5m", "0s"])
def test_bad_ranges_are_refused_naming_the_input(bad: str) -> None:
    with pytest.raises(ConfigError, match=repr(bad)):
        catalog.request_rate(window=bad)


def test_memory_bytes_refuses_a_bad_label_name() -> None:
    from tributary_analysis.errors import DataError

    with pytest.raises(DataError, match="invalid label name"):
        catalog.memory_bytes("used", by=("in-stance",))


# ------------------------------------------------------------------ on the real fixture

@pytest.fixture(scope="module")
def fixture_source(prometheus_stack: Any) -> Any:
    from tributary_analysis.sources.prometheus import PrometheusSource

    src = PrometheusSource(prometheus_stack.url)
    yield src
    src.close()


def _at_end(src: Any, stack: Any, expr: str) -> pd.DataFrame:
    return src.query(expr, stack.manifest["end"])


@pytest.mark.prometheus
@pytest.mark.slow
def test_tenant_totals_match_the_requests_the_simulator_made(fixture_source: Any,
                                                             prometheus_stack: Any) -> None:
    m, truth = prometheus_stack.manifest, prometheus_stack.result.requests
    span = pd.Timestamp(m["end"]) - pd.Timestamp(m["start"])
    got = _at_end(fixture_source, prometheus_stack,
                  catalog.tenant_requests(span, by=("status_code",)))
    per_tenant = got.groupby(got["tenant_id"].astype(str))["value"].sum()
    want = truth.groupby(truth["tenant_id"].astype(str)).size()
    # increase() extrapolates to the window edges and misses a series' first increments
    assert float(per_tenant.sum()) == pytest.approx(len(truth), rel=0.02)
    for tenant in m["tenants"]:
        assert per_tenant[tenant] == pytest.approx(want[tenant], rel=0.05), tenant
    fives = got[got["status_code"].astype(str).str.startswith("5")]["value"].sum()
    assert fives <= 1.01 * int((truth["status_code"] >= 500).sum())


@pytest.mark.prometheus
@pytest.mark.slow
def test_mean_latency_is_the_true_mean_per_tenant(fixture_source: Any,
                                                  prometheus_stack: Any) -> None:
    m, truth = prometheus_stack.manifest, prometheus_stack.result.requests
    span = pd.Timestamp(m["end"]) - pd.Timestamp(m["start"])
    got = _at_end(fixture_source, prometheus_stack, catalog.mean_latency(span))
    mean = got.set_index(got["tenant_id"].astype(str))["value"]
    want = truth.groupby(truth["tenant_id"].astype(str))["duration_s"].mean()
    for tenant in m["tenants"]:  # _sum / _count: the extrapolation cancels in the ratio
        assert mean[tenant] == pytest.approx(want[tenant], rel=0.02), tenant


@pytest.mark.prometheus
@pytest.mark.slow
def test_memory_limit_versions_and_series_as_simulated(fixture_source: Any,
                                                       prometheus_stack: Any) -> None:
    m = prometheus_stack.manifest
    total = _at_end(fixture_source, prometheus_stack, catalog.memory_bytes("total"))
    assert set(total["instance"].astype(str)) == set(m["instances"])
    assert np.allclose(total["value"], m["memory_limit_bytes"])
    src = fixture_source
    info = src.query_range(catalog.build_info_timestamps(), m["start"], m["end"], "30m")
    assert set(info["version"].astype(str)) == {v["version"] for v in m["versions"]}
    assert len(src.series(catalog.series_named("http_requests_total"), m["start"], m["end"])) \
        == m["family_counts"]["http_requests"]["series"]  # OpenMetrics family name
    assert len(src.series(catalog.series_named("no_such_metric"), m["start"], m["end"])) == 0
    history = src.query_range(catalog.request_counter_sum(), m["start"], m["end"], "30m")
    grid = int((pd.Timestamp(m["end"]) - pd.Timestamp(m["start"])) / pd.Timedelta("30m")) + 1
    # a sample at every point of the window (the very first may precede the first scrape)
    assert grid - 1 <= len(history) <= grid
