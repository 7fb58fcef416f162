"""The opt-in Parquet cache: past windows are served from disk (no request reaches the
server), recent windows and partial answers are never stored, tenants never share."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from prom_local import FaultProxy, LocalPrometheus, start_prometheus, wait_for

from tributary_analysis.frames.meta import FrameMeta, meta_of
from tributary_analysis.sources.prometheus import FrameCache, PrometheusSource, cache_key

pytestmark = pytest.mark.prometheus


@pytest.fixture(scope="module")
def prom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    p = start_prometheus(tmp_path_factory.mktemp("prom-cache"))
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


def test_past_window_is_served_from_disk(proxy: FaultProxy, tmp_path: Path) -> None:
    src = PrometheusSource(proxy.url, cache=tmp_path)
    start, end = "2024-01-01T00:00:00Z", "2024-01-01T06:00:00Z"
    first = src.query_range('label_replace(vector(1), "t", "x", "", "")', start, end, "10m")
    m1 = meta_of(first)
    assert m1.details["cache"] == "stored" and m1.requests == 1
    n = len(proxy.state.requests)
    again = src.query_range('label_replace(vector(1), "t", "x", "", "")', start, end, "10m")
    assert len(proxy.state.requests) == n  # nothing reached the server
    m2 = meta_of(again)
    assert m2.details["cache"] == "hit" and m2.requests == 0
    assert "served from the local cache" in m2.notes
    # the rest of the record survives the sidecar (FrameMeta.to_json / from_json)
    assert (m2.query, m2.window, m2.step, m2.server, m2.location) == (
        m1.query, m1.window, m1.step, m1.server, m1.location)
    assert list(again.attrs) == ["meta"]
    pd.testing.assert_frame_equal(first, again, check_categorical=False)
    assert len(list(tmp_path.glob("*.parquet"))) == 1
    sidecar = next(tmp_path.glob("*.json"))
    doc = json.loads(sidecar.read_text())
    assert FrameMeta.from_json(doc).queries == m1.queries and doc["source"] == "prometheus"


def test_recent_window_is_not_cached(proxy: FaultProxy, tmp_path: Path) -> None:
    src = PrometheusSource(proxy.url, cache=tmp_path)
    end = pd.Timestamp.now(tz="UTC")
    df = src.query_range("vector(1)", end - pd.Timedelta("5m"), end, "1m")
    assert "cache" not in meta_of(df).details
    assert not list(tmp_path.glob("*.parquet"))


def test_partial_response_is_not_cached(proxy: FaultProxy, tmp_path: Path) -> None:
    proxy.reset(mode="partial")
    src = PrometheusSource(proxy.url, cache=tmp_path)
    df = src.query_range("vector(1)", "2024-01-01", "2024-01-02", "1h")
    assert meta_of(df).partial is True and "cache" not in meta_of(df).details
    assert not list(tmp_path.glob("*.parquet"))


def test_key_separates_servers_tenants_and_ranges() -> None:
    base = cache_key("http://a", "up", 0, 1000, 10)
    assert base == cache_key("http://a/", "up", 0, 1000, 10, {"Authorization": "Bearer x"})
    assert base != cache_key("http://b", "up", 0, 1000, 10)
    assert base != cache_key("http://a", "up", 0, 1000, 10, {"X-Scope-OrgID": "t1"})
    assert base != cache_key("http://a", "up", 0, 1010, 10)


def test_cache_from_settings_uses_cache_dir(prom: LocalPrometheus, tmp_path: Path) -> None:
    from tributary_analysis.config import load_settings

    s = load_settings(env={"TRIBUTARY_PROMETHEUS_URL": prom.url,
                           "TRIBUTARY_CACHE_DIR": str(tmp_path / "c")})
    src = PrometheusSource.from_settings(s, cache=True)
    assert isinstance(src.cache, FrameCache) and src.cache.directory == tmp_path / "c"
    src.query_range("vector(1)", "2024-01-01", "2024-01-01T01:00:00Z", "5m")
    assert len(list((tmp_path / "c").glob("*.parquet"))) == 1
