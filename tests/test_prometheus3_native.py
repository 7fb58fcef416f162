"""Native histograms in a real Prometheus 3: exponential, NHCB and classic forms of one traffic.

The simulator's latency family is written three ways: classic ``_bucket`` series (promtool
backfill), exponential native histograms (schema 3, remote-written into
``prometheus3_native``) and NHCB (the classic boundaries as custom buckets, remote-written into
``prometheus3_nhcb``, whose backfill has no ``_bucket`` series for the family at all). Truth is
the simulator's own requests.

``histogram_quantile`` finds the bucket where the cumulative count reaches ``q * n`` and
interpolates inside it, so its answer must lie in *the bucket holding the ``ceil(q * n)``-th
smallest true value*: that is the bound checked, for each form with its own buckets. NHCB and
classic share their buckets and interpolation: over an explicit difference of two instants (no
extrapolation) they agree exactly; under ``rate`` they differ slightly where a series is born
inside the window, because Prometheus limits the extrapolation towards zero per float series
(each ``le`` bucket on its own) but per histogram (by its total count) for native ones.

Truth under ``rate``: ``rate`` extrapolates each series by its own factor, and ``sum`` adds the
extrapolated histograms, so ``sum(rate(X[r]))`` describes the requests of the window weighted
by their series' factor. Where every series covers the whole range (a sample at every scrape
of ``(t - r, t]``) that factor is the same for all of them and the answer describes exactly the
requests completed in ``[t - r + step, t)``; where a series is born inside the range (the
simulation starts new tenant × endpoint series all day), its requests weigh differently and
the unweighted truth no longer applies. The ``rate`` checks therefore use only ranges the server
itself says are fully covered (``count_over_time`` of every series is ``r / step``) — which
ranges those are depends on the session simulation's end (it ends "now") — and the explicit
differences check every range.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
import pytest
import requests

from tributary_analysis import seed
from tributary_analysis.demo import native, remote_write
from tributary_analysis.errors import DataError, StackError

pytestmark = pytest.mark.prometheus

FAMILY = "http_request_duration_seconds"
JOB = 'job="deeplake-api"'
QUANTILES = (0.5, 0.9, 0.95, 0.99)
RANGE = 3600


def _query(url: str, expr: str, at: int) -> list[dict[str, Any]]:
    params: dict[str, str | int] = {"query": expr, "time": at}
    resp = requests.get(f"{url}/api/v1/query", params=params, timeout=60)
    body = resp.json()
    assert resp.status_code == 200 and body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _scalar(url: str, expr: str, at: int) -> float:
    res = _query(url, expr, at)
    assert len(res) == 1, (expr, res)
    return float(res[0]["value"][1])


def _times(stack: Any) -> list[int]:
    """Aligned evaluation times clear of the scrape gap and the restart (± the range)."""
    m = stack.manifest
    start, end, step = int(m["start_unix"]), int(m["end_unix"]), int(m["scrape_interval_s"])
    incs = {i.kind: i for i in stack.result.incidents}
    avoid = [(incs["scrape_gap"].start_s, incs["scrape_gap"].end_s + 300),
             (incs["restart"].start_s, incs["restart"].start_s + step)]
    out = []
    for t in range(start + 2 * RANGE, end + 1, 3 * RANGE):
        t -= (t - start) % step
        if all(not (a - RANGE <= t <= b + RANGE) for a, b in avoid):
            out.append(t)
    assert len(out) >= 3
    return out


def _window_values(sim: Any, t: int, step: int, version: str = "3",
                   endpoint: str | None = None) -> np.ndarray:
    """Durations counted by ``rate(X[1h] @ t)``: completed in ``[t - r + step, t)`` on 3.x.

    (``version="2"``: the closed window's ``[t - r, t)``.)
    """
    df = sim.requests
    lo = t - RANGE + (step if version == "3" else 0)
    sel = (df["time"] >= pd.Timestamp(lo, unit="s", tz="UTC")) & (
        df["time"] < pd.Timestamp(t, unit="s", tz="UTC"))
    if endpoint is not None:
        sel &= df["endpoint"].astype(str) == endpoint
    return np.sort(df.loc[sel, "duration_s"].to_numpy(dtype=float))


def _partial_series(url: str, sel: str, t: int, step: int) -> int:
    """Series of ``sel`` without a sample at every scrape of ``(t - RANGE, t]`` (born or gone
    inside the range): ``rate`` extrapolates them by a factor of their own."""
    return len(_query(url, f"count_over_time({FAMILY}{{{sel}}}[{RANGE}s]) < {RANGE // step}", t))


def _rank_value(values: np.ndarray, q: float) -> float:
    return float(values[max(0, math.ceil(q * values.size) - 1)])


def _classic_bucket(v: float) -> tuple[float, float]:
    bounds = [0.0, *seed.FAMILIES_BY_NAME[FAMILY].buckets, math.inf]
    i = int(np.searchsorted(bounds, v, side="left"))
    return bounds[i - 1], bounds[i]


def _native_bucket(v: float) -> tuple[float, float]:
    """The exponential bucket holding ``v``, widened by one ulp each side: the server takes a
    boundary from Go's table of ``2**(k/8)`` times ``2**e`` and the test computes it with
    ``exp2``; the two roundings of the same boundary can differ in the last bit."""
    idx = int(native.exponential_index(np.array([v]), native.DEFAULT_SCHEMA)[0])
    lo, hi = native.exponential_bounds(idx, native.DEFAULT_SCHEMA)
    return float(np.nextafter(lo, 0.0)), float(np.nextafter(hi, math.inf))


def _busy_endpoints(sim: Any, n: int = 3) -> list[str]:
    counts = sim.requests["endpoint"].astype(str).value_counts()
    return list(counts.index[:n])


def test_native_series_exist_beside_classic_and_nhcb_replaces_it(
    prometheus3_native: Any, prometheus3_nhcb: Any,
) -> None:
    end = int(prometheus3_native.manifest["end_unix"])
    for stack in (prometheus3_native, prometheus3_nhcb):
        assert stack.version == "3" and stack.release.startswith("3.16")
        report = stack.native[FAMILY]
        assert report.histograms > 100_000 and report.series > 10
        n = _scalar(stack.url, f"count({FAMILY}{{{JOB}}})", end)
        assert n == report.series
    assert _query(prometheus3_native.url, f"count({FAMILY}_bucket{{{JOB}}})", end)
    assert _query(prometheus3_nhcb.url, f"count({FAMILY}_bucket{{{JOB}}})", end) == []
    assert _query(prometheus3_nhcb.url, f"count({FAMILY}_count{{{JOB}}})", end) == []
    # the other families were backfilled untouched
    assert _query(prometheus3_nhcb.url, f"count(search_latency_seconds_bucket{{{JOB}}})", end)


def test_native_and_nhcb_counts_equal_the_classic_count(
    prometheus3_native: Any, prometheus3_nhcb: Any,
) -> None:
    for t in _times(prometheus3_native):
        classic = _scalar(prometheus3_native.url,
                          f"sum(increase({FAMILY}_count{{{JOB}}}[{RANGE}s]))", t)
        for stack in (prometheus3_native, prometheus3_nhcb):
            got = _scalar(stack.url,
                          f"sum(histogram_count(increase({FAMILY}{{{JOB}}}[{RANGE}s])))", t)
            assert got == pytest.approx(classic, rel=1e-9), (t, stack.url)
            s = _scalar(stack.url,
                        f"sum(histogram_sum(increase({FAMILY}{{{JOB}}}[{RANGE}s])))", t)
            s_classic = _scalar(prometheus3_native.url,
                                f"sum(increase({FAMILY}_sum{{{JOB}}}[{RANGE}s]))", t)
            assert s == pytest.approx(s_classic, rel=1e-6), (t, stack.url)


@pytest.mark.parametrize("q", QUANTILES)
def test_quantiles_of_all_three_forms_hold_the_truth_within_their_buckets(
    prometheus3_native: Any, prometheus3_nhcb: Any, sim: Any, q: float,
) -> None:
    step = int(sim.manifest["scrape_interval_s"])
    checked = 0
    for t in _times(prometheus3_native):
        for endpoint in (None, *_busy_endpoints(sim)):
            values = _window_values(sim, t, step, endpoint=endpoint)
            if values.size < 200:
                continue
            sel = JOB if endpoint is None else f'{JOB},endpoint="{endpoint}"'
            if _partial_series(prometheus3_nhcb.url, sel, t, step):
                continue  # rate weighs a series born in the range by its own factor
            truth = _rank_value(values, q)
            nat = _scalar(prometheus3_native.url,
                          f"histogram_quantile({q}, sum(rate({FAMILY}{{{sel}}}[{RANGE}s])))", t)
            nhcb = _scalar(prometheus3_nhcb.url,
                           f"histogram_quantile({q}, sum(rate({FAMILY}{{{sel}}}[{RANGE}s])))", t)
            classic = _scalar(prometheus3_native.url,
                              f"histogram_quantile({q}, sum by (le) "
                              f"(rate({FAMILY}_bucket{{{sel}}}[{RANGE}s])))", t)
            lo, hi = _native_bucket(truth)
            assert lo <= nat <= hi, (t, endpoint, q, truth, nat, (lo, hi))
            assert abs(nat / truth - 1) <= 2 ** (2 ** -native.DEFAULT_SCHEMA) - 1 + 1e-12
            lo, hi = _classic_bucket(truth)
            assert lo <= classic <= hi, (t, endpoint, q, truth, classic, (lo, hi))
            # same buckets; rate's zero-point extrapolation differs per bucket vs per histogram
            assert nhcb == pytest.approx(classic, rel=0.01), (t, endpoint, q)
            checked += 1
    assert checked >= 6


@pytest.mark.parametrize("q", QUANTILES)
def test_nhcb_equals_classic_over_an_explicit_difference(
    prometheus3_native: Any, prometheus3_nhcb: Any, sim: Any, q: float,
) -> None:
    """``X @ t - X @ (t - r)``: the observations completed in ``[t - r, t)``, no extrapolation."""
    for t in _times(prometheus3_native):
        a = t - RANGE
        values = _window_values(sim, t, 0, version="2")
        truth = _rank_value(values, q)
        nhcb = _scalar(prometheus3_nhcb.url, f"histogram_quantile({q}, sum({FAMILY}{{{JOB}}} "
                       f"@ {t}) - sum({FAMILY}{{{JOB}}} @ {a}))", t)
        classic = _scalar(prometheus3_native.url,
                          f"histogram_quantile({q}, sum by (le) ({FAMILY}_bucket{{{JOB}}} @ {t})"
                          f" - sum by (le) ({FAMILY}_bucket{{{JOB}}} @ {a}))", t)
        nat = _scalar(prometheus3_native.url, f"histogram_quantile({q}, sum({FAMILY}{{{JOB}}} "
                      f"@ {t}) - sum({FAMILY}{{{JOB}}} @ {a}))", t)
        assert nhcb == pytest.approx(classic, rel=1e-12), (t, q)
        lo, hi = _classic_bucket(truth)
        assert lo <= classic <= hi, (t, q, truth, classic)
        lo, hi = _native_bucket(truth)
        assert lo <= nat <= hi, (t, q, truth, nat)


def test_fraction_below_a_classic_bound_is_exact_for_nhcb_and_bounded_for_native(
    prometheus3_native: Any, prometheus3_nhcb: Any, sim: Any,
) -> None:
    """0.1 s is a classic bound, so NHCB's fraction below it is a count ratio, no interpolation.

    Over ``X @ t - X @ (t - r + step)`` (the left-open range's first sample to its last) it is
    exactly the share of the requests completed in ``[t - r + step, t)``. Under ``rate`` it is
    that share too when every series covers the range; when one is born inside it, ``sum``
    weighs each series' share by its own extrapolated count — checked as such.
    """
    step = int(sim.manifest["scrape_interval_s"])
    lo, hi = _native_bucket(0.1)
    rate_exact = 0
    for t in _times(prometheus3_native):
        values = _window_values(sim, t, step)
        truth = float((values <= 0.1).mean())
        a = t - RANGE + step
        diff = (f"histogram_fraction(0, 0.1, sum({FAMILY}{{{JOB}}} @ {t}) "
                f"- sum({FAMILY}{{{JOB}}} @ {a}))")
        assert _scalar(prometheus3_nhcb.url, diff, t) == pytest.approx(truth, abs=1e-9), t
        got = _scalar(prometheus3_native.url, diff, t)
        assert (values <= lo).mean() - 1e-9 <= got <= (values <= hi).mean() + 1e-9, t

        rate = f"rate({FAMILY}{{{JOB}}}[{RANGE}s])"
        server = _scalar(prometheus3_nhcb.url, f"histogram_fraction(0, 0.1, sum({rate}))", t)
        if _partial_series(prometheus3_nhcb.url, JOB, t, step) == 0:
            assert server == pytest.approx(truth, abs=1e-9), t
            got = _scalar(prometheus3_native.url, f"histogram_fraction(0, 0.1, sum({rate}))", t)
            assert (values <= lo).mean() - 1e-9 <= got <= (values <= hi).mean() + 1e-9, t
            rate_exact += 1
        else:
            counts = {_key(r): float(r["value"][1])
                      for r in _query(prometheus3_nhcb.url, f"histogram_count({rate})", t)}
            shares = {_key(r): float(r["value"][1]) for r in _query(
                prometheus3_nhcb.url, f"histogram_fraction(0, 0.1, {rate})", t)}
            weighted = sum(shares[k] * c for k, c in counts.items() if c) / sum(counts.values())
            assert server == pytest.approx(weighted, abs=1e-9), t
    assert rate_exact >= 2


def _key(result: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(result["metric"].items()))


def test_native_index_matches_the_servers_bucket_boundaries() -> None:
    """Boundary values fall into the bucket they close, as in Go's histogram code."""
    schema = native.DEFAULT_SCHEMA
    idx = np.arange(-40, 40)
    _, upper = native.exponential_bounds(idx, schema)
    assert np.array_equal(native.exponential_index(upper, schema), idx)
    assert np.array_equal(native.exponential_index(upper * (1 + 1e-12), schema), idx + 1)
    assert np.array_equal(native.exponential_index(np.array([1.0, 2.0, 4.0]), 0), [0, 1, 2])


def test_every_latency_family_has_a_native_form_or_a_clear_error(sim: Any) -> None:
    families = native.available_families(sim)
    assert FAMILY in families
    for name in native.LATENCY_FAMILIES:
        if name in families:
            assert native.simulated_histograms(sim, name, form="nhcb")
        else:
            with pytest.raises(DataError, match=name):
                native.simulated_histograms(sim, name)
    with pytest.raises(DataError, match="no native form"):
        native.simulated_histograms(sim, "memory_usage_bytes")
    with pytest.raises(DataError, match="unknown histogram form"):
        native.simulated_histograms(sim, FAMILY, form="sparse")  # type: ignore[arg-type]


def test_remote_write_refusals_name_the_cause(prometheus_stack: Any,
                                              prometheus3_stack: Any) -> None:
    h = remote_write.Histogram(timestamp_ms=0, count=1, sum=0.1, schema=3,
                               positive_spans=((-27, 1),), positive_buckets=(1,))
    series = [remote_write.TimeSeries({"__name__": "tributary_rw_probe"}, histograms=[h])]
    # 2.42 without the receiver flag: 404, said as such with the fix
    with pytest.raises(StackError, match=r"refused \(HTTP 404\)"):
        remote_write.write(prometheus_stack.url, series)
    # 3.x: a sample at 1970 is outside the out-of-order window
    with pytest.raises(StackError, match="out_of_order_time_window"):
        remote_write.write(prometheus3_stack.url, series)
    with pytest.raises(StackError, match=re.escape("remote write to http://127.0.0.1:9/api/v1/write")):
        remote_write.write("http://127.0.0.1:9", series, timeout=5)
