"""The local stack against real servers: processes, Prometheus round trip, Elasticsearch.

Truth comes from the simulator (``sim.requests``, ``incidents.json``) or from data written
here; every assertion compares a server's answer with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tributary_analysis.errors import AuthenticationError, DataError, StackError
from tributary_analysis.stack import es_logs, procs, prometheus

# ---------------------------------------------------------------- processes by PID


def test_free_port_is_bindable() -> None:
    port = procs.free_port()
    assert 1024 < port < 65536
    assert procs.port_is_free(port)


def test_start_and_stop_by_pid_leaves_nothing(tmp_path: Path) -> None:
    ref = procs.start_detached([sys.executable, "-c", "import time; time.sleep(300)",
                                "tributary-test-marker"],
                               log_path=tmp_path / "sleep.log", marker="tributary-test-marker")
    assert procs.is_running(ref)
    assert os.getsid(ref.pid) == ref.pid  # own session: a terminal's Ctrl-C does not reach it
    assert procs.stop(ref, timeout=5) is True
    assert not Path(f"/proc/{ref.pid}").exists()
    assert procs.stop(ref) is False  # already gone: nothing signalled


def test_stop_refuses_a_pid_that_is_not_ours(tmp_path: Path) -> None:
    ref = procs.start_detached([sys.executable, "-c", "import time; time.sleep(300)"],
                               log_path=tmp_path / "x.log", marker="time.sleep")
    try:
        wrong_marker = procs.ProcessRef(ref.pid, "prometheus", ref.starttime, ref.log)
        recycled = procs.ProcessRef(ref.pid, ref.marker, ref.starttime + 1, ref.log)
        assert procs.stop(wrong_marker) is False
        assert procs.stop(recycled) is False
        assert procs.is_running(ref)
    finally:
        procs.stop(ref)
    assert not procs.is_running(ref)


def test_wait_http_reports_the_log_tail_when_the_server_dies(tmp_path: Path) -> None:
    ref = procs.start_detached(
        [sys.executable, "-c", "import sys,time; print('boom: bad flag'); sys.stdout.flush();"
         " time.sleep(0.5)"], log_path=tmp_path / "die.log", marker="boom")
    with pytest.raises(StackError, match=r"exited before it answered(.|\n)*boom: bad flag"):
        procs.wait_http(f"http://127.0.0.1:{procs.free_port()}/", ref=ref, name="Fake",
                        timeout=20)
    procs.stop(ref)


# ---------------------------------------------------------------- Prometheus, tiny truth


def _write_om(path: Path, name: str, kind: str, values: list[tuple[int, float]],
              labels: str) -> None:
    lines = [f"# HELP {name} test", f"# TYPE {name} {kind}"]
    sample = f"{name}_total" if kind == "counter" else name
    lines += [f"{sample}{{{labels}}} {v} {t}" for t, v in values]
    path.write_text("\n".join(lines) + "\n# EOF\n")


def test_prometheus_backfill_two_parts_start_query_stop(tmp_path: Path) -> None:
    end = int(time.time()) // 60 * 60 - 600
    times = list(range(end - 3 * 3600, end + 1, 15))
    _write_om(tmp_path / "a.om", "http_requests", "counter",
              [(t, 3.0 * i) for i, t in enumerate(times)],
              'job="deeplake-api",instance="a",tenant_id="t\\"x"')
    _write_om(tmp_path / "b.om", "memory_usage_bytes", "gauge",
              [(t, 1e6 + i) for i, t in enumerate(times)],
              'job="deeplake-api",instance="a",memory_type="rss"')
    tsdb = tmp_path / "tsdb"
    tsdb.mkdir()
    report = prometheus.backfill([tmp_path / "a.om", tmp_path / "b.om"], tsdb)
    assert report.parts == 2 and report.blocks >= 2
    port = procs.free_port()
    config = prometheus.write_config(tmp_path / "prometheus.yml", port=port,
                                     scrape_interval_s=1)
    ref = prometheus.start(tsdb, port=port, retention="30d", config=config,
                           log_path=tmp_path / "prom.log")
    try:
        url = f"http://127.0.0.1:{port}/api/v1/query"
        # raw samples over the window: last - first = 3 per 15 s step, exactly
        q = f'http_requests_total{{tenant_id="t\\"x"}}[{len(times) * 15}s]'
        res = requests.get(url, params={"query": q, "time": str(end)}).json()["data"]["result"]
        values = [float(v) for _, v in res[0]["values"]]
        assert values[-1] - values[0] == 3.0 * (len(values) - 1)
        assert len(values) == len(times)
        res = requests.get(url, params={"query": "memory_usage_bytes", "time": str(end)}).json()
        assert float(res["data"]["result"][0]["value"][1]) == 1e6 + len(times) - 1
        # Prometheus scrapes itself (job "prometheus")
        deadline = time.monotonic() + 40
        up: list[Any] = []
        while time.monotonic() < deadline and not up:
            up = requests.get(url, params={"query": 'up{job="prometheus"} == 1'}).json()[
                "data"]["result"]
            time.sleep(1)
        assert up, "Prometheus did not scrape itself"
    finally:
        assert procs.stop(ref)
    assert not procs.is_running(ref)
    assert not Path(f"/proc/{ref.pid}").exists()


def test_backfill_names_the_bad_part(tmp_path: Path) -> None:
    bad = tmp_path / "bad.om"
    bad.write_text("this is not openmetrics\n")
    with pytest.raises(StackError, match=r"promtool could not backfill .*bad\.om"):
        prometheus.backfill([bad], tmp_path / "tsdb")
    with pytest.raises(StackError, match=r"missing\.om does not exist"):
        prometheus.backfill([tmp_path / "missing.om"], tmp_path / "tsdb")


def test_prometheus_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(StackError, match=f"port {port} .* in use"):
            prometheus.start(tmp_path, port=port, retention="1d",
                             config=tmp_path / "p.yml", log_path=tmp_path / "p.log")


# ---------------------------------------------------------------- log envelope → document


def _envelope(**inner: Any) -> str:
    return json.dumps({"asctime": "2025-01-01 00:00:00,000", "name": "deeplake-api",
                       "levelname": inner.get("level", "INFO"), "message": json.dumps(inner),
                       "pathname": "/app/app/monitoring/logging.py", "lineno": 42})


def test_envelope_becomes_a_flat_document() -> None:
    line = _envelope(timestamp="2025-03-04T23:59:59.123456", service="deeplake-api",
                     level="INFO", message="Search operation completed",
                     environment="production", search_type="vector",
                     dataset_id="ds-1", tenant_id='acme"; DROP', duration=0.25,
                     results_count=10, query_params={"k": 10, "filter": None},
                     path="/api/v1/datasets/ds-1/vectors/v-9")
    doc_id, index, doc = es_logs.envelope_to_doc(line)
    assert index == "tributary-logs-2025.03.04"
    assert doc["@timestamp"] == "2025-03-04T23:59:59.123456Z"
    assert doc["timestamp"] == "2025-03-04T23:59:59.123456"
    assert doc["endpoint"] == "/api/v1/datasets/{id}/vectors/{id}"
    assert doc["log"] == {"logger": "deeplake-api"}
    assert doc["query_params"] == '{"filter":null,"k":10}'
    assert doc["tenant_id"] == 'acme"; DROP' and doc["message"] == "Search operation completed"
    assert doc_id == es_logs.envelope_to_doc(line + "\n")[0]  # deterministic, newline-proof
    assert len(doc_id) == 40


def test_envelope_with_offset_goes_to_the_utc_day() -> None:
    _, index, doc = es_logs.envelope_to_doc(_envelope(timestamp="2025-03-04T23:30:00-02:00"))
    assert index == "tributary-logs-2025.03.05"
    assert doc["@timestamp"] == "2025-03-05T01:30:00.000000Z"
    assert "endpoint" not in doc


@pytest.mark.parametrize("line", ["not json", '{"message": "plain text"}', '["a"]',
                                  json.dumps({"name": "x", "message": json.dumps({"a": 1})})])
def test_malformed_envelopes_are_data_errors(line: str) -> None:
    with pytest.raises(DataError, match="not a service log envelope"):
        es_logs.envelope_to_doc(line)


def test_batch_timestamps_mean_what_parse_time_says() -> None:
    """The loader parses a batch's times at once; every line gets parse_time's instant."""
    from tributary_analysis.ground.time import parse_time

    stamps = ["2025-03-04T23:59:59.123456", "2025-03-04T23:30:00-02:00",
              "2025-03-04T10:00:00Z", "2025-03-04 10:00:00.5", "2025-03-04",
              "1741082400", "1741082400.25", " 2025-03-04T10:00:00+01:00 ",
              "2025-03-04T10:00:00.123456789", "9999-12-31T00:00:00"]
    lines = [_envelope(timestamp=t, level="INFO") for t in stamps]
    got = es_logs.envelopes_or_errors([*lines, "garbage", _envelope(timestamp="yesterday")])
    for text, item in zip(stamps, got, strict=False):
        assert not isinstance(item, DataError), (text, item)
        want = parse_time(text, name="t")
        assert item[2]["@timestamp"] == want.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), text
        assert item[1] == f"tributary-logs-{want:%Y.%m.%d}"
        assert item == es_logs.envelope_to_doc(lines[stamps.index(text)])
    assert [type(x) for x in got[-2:]] == [DataError, DataError]
    assert "not a time" in str(got[-1]) and "JSONDecodeError" in str(got[-2])


# ---------------------------------------------------------------- Elasticsearch (real)




@pytest.fixture(scope="module")
def es_truth(elasticsearch_stack: Any, sim_dir: Path) -> dict[str, Any]:
    """Counts computed from the log files themselves, independent of Elasticsearch."""
    from collections import Counter

    from tributary_analysis.stack import demo

    files = [Path(p) for p in demo.read_manifest(sim_dir)["files"]["logs"]]
    lines = [ln for f in files for ln in f.read_bytes().splitlines() if ln.strip()]
    tenants: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    for ln in lines:
        inner = json.loads(json.loads(ln)["message"])
        if inner.get("tenant_id") is not None:
            tenants[str(inner["tenant_id"])] += 1
        if inner.get("status_code") is not None:
            statuses[int(inner["status_code"])] += 1
    return {"files": files, "lines": lines, "tenants": tenants, "statuses": statuses}


@pytest.mark.elasticsearch
def test_loaded_doc_count_equals_log_lines(elasticsearch_stack: Any,
                                           es_truth: dict[str, Any]) -> None:
    from elasticsearch import Elasticsearch

    n = len(es_truth["lines"])
    assert n > 0
    load = elasticsearch_stack.load
    assert (load.lines, load.created, load.failed, load.malformed) == (n, n, 0, 0)
    with Elasticsearch(elasticsearch_stack.url, basic_auth=elasticsearch_stack.reader) as es:
        assert es.count(index=elasticsearch_stack.index_pattern)["count"] == n
        indices = es.indices.get(index=elasticsearch_stack.index_pattern)
        assert set(indices) == load.indices
        assert all(name.startswith("tributary-logs-20") for name in indices)


@pytest.mark.elasticsearch
def test_reader_can_search_and_aggregate(elasticsearch_stack: Any,
                                         es_truth: dict[str, Any]) -> None:
    from elasticsearch import Elasticsearch

    with Elasticsearch(elasticsearch_stack.url, basic_auth=elasticsearch_stack.reader) as es:
        res = es.search(index=elasticsearch_stack.index_pattern, size=0, aggs={
            "tenants": {"terms": {"field": "tenant_id", "size": 1000}},
            "status": {"terms": {"field": "status_code", "size": 100}},
            "p95": {"percentiles": {"field": "duration", "percents": [95]}},
        })
        tenants = {b["key"]: b["doc_count"] for b in res["aggregations"]["tenants"]["buckets"]}
        status = {b["key"]: b["doc_count"] for b in res["aggregations"]["status"]["buckets"]}
        assert tenants == dict(es_truth["tenants"])
        assert status == dict(es_truth["statuses"])
        hit = es.search(index=elasticsearch_stack.index_pattern, size=1,
                        query={"exists": {"field": "path"}})["hits"]["hits"][0]["_source"]
        assert {"@timestamp", "endpoint", "log", "timestamp", "level"} <= set(hit)
        assert es.cluster.health()["status"] in {"green", "yellow"}
        pit = es.open_point_in_time(index=elasticsearch_stack.index_pattern, keep_alive="1m")
        es.close_point_in_time(id=pit["id"])


@pytest.mark.elasticsearch
def test_reader_is_refused_on_index_and_delete(elasticsearch_stack: Any) -> None:
    from elasticsearch import AuthorizationException, Elasticsearch

    with Elasticsearch(elasticsearch_stack.url, basic_auth=elasticsearch_stack.reader) as es:
        name = sorted(es.indices.get(index=elasticsearch_stack.index_pattern))[0]
        before = es.count(index=name)["count"]
        with pytest.raises(AuthorizationException) as info:
            es.index(index=name, document={"message": "should not be written"})
        assert info.value.meta.status == 403
        some_id = es.search(index=name, size=1)["hits"]["hits"][0]["_id"]
        with pytest.raises(AuthorizationException):
            es.delete(index=name, id=some_id)
        with pytest.raises(AuthorizationException):
            es.options(ignore_status=()).indices.delete(index=name)
        assert es.count(index=name)["count"] == before


@pytest.mark.elasticsearch
def test_wrong_credentials_give_a_clear_error(elasticsearch_stack: Any,
                                              es_truth: dict[str, Any]) -> None:
    from elasticsearch import Elasticsearch

    url = elasticsearch_stack.url
    files = es_truth["files"][:1]
    with Elasticsearch(url, basic_auth=(elasticsearch_stack.reader[0], "wrong")) as es, \
            pytest.raises(AuthenticationError, match=r"rejected the loader's credentials "
                          r"\(HTTP 401\).*admin user") as info:
        es_logs.load_logs(es, files)
    assert info.value.url == url and info.value.status == 401
    with Elasticsearch(url, basic_auth=elasticsearch_stack.reader) as es, \
            pytest.raises(AuthenticationError, match=r"\(HTTP 403\)"):
        es_logs.load_logs(es, files)


@pytest.mark.elasticsearch
def test_reloading_is_idempotent(elasticsearch_stack: Any, es_truth: dict[str, Any],
                                 tmp_path: Path) -> None:
    from elasticsearch import Elasticsearch

    part = tmp_path / "part.jsonl"
    part.write_bytes(b"\n".join(es_truth["lines"][:500]) + b"\n")
    with Elasticsearch(elasticsearch_stack.url, basic_auth=elasticsearch_stack.admin) as es:
        report = es_logs.load_logs(es, [part])
        assert (report.created, report.updated, report.failed) == (0, 500, 0)
        assert es.count(index=elasticsearch_stack.index_pattern)["count"] == len(
            es_truth["lines"])


# ---------------------------------------------------------------- fast loader, no server


def test_bulk_bodies_are_ndjson_chunks_with_ids_and_counted_bad_lines(tmp_path: Path) -> None:
    lines = [_envelope(timestamp=f"2025-03-04T10:00:{i % 60:02d}.{i:06d}", level="INFO",
                       path=f"/api/v1/datasets/d{i}/search", status_code=200)
             for i in range(300)]
    log = tmp_path / "a.jsonl"
    log.write_text("\n".join([*lines[:150], "garbage", "", *lines[150:]]) + "\n")
    report = es_logs.LoadReport()
    chunks = list(es_logs._chunks([log], report, max_bytes=20_000))
    assert len(chunks) > 3
    assert (report.lines, report.malformed) == (301, 1)
    assert "a.jsonl:151" in report.errors[0]
    assert sum(c.bytes_read for c in chunks) == log.stat().st_size
    ids = []
    for chunk in chunks:
        rows = chunk.body.splitlines()
        assert len(rows) == 2 * len(chunk.keys) and chunk.body.endswith(b"\n")
        assert len(chunk.body) < 20_000 + 2_000  # a chunk ends at the first doc past the size
        for (index, doc_id), action, doc in zip(chunk.keys, rows[::2], rows[1::2], strict=True):
            assert json.loads(action) == {"index": {"_index": index, "_id": doc_id}}
            assert json.loads(doc)["endpoint"] == "/api/v1/datasets/{id}/search"
            ids.append(doc_id)
    assert ids == [es_logs.envelope_to_doc(ln)[0] for ln in lines]


def test_metric_parts_are_complete_only_once_listed(tmp_path: Path, sim: Any) -> None:
    """promtool may start only when the simulator has published ``parts.json``."""
    from tributary_analysis.stack import demo

    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "part-000.om").write_bytes(b"# TYPE x gauge\nx 1 1\n# EOF\n")
    assert demo.metric_parts_complete(metrics) is None  # still being written: no listing
    (metrics / "parts.json.tmp").write_text('{"parts": ["part-000.om"]}')
    assert demo.metric_parts_complete(metrics) is None  # listing not yet renamed into place
    # the real simulator's listing names exactly the manifest's parts
    real = demo.metric_parts_complete(sim.out_dir / "metrics")
    assert real is not None
    assert [p.resolve() for p in real] == [
        (sim.out_dir / p).resolve() for p in sim.manifest["files"]["metrics"]]


def test_scratch_dir_only_with_enough_memory(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from tributary_analysis.stack import demo

    monkeypatch.setattr(demo, "SCRATCH_MIN_AVAILABLE", 1 << 62)
    assert demo.scratch_metrics_dir(tmp_path) is None
    monkeypatch.setattr(demo, "SCRATCH_MIN_AVAILABLE", 1)
    scratch = demo.scratch_metrics_dir(tmp_path)
    if Path("/dev/shm").is_dir():
        assert scratch is not None and scratch.parent == Path("/dev/shm")
        assert scratch == demo.scratch_metrics_dir(tmp_path)  # stable per data dir


# ---------------------------------------------------------------- Prometheus 3 config
@pytest.mark.parametrize("version", ["2", "3"])
def test_written_configs_pass_promtool_of_the_same_version(tmp_path: Path, version: str) -> None:
    """The live-demo config (seed job per replica, seed rules, NHCB, OOO, retention)."""
    from tributary_analysis.promql.rules import seed_rules_path

    config = prometheus.write_config(
        tmp_path / "prometheus.yml", port=9999, version=version,
        scrape_targets=[("127.0.0.1:1234", {"instance": "deeplake-api-0:9090"}),
                        ("127.0.0.1:1235", {"instance": 'odd "name"'})],
        rule_files=[seed_rules_path()], out_of_order_window="200h", nhcb=True,
        retention="40d" if version == "3" else None)
    text = config.read_text()
    proc = subprocess.run([prometheus.find_binary("promtool", version), "check", "config",
                           str(config)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr + text
    if version == "3":
        assert "out_of_order_time_window: 200h" in text and "time: 40d" in text
        assert "convert_classic_histograms_to_nhcb: true" in text
        assert "always_scrape_classic_histograms: true" in text
    else:  # 2.42 knows none of these: they are left out
        assert "out_of_order" not in text and "nhcb" not in text


def test_unknown_prometheus_version_is_refused_with_the_choices() -> None:
    with pytest.raises(StackError, match=r"use 2 .* or 3"):
        prometheus.check_version("4")
    assert prometheus.check_version("3.16") == "3" and prometheus.check_version("2") == "2"
