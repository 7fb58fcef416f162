"""Client-side histogram quantiles equal the server's histogram_quantile (within 1e-9), on
Prometheus 2.42 and 3.16 (the algorithm follows the detected server), on hand-made edge
cases, Prometheus's own request-duration histograms and the simulator's."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from prom_local import LocalPrometheus, start_prometheus, wait_for

from tributary_analysis.analysis.histograms import (
    bucket_fraction,
    bucket_quantile,
    fraction_below,
    histogram_quantile,
    le_values,
)
from tributary_analysis.errors import DataError
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.promql import catalog as queries
from tributary_analysis.sources.prometheus import PrometheusSource

INF = math.inf
T0 = (int(time.time()) // 3600 - 3) * 3600
QS = (0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0)

#: case → [(le, count)], written as gauges so every edge case reaches the server verbatim
CASES: dict[str, list[tuple[str, str]]] = {
    "normal": [("0.1", "3"), ("0.5", "7"), ("1", "10"), ("+Inf", "12")],
    "nonmonotonic": [("0.1", "5"), ("0.5", "3"), ("1", "8"), ("+Inf", "8")],
    "duplicate_le": [("0.5", "1"), ("1", "4"), ("1.0", "2"), ("+Inf", "10")],
    "no_inf": [("0.1", "1"), ("1", "2")],
    "zero": [("0.1", "0"), ("1", "0"), ("+Inf", "0")],
    "negative": [("-1", "2"), ("0", "4"), ("1", "6"), ("+Inf", "8")],
    "only_inf": [("+Inf", "5")],
    "bad_le": [("abc", "3"), ("0.1", "1"), ("+Inf", "2")],
    "nan_count": [("0.1", "NaN"), ("1", "5"), ("+Inf", "10")],
    "all_in_inf": [("0.1", "0"), ("1", "0"), ("+Inf", "4")],
    "fractional": [("0.001", "0.25"), ("0.01", "1.75"), ("0.1", "2.5"), ("+Inf", "2.5")],
}


def _openmetrics() -> str:
    lines = ["# TYPE weird_bucket gauge"]
    for case, buckets in CASES.items():
        for le, count in buckets:
            lines += [f'weird_bucket{{case="{case}",le="{le}"}} {count} {T0 + 60 * i}'
                      for i in range(5)]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", params=["2", "3"], ids=["prom2", "prom3"])
def prom(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    p = start_prometheus(tmp_path_factory.mktemp("prom-hist"), openmetrics=_openmetrics(),
                         version=request.param)
    try:
        wait_for(p.url, "prometheus_http_request_duration_seconds_bucket", min_series=20)
        # traffic on several handlers so the buckets have counts
        src = PrometheusSource(p.url)
        for _ in range(30):
            src.query("up")
            src.label_names()
            time.sleep(0.2)
        time.sleep(3)
        yield p
    finally:
        p.stop()


def _compare(server: pd.DataFrame, client: pd.DataFrame, keys: list[str]) -> int:
    s = server.assign(**{k: server[k].astype(str) for k in keys if k != "timestamp"})
    c = client.assign(**{k: client[k].astype(str) for k in keys if k != "timestamp"})
    m = s.merge(c, on=keys, how="outer", suffixes=("_s", "_c"), indicator=True)
    assert (m["_merge"] == "both").all(), m[m["_merge"] != "both"]
    vs, vc = m["value_s"].to_numpy(), m["value_c"].to_numpy()
    same_nan = np.isnan(vs) & np.isnan(vc)
    same_inf = np.isinf(vs) & (vs == vc)
    close = np.abs(vs - vc) <= 1e-9
    assert (same_nan | same_inf | close).all(), m[~(same_nan | same_inf | close)]
    return len(m)


# -- pure algorithm ----------------------------------------------------------------------

def test_interpolation_and_error_bound() -> None:
    assert bucket_quantile(0.5, [1.0, 2.0, INF], [10, 30, 40]) == (1.5, 1.0, 2.0)
    # lowest bucket interpolates from 0 when its bound is positive
    assert bucket_quantile(0.1, [1.0, 2.0, INF], [10, 30, 40]) == (0.4, 0.0, 1.0)
    # quantile in the +Inf bucket: the highest finite bound, unbounded above
    assert bucket_quantile(0.99, [1.0, 2.0, INF], [10, 30, 40]) == (2.0, 2.0, INF)
    # lowest bound <= 0 is returned as is
    assert bucket_quantile(0.1, [-1.0, 2.0, INF], [10, 30, 40])[0] == -1.0


@pytest.mark.parametrize("q,expected", [(math.nan, math.nan), (-0.1, -INF), (1.1, INF)])
def test_out_of_range_quantiles(q: float, expected: float) -> None:
    got = bucket_quantile(q, [1.0, INF], [1, 2])[0]
    assert (math.isnan(got) and math.isnan(expected)) or got == expected


def test_degenerate_histograms_are_nan() -> None:
    assert math.isnan(bucket_quantile(0.5, [1.0, 2.0], [1, 2])[0])  # no +Inf
    assert math.isnan(bucket_quantile(0.5, [1.0, INF], [0, 0])[0])  # no observations
    assert math.isnan(bucket_quantile(0.5, [INF], [3])[0])  # a single bucket


def test_fraction_is_the_inverse_of_the_quantile() -> None:
    bounds, counts = [0.01, 0.05, 0.1, 0.5, 1.0, INF], [5, 20, 50, 80, 95, 100]
    for q in (0.01, 0.2, 0.37, 0.5, 0.8, 0.95):
        est = bucket_quantile(q, bounds, counts)[0]
        assert bucket_fraction(est, bounds, counts) == pytest.approx(q, abs=1e-12)
    assert bucket_fraction(0.1, bounds, counts) == 0.5
    assert bucket_fraction(5.0, bounds, counts) == 0.95  # above the top finite bound
    assert bucket_fraction(0.0, bounds, counts) == 0.0


def test_frame_without_le_is_ignored_and_said_as_the_server_does() -> None:
    # Prometheus: 'bucket label "le" is missing or has a malformed value', no result
    out = histogram_quantile(0.5, pd.DataFrame({"value": [1.0], "job": ["a"]}))
    assert out.empty and out.attrs["unparseable_le"] == 1
    assert any('bucket label "le" is missing' in w for w in meta_of(out).warnings)
    assert [p.kind for p in meta_of(out).problems] == ["unparseable_le"]
    with pytest.raises(DataError, match="needs 'le' and 'value' columns"):
        histogram_quantile(0.5, pd.DataFrame({"le": ["1"]}))


def test_fraction_below_inf_is_one() -> None:
    frame = pd.DataFrame({"le": ["0.5", "1", "+Inf"], "value": [3.0, 5.0, 8.0]})
    assert fraction_below(math.inf, frame)["value"].tolist() == [1.0]
    assert bucket_fraction(math.inf, [0.5, 1.0, INF], [3, 5, 8]) == 1.0
    assert fraction_below(1.0, frame)["value"].tolist() == [5 / 8]


def test_same_labels_under_two_names_are_refused_not_summed() -> None:
    rows = [("a_bucket", le, c) for le, c in (("1", 2.0), ("+Inf", 4.0))] + [
        ("b_bucket", le, c) for le, c in (("1", 1.0), ("+Inf", 8.0))]
    frame = pd.DataFrame(rows, columns=["metric", "le", "value"]).assign(job="x")
    with pytest.raises(DataError, match=r"histograms a_bucket, b_bucket have the same labels "
                                        r"\(job\).*Prometheus refuses this"):
        histogram_quantile(0.5, frame)
    with pytest.raises(DataError, match="same labels"):
        fraction_below(1.0, frame)
    # summing them is an explicit choice, as sum by (le) is in PromQL
    assert histogram_quantile(0.5, frame, by=["job"])["value"].tolist() == [
        bucket_quantile(0.5, [1.0, INF], [3.0, 12.0])[0]]
    one = histogram_quantile(0.5, frame[frame["metric"] == "a_bucket"])
    assert list(one.columns) == ["job", "value", "lower", "upper"] and len(one) == 1


def test_le_spellings_of_one_bound_are_one_bucket() -> None:
    # 2.x stores le="1", 3.x "1.0": the same bound, coalesced as the server does
    a = pd.DataFrame({"le": ["0.5", "1", "+Inf"], "value": [1.0, 4.0, 5.0]})
    b = a.assign(le=["0.5", "1.0", "+Inf"])
    assert histogram_quantile(0.6, a)["value"].tolist() == \
        histogram_quantile(0.6, b)["value"].tolist()
    le, bad = le_values(pd.Series(["1", "1.0", "1e0", "+Inf", "abc"]))
    assert le[:3].tolist() == [1.0, 1.0, 1.0] and math.isinf(le[3]) and bad == 1


@pytest.mark.parametrize("algorithm", ["2.42", "3"])
def test_small_deltas_are_float_noise_only_for_3(algorithm: str) -> None:
    # a bucket 1e-15 relative below its neighbour: 2.42 forces monotonicity (same number),
    # 3 ignores the delta silently; both give the same estimate here, only 3 says nothing
    frame = pd.DataFrame({"le": ["1", "2", "+Inf"],
                          "value": [10.0, 10.0 * (1 - 1e-15), 20.0]})
    out = histogram_quantile(0.5, frame, algorithm=algorithm)
    assert out["value"].iloc[0] == pytest.approx(1.0)
    assert not any("monotonicity" in i for i in meta_of(out).infos)
    bad = frame.assign(value=[10.0, 5.0, 20.0])
    out = histogram_quantile(0.5, bad, algorithm=algorithm)
    assert any("monotonicity" in i for i in meta_of(out).infos) == (algorithm == "3")


# -- against the real server -------------------------------------------------------------

@pytest.mark.prometheus
@pytest.mark.parametrize("q", QS)
def test_edge_cases_equal_the_server(prom: LocalPrometheus, q: float) -> None:
    src = PrometheusSource(prom.url)
    at = T0 + 120
    buckets = src.query("weird_bucket", time=at)
    server = src.query(f"histogram_quantile({q}, weird_bucket)", time=at)
    client = histogram_quantile(q, buckets)
    assert client.attrs["unparseable_le"] == 1  # bad_le's "abc", ignored like the server
    assert _compare(server, client, ["timestamp", "case"]) == len(CASES)


@pytest.mark.prometheus
@pytest.mark.parametrize("q", QS)
def test_prometheus_own_request_durations_equal_the_server(prom: LocalPrometheus,
                                                           q: float) -> None:
    src = PrometheusSource(prom.url)
    end = pd.Timestamp.now(tz="UTC").floor("s")
    start = end - pd.Timedelta("20s")
    inner = "sum by (le, handler) (rate(prometheus_http_request_duration_seconds_bucket[10s]))"
    buckets = src.query_range(inner, start, end, 1)
    server = src.query_range(f"histogram_quantile({q}, {inner})", start, end, 1)
    client = histogram_quantile(q, buckets)
    assert client["value"].notna().sum() > 10
    assert _compare(server.dropna(subset=["value"]),
                    client.dropna(subset=["value"]), ["timestamp", "handler"]) > 10
    assert len(server) == len(client)


@pytest.mark.prometheus
@pytest.mark.parametrize("q", (0.5, 0.9, 0.95, 0.99))
def test_simulated_histograms_equal_the_server(prometheus_server: object, q: float) -> None:
    stack = prometheus_server
    src = PrometheusSource(stack.url)  # type: ignore[attr-defined]
    man = stack.manifest  # type: ignore[attr-defined]
    end = pd.Timestamp(man["end_unix"], unit="s", tz="UTC")
    start = end - pd.Timedelta("6h")
    n = 0
    for inner, keys in (
        (queries.latency_buckets("5m", by=("endpoint", "tenant_id")), ["endpoint", "tenant_id"]),
        (queries.search_latency_buckets("5m"), ["search_type"]),
    ):
        buckets = src.query_range(inner, start, end, "5m")
        server = src.query_range(f"histogram_quantile({q}, {inner})", start, end, "5m")
        client = histogram_quantile(q, buckets)
        n += _compare(server, client, ["timestamp", *keys])
        # error bound: the estimate lies inside its bucket
        ok = client.dropna(subset=["value"])
        assert ((ok["lower"] <= ok["value"]) & (ok["value"] <= ok["upper"])).all()
    assert n > 100


@pytest.mark.prometheus
def test_slo_fraction_on_simulated_latency(prometheus_server: object) -> None:
    stack = prometheus_server
    src = PrometheusSource(stack.url)  # type: ignore[attr-defined]
    end = pd.Timestamp(stack.manifest["end_unix"], unit="s", tz="UTC")  # type: ignore[attr-defined]
    buckets = src.query(queries.latency_buckets("1h"), time=end)
    frac = fraction_below(0.5, buckets)
    # on a bucket bound the fraction is exact: le="0.5" / le="+Inf" of the same rates
    le, _ = le_values(buckets["le"])  # bounds as floats: "0.5" on 2.x and 3.x alike
    exact = buckets.loc[le == 0.5, "value"].iloc[0] / buckets.loc[np.isinf(le), "value"].iloc[0]
    assert frac["value"].iloc[0] == pytest.approx(exact, rel=1e-12)
    q95 = histogram_quantile(0.95, buckets)["value"].iloc[0]
    assert fraction_below(q95, buckets)["value"].iloc[0] == pytest.approx(0.95, abs=1e-9)
