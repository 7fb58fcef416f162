"""``tributary report run``: the shared window options, durations, formats and tenants,
through the public CLI. Errors are one ``error:`` line naming the option, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tributary_analysis.cli import main
from tributary_analysis.errors import DataError
from tributary_analysis.reports import ledger
from tributary_analysis.reports.formats import pdf_available

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
RUNNER = Path(__file__).parent / "cli_fixture_runner.py"


def _error(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "24 hours"], "error: --since='24 hours' is not a duration"),
    (["--start", "yesterday"], "error: --start='yesterday' is not a time"),
    (["--since", "1h", "--start", "2025-01-01"], "error: give --since='1h' or --start="),
    (["--start", "2025-01-02", "--end", "2025-01-01"],
     "error: empty window: --start 2025-01-02T00:00:00Z is not before --end "
     "2025-01-01T00:00:00Z"),
    (["--timeout", "0"], "error: --timeout='0' must be longer than zero"),
    (["--timeout", "soon"], "error: --timeout='soon' is not a duration"),
    (["--cell-timeout", "-5m"], "error: --cell-timeout='-5m' must be a positive duration"),
    (["--format", "html,docx"], "error: --format html,docx: unknown format(s) docx; use "
                                "html, pdf"),
])
def test_bad_options_are_one_line(args: list[str], message: str, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    line = _error(["report", "run", "latency", "--out", str(tmp_path / "out"), *args], capsys)
    assert line.startswith(message), line
    assert not (tmp_path / "out").exists()


def test_pdf_without_chromium_is_refused_up_front(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert pdf_available()
    monkeypatch.setenv("TRIBUTARY_CHROMIUM", str(tmp_path / "no-such-chromium"))
    line = _error(["report", "run", "latency", "--format", "html,pdf", "--out",
                   str(tmp_path / "out")], capsys)
    assert line.startswith(f"error: --format pdf: Chromium binary "
                           f"'{tmp_path / 'no-such-chromium'}' (TRIBUTARY_CHROMIUM")
    assert not (tmp_path / "out").exists()


def test_tenant_parameter_stays_text(tmp_path: Path) -> None:
    from tributary_analysis.cli.report import split_params

    common, scoped = split_params(("tenant_usage.tenant=012", "top_n=07"), ["tenant_usage"])
    assert scoped == {"tenant_usage": {"tenant": "012"}} and common == {"top_n": 7}


def test_non_string_tenant_ids(tmp_path: Path) -> None:
    from tributary_analysis.ground.time import parse_window
    from tributary_analysis.reports.registry import default_registry
    from tributary_analysis.reports.runner import RunRequest, tenant_slug
    from tributary_analysis.reports.schedules import load_schedules
    from tributary_analysis.reports.tenants import plan

    reg = default_registry()
    window = parse_window("24h", end="2025-01-31T00:00:00Z")
    reqs = plan([reg["tenant_usage"]], window, tenants=[123])  # type: ignore[list-item]
    assert [r.tenant for r in reqs] == ["123"] and tenant_slug(123).startswith("123-")  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"tenant=1.5 is a float, not a tenant id; quote it "
                                        r"\(\"1.5\"\)"):
        RunRequest(reg["tenant_usage"], window, tenant=1.5)  # type: ignore[arg-type]
    path = tmp_path / "schedules.yaml"
    path.write_text("schedules:\n  - name: t\n    cron: '0 6 * * *'\n"
                    "    reports: [tenant_usage]\n    tenants: [123, 012, '0x1F', 1.10, no, abc]\n")
    sched = load_schedules(path, set(reg))["t"]
    assert sched.tenants == ("123", "012", "0x1F", "1.10", "no", "abc")
    path.write_text("schedules:\n  - name: t\n    cron: '0 6 * * *'\n"
                    "    reports: [tenant_usage]\n    tenants: [~]\n")
    with pytest.raises(DataError, match=r"schedule #1: 'tenants' must list tenant ids"):
        load_schedules(path, set(reg))


def test_schedule_durations_use_the_shared_parser(tmp_path: Path) -> None:
    from tributary_analysis.errors import ConfigError
    from tributary_analysis.reports.schedules import load_schedules

    path = tmp_path / "schedules.yaml"
    path.write_text("schedules:\n  - {name: a, cron: '0 6 * * *', reports: [latency], "
                    "since: 1h30m, timeout: 15m}\n")
    sched = load_schedules(path, {"latency"})["a"]
    assert (sched.since, sched.timeout) == ("1h30m", 900.0)
    path.write_text("schedules:\n  - {name: a, cron: '0 6 * * *', reports: [latency], "
                    "since: 1 day}\n")
    with pytest.raises(ConfigError, match=r"schedule 'a': since='1 day' is not a duration"):
        load_schedules(path, {"latency"})


def test_report_group_lists_its_commands() -> None:
    from tributary_analysis.cli.report import group

    result = CliRunner().invoke(group, ["--help"])
    assert result.exit_code == 0
    for name in ("run", "list", "index"):
        assert f"  {name} " in result.output


@pytest.mark.slow
def test_run_with_a_compound_since_and_timeout(tmp_path: Path) -> None:
    """`--since 1h30m` (refused before the shared options) and `--timeout 2m` work."""
    specs = json.dumps([["figures", str(FIXTURES / "figures.ipynb"), {"points": 5}]])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUTARY_")}
    env["TRIBUTARY_HOME"] = str(tmp_path / "home")
    proc = subprocess.run([sys.executable, str(RUNNER), specs, "report", "run", "figures",
                           "--since", "1h30m", "--end", "2025-01-31T12:00:00Z", "--timeout",
                           "2m", "--out", str(tmp_path / "out")], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "2025-01-31T10:30:00Z → 2025-01-31T12:00:00Z (1h30m)" in proc.stderr
    [record] = ledger.read(tmp_path / "out")[0]
    assert (record.window_start, record.window_end) == ("2025-01-31T10:30:00Z",
                                                        "2025-01-31T12:00:00Z")
    span = pd.Timestamp(record.window_end) - pd.Timestamp(record.window_start)
    assert span == pd.Timedelta(minutes=90)


def test_cli_log_lines_are_scrubbed(tmp_path: Path) -> None:
    """A library's log line that carries a credential is printed without it."""
    (tmp_path / "leaky_cmd.py").write_text(
        "import logging, click\n"
        "@click.command('leak')\n"
        "def group():\n"
        "    logging.getLogger('somelib').warning('connecting with Bearer %s',\n"
        "        'canaryLogToken0099')\n"
        "    try:\n"
        "        raise RuntimeError('auth canaryLogToken0099 refused')\n"
        "    except RuntimeError:\n"
        "        logging.getLogger('somelib').exception('failed')\n")
    code = ("import sys\n"
            f"sys.path.insert(0, {str(tmp_path)!r})\n"
            "from tributary_analysis import cli\n"
            "cli._GROUPS['leak'] = 'leaky_cmd'\n"
            "sys.exit(cli.main(['leak']))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUTARY_")}
    env.update({"TRIBUTARY_HOME": str(tmp_path), "TRIBUTARY_PROMETHEUS_HEADERS":
                json.dumps({"Authorization": "Bearer canaryLogToken0099"})})
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "connecting with [redacted]" in proc.stderr  # the whole header value
    assert "auth [redacted] refused" in proc.stderr
    assert "canaryLogToken0099" not in proc.stderr + proc.stdout


def test_report_group_takes_a_command_another_area_provides(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``report dashboard`` comes from tributary_analysis.cli.report_dashboard when that
    module exists (the dashboards area); the group finds its ``command``."""
    from tributary_analysis.cli import report as report_cli

    pkg = tmp_path / "extra_cmds"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "dash.py").write_text(
        "import click\n@click.command('dashboard')\n@click.argument('file')\n"
        "def command(file):\n    click.echo(f'would render {file}')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(report_cli._EXTRA_COMMANDS, "dashboard", "extra_cmds.dash")
    result = CliRunner().invoke(report_cli.group, ["dashboard", "main.json"])
    assert result.exit_code == 0, result.output
    assert result.output == "would render main.json\n"
    assert "dashboard" in CliRunner().invoke(report_cli.group, ["--help"]).output
