"""Trace analyses: definitions on small hand-made traces, then the simulator's ground truth.

Ground truth (session ``sim``: small profile, seed 7): the deploy regression's slower span
(``search_vectors``, as ``incidents.json`` names it) ranks first on the critical path of the
affected route inside the incident window and not in the windows of the same length before
and after it; the error spike's exception type is the top error group; the slow search traces
are the ones that loaded the index; from the error episode that Prometheus shows, example
traces and their log lines.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

from tributary_analysis.analysis import errors
from tributary_analysis.analysis import traces as ta
from tributary_analysis.fetch.traces import episode_examples, example_log_lines, open_traces
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import Window
from tributary_analysis.sources.traces import OtlpFiles, trace_frame
from tributary_analysis.viz import traces as tviz

T0 = pd.Timestamp("2026-01-01", tz="UTC")


def _spans(rows: list[tuple[str, str | None, str, float, float]], tid: str = "t" * 32,
           status: dict[str, str] | None = None) -> pd.DataFrame:
    """(span_id, parent, operation, start ms, end ms) → a span frame."""
    return pd.DataFrame({
        "trace_id": [tid] * len(rows), "span_id": [r[0] for r in rows],
        "parent_span_id": [r[1] for r in rows], "service": ["api"] * len(rows),
        "operation": [r[2] for r in rows],
        "start": [T0 + pd.Timedelta(milliseconds=r[3]) for r in rows],
        "end": [T0 + pd.Timedelta(milliseconds=r[4]) for r in rows],
        "duration_s": [(r[4] - r[3]) / 1000 for r in rows],
        "status": [(status or {}).get(r[0], "unset") for r in rows],
        "exception_type": [None] * len(rows)})


@pytest.mark.parametrize(("rows", "self_ms", "crit_ms"), [
    # sequential children: self = gaps, critical path = self
    ([("r", None, "R", 0, 100), ("a", "r", "A", 10, 40), ("b", "r", "B", 50, 90)],
     [30, 30, 40], [30, 30, 40]),
    # concurrent children: the shorter one is off the critical path, self counts the union
    ([("r", None, "R", 0, 100), ("a", "r", "A", 10, 80), ("b", "r", "B", 10, 30)],
     [30, 70, 20], [30, 70, 0]),
    # a child running past its parent's end is clipped to the parent
    ([("r", None, "R", 0, 100), ("a", "r", "A", 60, 150)], [60, 90, ], [60, 40]),
    # nested: the grandchild's time is its own, not its parent's
    ([("r", None, "R", 0, 100), ("a", "r", "A", 0, 100), ("g", "a", "G", 20, 70)],
     [0, 50, 50], [0, 50, 50]),
    # a span whose parent is missing starts its own path
    ([("r", None, "R", 0, 50), ("x", "missing", "X", 60, 70)], [50, 10], [50, 10]),
])
def test_self_time_and_critical_path(rows: list[Any], self_ms: list[float],
                                     crit_ms: list[float]) -> None:
    s = _spans(rows)
    assert (ta.self_time(s) * 1000).round(6).tolist() == self_ms
    assert (ta.critical_path(s) * 1000).round(6).tolist() == crit_ms


def test_estimates_withheld_without_enough_traces() -> None:
    s = _spans([("r", None, "R", 0, 100), ("a", "r", "A", 10, 40)])
    prof = ta.operation_profile(s)
    assert isinstance(prof, Insufficient)
    assert prof.message() == ("not enough data for an operation profile (have 1 traces, need "
                              "20 traces)")
    slow = ta.slow_traces(s.assign(**{"http.route": "/x"}))
    assert isinstance(slow, Insufficient) and "slow-trace comparison" in slow.message()


def test_error_groups_count_traces_not_events() -> None:
    parts = []
    for k in range(5):
        s = _spans([("r", None, "R", 0, 100), ("a", "r", "A", 10, 40)], tid=f"{k:032d}",
                   status={"r": "error", "a": "error"})
        s["exception_type"] = [None, "E1" if k < 3 else "E2"]
        s["exception_message"] = [None, "boom"]
        parts.append(s)
    s = pd.concat(parts, ignore_index=True)
    g = ta.error_groups(s)
    assert g[["exception_type", "traces"]].values.tolist() == [["E1", 3], ["E2", 2]]
    assert g["share"].tolist() == [0.6, 0.4] and g["message"].tolist() == ["boom", "boom"]


# ----------------------------------------------------------------------- ground truth


@pytest.fixture(scope="module")
def files(trace_files: list[Path]) -> OtlpFiles:
    return OtlpFiles(trace_files)


@pytest.fixture(scope="module")
def incidents(sim: Any) -> dict[str, Any]:
    return {i.kind: i for i in sim.incidents}


def test_regression_span_first_on_the_critical_path_only_in_its_window(
        files: OtlpFiles, incidents: dict[str, Any], sim: Any) -> None:
    reg = incidents["latency_regression"]
    cause = next(s for s in reg.expected["spans"] if s["role"] == "cause")
    route = cause["route"]
    length = reg.end - reg.start
    windows = {"in": (reg.start, reg.end), "before": (reg.start - length, reg.start),
               "after": (reg.end, reg.end + length)}
    first = {}
    for name, (a, b) in windows.items():
        a = max(pd.Timestamp(a), pd.Timestamp(sim.manifest["start"]))
        b = min(pd.Timestamp(b), pd.Timestamp(sim.manifest["end"]))
        prof = ta.operation_profile(files.spans(start=a, end=b, route=route))
        assert not isinstance(prof, Insufficient), name
        first[name] = prof["operation"].iloc[0]
        if name == "in":
            assert prof["critical_share"].iloc[0] > 0.3
    assert first["in"] == cause["operation"] == "search_vectors"
    assert first["before"] != cause["operation"] and first["after"] != cause["operation"]


def test_error_spike_exception_is_the_top_error_group(files: OtlpFiles,
                                                      incidents: dict[str, Any]) -> None:
    spike = incidents["error_spike"]
    spans = files.spans(start=spike.start, end=spike.end)
    groups = ta.error_groups(spans)
    truth = {}
    for s in spike.expected["spans"]:
        for k, v in s.get("exception_types", {}).items():
            truth[k] = truth.get(k, 0) + v
    top = max(truth, key=lambda k: truth[k])
    assert groups["exception_type"].iloc[0] == top
    assert groups["traces"].iloc[0] == truth[top]
    assert groups["top_route"].iloc[0] == spike.affects["endpoint"]


def test_slow_searches_are_the_ones_that_loaded_the_index(files: OtlpFiles,
                                                          incidents: dict[str, Any],
                                                          sim: Any) -> None:
    # a quiet stretch: before every episodic incident
    first = min(i.start for i in sim.incidents if i.kind != "memory_trend")
    spans = files.spans(start=sim.manifest["start"], end=first,
                        route="/api/v1/datasets/{id}/search")
    ranking = ta.slow_traces(spans)
    assert not isinstance(ranking, Insufficient)
    sig = ranking[ranking["significant"]]
    hits = {(a, v) for a, v in zip(sig["attribute"], sig["value"], strict=True)}
    assert ("has:index_load", "yes") in hits or ("bottleneck", "index_load") in hits
    row = ranking[(ranking["attribute"] == "has:index_load") & (ranking["value"] == "yes")]
    assert float(row["risk_ratio"].iloc[0]) > 5
    assert ranking.attrs["slow_traces"] >= ta.MIN_SLOW_TRACES


@pytest.mark.prometheus
def test_examples_of_a_metrics_episode_and_their_log_lines(
        prometheus_stack: Any, sim: Any, incidents: dict[str, Any], trace_files: list[Path]
        ) -> None:
    from tributary_analysis import fetch
    from tributary_analysis.sources.logs import FileLogs

    prom = fetch.open_prometheus(prometheus_stack.url)
    window = Window.of(sim.manifest["start"], sim.manifest["end"])
    req = fetch.requests_per_bin(prom, window, "1m", by=("endpoint", "status_code"))
    episodes = errors.detect_episodes(errors.request_counts(req, by="endpoint"),
                                      by="endpoint")
    spike = incidents["error_spike"]
    assert len(episodes) == 1 and episodes["endpoint"].iloc[0] == spike.affects["endpoint"]
    src = open_traces("files", [str(p) for p in trace_files])
    ex = episode_examples(src, episodes, n=3)
    assert len(ex) == 3 and ex["error"].all()
    assert (ex["route"].astype(str) == spike.affects["endpoint"]).all()
    assert set(ex["exception_type"].astype(str)) == {
        "app.services.deeplake.SearchBackendUnavailable"}
    assert (ex["start"] >= episodes["start"].iloc[0]).all()
    logs = FileLogs([str(sim.out_dir / p) for p in sim.manifest["files"]["logs"]])
    spans = src.spans(start=ex["start"].min(), end=ex["end"].max() + pd.Timedelta("1s"),
                      route=spike.affects["endpoint"], errors_only=True)
    lines = example_log_lines(logs, ex, spans)
    assert set(lines["trace_id"]) == set(ex["trace_id"].astype(str))
    for tid, part in lines.groupby("trace_id"):
        done = part[part["status_code"].notna()]
        assert len(done) == 1 and int(done["status_code"].iloc[0]) >= 500
        assert (part["level"].astype(str) == "ERROR").any()
        truth = sim.requests[sim.requests["trace_id"] == tid]
        assert set(part["request_id"].dropna()) == set(truth["request_id"])


def test_logs_join_on_trace_id_when_the_log_frame_has_it(sim: Any) -> None:
    req = sim.requests[sim.requests["trace_sampled"]].head(5)
    logs = pd.DataFrame({"timestamp": req["time"], "trace_id": req["trace_id"].astype(str),
                         "request_id": req["request_id"]})
    traces = pd.DataFrame({"trace_id": req["trace_id"].astype(str).iloc[:3]})
    out = ta.logs_for_traces(traces, logs)
    assert out.attrs["joined_on"] == "trace_id" and len(out) == 3


def test_hostile_names_are_inert_in_html(tmp_path: Path) -> None:
    evil = "<img src=x onerror=alert(1)>"
    rows = [("r", None, f"GET {evil}", 0, 100), ("a", "r", "<script>alert(2)</script>", 10, 40)]
    s = _spans(rows).assign(**{"tenant_id": [evil, evil], "http.route": [evil, None]})
    fig = tviz.waterfall(s, title=f"trace of {evil}")
    blob = fig.to_json()
    assert "<script>" not in blob and "<img" not in blob
    assert "&lt;script&gt;" in blob
    page = tmp_path / "wf.html"
    pio.write_html(fig, page, include_plotlyjs=False)
    assert "<img src=x" not in page.read_text()
    tf = trace_frame(s)
    links = tviz.trace_links_html(tf, 'http://jaeger"><script>x</script>')
    assert "<script>" not in links and "<img" not in links
    assert 'href="http://jaeger&quot;&gt;&lt;script&gt;' in links
    prof = pd.DataFrame({"operation": [evil], "spans": [1], "critical_share": [0.5],
                         "self_share": [0.5]})
    assert "<img" not in tviz.operation_profile_chart(prof).to_json()
    data = json.loads(tviz.trace_duration_chart(tf).to_json())
    assert all("<img" not in json.dumps(t.get("customdata")) for t in data["data"])
    assert np.isfinite(tf["duration_s"]).all()


def test_duration_chart_of_a_day_draws_every_failed_and_the_slowest_and_says_so() -> None:
    n = 13_000
    rng = np.random.default_rng(1)
    tf = pd.DataFrame({
        "start": pd.date_range("2026-12-01", periods=n, freq="6s", tz="UTC"),
        "duration_s": rng.lognormal(-4, 1, n), "error": rng.random(n) < 0.01,
        "trace_id": [f"{i:032x}" for i in rng.integers(0, 2**62, n)],
        "root_operation": "GET /x", "tenant_id": "tenant-a"})
    fig = tviz.trace_duration_chart(tf, max_points=2_000)
    drawn = {tid for t in fig.data for tid in (c[3] for c in t.customdata)}
    assert len(drawn) <= 2_000
    assert set(tf.loc[tf["error"], "trace_id"]) <= drawn
    ok = tf[~tf["error"]]
    assert set(ok.nlargest(100, "duration_s")["trace_id"]) <= drawn
    n_failed = int(tf["error"].sum())
    assert f"13,000 traces; drawn: all {n_failed:,} failed" in fig.layout.title.text
    assert len(fig.to_json()) < 400_000
    small = tviz.trace_duration_chart(tf.head(50))
    assert sum(len(t.x) for t in small.data) == 50 and "50 traces</sup>" in small.layout.title.text
