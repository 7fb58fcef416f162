"""The live demo left running ~10 minutes: fresh samples, alerts from Prometheus itself, logs.

``demo up`` on the small profile with an incident schedule placed *inside the live period*
(a scrape gap on one replica and a 5xx spike), Prometheus 3 and Elasticsearch; then the test
waits while the live service serves the simulation in real time and checks, on the real
servers: the newest sample is under a minute old, the history joins the live data without a
hole, ``ALERTS``/``ALERTS_FOR_STATE`` exist for the injected incidents (``ServiceDown`` for the
replica in the gap, ``HighErrorRate`` for the spike), new log lines reach Elasticsearch, every
listener is on loopback, ``demo status`` reports it, and ``demo down`` stops it all by PID.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tributary_analysis.demo import Incident
from tributary_analysis.demo.incidents import API_ENDPOINTS
from tributary_analysis.stack import demo, procs, state

pytestmark = [pytest.mark.prometheus, pytest.mark.elasticsearch, pytest.mark.slow,
              pytest.mark.timeout(1800)]

#: the gap starts this long after `up` returns and lasts long enough for ServiceDown (for: 1m)
GAP_AFTER_S, GAP_S = 150, 240
SPIKE_AFTER_S, SPIKE_S = 60, 480
WAIT_S = 600


def _q(url: str, expr: str) -> list[dict[str, Any]]:
    body = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=30).json()
    assert body["status"] == "success", (expr, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


def _start_live(home: Path, sim: Any, version: str, elasticsearch: bool) -> dict[str, Any]:
    """``demo up`` with a live hour holding a scrape gap and a 5xx spike, placed relative to
    when ``up`` will finish (~2-4 min on this machine)."""
    instances = sim.manifest["instances"]  # same profile and seed: same world
    t0 = int(time.time()) + 240
    endpoint = next(e for e in API_ENDPOINTS if "search" in e)
    incidents = [
        Incident("live-gap", "scrape_gap", *(_dt(t0 + GAP_AFTER_S), _dt(t0 + GAP_AFTER_S
                                                                          + GAP_S)),
                 description="live scrape gap", affects={"instance": instances[1]}),
        Incident("live-spike", "error_spike", _dt(t0 + SPIKE_AFTER_S),
                 _dt(t0 + SPIKE_AFTER_S + SPIKE_S), description="live 5xx spike",
                 affects={"endpoint": endpoint, "method": "POST",
                          "instances": list(instances), "status_codes": [500, 503]},
                 expected={"error_fraction": 0.7, "alert": "HighErrorRate"}),
    ]
    result = demo.up(home=home, profile="small", seed=7, prometheus_version=version,
                     incidents=incidents, live_hours=1.0, jaeger=False,
                     elasticsearch=elasticsearch, echo=print)
    st = result.state
    st["_home"] = home
    st["_incidents"] = incidents
    st["_t0"] = t0
    st["_up_returned"] = time.monotonic()
    return st


@pytest.fixture(scope="module")
def live_stack(tmp_path_factory: pytest.TempPathFactory, sim: Any) -> Iterator[dict[str, Any]]:
    """The live demo on Prometheus 3 with Elasticsearch (the default stack)."""
    home = tmp_path_factory.mktemp("live-home")
    try:
        yield _start_live(home, sim, "3", elasticsearch=True)
    finally:
        demo.down(home)


@pytest.fixture(scope="module")
def live_stack_2(tmp_path_factory: pytest.TempPathFactory, sim: Any
                 ) -> Iterator[dict[str, Any]]:
    """The same live demo on Debian's Prometheus 2.42 (metrics only), running beside the
    first so both wait the same ten minutes."""
    home = tmp_path_factory.mktemp("live-home-2")
    try:
        yield _start_live(home, sim, "2", elasticsearch=False)
    finally:
        demo.down(home)


@pytest.fixture(scope="module")
def cut_sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Any, int]:
    """The small profile simulated past now with the live cut at now (no servers)."""
    from tributary_analysis.demo import simulate

    now = int(time.time()) // 30 * 30
    res = simulate("small", seed=7, end=_dt(now + 3600), history_end=_dt(now + 29),
                   out_dir=tmp_path_factory.mktemp("cut-sim"))
    assert res.live is not None
    return res, res.live, now


def test_exposition_continues_the_backfill_and_parses_with_promtool(
    cut_sim: tuple[Any, Any, int],
) -> None:
    """At the cut, each replica serves exactly the values the backfill ends with."""
    import subprocess

    from tributary_analysis.demo import live
    from tributary_analysis.stack import gobuild

    res, cut, now = cut_sim
    instances = tuple(res.manifest["instances"])
    st = live.slice_cut(cut, instances)
    assert int(st.times[0]) == now and st.index_at(now + 29) == 0
    assert int(res.manifest["counts"]["samples"]) > 0
    # the backfill's last samples (timestamp == cut) of replica 0, without job/instance
    target = f'job="deeplake-api",instance="{instances[0]}"'
    want: dict[str, float] = {}
    for part in res.manifest["files"]["metrics"]:
        path = Path(part) if Path(part).is_absolute() else res.out_dir / part
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.endswith(f" {now}\n") or target not in line:
                    continue
                series, value, _ = line.rsplit(" ", 2)
                if series.startswith("up{"):
                    continue
                series = series.replace("," + target, "").replace(target, "")
                series = series.replace("{}", "")
                want[series] = float(value)
        with open(path, encoding="utf-8") as fh:  # nothing after the cut was backfilled
            assert not any(line.rsplit(" ", 1)[-1].strip().isdigit()
                           and int(line.rsplit(" ", 1)[-1]) > now for line in fh)
    body = live.render(st, 0, 0).decode()
    got = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
           for line in body.splitlines() if line and not line.startswith("#")}
    assert want and got.keys() == want.keys()
    assert all(got[k] == pytest.approx(v, rel=1e-9, abs=1e-6) for k, v in want.items())
    # Prometheus's own parser reads it; its linter only objects to the seed's gauge names
    promtool = gobuild.ensure(gobuild.PROMETHEUS) / "promtool"
    proc = subprocess.run([str(promtool), "check", "metrics"], input=body.encode(),
                          capture_output=True, check=False)
    findings = (proc.stdout + proc.stderr).decode().strip().splitlines()
    assert proc.returncode in (0, 3), findings
    assert {f.split()[0] for f in findings} <= {"datasets_total", "vectors_total"}, findings


def _dt(unix: int) -> Any:
    import datetime as _d

    return _d.datetime.fromtimestamp(unix, tz=_d.UTC)


def test_live_stack_runs_for_ten_minutes_with_fresh_data_and_alerts(
    live_stack: dict[str, Any], live_stack_2: dict[str, Any],
) -> None:
    url = live_stack["prometheus"]["url"]
    home: Path = live_stack["_home"]
    gap, _spike = live_stack["_incidents"]
    # every listener of every process the stack started is on loopback
    for name in ("prometheus", "live"):
        ref = procs.ProcessRef.from_dict(live_stack[name]["process"])
        socks = procs.listening_sockets(ref.pid)
        assert socks, name
        assert all(procs.is_loopback(a) for a, _ in socks), (name, socks)
    es_server = live_stack["elasticsearch"]["server_process"]
    if es_server:
        socks = procs.listening_sockets(int(es_server["pid"]))
        assert socks and all(procs.is_loopback(a) for a, _ in socks), socks
    st = demo.status(home)
    assert st["live"]["running"] and st["prometheus"]["running"]
    cutoff = live_stack["window"]["end"]
    # left running: at least WAIT_S after `up` returned, and until both alerts have fired
    # (an incident may already be over when a slow `up` returns: look back over the hour)
    deadline = max(live_stack["_up_returned"], live_stack_2["_up_returned"]) + WAIT_S
    seen_gap_alert = seen_spike_alert = False
    while True:
        seen_gap_alert, seen_spike_alert = _fired(url, gap)
        done = seen_gap_alert and seen_spike_alert and all(
            _fired(live_stack_2["prometheus"]["url"], live_stack_2["_incidents"][0]))
        if time.monotonic() > deadline and (done or time.monotonic() > deadline + 600):
            break
        time.sleep(15)
    # an alert that began firing in the last minute falls after the comparison's end (the
    # minute floored): let the newest firing age by more than a minute first
    time.sleep(75)
    now = time.time()
    newest = float(_q(url, 'max(timestamp(http_requests_total{job="deeplake-api"}))')[0]
                   ["value"][1])
    assert now - newest < 60, (now, newest)
    up_fresh = float(_q(url, 'max(timestamp(up{job="deeplake-api"}))')[0]["value"][1])
    assert now - up_fresh < 60
    assert seen_gap_alert, "ServiceDown never fired for the replica in the live scrape gap"
    assert seen_spike_alert, "HighErrorRate never fired for the live 5xx spike"
    for_state = _q(url, 'last_over_time(ALERTS_FOR_STATE{alertname="ServiceDown"}[1h])')
    assert {r["metric"]["instance"] for r in for_state} == {gap.affects["instance"]}
    # the other replicas' up stayed 1 and ServiceDown never touched them
    never = _q(url, f'max_over_time(ALERTS{{alertname="ServiceDown",'
                    f'instance!="{gap.affects["instance"]}"}}[30m])')
    assert never == []
    # history and live join without a hole: one sample per 30 s grid step up to the cut,
    # then one per 15 s scrape (or filled grid sample) for a replica outside the gap
    other = next(i for i in live_stack["live"]["instances"] if i != gap.affects["instance"])
    gaps = _q(url, f'max_over_time((timestamp(up{{instance="{other}"}}) - '
                   f'timestamp(up{{instance="{other}"}} offset 30s))[20m:15s])')
    # at most: one grid step (the last filled sample), the reload, one 15 s scrape interval
    step = 30
    assert gaps and float(gaps[0]["value"][1]) <= 2 * step + 15, gaps
    # Prometheus 3 converts the scraped classic histograms to NHCB (classic kept): one NHCB
    # sample per scrape, and its quantile is the classic one (same buckets)
    fam = "http_request_duration_seconds"
    counts = _q(url, f'count_over_time({fam}{{job="deeplake-api"}}[5m])')
    per_series = sorted(float(r["value"][1]) for r in counts)
    assert per_series and per_series[len(per_series) // 2] >= 15, per_series  # 20 scrapes
    nhcb = _q(url, f"histogram_quantile(0.95, sum(rate({fam}[5m])))")
    classic = _q(url, f"histogram_quantile(0.95, sum by (le) (rate({fam}_bucket[5m])))")
    assert float(nhcb[0]["value"][1]) == pytest.approx(float(classic[0]["value"][1]),
                                                       rel=0.01)
    # logs after the cut reach Elasticsearch through the loader
    from elasticsearch import Elasticsearch

    from tributary_analysis.stack import elasticsearch as es_mod

    creds = es_mod.read_admin_file(home)
    assert creds is not None
    es = Elasticsearch(live_stack["elasticsearch"]["url"], basic_auth=creds.as_tuple())
    try:
        es.indices.refresh(index=live_stack["elasticsearch"]["index_pattern"])
        n = es.count(index=live_stack["elasticsearch"]["index_pattern"],
                     query={"range": {"@timestamp": {"gt": cutoff}}})["count"]
    finally:
        es.close()
    assert n > 0
    beat = demo.status(home)["live"]["heartbeat"]
    assert beat["log_lines_written"] > 0 and beat["log_docs_loaded"] > 0, beat
    assert not beat["last_error"], beat
    _replay_equals_prometheus(url, cutoff)
    # the same rules on Debian's 2.42 (closed ranges): its ALERTS equal the replay too
    url_2 = live_stack_2["prometheus"]["url"]
    assert _fired(url_2, live_stack_2["_incidents"][0]) == (True, True)
    _replay_equals_prometheus(url_2, live_stack_2["window"]["end"])


def _fired(url: str, gap: Incident) -> tuple[bool, bool]:
    """Whether ServiceDown fired for the gap's replica and HighErrorRate for the spike."""
    firing = {(r["metric"].get("alertname"), r["metric"].get("instance", ""))
              for r in _q(url, 'max_over_time(ALERTS{alertstate="firing"}[1h])')}
    return (("ServiceDown", gap.affects["instance"]) in firing,
            any(a == "HighErrorRate" for a, _ in firing))


