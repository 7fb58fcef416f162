"""Mailing a report through a real local SMTP server (aiosmtpd): STARTTLS with a verified
throwaway certificate, AUTH, the PDF attached, headline tiles in both parts, typed errors,
and the password nowhere but in the login."""

from __future__ import annotations

import json
import logging
import socket
from pathlib import Path

import pytest

from tributary_analysis.config import Secret
from tributary_analysis.errors import ConfigError
from tributary_analysis.reports.mail import (
    MailAuthError,
    MailConfig,
    MailConnectionError,
    MailTLSError,
    send_report,
)

HOSTILE = "<script>alert(1)</script>"
PDF_BYTES = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _config(server, **kw) -> MailConfig:
    base = {"host": server.host, "port": server.port, "sender": "reports@example.test",
            "to": ("oncall@example.test", "capacity@example.test"),
            "username": server.username, "password": Secret(server.password),
            "ca_file": server.ca_file, "timeout": 20.0}
    base.update(kw)
    return MailConfig(**base)


def _run_dir(tmp_path: Path, *, pdf: bool = True, summary: bool = True) -> Path:
    run = tmp_path / "daily_operations" / "20260101T000000Z-abc123"
    run.mkdir(parents=True)
    (run / "report.html").write_text("<html><body>report</body></html>")
    if pdf:
        (run / "report.pdf").write_bytes(PDF_BYTES)
    if summary:
        (run / "summary.json").write_text(json.dumps({"headline": [
            {"name": "Requests", "value": 14380, "unit": "", "text": "14,380",
             "baseline": "13,900", "assessment": "ok"},
            {"name": "5xx ratio", "value": 0.0119, "unit": "percentunit", "text": "1.19 %",
             "baseline": "0.005 %", "assessment": "critical"},
            {"name": f"tenant {HOSTILE}", "value": 3, "unit": "", "baseline": None,
             "assessment": ""},
        ], "findings": [{"panel": "Error Rate", "message": "5xx up 240× on /search"}]}))
    return run


def test_mail_arrives_with_pdf_and_tiles(smtp_server, tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    run = _run_dir(tmp_path)
    subject = "Daily operations mail-1"
    sent = send_report(run, _config(smtp_server), title=subject)
    got = smtp_server.by_subject(subject)
    assert len(got) == 1
    m = got[0]
    assert m.authenticated_as == smtp_server.username
    assert m.rcpt_tos == ["oncall@example.test", "capacity@example.test"]
    attachments = list(m.message.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["report.pdf"]
    assert attachments[0].get_content_type() == "application/pdf"
    assert attachments[0].get_content() == PDF_BYTES
    text = m.message.get_body(("plain",)).get_content()
    html = m.message.get_body(("html",)).get_content()
    for part in (text, html):
        assert "14,380" in part and "1.19 %" in part and "13,900" in part
        assert "5xx up 240× on /search" in part
    assert HOSTILE in text  # plain text is text
    assert HOSTILE not in html and "&lt;script&gt;" in html  # HTML part escapes it
    assert smtp_server.password not in m.raw.decode(errors="replace")
    assert smtp_server.password not in sent.as_string()
    assert smtp_server.password not in caplog.text


def test_without_pdf_or_summary_the_ledger_record_and_a_link(smtp_server, tmp_path) -> None:
    run = _run_dir(tmp_path, pdf=False, summary=False)
    record = {"title": "Weekly capacity mail-2", "status": "failed", "figures": 4,
              "warnings": 2, "window_start": "2026-01-01T00:00:00Z",
              "window_end": "2026-01-08T00:00:00Z"}
    send_report(run, _config(smtp_server), record=record,
                link="https://reports.example.test/capacity/latest.html")
    (m,) = smtp_server.by_subject("Weekly capacity mail-2")
    assert m.message["Subject"].startswith("[FAILED] ")
    assert "2026-01-01T00:00:00Z → 2026-01-08T00:00:00Z" in m.message["Subject"]
    assert not list(m.message.iter_attachments())
    text = m.message.get_body(("plain",)).get_content()
    assert "Status: failed" in text and "Warnings: 2" in text
    assert "https://reports.example.test/capacity/latest.html" in text


def test_wrong_password_is_a_typed_error_without_the_password(smtp_server, tmp_path,
                                                               caplog) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-" + smtp_server.password
    with pytest.raises(MailAuthError, match=r"refused the login of 'reporter'.*username and "
                                            r"password") as info:
        send_report(_run_dir(tmp_path), _config(smtp_server, password=Secret(wrong)),
                    title="never-delivered")
    assert wrong not in str(info.value) and wrong not in caplog.text
    assert not smtp_server.by_subject("never-delivered")


def test_server_without_starttls_is_refused(smtp_plain_server, tmp_path) -> None:
    with pytest.raises(MailTLSError, match="does not offer STARTTLS"):
        send_report(_run_dir(tmp_path), _config(smtp_plain_server, ca_file=None),
                    title="plain-never")
    assert not smtp_plain_server.by_subject("plain-never")


def test_unverified_certificate_names_the_ca_setting(smtp_server, tmp_path) -> None:
    with pytest.raises(MailTLSError, match=r"did not verify.*CA bundle"):
        send_report(_run_dir(tmp_path), _config(smtp_server, ca_file=None), title="x")


def test_connection_refused(tmp_path) -> None:
    with socket.socket() as s:  # a port that was free a moment ago and has no listener
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = MailConfig(host="127.0.0.1", port=port, sender="a@example.test",
                     to=("b@example.test",), timeout=5)
    with pytest.raises(MailConnectionError, match=f"127.0.0.1:{port} refused the connection"):
        send_report(_run_dir(tmp_path), cfg)


def test_config_checks() -> None:
    with pytest.raises(ConfigError, match="sender address"):
        MailConfig(host="smtp.example.test", sender="nobody", to=("a@b.c",))
    with pytest.raises(ConfigError, match="without STARTTLS would send the password"):
        MailConfig(host="smtp.example.test", sender="a@b.c", to=("a@b.c",),
                   username="u", password=Secret("p"), starttls=False)
    cfg = MailConfig(host="h", sender="a@b.c", to=("x@y.z",), password="plain")  # type: ignore[arg-type]
    assert isinstance(cfg.password, Secret) and "plain" not in repr(cfg)


def test_config_from_settings() -> None:
    from tributary_analysis.config import Settings

    s = Settings(smtp_host="smtp.example.test", smtp_port=2525, smtp_username="u",
                 smtp_password=Secret("s3cret"), smtp_from="reports@example.test",
                 smtp_to=("a@example.test", "b@example.test"), smtp_ca_bundle="/etc/ca.pem")
    cfg = MailConfig.from_settings(s)
    assert (cfg.host, cfg.port, cfg.username, cfg.sender, cfg.to, cfg.ca_file) == (
        "smtp.example.test", 2525, "u", "reports@example.test",
        ("a@example.test", "b@example.test"), "/etc/ca.pem")
    assert cfg.password == Secret("s3cret") and cfg.starttls
    assert MailConfig.from_settings(s, to=("c@example.test",)).to == ("c@example.test",)
    with pytest.raises(ConfigError, match="no SMTP host"):
        MailConfig.from_settings(Settings())
