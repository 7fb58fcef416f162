"""Budgets and query-frontend friendliness of long range queries, against a real
Prometheus 2.42 behind a real recording proxy: refused before sending with the estimate
and how to proceed; aligned starts and ends, cuts on UTC midnights, the tenant header on
every chunk; the response encoding chosen per server."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
from prom_local import FaultProxy, LocalPrometheus, start_prometheus, wait_for

from tributary_analysis.errors import TooManySamples
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.sources.prometheus import BudgetExceeded, PrometheusSource
from tributary_analysis.sources.prometheus.transport import is_local_network

pytestmark = pytest.mark.prometheus

DAY = 86400
NOW = int(time.time())


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    p = start_prometheus(tmp_path_factory.mktemp("prom-budget"))
    try:
        wait_for(p.url, "prometheus_http_request_duration_seconds_bucket", min_series=20)
        yield p
    finally:
        p.stop()


@pytest.fixture
def proxy(prom: LocalPrometheus) -> Iterator[FaultProxy]:
    p = FaultProxy(prom.url)
    yield p
    p.stop()


def _params(r: dict[str, Any]) -> dict[str, str]:
    raw = r["body"].decode() if r["body"] else urlsplit(r["path"]).query
    return {k: v[0] for k, v in parse_qs(raw).items()}


def _ranges(p: FaultProxy) -> list[dict[str, Any]]:
    return [r for r in p.state.requests if "/api/v1/query_range" in r["path"]]


def test_too_many_requests_is_refused_before_anything_is_sent(proxy: FaultProxy) -> None:
    src = PrometheusSource(proxy.url)
    with pytest.raises(BudgetExceeded, match=(
            r"not sent: query_range of 'vector\(1\)' over \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ → "
            r"\S+Z \(\S+\) at step 1s would need 2,9\d\d request\(s\) of up to 11,000 points "
            r"per series \(31,\d{3},\d{3} points per series\), over the budget "
            r"\(max_requests=1,000\); use a coarser step \(--step 15s needs 19\d request\(s\)"
            r"\), a shorter window, or raise the budget \(max_samples= / --max-samples")) as e:
        src.query_range("vector(1)", NOW - 365 * DAY, NOW, "1s")
    assert isinstance(e.value, TooManySamples) and e.value.estimate["requests"] > 2900
    assert [r for r in proxy.state.requests if "/api/v1/query" in r["path"]] == []


def test_too_many_samples_is_refused_with_the_series_estimate(proxy: FaultProxy) -> None:
    src = PrometheusSource(proxy.url)
    now = int(time.time())
    expr = "prometheus_http_request_duration_seconds_bucket"
    chunks, _ = src.plan(now - 90 * DAY, now, "1s")
    points = sum(c.points for c in chunks)
    assert (len(chunks), points) == (721, 7_776_001)  # 8 three-hour cuts a day, + 1 point
    n = len(src.query(expr, time=now))
    assert n >= 20
    with pytest.raises(BudgetExceeded, match=(
            rf"would need 721 request\(s\) of up to 11,000 points per series and about "
            rf"{n * points:,} samples \({n:,} series at \S+Z × {points:,} points\), over the "
            r"budget \(max_samples=50,000,000\); use a coarser step \(--step (\d+s|\d+m) "
            r"needs \d+ request\(s\) and about [\d,]+ samples\)")) as e:
        src.query_range(expr, now - 90 * DAY, now, "1s")
    assert e.value.estimate["series"] == n and e.value.estimate["samples"] == n * points
    assert _ranges(proxy) == []  # only the one-instant probe went out
    # the suggested step fits the budget
    step = re.search(r"--step (\S+) needs", str(e.value)).group(1)  # type: ignore[union-attr]
    chunks, _ = src.plan(now - 90 * DAY, now, step)
    assert n * sum(c.points for c in chunks) <= 50_000_000
    # a split pull within budget goes out, and the estimate is recorded
    df = src.query_range(expr, now - 3600, now, "1s", max_points=1000, max_samples=10**9)
    est = meta_of(df).details["estimate"]
    assert est["requests"] == meta_of(df).details["chunks"] >= 4 and est["series"] >= n


def test_long_range_is_aligned_cut_at_midnight_and_carries_the_tenant_header(
        proxy: FaultProxy) -> None:
    src = PrometheusSource(proxy.url, headers={"X-Scope-OrgID": "team-a"}, max_span="1d")
    start = pd.Timestamp(NOW - 3 * DAY, unit="s", tz="UTC") + pd.Timedelta("17s")
    end = pd.Timestamp(NOW, unit="s", tz="UTC")
    df = src.query_range("vector(1)", start, end, "1m")
    reqs = _ranges(proxy)
    assert len(reqs) == meta_of(df).requests - 1 >= 3  # + the series probe
    starts = sorted(float(_params(r)["start"]) for r in reqs)
    ends = sorted(float(_params(r)["end"]) for r in reqs)
    assert all(s % 60 == 0 and e % 60 == 0 for s, e in zip(starts, ends, strict=True))
    assert starts[0] == (NOW - 3 * DAY + 17) // 60 * 60  # start moved down to the step
    assert all(s % DAY == 0 for s in starts[1:])  # every other chunk starts at midnight
    assert all(e % DAY == DAY - 60 for e in ends[:-1])  # and ends one step before the next
    assert all(r["headers"].get("X-Scope-OrgID") == "team-a" for r in proxy.state.requests)
    ts = df["timestamp"]
    assert ts.is_unique and ts.diff().dropna().eq(pd.Timedelta("1m")).all()
    w = meta_of(df).window
    assert w is not None and w.start == ts.min() and w.end == ts.max() + pd.Timedelta("1m")


def test_short_range_keeps_the_instants_asked_for(proxy: FaultProxy) -> None:
    src = PrometheusSource(proxy.url)
    start = pd.Timestamp(NOW - 600, unit="s", tz="UTC") + pd.Timedelta("17s")
    df = src.query_range("vector(1)", start, start + pd.Timedelta("5m"), "1m")
    assert df["timestamp"].iloc[0] == start and len(df) == 6
    aligned = src.query_range("vector(1)", start, start + pd.Timedelta("5m"), "1m", align=True)
    assert aligned["timestamp"].iloc[0] == start.floor("1min") and len(aligned) == 6


def test_encoding_is_identity_on_loopback_and_gzip_when_asked(proxy: FaultProxy,
                                                              prom: LocalPrometheus) -> None:
    assert is_local_network("http://127.0.0.1:9090") and is_local_network("http://[::1]:1")
    assert is_local_network("http://10.1.2.3") and is_local_network("http://localhost:1")
    assert not is_local_network("http://8.8.8.8:9090")
    assert not is_local_network("http://no-such-host.invalid:9090")
    src = PrometheusSource(proxy.url)
    src.query("vector(1)")
    assert proxy.state.requests[-1]["headers"]["Accept-Encoding"] == "identity"
    expr = "prometheus_http_request_duration_seconds_bucket"
    end = pd.Timestamp(NOW, unit="s", tz="UTC")
    plain = PrometheusSource(prom.url).query_range(expr, end - pd.Timedelta("2m"), end, "5s")
    zipped_src = PrometheusSource(prom.url, compression="gzip")
    zipped = zipped_src.query_range(expr, end - pd.Timedelta("2m"), end, "5s")
    assert meta_of(plain).details["encoding"] == "identity"
    assert meta_of(zipped).details["encoding"] == "gzip"
    pd.testing.assert_frame_equal(plain, zipped)
