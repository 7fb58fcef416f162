"""``tributary logs`` as a user meets it: one window vocabulary, one ``error:`` line per fault,
no data said out loud (issue 10 §7, §8; issue 11 faults).

Faults are real: a closed port, and a small local HTTP server answering 502 as a proxy in
front of a dead node does. The CLI runs in a subprocess so stderr is exactly what a user
sees (the client's retry warnings and tracebacks included, if any leaked).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from _log_events import envelope_lines, make_events, truth_requests, write_jsonl

from tributary_analysis.config import load_settings
from tributary_analysis.errors import ServerUnavailable, SourceUnreachable
from tributary_analysis.sources.logs.elasticsearch import ElasticsearchLogs

START, END = "2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_cli(*args: str, home: Path, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process: stderr exactly as a user sees it (logging included)."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUTARY_")}
    full.update({"TRIBUTARY_HOME": str(home), **(env or {})})
    return subprocess.run([sys.executable, "-m", "tributary_analysis.cli", *args],
                          capture_output=True, text=True, env=full, timeout=300)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> Any:
    """The CLI in this process (fast), returning what a subprocess would."""
    from tributary_analysis.cli import main

    for key in [k for k in os.environ if k.startswith("TRIBUTARY_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("TRIBUTARY_HOME", str(tmp_path / "home"))

    def run(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
        capsys.readouterr()
        rc = main(list(args))
        got = capsys.readouterr()
        return subprocess.CompletedProcess(list(args), rc, got.out, got.err)

    return run


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return make_events(300, seed=21)


@pytest.fixture(scope="module")
def logfile(events: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_jsonl(tmp_path_factory.mktemp("cli") / "svc.jsonl", envelope_lines(events))


@pytest.fixture(scope="module")
def bad_gateway() -> Iterator[str]:
    """A local proxy whose upstream is gone: every request gets 502 Bad Gateway."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _reply(self) -> None:
            seen.append(self.path)
            body = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_HEAD = _reply

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_start_yesterday_is_one_error_line_naming_the_option(logfile: Path, cli: Any) -> None:
    for cmd in ("search", "summary", "top-errors"):
        proc = cli("logs", cmd, "--files", str(logfile), "--start", "yesterday")
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert lines == ["error: --start='yesterday' is not a time; use ISO 8601, e.g. "
                         "'2026-01-31T12:00:00Z', or 'now' / 'now-2h'"], proc.stderr


def test_shared_window_options(logfile: Path, events: list[dict], cli: Any,
                               tmp_path: Path) -> None:
    truth = truth_requests(events)
    out = tmp_path / "s.csv"
    proc = cli("logs", "summary", "--files", str(logfile), "--start", START,
               "--end", "2025-03-01T06:00:00Z", "--step", "1h30m", "--by", "tenant_id",
               "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    got = pd.read_csv(out, parse_dates=["timestamp"])
    assert got["requests"].sum() == (truth["timestamp"] < "2025-03-01T06:00:00Z").sum()
    assert sorted(got["timestamp"].dt.strftime("%H:%M").unique()) == [
        "00:00", "01:30", "03:00", "04:30"]
    assert "percentiles: exact (DuckDB quantile_cont)" in proc.stderr
    # the old names still work, and giving both names of one option is refused
    old = cli("logs", "summary", "--files", str(logfile), "--end", END, "--last", "24h",
              "--interval", "6h", "--out", str(tmp_path / "o.csv"))
    assert old.returncode == 0, old.stderr
    assert pd.read_csv(tmp_path / "o.csv")["requests"].sum() == len(truth)
    both = cli("logs", "search", "--files", str(logfile), "--last", "1h", "--since", "2h")
    assert both.returncode == 2
    assert both.stderr.strip() == ("error: give --last or --since, not both; --last is the "
                                   "old name of --since")
    bad = cli("logs", "summary", "--files", str(logfile), "--step", "1 week")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --step='1 week' is not a "
                                                         "duration")


