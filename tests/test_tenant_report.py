"""The report for one tenant against the simulator's truth (real Prometheus fixture, small
profile, seed 7): every tenant's numbers, their limits, datasets and vectors, the fleet
beside them, and nothing that is the same for every tenant by construction.

The defects this report replaces ("1 of 1 tenants make up 80 %", every share 1, an empty
rate-limit chart on a −1…1 axis, noisy-neighbour cells all NaN) came from running the fleet
report filtered to one tenant; here every figure is computed per tenant and each tile must
differ between tenants unless the data makes it equal.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tributary_analysis import fetch
from tributary_analysis.analysis import tenant_report as tr
from tributary_analysis.demo.profiles import get_profile
from tributary_analysis.demo.world import build_world
from tributary_analysis.fetch import usage
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import Window
from tributary_analysis.notebook import tenant as tn
from tributary_analysis.reports import summary as summary_mod

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

SEED_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0)


@pytest.fixture(scope="module")
def reports(prometheus_stack: Any, tmp_path_factory: pytest.TempPathFactory
            ) -> dict[str, Any]:
    """Every tenant's report (one batch: the families asked once), plus a typo."""
    import os

    home = tmp_path_factory.mktemp("tenant-report-home")
    before = os.environ.get("TRIBUTARY_HOME")
    os.environ["TRIBUTARY_HOME"] = str(home)
    m = prometheus_stack.manifest
    w = Window.of(m["start"], m["end"])
    src = fetch.open_prometheus(prometheus_stack.url)
    out: dict[str, Any] = {"window": w}
    try:
        for t in [*m["tenants"], "tenant-acmee"]:
            data = usage.tenant_report_data(src, w, t, batch="tenant-report-test")
            out[t] = (data, tr.tenant_report(t, w, data.tenant_frames, data.fleet_frames,
                                             data.totals))
    finally:
        src.close()
        if before is None:
            os.environ.pop("TRIBUTARY_HOME", None)
        else:
            os.environ["TRIBUTARY_HOME"] = before
    return out


def truth_in(stack: Any, w: Window, step: pd.Timedelta) -> pd.DataFrame:
    req = stack.result.requests
    t = pd.to_datetime(req["time"], utc=True)
    return req[(t > w.start) & (t <= w.end)]


#: the labels of one ``http_requests_total`` series (``demo/aggregate.py``)
SERIES = ["instance", "endpoint", "status_code", "tenant_id"]


