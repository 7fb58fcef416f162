"""Jaeger v2 as the stack runs it: loopback listeners only, OTLP/HTTP in, query API out, by PID.

Jaeger with no configuration listens on all interfaces (``*:16686``, ``*:16685``); the stack's
configuration binds every listener to 127.0.0.1, checked here from ``/proc`` and with
``ss -ltnp`` as an operator would.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
import requests

from tributary_analysis.stack import jaeger, procs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[jaeger.JaegerServer]:
    srv = jaeger.start(tmp_path_factory.mktemp("jaeger"))
    try:
        yield srv
    finally:
        jaeger.stop(srv)


def test_every_listener_is_on_loopback(server: jaeger.JaegerServer) -> None:
    socks = procs.listening_sockets(server.process.pid)
    ports = {p for _, p in socks}
    assert set(asdict(server.ports).values()) <= ports, (socks, server.ports)
    assert all(procs.is_loopback(addr) for addr, _ in socks), socks
    assert 16686 not in ports and 16685 not in ports
    if shutil.which("ss"):
        out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True,
                             check=True).stdout
        mine = [line for line in out.splitlines() if f"pid={server.process.pid}," in line]
        assert mine
        for line in mine:
            local = line.split()[3]
            assert local.startswith(("127.0.0.1:", "[::1]:", "[::ffff:127.0.0.1]:")), line


def _span(trace_id: str, start_ns: int) -> dict[str, object]:
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name",
                                     "value": {"stringValue": "deeplake-api"}}]},
        "scopeSpans": [{"scope": {"name": "tributary-test"}, "spans": [{
            "traceId": trace_id, "spanId": "00f067aa0ba902b7", "name": "GET /api/v1/search",
            "kind": 2, "startTimeUnixNano": str(start_ns),
            "endTimeUnixNano": str(start_ns + 42_000_000),
            "attributes": [{"key": "tenant.id", "value": {"stringValue": 'acme"; drop'}}],
            "status": {}}]}]}]}


def test_a_span_sent_by_otlp_http_is_read_back_by_the_query_api(
    server: jaeger.JaegerServer,
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    start = time.time_ns() - 60_000_000_000
    resp = requests.post(server.otlp_traces_url, json=_span(trace_id, start), timeout=30)
    assert resp.status_code == 200, resp.text
    deadline = time.monotonic() + 60
    services: list[str] = []
    while time.monotonic() < deadline:
        services = requests.get(f"{server.query_url}/api/v3/services",
                                timeout=10).json().get("services", [])
        if "deeplake-api" in services:
            break
        time.sleep(0.5)
    assert "deeplake-api" in services
    got = requests.get(f"{server.query_url}/api/v3/traces/{trace_id}", timeout=30).json()
    spans = [sp for rs in got["result"]["resourceSpans"] for ss in rs["scopeSpans"]
             for sp in ss["spans"]]
    assert [sp["name"] for sp in spans] == ["GET /api/v1/search"]
    attrs = {a["key"]: a["value"]["stringValue"] for a in spans[0]["attributes"]}
    assert attrs["tenant.id"] == 'acme"; drop'
    assert int(spans[0]["endTimeUnixNano"]) - int(spans[0]["startTimeUnixNano"]) == 42_000_000


def test_config_binds_loopback_only(tmp_path: Path) -> None:
    ports = jaeger.JaegerPorts.free()
    text = jaeger.write_config(tmp_path / "j.yaml", ports).read_text()
    import json

    cfg = json.loads(text)
    endpoints = [
        cfg["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"],
        cfg["receivers"]["otlp"]["protocols"]["http"]["endpoint"],
        cfg["extensions"]["jaeger_query"]["http"]["endpoint"],
        cfg["extensions"]["jaeger_query"]["grpc"]["endpoint"],
        cfg["extensions"]["healthcheckv2"]["http"]["endpoint"],
    ]
    assert all(e.startswith("127.0.0.1:") for e in endpoints)
    reader = cfg["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]
    assert reader["prometheus"]["host"] == "127.0.0.1"
    assert "0.0.0.0" not in text and "localhost" not in text


def test_stop_is_by_pid_and_frees_the_ports(tmp_path: Path) -> None:
    srv = jaeger.start(tmp_path / "j2")
    assert jaeger.is_running(srv)
    assert jaeger.stop(srv)
    assert not jaeger.is_running(srv)
    # nothing listens on its ports any more (TIME_WAIT from our own requests may remain)
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    listening = {int(line.split()[3].rsplit(":", 1)[1]) for line in out.splitlines()}
    assert not listening & set(asdict(srv.ports).values())
    assert jaeger.stop(srv) is False  # already gone: nothing else is signalled
