"""The fast parser (raw body → columns, :mod:`tributary_analysis.sources.prometheus.wire`)
gives bit-identical frames to the orjson parser on real answers of Prometheus 2.42 and 3.16:
NaN and ±Inf, label values that look like the JSON around them, empty results, vectors,
range results split into chunks, native histograms (3), stats. And it is really taken."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prom_local import LocalPrometheus, om_escape, start_prometheus, wait_for

from tributary_analysis.sources.prometheus import PrometheusSource
from tributary_analysis.sources.prometheus.frames import build_frame, parse_bytes, parse_doc

pytestmark = pytest.mark.prometheus

T0 = (int(time.time()) // 3600 - 2) * 3600
#: label values made of the answer's own syntax
TRICKY = ['"values":[[1,"2"]]', "]],[", '}]]', '{"metric":{', "a\\", 'x"y', "line\nbreak",
          "ü", "", "NaN", "[1,\"+Inf\"]"]


def _openmetrics() -> str:
    lines = ["# TYPE tricky gauge"]
    for n, v in enumerate(TRICKY):
        lines += [f'tricky{{tenant_id="{om_escape(v)}",n="{n}"}} {n * 0.1 * i} {T0 + 60 * i}'
                  for i in range(31)]
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", params=["2", "3"], ids=["prom2", "prom3"])
def prom(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    v = request.param
    p = start_prometheus(tmp_path_factory.mktemp(f"prom-wire{v}"), openmetrics=_openmetrics(),
                         version=v, remote_write=v == "3",
                         out_of_order_window="30d" if v == "3" else None)
    try:
        wait_for(p.url, "up")
        if v == "3":
            from tributary_analysis.demo import remote_write as rw

            hs = [rw.Histogram(timestamp_ms=(T0 + 60 * i) * 1000, count=9 * i, sum=2.5 * i,
                               schema=1, zero_threshold=0.001, zero_count=i,
                               positive_spans=((0, 3),), positive_buckets=(2 * i, 3 * i, i),
                               negative_spans=((2, 2),), negative_buckets=(i, i))
                  for i in range(1, 31)]
            rw.write(p.url, [rw.TimeSeries({"__name__": "lat", "tenant_id": t}, histograms=hs)
                             for t in ("a", ']],["x"')])
        yield p
    finally:
        p.stop()


def _both(src: PrometheusSource, path: str, params: dict[str, Any]) -> tuple[pd.DataFrame,
                                                                             pd.DataFrame]:
    body = src.transport.request(path, params, expr=params["query"]).body
    fast = parse_bytes(body)
    assert fast is not None, body[:200]  # the fast path was taken
    a, b = build_frame(fast), build_frame(parse_doc(body))
    return a, b


def _identical(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a, b)
    for col in ("value", "count", "sum"):
        if col in a.columns:
            x, y = a[col].to_numpy(np.float64), b[col].to_numpy(np.float64)
            assert (x.view(np.int64) == y.view(np.int64)).all(), col  # NaN bits too


SPECIAL = ('label_replace(vector(1)/0, "k", "pos", "", "") or '
           'label_replace(-vector(1)/0, "k", "neg", "", "") or '
           'label_replace(vector(0)/0, "k", "nan", "", "") or '
           'label_replace(vector(1e-310), "k", "denormal", "", "") or '
           'label_replace(vector(1.7976931348623157e308), "k", "max", "", "") or '
           'label_replace(vector(0.1 + 0.2), "k", "sum", "", "")')


@pytest.mark.parametrize("expr", ["tricky", SPECIAL, "rate(tricky[5m])", "tricky * 1e300",
                                  "nothing_here", 'tricky{n="3"} / 3'])
def test_range_answers_bit_identical(prom: LocalPrometheus, expr: str) -> None:
    src = PrometheusSource(prom.url)
    a, b = _both(src, "query_range", {"query": expr, "start": T0, "end": T0 + 1800,
                                      "step": "7.5"})
    _identical(a, b)
    if expr == "tricky":
        assert set(a["tenant_id"].dropna().astype(str)) == set(TRICKY) - {""}  # "" = absent
        assert len(a) == 241 * len(TRICKY)


@pytest.mark.parametrize("expr", ["tricky", SPECIAL, "nothing_here"])
def test_instant_answers_bit_identical(prom: LocalPrometheus, expr: str) -> None:
    src = PrometheusSource(prom.url)
    a, b = _both(src, "query", {"query": expr, "time": T0 + 600, "stats": "all"})
    _identical(a, b)


def test_native_histograms_bit_identical(prom: LocalPrometheus) -> None:
    src = PrometheusSource(prom.url)
    if not src.server.at_least(3):  # 2.42 holds no native histograms here (no receiver)
        assert src.query("lat", time=T0 + 900).empty
        return
    for path, params in (("query_range", {"query": "lat", "start": T0, "end": T0 + 1800,
                                          "step": "60"}),
                         ("query", {"query": "rate(lat[5m])", "time": T0 + 900}),
                         ("query_range", {"query": 'lat or tricky{n="1"}', "start": T0,
                                          "end": T0 + 900, "step": "60"})):
        a, b = _both(src, path, {**params})
        _identical(a, b)
        assert a["buckets"].notna().sum() > 0


def test_the_source_uses_the_fast_path_and_splits_equal(prom: LocalPrometheus) -> None:
    src = PrometheusSource(prom.url, max_samples=None)
    one = src.query_range("tricky", T0, T0 + 1800, 1)
    many = src.query_range("tricky", T0, T0 + 1800, 1, max_points=100, max_workers=2)
    cols = [c for c in one.columns if c != "value"]
    a = one.sort_values(cols).reset_index(drop=True)
    b = many.sort_values(cols).reset_index(drop=True)
    _identical(a, b)
