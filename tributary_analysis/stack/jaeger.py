"""A real Jaeger v2 (2.13, built from its Go module) on loopback, in-memory, stopped by PID.

With no configuration Jaeger v2 runs its all-in-one and its query server listens on *all
interfaces* (``*:16686``, ``*:16685``). Here it always gets a written configuration in which
every listener it opens is bound to 127.0.0.1 on a port chosen free: the OTLP receivers
(gRPC, HTTP), the query server (HTTP with the UI and ``/api/v3``, gRPC), the health check
and the collector's own metrics. Nothing else is enabled (no Jaeger/Zipkin receivers, no
zpages, pprof, expvar or remote sampling), and the storage is in memory.

API for the rest of the suite::

    server = jaeger.start(work_dir)          # builds once if needed, waits until ready
    server.otlp_traces_url                   # POST OTLP/HTTP here (…/v1/traces)
    server.query_url                         # GET /api/v3/traces, /api/v3/services
    jaeger.stop(server)                      # by PID, after checking it is still ours
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tributary_analysis.errors import StackError
from tributary_analysis.stack import gobuild, procs

Echo = Callable[[str], None]
MARKER = "--config="
#: in-memory storage limit (traces, not spans): the oldest are dropped beyond it
DEFAULT_MAX_TRACES = 500_000


@dataclass(frozen=True)
class JaegerPorts:
    """The loopback ports of one Jaeger instance."""

    otlp_grpc: int
    otlp_http: int
    query_http: int
    query_grpc: int
    health: int
    metrics: int

    @classmethod
    def free(cls) -> JaegerPorts:
        """Six distinct ports that are free on 127.0.0.1 now."""
        seen: set[int] = set()
        while len(seen) < 6:
            seen.add(procs.free_port())
        return cls(*sorted(seen))


@dataclass
class JaegerServer:
    """A started Jaeger: its process, ports and files."""

    process: procs.ProcessRef
    ports: JaegerPorts
    config: Path
    log: Path
    version: str = gobuild.JAEGER.release

    @property
    def otlp_http_url(self) -> str:
        """Base URL of the OTLP/HTTP receiver."""
        return f"http://127.0.0.1:{self.ports.otlp_http}"

    @property
    def otlp_traces_url(self) -> str:
        """Where OTLP/HTTP trace exports are POSTed (protobuf or JSON)."""
        return f"{self.otlp_http_url}/v1/traces"

    @property
    def otlp_grpc_endpoint(self) -> str:
        """``host:port`` of the OTLP/gRPC receiver."""
        return f"127.0.0.1:{self.ports.otlp_grpc}"

    @property
    def query_url(self) -> str:
        """Base URL of the query server (UI, ``/api/v3/...``, ``/api/...``)."""
        return f"http://127.0.0.1:{self.ports.query_http}"

    @property
    def health_url(self) -> str:
        """The health check (``/status``)."""
        return f"http://127.0.0.1:{self.ports.health}/status"

    def to_dict(self) -> dict[str, Any]:
        """The ``jaeger`` section of ``stack.json`` (URLs, ports, PID; no secrets)."""
        return {"url": self.query_url, "otlp_http": self.otlp_http_url,
                "otlp_traces": self.otlp_traces_url, "otlp_grpc": self.otlp_grpc_endpoint,
                "ports": asdict(self.ports), "process": self.process.to_dict(),
                "config": str(self.config), "log": str(self.log), "version": self.version}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JaegerServer:
        return cls(procs.ProcessRef.from_dict(data["process"]), JaegerPorts(**data["ports"]),
                   Path(data["config"]), Path(data["log"]),
                   str(data.get("version", gobuild.JAEGER.release)))


def write_config(path: Path, ports: JaegerPorts, *,
                 max_traces: int = DEFAULT_MAX_TRACES) -> Path:
    """The Jaeger v2 (OpenTelemetry Collector) configuration: loopback listeners only."""
    host = "127.0.0.1"
    config = {
        "service": {
            "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
            "pipelines": {"traces": {"receivers": ["otlp"], "processors": ["batch"],
                                     "exporters": ["jaeger_storage_exporter"]}},
            "telemetry": {
                "resource": {"service.name": "jaeger"},
                "metrics": {"level": "basic", "readers": [{"pull": {"exporter": {
                    "prometheus": {"host": host, "port": ports.metrics}}}}]},
                "logs": {"level": "info"},
            },
        },
        "extensions": {
            "jaeger_storage": {"backends": {"memstore": {"memory": {
                "max_traces": int(max_traces)}}}},
            "jaeger_query": {
                "storage": {"traces": "memstore"},
                "enable_tracing": False,
                "http": {"endpoint": f"{host}:{ports.query_http}"},
                "grpc": {"endpoint": f"{host}:{ports.query_grpc}"},
            },
            "healthcheckv2": {"use_v2": True,
                              "http": {"endpoint": f"{host}:{ports.health}"}},
        },
        "receivers": {"otlp": {"protocols": {
            "grpc": {"endpoint": f"{host}:{ports.otlp_grpc}"},
            "http": {"endpoint": f"{host}:{ports.otlp_http}"},
        }}},
        "processors": {"batch": {}},
        "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    # JSON is YAML: no quoting questions for the collector's config loader
    path.write_text(json.dumps(config, indent=2) + "\n")
    return path


def find_binary(*, echo: Echo | None = None) -> Path:
    """The cached ``jaeger`` binary, built now (with progress) when missing."""
    return gobuild.ensure(gobuild.JAEGER, echo=echo) / "jaeger"


def start(
    work_dir: Path, *, ports: JaegerPorts | None = None, max_traces: int = DEFAULT_MAX_TRACES,
    timeout: float = 120.0, echo: Echo | None = None,
) -> JaegerServer:
    """Start Jaeger with its config and log in ``work_dir``; return once it is healthy.

    Raises
    ------
    StackError
        When a port is taken, the binary cannot be built, or Jaeger does not become healthy
        (with the tail of its log).
    """
    binary = find_binary(echo=echo)
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    ports = ports or JaegerPorts.free()
    for port in asdict(ports).values():
        if not procs.port_is_free(port):
            raise StackError(f"port {port} on 127.0.0.1 is in use; leave the Jaeger ports "
                             "out to pick free ones")
    config = write_config(work_dir / "jaeger.yaml", ports, max_traces=max_traces)
    log = work_dir / "jaeger.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    ref = procs.start_detached([str(binary), f"{MARKER}{config}"], log_path=log,
                               marker=f"{MARKER}{config}", cwd=work_dir, env=env)
    server = JaegerServer(ref, ports, config, log)
    try:
        wait_ready(server, timeout=timeout)
    except StackError:
        procs.stop(ref)
        raise
    return server


def wait_ready(server: JaegerServer, *, timeout: float = 120.0) -> None:
    """Wait until the health check says OK and the query API answers."""
    procs.wait_http(server.health_url, ref=server.process, name="Jaeger", timeout=timeout)
    procs.wait_http(f"{server.query_url}/api/v3/services", ref=server.process,
                    name="Jaeger query", timeout=timeout)


def is_running(server: JaegerServer) -> bool:
    """Whether the recorded process is alive and still this Jaeger."""
    return procs.is_running(server.process)


def stop(server: JaegerServer, *, timeout: float = 30.0) -> bool:
    """Stop Jaeger by PID (SIGTERM, then SIGKILL); False when it was already gone."""
    return procs.stop(server.process, timeout=timeout)
