"""Faults, one clear line each: a real Prometheus 2.42 behind a real fault-injecting proxy
(``prom_local.FaultProxy``), through the library (typed errors, pinned messages) and through
the CLI (one ``error:`` line on stderr, exit 2, no traceback). Also what the CLI says besides
errors: warnings, infos, and a tenant filter that matched nothing."""

from __future__ import annotations

import contextlib
import io
import re
import time
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
from prom_local import FaultProxy, LocalPrometheus, free_port, start_prometheus, wait_for

from tributary_analysis.cli import main
from tributary_analysis.errors import (
    DataError,
    ServerUnavailable,
    SourceError,
    SourceUnreachable,
    UnexpectedResponse,
)
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.sources.prometheus import PrometheusSource, ResponseTruncated, RetryPolicy

pytestmark = pytest.mark.prometheus

FAST = RetryPolicy(max_attempts=3, base=0.05, max_wait=0.1, budget=5)
T0 = (int(time.time()) // 3600 - 2) * 3600
TENANTS = ("acme", "globex", "initech", "umbrella")


def _openmetrics() -> str:
    lines = ["# TYPE http_requests counter"]
    for n, tenant in enumerate(TENANTS):
        lines += [f'http_requests_total{{tenant_id="{tenant}"}} {(n + 1) * i} {T0 + 60 * i}'
                  for i in range(31)]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    p = start_prometheus(tmp_path_factory.mktemp("prom-faults"), openmetrics=_openmetrics())
    try:
        wait_for(p.url, "up")
        yield p
    finally:
        p.stop()


@pytest.fixture
def proxy(prom: LocalPrometheus) -> Iterator[FaultProxy]:
    p = FaultProxy(prom.url)
    yield p
    p.stop()


def _queries(p: FaultProxy) -> list[dict[str, Any]]:
    return [r for r in p.state.requests if "/api/v1/query" in r["path"]]


def cli(*args: str) -> tuple[int, str, str]:
    """Run the real CLI entry point in-process; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue(), err.getvalue()


def _one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


# -- a connection dropped mid-body -------------------------------------------------------

def test_truncated_body_is_retried_on_reads_then_succeeds(proxy: FaultProxy) -> None:
    proxy.reset(mode="truncate", fail_times=1)
    df = PrometheusSource(proxy.url, retry=FAST).query("vector(7)")
    assert df["value"].tolist() == [7.0]
    assert len(_queries(proxy)) == 2 and meta_of(df).requests == 2


def test_truncated_body_every_time_is_a_typed_error_naming_the_url(proxy: FaultProxy) -> None:
    proxy.reset(mode="truncate", fail_times=100)
    with pytest.raises(ResponseTruncated, match=(
            rf"connection to Prometheus at {re.escape(proxy.url)} dropped in the middle of "
            r"the answer to query 'vector\(1\)'.*raise its timeouts or body limits.*gave up "
            r"after 3 attempt")) as info:
        PrometheusSource(proxy.url, retry=FAST).query("vector(1)")
    assert isinstance(info.value, SourceUnreachable) and info.value.url == proxy.url
    assert len(_queries(proxy)) == 3


def test_truncated_body_is_not_retried_where_unsafe(proxy: FaultProxy) -> None:
    src = PrometheusSource(proxy.url, retry=FAST)
    proxy.reset(mode="truncate", fail_times=100)
    with pytest.raises(ResponseTruncated, match="dropped in the middle"):
        src.transport.request("query", {"query": "vector(1)"}, idempotent=False)
    assert len(_queries(proxy)) == 1


def test_truncated_range_chunk_fails_the_whole_pull(proxy: FaultProxy) -> None:
    proxy.reset(mode="truncate", fail_times=100, only="/api/v1/query_range")
    with pytest.raises(ResponseTruncated, match=r"query 'vector\(1\)'"):
        PrometheusSource(proxy.url, retry=FAST).query_range(
            "vector(1)", T0, T0 + 3 * 3600, "1s", max_workers=2)


# -- HTTP 500 (JSON), 502, 429 and an unparsable sample value -----------------------------

def test_http_500_with_json_body_names_the_url_and_the_fix(proxy: FaultProxy) -> None:
    proxy.reset(mode="json500", fail_times=100)
    with pytest.raises(SourceError, match=(
            rf"Prometheus at {re.escape(proxy.url)} failed internally on query 'vector\(1\)' "
            r"\(HTTP 500 internal\): unexpected error: storage is closed; the fault is on the "
            r"server side, not in the query: check the Prometheus log")) as info:
        PrometheusSource(proxy.url, retry=FAST).query("vector(1)")
    assert info.value.status == 500 and info.value.error_type == "internal"
    assert len(_queries(proxy)) == 1  # not retried: it may be deterministic


def test_http_502_names_the_url_and_the_fix(proxy: FaultProxy) -> None:
    proxy.reset(mode="html502", fail_times=100)
    with pytest.raises(ServerUnavailable, match=(
            rf"HTTP 502 from {re.escape(proxy.url)} for query 'vector\(1\)' with a non-JSON "
            r"body: a proxy or load balancer in front of Prometheus could not reach it.*point "
            r"the URL \(--url / TRIBUTARY_PROMETHEUS_URL\) at Prometheus itself.*502 Bad "
            r"Gateway.*gave up after 3 attempt")):
        PrometheusSource(proxy.url, retry=FAST).query("vector(1)")


def test_http_429_names_the_url_and_the_fix(proxy: FaultProxy) -> None:
    proxy.reset(mode="429", fail_times=100)
    with pytest.raises(ServerUnavailable, match=(
            rf"Prometheus at {re.escape(proxy.url)} rate-limited query 'vector\(1\)' \(HTTP "
            r"429\): rate limited; send fewer requests at once \(max_workers= / "
            r"--max-workers\).*gave up after 3 attempt")):
        PrometheusSource(proxy.url, retry=FAST).query("vector(1)")


def test_unparsable_sample_value_names_the_url_query_and_value(proxy: FaultProxy) -> None:
    proxy.reset(mode="badvalue")
    with pytest.raises(UnexpectedResponse, match=(
            rf"Prometheus at {re.escape(proxy.url)} returned a malformed range result "
            r"\(.*Z … .*Z\) for 'vector\(1\)': .*'abc'.*a proxy in between may have altered "
            r"the answer")):
        PrometheusSource(proxy.url, retry=FAST).query_range("vector(1)", T0, T0 + 600, "1m")
    with pytest.raises(UnexpectedResponse, match=r"malformed query result for 'vector\(2\)'.*"
                                                 r"'abc'"):
        PrometheusSource(proxy.url, retry=FAST).query("vector(2)")


# -- the same faults through the CLI: one line, exit 2 -----------------------------------

@pytest.mark.parametrize("mode,pattern", [
    ("json500", r"failed internally on query 'vector\(1\)' \(HTTP 500 internal\)"),
    ("badvalue", r"returned a malformed query result for 'vector\(1\)'.*'abc'"),
    ("truncate", r"dropped in the middle of the answer to query 'vector\(1\)'"),
    ("html502", r"HTTP 502 from .* Bad Gateway"),
    ("429", r"rate-limited query 'vector\(1\)' \(HTTP 429\)"),
])
def test_cli_prints_one_error_line_and_exits_2(proxy: FaultProxy, mode: str,
                                              pattern: str) -> None:
    proxy.reset(mode=mode, fail_times=100)
    rc, out, err = cli("prom", "query", "vector(1)", "--url", proxy.url)
    assert rc == 2 and out == ""
    line = _one_error_line(err)
    assert re.search(pattern, line), line
    assert proxy.url in line


def test_cli_unreachable_url_with_userinfo_never_shows_the_password() -> None:
    url = f"http://reader:pa55-CANARY@127.0.0.1:{free_port()}"
    rc, _, err = cli("prom", "query", "up", "--url", url)
    assert rc == 2
    line = _one_error_line(err)
    assert "cannot reach Prometheus at http://127.0.0.1:" in line
    assert "CANARY" not in err and "reader" not in err


def test_metadata_location_has_no_credentials(prom: LocalPrometheus) -> None:
    host = prom.url.split("//", 1)[1]
    src = PrometheusSource(f"http://u:tok-CANARY@{host}", retry=FAST)
    df = src.query("vector(1)")
    m = meta_of(df)
    assert m.location == prom.url and src.url == prom.url
    assert "CANARY" not in repr(m.to_json()) and "CANARY" not in repr(df.attrs)


def test_times_in_errors_are_iso_utc(prom: LocalPrometheus) -> None:
    src = PrometheusSource(prom.url)
    with pytest.raises(DataError, match=r"end 2024-01-01T00:00:00Z is before start "
                                        r"2024-01-02T00:00:00Z; swap them"):
        src.query_range("up", "2024-01-02", "2024-01-01", "1m")


# -- what the server said besides the data -----------------------------------------------

def test_cli_prints_warnings_and_infos_on_stderr(proxy: FaultProxy) -> None:
    proxy.reset(mode="info")
    rc, out, err = cli("prom", "query", "vector(1)", "--url", proxy.url)
    assert rc == 0 and re.search(r"\s1(\.0)?$", out.strip()), out  # the value vector(1)
    lines = err.splitlines()
    assert "warning: injected: store sidecar-2 unreachable" in lines
    assert ("info: PromQL info: metric might not be a counter, name does not end in "
            "_total/_sum/_count/_bucket") in lines
    assert len(lines) == 2, err  # once each: the library's own log lines are not repeated


def test_library_keeps_infos_apart_from_warnings(proxy: FaultProxy) -> None:
    proxy.reset(mode="info")
    df = PrometheusSource(proxy.url, retry=FAST).query_range("vector(1)", T0, T0 + 300, "1m")
    m = meta_of(df)
    assert m.warnings == ("injected: store sidecar-2 unreachable",)
    assert m.infos == ("PromQL info: metric might not be a counter, name does not end in "
                       "_total/_sum/_count/_bucket",)


def test_cli_partial_response_is_said(proxy: FaultProxy) -> None:
    proxy.reset(mode="partial")
    rc, _, err = cli("prom", "range", "vector(1)", "--start", str(T0), "--end",
                     str(T0 + 600), "--step", "1m", "--url", proxy.url)
    assert rc == 0 and "warning: PARTIAL response: some data is missing" in err


def test_cli_tenant_filter_is_pushed_down_and_exact(prom: LocalPrometheus) -> None:
    rc, out, err = cli("prom", "query", "sum by (tenant_id) (http_requests_total)",
                       "--time", str(T0 + 600), "--tenant", "globex", "--url", prom.url)
    assert rc == 0 and err == ""
    rows = [line.split() for line in out.splitlines()[1:]]
    assert [(r[-1], float(r[-2])) for r in rows] == [("globex", 20.0)]


def test_cli_says_when_a_tenant_filter_matched_nothing(prom: LocalPrometheus) -> None:
    rc, out, err = cli("prom", "range", "sum by (tenant_id) (rate(http_requests_total[5m]))",
                       "--start", str(T0), "--end", str(T0 + 1800), "--step", "5m",
                       "--tenant", "acmee", "--url", prom.url)
    assert rc == 0 and out.strip() == "(no data)"
    assert err.strip() == (f"note: tenant filter tenant_id='acmee' matched nothing: no such "
                           f"tenant at {prom.url}; closest known tenant ids: 'acme'")
    # a tenant that exists but the expression drops the label: said differently
    rc, _, err = cli("prom", "query", "sum(http_requests_total)", "--time", str(T0 + 600),
                     "--tenant", "acme", "--url", prom.url)
    assert rc == 0 and "tenant 'acme' exists but the result has no series for it" in err


def test_hostile_tenant_through_the_cli_filter_selects_itself_or_nothing(
        prom: LocalPrometheus) -> None:
    for hostile in ('acme"}) or vector(1) #', "$1", ".*", "acme|globex"):
        rc, out, err = cli("prom", "query", "sum by (tenant_id) (http_requests_total)",
                           "--time", str(T0 + 600), "--tenant", hostile, "--url", prom.url)
        assert rc == 0 and out.strip() == "(no data)", (hostile, out)
        assert "matched nothing" in err


def test_cli_out_unwritable_is_one_error_line(prom: LocalPrometheus,
                                             tmp_path: pytest.TempPathFactory) -> None:
    rc, _, err = cli("prom", "query", "vector(1)", "--url", prom.url, "--out",
                     "/proc/forbidden/x.csv")
    assert rc == 2
    assert re.match(r"error: --out /proc/forbidden/x\.csv: cannot write the file .*; choose "
                    r"a writable path", _one_error_line(err))


def test_window_end_default_and_step_default_in_cli(prom: LocalPrometheus) -> None:
    rc, out, err = cli("prom", "range", "vector(1)", "--since", "30m", "--url", prom.url)
    assert rc == 0 and err == ""
    times = pd.to_datetime([" ".join(line.split()[:2]) for line in out.splitlines()[1:]])
    assert len(times) == 120  # the auto step for 30 min is 15 s; [now-30m, now) half-open
