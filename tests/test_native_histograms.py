"""Native histograms end to end in the frame builder, against real Prometheus 3 servers that
hold the simulator's latency families as exponential histograms (``prometheus3_native``)
and as NHCB only (``prometheus3_nhcb``): the documented frame form, the per-series kind,
the bucket form, chunking and the cache; client-side ``histogram_quantile`` and
``histogram_fraction`` equal the server's own functions."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tributary_analysis.analysis.histograms import (
    fraction_below,
    histogram_fraction,
    histogram_quantile,
)
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.sources.prometheus import PrometheusSource
from tributary_analysis.sources.prometheus.native import BUCKETS_DTYPE, explode

pytestmark = pytest.mark.prometheus

FAMILY = "http_request_duration_seconds"
RATE = f"rate({FAMILY}[5m])"
BY_ENDPOINT = f"sum by (endpoint) ({RATE})"


def _end(stack: Any) -> pd.Timestamp:
    return pd.Timestamp(int(stack.manifest["end_unix"]) - 600, unit="s", tz="UTC")


def _same(server: pd.DataFrame, client: pd.DataFrame, keys: list[str]) -> int:
    s = server.assign(**{k: server[k].astype(str) for k in keys if k != "timestamp"})
    c = client.assign(**{k: client[k].astype(str) for k in keys if k != "timestamp"})
    m = s.merge(c, on=keys, how="outer", suffixes=("_s", "_c"), indicator=True)
    assert (m["_merge"] == "both").all(), m[m["_merge"] != "both"].head()
    vs, vc = m["value_s"].to_numpy(), m["value_c"].to_numpy()
    ok = (np.isnan(vs) & np.isnan(vc)) | (vs == vc) | (np.abs(vs - vc) <= 1e-9 * np.abs(vs))
    assert ok.all(), m[~ok].head()
    return len(m)


@pytest.fixture(scope="module", params=["native", "nhcb"])
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, form: str) -> Any:
    return request.getfixturevalue(f"prometheus3_{form}")


def test_frame_form_and_kind_per_series(stack: Any, form: str) -> None:
    src = PrometheusSource(stack.url)
    df = src.query(RATE, time=_end(stack))
    m = meta_of(df)
    assert m.server == "Prometheus 3.16.0"
    hist = m.details["histograms"]
    assert hist["samples"] == len(df) == hist["series"] > 10
    kind = form
    assert set(hist["kinds"].values()) == {kind}
    assert list(df.columns[:6]) == ["timestamp", "value", "count", "sum", "schema", "buckets"]
    assert df["value"].isna().all() and (df["count"] >= 0).all() and (df["count"] > 0).any()
    assert df["buckets"].dtype == BUCKETS_DTYPE
    assert set(df["schema"].dropna().astype(int)) == ({3} if kind == "native" else {-53})
    assert any(f"native histogram sample(s) in {len(df)} series" in n for n in m.notes)
    # the bucket form: one row per bucket, counts add up to the sample's count
    bk = explode(df)
    assert {"lower", "upper", "count", "boundaries", "endpoint"} <= set(bk.columns)
    assert (bk["lower"] < bk["upper"]).all() and (bk["count"] > 0).all()
    key = [c for c in df.columns if c not in ("timestamp", "value", "count", "sum", "schema",
                                              "buckets")]
    assert not df.duplicated(subset=key).any()
    per = bk.groupby(key, observed=True)["count"].sum()
    tot = df.set_index(key)["count"].sort_index()
    per = per.reindex(tot.index, fill_value=0.0)  # a rate of 0 has no buckets at all
    assert np.allclose(per.to_numpy(), tot.to_numpy(), rtol=1e-12)
    if kind == "nhcb":  # the seed's boundaries (and the infinite ends)
        from tributary_analysis import seed

        allowed = {*map(float, seed.FAMILIES_BY_NAME[FAMILY].buckets), math.inf, -math.inf}
        assert set(bk["lower"]) | set(bk["upper"]) <= allowed


@pytest.mark.parametrize("q", (0.5, 0.9, 0.95, 0.99))
def test_client_quantile_equals_the_servers(stack: Any, q: float) -> None:
    src = PrometheusSource(stack.url)
    at = _end(stack)
    n = 0
    for inner, by in ((RATE, None), (BY_ENDPOINT, ["endpoint"])):
        frame = src.query(inner, time=at)
        keys = ["timestamp", *(by or [c for c in frame.columns if c not in (
            "timestamp", "value", "count", "sum", "schema", "buckets")])]
        server = src.query(f"histogram_quantile({q}, {inner})", time=at)
        client = histogram_quantile(q, frame)
        assert "computed client-side (Prometheus 3 algorithm)" in meta_of(client).notes
        n += _same(server, client, keys)
        ok = client.dropna(subset=["value"])
        slack = 1e-12 * ok["value"].abs()  # 2**log2(x) may miss x by an ulp
        assert ((ok["lower"] - slack <= ok["value"])
                & (ok["value"] <= ok["upper"] + slack)).all()
    assert n > 20


@pytest.mark.parametrize("lower,upper", [(0.0, 0.25), (-math.inf, 0.1), (0.05, 1.0),
                                         (-math.inf, math.inf)])
def test_client_fraction_equals_the_servers(stack: Any, lower: float, upper: float) -> None:
    src = PrometheusSource(stack.url)
    at = _end(stack)

    def lit(x: float) -> str:
        return "+Inf" if x == math.inf else "-Inf" if x == -math.inf else repr(x)

    frame = src.query(BY_ENDPOINT, time=at)
    server = src.query(f"histogram_fraction({lit(lower)}, {lit(upper)}, {BY_ENDPOINT})",
                       time=at)
    client = histogram_fraction(lower, upper, frame)
    assert _same(server, client, ["timestamp", "endpoint"]) >= 3
    if lower == -math.inf and upper == math.inf:
        assert (client["value"] == 1.0).all()
        assert (fraction_below(math.inf, frame)["value"] == 1.0).all()


def test_range_over_native_histograms_chunked_equals_one_request(stack: Any,
                                                                 tmp_path: Path) -> None:
    end = _end(stack).floor("min")
    start = end - pd.Timedelta("2h")
    src = PrometheusSource(stack.url, max_samples=None)
    one = src.query_range(BY_ENDPOINT, start, end, "1m")
    many = src.query_range(BY_ENDPOINT, start, end, "1m", max_points=17, max_workers=2)
    assert meta_of(many).details["chunks"] > 5 and meta_of(one).details["chunks"] == 1
    key = ["endpoint", "timestamp"]
    a = one.sort_values(key).reset_index(drop=True)
    b = many.sort_values(key).reset_index(drop=True)
    assert len(a) == 121 * a["endpoint"].nunique()
    pd.testing.assert_frame_equal(a, b)
    # over time the client equals the server too
    server = src.query_range(f"histogram_quantile(0.95, {BY_ENDPOINT})", start, end, "1m")
    assert _same(server, histogram_quantile(0.95, many), ["timestamp", "endpoint"]) > 100
    # and the cache keeps the buckets column as it is
    past = PrometheusSource(stack.url, cache=tmp_path, max_samples=None)
    past.cache.settle = 0  # type: ignore[union-attr]
    first = past.query_range(BY_ENDPOINT, start, end, "1m")
    again = past.query_range(BY_ENDPOINT, start, end, "1m")
    assert meta_of(again).details["cache"] == "hit"
    pd.testing.assert_frame_equal(first, again, check_categorical=False)
    assert meta_of(again).details["histograms"] == meta_of(first).details["histograms"]


def test_floats_and_histograms_in_one_result(prometheus3_native: Any) -> None:
    src = PrometheusSource(prometheus3_native.url)
    at = _end(prometheus3_native)
    df = src.query(f'{{__name__=~"{FAMILY}|{FAMILY}_count"}}', time=at)
    floats = df[df["buckets"].isna()]
    hists = df[df["buckets"].notna()]
    assert len(floats) and len(hists)
    assert set(floats["metric"].astype(str)) == {f"{FAMILY}_count"}
    assert floats["value"].notna().all() and floats["count"].isna().all()
    assert hists["value"].isna().all() and (hists["count"] >= 0).all()
    # the classic _count and the native count describe the same traffic
    key = [c for c in df.columns if c not in ("timestamp", "value", "count", "sum", "schema",
                                              "buckets", "metric")]
    c = floats.set_index(key)["value"].sort_index()
    h = hists.set_index(key)["count"].reindex(c.index)
    assert len(c) == len(hists) and np.allclose(c.to_numpy(), h.to_numpy())
