"""The fetch layer on the real Prometheus fixture: batched, exact, and saying what it asked.

Requests are counted by a real forwarding proxy (``tests/prom_local.py``) in front of the
fixture, so "one query for all tenants" is what went over the wire, not what the code
claims. Counts per bin are checked against Prometheus's own ``increase``, per-tenant
usage against the simulator's truth, and one batched episode query against one query per
episode (what the errors notebook did before).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from prom_local import FaultProxy

from tributary_analysis import fetch
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.ground.time import Window
from tributary_analysis.promql import catalog

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]


@pytest.fixture(scope="module")
def proxy(prometheus_stack: Any) -> Iterator[FaultProxy]:
    p = FaultProxy(prometheus_stack.url)
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture()
def prom(proxy: FaultProxy) -> Iterator[Any]:
    proxy.reset(mode="forward")
    src = fetch.open_prometheus(proxy.url)
    try:
        yield src
    finally:
        src.close()


def range_calls(proxy: FaultProxy) -> list[str]:
    return [r["path"] for r in proxy.state.requests if "/api/v1/query_range" in r["path"]]


def window_of(stack: Any) -> Window:
    return Window.of(stack.manifest["start"], stack.manifest["end"])


def test_counts_per_bin_are_prometheus_increase(prom: Any, prometheus_stack: Any) -> None:
    w, step = window_of(prometheus_stack), pd.Timedelta(minutes=10)
    got = fetch.requests_per_bin(prom, w, step, by=("status_code",))
    inc = prom.query_range("sum by (status_code) (increase(http_requests_total[10m]))",
                           w.start, w.end, step)
    key = ["timestamp", "status_code"]
    both = got.assign(status_code=got["status_code"].astype(str)).merge(
        inc.assign(status_code=inc["status_code"].astype(str)), on=key, suffixes=("", "_inc"))
    assert len(both) == len(got) == len(inc) > 100
    assert np.allclose(both["value"], both["value_inc"], rtol=1e-9)


def test_fetched_frames_say_what_was_asked(prom: Any, prometheus_stack: Any) -> None:
    w, step = window_of(prometheus_stack), pd.Timedelta(minutes=30)
    frame = fetch.latency_buckets(prom, w, step, by=("endpoint",))
    meta = meta_of(frame)
    assert meta.source == "prometheus"
    assert meta.queries == (catalog.latency_buckets(window=step, by=("endpoint",)),)
    assert meta.step == step and meta.window is not None
    # instants as Prometheus takes them: the grid includes the window's end
    assert (meta.window.start, meta.window.end) == (w.start, w.end + step)
    assert "@" not in meta.location  # never credentials


def test_tenant_usage_is_one_query_per_measure_for_every_tenant(
        prom: Any, proxy: FaultProxy, prometheus_stack: Any) -> None:
    m, truth = prometheus_stack.manifest, prometheus_stack.result.requests
    w = window_of(prometheus_stack)
    data = fetch.tenant_usage_data(prom, w, pd.Timedelta(hours=1))
    assert len(range_calls(proxy)) == len(data.frames()) == 7  # not 7 × tenants
    per_tenant = data.requests.groupby(data.requests["tenant_id"].astype(str))["value"].sum()
    assert set(m["tenants"]) <= set(per_tenant.index)
    want = truth.groupby(truth["tenant_id"].astype(str)).size()
    for tenant in m["tenants"]:  # rate × step per hour bin: extrapolated at the edges
        assert per_tenant[tenant] == pytest.approx(want[tenant], rel=0.05), tenant
    datasets = data.datasets.groupby(data.datasets["tenant_id"].astype(str))["value"].last()
    assert datasets.to_dict() == {t: float(n) for t, n in m["truth"]["datasets_total"].items()}


def test_an_unknown_tenant_is_zero_rows_with_the_label(prom: Any,
                                                       prometheus_stack: Any) -> None:
    data = fetch.tenant_usage_data(prom, window_of(prometheus_stack), pd.Timedelta(hours=1),
                                   tenant='no-such-tenant"}or vector(1)#')
    for frame in data.frames():
        assert len(frame) == 0 and "tenant_id" in frame.columns


def test_episode_requests_is_one_query_equal_to_one_per_episode(
        prom: Any, proxy: FaultProxy, prometheus_stack: Any) -> None:
    w, step = window_of(prometheus_stack), pd.Timedelta(minutes=2)
    starts = [w.start + pd.Timedelta(hours=h) for h in (2, 9, 15)]
    episodes = pd.DataFrame({
        "start": starts, "end": [s + pd.Timedelta(minutes=20) for s in starts],
        "endpoint": ["/api/v1/datasets/{id}/search", "/health",
                     "/api/v1/datasets/{id}/search"]})
    proxy.reset(mode="forward")
    batched = fetch.episode_requests(prom, episodes, step)
    assert len(range_calls(proxy)) == 1
    assert len(batched) == len(episodes)
    labels = ("endpoint", "tenant_id", "status_code")
    key = ["timestamp", *labels]

    def norm(f: pd.DataFrame) -> pd.DataFrame:
        f = f.assign(**{c: f[c].astype(str) for c in labels})
        return f[[*key, "value"]].sort_values(key).reset_index(drop=True)

    for (_, e), part in zip(episodes.iterrows(), batched, strict=True):
        alone = prom.query_range(
            catalog.request_rate(window=step, by=labels, endpoint=str(e["endpoint"])),
            e["start"], e["end"], step)
        alone = fetch.rates_to_counts(alone, step)
        assert len(part) > 0
        pd.testing.assert_frame_equal(norm(part), norm(alone), check_exact=False, rtol=1e-12)


def test_open_logs_reads_only_the_days_of_the_window(prometheus_stack: Any) -> None:
    m = prometheus_stack.manifest
    files = [str(prometheus_stack.out_dir / f) for f in m["files"]["logs"]]
    assert len(files) >= 2  # one file per UTC day
    # an hour in the middle of the data, kept hours away from midnight so one day's file
    # holds it (the session's data end "now": any time of day)
    mid = pd.Timestamp(m["start"]) + pd.Timedelta(hours=12)
    of_day = mid - mid.floor("D")
    if of_day < pd.Timedelta(hours=3):
        mid += pd.Timedelta(hours=3)
    elif of_day > pd.Timedelta(hours=20):
        mid -= pd.Timedelta(hours=4)
    w = Window(mid.floor("h"), mid.floor("h") + pd.Timedelta(hours=1))
    logs = fetch.open_logs("files", files, window=w)
    assert len(logs.files) == 1 and logs.pruned_files == len(files) - 1
    rows = fetch.request_events(logs, w)
    truth = prometheus_stack.result.requests
    inside = truth[(truth["time"] >= w.start) & (truth["time"] < w.end)]
    assert len(rows) == len(inside) > 0
