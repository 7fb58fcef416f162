"""The warm worker pool passes the local executor's tests, run again with ``--executor pool``.

The runs of ``test_reports_run`` (pages, a raising notebook, the whole-notebook timeout and
no surviving process, a hostile tenant id, canary credentials, the index) and the library
and CLI faults of ``test_reports_faults`` (``--out`` a file, read-only, full before and
while a notebook runs, the kernel's stderr in ``run.log``) and the PDF of
``test_reports_pdf_mail`` (printed in the worker), with the batch's executor set to the
pool: through ``$TRIBUTARY_REPORT_EXECUTOR`` for the library, through ``--executor pool``
or the variable for the CLI. Then what is the pool's own: one worker renders many
notebooks (the interpreter is not started again), each on a kernel of its own, and the
pages are exported in the worker.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import test_reports_faults
import test_reports_pdf_mail
from test_reports_faults import (
    test_disk_fills_while_a_notebook_runs,
    test_kernel_stderr_stays_off_the_page_and_in_the_run_log,
    test_out_is_an_existing_file,
    test_out_on_a_full_disk_before_anything_runs,
    test_out_on_a_read_only_file_system,
)
from test_reports_pdf_mail import test_format_pdf_prints_every_page
from test_reports_run import *  # noqa: F403 - the same tests, against the pool
from test_reports_run import FIXTURES, batch, rec  # noqa: F401 - the module's fixture

from tributary_analysis.ground.time import parse_window
from tributary_analysis.reports.execute import EXECUTOR_ENV
from tributary_analysis.reports.registry import ReportSpec
from tributary_analysis.reports.runner import RunRequest, run_reports

__all__ = [
    "test_disk_fills_while_a_notebook_runs", "test_format_pdf_prints_every_page",
    "test_kernel_stderr_stays_off_the_page_and_in_the_run_log",
    "test_out_is_an_existing_file", "test_out_on_a_full_disk_before_anything_runs",
    "test_out_on_a_read_only_file_system",
]

WINDOW = parse_window("24h", end="2025-01-31T00:00:00Z")


@pytest.fixture(scope="module", autouse=True)
def _pool_executor() -> Iterator[None]:
    """Every batch of this module on the pool: the library through the environment, the
    CLI runs of ``test_reports_faults`` through ``--executor pool``."""
    mp = pytest.MonkeyPatch()
    mp.setenv(EXECUTOR_ENV, "pool")
    cli = test_reports_faults._cli

    def pool_cli(out: Path, home: Path, *names: str, extra: tuple[str, ...] = ()
                 ) -> subprocess.CompletedProcess[str]:
        return cli(out, home, *names, extra=("--executor", "pool", *extra))

    mp.setattr(test_reports_faults, "_cli", pool_cli)
    pdf_env = test_reports_pdf_mail._env

    def pool_env(home: Path, **extra: str) -> dict[str, str]:  # the PDF printed in the pool
        return pdf_env(home, **{EXECUTOR_ENV: "pool", **extra})

    mp.setattr(test_reports_pdf_mail, "_env", pool_env)
    yield
    mp.undo()


#: a fixture cell's code: ``runner()`` is the pid of the process running the notebook —
#: the kernel's parent, or its grandparent when the kernel was forked from the worker's
#: kernel zygote (``_kernel_zygote``)
RUNNER = """\
import os
def zygote_of(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as fh:
        return b"_kernel_zygote" in fh.read()
def parent_of(pid):
    with open(f"/proc/{pid}/stat") as fh:
        return int(fh.read().rsplit(")", 1)[1].split()[1])
def runner():
    p = os.getppid()
    return parent_of(p) if zygote_of(p) else p
"""


def _kernel_pids(nb_path: Path) -> tuple[int, int]:
    """(runner pid, kernel pid) a fixture notebook printed."""
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")
    fields = dict(line.split("=", 1) for line in text.split() if "=" in line)
    return int(fields["ppid"]), int(fields["pid"])


def test_one_warm_worker_renders_many_notebooks_each_on_a_fresh_kernel(
        tmp_path: Path) -> None:
    pids = tmp_path / "pids.ipynb"
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell("start = end = None\nn = 0", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(RUNNER + "import sys\nassert 'seen' not in globals()\n"
                                  "seen = 1\nprint(f'pid={os.getpid()} ppid={runner()} n={n}')"),
    ]
    nbformat.write(nb, pids)
    reqs = [RunRequest(ReportSpec(f"pids{i}", pids), WINDOW, {"n": i}) for i in range(4)]
    records = run_reports(reqs, tmp_path / "out", jobs=1, timeout=300, executor="pool")
    assert [r.status for r in records] == ["ok"] * 4, [r.error for r in records]
    seen = [_kernel_pids(tmp_path / "out" / r.notebook) for r in records]
    workers = {w for w, _ in seen}
    kernels = {k for _, k in seen}
    assert len(workers) == 1  # one interpreter rendered all four
    assert len(kernels) == 4  # each notebook had its own kernel
    for r in records:
        html = (tmp_path / "out" / r.html).read_text()
        assert f"n={r.parameters['n']}" in html


def test_pages_are_exported_in_the_worker_unless_the_settings_differ(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The parent's publish step is not called when the worker publishes; with settings the
    worker cannot read from the environment it falls back to the parent."""
    from dataclasses import replace

    from tributary_analysis.config import load_settings
    from tributary_analysis.reports import publish as publish_mod
    from tributary_analysis.reports import runner

    calls: list[str] = []
    real = publish_mod.publish

    def spy(prep, result, **kw):  # type: ignore[no-untyped-def]
        calls.append(prep.request.spec.name)
        return real(prep, result, **kw)

    monkeypatch.setattr(publish_mod, "publish", spy)
    monkeypatch.setattr(runner, "publish", spy)
    reqs = [RunRequest(ReportSpec(f"figures{i}", FIXTURES / "figures.ipynb"), WINDOW,
                       {"points": 5}) for i in range(2)]
    records = run_reports(reqs, tmp_path / "a", jobs=2, timeout=300, executor="pool")
    assert [r.status for r in records] == ["ok", "ok"] and calls == []
    assert all(r.figures == 2 for r in records)
    other = replace(load_settings(), prometheus_url="http://127.0.0.1:2")
    records = run_reports(reqs, tmp_path / "b", jobs=2, timeout=300, executor="pool",
                          settings=other)
    assert [r.status for r in records] == ["ok", "ok"]
    assert sorted(calls) == ["figures0", "figures1"]


@pytest.mark.parametrize("executor", ["local", "pool"])
def test_a_worker_killed_mid_run_is_a_runner_failure_and_the_batch_goes_on(
        tmp_path: Path, executor: str) -> None:
    """A cell kills the process that runs the notebook (the kernel's parent): that run is
    a ``runner`` failure page on both executors; the pool replaces the worker and renders
    the next notebook."""
    import nbformat

    def notebook(name: str, code: str) -> Path:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                     "display_name": "Python 3"}
        nb.cells = [nbformat.v4.new_code_cell("start = end = None",
                                              metadata={"tags": ["parameters"]}),
                    nbformat.v4.new_code_cell(code)]
        path = tmp_path / f"{name}.ipynb"
        nbformat.write(nb, path)
        return path

    pids = notebook("pids", RUNNER + "print(f'pid={os.getpid()} ppid={runner()}')")
    kill = notebook("kill", RUNNER + "import signal, time\nprint('killing my runner')\n"
                            "os.kill(runner(), signal.SIGKILL)\ntime.sleep(60)")
    reqs = [RunRequest(ReportSpec("before", pids), WINDOW),
            RunRequest(ReportSpec("killer", kill), WINDOW),
            RunRequest(ReportSpec("after", pids), WINDOW)]
    before, killer, after = run_reports(reqs, tmp_path / "out", jobs=1, timeout=120,
                                        executor=executor)
    assert before.status == "ok" and after.status == "ok", (before.error, after.error)
    assert killer.status == "failed"
    assert killer.error.startswith("the notebook runner exited with code -9 before "
                                   "reporting"), killer.error
    html = (tmp_path / "out" / killer.html).read_text()
    assert 'id="tributary-failure"' in html and "Outside any cell." in html
    if executor == "pool":  # the slot got a new worker
        first = _kernel_pids(tmp_path / "out" / before.notebook)[0]
        second = _kernel_pids(tmp_path / "out" / after.notebook)[0]
        assert first != second