def _replay_equals_prometheus(url: str, cutoff: str) -> None:
    """The alert review's replay of the seed's rules over the live period equals the
    ALERTS Prometheus itself wrote for the two injected incidents' rules."""
    import pandas as pd

    from tributary_analysis.fetch.alerts import backtest_rules, server_alerts
    from tributary_analysis.promql.rules import seed_rules
    from tributary_analysis.sources.prometheus import PrometheusSource

    rules = [r for r in seed_rules().alerts if r.name in {"ServiceDown", "HighErrorRate"}]
    end = pd.Timestamp.now(tz="UTC").floor("min")
    with PrometheusSource(url) as source:
        rev = backtest_rules(source, rules, pd.Timestamp(cutoff), end)
        got = server_alerts(source, rules, rev)
    assert got.comparison is not None, got.message
    rows = {r["rule"]: r for r in got.comparison.rules.to_dict("records")}
    assert rows["ServiceDown"]["prometheus"] >= 1 and rows["HighErrorRate"]["prometheus"] >= 1
    assert got.comparison.agrees, got.comparison.intervals.to_string()


def test_down_stops_everything_by_pid(live_stack: dict[str, Any]) -> None:
    home: Path = live_stack["_home"]
    refs = [procs.ProcessRef.from_dict(live_stack[n]["process"])
            for n in ("prometheus", "live")]
    stopped = demo.down(home)
    assert {"prometheus", "live demo service", "elasticsearch"} <= set(stopped)
    assert not any(procs.is_running(r) for r in refs)
    assert state.read_state(home) == {}
