"""Canary secrets never reach ``--out``, stdout or stderr: after normal runs, failures,
timeouts and ``kill -9`` of ``tributary report run``.

The adversary notebook (``tests/fixtures/notebooks/adversary.ipynb``) prints the settings
(every secret unwrapped), the header mapping, the whole environment as a dict and as JSON,
shows the environment as a table, writes it to stderr, then succeeds, raises with it, or
sleeps. Canaries come from every place the settings read a secret: environment variables,
the config file, URL userinfo, request headers, the webhook URL and the SMTP password.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tributary_analysis.reports import ledger, workarea

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
RUNNER = Path(__file__).parent / "cli_fixture_runner.py"

ENV_TOKEN = "canaryEnvToken5a6b7c8d"
FILE_PASSWORD = "canaryFilePassword3e4f"
URL_PASSWORD = "canaryUrlPassword9f8e"
ES_URL_PASSWORD = "canaryEsUrlPw1122"
BEARER = "canaryBearerHeader7d6c"
API_KEY = "canaryApiKeyHeader2b3c"
HOOK_TOKEN = "canaryHookTokenXY12Z9"
MAIL_PASSWORD = "canaryMailPassword4d4d"
CANARIES = (ENV_TOKEN, FILE_PASSWORD, URL_PASSWORD, ES_URL_PASSWORD, BEARER, API_KEY,
            HOOK_TOKEN, MAIL_PASSWORD)


def _env(home: Path) -> dict[str, str]:
    config = home / "config.toml"
    home.mkdir(parents=True, exist_ok=True)
    config.write_text(f'[elasticsearch]\nusername = "reader"\npassword = "{FILE_PASSWORD}"\n'
                      f'[smtp]\nhost = "127.0.0.1"\nusername = "mailer"\n'
                      f'password = "{MAIL_PASSWORD}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUTARY_")}
    env.update({
        "TRIBUTARY_HOME": str(home),
        "TRIBUTARY_CONFIG": str(config),
        "TRIBUTARY_PROMETHEUS_TOKEN": ENV_TOKEN,
        "TRIBUTARY_PROMETHEUS_URL": f"http://prom:{URL_PASSWORD}@127.0.0.1:1",
        "TRIBUTARY_ES_URL": f"http://elastic:{ES_URL_PASSWORD}@127.0.0.1:1",
        "TRIBUTARY_PROMETHEUS_HEADERS": json.dumps({"Authorization": f"Bearer {BEARER}",
                                                    "X-Api-Key": API_KEY}),
        # a closed port: the failure notification is attempted and fails quietly
        "TRIBUTARY_REPORT_WEBHOOK_URL": f"http://127.0.0.1:9/services/T0/B0/{HOOK_TOKEN}",
    })
    return env


def _specs(*modes: str) -> str:
    return json.dumps([[f"adversary_{m}", str(FIXTURES / "adversary.ipynb"), {"mode": m}]
                       for m in modes])


def _leaks(root: Path) -> list[str]:
    found = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            found += [f"{path}: {c}" for c in CANARIES if c.encode() in data]
    return found


def _survivors(out: Path) -> list[str]:
    """Processes (worker, kernel) started for ``out`` that are still alive."""
    marker = f"TRIBUTARY_REPORTS_DIR={out.resolve()}".encode()
    alive = []
    for env in Path("/proc").glob("[0-9]*/environ"):
        try:
            if marker in env.read_bytes().split(b"\0"):
                stat = (env.parent / "stat").read_text().rsplit(")", 1)[-1].split()
                if stat[0] != "Z":
                    alive.append(env.parent.name)
        except OSError:
            continue
    return alive


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("canary")
    out, home = root / "out", root / "home"
    proc = subprocess.run(
        [sys.executable, str(RUNNER), _specs("ok", "raise", "sleep"), "report", "run",
         "adversary_ok", "adversary_raise", "adversary_sleep", "--since", "2h",
         "--out", str(out), "--timeout", "75s", "--jobs", "3"],
        env=_env(home), capture_output=True, text=True, timeout=600)
    return {"out": out, "home": home, "proc": proc}


def test_runs_end_as_they_should(batch: dict[str, object]) -> None:
    proc = batch["proc"]
    assert isinstance(proc, subprocess.CompletedProcess)
    assert proc.returncode == 2, proc.stderr
    records, bad = ledger.read(batch["out"])  # type: ignore[arg-type]
    assert bad == 0
    assert {r.report: r.status for r in records} == {
        "adversary_ok": "ok", "adversary_raise": "failed", "adversary_sleep": "timeout"}
    assert all(r.redactions > 0 for r in records)
    assert proc.stderr.count("\nerror: ") + proc.stderr.startswith("error: ") == 1
    assert "Traceback" not in proc.stderr


def test_no_canary_in_any_output_file_or_stream(batch: dict[str, object]) -> None:
    out = batch["out"]
    proc = batch["proc"]
    assert isinstance(out, Path) and isinstance(proc, subprocess.CompletedProcess)
    files = [p for p in out.rglob("*") if p.is_file()]
    assert sum(p.name == "report.html" for p in files) == 3
    assert sum(p.name == "report.ipynb" for p in files) == 3
    assert sum(p.name == "run.log" for p in files) == 3
    assert _leaks(out) == []
    for canary in CANARIES:
        assert canary not in proc.stdout and canary not in proc.stderr
    records, _ = ledger.read(out)
    pages = {r.report: (out / r.html).read_text() for r in records}
    assert "[redacted]" in pages["adversary_ok"] and "were redacted" in pages["adversary_ok"]
    assert "RuntimeError: cannot connect" in pages["adversary_raise"]
    # the environment went to stderr: kept off the page, in run.log (scrubbed)
    ok = next(r for r in records if r.report == "adversary_ok")
    assert "stderr: {" not in pages["adversary_ok"]
    assert "stderr: {" in (out / ok.run_dir / "run.log").read_text()


def test_work_area_is_private_and_empty_afterwards(batch: dict[str, object]) -> None:
    home, out = batch["home"], batch["out"]
    assert isinstance(home, Path) and isinstance(out, Path)
    work = home / "work"
    assert work.is_dir() and (work.stat().st_mode & 0o777) == 0o700
    assert list(work.iterdir()) == []
    assert not (out / ".work").exists()
    assert _survivors(out) == []


def test_kill_9_leaves_no_process_and_nothing_unscrubbed_under_out(tmp_path: Path) -> None:
    out, home = tmp_path / "out", tmp_path / "home"
    legacy = out / ".work" / "old-run"
    legacy.mkdir(parents=True)
    (legacy / "executed.ipynb").write_text(f"an old unscrubbed notebook {ENV_TOKEN}")
    proc = subprocess.Popen(
        [sys.executable, str(RUNNER), _specs("sleep"), "report", "run", "adversary_sleep",
         "--since", "2h", "--out", str(out), "--timeout", "10m"],
        env=_env(home), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        # wait until the kernel sits in the sleeping cell with the secrets printed and saved:
        # the unscrubbed notebook exists — in the work area, not under --out
        deadline = time.monotonic() + 240
        executed: list[Path] = []
        while time.monotonic() < deadline:
            executed = [p for p in (home / "work").rglob("executed.ipynb")
                        if ENV_TOKEN in p.read_text(errors="replace")
                        and '"status": "running"' in p.read_text(errors="replace")]
            if executed:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.5)
        assert executed, "the adversary never reached its sleeping cell"
        assert not (out / ".work").exists()  # the legacy work dir went at start
        assert _survivors(out)  # a worker and its kernel are running
        os.kill(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 30
    while _survivors(out) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _survivors(out) == []
    assert _leaks(out) == []
    assert not list(out.rglob("*.ipynb"))
    for canary in CANARIES:
        assert canary.encode() not in stdout + stderr
    # the crashed session's unscrubbed notebook is removed by the next start
    assert executed[0].exists()
    with workarea.session(home / "work", out):
        assert not executed[0].exists()
    assert list((home / "work").iterdir()) == []
