"""Round trip: PromQL on the backfilled Prometheus equals the simulator's own request totals.

Truth is ``sim.requests`` (one row per request). How a request reaches a counter is the
simulator's rule (``demo/aggregate.py``): it counts in the first scrape *strictly after* it
completes, so the counter at scrape time ``T`` holds the requests with ``time < T``, and the
difference between the scrapes at ``a`` and ``b`` holds those with ``a <= time < b``.
Counters are per replica; the injected restart (``incidents.json``) resets one replica's
counters right after the scrape at its ``start``.

Every test runs on both server lines (``prometheus_server``: Debian's 2.42 and the Go build
of 3.16), each backfilled by its own promtool. The semantics this relies on (and checks): an
instant query at a scrape time returns that scrape's sample on both lines. Range selectors
differ: on 2.x ``X[r] @ t`` holds the samples in the *closed* interval ``[t - r, t]``, so when
a series has samples at both ends ``increase`` does not extrapolate and adds the value after
a reset, i.e. it is exact; on 3.x the interval is *left-open* ``(t - r, t]`` (3.0), so the
window holds one sample fewer, the first sample is one step after ``t - r`` and ``increase``
extrapolates that step (exactly by ``r / (r - step)`` on a regular grid).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

pytestmark = pytest.mark.prometheus

JOB = 'job="deeplake-api"'
Query = Callable[..., dict[tuple[str, ...], float]]


def _ts(unix: int) -> pd.Timestamp:
    return pd.Timestamp(unix, unit="s", tz="UTC")


@pytest.fixture(scope="module")
def promql(prometheus_server: Any) -> Query:
    """``promql(expr, at, by)``: an instant query as ``{label values: value}``."""

    def run(expr: str, at: int, by: tuple[str, ...] = ()) -> dict[tuple[str, ...], float]:
        params: dict[str, str | int] = {"query": expr, "time": at}
        resp = requests.get(f"{prometheus_server.url}/api/v1/query", params=params,
                            timeout=60)
        body = resp.json()
        assert resp.status_code == 200 and body["status"] == "success", (expr, body)
        assert not body.get("warnings"), (expr, body["warnings"])
        out: dict[tuple[str, ...], float] = {}
        for item in body["data"]["result"]:
            key = tuple(item["metric"].get(name, "") for name in by)
            assert key not in out, (expr, key)
            out[key] = float(item["value"][1])
        return out

    return run


@pytest.fixture(scope="module")
def window(prometheus_server: Any) -> dict[str, Any]:
    """Scrape grid, the restart and the scrape gap, from the manifest and incidents.json."""
    m = prometheus_server.manifest
    incs = {i.kind: i for i in prometheus_server.result.incidents}
    restart, gap = incs["restart"], incs["scrape_gap"]
    return {"start": int(m["start_unix"]), "end": int(m["end_unix"]),
            "step": int(m["scrape_interval_s"]), "restart_at": restart.start_s,
            "restart_instance": restart.affects["instance"],
            "gap": (gap.start_s, gap.end_s), "gap_instance": gap.affects["instance"],
            "version": prometheus_server.version}


def _truth(df: pd.DataFrame, by: list[str], a: int, b: int) -> dict[tuple[str, ...], float]:
    """Requests with ``a <= time < b`` counted by ``by`` (string keys, zero groups dropped)."""
    sel = df[(df["time"] >= _ts(a)) & (df["time"] < _ts(b))]
    counts = sel.groupby([sel[c].astype(str) for c in by], observed=True).size()
    return {(k if isinstance(k, tuple) else (k,)): float(v)
            for k, v in counts.items() if v > 0}


def _between(promql: Query, w: dict[str, Any], series: str, by: tuple[str, ...],
             a: int, b: int) -> dict[tuple[str, ...], float]:
    """Σ X@b − Σ X@a, plus the restarted replica's value at its reset when it lies inside."""
    grp = ", ".join(by)
    after = promql(f"sum by ({grp}) ({series})", b, by)
    before = promql(f"sum by ({grp}) ({series})", a, by)
    out = {k: v - before.get(k, 0.0) for k, v in after.items()}
    if a <= w["restart_at"] < b:
        sel = series.replace("{", f'{{instance="{w["restart_instance"]}",', 1)
        for k, v in promql(f"sum by ({grp}) ({sel})", w["restart_at"], by).items():
            out[k] = out.get(k, 0.0) + v
    return {k: v for k, v in out.items() if v != 0}


