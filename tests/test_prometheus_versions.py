"""The version-aware client against both real servers: Debian's Prometheus 2.42 and the Go
build of 3.16. Detection, what each frame says about its server, UTF-8 names (quoted on 3,
refused on 2 with the server named), ``le`` normalisation ("1" on 2.x, "1.0" on 3.x) that
must not break filters or joins, and ``limit`` where the server has it."""

from __future__ import annotations

import contextlib
import io
import time
from collections.abc import Iterator

import pandas as pd
import pytest
from prom_local import LocalPrometheus, start_prometheus, wait_for

from tributary_analysis.analysis.histograms import histogram_quantile, le_values
from tributary_analysis.cli import main
from tributary_analysis.errors import DataError
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.promql import CLASSIC, UTF8, bound_matcher, selector
from tributary_analysis.sources.prometheus import PrometheusSource

pytestmark = pytest.mark.prometheus

T0 = (int(time.time()) // 3600 - 2) * 3600


def _openmetrics() -> str:
    """A classic histogram with integer-looking bounds, as client libraries write them."""
    lines = ["# TYPE lat_seconds histogram"]
    for i in range(11):
        t = T0 + 60 * i
        for tenant, k in (("a", 1), ("b", 3)):
            cum = 0
            for le, n in (("0.5", 2), ("1", 3), ("2", 4), ("+Inf", 1)):
                cum += n * i * k
                lines.append(f'lat_seconds_bucket{{tenant_id="{tenant}",le="{le}"}} {cum} {t}')
            lines.append(f'lat_seconds_count{{tenant_id="{tenant}"}} {cum} {t}')
            lines.append(f'lat_seconds_sum{{tenant_id="{tenant}"}} {cum * 0.7} {t}')
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module", params=["2", "3"], ids=["prom2", "prom3"])
def prom(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    p = start_prometheus(tmp_path_factory.mktemp(f"prom-v{request.param}"),
                         openmetrics=_openmetrics(), version=request.param,
                         remote_write=request.param == "3", out_of_order_window="30d"
                         if request.param == "3" else None)
    p.version = request.param  # type: ignore[attr-defined]
    try:
        wait_for(p.url, "up")
        yield p
    finally:
        p.stop()


def _v(p: LocalPrometheus) -> str:
    return str(p.version)  # type: ignore[attr-defined]


def test_server_is_detected_once_and_named_in_every_frame(prom: LocalPrometheus) -> None:
    src = PrometheusSource(prom.url)
    info = src.server
    assert info.detected and info.application == "Prometheus"
    if _v(prom) == "2":
        assert info.version.startswith("2.42.0") and info.range_semantics == "closed"
        assert not info.utf8_names and not info.has_infos and not info.limit_on_metadata
        assert info.quantile_algorithm == "2.42" and info.features == {}
    else:
        assert info.version == "3.16.0" and info.range_semantics == "left-open"
        assert info.utf8_names and info.has_infos and info.limit_on_metadata
        assert info.limit_on_queries and info.normalises_le
        assert info.quantile_algorithm == "3"
        assert info.feature("api", "remote_write_receiver") is True  # /api/v1/features
    assert src.server is info  # asked once
    df = src.query("vector(1)")
    m = meta_of(df)
    assert m.server == info.describe() == f"Prometheus {info.version}"
    assert m.details["range_semantics"] == info.range_semantics
    assert m.details["quantile_algorithm"] == info.quantile_algorithm
    labels = src.label_names()
    series = src.series("up")
    assert meta_of(labels).server == meta_of(series).server == m.server


def test_cli_server_command(prom: LocalPrometheus) -> None:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(["prom", "server", "--url", prom.url])
    assert rc == 0 and err.getvalue() == ""
    text = out.getvalue()
    if _v(prom) == "2":
        assert "server: Prometheus 2.42.0" in text and "range selectors: closed" in text
        assert "UTF-8 names: no" in text
    else:
        assert "server: Prometheus 3.16.0" in text and "range selectors: left-open" in text
        assert "UTF-8 names: yes" in text and "features:" in text


def test_utf8_names_quoted_on_3_refused_on_2(prom: LocalPrometheus) -> None:
    src = PrometheusSource(prom.url)
    if _v(prom) == "2":
        with pytest.raises(DataError, match=r"invalid metric name 'http\.server\.duration' for "
                                            r"Prometheus 2\.42\.0.*Prometheus 3\.0\+ accepts "
                                            r"UTF-8 names in its quoted syntax"):
            selector("http.server.duration", dialect=src.dialect)
        with pytest.raises(DataError, match=r"invalid label name 'service\.name' for "
                                            r"Prometheus 2\.42"):
            src.label_values("service.name")
        return
    from tributary_analysis.demo import remote_write as rw

    now = int(time.time() * 1000)
    rw.write(prom.url, [rw.TimeSeries({"__name__": "http.server.duration",
                                       "service.name": 'api"}x', "job": "otel"},
                                      samples=[(now - 1000 * k, float(k)) for k in range(5, 0,
                                                                                         -1)])])
    expr = selector("http.server.duration", dialect=src.dialect,
                    **{"service.name": 'api"}x'})
    assert expr == '{"http.server.duration","service.name"="api\\"}x"}'
    df = src.query(expr)
    assert df["metric"].astype(str).tolist() == ["http.server.duration"]
    assert df["service.name"].astype(str).tolist() == ['api"}x']
    assert list(src.label_values("service.name")) == ['api"}x']  # U__ escaped in the path
    assert selector("http.server.duration", dialect=UTF8) == '{"http.server.duration"}'
    with pytest.raises(DataError, match="invalid metric name"):
        selector("http.server.duration", dialect=CLASSIC)


def test_le_normalisation_breaks_neither_filters_nor_joins(prom: LocalPrometheus) -> None:
    src = PrometheusSource(prom.url)
    at = T0 + 600
    stored = sorted(set(src.query("lat_seconds_bucket", time=at)["le"].astype(str)))
    if _v(prom) == "2":
        assert stored == ["+Inf", "0.5", "1", "2"]  # as written
    else:
        assert stored == ["+Inf", "0.5", "1.0", "2.0"]  # normalised by 3.x at ingestion
    # a literal le="1" filter silently matches nothing on 3.x; bound_matcher works on both
    literal = src.query('lat_seconds_bucket{le="1"}', time=at)
    assert len(literal) == (2 if _v(prom) == "2" else 0)
    matched = src.query(selector("lat_seconds_bucket", bound_matcher(1)), time=at)
    assert len(matched) == 2 and (le_values(matched["le"])[0] == 1.0).all()
    # joining on the bound as a float: the same buckets whatever the spelling
    frame = src.query("lat_seconds_bucket", time=at)
    frame = frame.assign(bound=le_values(frame["le"])[0])
    expected = pd.DataFrame({"bound": [0.5, 1.0, 2.0, float("inf")],
                             "a": [20.0, 50.0, 90.0, 100.0]})
    a = frame[frame["tenant_id"] == "a"][["bound", "value"]].rename(columns={"value": "a"})
    joined = expected.merge(a, on="bound", suffixes=("", "_got"))
    assert len(joined) == 4 and (joined["a"] == joined["a_got"]).all()
    # the client-side quantile equals the server's on both spellings
    server = src.query("histogram_quantile(0.7, lat_seconds_bucket)", time=at)
    client = histogram_quantile(0.7, src.query("lat_seconds_bucket", time=at))
    got = dict(zip(client["tenant_id"].astype(str), client["value"], strict=True))
    want = dict(zip(server["tenant_id"].astype(str), server["value"], strict=True))
    assert got == pytest.approx(want, rel=1e-12)


def test_limit_where_the_server_has_it_and_said_where_not(prom: LocalPrometheus) -> None:
    src = PrometheusSource(prom.url)
    series = src.series("lat_seconds_bucket", start=T0, end=T0 + 600, limit=3)
    assert len(series) == 3
    warnings = meta_of(series).warnings
    names = src.label_values("__name__", limit=2)
    assert len(names) == 2
    q = src.query("lat_seconds_bucket", time=T0 + 600, limit=2)
    assert meta_of(q).details["series"] == 2
    if _v(prom) == "2":  # 2.42 < 2.51: cut here, and said
        assert any("client-side; Prometheus 2.42" in w for w in warnings)
        assert any("client-side" in w for w in meta_of(q).warnings)
    else:
        assert warnings == ("results truncated due to limit",)  # the server's own words
        assert meta_of(q).warnings == ("results truncated due to limit",)
