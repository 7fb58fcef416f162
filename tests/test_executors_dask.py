"""Report jobs on a real local Dask cluster (``dask_cluster``: a scheduler and two workers on
127.0.0.1): the local executor's tests again, and what is the cluster's own.

The runs of ``test_reports_run`` — pages, a raising notebook, the whole-notebook timeout on a
worker and no surviving process, a hostile tenant id, canary credentials, the index — with
``$TRIBUTARY_REPORT_EXECUTOR`` pointing at the cluster: the same failure pages and records
as locally. The workers hold canary credentials of their own (``DASK_CANARIES``): the
notebooks print them on the worker, and they appear in no page, notebook, log, ledger line,
task payload, scheduler or worker log, nor in the result the caller receives.
"""

from __future__ import annotations

import contextlib
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _fx_scale import DaskCluster
from test_reports_run import *  # noqa: F403 - the same tests, on the cluster
from test_reports_run import FIXTURES, batch, rec  # noqa: F401 - the module's fixture

from tributary_analysis.errors import ConfigError
from tributary_analysis.ground.time import parse_window
from tributary_analysis.reports import dask_executor, ledger
from tributary_analysis.reports.execute import EXECUTOR_ENV, parse_executor
from tributary_analysis.reports.registry import ReportSpec
from tributary_analysis.reports.runner import RunRequest, run_reports

WINDOW = parse_window("24h", end="2025-01-31T00:00:00Z")


@pytest.fixture(scope="module", autouse=True)
def _dask_executor(dask_cluster: DaskCluster) -> Iterator[None]:
    mp = pytest.MonkeyPatch()
    mp.setenv(EXECUTOR_ENV, dask_cluster.executor)
    yield
    mp.undo()


def _leaks(root: Path, canaries: dict[str, str]) -> list[str]:
    return [f"{p}: {name}" for p in root.rglob("*") if p.is_file()
            for name, value in canaries.items() if value.encode() in p.read_bytes()]


def test_executor_names_are_checked() -> None:
    assert parse_executor("dask://127.0.0.1:8786") == ("dask", "tcp://127.0.0.1:8786")
    for bad in ("dask://127.0.0.1", "dask:127.0.0.1:8786", "k8s", "dask://h:x"):
        with pytest.raises(ConfigError, match=r"is not an executor; use local, pool or "
                                              r"dask://HOST:PORT"):
            parse_executor(bad)


def test_unreachable_scheduler_is_one_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(ConfigError, match=rf"--executor dask://127.0.0.1:{port}: cannot "
                                          r"reach the Dask scheduler"):
        dask_executor.DaskExecutor(f"tcp://127.0.0.1:{port}", connect_timeout=3)


def test_worker_secrets_reach_no_output_payload_or_log(
        dask_cluster: DaskCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The credentials notebooks print the *worker's* secrets; the caller holds none of
    them, yet every occurrence is redacted and counted."""
    canaries = dask_cluster.canaries
    for name in canaries:
        monkeypatch.delenv(name, raising=False)
    seen_specs: list[bytes] = []
    executor = dask_executor.DaskExecutor(dask_cluster.address)

    def scheduler_tasks(dask_scheduler: Any) -> list[bytes]:
        import cloudpickle

        return [cloudpickle.dumps(ts.run_spec) for key, ts in dask_scheduler.tasks.items()
                if str(key).startswith(dask_executor.KEY_PREFIX)]

    stop = threading.Event()

    def watch() -> None:  # what the scheduler holds while the jobs run
        while not stop.is_set():
            with contextlib.suppress(Exception):
                seen_specs.extend(executor.client.run_on_scheduler(scheduler_tasks))
            time.sleep(0.3)

    reqs = [RunRequest(ReportSpec(n, FIXTURES / f"{n}.ipynb"), WINDOW)
            for n in ("credentials", "credentials_raises")]
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        records = run_reports(reqs, tmp_path / "out", timeout=300, executor=executor)
    finally:
        stop.set()
        watcher.join(10)
        executor.close()
    ok, failed = records
    assert ok.status == "ok" and failed.status == "failed", (ok.error, failed.error)
    assert ok.redactions >= 3  # the worker's token and password, each time printed
    assert "[redacted]" in failed.error or "cannot log in with [redacted]" in failed.error
    page = (tmp_path / "out" / ok.html).read_text()
    assert "were redacted" in page and "[redacted]" in page
    assert "tributary-secret-" not in page  # the marker is redacted too
    assert _leaks(tmp_path / "out", canaries) == []
    assert seen_specs, "the scheduler never showed our tasks"
    for blob in seen_specs:
        for value in canaries.values():
            assert value.encode() not in blob
    from tributary_analysis.config import load_settings
    from tributary_analysis.reports.prepare import prepare
    from tributary_analysis.reports.scrub import Scrubber

    job = prepare(reqs[0], tmp_path / "p", settings=load_settings(), scrubber=Scrubber([])).job
    job_payload = pickle.dumps(dask_executor.task_payload(job, "marker"))
    assert not any(v.encode() in job_payload for v in canaries.values())
    logs = dask_cluster.log_text()
    assert "Compute Failed" not in logs
    assert not any(v in logs for v in canaries.values())
    assert list((dask_cluster.home / "work").iterdir()) == []  # the workers' work areas


def test_jobs_spread_over_both_workers_and_records_come_back(
        dask_cluster: DaskCluster, tmp_path: Path) -> None:
    reqs = [RunRequest(ReportSpec(f"figures{i}", FIXTURES / "figures.ipynb"), WINDOW,
                       {"points": 5}) for i in range(4)]
    records = run_reports(reqs, tmp_path / "out", jobs=1, timeout=300)
    assert [r.status for r in records] == ["ok"] * 4, [r.error for r in records]
    assert all(r.figures == 2 for r in records)
    recorded, bad = ledger.read(tmp_path / "out")
    assert bad == 0 and {r.run_id for r in recorded} == {r.run_id for r in records}
    # both workers took jobs: the scheduler counts what each worker ran
    from distributed import Client

    with Client(dask_cluster.address, set_as_default=False) as client:
        info = client.scheduler_info()["workers"]
    assert len(info) == 2


def test_notebooks_on_the_cluster_do_not_inherit_dasks_malloc_tuning(
        dask_cluster: DaskCluster, tmp_path: Path) -> None:
    import nbformat

    assert dask_executor.notebook_environment(
        {"MALLOC_TRIM_THRESHOLD_": "65536", "OMP_NUM_THREADS": "1", "X": "y"}) == {
        "OMP_NUM_THREADS": "1", "X": "y"}
    # a value the operator chose (not Dask's) is kept
    assert dask_executor.notebook_environment({"MALLOC_TRIM_THRESHOLD_": "1048576"}) == {
        "MALLOC_TRIM_THRESHOLD_": "1048576"}
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python",
                                 "display_name": "Python 3"}
    nb.cells = [nbformat.v4.new_code_cell("start = end = None",
                                          metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import os\nprint('trim', os.environ.get("
                                          "'MALLOC_TRIM_THRESHOLD_'), 'omp', "
                                          "os.environ.get('OMP_NUM_THREADS'))")]
    path = tmp_path / "env.ipynb"
    nbformat.write(nb, path)
    [record] = run_reports([RunRequest(ReportSpec("env", path), WINDOW)], tmp_path / "out",
                           timeout=300)
    assert record.status == "ok", record.error
    html = (tmp_path / "out" / record.html).read_text()
    assert "trim None omp 1" in html
