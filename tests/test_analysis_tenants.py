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


# ------------------------------------------------------------------ the report for one tenant

from tributary_analysis.analysis import tenant_report as tr  # noqa: E402
from tributary_analysis.ground.claims import Insufficient  # noqa: E402
from tributary_analysis.ground.time import Window  # noqa: E402

LE = ("0.1", "0.5", "1.0", "+Inf")


def test_closest_tenants_are_the_likely_typos() -> None:
    known = ["tenant-acme", "tenant-globex", "tenant-initech", "tenant-hooli"]
    assert tenants.closest_tenants("tenant-acmee", known)[0] == "tenant-acme"
    assert tenants.closest_tenants("TENANT-HOOLI", known)[0] == "tenant-hooli"
    assert tenants.closest_tenants("tenant-acme", known, n=2) == ["tenant-initech",
                                                                 "tenant-hooli"] or \
        "tenant-acme" not in tenants.closest_tenants("tenant-acme", known)
    assert len(tenants.closest_tenants("x", known, n=3)) == 3
    assert tenants.closest_tenants("x", []) == []


def _hourly_counts(days: float, per_hour: dict[str, float], daily_growth: dict[str, float],
                   end: pd.Timestamp) -> pd.DataFrame:
    ts = pd.date_range(end=end, periods=int(days * 24), freq="1h")
    rows = []
    for t, base in per_hour.items():
        age = np.asarray((ts - ts[0]) / pd.Timedelta(days=1))
        diurnal = 1 + 0.5 * np.sin(2 * np.pi * np.asarray(ts.hour) / 24)
        rows.append(pd.DataFrame({"timestamp": ts, "tenant_id": t, "value": base * diurnal
                                  * (1 + daily_growth.get(t, 0.0)) ** age}))
    return pd.concat(rows, ignore_index=True)


def test_week_over_week_growth_and_its_withholding() -> None:
    end = T0 + pd.Timedelta(days=10)
    hourly = _hourly_counts(9, {"t-a": 100.0, "t-b": 100.0}, {"t-a": 0.1}, end)
    g = tenants.week_over_week(hourly, end)
    assert isinstance(g, tenants.Growth)
    by = g.per_tenant.set_index("tenant_id")
    assert by.loc["t-a", "growth"] == pytest.approx(1.1 ** 7 - 1, rel=1e-9)
    assert by.loc["t-b", "growth"] == pytest.approx(0.0, abs=1e-9)
    assert g.fleet == pytest.approx(by["current"].sum() / by["earlier"].sum() - 1)
    assert g.per_tenant["tenant_id"].iloc[0] == "t-a"
    # a tenant that started this week is new, not "+inf %"
    new = pd.concat([hourly, hourly[hourly["timestamp"] > end - pd.Timedelta(days=2)].assign(
        tenant_id="t-new")], ignore_index=True)
    row = tenants.week_over_week(new, end).of("t-new")
    assert row is not None and row["new"] and np.isnan(row["growth"])
    # one day of a diurnal ramp is not growth
    short = tenants.week_over_week(hourly[hourly["timestamp"] > end - pd.Timedelta(days=1)],
                                   end)
    assert isinstance(short, Insufficient)
    assert (short.have, short.need) == ("1 d of history", "8 d")
    empty = tenants.week_over_week(hourly.iloc[0:0], end)
    assert isinstance(empty, Insufficient) and empty.have == "no history"
    # eight days, but the day a week back has a hole
    holed = hourly[~((hourly["timestamp"] > end - pd.Timedelta(days=8))
                     & (hourly["timestamp"] <= end - pd.Timedelta(days=7, hours=12)))]
    gap = tenants.week_over_week(holed, end)
    assert isinstance(gap, Insufficient) and "day a week earlier" in gap.have


def _frames(tenant: str, requests: dict[str, float], errors: dict[str, float],
            durations: dict[str, list[float]], *, remaining: list[float] | None = None,
            hits: float = 0.0) -> dict[str, pd.DataFrame]:
    """Report families of one tenant over two bins (values split evenly)."""
    ts = [T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=2)]
    req = [{"timestamp": t, "tenant_id": tenant, "endpoint": ep, "status_code": code,
            "value": v / 2} for t in ts for ep, n in requests.items()
           for code, v in (("200", n - errors.get(ep, 0.0)), ("500", errors.get(ep, 0.0)))]
    lat = [{"timestamp": t, "tenant_id": tenant, "le": le, "value": c / 2}
           for t in ts for le, c in zip(LE, durations[tenant], strict=True)]
    empty = pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
                          "value": pd.Series(dtype=float), "tenant_id": pd.Series(dtype=object)})
    out = {
        "requests": pd.DataFrame(req), "latency": pd.DataFrame(lat),
        "searches": pd.DataFrame([{"timestamp": ts[0], "tenant_id": tenant,
                                   "search_type": "vector", "value": 10.0}]),
        "vector_ops": empty.assign(operation=pd.Series(dtype=object)),
        "rate_limit_hits": pd.DataFrame([{"timestamp": ts[0], "tenant_id": tenant,
                                          "limit_type": "requests_per_minute",
                                          "value": hits}]) if hits else
        empty.assign(limit_type=pd.Series(dtype=object)),
        "errors": empty.assign(error_type=pd.Series(dtype=object),
                               error_code=pd.Series(dtype=object)),
        "search_latency": empty.assign(search_type=pd.Series(dtype=object),
                                       le=pd.Series(dtype=object)),
        "rate_limit_remaining": pd.DataFrame([
            {"timestamp": T0 + pd.Timedelta(minutes=15 * i), "tenant_id": tenant,
             "limit_type": "requests_per_minute", "value": v}
            for i, v in enumerate(remaining or [])]) if remaining else
        empty.assign(limit_type=pd.Series(dtype=object)),
        "datasets": pd.DataFrame([{"timestamp": ts[-1], "tenant_id": tenant, "value": 2.0}]),
        "vectors": pd.DataFrame([{"timestamp": t, "tenant_id": tenant, "dataset_id": d,
                                  "value": v + i} for i, t in enumerate(ts)
                                 for d, v in (("d1", 100.0), ("d2", 50.0))]),
        "requests_hourly": empty,
    }
    return out


