"""Tenant usage on constructed frames: replica gauges, growth methods, noisy neighbours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tributary_analysis.analysis import tenants
from tributary_analysis.errors import ConfigError, DataError

T0 = pd.Timestamp("2026-01-01T00:00:00Z")
TENANTS = ("t-a", "t-b", "t-c", "t-d")


def test_business_gauges_take_max_across_replicas_not_sum():
    ts = pd.date_range(T0, periods=3, freq="1min")
    rows = [{"timestamp": t, "instance": i, "tenant_id": "t-a", "dataset_id": d,
             "value": v} for t in ts for i in ("pod-1", "pod-2", "pod-3")
            for d, v in (("ds1", 100.0), ("ds2", 50.0))]
    vectors = pd.DataFrame(rows)
    datasets = vectors.drop(columns="dataset_id").drop_duplicates(
        ["timestamp", "instance"]).assign(value=2.0)
    req = pd.DataFrame({"timestamp": ts, "tenant_id": "t-a", "value": [10.0, 20.0, 30.0]})
    u = tenants.tenant_usage(requests=req, vectors=vectors, datasets=datasets)
    assert u.loc["t-a", "vectors"] == 150.0  # not 450 (three replicas)
    assert u.loc["t-a", "datasets"] == 2.0
    assert u.loc["t-a", "requests"] == 60.0


def test_empty_query_results_count_as_zero_not_as_bad_input():
    """Prometheus returns no series (so no tenant_id column) when no tenant hit a limit."""
    ts = pd.date_range(T0, periods=2, freq="1min")
    req = pd.DataFrame({"timestamp": ts, "tenant_id": "t-a", "value": [5.0, 7.0]})
    nothing = pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
                            "value": pd.Series(dtype="float64")})
    u = tenants.tenant_usage(requests=req, rate_limit_hits=nothing, searches=nothing,
                             datasets=nothing, cache_hit_ratio=nothing)
    assert u.loc["t-a", "requests"] == 12.0
    assert u.loc["t-a", "rate_limit_hits"] == 0.0
    assert u.loc["t-a", "searches"] == 0.0
    # a frame WITH rows but without the label is still bad input
    with pytest.raises(DataError, match="tenant_id"):
        tenants.tenant_usage(requests=req.drop(columns="tenant_id"))


def _hourly(days: float, rates: dict[str, float], growth_per_day: dict[str, float],
            seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = pd.date_range(T0, periods=int(days * 24 * 12), freq="5min")
    t_days = np.asarray((ts - T0) / pd.Timedelta(days=1))
    rows = []
    for t, base in rates.items():
        lam = base * (1 + growth_per_day.get(t, 0.0)) ** t_days
        rows.append(pd.DataFrame({"timestamp": ts, "tenant_id": t,
                                  "value": rng.poisson(lam).astype(float)}))
    return pd.concat(rows, ignore_index=True)


def test_growth_fitted_for_short_windows_recovers_the_rate():
    df = _hourly(1.0, {"t-a": 50, "t-b": 50}, {"t-a": 0.5})
    g = tenants.growth(df).set_index("tenant_id")
    assert g.loc["t-a", "method"].startswith("fitted")
    assert g.loc["t-a", "growth_per_day"] == pytest.approx(0.5, abs=0.08)
    assert g.loc["t-a", "low_per_week"] < g.loc["t-a", "growth_per_week"] \
        < g.loc["t-a", "high_per_week"]
    assert abs(g.loc["t-b", "growth_per_day"]) < 0.08
    assert g.index[0] == "t-a"


def test_growth_week_over_week_with_eight_days():
    df = _hourly(8.0, {"t-a": 20, "t-b": 20}, {"t-a": 0.1})
    g = tenants.growth(df).set_index("tenant_id")
    assert g.loc["t-a", "method"].startswith("week_over_week")
    assert g.loc["t-a", "growth_per_week"] == pytest.approx(1.1 ** 7 - 1, rel=0.1)


def test_noisy_neighbour_ranks_the_surging_tenant_first():
    rng = np.random.default_rng(4)
    ts = pd.date_range(T0, periods=288, freq="5min")
    surge = (ts >= T0 + pd.Timedelta("10h")) & (ts < T0 + pd.Timedelta("12h"))
    rates, lat = [], []
    for t in TENANTS:
        r = rng.poisson(100, size=len(ts)).astype(float)
        if t == "t-c":
            r = np.where(surge, r * 10, r)
        rates.append(pd.DataFrame({"timestamp": ts, "tenant_id": t, "value": r}))
        base = rng.normal(0.1, 0.005, size=len(ts))
        lat.append(pd.DataFrame({"timestamp": ts, "tenant_id": t,
                                 "value": np.where(surge, base * 1.6, base)}))
    out = tenants.noisy_neighbours(pd.concat(rates), pd.concat(lat))
    assert out.iloc[0]["tenant_id"] == "t-c" and out.iloc[0]["noisy"]
    assert out["noisy"].sum() == 1
    assert out.iloc[0]["overlap"] > 0.9 and out.iloc[0]["score"] > 0.95
    assert out.iloc[0]["surge_bins"] == 24  # exactly the two surge hours of 5-minute bins


def test_pareto_and_chargeback():
    req = pd.DataFrame({"timestamp": T0, "tenant_id": list(TENANTS),
                        "value": [700.0, 200.0, 60.0, 40.0]})
    u = tenants.tenant_usage(requests=req)
    p = tenants.pareto(u, "requests")
    assert p.attrs["tenants_for_target"] == 2  # 70 % + 20 % ≥ 80 %
    cb = tenants.chargeback(u, {"requests": 0.01})
    assert cb.loc[cb.tenant_id == "t-a", "cost"].iloc[0] == pytest.approx(7.0)
    assert cb["cost_share"].sum() == pytest.approx(1.0)
    with pytest.raises(ConfigError, match=r"unknown usage column.*vectorz"):
        tenants.chargeback(u, {"vectorz": 1.0})


def test_growth_of_no_traffic_is_an_empty_table():
    empty = pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
                          "value": pd.Series(dtype="float64"),
                          "tenant_id": pd.Categorical([])})
    out = tenants.growth(empty)
    assert out.empty and "growth_per_week" in out.columns


@pytest.mark.prometheus
def test_range_query_keeps_grouping_labels_on_an_empty_result(prometheus_stack):
    """A real query for a tenant with no traffic: zero rows, but the tenant_id column."""
    from tributary_analysis import fetch
    from tributary_analysis.ground.time import parse_window
    from tributary_analysis.promql import catalog as queries
    from tributary_analysis.sources.prometheus import PrometheusSource

    prom = PrometheusSource(prometheus_stack.url)
    window = parse_window(start=prometheus_stack.manifest["start"],
                          end=prometheus_stack.manifest["end"])
    expr = queries.request_rate(window="5m", by=("tenant_id",), tenant="no-such-tenant")
    frame = fetch.range_frame(prom, expr, window, pd.Timedelta("30min"), labels=("tenant_id",))
    assert len(frame) == 0 and "tenant_id" in frame.columns
    usage = tenants.tenant_usage(requests=fetch.rates_to_counts(frame, pd.Timedelta("30min")))
    assert usage.empty
