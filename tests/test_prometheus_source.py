"""PrometheusSource against a REAL local Prometheus (self-scraping, plus a backfilled block
with hostile tenant ids), and a real fault-injecting proxy for faults it will not produce."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prom_local import FaultProxy, LocalPrometheus, free_port, om_escape, start_prometheus, wait_for
from prometheus_api_client import PrometheusConnect

from tributary_analysis.config import load_settings
from tributary_analysis.errors import (
    AuthenticationError,
    ConfigError,
    QueryError,
    QueryTimeout,
    ServerUnavailable,
    SourceUnreachable,
    TooManySamples,
    UnexpectedResponse,
)
from tributary_analysis.frames.meta import meta_of, reader_notes
from tributary_analysis.promql import Matcher, selector
from tributary_analysis.promql import catalog as queries
from tributary_analysis.sources.prometheus import (
    PrometheusSource,
    RetryPolicy,
    plan_chunks,
    to_wide,
)
from tributary_analysis.sources.prometheus.chunking import iter_points

pytestmark = pytest.mark.prometheus

HOSTILE = ['a"}or vector(1)#', ".*", "\\", "line\nbreak", '"}', "a", "acme", "x|y",
           "ü-ß", "a.b", "a\\\"b"]
T0 = (int(time.time()) // 3600 - 3) * 3600  # backfilled block: 3 hours ago, on the hour
FAST = RetryPolicy(max_attempts=4, base=0.05, max_wait=0.2, budget=5)


def _openmetrics() -> str:
    lines = ["# TYPE http_requests counter"]
    for n, tenant in enumerate(HOSTILE):
        labels = (f'endpoint="/api/v1/search",method="POST",status_code="200",'
                  f'tenant_id="{om_escape(tenant)}"')
        lines += [f"http_requests_total{{{labels}}} {(n + 1) * i} {T0 + 60 * i}"
                  for i in range(31)]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    p = start_prometheus(tmp_path_factory.mktemp("prom-src"), openmetrics=_openmetrics())
    try:
        wait_for(p.url, "prometheus_http_requests_total", min_series=2)
        time.sleep(6)  # a few self-scrapes for range queries
        yield p
    finally:
        p.stop()


@pytest.fixture
def src(prom: LocalPrometheus) -> Iterator[PrometheusSource]:
    s = PrometheusSource(prom.url, retry=FAST)
    yield s
    s.close()


@pytest.fixture(scope="module")
def proxy(prom: LocalPrometheus) -> Iterator[FaultProxy]:
    p = FaultProxy(prom.url)
    yield p
    p.stop()


def _sorted(df: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in df.columns if c not in ("value",)]
    out = df.astype({c: str for c in cols if c != "timestamp"}).sort_values(cols)
    return out.reset_index(drop=True)


# -- chunking ----------------------------------------------------------------------------

@pytest.mark.parametrize("start,end,step,per", [(0, 10_000, 1000, 4), (7, 100_007, 1500, 11),
                                                (5, 5, 1000, 3), (0, 86_400_000, 60_000, 11_000)])
@pytest.mark.parametrize("days", [False, True])
def test_chunks_cover_the_step_grid_exactly_once(start: int, end: int, step: int,
                                                 per: int, days: bool) -> None:
    chunks = plan_chunks(start, end, step, max_points=per, day_boundaries=days)
    points = [p for c in chunks for p in iter_points(c)]
    assert points == list(range(start, end + 1, step))
    assert all(c.points <= per for c in chunks)


def test_chunked_range_equals_one_request_sample_for_sample(src: PrometheusSource) -> None:
    start = pd.Timestamp(T0, unit="s", tz="UTC") + pd.Timedelta("250ms")  # off-grid start
    end = start + pd.Timedelta("30min")
    expr = "rate(http_requests_total[2m])"
    one = src.query_range(expr, start, end, 7.5, align=False)
    many = src.query_range(expr, start, end, 7.5, max_points=11, align=False,
                           max_samples=None)
    assert meta_of(one).requests == 1 and meta_of(many).requests == 25  # 75 s day fractions
    assert len(one) == (241 - 8) * len(HOSTILE)  # rate needs 2 samples: none before T0+60s
    pd.testing.assert_frame_equal(_sorted(one), _sorted(many))
    # aligned (the default): start moves down to T0 (a multiple of 7.5 s); cut on 75 s
    # fractions of the day, at most 11 points each
    chunks, window = src.plan(start, end, 7.5, max_points=11)
    assert window.start == pd.Timestamp(T0, unit="s", tz="UTC")
    assert all(c.start_ms % 75_000 == 0 and c.points <= 11 for c in chunks)
    aligned = src.query_range(expr, start, end, 7.5, max_points=11, max_samples=None)
    assert meta_of(aligned).requests == len(chunks) == 25
    assert aligned["timestamp"].min() == pd.Timestamp(T0 + 60, unit="s", tz="UTC")
    spans = src.query_range(expr, start, end, 7.5, max_span="5m", max_workers=2,
                            align=False, max_samples=None)
    assert meta_of(spans).requests == 7  # six 5-minute pieces + the point at T0+30m
    pd.testing.assert_frame_equal(_sorted(one), _sorted(spans))
    # and on the live self-scraped data, with a 1.5 s step
    now = pd.Timestamp.now(tz="UTC").floor("s")
    live_one = src.query_range("prometheus_http_requests_total", now - pd.Timedelta("5s"),
                               now, 1.5, align=False)
    live_many = src.query_range("prometheus_http_requests_total", now - pd.Timedelta("5s"),
                                now, 1.5, max_points=1, align=False, max_samples=None)
    assert meta_of(live_many).requests == 4 and len(live_one) > 0
    pd.testing.assert_frame_equal(_sorted(live_one), _sorted(live_many))


def test_month_at_one_second_would_exceed_the_points_limit_but_is_split(
        src: PrometheusSource) -> None:
    # 3 hours at 1 s = 10,801 points... at 0.5 s: 21,601 > 11,000 -> must be split in 2+
    df = src.query_range("vector(1)", T0, T0 + 3 * 3600, 0.5, max_workers=2)
    # cut on 1.5-hour fractions of the day: 2 chunks + the closing point, + 1 probe
    assert meta_of(df).requests == 4 and meta_of(df).details["chunks"] == 3
    assert meta_of(df).details["estimate"]["series"] == 1
    assert len(df) == 3 * 3600 * 2 + 1
    assert df["timestamp"].is_unique and df["timestamp"].is_monotonic_increasing


def test_server_refuses_more_than_11000_points_when_not_split(src: PrometheusSource) -> None:
    with pytest.raises(TooManySamples, match=r"11,000 points.*increase step"):
        src.query_range("vector(1)", T0, T0 + 3 * 3600, 0.5, max_points=50_000)


# -- frames -----------------------------------------------------------------------------

def test_frame_types_and_special_values(src: PrometheusSource) -> None:
    df = src.query('label_replace(vector(1)/0, "k", "pos", "", "") or '
                   'label_replace(-vector(1)/0, "k", "neg", "", "") or '
                   'label_replace(vector(0)/0, "k", "nan", "", "")', time=T0)
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert df["value"].dtype == np.float64
    assert isinstance(df["k"].dtype, pd.CategoricalDtype)
    got = dict(zip(df["k"].astype(str), df["value"], strict=True))
    assert got["pos"] == np.inf and got["neg"] == -np.inf and np.isnan(got["nan"])
    assert (df["timestamp"] == pd.Timestamp(T0, unit="s", tz="UTC")).all()


def test_range_frame_has_metric_column_and_attrs(src: PrometheusSource) -> None:
    end = pd.Timestamp(T0 + 1800, unit="s", tz="UTC")
    df = src.query_range(selector("http_requests_total", tenant_id="acme"), T0, end, "60s")
    assert list(df.columns[:3]) == ["timestamp", "value", "metric"]
    assert set(df["metric"].astype(str)) == {"http_requests_total"}
    assert len(df) == 31
    m = meta_of(df)
    assert m.query == 'http_requests_total{tenant_id="acme"}' and m.source == "prometheus"
    assert m.step == pd.Timedelta("60s") and m.location == src.url
    assert m.window is not None and m.window.start == pd.Timestamp(T0, unit="s", tz="UTC")
    assert m.window.end == pd.Timestamp(T0 + 1860, unit="s", tz="UTC")  # [T0, last + step)
    assert m.warnings == () and m.infos == () and m.partial is False
    assert m.server.startswith("Prometheus 2.42") and m.requests == 1
    assert m.details["series"] == 1 and m.details["samples"] == 31
    assert m.details["range_semantics"] == "closed"
    assert list(df.attrs) == ["meta"]  # one record: no other key repeats it
    wide = to_wide(df)
    assert wide.shape == (31, 1) and meta_of(wide) == m


# -- errors ------------------------------------------------------------------------------

def test_bad_query_raises_query_error_with_expression(src: PrometheusSource) -> None:
    with pytest.raises(QueryError, match=r"rejected query 'sum\(rate\(up\[5m\]\)'.*parse error"):
        src.query("sum(rate(up[5m])")


def test_server_side_timeout_raises_query_timeout(src: PrometheusSource,
                                                  proxy: FaultProxy) -> None:
    end = pd.Timestamp.now(tz="UTC")
    heavy = 'count({__name__=~".+"})'
    with pytest.raises(QueryTimeout,
                       match=r"gave up on query .*(timed out|deadline exceeded).*narrow the time"):
        src.query_range(heavy, end - pd.Timedelta("3h"), end, "1s", timeout="1ms")
    # never retried: exactly one request reaches the server
    via = PrometheusSource(proxy.url, retry=FAST)
    assert via.server.detected  # detection is done before counting
    state = proxy.reset()
    with pytest.raises(QueryTimeout):
        via.query_range(heavy, end - pd.Timedelta("3h"), end, "1s", timeout="1ms")
    assert len(state.requests) == 1


def test_unreachable_server_names_the_url(tmp_path: Path) -> None:
    port = free_port()
    s = PrometheusSource(f"http://127.0.0.1:{port}", retry=FAST)
    with pytest.raises(SourceUnreachable,
                       match=rf"cannot reach Prometheus at http://127\.0\.0\.1:{port}.*gave up "
                             r"after 4 attempt"):
        s.query("up")


def _queries(state: object) -> list[dict[str, object]]:
    return [r for r in state.requests  # type: ignore[attr-defined]
            if "/api/v1/query" in str(r["path"])]


def test_bad_data_is_never_retried(proxy: FaultProxy) -> None:
    state = proxy.reset()
    with pytest.raises(QueryError):
        PrometheusSource(proxy.url, retry=FAST).query("rate(")
    assert len(_queries(state)) == 1


@pytest.mark.parametrize("mode", ["fail503", "429", "html502"])
def test_transient_failures_are_retried_then_succeed(proxy: FaultProxy, mode: str) -> None:
    state = proxy.reset(mode=mode, fail_times=2)
    df = PrometheusSource(proxy.url, retry=FAST).query("vector(3)")
    assert df["value"].tolist() == [3.0]
    assert len(_queries(state)) == 3 and meta_of(df).requests == 3


def test_retry_budget_spent_raises_server_unavailable(proxy: FaultProxy) -> None:
    proxy.reset(mode="fail503", fail_times=100)
    with pytest.raises(ServerUnavailable, match=r"unavailable .*HTTP 503.*too many requests in "
                                                r"flight.*gave up after 4 attempt"):
        PrometheusSource(proxy.url, retry=FAST).query("vector(1)")


def test_non_json_body_raises_unexpected_response(proxy: FaultProxy) -> None:
    proxy.reset(mode="html200")
    with pytest.raises(UnexpectedResponse, match=r"HTTP 200 .*non-JSON.*DOCTYPE html"):
        PrometheusSource(proxy.url, retry=FAST).query("vector(1)")


def test_auth_from_settings_token_and_tenant_header(proxy: FaultProxy) -> None:
    proxy.reset(mode="auth", token="s3cret-token", org="team-a")
    env = {"TRIBUTARY_PROMETHEUS_URL": proxy.url,
           "TRIBUTARY_PROMETHEUS_TOKEN": "s3cret-token",
           "TRIBUTARY_PROMETHEUS_HEADERS": '{"X-Scope-OrgID": "team-a"}'}
    src = PrometheusSource.from_settings(load_settings(env=env), retry=FAST)
    assert src.query("vector(2)")["value"].tolist() == [2.0]
    assert "s3cret" not in repr(src)
    wrong = PrometheusSource(proxy.url, token="nope", headers={"X-Scope-OrgID": "team-a"},
                             retry=FAST)
    with pytest.raises(AuthenticationError, match=r"refused query 'vector\(2\)' with HTTP 401"):
        wrong.query("vector(2)")
    proxy.reset()


def test_existing_prometheus_connect_is_reused(prom: LocalPrometheus) -> None:
    pc = PrometheusConnect(url=prom.url, headers={"X-Scope-OrgID": "x"})
    src = PrometheusSource(pc)
    assert src.query("vector(5)")["value"].tolist() == [5.0]
    with pytest.raises(ConfigError, match="not both"):
        PrometheusSource(pc, token="t")


def test_long_expressions_are_posted(proxy: FaultProxy) -> None:
    state = proxy.reset()
    expr = " + ".join(["vector(1)"] * 400)
    df = PrometheusSource(proxy.url, retry=FAST).query(expr)
    assert df["value"].tolist() == [400.0]
    last = _queries(state)[-1]
    assert last["method"] == "POST" and b"query=" in last["body"]  # type: ignore[operator]


# -- warnings and partial responses ------------------------------------------------------

def test_warnings_reach_attrs_and_the_log(proxy: FaultProxy,
                                          caplog: pytest.LogCaptureFixture) -> None:
    proxy.reset(mode="warn")
    with caplog.at_level(logging.WARNING):
        df = PrometheusSource(proxy.url, retry=FAST).query_range(
            "vector(1)", T0, T0 + 600, "60s", max_points=4)
    m = meta_of(df)
    assert m.requests == 3 + 1  # 3 chunks (day fractions of 4 points) + the series probe
    assert m.warnings == ("injected: store sidecar-2 unreachable",)
    assert m.partial is False
    assert reader_notes(df) == ["injected: store sidecar-2 unreachable"]
    assert "sidecar-2 unreachable" in caplog.text


def test_partial_response_is_flagged(proxy: FaultProxy,
                                     caplog: pytest.LogCaptureFixture) -> None:
    proxy.reset(mode="partial")
    with caplog.at_level(logging.WARNING):
        df = PrometheusSource(proxy.url, retry=FAST).query("vector(1)")
    assert meta_of(df).partial is True
    assert any(n.startswith("partial response from prometheus") for n in reader_notes(df))
    assert "PARTIAL" in caplog.text
    proxy.reset()


# -- hostile tenant ids ------------------------------------------------------------------

@pytest.mark.parametrize("tenant", HOSTILE)
def test_hostile_tenant_selects_exactly_itself(src: PrometheusSource, tenant: str) -> None:
    at = T0 + 1200
    for expr in (selector("http_requests_total", tenant_id=tenant),
                 selector("http_requests_total", Matcher.any_of("tenant_id", [tenant])),
                 queries.request_rate("5m", by=("tenant_id",), tenant=tenant)):
        df = src.query(expr, time=at)
        assert df["tenant_id"].astype(str).tolist() == [tenant], expr
    rate = src.query(queries.request_rate("5m", by=("tenant_id",), tenant=tenant), time=at)
    assert rate["value"].iloc[0] == pytest.approx((HOSTILE.index(tenant) + 1) / 60)


def test_unknown_tenant_selects_nothing(src: PrometheusSource) -> None:
    assert src.query(selector("http_requests_total", tenant_id="nobody"),
                     time=T0 + 1200).empty


# -- exploration -------------------------------------------------------------------------

def test_exploration_helpers(src: PrometheusSource) -> None:
    assert "tenant_id" in src.label_names(match="http_requests_total",
                                          start=T0, end=T0 + 1800)
    values = src.label_values("tenant_id", start=T0, end=T0 + 1800)
    assert set(HOSTILE) <= set(values)
    series = src.series(selector("http_requests_total", tenant_id=HOSTILE[0]),
                        start=T0, end=T0 + 1800)
    assert series["tenant_id"].astype(str).tolist() == [HOSTILE[0]]
    meta = src.metadata("prometheus_http_requests_total")
    assert meta["type"].tolist() == ["counter"]
    assert (src.targets()["health"] == "up").all()