def before_first_sample(rows: pd.DataFrame, stack: Any) -> int:
    """Requests among ``rows`` that no ``increase`` can see: those a series already holds
    at its first sample. A series appears at the first scrape strictly after its first
    request (``demo/aggregate.py``), later if that scrape falls in the injected scrape gap;
    what it counts then has no earlier sample to be an increase from (extrapolation wins a
    little of it back, so this bounds the loss)."""
    if len(rows) == 0:
        return 0
    m = stack.manifest
    start = pd.Timestamp(m["start"])
    step = pd.Timedelta(seconds=m["scrape_interval_s"])
    gaps = [(i.affects["instance"], i.start, i.end) for i in stack.result.incidents
            if i.kind == "scrape_gap"]
    t = pd.to_datetime(rows["time"], utc=True)
    first = t.groupby([rows[c].astype(str) for c in SERIES]).transform("min")
    scrape = start + ((first - start) // step + 1) * step
    for inst, g0, g1 in gaps:  # the first scrape the gap leaves
        in_gap = (rows["instance"].astype(str) == inst) & (scrape >= pd.Timestamp(g0)) \
            & (scrape < pd.Timestamp(g1))
        after = start + (-((start - pd.Timestamp(g1)) // step)) * step
        scrape = scrape.where(~in_gap, after)
    return int((t < scrape).sum())


def test_each_tenant_s_numbers_are_the_truth(reports: dict[str, Any],
                                              prometheus_stack: Any) -> None:
    m = prometheus_stack.manifest
    w = reports["window"]
    truth = truth_in(prometheus_stack, w, pd.Timedelta("15min"))
    world = build_world(get_profile("small"),
                        np.random.default_rng(np.random.SeedSequence(7).spawn(6)[0]))
    limits = dict(zip(world.tenants, world.rate_limit.tolist(), strict=True))
    api = truth[truth["tenant_id"].astype(str) != "unknown"]
    shares = []
    for t in m["tenants"]:
        _, rep = reports[t]
        mine = api[api["tenant_id"].astype(str) == t]
        usage_ = rep.usage.set_index("key")
        # Prometheus misses what a series holds at its first sample: a little under
        assert 0.97 * len(mine) <= usage_.loc["requests", "tenant"] <= 1.005 * len(mine), t
        assert 0.97 * len(api) <= usage_.loc["requests", "fleet"] <= 1.005 * len(api)
        five_rows = mine[mine["status_code"] >= 500]
        five, unseen = len(five_rows), before_first_sample(five_rows, prometheus_stack)
        assert five - unseen <= rep.totals["errors_5xx"] + 1e-9, (t, five, unseen)
        assert rep.totals["errors_5xx"] <= 1.01 * five + 1, t
        refused = int((mine["status_code"] == 429).sum())
        assert 0.85 * refused <= rep.totals["rate_limit_hits"] <= 1.01 * refused + 1, t
        shares.append(usage_.loc["requests", "share"])
        # datasets and vectors: max across replicas equals the truth exactly
        assert usage_.loc["datasets", "tenant"] == m["truth"]["datasets_total"][t]
        got = dict(zip(rep.datasets["dataset_id"], rep.datasets["vectors"], strict=True))
        assert got == {d: m["truth"]["vectors_total_at_end"][d] for d in m["datasets"][t]}
        # the limit: the most capacity seen remaining, never more than the true limit
        lim = rep.limits.set_index("limit_type").loc["requests_per_minute"]
        assert 0.75 * limits[t] <= lim["limit"] <= limits[t], (t, lim["limit"], limits[t])
        if refused:
            assert lim["peak_use"] == 1.0
        # p95 lies in the seed bucket that holds the true p95 (bucket interpolation)
        p95 = rep.latency.set_index("measure").loc["p95 latency", "tenant"]
        true95 = float(np.quantile(mine["duration_s"], 0.95))
        lo = max([b for b in SEED_BUCKETS if b < true95], default=0.0)
        hi = min([b for b in SEED_BUCKETS if b >= true95], default=float("inf"))
        assert lo <= p95 <= hi, (t, p95, true95)
        assert isinstance(rep.growth, Insufficient)  # one day of history
        assert rep.growth.have == "1 d of history"
    assert sum(shares) == pytest.approx(1.0, abs=1e-9)


def test_no_figure_is_the_same_for_every_tenant_by_construction(
        reports: dict[str, Any], prometheus_stack: Any) -> None:
    tenants = prometheus_stack.manifest["tenants"]
    reps = [reports[t][1] for t in tenants]
    keys = {t["key"] for r in reps for t in r.headline}
    for key in keys:
        values = [next((t.get("value") for t in r.headline if t["key"] == key), None)
                  for r in reps]
        withheld = [next(t for t in r.headline if t["key"] == key).get("withheld")
                    for r in reps]
        if all(isinstance(g, Insufficient) for g in withheld):  # the data's reason, named
            assert all(g.have and g.need for g in withheld)
            continue
        assert len({round(float(v), 9) for v in values if v is not None}) > 1, key
    for r in reps:
        assert r.rank is not None and r.n_tenants == len(tenants)
        assert not (r.usage["share"].dropna() == 1.0).all()
        assert r.usage[["tenant", "fleet"]].notna().all().all()
        assert not r.remaining_over_time.empty  # the seed's rate_limit_remaining
        assert len(r.findings) <= 5
    ranks = sorted(r.rank for r in reps)
    assert ranks == list(range(1, len(tenants) + 1))
    findings = [" ".join(r.findings) for r in reps]
    assert len(set(findings)) == len(findings)
    assert not any("1 of 1" in f for f in findings)


def test_the_noisy_tenant_is_the_rate_limited_one(reports: dict[str, Any],
                                                  prometheus_stack: Any) -> None:
    import json

    incidents = json.loads((prometheus_stack.out_dir / "incidents.json").read_text())
    noisy = next(i for i in incidents if i["kind"] == "noisy_tenant")["affects"]["tenant"]
    _, rep = reports[noisy]
    tile = next(t for t in rep.headline if t["key"] == "rate_limit_hits")
    assert tile["value"] > 0 and tile["assessment"] == "warning"
    assert any("Rate-limited" in f for f in rep.findings)
    for t in prometheus_stack.manifest["tenants"]:
        if t != noisy:
            assert reports[t][1].totals["rate_limit_hits"] < 1
            assert any("Never rate-limited" in f for f in reports[t][1].findings)


def test_a_typo_is_a_warning_naming_the_tenant_meant(reports: dict[str, Any]) -> None:
    data, rep = reports["tenant-acmee"]
    assert rep.status == "warning" and rep.closest[0] == "tenant-acme"
    assert all(len(f) == 0 for f in data.tenant_frames.values())
    s = tn.tenant_summary(rep, data_end_from=data.fleet_frames.values())
    doc = s.to_json()
    assert doc["status"] == "warning" and doc["tenant"] == "tenant-acmee"
    assert doc["details"]["closest_tenants"][0] == "tenant-acme"
    assert "Closest known tenant ids: tenant-acme" in doc["findings"][0]
    assert summary_mod.validate(doc) == []


def test_summary_json_of_a_tenant_follows_the_schema(reports: dict[str, Any],
                                                     prometheus_stack: Any,
                                                     tmp_path: Path) -> None:
    t = prometheus_stack.manifest["tenants"][0]
    data, rep = reports[t]
    s = tn.tenant_summary(rep, data_end_from=data.fleet_frames.values())
    path = summary_mod.write(tmp_path / "summary.json", s)
    back = summary_mod.read(path)
    assert back.tenant == t and back.status == "ok"
    assert back.data_end == prometheus_stack.manifest["end"]
    texts = {h.key: h.text for h in back.headline}
    assert texts["requests"].replace(",", "").isdigit()
    assert texts["request_share"].endswith(" %") and texts["p95_latency"].endswith("ms")
    assert back.tile("growth").assessment == "withheld"  # type: ignore[union-attr]
    assert {g.what for g in back.insufficient} >= {"week-over-week growth"}
