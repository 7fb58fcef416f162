"""Against a real Jaeger 2.13 holding the session simulation's spans (``jaeger_traces``).

The spans loaded are the spans read back, in number and content; the files source gives the
same frame; paging through a small search depth loses nothing; the server's own limit lowers
the depth; hostile values travel as encoded query parameters and match nothing; unknown
services, bad windows and a closed port are clear typed errors.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest
import requests

from tributary_analysis.demo.otlp import load_otlp
from tributary_analysis.errors import DataError, NotFoundError, QueryError, SourceUnreachable
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.sources.traces import JaegerTraces, OtlpFiles, trace_frame
from tributary_analysis.stack import procs


def _events(ev: Any) -> str:
    return json.dumps([{"name": e["name"], "time": str(e["time"]),
                        "attributes": dict(sorted(e["attributes"].items()))} for e in ev],
                      sort_keys=True)


def _comparable(df: pd.DataFrame) -> pd.DataFrame:
    out = df.sort_values(["trace_id", "span_id"]).reset_index(drop=True)
    out["events"] = out["events"].map(_events)
    return out.astype(object).where(out.notna(), None)


@pytest.fixture(scope="module")
def whole(sim: Any) -> dict[str, str]:
    return {"start": sim.manifest["start"], "end": sim.manifest["end"]}


def test_spans_loaded_are_spans_read_back(jaeger_traces: Any, trace_files: list[Path],
                                          sim: Any, whole: dict[str, str]) -> None:
    assert jaeger_traces.load.spans == sim.manifest["counts"]["spans"]
    assert jaeger_traces.load.rejected == 0
    src = JaegerTraces(jaeger_traces.url)
    got = src.spans(**whole, limit=10**6)
    m = meta_of(got)
    assert m.source == "jaeger" and m.server == "Jaeger 2.13.0" and not m.partial
    assert len(got) == sim.manifest["counts"]["spans"]
    assert got["trace_id"].nunique() == sim.manifest["counts"]["traces"]
    files = OtlpFiles(trace_files).spans(**whole, limit=10**6)
    assert sorted(got.columns) == sorted(files.columns)
    a, b = _comparable(got), _comparable(files[got.columns])
    for col in got.columns:
        assert a[col].tolist() == b[col].tolist(), col
    # and the truth the simulator kept
    truth = sim.spans.sort_values(["trace_id", "span_id"]).reset_index(drop=True)
    assert a["span_id"].tolist() == truth["span_id"].tolist()
    assert (pd.to_datetime(a["start"]).to_numpy() == truth["start"].to_numpy()).all()
    assert a["operation"].tolist() == truth["operation"].astype(str).tolist()


def test_paging_with_a_small_search_depth_loses_nothing(jaeger_traces: Any,
                                                       trace_files: list[Path], sim: Any) -> None:
    start = pd.Timestamp(sim.manifest["start"]) + pd.Timedelta(hours=2)
    end = start + pd.Timedelta(hours=2)
    src = JaegerTraces(jaeger_traces.url, page_traces=150)
    got = src.spans(start=start, end=end)
    m = meta_of(got)
    assert m.details["splits"] >= 1 and m.requests > 4 and not m.partial
    want = OtlpFiles(trace_files).spans(start=start, end=end)
    assert set(got["trace_id"]) == set(want["trace_id"]) and len(got) == len(want)


def test_request_budget_makes_the_frame_partial(jaeger_traces: Any, sim: Any,
                                                whole: dict[str, str]) -> None:
    src = JaegerTraces(jaeger_traces.url, page_traces=100, max_requests=5)
    got = src.spans(**whole)
    m = meta_of(got)
    assert m.partial and any("stopped after 5 requests (max_requests=5)" in n for n in m.notes)


def test_the_servers_max_traces_lowers_the_search_depth(jaeger_traces: Any, sim: Any) -> None:
    start = pd.Timestamp(sim.manifest["start"])
    src = JaegerTraces(jaeger_traces.url, page_traces=10**7)
    got = src.spans(start=start, end=start + pd.Timedelta(minutes=20))
    assert len(got) > 0
    assert meta_of(got).details["search_depth"] < 10**7


@pytest.mark.parametrize("value", ["tenant-x' OR '1'='1",
                                   "a&query.service_name=other&query.num_traces=1",
                                   "<script>alert(1)</script>"])
def test_hostile_values_are_encoded_parameters(jaeger_traces: Any, sim: Any,
                                               value: str) -> None:
    seen: list[str] = []
    session = requests.Session()
    session.hooks["response"].append(lambda r, *a, **k: seen.append(r.url))
    src = JaegerTraces(jaeger_traces.url, session=session)
    start = pd.Timestamp(sim.manifest["start"]) + pd.Timedelta(hours=3)
    window = {"start": start, "end": start + pd.Timedelta(minutes=30)}
    assert src.spans(**window, tenant=value).empty  # applied here, to what Jaeger returned
    none = src.spans(**window, operation=value)  # sent to Jaeger: 404 = no traces
    assert none.empty and meta_of(none).requests >= 2
    finds = [u for u in seen if "/api/v3/traces?" in u]
    assert finds and all(value not in u for u in finds)  # percent-encoded on the wire
    sent = [parse_qs(urlsplit(u).query) for u in finds]
    assert [d["query.operation_name"] for d in sent if "query.operation_name" in d] == [
        [value]]
    assert all(d["query.service_name"] == ["deeplake-api"] for d in sent)


def test_clear_errors(jaeger_traces: Any, sim: Any) -> None:
    src = JaegerTraces(jaeger_traces.url)
    with pytest.raises(NotFoundError, match=r"service 'checkout' has sent no spans to Jaeger "
                                            r"at http://127\.0\.0\.1:\d+; it knows: "
                                            r"deeplake-api"):
        src.spans(since="1h", service="checkout")
    with pytest.raises(QueryError, match=r"is not before end"):
        src.spans(start=sim.manifest["end"], end=sim.manifest["start"])
    with pytest.raises(QueryError, match=r"must start with http:// or https://"):
        JaegerTraces("127.0.0.1:16686")
    port = procs.free_port()
    with pytest.raises(SourceUnreachable, match=rf"cannot reach Jaeger at "
                                                rf"http://127\.0\.0\.1:{port}"):
        JaegerTraces(f"http://127.0.0.1:{port}", max_attempts=1).services()


def test_one_trace_by_id(jaeger_traces: Any, sim: Any) -> None:
    src = JaegerTraces(jaeger_traces.url)
    tid = str(sim.spans["trace_id"].iloc[0])
    one = src.trace(tid)
    assert set(one["trace_id"]) == {tid}
    assert len(one) == int((sim.spans["trace_id"] == tid).sum())
    assert trace_frame(one)["span_count"].iloc[0] == len(one)
    missing = src.trace("0" * 31 + "1")
    assert missing.empty and "is not in http://127.0.0.1" in meta_of(missing).notes[-1]


def test_loader_refuses_what_is_not_otlp(jaeger_traces: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"resourceMetrics": []}\n')
    with pytest.raises(DataError, match=r"bad.jsonl:1 has no 'resourceSpans'; is this an OTLP "
                                        r"traces file"):
        load_otlp([bad], jaeger_traces.server.otlp_http_url)
    port = procs.free_port()
    good = tmp_path / "good.jsonl"
    good.write_text('{"resourceSpans":[]}\n')
    with pytest.raises(SourceUnreachable, match=r"cannot reach the OTLP receiver at "
                                                rf"http://127\.0\.0\.1:{port}/v1/traces"):
        load_otlp([good], f"http://127.0.0.1:{port}", max_attempts=1)
