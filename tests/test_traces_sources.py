"""The OTLP files source (DuckDB): the question's semantics, bad input counted, clear errors.

Small hand-written OTLP files make each rule visible; hostile attribute values (tenant ids)
are matched literally (bound parameters), never as SQL.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
import pytest

from tributary_analysis.demo import otlp
from tributary_analysis.errors import NotFoundError, QueryError
from tributary_analysis.frames.meta import meta_of, reader_notes
from tributary_analysis.sources.traces import OtlpFiles, trace_frame

T0 = 1_795_089_600_000_000_000  # 2026-11-19T12:00:00Z in ns
HOSTILE = ["tenant-x' OR '1'='1", 'tenant"; DROP TABLE spans; --', "<script>alert(1)</script>",
           "tenant-%00-\\n"]


def _span(tid: str, sid: str, parent: str, name: str, start_ms: float, end_ms: float,
          attrs: dict[str, object] | None = None, error: bool = False,
          kind: int = 2) -> str:
    a = otlp.attributes(otlp.kv(k, v) for k, v in (attrs or {}).items())
    return otlp.span(tid, sid, parent, name, kind, T0 + int(start_ms * 1e6),
                     T0 + int(end_ms * 1e6), a, (),
                     otlp.status(otlp.STATUS_ERROR if error else 0, "boom" if error else ""))


def _line(spans: list[str], service: str = "deeplake-api") -> str:
    return otlp.request_line([(otlp.resource({"service.name": service,
                                              "service.version": "1.4.2"}),
                               [(otlp.scope("test"), spans)])])


def _trace(k: int, tenant: str, start_ms: float, dur_ms: float, route: str = "/a",
           error: bool = False) -> list[str]:
    tid = f"{k + 1:032x}"
    root = f"{k + 1:016x}"
    child = f"{k + 1 + 10**6:016x}"
    return [_span(tid, root, "", f"GET {route}", start_ms, start_ms + dur_ms,
                  {"tenant_id": tenant, "http.route": route, "http.response.status_code":
                   500 if error else 200}, error=error),
            _span(tid, child, root, "SELECT", start_ms + 1, start_ms + dur_ms / 2,
                  {"db.system": "postgresql"}, kind=3)]


@pytest.fixture()
def small(tmp_path: Path) -> Path:
    spans: list[str] = []
    tenants = ["tenant-a", "tenant-b", *HOSTILE]
    for k in range(60):
        spans += _trace(k, tenants[k % len(tenants)], k * 1000.0, 10 + k,
                        "/slow" if k % 10 == 0 else "/a", error=k % 7 == 0)
    path = tmp_path / "t.jsonl"
    path.write_text(_line(spans[:40]) + _line(spans[40:]) + _line(
        _trace(999, "tenant-c", 0, 5), service="other"))
    return path


def _window() -> dict[str, str]:
    return {"start": "2026-11-19T12:00:00Z", "end": "2026-11-19T12:01:00Z"}


def test_frame_columns_and_types(small: Path) -> None:
    df = OtlpFiles(small).spans(**_window())
    assert df["trace_id"].nunique() == 60
    assert list(df.columns[:16]) == ["trace_id", "span_id", "parent_span_id", "service",
                                     "operation", "kind", "start", "end", "duration_s", "status",
                                     "status_message", "events", "exception_type",
                                     "exception_message", "scope", "trace_state"]
    assert str(df["start"].dtype) == "datetime64[ns, UTC]"
    assert df["http.response.status_code"].dtype == "Int64"
    assert df["kind"].dtype == "category" and set(df["kind"]) == {"server", "client"}
    assert df["resource.service.version"].dtype == "category"
    root = df[df["parent_span_id"].isna()].iloc[0]
    assert root["duration_s"] == pytest.approx(0.010)
    m = meta_of(df)
    assert m.source == "otlp-files" and m.details["matched_traces"] == 60
    assert m.window is not None and m.window.iso() == ("2026-11-19T12:00:00Z",
                                                       "2026-11-19T12:01:00Z")


def test_window_is_half_open_on_the_first_span(small: Path) -> None:
    src = OtlpFiles(small)
    # trace k starts at k seconds: [10 s, 20 s) holds traces 10..19
    df = src.spans(start="2026-11-19T12:00:10Z", end="2026-11-19T12:00:20Z")
    starts = trace_frame(df)["start"]
    assert len(starts) == 10
    assert starts.min() == pd.Timestamp("2026-11-19T12:00:10Z")


def test_filters(small: Path) -> None:
    src = OtlpFiles(small)
    w = _window()
    assert trace_frame(src.spans(**w, route="/slow"))["route"].astype(str).eq("/slow").all()
    errs = trace_frame(src.spans(**w, errors_only=True))
    assert len(errs) == 9 and errs["error"].all()
    long = trace_frame(src.spans(**w, min_duration="60ms"))
    assert (long["duration_s"] >= 0.060).all() and len(long) == 10
    assert len(trace_frame(src.spans(**w, tenant="tenant-a"))) == 10
    assert src.spans(**w, service="other")["trace_id"].nunique() == 1
    assert src.spans(**w, service=None)["trace_id"].nunique() == 61


@pytest.mark.parametrize("tenant", HOSTILE)
def test_hostile_tenant_ids_match_literally(small: Path, tenant: str) -> None:
    df = OtlpFiles(small).spans(**_window(), tenant=tenant)
    tf = trace_frame(df)
    assert len(tf) == 10
    assert set(tf["tenant_id"].astype(str)) == {tenant}
    # and a near miss matches nothing (no LIKE, no injection)
    assert OtlpFiles(small).spans(**_window(), tenant=tenant[:-1]).empty


def test_limit_is_partial_and_says_so(small: Path) -> None:
    df = OtlpFiles(small).spans(**_window(), limit=5)
    tf = trace_frame(df)
    assert len(tf) == 5 and tf["start"].is_monotonic_increasing
    m = meta_of(df)
    assert m.partial and m.details["matched_traces"] == 60
    assert any("5 of 60 matching traces returned (limit=5" in n for n in m.notes)
    assert any("partial response" in n for n in reader_notes(df))


def test_bad_questions_name_the_input(small: Path) -> None:
    src = OtlpFiles(small)
    with pytest.raises(QueryError, match=r"start 2026-11-19T13:00:00Z is not before end "
                                         r"2026-11-19T12:00:00Z; swap them"):
        src.spans(start="2026-11-19T13:00:00Z", end="2026-11-19T12:00:00Z")
    with pytest.raises(QueryError, match=r"start='yesterday' is not a time"):
        src.spans(start="yesterday", end="2026-11-19T12:00:00Z")
    with pytest.raises(QueryError, match=r"min_duration='fast' is not a duration"):
        src.spans(**_window(), min_duration="fast")
    with pytest.raises(QueryError, match=r"limit=0 must be a positive whole number"):
        src.spans(**_window(), limit=0)
    with pytest.raises(NotFoundError, match=r"service 'checkout' sent no spans to .*t.jsonl; "
                                            r"services in these files: deeplake-api, other"):
        src.spans(**_window(), service="checkout")
    with pytest.raises(QueryError, match=r"trace id 'abc' is not 32 hex digits"):
        src.trace("abc")
    with pytest.raises(NotFoundError, match=r"no OTLP trace files match .*nothing-here"):
        OtlpFiles(small.parent / "nothing-here" / "*.jsonl").services()


def test_empty_window_says_where_the_data_is(small: Path) -> None:
    df = OtlpFiles(small).spans(start="2026-11-18T00:00:00Z", end="2026-11-18T01:00:00Z")
    assert df.empty
    assert any("spans starting 2026-11-19T12:00:00Z" in n for n in meta_of(df).notes)
    assert trace_frame(df).empty


def test_one_trace_by_id(small: Path) -> None:
    src = OtlpFiles(small)
    one = src.trace(f"{3:032x}".upper())
    assert len(one) == 2 and set(one["trace_id"]) == {f"{3:032x}"}
    missing = src.trace("f" * 32)
    assert missing.empty and "is not in" in meta_of(missing).notes[-1]


def test_bad_spans_are_counted_not_dropped_silently(tmp_path: Path) -> None:
    good = _trace(0, "tenant-a", 0, 10)
    bad_id = _span("zz" * 16, "1" * 16, "", "GET /bad", 0, 1)
    bad_time = _span("2" * 32, "2" * 16, "", "GET /t", 0, 1).replace(
        f'"startTimeUnixNano":"{T0}"', '"startTimeUnixNano":"soon"')
    backwards = _span("3" * 32, "3" * 16, "", "GET /back", 5, 1)
    path = tmp_path / "bad.jsonl"
    path.write_text(_line([*good, bad_id, bad_time, backwards, good[1]]))
    df = OtlpFiles(path).spans(start="2026-11-19T12:00:00Z", end="2026-11-19T12:01:00Z")
    kinds = {p.kind: (p.count, p.dropped) for p in meta_of(df).problems}
    assert kinds == {"bad_id": (1, True), "bad_timestamp": (1, True),
                     "duplicate_span": (1, True), "negative_duration": (1, False)}
    assert df["trace_id"].nunique() == 2
    back = df[df["operation"] == "GET /back"]
    assert back["duration_s"].isna().all()
    assert any("input record(s) left out: bad_id" in n for n in reader_notes(df))


def test_base64_ids_of_protobuf_json_are_read_as_hex(tmp_path: Path) -> None:
    tid, sid = bytes(range(16)), bytes(range(8))
    doc = json.loads(_line(_trace(0, "tenant-a", 0, 10)))
    sp = doc["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    sp["traceId"] = base64.b64encode(tid).decode()
    sp["spanId"] = base64.b64encode(sid).decode()
    doc["resourceSpans"][0]["scopeSpans"][0]["spans"] = [sp]
    path = tmp_path / "b64.jsonl"
    path.write_text(json.dumps(doc) + "\n")
    df = OtlpFiles(path).spans(**_window())
    assert df["trace_id"].tolist() == [tid.hex()] and df["span_id"].tolist() == [sid.hex()]


def test_files_are_reread_when_they_change(small: Path) -> None:
    src = OtlpFiles(small)
    assert src.spans(**_window())["trace_id"].nunique() == 60
    with small.open("a") as fh:
        fh.write(_line(_trace(500, "tenant-z", 30_500, 5)))
    assert src.spans(**_window())["trace_id"].nunique() == 61
