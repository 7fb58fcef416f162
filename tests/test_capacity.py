"""Capacity planning on constructed series with known answers (and on the simulator's
injected memory trend when the simulator is available)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tributary_analysis.analysis.capacity import (
    NewTenants,
    Resource,
    TenantGrows,
    describe_range,
    headroom,
    peak_to_average,
    plan,
    scenario_table,
    to_series,
    what_if,
)
from tributary_analysis.analysis.forecast import (
    forecast_series,
    mase,
    regularize,
    rolling_origin_backtest,
    seasonal_naive,
    seasonal_periods,
    time_to_limit,
)
from tributary_analysis.errors import DataError

H = pd.Timedelta(hours=1)


def hourly(values: np.ndarray, start: str = "2024-01-01") -> pd.Series:
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="h",
                                                 tz="UTC"), name="y")


# ------------------------------------------------------------------ MASE and backtest

def test_mase_known_answers() -> None:
    # errors 1 and 2 (MAE 1.5); in-sample one-step diffs 1, 2, 3 (scale 2) → 0.75
    assert mase([5, 7], [4, 9], [1, 2, 4, 7]) == pytest.approx(0.75)
    # seasonal m=2: y[t]-y[t-2] = 1 everywhere → scale 1; MAE 0.5 → 0.5
    assert mase([4, 6], [4, 7], [1, 3, 2, 4, 3, 5], m=2) == pytest.approx(0.5)


def test_mase_refuses_undefined_inputs() -> None:
    with pytest.raises(DataError, match="seasonal-naive error is 0"):
        mase([1], [1], [2, 2, 2])
    with pytest.raises(DataError, match="needs more than 4 in-sample points"):
        mase([1], [1], [1, 2, 3], m=4)
    with pytest.raises(DataError, match="equally long"):
        mase([1, 2], [1], [1, 2, 3])


def test_seasonal_naive_repeats_the_last_season() -> None:
    assert seasonal_naive(np.array([1, 2, 3, 4, 5, 6]), 5, m=3).tolist() == [4, 5, 6, 4, 5]


def test_backtest_on_a_series_with_a_known_answer() -> None:
    """y = t + season(4): seasonal naive is off by exactly 4 at every step and the in-sample
    scale is exactly 4, so naive MASE = 1; a forecaster off by exactly 1 scores 0.25."""
    t = np.arange(80.0)
    y = hourly(t + np.tile([0.0, 2.0, 0.0, -2.0], 20))

    def off_by_one(train: pd.Series, h: int) -> np.ndarray:
        k = np.arange(len(train), len(train) + h)
        return k + np.tile([0.0, 2.0, 0.0, -2.0], 40)[k] + 1.0

    bt = rolling_origin_backtest(y, 4, m=4, origins=[40, 52, 64, 76], forecaster=off_by_one)
    assert bt["mase_naive"].tolist() == pytest.approx([1.0] * 4)
    assert bt["mase"].tolist() == pytest.approx([0.25] * 4)
    assert bt.attrs["summary"]["skill"] == pytest.approx(0.75)
    assert bt["origin"].iloc[0] == y.index[40]


def test_ets_beats_seasonal_naive_on_trend_plus_daily_season() -> None:
    rng = np.random.default_rng(0)
    t = np.arange(24 * 10.0)
    y = hourly(50 + 0.5 * t + 10 * np.sin(2 * np.pi * t / 24) + rng.normal(0, 1, t.size))
    bt = rolling_origin_backtest(y, 24, origins=3)
    s = bt.attrs["summary"]
    assert s["m"] == 24
    assert s["mase"] < s["mase_naive"]  # the trend is something naive cannot see


# ------------------------------------------------------------------ forecasts and limits

def test_model_choice_follows_history_length() -> None:
    step = pd.Timedelta("1h")
    assert seasonal_periods(30, step) == []
    assert seasonal_periods(48, step) == [24]
    assert seasonal_periods(24 * 14, step) == [24, 168]
    rng = np.random.default_rng(1)
    t = np.arange(24 * 15.0)
    y = hourly(100 + np.sin(2 * np.pi * t / 24) * 5 + np.sin(2 * np.pi * t / 168) * 8
               + rng.normal(0, 0.5, t.size))
    assert forecast_series(y, 24).method.startswith("MSTL(24, 168)+ETS")
    assert forecast_series(y.iloc[-72:], 24).method.startswith("STL(24)+ETS")
    short = forecast_series(y.iloc[-20:], 5)
    assert short.method.startswith("ETS") and "no seasonality" in short.notes[0]


def test_gaps_are_interpolated_and_counted() -> None:
    y = hourly(np.arange(10.0)).drop(hourly(np.arange(10.0)).index[[3, 4]])
    reg, notes = regularize(y)
    assert len(reg) == 10 and reg.iloc[3] == pytest.approx(3.0)
    assert notes == ["2 of 10 points were missing and interpolated"]


def test_time_to_limit_range_contains_the_true_crossing() -> None:
    """A linear trend with noise: the crossing time of the noise-free line is known."""
    rng = np.random.default_rng(2)
    t = np.arange(100.0)
    y = hourly(100 + 2 * t + rng.normal(0, 1.0, t.size))
    fc = forecast_series(y, "7d", seasonality="none")
    ttl = time_to_limit(fc, 400.0)
    true = (400 - 100) / 2 - 99  # hours after the last point
    assert ttl.earliest is not None and ttl.latest is not None and ttl.likely is not None
    assert ttl.earliest <= true * H <= ttl.latest
    assert abs(ttl.likely / H - true) <= 0.1 * true
    assert "range" in describe_range(ttl)


def test_time_to_limit_beyond_horizon_and_already_reached() -> None:
    y = hourly(np.linspace(0, 10, 50))
    fc = forecast_series(y, 5, seasonality="none")
    ttl = time_to_limit(fc, 1e6)
    assert ttl.likely is None and ttl.latest is None
    assert describe_range(ttl).startswith("in beyond horizon")
    assert time_to_limit(fc, 5.0).already


# ------------------------------------------------------------------ frames → series

def test_business_gauges_take_max_across_replicas_not_sum() -> None:
    ts = pd.to_datetime(["2024-01-01"] * 6, utc=True)
    f = pd.DataFrame({"timestamp": ts, "value": [10.0, 10.0, 10.0, 4.0, 4.0, 4.0],
                      "instance": ["a", "b", "c"] * 2,
                      "tenant_id": pd.Categorical(["t1"] * 3 + ["t2"] * 3),
                      "dataset_id": ["d1"] * 3 + ["d2"] * 3})
    per_tenant = to_series(f, by="tenant_id", within="dataset_id", then="sum")
    assert per_tenant.loc[ts[0]].to_dict() == {"t1": 10.0, "t2": 4.0}
    total = to_series(f, within=["tenant_id", "dataset_id"], then="sum")
    assert total["total"].iloc[0] == 14.0
    with pytest.raises(DataError, match=r"labels \['nope'\] are not in the frame"):
        to_series(f, by="nope")


def test_peak_to_average_and_headroom() -> None:
    idx = pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC")
    y = pd.Series(np.r_[np.full(23, 10.0), [34.0], np.full(24, 5.0)], index=idx, name="rps")
    p = peak_to_average(y)
    assert p["peak"].tolist() == [34.0, 5.0]
    assert p["average"].iloc[0] == pytest.approx(11.0)
    assert p["ratio"].iloc[0] == pytest.approx(34 / 11)
    assert p["peak_at"].iloc[0] == idx[23]
    h = headroom(y, 50.0)
    assert h["headroom"].tolist() == [16.0, 45.0]
    assert h["utilization_at_peak"].iloc[0] == pytest.approx(0.68)
    with pytest.raises(DataError, match="must be a positive number"):
        headroom(y, 0)


def test_plan_table_and_what_if_scenarios() -> None:
    rng = np.random.default_rng(3)
    t = np.arange(72.0)
    tenants = {"big": hourly(1000 + 10 * t + rng.normal(0, 2, t.size)),
               "small": hourly(200 + 2 * t + rng.normal(0, 1, t.size))}
    total = tenants["big"] + tenants["small"]
    table, fcs = plan([Resource("vectors", total, limit=3000.0, unit="vectors")],
                      horizon="5d")
    row = table.iloc[0]
    assert row["method"].startswith("STL(24)")
    # total grows 12/h from ~2050: the limit is ~79 h away
    assert 60 * H < row["likely"] < 100 * H
    assert row["earliest"] <= row["likely"] <= row["latest"]
    per = {k: forecast_series(v, "5d") for k, v in tenants.items()}
    doubled = what_if(fcs["vectors"], per, TenantGrows("big", 2.0), limit=3000.0,
                      resource="vectors")
    assert doubled["delta_at_horizon"] == pytest.approx(
        float(per["big"].frame["mean"].iloc[-1]))
    assert doubled["with_scenario"].already  # +~1700 now: already over 3000
    more = what_if(fcs["vectors"], per, NewTenants(2, size={"vectors": 100.0}), limit=3000.0,
                   resource="vectors")
    assert more["delta_at_horizon"] == 200.0
    assert more["with_scenario"].likely < more["baseline"].likely
    tab = scenario_table([doubled, more])
    assert tab["scenario"].tolist() == ["tenant big × 2", "2 new tenant(s) of size "
                                        "{'vectors': 100.0}"]
    with pytest.raises(DataError, match="tenant 'nobody' has no forecast"):
        what_if(fcs["vectors"], per, TenantGrows("nobody"), resource="vectors")
    with pytest.raises(DataError, match="NewTenants needs like=<tenant> or size="):
        what_if(fcs["vectors"], per, NewTenants(1), resource="vectors")


# ------------------------------------------------------------------ the simulator's leak

@pytest.mark.prometheus
@pytest.mark.slow
def test_injected_memory_trend_time_to_limit(prometheus_stack) -> None:  # type: ignore[no-untyped-def]
    import json

    from tributary_analysis.fetch.capacity import fetch_capacity
    from tributary_analysis.sources.prometheus import PrometheusSource

    m = prometheus_stack.manifest
    incidents = json.loads((prometheus_stack.out_dir / "incidents.json").read_text())
    leak = next(i for i in incidents if i["kind"] == "memory_trend")
    inst = leak["affects"]["instance"]
    true = pd.Timestamp(leak["expected"]["crossing_time"]["1.0"])
    with PrometheusSource(prometheus_stack.url) as src:
        data = fetch_capacity(src, m["start"], m["end"], step="5m")
    assert data.memory_limit[inst] == leak["expected"]["limit_bytes"]
    resources = [r for r in data.resources() if r.name == f"memory used {inst}"]
    table, _ = plan(resources, horizon="3d")
    row = table.iloc[0]
    end = pd.Timestamp(m["end"])
    remaining = true - end
    assert row["earliest_at"] <= true
    assert pd.isna(row["latest_at"]) or true <= row["latest_at"]  # NaT: beyond the horizon
    assert abs(row["likely_at"] - true) <= 0.1 * remaining
    # the other replicas do not leak: no crossing predicted within the horizon
    others = [r for r in data.resources() if r.name.startswith("memory used ")
              and inst not in r.name]
    t2, _ = plan(others, horizon="3d")
    assert t2["likely"].isna().all()
