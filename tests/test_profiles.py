"""Simulator profiles: the ``large`` profile's heavy-tailed fleet, and ``small``/``demo`` kept.

The large profile exists to measure scale (1,000 tenants), so its tests check the shape of
the fleet a capacity planner would recognise: a few tenants hold most of the traffic, the
tail spans orders of magnitude, some tenants are idle, bigger tenants have more datasets,
and the metric families carry every tenant with the seed's labels. Writing the large
profile's ~17 GB of OpenMetrics is measured by ``bench/bench_simulator.py``, not here.
"""

from __future__ import annotations

import ipaddress
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from tributary_analysis import seed
from tributary_analysis.demo import PROFILES, get_profile
from tributary_analysis.demo.aggregate import Aggregator, Grid
from tributary_analysis.demo.traffic import generate_requests, versions_for
from tributary_analysis.demo.world import TENANT_NAMES, build_world, tenant_names
from tributary_analysis.errors import ConfigError

END_S = 1_795_176_000  # 2026-11-20T12:00:00Z


def _world(name: str, seed_: int = 7) -> Any:
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(seed_).spawn(6)]
    return build_world(get_profile(name), rngs[0]), rngs


@pytest.fixture(scope="module")
def large() -> Any:
    world, _ = _world("large")
    return world


def test_profiles_are_known_and_unknown_names_list_them() -> None:
    assert set(PROFILES) == {"small", "demo", "large"}
    with pytest.raises(ConfigError, match="use one of demo, large, small"):
        get_profile("huge")


def test_large_has_a_thousand_distinct_plain_tenants(large: Any) -> None:
    names = large.tenants
    assert len(names) == len(set(names)) == 1000
    assert names[:len(TENANT_NAMES)] == tenant_names(len(TENANT_NAMES))
    assert names[24] == "tenant-0025" and names[-1] == "tenant-1000"
    assert len(large.datasets) == len(set(large.datasets))
    for ip in large.client_ip:  # every client address is a valid private IPv4 address
        assert ipaddress.ip_address(ip).is_private


def test_large_sizes_are_heavy_tailed(large: Any) -> None:
    share = np.sort(large.share)[::-1]
    assert share.sum() == pytest.approx(1.0)
    active = share[share > 0]
    top10, top100 = share[:10].sum(), share[:100].sum()
    assert 0.2 < top10 < 0.6, top10  # a few big tenants …
    assert 0.6 < top100 < 0.95, top100  # … and 10 % of the tenants hold most of the traffic
    assert active[0] / np.median(active) > 100  # the biggest dwarfs the typical one
    assert active[0] / active[-1] > 5e3  # the tail spans more than three orders of magnitude
    idle = int((share == 0).sum())
    assert 80 <= idle <= 220, idle  # ~15 % idle (never among the ten largest)
    assert (share[:10] > 0).all()


def test_large_dataset_counts_and_plans_grow_with_size(large: Any) -> None:
    n_ds = np.diff(large.ds_offset)
    order = np.argsort(-large.share, kind="stable")
    assert n_ds.min() >= 1 and n_ds.max() <= 5
    assert n_ds[order[:20]].mean() > 2 * n_ds[order[-500:]].mean()
    assert int(large.backup_plan.sum()) == 100  # the largest 10 % have nightly backups
    assert large.backup_plan[order[:100]].all()
    # the sticky-connection rule spreads only the big tenants over several pods
    assert set(large.tenant_n_pods[order[-900:]].tolist()) == {1}


def test_zipf_profiles_refuse_more_tenants_than_names() -> None:
    prof = replace(get_profile("demo"), n_tenants=30)
    with pytest.raises(ValueError, match="heavy_tail"):
        build_world(prof, np.random.default_rng(1))


def test_small_and_demo_worlds_are_unchanged_by_the_large_profile() -> None:
    """The same draws as before the large profile existed (pinned by value)."""
    small, _ = _world("small")
    assert small.tenants == tuple(f"tenant-{n}" for n in TENANT_NAMES[:5])
    assert np.round(small.share, 6).tolist() == [0.216675, 0.079081, 0.101082, 0.13871,
                                                 0.464452]
    assert small.client_ip[0] == "10.20.34.170"
    demo, _ = _world("demo")
    assert len(demo.datasets) == 50 and demo.datasets[:3] == (
        "acme-news", "acme-faq", "acme-products")


def test_large_families_carry_every_tenant_with_the_seeds_labels() -> None:
    """Two simulated hours of the large fleet aggregated (no files): every tenant reports
    its limits and datasets, idle tenants have no request series, active ones do."""
    prof = replace(get_profile("large"), days=2 / 24)
    world, rngs = _world("large")
    end_s = END_S
    start_s = end_s - prof.duration_s
    req = generate_requests(prof, world, [], rngs[2], start_s, end_s)
    step = prof.scrape_interval_s
    times = np.arange(start_s, end_s + step, step, dtype=np.int64)
    grid = Grid(times, world.instances, np.ones((len(world.instances), times.size), bool))
    memory = np.full((len(world.instances), times.size), 1e9)
    jobs: dict[str, np.ndarray] = {k: np.zeros(0, np.int64)
                                   for k in ("kind", "t_us", "inst", "ds", "tenant")}
    jobs["dur_s"] = np.zeros(0)
    agg = Aggregator(world, grid, req, jobs, [], versions_for([], start_s, end_s), memory,
                     prof.memory_limit_bytes, rngs[3])
    fams = {f.name: f for f in agg.families()}

    def tenants_of(name: str) -> set[str]:
        out = set()
        for block in fams[name].blocks:
            present_rows: list[bool] = list(block.mask.any(axis=1))
            for lab, present in zip(block.labels, present_rows, strict=True):
                if present:
                    out.add(lab.split('tenant_id=\x01', 1)[1].split("\x01", 1)[0])
        return out

    everyone = set(world.tenants)
    assert tenants_of("rate_limit_remaining") == everyone
    assert tenants_of("datasets_total") == everyone
    idle = {t for t, s in zip(world.tenants, world.share, strict=True) if s == 0}
    requesting = tenants_of("http_requests") - {seed.UNKNOWN_TENANT}
    assert idle and not idle & requesting
    assert len(requesting) > 500  # most active tenants send requests within two hours
    labels = set(fams["http_request_duration_seconds"].blocks[0].labels[0].replace(
        "\x01", "").split(",")[i].split("=")[0] for i in range(4))
    assert labels == {"method", "endpoint", "tenant_id", "le"}
