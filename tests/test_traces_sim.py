"""Simulated traces agree with the logs and metrics of the same requests, and with the truth.

Checked against the session's ``small`` simulation (seed 7): the OTLP lines are the
Collector's compact encoding; one exported trace per sampled API request (TraceIdRatioBased
on the trace id, health probes untraced); log lines carry each request's trace and server
span ids; the server span is the logged request to the microsecond and ``search_vectors``
the logged search; the critical path sums to the logged request duration (within 1 µs: the
logs print microseconds as float seconds); incidents live in the spans ``incidents.json``
names.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from tributary_analysis.analysis import traces as ta
from tributary_analysis.demo import Profile, simulate
from tributary_analysis.demo.otlp import go_float, jstr
from tributary_analysis.sources.traces import OtlpFiles

#: the stated tolerance: logged durations are float seconds of whole microseconds
TOLERANCE_S = 1e-6
SPAN_KEYS = ["traceId", "spanId", "traceState", "parentSpanId", "flags", "name", "kind",
             "startTimeUnixNano", "endTimeUnixNano", "attributes", "droppedAttributesCount",
             "events", "droppedEventsCount", "links", "droppedLinksCount", "status"]


@pytest.fixture(scope="module")
def lines(trace_files: list[Path]) -> list[str]:
    return [line for f in trace_files for line in f.read_text().splitlines()]


@pytest.fixture(scope="module")
def log_inner(sim: Any) -> pd.DataFrame:
    rows = []
    for rel in sim.manifest["files"]["logs"]:
        with (sim.out_dir / rel).open() as fh:
            for line in fh:
                rows.append(json.loads(json.loads(line)["message"]))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def file_spans(trace_files: list[Path], sim: Any) -> pd.DataFrame:
    return OtlpFiles(trace_files).spans(start=sim.manifest["start"], end=sim.manifest["end"],
                                        limit=10**6)


def test_lines_are_the_collectors_compact_otlp_json(lines: list[str]) -> None:
    assert lines
    double = re.compile(r'"doubleValue":([-0-9.e+]+)')
    for line in lines[:40]:
        doc = json.loads(line)
        # compact, keys in the order written: re-encoding changes nothing (doubles aside:
        # Go prints 0.00008 where Python prints 8e-05; they are checked on their own)
        again = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        assert double.sub('"doubleValue":0', again) == double.sub('"doubleValue":0', line)
        assert all(go_float(float(x)) == x for x in double.findall(line))
        assert list(doc) == ["resourceSpans"]
        for rs in doc["resourceSpans"]:
            assert list(rs) == ["resource", "scopeSpans"]
            for ss in rs["scopeSpans"]:
                assert list(ss) == ["scope", "spans"]
                for sp in ss["spans"]:
                    keys = list(sp)
                    assert keys == [k for k in SPAN_KEYS if k in keys]  # proto field order
                    assert len(sp["traceId"]) == 32 and len(sp["spanId"]) == 16
                    int(sp["traceId"], 16), int(sp["spanId"], 16)
                    assert isinstance(sp["startTimeUnixNano"], str)
                    assert int(sp["endTimeUnixNano"]) >= int(sp["startTimeUnixNano"])
                    assert isinstance(sp["kind"], int)
                    assert sp["status"] == {} or sp["status"]["code"] == 2
                    for a in sp.get("attributes", ()):
                        (kind, value), = a["value"].items()
                        if kind == "intValue":
                            assert isinstance(value, str) and int(value) == int(value)


def test_go_encoding_of_doubles_and_strings() -> None:
    assert [go_float(x) for x in (0.004321, 1.0, 5e-05, 1e-07, 1e21, 0.1 + 0.2)] == [
        "0.004321", "1", "0.00005", "1e-07", "1e+21", "0.30000000000000004"]
    assert jstr('a"b\\c\n\t\x01é<') == '"a\\"b\\\\c\\n\\t\\u0001é<"'


def test_one_trace_per_sampled_api_request(sim: Any, file_spans: pd.DataFrame) -> None:
    req = sim.requests
    api = req["endpoint"].astype(str) != "/health"
    assert req.loc[~api, "trace_id"].isna().all()
    assert req.loc[api, "trace_id"].notna().all()
    sampled = req[req["trace_sampled"]]
    ratio = sim.manifest["traces"]["sample_ratio"]
    n = int(api.sum())
    assert abs(len(sampled) - ratio * n) < 4 * np.sqrt(n * ratio * (1 - ratio))
    # the sampler's rule: the lower 64 bits of the trace id below ratio * 2**64
    low = sampled["trace_id"].astype(str).str[16:].map(lambda h: int(h, 16))
    assert (low < ratio * 2**64).all()
    roots = file_spans[file_spans["parent_span_id"].isna()]
    assert set(roots["trace_id"]) == set(sampled["trace_id"].astype(str))
    assert sim.manifest["counts"]["spans"] == len(file_spans)
    assert sim.manifest["counts"]["traces"] == len(roots)


def test_log_lines_carry_the_trace_and_server_span(sim: Any, log_inner: pd.DataFrame) -> None:
    done = log_inner[log_inner["message"] == "HTTP request processed"]
    merged = done.merge(sim.requests[["request_id", "trace_id", "span_id"]], on="request_id")
    assert len(merged) == len(done)
    api = merged["trace_id_y"].notna()
    assert (merged.loc[api, "trace_id_x"] == merged.loc[api, "trace_id_y"]).all()
    assert (merged.loc[api, "span_id_x"] == merged.loc[api, "span_id_y"]).all()
    assert merged.loc[~api, "trace_id_x"].isna().all()  # health probes: no trace context
    # lines without a request id (the search line) carry the trace too
    search = log_inner[log_inner["message"] == "Search operation completed"]
    assert search["trace_id"].notna().all()


def test_server_span_is_the_logged_request(sim: Any, file_spans: pd.DataFrame,
                                           log_inner: pd.DataFrame) -> None:
    roots = file_spans[file_spans["parent_span_id"].isna()].set_index("trace_id")
    done = log_inner[log_inner["message"] == "HTTP request processed"].dropna(
        subset=["trace_id"]).set_index("trace_id")
    started = log_inner[log_inner["message"] == "Request started"].dropna(
        subset=["trace_id"]).set_index("trace_id")
    both = roots.index.intersection(done.index)
    assert len(both) == len(roots)
    r = roots.loc[both]
    assert np.allclose(r["duration_s"], done.loc[both, "duration"].astype(float),
                       atol=TOLERANCE_S, rtol=0)
    st = pd.to_datetime(started.loc[both, "timestamp"]).dt.tz_localize("UTC")
    assert (r["start"] == st.to_numpy()).all()
    assert (r["http.response.status_code"].astype(int).to_numpy()
            == done.loc[both, "status_code"].astype(int).to_numpy()).all()
    assert (r["tenant_id"].astype(str).to_numpy() == done.loc[both, "tenant_id"].to_numpy()).all()
    # search_vectors lasts exactly the logged search duration
    sv = file_spans[file_spans["operation"] == "search_vectors"].set_index("trace_id")
    search = log_inner[log_inner["message"] == "Search operation completed"].set_index(
        "trace_id")
    k = sv.index.intersection(search.index)
    assert len(k) > 1000
    assert np.allclose(sv.loc[k, "duration_s"], search.loc[k, "duration"].astype(float),
                       atol=TOLERANCE_S, rtol=0)


def test_span_durations_add_up_to_the_logged_request(file_spans: pd.DataFrame,
                                                     log_inner: pd.DataFrame) -> None:
    crit = ta.critical_path(file_spans)
    own = ta.self_time(file_spans)
    per = pd.DataFrame({"t": file_spans["trace_id"], "crit": crit, "self": own}).groupby(
        "t")[["crit", "self"]].sum()
    done = log_inner[log_inner["message"] == "HTTP request processed"].dropna(
        subset=["trace_id"]).set_index("trace_id")["duration"].astype(float)
    logged = done.reindex(per.index)
    assert logged.notna().all()
    assert (per["crit"] - logged).abs().max() <= TOLERANCE_S
    # self times add up too, except where spans ran concurrently (hybrid searches)
    concurrent = set(file_spans.loc[file_spans["operation"] == "POST", "trace_id"])
    seq = per[~per.index.isin(concurrent)]
    assert len(seq) > 0.9 * len(per)
    assert (seq["self"] - logged.reindex(seq.index)).abs().max() <= TOLERANCE_S


def test_errors_are_recorded_as_record_exception_does(file_spans: pd.DataFrame) -> None:
    failed = file_spans[file_spans["exception_type"].notna()]
    assert len(failed) > 50
    for events, status, msg in zip(failed["events"].head(50), failed["status"].head(50),
                                   failed["status_message"].head(50), strict=True):
        exc = [e for e in events if e["name"] == "exception"]
        assert status == "error"
        if len(exc) == 2:  # a decorated span: the decorator's call, then Span.__exit__
            assert [e["attributes"]["exception.escaped"] for e in exc] == ["False", "True"]
        for e in exc:
            a = e["attributes"]
            assert {"exception.type", "exception.message", "exception.stacktrace"} <= set(a)
            assert a["exception.stacktrace"].startswith("Traceback (most recent call last):")
            assert a["exception.stacktrace"].rstrip().endswith(
                f"{a['exception.type']}: {a['exception.message']}")
        assert msg.endswith(exc[0]["attributes"]["exception.message"])


def test_incidents_name_the_spans_that_carry_them(sim: Any, file_spans: pd.DataFrame) -> None:
    inc = {i.kind: i for i in sim.incidents}
    spike = inc["error_spike"].expected["spans"]
    causes = {s["operation"] for s in spike if s["role"] == "cause"}
    assert causes <= {"index_search", "text_search"} and causes
    types: dict[str, int] = {}
    for s in spike:
        for k, v in s.get("exception_types", {}).items():
            types[k] = types.get(k, 0) + v
    assert max(types, key=lambda k: types[k]) == "app.services.deeplake.SearchBackendUnavailable"
    reg = inc["latency_regression"].expected["spans"]
    assert reg[0]["operation"] == "search_vectors" and reg[0]["traces"] > 100
    noisy = inc["noisy_tenant"].expected["spans"]
    assert noisy[0]["operation"] == "EVALSHA" and noisy[0]["traces"] > 0
    for kind in ("memory_trend", "scrape_gap", "restart"):
        assert inc[kind].expected["spans"] == [] and inc[kind].expected["spans_note"]
    # the count in incidents.json is what the files hold
    tf = ta.trace_frame(file_spans)
    w = inc["error_spike"]
    route = w.affects["endpoint"]
    in_w = tf[(tf["start"] + pd.to_timedelta(tf["duration_s"], unit="s") >= pd.Timestamp(
        w.start)) & (tf["start"] + pd.to_timedelta(tf["duration_s"], unit="s") < pd.Timestamp(
            w.end)) & tf["error"] & (tf["route"].astype(str) == route)]
    root = next(s for s in spike if s["role"] == "root")
    assert root["traces"] == len(in_w)


def test_trace_sample_one_traces_every_api_request(tmp_path: Path) -> None:
    tiny = Profile(name="tiny", days=0.05, n_tenants=2, datasets_per_tenant=(1, 1),
                   n_replicas=1, scrape_interval_s=60)
    res = simulate(tiny, seed=5, end=datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
                   out_dir=tmp_path, incidents=[], trace_sample=1.0)
    api = res.requests["endpoint"].astype(str) != "/health"
    assert res.manifest["counts"]["traces"] == int(api.sum())
    assert res.requests.loc[api, "trace_sampled"].all()
    with pytest.raises(Exception, match=r"trace_sample=2 must be a fraction in \(0, 1\]"):
        simulate(tiny, seed=5, end=datetime(2026, 11, 20, 12, 0, tzinfo=UTC),
                 out_dir=tmp_path / "b", incidents=[], trace_sample=2)