def _notebook(path: Path, code: str) -> Path:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell("start = end = None",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nbformat.write(nb, path)
    return path


def _printed(nb_path: Path) -> dict[str, str]:
    import nbformat

    nb = nbformat.read(nb_path, as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                   if o.get("output_type") == "stream")
    return dict(line.split("=", 1) for line in text.split() if "=" in line)


def test_kernels_are_forked_from_a_zygote_that_ran_no_cell(tmp_path: Path) -> None:
    """Each notebook's kernel is a process of its own forked from the worker's zygote: the
    notebook's modules are already imported, no state of another notebook is there
    (globals, a module attribute, numpy's random stream), it leads its own process group,
    and it has the job's working directory and environment."""
    code = RUNNER + (
        "import sys, numpy, tributary_analysis.analysis.tenant_report as tr\n"
        "assert not hasattr(tr, 'touched') and 'seen' not in globals()\n"
        "tr.touched = seen = 1\n"
        "print(f'pid={os.getpid()} zygote={int(zygote_of(os.getppid()))} '\n"
        "      f'pgid={os.getpgrp()} cwd={os.getcwd()} '\n"
        "      f'batch={os.environ.get(\"TRIBUTARY_REPORT_BATCH\", \"\")} '\n"
        "      f'draw={numpy.random.randint(1 << 30)} pandas={int(\"pandas\" in sys.modules)}')")
    nb = _notebook(tmp_path / "forked.ipynb", code)
    reqs = [RunRequest(ReportSpec(f"forked{i}", nb), WINDOW) for i in range(3)]
    records = run_reports(reqs, tmp_path / "out", jobs=1, timeout=300, executor="pool")
    assert [r.status for r in records] == ["ok"] * 3, [r.error for r in records]
    seen = [_printed(tmp_path / "out" / r.notebook) for r in records]
    assert all(s["zygote"] == "1" for s in seen), seen
    assert len({s["pid"] for s in seen}) == 3
    assert all(s["pgid"] == s["pid"] for s in seen)  # own group: killpg reaches its children
    assert all(s["cwd"] == str(nb.parent) for s in seen)
    assert all(s["batch"] and s["batch"] == seen[0]["batch"] for s in seen)
    assert len({s["draw"] for s in seen}) == 3  # numpy re-seeded in every child
    assert all(s["pandas"] == "1" for s in seen)


def test_a_killed_zygote_fails_only_the_running_notebook(tmp_path: Path) -> None:
    """A cell kills the zygote its kernel was forked from: the kernel dies with it (that run
    fails, as a dead kernel), the worker starts a new zygote and the next notebook runs."""
    pids = _notebook(tmp_path / "pids.ipynb",
                     "import os\nprint(f'pid={os.getpid()} ppid={os.getppid()}')")
    kill = _notebook(tmp_path / "kill.ipynb",
                     "import os, signal, time\nos.kill(os.getppid(), signal.SIGKILL)\n"
                     "time.sleep(60)")
    reqs = [RunRequest(ReportSpec("before", pids), WINDOW),
            RunRequest(ReportSpec("killer", kill), WINDOW),
            RunRequest(ReportSpec("after", pids), WINDOW)]
    before, killer, after = run_reports(reqs, tmp_path / "out", jobs=1, timeout=120,
                                        executor="pool")
    assert before.status == "ok" and after.status == "ok", (before.error, after.error)
    assert killer.status == "failed" and killer.error, killer
    first = _printed(tmp_path / "out" / before.notebook)["ppid"]
    second = _printed(tmp_path / "out" / after.notebook)["ppid"]
    assert first != second  # a new zygote
