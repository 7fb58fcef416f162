"""The runner's hooks for PDF and mail: ``report run --format html,pdf`` prints each page
with headless Chromium (``reports/pdf.py``), and a schedule with ``mail:`` sends each run's
report to a real local SMTP server (``smtp_server``: aiosmtpd with STARTTLS and AUTH) —
beside the failure webhook, and without the SMTP password in any file or message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tributary_analysis.errors import ConfigError
from tributary_analysis.reports import ledger

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
RUNNER = Path(__file__).parent / "cli_fixture_runner.py"


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUTARY_")}
    env["TRIBUTARY_HOME"] = str(home)
    env.update(extra)
    return env


def _pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True)
    return int(next(ln.split()[-1] for ln in info.stdout.splitlines()
                    if ln.startswith("Pages:")))


def test_format_pdf_prints_every_page(tmp_path: Path) -> None:
    specs = json.dumps([["figures", str(FIXTURES / "figures.ipynb"), {"points": 12}],
                        ["raises", str(FIXTURES / "raises.ipynb"), {}]])
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, str(RUNNER), specs, "report", "run", "figures",
                           "raises", "--since", "2h", "--format", "html,pdf", "--out",
                           str(out), "--timeout", "4m"], env=_env(tmp_path / "home"),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 2, proc.stderr  # raises.ipynb fails, as it should
    records = {r.report: r for r in ledger.read(out)[0]}
    assert records["figures"].status == "ok", records["figures"].error
    for r in records.values():  # a failure page is printed too
        pdf = out / r.artifacts["pdf"]
        assert pdf == out / r.run_dir / "report.pdf" and pdf.read_bytes()[:5] == b"%PDF-"
        pages = _pdf_pages(pdf)
        assert pages >= 1
        png = subprocess.run(["pdftoppm", "-r", "40", "-png", str(pdf), str(tmp_path / r.report)],
                             capture_output=True, check=True)
        assert png.returncode == 0
        assert len(list(tmp_path.glob(f"{r.report}*.png"))) == pages


def test_schedule_mails_each_report_with_its_pdf(tmp_path: Path, smtp_server: object,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from tributary_analysis.reports import registry
    from tributary_analysis.reports.registry import Registry, ReportSpec
    from tributary_analysis.reports.schedules import fire, load_schedules

    srv = smtp_server
    reg = Registry([ReportSpec("figures", FIXTURES / "figures.ipynb", title="Fixture figures",
                               parameters={"points": 9})])
    monkeypatch.setattr(registry, "default_registry", lambda *a, **k: reg)
    env = {"TRIBUTARY_HOME": str(tmp_path / "home"), "TRIBUTARY_SMTP_HOST": srv.host,
           "TRIBUTARY_SMTP_PORT": str(srv.port), "TRIBUTARY_SMTP_USERNAME": srv.username,
           "TRIBUTARY_SMTP_PASSWORD": srv.password, "TRIBUTARY_SMTP_FROM": "reports@test.example",
           "TRIBUTARY_SMTP_TO": "default@test.example",
           "TRIBUTARY_SMTP_CA_BUNDLE": str(srv.ca_file)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    path = tmp_path / "schedules.yaml"
    path.write_text(
        "out: out\nschedules:\n"
        "  - name: mailed\n    cron: '0 6 * * *'\n    reports: [figures]\n    since: 2h\n"
        "    timeout: 4m\n    formats: [html, pdf]\n"
        "    mail: {to: [sre@test.example, am@test.example], attach: pdf}\n")
    sf = load_schedules(path, set(reg))
    before = len(srv.messages)
    [record] = fire(sf["mailed"], sf.out_dir)
    assert record.status == "ok", record.error
    new = srv.messages[before:]
    assert len(new) == 1
    got = new[0]
    assert sorted(got.rcpt_tos) == ["am@test.example", "sre@test.example"]
    assert got.authenticated_as is not None
    assert "Fixture figures" in str(got.message["Subject"])
    pdf = sf.out_dir / record.artifacts["pdf"]
    attachments = [p for p in got.message.iter_attachments()
                   if p.get_content_type() == "application/pdf"]
    assert len(attachments) == 1 and attachments[0].get_content() == pdf.read_bytes()
    # the SMTP password is nowhere: not in the message, not under --out
    assert srv.password.encode() not in got.raw
    for p in sf.out_dir.rglob("*"):
        assert not p.is_file() or srv.password.encode() not in p.read_bytes()


def test_mail_blocks_are_checked(tmp_path: Path) -> None:
    from tributary_analysis.reports.schedules import load_schedules

    path = tmp_path / "schedules.yaml"
    base = "schedules:\n  - {name: m, cron: '0 6 * * *', reports: [figures], "
    for body, match in (
        ("mail: {attach: pdf}}", r"schedule 'm': mail attach pdf needs the PDF rendered"),
        ("mail: {when: sometimes}}", r"mail when 'sometimes': use always or failure"),
        ("mail: {to: [a@x], cc: [b@x]}}", r"unknown mail key\(s\) cc"),
        ("mail: {base_url: 'ftp://x'}}", r"base_url 'ftp://x' must start with http"),
        ("formats: [html, docx]}", r"unknown format\(s\) docx"),
    ):
        path.write_text(base + body + "\n")
        with pytest.raises(ConfigError, match=match):
            load_schedules(path, {"figures"})
    path.write_text(base + "mail: {when: failure, base_url: 'https://r.example/'}}\n")
    sched = load_schedules(path, {"figures"})["m"]
    assert sched.mail is not None and (sched.mail.attach, sched.mail.when) == ("link",
                                                                               "failure")