def _fleet(*parts: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    from tributary_analysis.fetch.usage import REPORT_FAMILIES
    from tributary_analysis.fetch.usage import _fleet as fleet_of

    return {f.name: fleet_of(pd.concat([p[f.name] for p in parts], ignore_index=True), f)
            for f in REPORT_FAMILIES if f.fleet is not None}


def _totals(*parts: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    from tributary_analysis.fetch.batch import _totals as totals_of

    return {k: totals_of(pd.concat([p[k] for p in parts], ignore_index=True))
            for k in ("requests", "searches", "vector_ops", "rate_limit_hits", "errors",
                      "latency", "search_latency", "requests_hourly")}


WINDOW = Window(T0, T0 + pd.Timedelta(hours=2))


def test_tenant_report_against_the_fleet_with_estimates_withheld() -> None:
    big = _frames("t-big", {"/a": 9000.0, "/b": 1000.0}, {"/a": 300.0},
                  {"t-big": [5000.0, 9000.0, 9900.0, 10000.0]}, remaining=[60, 66, 12, 40],
                  hits=25.0)
    small = _frames("t-small", {"/a": 60.0}, {"/a": 1.0},
                    {"t-small": [30.0, 55.0, 60.0, 60.0]}, remaining=[30, 31])
    fleet, totals = _fleet(big, small), _totals(big, small)
    rep = tr.tenant_report("t-big", WINDOW, big, fleet, totals)
    assert rep.status == "ok" and (rep.rank, rep.n_tenants) == (1, 2)
    usage = rep.usage.set_index("key")
    assert usage.loc["requests", "tenant"] == pytest.approx(10000.0)
    assert usage.loc["requests", "share"] == pytest.approx(10000 / 10060)
    assert usage.loc["vectors", "tenant"] == 152.0  # last value per dataset, summed
    assert usage.loc["datasets", "share"] == pytest.approx(0.5)
    # 300 errors in 10,000 against a fleet ratio of 301/10,060: a clear excess
    assert rep.error_assessment == "worse"
    limits = rep.limits.iloc[0]
    assert (limits["limit"], limits["least_remaining"], limits["hits"]) == (66.0, 12.0, 25.0)
    assert limits["peak_use"] == 1.0  # refused requests: the limit was reached
    ep = rep.endpoints.set_index("endpoint")
    assert ep.loc["/a", "error_ratio"] == pytest.approx(300 / 9000)
    assert ep.loc["/b", "share_of_fleet"] == pytest.approx(1.0)
    assert all(isinstance(v, float) for v in rep.latency["tenant"])  # 10,000 requests
    keys = [t["key"] for t in rep.headline]
    assert keys == ["requests", "request_share", "p95_latency", "error_ratio",
                    "rate_limit_hits", "growth"]
    assert len(rep.findings) <= 5 and "1st busiest of 2 tenants" in rep.findings[0]

    rep = tr.tenant_report("t-small", WINDOW, small, fleet, totals)
    lat = rep.latency.set_index("measure")
    assert isinstance(lat.loc["p95 latency", "tenant"], Insufficient)  # 60 < 100 requests
    assert isinstance(lat.loc["p99 latency", "tenant"], Insufficient)
    assert isinstance(lat.loc["p50 latency", "tenant"], float)  # 60 >= 10
    assert isinstance(lat.loc["p99 latency", "fleet"], float)  # the fleet has 10,060
    p95 = next(t for t in rep.headline if t["key"] == "p95_latency")
    assert p95["assessment"] == "withheld" and isinstance(p95["withheld"], Insufficient)
    assert rep.error_assessment == "similar"  # one error in 60 is no evidence
    assert rep.limits.iloc[0]["peak_use"] == pytest.approx(1 - 30 / 31)
    assert {g.what for g in rep.insufficient} >= {"p95 latency of the tenant",
                                                 "p99 latency of the tenant"}


def test_a_tenant_without_requests_is_a_finding_with_the_closest_ids() -> None:
    big = _frames("tenant-acme", {"/a": 100.0}, {}, {"tenant-acme": [50.0, 90.0, 99.0, 100.0]})
    other = _frames("tenant-globex", {"/a": 100.0}, {},
                    {"tenant-globex": [50.0, 90.0, 99.0, 100.0]})
    fleet, totals = _fleet(big, other), _totals(big, other)
    nothing = {k: v.iloc[0:0] for k, v in big.items()}
    rep = tr.tenant_report("tenant-acmee", WINDOW, nothing, fleet, totals)
    assert rep.status == "warning" and not rep.has_data
    assert rep.closest[0] == "tenant-acme"
    assert "No requests from this tenant" in rep.findings[0]
    assert "tenant-acme, tenant-globex" in rep.findings[0]
