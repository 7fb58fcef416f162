"""Failure notifications: Slack-style JSON to a real local HTTP receiver; URL never leaks."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

import pytest

from tributary_analysis.config import Secret
from tributary_analysis.reports import ledger
from tributary_analysis.reports.notify import build_message, notify_failures, post, webhook_url
from tributary_analysis.reports.registry import Registry, ReportSpec

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"


class Receiver:
    """A real HTTP server on 127.0.0.1 that records POSTs and answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        self.received: list[tuple[str, bytes]] = []
        received, code = self.received, status

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append((self.path, body))
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def record(**kw: object) -> ledger.RunRecord:
    base: dict[str, object] = dict(
        run_id="r1", report="daily_operations", title="Daily operations", status="failed",
        window_start="2025-01-30T00:00:00Z", window_end="2025-01-31T00:00:00Z",
        started_at="2025-01-31T00:00:01Z", finished_at="2025-01-31T00:00:09Z",
        duration_s=8.0, run_dir="daily_operations/r1",
        html="daily_operations/r1/report.html", notebook="", error="ValueError: boom")
    base.update(kw)
    return ledger.RunRecord(**base)  # type: ignore[arg-type]


def test_message_is_slack_shaped() -> None:
    msg = build_message([record(), record(report="tenant_usage", tenant="acme",
                                          status="timeout", error="timeout after 900 s")],
                        Path("/srv/reports"))
    assert msg["text"].startswith("2 Tributary report run(s) failed")
    assert "tenant `acme`: timeout" in msg["text"]
    assert "/srv/reports/daily_operations/r1/report.html" in msg["text"]
    assert [b["type"] for b in msg["blocks"]] == ["header", "section", "section"]


def test_post_to_real_receiver_and_url_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Receiver() as ok:
        url = ok.url + "/services/s3cr3t"
        assert notify_failures([record()], Path("out"),
                               env={"TRIBUTARY_REPORT_WEBHOOK_URL": url}) is True
        assert notify_failures([], Path("out"),
                               env={"TRIBUTARY_REPORT_WEBHOOK_URL": url}) is None
    assert len(ok.received) == 1
    path, body = ok.received[0]
    assert path == "/services/s3cr3t"
    assert json.loads(body)["text"].startswith("1 Tributary report run(s) failed")
    with Receiver(status=500) as bad:
        assert post(Secret(bad.url + "/services/s3cr3t"), {"text": "x"}) is False
    assert "HTTP 500" in caplog.text
    assert post(Secret("http://127.0.0.1:9/services/s3cr3t"), {"text": "x"},
                timeout=2) is False
    assert "s3cr3t" not in caplog.text


def test_webhook_from_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text('[reports]\nwebhook_url = "http://127.0.0.1:1/hook"\n')
    url = webhook_url({"TRIBUTARY_CONFIG": str(cfg)})
    assert url is not None and url.get() == "http://127.0.0.1:1/hook"
    assert "hook" not in repr(url)
    assert webhook_url({"TRIBUTARY_HOME": str(tmp_path / "nothing")}) is None


@pytest.mark.slow
def test_cli_run_exits_nonzero_and_notifies_webhook(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]
                                                    ) -> None:
    from tributary_analysis.cli import main
    from tributary_analysis.reports import registry

    reg = Registry([ReportSpec("raises", FIXTURES / "raises.ipynb"),
                    ReportSpec("figures", FIXTURES / "figures.ipynb")])
    monkeypatch.setattr(registry, "default_registry", lambda: reg)
    monkeypatch.setenv("TRIBUTARY_HOME", str(tmp_path / "home"))
    with Receiver() as rx:
        secret_url = rx.url + "/hooks/T000/B000/s3cr3t-webhook-path"
        monkeypatch.setenv("TRIBUTARY_REPORT_WEBHOOK_URL", secret_url)
        code = main(["report", "run", "raises", "figures", "--since", "2h",
                     "--out", str(tmp_path / "out"), "-p", "figures.points=7", "--jobs", "2"])
        assert code == 2
        assert len(rx.received) == 1
    path, body = rx.received[0]
    assert path == "/hooks/T000/B000/s3cr3t-webhook-path"
    msg = json.loads(body)
    assert "1 Tributary report run(s) failed" in msg["text"]
    assert "ValueError" in msg["text"] and msg["blocks"][0]["type"] == "header"
    err = capsys.readouterr().err
    assert "error: 1 of 2 report run(s) failed: raises: failed (ValueError" in err
    assert "s3cr3t" not in err
    for p in (tmp_path / "out").rglob("*"):
        assert not p.is_file() or b"s3cr3t" not in p.read_bytes()
    records, _ = ledger.read(tmp_path / "out")
    assert {r.report: r.status for r in records} == {"raises": "failed", "figures": "ok"}
    assert next(r for r in records if r.report == "figures").parameters == {"points": 7}
