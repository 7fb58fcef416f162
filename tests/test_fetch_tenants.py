"""The fan-out's tenant list and ranking on the real Prometheus, against the simulator's truth."""

from __future__ import annotations

from typing import Any

import pandas as pd
import pytest

from tributary_analysis.config import load_settings
from tributary_analysis.fetch.tenants import list_tenants, rank_tenants
from tributary_analysis.ground.time import parse_window
from tributary_analysis.seed import UNKNOWN_TENANT

pytestmark = pytest.mark.prometheus


def test_every_tenant_busiest_first_and_no_health_probe_pseudo_tenant(
        prometheus_stack: Any, sim: Any, tmp_path: Any) -> None:
    settings = load_settings(env={"TRIBUTARY_HOME": str(tmp_path),
                                  "TRIBUTARY_PROMETHEUS_URL": prometheus_stack.url})
    window = parse_window("24h", end=pd.Timestamp(prometheus_stack.manifest["end"]))
    truth = sim.requests["tenant_id"].astype(str)
    assert UNKNOWN_TENANT in set(truth)  # the health probes: the exclusion is exercised
    tenants = sorted(set(truth) - {UNKNOWN_TENANT})
    assert list_tenants(window, settings) == tenants
    ranked = rank_tenants(window, settings)
    assert sorted(ranked) == tenants
    counts = truth[truth != UNKNOWN_TENANT].value_counts()
    assert ranked[0] == counts.index[0]  # the busiest by the simulator's own count
