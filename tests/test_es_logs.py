"""ElasticsearchLogs against the real, secured Elasticsearch of the test stack."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from typing import Any

import orjson
import pandas as pd
import pytest
from _log_events import ecs_docs, envelope_lines, flat_docs, make_events
from elasticsearch import Elasticsearch, helpers

from tributary_analysis.config import load_settings
from tributary_analysis.errors import AuthenticationError, NotFoundError, QueryError
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.sources.logs.elasticsearch import ElasticsearchLogs
from tributary_analysis.sources.logs.normalize import FieldMap, LogMapping, normalize_records
from tributary_analysis.sources.logs.schema import sort_frame

pytestmark = [pytest.mark.elasticsearch, pytest.mark.timeout(600)]

#: wide enough for any simulated history ending now
START = "2000-01-01T00:00:00Z"
END = (pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=3)).floor("D").isoformat()
DONE = "HTTP request processed"


def es_logs(stack: Any, user: tuple[str, str], **kwargs: Any) -> ElasticsearchLogs:
    """A source whose credentials come from the environment, as users configure it."""
    settings = load_settings(env={"TRIBUTARY_ES_URL": stack.url,
                                  "TRIBUTARY_ES_USERNAME": user[0],
                                  "TRIBUTARY_ES_PASSWORD": user[1]})
    kwargs.setdefault("progress", False)
    return ElasticsearchLogs(settings=settings, **kwargs)


@pytest.fixture(scope="module")
def admin(elasticsearch_stack: Any) -> Any:
    client = Elasticsearch(elasticsearch_stack.url, basic_auth=elasticsearch_stack.admin)
    yield client
    client.close()


@pytest.fixture(scope="module")
def reader(elasticsearch_stack: Any) -> ElasticsearchLogs:
    return es_logs(elasticsearch_stack, elasticsearch_stack.reader)


def _make_index(admin: Elasticsearch, name: str, docs: list[dict[str, Any]],
                mappings: dict[str, Any] | None = None) -> None:
    admin.options(ignore_status=404).indices.delete(index=name)
    admin.indices.create(index=name, mappings=mappings or {},
                         settings={"number_of_shards": 1, "number_of_replicas": 0})
    helpers.bulk(admin, ({"_index": name, "_source": d} for d in docs), refresh=True)


def test_export_returns_exactly_the_simulated_requests(reader: ElasticsearchLogs,
                                                       sim: Any) -> None:
    df = reader.search(START, END, fields=["timestamp", "event", "request_id", "tenant_id"])
    done = df[df["event"] == DONE]
    assert not done["request_id"].duplicated().any()
    assert set(done["request_id"]) == set(sim.requests["request_id"].astype(str))
    assert df["timestamp"].is_monotonic_increasing
    assert meta_of(df).details["pit"] is True and meta_of(df).warnings == ()
    assert meta_of(df).details["total_hits"] == len(df)


def test_export_is_a_snapshot_while_documents_are_indexed(
        elasticsearch_stack: Any, admin: Elasticsearch, sim: Any) -> None:
    src = es_logs(elasticsearch_stack, elasticsearch_stack.reader, page_size=500)
    before = src.count(START, END)
    index = sorted(admin.indices.get(index=elasticsearch_stack.index_pattern))[0]
    day = index.rsplit("-", 1)[-1].replace(".", "-")
    ts = pd.Timestamp(f"{day}T12:00:00Z")  # inside that daily index and the window
    stop, added = threading.Event(), []

    def write() -> None:
        i = 0
        while not stop.is_set():
            docs = [{"_index": index, "_id": f"concurrent-{i + j}",
                     "_source": {"@timestamp": (ts + pd.Timedelta(seconds=j)).isoformat(),
                                 "timestamp": ts.isoformat(), "message": DONE,
                                 "request_id": f"concurrent-{i + j}", "status_code": 200,
                                 "duration": 0.01, "tenant_id": "concurrent"}}
                    for j in range(50)]
            helpers.bulk(admin, docs, refresh=True)
            added.extend(d["_id"] for d in docs)
            i += 50
            time.sleep(0.05)

    thread = threading.Thread(target=write, daemon=True)
    seen: list[pd.DataFrame] = []
    try:
        for n, batch in enumerate(src.iter_batches(START, END, fields=["request_id", "event"],
                                                   batch_size=500)):
            seen.append(batch)
            if n == 0:
                thread.start()
                while not added:  # documents exist before the export goes on
                    time.sleep(0.01)
    finally:
        stop.set()
        thread.join(timeout=60)
    try:
        exported = pd.concat(seen, ignore_index=True)
        assert len(added) >= 50
        assert len(exported) == before
        assert not exported["request_id"].astype(str).str.startswith("concurrent-").any()
        done = exported[exported["event"] == DONE]
        assert set(done["request_id"]) == set(sim.requests["request_id"].astype(str))
        assert not done["request_id"].duplicated().any()
        assert src.count(START, END) == before + len(added)  # they were there to be seen
    finally:
        helpers.bulk(admin, ({"_op_type": "delete", "_index": index, "_id": i} for i in added),
                     refresh=True, raise_on_error=False)
    assert src.count(START, END) == before


def test_read_only_user_summarizes_and_ranks_errors(reader: ElasticsearchLogs,
                                                    sim: Any) -> None:
    s = reader.summary(START, END, interval="1h", by=["tenant_id"])
    truth = sim.requests
    assert s["requests"].sum() == len(truth)
    # health probes carry no tenant in the logs (null group); the metrics call it "unknown"
    per_tenant = s.groupby("tenant_id", observed=True)["requests"].sum().to_dict()
    want = truth["tenant_id"].astype(str).value_counts().to_dict()
    assert s.loc[s["tenant_id"].isna(), "requests"].sum() == want.pop("unknown", 0)
    assert per_tenant == want
    assert meta_of(s).details["percentiles"].startswith("approximate")
    assert (s["latency_p50_s"] <= s["latency_p99_s"] + 1e-12).all()
    top = reader.top_errors(START, END, k=5)
    assert list(top.columns) == ["error_type", "error_code", "message", "count"]
    assert len(top) <= 5 and top["count"].is_monotonic_decreasing


def test_wrong_credentials_are_a_clear_error(elasticsearch_stack: Any) -> None:
    src = es_logs(elasticsearch_stack, (elasticsearch_stack.reader[0], "wrong-password"))
    with pytest.raises(AuthenticationError,
                       match=r"refused the credentials \(401\).*check TRIBUTARY_ES_USERNAME/"
                             r"TRIBUTARY_ES_PASSWORD"):
        src.search(START, END)


def test_forbidden_index_names_the_privilege(elasticsearch_stack: Any,
                                             admin: Elasticsearch) -> None:
    _make_index(admin, "tributary-private", flat_docs(make_events(5)))
    try:
        src = es_logs(elasticsearch_stack, elasticsearch_stack.reader, index="tributary-private")
        with pytest.raises(AuthenticationError,
                           match=r"does not allow this user .* \(403\).*'read'"):
            src.count(START, END)
    finally:
        admin.indices.delete(index="tributary-private")


@pytest.mark.parametrize("index", ["tributary-logs-1999.01.01", "tributary-logs-nothing-*"])
def test_missing_index_names_the_pattern(elasticsearch_stack: Any, index: str) -> None:
    src = es_logs(elasticsearch_stack, elasticsearch_stack.reader, index=index)
    with pytest.raises(NotFoundError, match=r"no Elasticsearch index matches '"
                                            + index.replace("*", r"\*").replace(".", r"\.")):
        src.search(START, END)


def test_summary_by_an_unmapped_field_is_a_clear_error(elasticsearch_stack: Any) -> None:
    mapping = LogMapping(flat=dataclasses.replace(FieldMap(), search_type=("no_such_field",)))
    src = es_logs(elasticsearch_stack, elasticsearch_stack.reader, mapping=mapping)
    with pytest.raises(NotFoundError, match=r"cannot summarize by search_type: none of the "
                                            r"fields \['no_such_field'\]"):
        src.summary(START, END, by=["search_type"])


def test_conflicting_mappings_and_shard_failures_reach_attrs(
        elasticsearch_stack: Any, admin: Elasticsearch,
        caplog: pytest.LogCaptureFixture) -> None:
    docs = flat_docs(make_events(60, seed=9))
    kw = {"type": "keyword"}
    _make_index(admin, "tributary-conflict-a", docs[: len(docs) // 2], {"properties": {
        "@timestamp": {"type": "date"}, "endpoint": kw, "tenant_id": kw, "status_code":
        {"type": "integer"}, "duration": {"type": "double"}}})
    _make_index(admin, "tributary-conflict-b", docs[len(docs) // 2:], {"properties": {
        "@timestamp": {"type": "date"}, "endpoint": {"type": "text"}, "tenant_id": kw,
        "status_code": {"type": "integer"}, "duration": {"type": "double"}}})
    try:
        src = es_logs(elasticsearch_stack, elasticsearch_stack.admin,
                      index="tributary-conflict-*")
        with caplog.at_level(logging.WARNING):
            s = src.summary("2025-03-01", "2025-03-02", by=["endpoint"])
        sm = meta_of(s)
        warnings = sm.warnings
        assert any("field 'endpoint' has conflicting mappings" in w and "text" in w
                   for w in warnings)
        assert any("1 of 2 shards failed" in w and "partial" in w for w in warnings)
        assert sm.partial is True and sm.shards is not None and sm.shards.failed == 1
        assert any("shards failed" in r.getMessage() for r in caplog.records)
        assert 0 < s["requests"].sum() < sum(1 for d in docs if "status_code" in d)
    finally:
        admin.indices.delete(index="tributary-conflict-a,tributary-conflict-b")


def test_ecs_and_envelope_indices_give_the_flat_frame(elasticsearch_stack: Any,
                                                      admin: Elasticsearch) -> None:
    events = make_events(200, seed=4)
    want = sort_frame(normalize_records(flat_docs(events)))
    envelopes = [orjson.loads(line) for line in envelope_lines(events)]
    for name, docs in (("tributary-shape-ecs", ecs_docs(events, nested=True)),
                       ("tributary-shape-env", envelopes)):
        mappings = {"properties": {"@timestamp": {"type": "date"}}}
        if name.endswith("env"):
            for d in docs:
                d["@timestamp"] = orjson.loads(d["message"])["timestamp"] + "Z"
        _make_index(admin, name, docs, mappings)
    try:
        ecs = es_logs(elasticsearch_stack, elasticsearch_stack.admin,
                      index="tributary-shape-ecs")
        env = es_logs(elasticsearch_stack, elasticsearch_stack.admin,
                      index="tributary-shape-env")
        assert (ecs.resolved_shape(), env.resolved_shape()) == ("ecs", "envelope")
        for src in (ecs, env):
            got = sort_frame(src.search("2025-03-01", "2025-03-02"))
            got.attrs, want.attrs = {}, {}
            pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9,
                                          check_categorical=False)
        s = ecs.summary("2025-03-01", "2025-03-02", by=["tenant_id"], interval="1d")
        assert s["requests"].sum() == sum(1 for e in events if e["message"] == DONE)
        with pytest.raises(QueryError, match=r"undecoded envelopes"):
            env.summary("2025-03-01", "2025-03-02")
    finally:
        admin.indices.delete(index="tributary-shape-ecs,tributary-shape-env")


def test_timed_out_partial_results_reach_attrs(reader: ElasticsearchLogs,
                                               caplog: pytest.LogCaptureFixture) -> None:
    """``timed_out`` cannot be produced on demand: the node checks its timeout against a
    clock cached every ~200 ms, so a small query finishes first (measured: 1 ns timeouts
    time out only the first, cold query). This feeds the response shape Elasticsearch
    documents for a timed-out search through the same check every request goes through."""
    attrs: dict[str, Any] = {"warnings": []}
    body = {"timed_out": True, "_shards": {"total": 2, "successful": 2, "skipped": 0,
                                           "failed": 0}}
    with caplog.at_level(logging.WARNING):
        reader.check_partial(body, attrs, "summarize")
    assert attrs["partial"] is True
    assert attrs["warnings"] == ["Elasticsearch timed out during summarize: results are partial"]
    assert any("timed out" in r.getMessage() for r in caplog.records)


def test_frames_carry_frame_meta(reader: ElasticsearchLogs, elasticsearch_stack: Any,
                                 sim: Any) -> None:
    from tributary_analysis.frames.meta import Shards
    from tributary_analysis.ground.time import Window

    df = reader.search(START, END, fields=["timestamp", "tenant_id"])
    meta = meta_of(df)
    assert meta.source == "elasticsearch"
    assert meta.location == f"{elasticsearch_stack.url} index {reader.index}"
    assert "@" not in meta.location and elasticsearch_stack.reader[1] not in str(meta)
    assert meta.window == Window.of(START, END)
    assert meta.queries[0].startswith(f"GET {reader.index}/_search query=")
    assert isinstance(meta.shards, Shards) and meta.shards.total > 0
    assert meta.shards.failed == 0 and not meta.partial and meta.warnings == ()
    assert meta.requests >= 3  # open the PIT, at least one page per slice
    assert meta.details["total_hits"] == len(df) and meta.details["pit"] is True
    assert any("point in time" in n for n in meta.notes)
    assert list(df.attrs) == ["meta"]
    s = reader.summary(START, END, interval="1h30m", by=["tenant_id"])
    sm = meta_of(s)
    assert sm.step == pd.Timedelta("90m") and sm.details["interval"] == "90m"
    assert any("approximate (Elasticsearch TDigest)" in n for n in sm.notes)
    assert '"composite"' in sm.queries[0] and '"fixed_interval":"90m"' in sm.queries[0]
    assert s["requests"].sum() == len(sim.requests)
    top = reader.top_errors(START, END, k=3)
    assert meta_of(top).source == "elasticsearch" and meta_of(top).requests >= 1


def test_shard_failures_reach_frame_meta(elasticsearch_stack: Any,
                                         admin: Elasticsearch) -> None:
    from tributary_analysis.frames.meta import meta_of, reader_notes

    docs = flat_docs(make_events(40, seed=19))
    kw = {"type": "keyword"}
    _make_index(admin, "tributary-meta-a", docs[:20], {"properties": {
        "@timestamp": {"type": "date"}, "endpoint": kw, "status_code": {"type": "integer"},
        "duration": {"type": "double"}}})
    _make_index(admin, "tributary-meta-b", docs[20:], {"properties": {
        "@timestamp": {"type": "date"}, "endpoint": {"type": "text"},
        "status_code": {"type": "integer"}, "duration": {"type": "double"}}})
    try:
        src = es_logs(elasticsearch_stack, elasticsearch_stack.admin,
                      index="tributary-meta-*")
        s = src.summary("2025-03-01", "2025-03-02", by=["endpoint"])
        meta = meta_of(s)
        assert meta.partial is True and meta.shards is not None and meta.shards.failed == 1
        notes = reader_notes(s)
        assert any("1 of 2 shards failed during summarize" in n for n in notes)
        assert any(n.startswith("partial response from elasticsearch") for n in notes)
    finally:
        admin.indices.delete(index="tributary-meta-a,tributary-meta-b")


def test_structlog_epoch_seconds_in_an_index(elasticsearch_stack: Any,
                                             admin: Elasticsearch) -> None:
    """Documents shipped from structlog keep its float UNIX-seconds ``timestamp``."""
    when = pd.date_range("2025-03-01T10:00:00.5Z", periods=5, freq="7min")
    docs = [{"@timestamp": t.isoformat(), "timestamp": t.value / 1e9, "event": "m",
             "level": "info", "request_id": f"s{i}", "status_code": 200, "duration": 0.1}
            for i, t in enumerate(when)]
    _make_index(admin, "tributary-structlog", docs,
                {"properties": {"@timestamp": {"type": "date"}}})
    try:
        src = es_logs(elasticsearch_stack, elasticsearch_stack.admin,
                      index="tributary-structlog")
        got = src.search("2025-03-01", "2025-03-02")
        assert (got["timestamp"].dt.floor("ms") == pd.Series(when)).all()
        assert meta_of(got).details["problems"]["counts"] == {}
    finally:
        admin.indices.delete(index="tributary-structlog")


def test_cli_says_which_tenant_matched_nothing(elasticsearch_stack: Any, sim: Any,
                                               monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from tributary_analysis.cli import main

    monkeypatch.setenv("TRIBUTARY_ES_URL", elasticsearch_stack.url)
    monkeypatch.setenv("TRIBUTARY_ES_USERNAME", elasticsearch_stack.reader[0])
    monkeypatch.setenv("TRIBUTARY_ES_PASSWORD", elasticsearch_stack.reader[1])
    monkeypatch.delenv("TRIBUTARY_LOG_FILES", raising=False)
    real = sim.requests["tenant_id"].astype(str)
    tenant = real[real != "unknown"].value_counts().index[0]
    typo = tenant[:-1] + ("x" if tenant[-1] != "x" else "y")
    assert main(["logs", "summary", "--source", "es", "--start", START, "--end", END,
                 "--tenant", tenant, "--tenant", typo]) == 0
    err = capsys.readouterr().err
    assert f"warning: tenant {typo!r} matched no events in" in err
    assert f"closest known tenant ids: {tenant!r}" in err
    assert f"tenant {tenant!r} matched" not in err
    assert "percentiles: approximate (Elasticsearch TDigest" in err