# (PromQL series, group labels, truth columns, truth row filter)
CASES: list[tuple[str, tuple[str, ...], list[str], Callable[[pd.DataFrame], Any] | None]] = [
    (f"http_requests_total{{{JOB}}}", ("tenant_id",), ["tenant_id"], None),
    (f"http_requests_total{{{JOB}}}", ("endpoint", "status_code"),
     ["endpoint", "status_code"], None),
    (f"http_requests_total{{{JOB}}}", ("instance",), ["instance"], None),
    (f"http_requests_total{{{JOB}}}", ("method", "endpoint", "status_code", "tenant_id",
                                       "instance"),
     ["method", "endpoint", "status_code", "tenant_id", "instance"], None),
    (f"http_request_duration_seconds_count{{{JOB}}}", ("endpoint",), ["endpoint"], None),
    (f'http_request_duration_seconds_bucket{{{JOB},le="0.1"}}', ("endpoint",), ["endpoint"],
     lambda df: df["duration_s"] <= 0.1),
    (f'http_request_duration_seconds_bucket{{{JOB},le="+Inf"}}', ("tenant_id",),
     ["tenant_id"], None),
    (f"search_operations_total{{{JOB}}}", ("search_type",), ["search_type"],
     lambda df: df["search_type"].notna()),
    (f"errors_total{{{JOB}}}", ("error_type",), ["error_type"],
     lambda df: df["error_type"].notna()),
    (f"errors_total{{{JOB}}}", ("error_type", "error_code", "tenant_id"),
     ["error_type", "error_code", "tenant_id"], lambda df: df["error_type"].notna()),
]
IDS = [f"{c[0].split('{')[0]}{'' if 'le=' not in c[0] else '[le]'} by {','.join(c[1])}"
       for c in CASES]


@pytest.mark.parametrize(("series", "by", "cols", "rows"), CASES, ids=IDS)
def test_whole_window_totals_equal_the_simulated_requests(
    promql: Query, window: dict[str, Any], sim: Any, series: str, by: tuple[str, ...],
    cols: list[str], rows: Callable[[pd.DataFrame], Any] | None,
) -> None:
    df = sim.requests if rows is None else sim.requests[rows(sim.requests)]
    truth = _truth(df, cols, window["start"], window["end"])
    assert sum(truth.values()) > 0
    got = _between(promql, window, series, by, window["start"], window["end"])
    assert got == truth


def test_every_request_is_counted_once(promql: Query, window: dict[str, Any], sim: Any) -> None:
    got = _between(promql, window, f"http_requests_total{{{JOB}}}", ("job",),
                   window["start"], window["end"])
    assert got == {("deeplake-api",): float(len(sim.requests))}
    assert len(sim.requests) == sim.manifest["counts"]["requests"]


def test_only_the_restarted_replica_resets(promql: Query, window: dict[str, Any]) -> None:
    """The restart correction above is needed exactly once, for exactly that replica."""
    span = window["end"] - window["start"]
    for family in ("http_requests_total", "http_request_duration_seconds_count",
                   "errors_total"):
        resets = promql(f"sum by (instance) (resets({family}{{{JOB}}}[{span}s]))",
                        window["end"], ("instance",))
        assert {k for k, v in resets.items() if v > 0} == {(window["restart_instance"],)}
        per_series = promql(f"max(resets({family}{{{JOB}}}[{span}s]))", window["end"])
        assert per_series == {(): 1.0}


def _aligned_subwindow(w: dict[str, Any]) -> tuple[int, int]:
    """Two hours before the restart to one hour after it, on the grid, clear of the gap."""
    step = w["step"]
    a = max(w["start"] + step, w["restart_at"] - 2 * 3600)
    b = min(w["end"], w["restart_at"] + 3600)
    g0, g1 = w["gap"]
    lookback = 300
    for t in (a, b):
        assert (t - w["start"]) % step == 0
        assert not g0 <= t < g1 + lookback, "the sub-window's ends must be scraped"
    return a, b


@pytest.mark.parametrize(("series", "by", "cols", "rows"), CASES[:3] + CASES[7:9],
                         ids=IDS[:3] + IDS[7:9])
def test_aligned_subwindow_across_the_restart(
    promql: Query, window: dict[str, Any], sim: Any, series: str, by: tuple[str, ...],
    cols: list[str], rows: Callable[[pd.DataFrame], Any] | None,
) -> None:
    a, b = _aligned_subwindow(window)
    df = sim.requests if rows is None else sim.requests[rows(sim.requests)]
    truth = _truth(df, cols, a, b)
    assert sum(truth.values()) > 0
    assert _between(promql, window, series, by, a, b) == truth


