"""The analyses against the simulator's ground truth (``sim``: small profile, seed 7).

Request-level truth (``sim.requests``) stands in for logs; ``incidents`` says what was
injected. Each test checks a finding the notebooks report: the injected 5xx spike is found
(right endpoint, start and end within 10 minutes) and nothing else is; the deploy's latency
regression is flagged on its endpoints only; the noisy tenant ranks first for growth,
rate-limit hits and noisy-neighbour score; attribution ranks the injected cause first.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tributary_analysis.analysis import attribution, errors, latency, tenants
from tributary_analysis.ground.time import Window

TEN_MIN = pd.Timedelta(minutes=10)


@pytest.fixture(scope="module")
def truth(sim: Any) -> pd.DataFrame:
    return sim.requests.rename(columns={"time": "timestamp"})


@pytest.fixture(scope="module")
def incidents(sim: Any) -> dict[str, Any]:
    return {i.kind: i for i in sim.incidents}


def test_episode_detector_finds_the_injected_spike_and_nothing_else(truth, incidents):
    spike = incidents["error_spike"]
    counts = errors.request_counts_from_logs(truth, "1m", by="endpoint")
    per_tenant = errors.request_counts_from_logs(truth, "1m", by=["endpoint", "tenant_id"])
    found = errors.detect_episodes(counts, by="endpoint", tenants=per_tenant)
    assert len(found) == 1, found[["start", "end", "endpoint", "ratio"]]
    ep = found.iloc[0]
    assert ep["endpoint"] == spike.affects["endpoint"]
    assert abs(ep["start"] - pd.Timestamp(spike.start)) <= TEN_MIN
    assert abs(ep["end"] - pd.Timestamp(spike.end)) <= TEN_MIN
    assert ep["ratio"] == pytest.approx(spike.expected["error_fraction"], abs=0.1)
    # the spike hit every tenant's searches: every tenant is named as affected
    assert set(ep["tenants"]) == set(sim_tenants(truth))


def sim_tenants(truth: pd.DataFrame) -> list[str]:
    return [str(t) for t in truth["tenant_id"].unique() if t != "unknown"]


def test_window_comparison_flags_the_deploy_regression_on_its_endpoints(truth, incidents):
    reg = incidents["latency_regression"]
    deploy = pd.Timestamp(reg.start)
    before, after = Window(deploy - pd.Timedelta("3h"), deploy), Window(deploy,
                                                                        pd.Timestamp(reg.end))
    cmp = latency.compare_windows_logs(truth, before, after, by="endpoint")
    flagged = set(cmp.loc[cmp["regression"], "endpoint"].astype(str))
    assert flagged == set(reg.affects["endpoints"])
    row = cmp.set_index("endpoint").loc[reg.affects["endpoints"][0]]
    assert row["p50_change"] == pytest.approx(reg.expected["latency_factor"] - 1, rel=0.25)


def test_noisy_tenant_ranks_first_for_growth_rate_limits_and_neighbour_score(truth, incidents):
    noisy = incidents["noisy_tenant"]
    tenant = noisy.affects["tenant"]
    upto = truth[(truth["timestamp"] < pd.Timestamp(noisy.end))
                 & (truth["tenant_id"] != "unknown")]
    binned = upto.assign(timestamp=upto["timestamp"].dt.floor("2min"))
    rates = binned.groupby(["timestamp", "tenant_id"], observed=True).size().rename(
        "value").reset_index()
    lat = binned.groupby(["timestamp", "tenant_id"], observed=True)["duration_s"].mean(
        ).rename("value").reset_index()
    grow = tenants.growth(rates)
    assert grow["tenant_id"].iloc[0] == tenant
    assert grow["method"].iloc[0].startswith("fitted")  # one day: no week-over-week
    limited = truth[truth["status_code"] == 429]["tenant_id"].value_counts()
    assert limited.index[0] == tenant
    nn = tenants.noisy_neighbours(rates, lat)
    assert nn["tenant_id"].iloc[0] == tenant and nn["noisy"].iloc[0]
    assert nn["noisy"].sum() == 1


def test_attribution_ranks_the_injected_causes_first(truth, incidents):
    spike = incidents["error_spike"]
    inside = truth[Window(pd.Timestamp(spike.start), pd.Timestamp(spike.end)).contains(
        truth["timestamp"])]
    r = attribution.attribute(inside, "status_code >= 500")
    assert (r.iloc[0]["attribute"], r.iloc[0]["value"]) == ("endpoint", spike.affects["endpoint"])

    reg = incidents["latency_regression"]
    api = truth[truth["tenant_id"] != "unknown"]
    slow = attribution.slow_mask(api, q=0.99)
    r = attribution.attribute(api, slow)
    assert (r.iloc[0]["attribute"], r.iloc[0]["value"]) == ("version", reg.affects["version"])

    noisy = incidents["noisy_tenant"]
    r = attribution.attribute(truth, "status_code == 429")
    assert (r.iloc[0]["attribute"], r.iloc[0]["value"]) == ("tenant_id", noisy.affects["tenant"])
