"""Faults of the reports directory and the ledger, through the library and the CLI.

``--out`` that is a file, on a read-only file system, on a full disk (up front and while a
notebook fills it): the library raises :class:`OutputError`, the CLI prints one ``error:``
line naming the path and the fix and exits 2, with no traceback. Read-only and full disks
are real: small tmpfs mounts (``mount -t tmpfs -o size=…``, ``remount,ro``), which needs root;
without root the read-only case uses a directory without write permission and the full-disk
cases cannot be produced (they fail in CI, where tests run as root).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tributary_analysis.errors import OutputError
from tributary_analysis.ground.time import parse_window
from tributary_analysis.reports import index, ledger
from tributary_analysis.reports.registry import ReportSpec
from tributary_analysis.reports.runner import RunRequest, run_reports

FIXTURES = Path(__file__).parent / "fixtures" / "notebooks"
RUNNER = Path(__file__).parent / "cli_fixture_runner.py"
WINDOW = parse_window("1h", end="2025-01-31T00:00:00Z")
ROOT = os.geteuid() == 0


def _require_root() -> None:
    if not ROOT:
        if os.environ.get("CI") == "true":
            pytest.fail("tmpfs mounts need root, which CI has")
        pytest.skip("tmpfs mounts need root")


@contextlib.contextmanager
def tmpfs(path: Path, size: str, *, read_only: bool = False) -> Iterator[Path]:
    """A real small file system at ``path`` (unmounted afterwards)."""
    _require_root()
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs",
                    str(path)], check=True)
    try:
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _cli(out: Path, home: Path, *names: str, extra: tuple[str, ...] = ()
         ) -> subprocess.CompletedProcess[str]:
    specs = json.dumps([[n, str(FIXTURES / f"{n}.ipynb"), {}] for n in names])
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUTARY_")}
    env["TRIBUTARY_HOME"] = str(home)
    return subprocess.run([sys.executable, str(RUNNER), specs, "report", "run", *names,
                           "--since", "1h", "--out", str(out), "--timeout", "3m", *extra],
                          env=env, capture_output=True, text=True, timeout=600)


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, proc.stderr
    return errors[0]


def _request(name: str = "figures") -> RunRequest:
    return RunRequest(ReportSpec(name, FIXTURES / f"{name}.ipynb"), WINDOW)


# -- the ledger ------------------------------------------------------------------------------

def _record(run_id: str) -> ledger.RunRecord:
    return ledger.RunRecord(
        run_id=run_id, report="r", title="R", status="ok", window_start="a", window_end="b",
        started_at=f"2025-01-31T00:00:0{run_id[-1]}Z", finished_at="c", duration_s=1.0,
        run_dir=f"r/{run_id}", html=f"r/{run_id}/report.html", notebook="")


def test_a_torn_ledger_line_does_not_swallow_the_next_record(tmp_path: Path) -> None:
    ledger.append(tmp_path, _record("run1"))
    line = (tmp_path / ledger.LEDGER).read_text()
    with open(tmp_path / ledger.LEDGER, "a") as fh:  # a crash in the middle of an append
        fh.write(line[: len(line) // 2])
    ledger.append(tmp_path, _record("run3"))
    contents = ledger.read_all(tmp_path)
    assert [r.run_id for r in contents.records] == ["run1", "run3"]
    assert contents.bad_lines == (2,)
    assert contents.describe_bad(tmp_path) == (
        f"1 unreadable line(s) in {tmp_path / ledger.LEDGER} (line 2) skipped")
    html = index.write_index(tmp_path).read_text()
    assert "1 ledger line(s) could not be read" in html and "r/run3/report.html" in html
    # the CLI says so on stderr, and the index lists the readable runs
    from click.testing import CliRunner

    from tributary_analysis.cli.report import group

    result = CliRunner().invoke(group, ["index", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "warning: 1 unreadable line(s)" in result.output and "(line 2) skipped" in \
        result.output


def test_ledger_on_a_full_disk_is_a_typed_error(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "full", "64k") as mnt:
        (mnt / "filler").write_bytes(b"\0" * 60_000)
        with pytest.raises(OSError):
            (mnt / "more").write_bytes(b"\0" * 65_536)
        with pytest.raises(OutputError, match=r"cannot append to the run ledger .*runs.jsonl: "
                                              r"no space left on the device; free space or "
                                              r"choose another --out"):
            ledger.append(mnt, _record("run1"))


# -- the reports directory ---------------------------------------------------------------------

def test_out_is_an_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "reports"
    target.write_text("not a directory")
    with pytest.raises(OutputError, match=r"--out .*reports is an existing file, not a "
                                          r"directory; remove it or choose another --out"):
        run_reports([_request()], target)
    line = _one_error_line(_cli(target, tmp_path / "home", "figures"))
    assert line == (f"error: --out {target} is an existing file, not a directory; remove it "
                    "or choose another --out")
    assert target.read_text() == "not a directory"


def test_out_on_a_read_only_file_system(tmp_path: Path) -> None:
    if ROOT:
        ctx = tmpfs(tmp_path / "ro", "1m", read_only=True)
        fix = "the file system is read-only; choose a writable --out"
    else:
        (tmp_path / "ro").mkdir()
        os.chmod(tmp_path / "ro", 0o555)
        ctx = contextlib.nullcontext(tmp_path / "ro")
        fix = "permission denied; fix its permissions or choose another --out"
    with ctx as mnt:
        out = mnt / "reports"
        with pytest.raises(OutputError, match=r"cannot create the reports directory .*: "
                           + fix.replace("(", r"\(")):
            run_reports([_request()], out)
        line = _one_error_line(_cli(out, tmp_path / "home", "figures"))
        assert line.startswith(f"error: cannot create the reports directory {out}")
        assert line.endswith(fix)


def test_out_on_a_full_disk_before_anything_runs(tmp_path: Path) -> None:
    """Too small for the shared assets (plotly.js, 4.8 MB): refused before any kernel."""
    with tmpfs(tmp_path / "small", "1m") as mnt:
        out = mnt / "reports"
        with pytest.raises(OutputError, match=r"cannot install the shared assets into .*: no "
                                              r"space left on the device"):
            run_reports([_request()], out)
        line = _one_error_line(_cli(out, tmp_path / "home", "figures"))
        assert "no space left on the device; free space or choose another --out" in line
        assert not list(out.rglob("report.html")) and not (out / ledger.LEDGER).exists()


def test_disk_fills_while_a_notebook_runs(tmp_path: Path) -> None:
    """The notebook fills the reports directory's disk; publishing its page fails: one
    error line, no half-written page, no ledger record for a page that does not exist."""
    with tmpfs(tmp_path / "filling", "24m") as mnt:
        out = mnt / "reports"
        proc = _cli(out, tmp_path / "home", "fill_disk")
        line = _one_error_line(proc)
        assert line.startswith("error: cannot write ") and \
            "no space left on the device; free space or choose another --out" in line
        assert str(out) in line
        assert not list(out.rglob("report.html")) and not list(out.rglob("*.tmp"))
        assert not list((out / "fill_disk").glob("*"))  # the half-published run is gone
        records, bad = ledger.read(out)
        assert records == [] and bad == 0
        # freeing the space is the fix: the next run publishes
        (out / "filler.bin").unlink()
        ok = _cli(out, tmp_path / "home", "figures")
        assert ok.returncode == 0, ok.stderr
        assert [r.status for r in ledger.read(out)[0]] == ["ok"]


# -- the kernel's stderr -------------------------------------------------------------------------

def test_kernel_stderr_stays_off_the_page_and_in_the_run_log(tmp_path: Path) -> None:
    import plotly

    [record] = run_reports([_request("stderr")], tmp_path / "out", timeout=180)
    assert record.status == "ok", record.error
    page = (tmp_path / "out" / record.html).read_text()
    run_log = (tmp_path / "out" / record.run_dir / "run.log").read_text()
    import nbformat

    nb = nbformat.read(tmp_path / "out" / record.notebook, as_version=4)
    outputs = json.dumps([c.get("outputs", []) for c in nb.cells])
    assert "visible stdout line" in page and "after the warnings" in page
    for text in ("fixture deprecation", "progress 50%", os.path.dirname(plotly.__file__),
                 sys.prefix):
        assert text not in page, text
        assert text not in outputs, text
    assert "fixture deprecation in " + plotly.__file__ in run_log
    # cell 3: papermill injects a parameters cell after the tagged one
    assert f"progress 50% from {sys.prefix}" in run_log and "[code cell 3]" in run_log
    assert "kept out of this page, in run.log" in page
    assert record.warnings == 0  # stderr is not a source warning


def test_failure_page_shows_no_local_paths(tmp_path: Path) -> None:
    """A traceback through the installed libraries: the page keeps the message, not the
    installation's directories; run.log keeps the whole traceback."""
    from tributary_analysis.reports.streams import strip_local_paths

    site = os.path.dirname(os.path.dirname(pytest.__file__))
    text = f'File "{site}/pandas/core/frame.py", line 3, in f\nFile "/data/logs/x.jsonl"'
    assert strip_local_paths(text) == \
        'File "…/pandas/core/frame.py", line 3, in f\nFile "/data/logs/x.jsonl"'
