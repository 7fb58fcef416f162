"""SLO maths against values computed by hand on small constructed series."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tributary_analysis.analysis import slo
from tributary_analysis.errors import ConfigError, DataError

T0 = pd.Timestamp("2026-01-01T00:00:00Z")


def counts(errors: list[float], total: list[float], step: str = "5min") -> pd.DataFrame:
    ts = pd.date_range(T0, periods=len(errors), freq=step)
    return pd.DataFrame({"timestamp": ts, "errors": errors, "total": total})


def test_burn_rate_equals_ratio_over_budget_share():
    # 24 five-minute bins, 1000 requests each; 30 errors in the last bin only.
    c = counts([0.0] * 23 + [30.0], [1000.0] * 24)
    r = slo.burn_rates(c, objective=0.999)
    # 5m window: 30/1000 = 3 %, budget share 0.1 % -> burn 30
    assert r["burn_5m"].iloc[-1] == pytest.approx(30.0)
    # 30m window (6 bins): 30 / 6000 = 0.5 % -> burn 5
    assert r["burn_30m"].iloc[-1] == pytest.approx(5.0)
    # 1h window (12 bins): 30 / 12000 = 0.25 % -> burn 2.5
    assert r["burn_1h"].iloc[-1] == pytest.approx(2.5)
    # 6h and 3d windows are not filled by 2h of data: NaN, never a made-up number
    assert r["burn_6h"].isna().all() and r["burn_3d"].isna().all()
    # 1h/5m pair: 5m burns 30 > 14.4 but 1h burns 2.5 < 14.4 -> no page
    assert not r["fire_1h_5m"].any()


def test_fast_burn_pair_fires_when_both_windows_exceed_factor():
    # 1 h of 1-minute bins at 2 % errors: burn 20 in every window -> 1h/5m fires at t=60m
    c = counts([20.0] * 60, [1000.0] * 60, step="1min")
    r = slo.burn_rates(c, objective=0.999)
    assert r["burn_1h"].iloc[-1] == pytest.approx(20.0)
    assert r["fire_1h_5m"].sum() == 1  # only the bin where the 1h window is first full
    assert r["fire_1h_5m"].iloc[-1]
    s = slo.burn_rate_summary(r)
    row = s.set_index("pair").loc["1h/5m"]
    assert row["firing_now"] and row["time_firing"] == pd.Timedelta("1min")
    assert row["budget_spent_at_factor"] == "2%"  # 14.4 × 1h / 30d = 2 %


def test_error_budget_hand_computed():
    # 4 hourly bins × 1000 requests, 2 errors, objective 99.9 %, period = the 4 hours:
    # budget = 0.001 × 4000 = 4 errors; consumed 2/4 = 50 %.
    c = counts([0.0, 1.0, 1.0, 0.0], [1000.0] * 4, step="1h")
    b = slo.error_budget(c, objective=0.999, period="4h")
    assert b.budget_requests == pytest.approx(4.0)
    assert b.consumed == pytest.approx(0.5)
    assert b.remaining == pytest.approx(0.5)
    assert b.attainment == pytest.approx(1 - 2 / 4000)
    assert not b.extrapolated
    assert "50.0% of the error budget consumed" in b.summary()


def test_error_budget_extrapolates_a_partial_period_and_says_so():
    # 4 h of data for a 8 h period: period traffic ≈ 8000 -> budget 8 errors; 2 spent = 25 %
    c = counts([0.0, 1.0, 1.0, 0.0], [1000.0] * 4, step="1h")
    b = slo.error_budget(c, objective=0.999, period="8h")
    assert b.coverage == pytest.approx(0.5)
    assert b.extrapolated
    assert b.consumed == pytest.approx(0.25)
    assert "extrapolated" in b.summary()


def test_budget_consumption_curve():
    c = counts([0.0, 1.0, 1.0, 0.0], [1000.0] * 4, step="1h")
    curve = slo.budget_consumption(c, objective=0.999, period="4h")
    assert curve["consumed"].tolist() == pytest.approx([0.0, 0.25, 0.5, 0.5])
    assert curve["ideal"].tolist() == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert curve["remaining"].iloc[-1] == pytest.approx(0.5)


def test_burn_rate_over_a_day_of_one_minute_bins_matches_numpy():
    rng = np.random.default_rng(3)
    total = rng.integers(500, 1500, size=1440).astype(float)
    errors = rng.binomial(total.astype(int), 0.002).astype(float)
    c = counts(list(errors), list(total), step="1min")
    r = slo.burn_rates(c, objective=0.995)
    i = 900
    expect = errors[i - 359:i + 1].sum() / total[i - 359:i + 1].sum() / 0.005
    assert r["burn_6h"].iloc[i] == pytest.approx(expect)


@pytest.mark.parametrize("objective", [0, 1, 99.9, -0.5])
def test_bad_objective_is_named(objective):
    with pytest.raises(ConfigError, match=r"objective=.*between 0 and 1"):
        slo.error_budget(counts([0.0, 1.0], [10.0, 10.0]), objective=objective)


def test_window_shorter_than_step_is_rejected():
    c = counts([0.0] * 10, [10.0] * 10, step="10min")
    with pytest.raises(ConfigError, match="window 5m is shorter than the data step"):
        slo.burn_rates(c)


def test_missing_columns_named():
    with pytest.raises(DataError, match=r"lacks column.*errors"):
        slo.burn_rates(pd.DataFrame({"timestamp": [T0], "total": [1.0]}))
