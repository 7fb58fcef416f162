"""Every injected incident (``incidents.json``) shows with a plain PromQL query at its window.

Each test queries the real Prometheus over the whole simulated day and checks both sides: the
signal is there inside the incident's window and absent outside it. Edges allow for what
Prometheus itself adds: a ``[5m]`` range reaches 5 minutes back, and backfilled series have
no staleness markers, so an instant query still sees a sample up to 5 minutes old.

Every test runs on both server lines (``prometheus_server``). Where they differ it is said at
the assertion: on 3.x range selectors and the lookback are left-open (``(t - r, t]``), so a
window holds one sample fewer than the closed 2.x window ``[t - r, t]``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import requests

pytestmark = pytest.mark.prometheus

JOB = 'job="deeplake-api"'
LOOKBACK = 300  # Prometheus's default lookback delta and our [5m] ranges


def _esc(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Prom:
    """Range and instant queries against the test Prometheus."""

    def __init__(self, stack: Any) -> None:
        m = stack.manifest
        self.url = stack.url
        self.start, self.end = int(m["start_unix"]), int(m["end_unix"])
        self.step = int(m["scrape_interval_s"])
        self.incidents = {i.kind: i for i in stack.result.incidents}
        self.version = stack.version

    def _get(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        resp = requests.get(f"{self.url}/api/v1/{path}", params=params, timeout=60)
        body = resp.json()
        assert resp.status_code == 200 and body["status"] == "success", (params, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def series(self, expr: str, *, step: int | None = None, label: str | None = None,
               ) -> dict[str, dict[int, float]]:
        """``{label value: {t: value}}`` over the whole simulated window on the scrape grid."""
        res = self._get("query_range", {"query": expr, "start": self.start, "end": self.end,
                                        "step": step or self.step})
        return {(r["metric"].get(label, "") if label else ""):
                {int(float(t)): float(v) for t, v in r["values"]} for r in res}

    def one(self, expr: str, *, step: int | None = None) -> dict[int, float]:
        """A single-series range result (empty dict when nothing matched)."""
        res = self.series(expr, step=step)
        assert len(res) <= 1, expr
        return next(iter(res.values()), {})

    def instant(self, expr: str, at: int, label: str = "") -> dict[str, float]:
        return {r["metric"].get(label, ""): float(r["value"][1])
                for r in self._get("query", {"query": expr, "time": at})}


@pytest.fixture(scope="module")
def prom(prometheus_server: Any) -> Prom:
    return Prom(prometheus_server)


def test_every_incident_kind_is_injected(prom: Prom) -> None:
    assert set(prom.incidents) == {"error_spike", "latency_regression", "noisy_tenant",
                                   "memory_trend", "scrape_gap", "restart"}


def test_error_spike_5xx_ratio_only_during_the_spike(prom: Prom) -> None:
    inc = prom.incidents["error_spike"]
    ep = _esc(inc.affects["endpoint"])
    frac = float(inc.expected["error_fraction"])
    ratio = prom.one(
        f'sum(rate(http_requests_total{{{JOB},endpoint="{ep}",status_code=~"5.."}}[5m]))'
        f' / sum(rate(http_requests_total{{{JOB},endpoint="{ep}"}}[5m]))')
    s, e = inc.start_s, inc.end_s
    inside = [v for t, v in ratio.items() if s + LOOKBACK <= t <= e]
    outside = [v for t, v in ratio.items() if t <= s or t >= e + LOOKBACK + prom.step]
    assert len(inside) >= (e - s - LOOKBACK) // prom.step
    assert min(inside) > frac / 2, (min(inside), frac)
    assert max(outside) < frac / 4, (max(outside), frac)
    # the other endpoints do not spike
    others = prom.one(
        f'sum(rate(http_requests_total{{{JOB},endpoint!="{ep}",status_code=~"5.."}}[5m]))'
        f' / sum(rate(http_requests_total{{{JOB},endpoint!="{ep}"}}[5m]))')
    assert max(others.values()) < frac / 4


def test_deploy_is_a_version_change_of_deeplake_api_info(prom: Prom) -> None:
    inc = prom.incidents["latency_regression"]
    bad, old, fix = (inc.affects[k] for k in ("version", "previous_version", "fix_version"))
    versions = prom.series(f"count by (version) (deeplake_api_info{{{JOB}}})", label="version")
    assert set(versions) == {old, bad, fix}
    s, e = inc.start_s, inc.end_s
    bad_t = sorted(versions[bad])
    assert bad_t[0] == s  # first seen exactly at the deploy's scrape
    assert bad_t[-1] < e + LOOKBACK  # gone once the fix's samples replace it
    assert min(versions[fix]) == e
    assert max(versions[old]) < s + LOOKBACK
    for t in range(s + LOOKBACK, e, prom.step):
        assert versions[bad].get(t) == 3 and t not in versions[old] and t not in versions[fix]
    # the bad version is also what slowed the named endpoints: median latency rises
    ep = _esc(inc.affects["endpoints"][0])
    p50 = prom.one(f'histogram_quantile(0.5, sum by (le) (rate(http_request_duration_seconds_'
                   f'bucket{{{JOB},endpoint="{ep}"}}[5m])))')
    before = np.median([v for t, v in p50.items() if s - 3600 <= t < s])
    during = np.median([v for t, v in p50.items() if s + LOOKBACK <= t <= e])
    assert during > 1.5 * before, (during, before, inc.expected["latency_factor"])


def test_noisy_tenant_traffic_rises_about_tenfold_and_is_rate_limited(prom: Prom) -> None:
    inc = prom.incidents["noisy_tenant"]
    tenant = _esc(inc.affects["tenant"])
    s, e = inc.start_s, inc.end_s
    d = e - s
    rate = prom.one(f'sum(rate(http_requests_total{{{JOB},tenant_id="{tenant}"}}[5m]))')
    plateau = [v for t, v in rate.items() if s + 0.25 * d + LOOKBACK <= t <= s + 0.85 * d]
    outside = [v for t, v in rate.items() if t <= s or t >= e + LOOKBACK]
    base = float(np.median(outside))
    assert np.median(plateau) > 5 * base, (np.median(plateau), base)
    assert min(plateau) > 3 * base
    assert max(outside) < np.median(plateau) / 2
    # 429s and rate_limit_hits_total: only during the surge, only for this tenant
    for expr in (f'sum by (tenant_id) (increase(http_requests_total{{{JOB},'
                 f'status_code="429"}}[5m]))',
                 f"sum by (tenant_id) (increase(rate_limit_hits_total{{{JOB}}}[5m]))"):
        by_tenant = prom.series(expr, label="tenant_id")
        assert set(by_tenant) <= {inc.affects["tenant"]} | {
            k for k, v in by_tenant.items() if max(v.values()) == 0}
        hits = by_tenant[inc.affects["tenant"]]
        assert max(v for t, v in hits.items() if s < t <= e + LOOKBACK) > 0
        assert all(v == 0 for t, v in hits.items() if t <= s or t >= e + LOOKBACK), expr
    remaining = prom.one(f'min(rate_limit_remaining{{{JOB},tenant_id="{tenant}"}})')
    assert min(v for t, v in remaining.items() if s <= t <= e) == 0
    assert min(v for t, v in remaining.items() if t < s or t >= e + LOOKBACK) > 0


def test_memory_used_trends_up_towards_total_on_the_named_instance(prom: Prom) -> None:
    inc = prom.incidents["memory_trend"]
    inst = _esc(inc.affects["instance"])
    ex = inc.expected
    slope = float(ex["slope_bytes_per_s"])
    s, end = inc.start_s, prom.end
    span = end - s
    used = f'memory_usage_bytes{{{JOB},memory_type="used"}}'
    trend = prom.instant(f"deriv({used}[{span}s])", end, "instance")
    assert trend[inc.affects["instance"]] == pytest.approx(slope, rel=0.25)
    for name, v in trend.items():
        if name != inc.affects["instance"]:
            assert abs(v) < 0.2 * slope, (name, v, slope)
    before = min(span, s - prom.start)
    flat = prom.instant(f'deriv({used[:-1]},instance="{inst}"}}[{before}s])', s, "instance")
    assert abs(flat[inc.affects["instance"]]) < 0.2 * slope
    ratio = (f'{used[:-1]},instance="{inst}"}} / ignoring(memory_type) '
             f'memory_usage_bytes{{{JOB},memory_type="total",instance="{inst}"}}')
    at_end = prom.instant(ratio, end)[""]
    assert at_end == pytest.approx(float(ex["fraction_at_end"]), abs=0.04)
    at_start = prom.instant(ratio, s)[""]
    assert at_start == pytest.approx(float(ex["base_bytes"]) / float(ex["limit_bytes"]),
                                     abs=0.04)
    assert at_end - at_start > 0.2
    total = prom.instant(f'max(memory_usage_bytes{{{JOB},memory_type="total"}})', end)[""]
    assert total == float(ex["limit_bytes"])


def test_scrape_gap_up_is_zero_and_samples_are_missing_only_then(prom: Prom) -> None:
    inc = prom.incidents["scrape_gap"]
    inst, s, e = inc.affects["instance"], inc.start_s, inc.end_s
    up = prom.series(f"up{{{JOB}}}", label="instance")
    for name, values in up.items():
        for t, v in values.items():
            expected = 0.0 if name == inst and s <= t < e else 1.0
            assert v == expected, (name, t, v)
    span = prom.end - prom.start
    # samples in the whole-window range: the closed 2.x window includes the first scrape at
    # `start`, the left-open 3.x window does not
    k = span // prom.step + (1 if prom.version == "2" else 0)
    zeros = prom.instant(f"count_over_time(up{{{JOB}}}[{span}s]) - "
                         f"sum_over_time(up{{{JOB}}}[{span}s])", prom.end, "instance")
    missing = int(inc.expected["missing_scrapes"])
    assert missing == (e - s) // prom.step
    assert zeros == {n: (float(missing) if n == inst else 0.0) for n in zeros}
    mem = f'memory_usage_bytes{{{JOB},memory_type="used"}}'
    samples = prom.instant(f"count_over_time({mem}[{span}s])", prom.end, "instance")
    assert samples == {n: float(k - missing if n == inst else k) for n in samples}
    during = prom.instant(f"count_over_time({mem}[{e - s - prom.step}s])", e - prom.step,
                          "instance")
    assert inst not in during and len(during) == len(samples) - 1


def test_restart_resets_counters_of_that_instance_at_the_restart_only(prom: Prom) -> None:
    inc = prom.incidents["restart"]
    inst, t_r = inc.affects["instance"], inc.start_s
    resets = prom.series(f"sum by (instance) (resets(http_requests_total{{{JOB}}}[5m]))",
                         label="instance")
    assert set(resets) == set(prom.instant(f"up{{{JOB}}}", prom.end, "instance"))
    for name, values in resets.items():
        for t, v in values.items():
            # both the last sample before the reset (t_r) and the first after lie in the
            # window: [t-5m, t] on 2.x, (t-5m, t] on 3.x
            first_in = t - LOOKBACK <= t_r if prom.version == "2" else t - LOOKBACK < t_r
            spans = first_in and t >= t_r + prom.step
            if name == inst and spans:
                assert v > 0, (name, t)
            else:
                assert v == 0, (name, t, v)