def test_increase_follows_the_server_lines_range_semantics(
    promql: Query, window: dict[str, Any], sim: Any,
) -> None:
    """``increase(X[b-a] @ b)`` over series present at ``a``, reset added.

    2.x (closed window): samples at both ends, no extrapolation: exactly the requests in
    ``[a, b)``. 3.x (left-open window): the first sample is at ``a + step``, so the increase
    is the requests in ``[a + step, b)`` extrapolated over the missing step:
    ``× (b - a) / (b - a - step)``.

    A series born inside the window (``prometheus_client`` creates children lazily) would be
    extrapolated, so both sides keep only the series that exist at ``a``.
    """
    a, b = _aligned_subwindow(window)
    step = window["step"]
    labels = ("method", "endpoint", "status_code", "tenant_id", "instance")
    series = f"http_requests_total{{{JOB}}}"
    expr = (f"sum by (tenant_id) (increase({series}[{b - a}s] @ {b}) "
            f"and on ({', '.join(labels)}) ({series} @ {a}))")
    got = promql(expr, b, ("tenant_id",))
    df = sim.requests
    born = df[df["time"] < _ts(a)].groupby(list(labels), observed=True).size()
    existing = {tuple(str(x) for x in k) for k, v in born.items() if v > 0}
    keys = list(zip(*(df[c].astype(str) for c in labels), strict=True))
    keep = np.fromiter((k in existing for k in keys), bool, len(keys))
    if window["version"] == "2":
        truth = _truth(df[keep], ["tenant_id"], a, b)
    else:
        factor = (b - a) / (b - a - step)
        truth = {k: v * factor for k, v in _truth(df[keep], ["tenant_id"], a + step,
                                                  b).items()}
    assert got.keys() == truth.keys()
    for k, v in truth.items():
        assert math.isclose(got[k], v, rel_tol=1e-9), (k, got[k], v)
    # and without the filter, extrapolation makes increase() differ from the truth
    raw = promql(f"sum by (tenant_id) (increase({series}[{b - a}s] @ {b}))", b,
                 ("tenant_id",))
    full = _truth(df, ["tenant_id"], a, b)
    assert raw.keys() == full.keys()


def test_a_range_holds_one_sample_fewer_on_3x(
    prometheus_server: Any, window: dict[str, Any],
) -> None:
    """``up[r] @ t`` on the scrape grid: ``r/step + 1`` samples on 2.x, ``r/step`` on 3.x."""
    step = window["step"]
    _, b = _aligned_subwindow(window)
    r = 20 * step
    resp = requests.get(f"{prometheus_server.url}/api/v1/query",
                        params={"query": f"up{{{JOB}}}[{r}s]", "time": b}, timeout=60).json()
    counts = {item["metric"]["instance"]: len(item["values"])
              for item in resp["data"]["result"]
              if item["metric"]["instance"] != window["gap_instance"]}  # the gap may overlap
    assert len(counts) >= 2, resp
    expected = r // step + (1 if window["version"] == "2" else 0)
    assert set(counts.values()) == {expected}, counts


def test_raw_samples_with_reset_handling_equal_the_truth(
    prometheus_server: Any, window: dict[str, Any], sim: Any,
) -> None:
    """The raw samples of ``errors_total`` (no PromQL function at all) give the same totals.

    The range covers the whole window on both lines: no series has a sample at the window's
    first scrape (nothing completed before it), so the left-open 3.x range loses nothing.
    """
    span = window["end"] - window["start"]
    resp = requests.get(f"{prometheus_server.url}/api/v1/query",
                        params={"query": f"errors_total{{{JOB}}}[{span}s]",
                                "time": window["end"]}, timeout=60).json()
    got: dict[tuple[str, ...], float] = {}
    grid_ok = True
    for item in resp["data"]["result"]:
        ts = np.array([float(t) for t, _ in item["values"]])
        v = np.array([float(x) for _, x in item["values"]])
        grid_ok &= bool(np.all((ts - window["start"]) % window["step"] == 0))
        d = np.diff(v)
        total = v[0] + np.where(d >= 0, d, v[1:]).sum()  # a drop is a reset: count from 0
        key = (item["metric"]["error_type"],)
        got[key] = got.get(key, 0.0) + total
    assert grid_ok, "every sample sits on the simulator's scrape grid"
    df = sim.requests[sim.requests["error_type"].notna()]
    assert got == _truth(df, ["error_type"], window["start"], window["end"])
