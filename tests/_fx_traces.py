"""Session fixtures: trace fixtures: simulated spans, a loaded Jaeger (owned by the traces area).

Star-imported by ``conftest.py`` so every test module shares them.

- ``trace_files``: the OTLP JSON files the session's ``sim`` wrote (``traces/*.jsonl``).
- ``jaeger_traces``: a real Jaeger v2 (``tributary_analysis.stack.jaeger``: built once and
  cached, every listener on 127.0.0.1, in memory) holding ``sim``'s spans, loaded through
  :func:`tributary_analysis.demo.otlp.load_otlp`; ``.url`` (query server), ``.server``,
  ``.load`` (the load report). It is ready when Jaeger's own exporter counter says every
  loaded span was stored. Stopped by PID at the end of the session.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

__all__ = ["JaegerTracesStack", "jaeger_traces", "trace_files"]

_SENT = re.compile(r'^otelcol_exporter_sent_spans_total\{[^}]*jaeger_storage_exporter[^}]*\}'
                   r' (\d+(?:\.\d+)?)', re.M)


@pytest.fixture(scope="session")
def trace_files(sim: Any) -> list[Path]:
    """The session simulation's OTLP trace files."""
    files = [sim.out_dir / p for p in sim.manifest["files"]["traces"]]
    assert files and all(f.is_file() for f in files)
    return files


@dataclass
class JaegerTracesStack:
    """A running Jaeger holding the simulated spans."""

    url: str
    server: Any
    load: Any


def _stored(server: Any) -> int:
    text = requests.get(f"http://127.0.0.1:{server.ports.metrics}/metrics", timeout=10).text
    m = _SENT.search(text)
    return int(float(m.group(1))) if m else 0


@pytest.fixture(scope="session")
def jaeger_traces(trace_files: list[Path], tmp_path_factory: pytest.TempPathFactory
                  ) -> Iterator[JaegerTracesStack]:
    from tributary_analysis.demo.otlp import load_otlp
    from tributary_analysis.stack import jaeger

    server = jaeger.start(tmp_path_factory.mktemp("jaeger"))
    try:
        report = load_otlp(trace_files, server.otlp_http_url)
        assert report.rejected == 0, report.messages
        deadline = time.monotonic() + 120
        while _stored(server) < report.spans:
            if time.monotonic() > deadline:
                pytest.fail(f"Jaeger stored {_stored(server)} of {report.spans} spans in 120 s")
            time.sleep(0.25)
        yield JaegerTracesStack(server.query_url, server, report)
    finally:
        jaeger.stop(server)