def test_tenant_filter_that_matches_nothing_is_said(logfile: Path, cli: Any) -> None:
    proc = cli("logs", "summary", "--files", str(logfile), "--start", START, "--end", END,
               "--tenant", "acme", "--tenant", "acmee", "--tenant", "no-such-tenant")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert ("warning: tenant 'acmee' matched no events in 2025-03-01T00:00:00Z → "
            "2025-03-02T00:00:00Z (1d); closest known tenant ids: 'acme'") in err
    assert "warning: tenant 'no-such-tenant' matched no events" in err
    assert "tenant 'acme' matched" not in err
    empty = cli("logs", "search", "--files", str(logfile), "--start", "2025-04-01",
                "--end", "2025-04-02", "--tenant", "acme")
    assert ("tenant 'acme' matched no events in 2025-04-01T00:00:00Z → 2025-04-02T00:00:00Z "
            "(1d); no tenant has events in that window; widen it") in empty.stderr
    assert "(no rows)" in empty.stdout
    nothing = cli("logs", "top-errors", "--files", str(logfile), "--start", "2025-04-01",
                  "--end", "2025-04-02")
    assert "warning: nothing matched in 2025-04-01T00:00:00Z → 2025-04-02T00:00:00Z (1d)" \
        in nothing.stderr


def _assert_one_error_line(proc: subprocess.CompletedProcess[str], start: str) -> str:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(start), lines[0]
    assert "Traceback" not in proc.stderr and "elastic_transport" not in proc.stderr
    return lines[0]


def test_elasticsearch_down_is_one_error_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    proc = run_cli("logs", "summary", "--source", "es", "--es-url", url, home=tmp_path)
    line = _assert_one_error_line(proc, f"error: cannot reach Elasticsearch at {url} "
                                        "(connection refused)")
    assert line.endswith("is it running? start it ('tributary demo up') or check "
                         "TRIBUTARY_ES_URL")
    verbose = run_cli("-v", "logs", "search", "--source", "es",
                      "--es-url", url, home=tmp_path)
    assert verbose.returncode == 2
    assert "Retrying request after failure" in verbose.stderr  # kept for --verbose


def test_elasticsearch_down_in_the_library_is_typed(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    src = ElasticsearchLogs(settings=load_settings(env={"TRIBUTARY_ES_URL": url,
                                                        "TRIBUTARY_HOME": str(tmp_path)}))
    with pytest.raises(SourceUnreachable, match=rf"cannot reach Elasticsearch at {url} "
                                                r"\(connection refused\) while trying to "
                                                r"read the field mapping"):
        src.count(START, END)


def test_proxy_answering_502_is_one_error_line(bad_gateway: str, tmp_path: Path) -> None:
    proc = run_cli("logs", "summary", "--source", "es", "--es-url", bad_gateway,
                   home=tmp_path)
    line = _assert_one_error_line(proc, f"error: Elasticsearch at {bad_gateway} is "
                                        "unavailable while trying to read the field mapping")
    assert "502 Bad Gateway" in line and "check that the node and any proxy" in line
    src = ElasticsearchLogs(settings=load_settings(env={"TRIBUTARY_ES_URL": bad_gateway,
                                                        "TRIBUTARY_HOME": str(tmp_path)}))
    with pytest.raises(ServerUnavailable, match=r"a proxy or load balancer in front of it "
                                                r"answered 502 Bad Gateway") as info:
        src.search(START, END)
    assert info.value.status == 502 and info.value.url == bad_gateway


def test_credentials_in_the_url_never_reach_the_error(tmp_path: Path) -> None:
    port = _free_port()
    proc = run_cli("logs", "search", "--source", "es", "--es-url",
                   f"http://reader:s3cret-canary@127.0.0.1:{port}", home=tmp_path)
    line = _assert_one_error_line(proc, "error: cannot reach Elasticsearch at "
                                        f"http://127.0.0.1:{port}")
    assert "s3cret-canary" not in proc.stderr + proc.stdout and "reader:" not in line
