"""The batch-shared tenant frames (fetch/batch.py, fetch/usage.tenant_report_data) against
the real Prometheus fixture, through the fault-injecting proxy that counts requests.

Inside a batch the first caller queries every family once for all tenants; every other
tenant of the batch reads its slice with no request at all; the slices equal what a direct
query gives; the server's warnings reach every tenant; concurrent kernels fill the cache
once; the work area's sweep spares a cache in use and removes it afterwards; hostile ids
select nothing.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prom_local import FaultProxy

from tributary_analysis import fetch
from tributary_analysis.fetch import batch as batch_mod
from tributary_analysis.fetch import usage
from tributary_analysis.frames.meta import reader_notes
from tributary_analysis.ground.time import Window

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

HOSTILE = ['"}or vector(1)#', ".*", "tenant-acme' OR '1'='1", "\\", "tenant-acme\n",
           "<script>alert(1)</script>", ""]


@pytest.fixture(scope="module")
def proxy(prometheus_stack: Any) -> Iterator[FaultProxy]:
    p = FaultProxy(prometheus_stack.url)
    try:
        yield p
    finally:
        p.stop()


@pytest.fixture()
def prom(proxy: FaultProxy) -> Iterator[Any]:
    proxy.reset(mode="forward", only="/api/v1/query")
    src = fetch.open_prometheus(proxy.url)
    try:
        yield src
    finally:
        src.close()


def window_of(stack: Any) -> Window:
    return Window.of(stack.manifest["start"], stack.manifest["end"])


def queries(proxy: FaultProxy) -> int:
    return sum("/api/v1/query" in r["path"] for r in proxy.state.requests)


def test_batch_env_names_are_the_reports_packages() -> None:
    from tributary_analysis.reports import links, workarea

    assert batch_mod.BATCH_ENV == links.BATCH_ENV
    assert batch_mod.SESSION_LOCK == workarea.LOCK


def test_outside_a_batch_every_report_queries_directly(prom: Any, proxy: FaultProxy,
                                                       prometheus_stack: Any,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(batch_mod.BATCH_ENV, raising=False)
    w = window_of(prometheus_stack)
    prom.query("up")  # server detection out of the count
    proxy.state.requests.clear()
    a = usage.tenant_report_data(prom, w, "tenant-acme")
    n = queries(proxy)
    assert n == len(usage.REPORT_FAMILIES) and not a.shared
    usage.tenant_report_data(prom, w, "tenant-globex")
    assert queries(proxy) == 2 * n


def test_a_batch_asks_once_per_family_for_every_tenant(prom: Any, proxy: FaultProxy,
                                                       prometheus_stack: Any,
                                                       tmp_path: Path) -> None:
    w = window_of(prometheus_stack)
    tenants = prometheus_stack.manifest["tenants"]
    direct = {t: usage.tenant_report_data(prom, w, t, batch="") for t in tenants[:2]}
    prom.query("up")
    proxy.state.requests.clear()
    shared = {}
    for t in [*tenants, *HOSTILE]:
        shared[t] = _in_batch(prom, w, t, "batch-1", tmp_path)
    assert queries(proxy) == len(usage.REPORT_FAMILIES)  # one query per family in all
    first, *rest = [shared[t] for t in tenants]
    assert first.shared and {m.details["batch_cache"] for m in first.metas.values()} == \
        {"filled"}
    assert all({m.details["batch_cache"] for m in d.metas.values()} == {"read"} for d in rest)
    for t, d in direct.items():  # the slice is what a direct query gives
        for fam, frame in d.tenant_frames.items():
            assert_same(frame, shared[t].tenant_frames[fam], fam)
        for fam, frame in d.fleet_frames.items():
            assert_same(frame, shared[t].fleet_frames[fam], fam)
    for t in tenants:  # every tenant has its own rows, and only its own
        req = shared[t].tenant_frames["requests"]
        assert len(req) and set(req["tenant_id"]) == {t}
    for t in HOSTILE:  # data, never syntax: nothing matches, nothing breaks
        d = shared[t]
        assert all(len(f) == 0 for f in d.tenant_frames.values()), t
        assert d.known_tenants() == shared[tenants[0]].known_tenants()
    assert set(shared[tenants[0]].known_tenants()) == set(tenants)


def _in_batch(prom: Any, w: Window, tenant: str, batch: str, home: Path) -> Any:
    """``tenant_report_data`` in ``batch`` with the work area under ``home``."""
    before = os.environ.get("TRIBUTARY_HOME")
    os.environ["TRIBUTARY_HOME"] = str(home)
    try:
        return usage.tenant_report_data(prom, w, tenant, batch=batch)
    finally:
        if before is None:
            os.environ.pop("TRIBUTARY_HOME", None)
        else:
            os.environ["TRIBUTARY_HOME"] = before


def assert_same(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    keys = [c for c in a.columns if c != "value"]
    assert sorted(a.columns) == sorted(b.columns), what
    x = a.assign(**{k: a[k].astype(str) for k in keys if k != "timestamp"}).sort_values(
        keys).reset_index(drop=True)
    y = b.assign(**{k: b[k].astype(str) for k in keys if k != "timestamp"}).sort_values(
        keys).reset_index(drop=True)[x.columns]
    assert len(x) == len(y), what
    pd.testing.assert_frame_equal(x, y, check_dtype=False, check_categorical=False,
                                  obj=what)


def test_server_warnings_of_the_shared_queries_reach_every_tenant(
        prom: Any, proxy: FaultProxy, prometheus_stack: Any, tmp_path: Path) -> None:
    w = window_of(prometheus_stack)
    proxy.reset(mode="warn", only="/api/v1/query_range")
    a, b = (_in_batch(prom, w, t, "batch-warn", tmp_path)
            for t in prometheus_stack.manifest["tenants"][:2])
    for d in (a, b):
        notes = reader_notes(*d.frames())
        assert any("sidecar-2 unreachable" in n for n in notes), notes
        assert "sidecar-2 unreachable" in " ".join(d.meta().warnings)


def test_another_window_in_the_same_batch_is_its_own_question(
        prom: Any, proxy: FaultProxy, prometheus_stack: Any, tmp_path: Path) -> None:
    w = window_of(prometheus_stack)
    half = Window(w.start, w.start + w.duration / 2)
    _in_batch(prom, w, "tenant-acme", "batch-w", tmp_path)
    proxy.state.requests.clear()
    d = _in_batch(prom, half, "tenant-acme", "batch-w", tmp_path)
    assert queries(proxy) == len(usage.REPORT_FAMILIES)
    assert pd.to_datetime(d.tenant_frames["requests"]["timestamp"]).max() <= half.end


def _kernel(url: str, start: str, end: str, tenant: str, home: str, queue: Any) -> None:
    os.environ["TRIBUTARY_HOME"] = home
    os.environ.pop(batch_mod.BATCH_ENV, None)
    src = fetch.open_prometheus(url)
    d = usage.tenant_report_data(src, Window.of(start, end), tenant, batch="batch-race")
    queue.put((tenant, sorted({m.details["batch_cache"] for m in d.metas.values()}),
               len(d.tenant_frames["requests"])))


def test_concurrent_kernels_of_a_batch_fill_the_cache_once(
        proxy: FaultProxy, prometheus_stack: Any, tmp_path: Path) -> None:
    proxy.reset(mode="forward", only="/api/v1/query")
    m = prometheus_stack.manifest
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_kernel, args=(proxy.url, m["start"], m["end"], t,
                                               str(tmp_path), queue))
             for t in m["tenants"][:3]]
    for p in procs:
        p.start()
    got = [queue.get(timeout=300) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    roles = sorted(r for _, rs, _ in got for r in rs)
    assert roles == ["filled", "read", "read"]
    assert all(n > 0 for _, _, n in got)
    range_queries = [r for r in proxy.state.requests if "/api/v1/query" in r["path"]]
    assert len(range_queries) == len(usage.REPORT_FAMILIES)


def test_the_work_area_sweep_spares_a_cache_in_use_and_removes_it_after(
        prom: Any, prometheus_stack: Any, tmp_path: Path) -> None:
    from tributary_analysis.reports import workarea

    w = window_of(prometheus_stack)
    built = batch_mod.shared_frames(
        lambda: usage._build(prom, w, usage.report_step(w)), ["k"], batch="batch-sweep",
        root=tmp_path)
    cache_dir = next(tmp_path.glob("batch-*"))
    assert batch_mod.cache_key("batch-sweep", ["k"]) == cache_dir.name
    assert built.shared
    assert workarea.sweep(tmp_path) == 0 and cache_dir.is_dir()  # held: spared
    assert len(built.slice("requests", "tenant-acme"))
    built.close()
    assert workarea.sweep(tmp_path) == 1 and not cache_dir.exists()  # released: removed
    assert oct(tmp_path.stat().st_mode & 0o777) == "0o700"


def test_the_cache_stays_out_of_a_reports_directory(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIBUTARY_HOME", str(tmp_path / "out" / "home"))
    monkeypatch.setenv(batch_mod.REPORTS_DIR_ENV, str(tmp_path / "out"))
    root = batch_mod.batch_root()
    assert (tmp_path / "out") not in root.parents
    monkeypatch.setenv(batch_mod.REPORTS_DIR_ENV, str(tmp_path / "elsewhere"))
    assert batch_mod.batch_root() == tmp_path / "out" / "home" / "work"
    assert os.environ.get(batch_mod.BATCH_ENV) in (None, "")
