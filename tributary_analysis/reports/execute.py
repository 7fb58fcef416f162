"""Execute a prepared notebook: the seam between preparing a run and publishing it.

An :class:`ExecutionJob` is plain data (JSON-serialisable, no secrets); an executor runs it
and returns an :class:`ExecutionResult` — the executed notebook and log as bytes, the
worker's typed :class:`WorkerOutcome`, whether the whole-notebook timeout stopped it. Publish
never looks at the executor's files, so an executor may run anywhere: :class:`LocalExecutor`
runs a worker subprocess here; a Dask cluster or a warm worker pool would implement the same
:class:`Executor` protocol and ship the result back.

The result's notebook and log are **unscrubbed** (a cell may have printed a credential):
they live in memory and, for :class:`LocalExecutor`, in the private work area
(:mod:`.workarea`) only until the worker exits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from tributary_analysis.reports._lifeline import PARENT_ENV
from tributary_analysis.reports.workarea import WorkSession

log = logging.getLogger(__name__)

#: how long a terminated worker gets to kill its kernel before its group is killed
STOP_GRACE = 10.0


@dataclass(frozen=True)
class ExecutionJob:
    """Everything needed to execute one notebook, and nothing secret.

    ``env`` holds the non-secret variables the kernel needs (plotly renderer, kernelspec
    path, reports directory, batch id); credentials come from the executor's environment.
    """

    job_id: str
    notebook: str
    parameters: dict[str, Any]
    kernel_name: str
    cwd: str
    timeout: float
    cell_timeout: float | None = None
    start_timeout: float = 60.0
    env: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionJob:
        return cls(**data)


@dataclass(frozen=True)
class WorkerOutcome:
    """How papermill ended, as the worker caught it (never read from notebook metadata)."""

    status: str  # ok | failed
    cell_index: int | None = None
    exec_count: int | None = None
    ename: str = ""
    evalue: str = ""
    traceback: tuple[str, ...] = ()
    source: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WorkerOutcome:
        return cls(status=str(data.get("status", "failed")),
                   cell_index=data.get("cell_index"), exec_count=data.get("exec_count"),
                   ename=str(data.get("ename") or ""), evalue=str(data.get("evalue") or ""),
                   traceback=tuple(str(t) for t in data.get("traceback") or ()),
                   source=str(data.get("source") or ""))


@dataclass(frozen=True)
class ExecutionResult:
    """What an executor hands back to publish."""

    job_id: str
    timed_out: bool
    duration_s: float
    returncode: int | None
    outcome: WorkerOutcome | None  # None: the worker died before it could say
    notebook: bytes | None  # unscrubbed executed (or partial) notebook
    log: bytes  # unscrubbed worker + kernel output
    timeout: float = 0.0  # the whole-notebook limit that applied, seconds
    cancelled: bool = False


class Executor(Protocol):
    """Runs :class:`ExecutionJob` s; ``stop_all`` ends every run in flight (an abort)."""

    def execute(self, job: ExecutionJob) -> ExecutionResult: ...

    def stop_all(self) -> None: ...


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the worker (it kills its kernel), then kill its whole group if needed."""
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class LocalExecutor:
    """Run each job in a worker subprocess on this machine, inside ``session``.

    The worker and its kernel die with this process (:mod:`._lifeline`), even after
    ``kill -9``; the job's work directory is removed as soon as its files are read.
    """

    def __init__(self, session: WorkSession, python: str = sys.executable) -> None:
        self.session = session
        self.python = python
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def _env(self, job: ExecutionJob) -> dict[str, str]:
        env = dict(os.environ)
        for key, value in job.env.items():
            if key == "JUPYTER_PATH" and env.get(key):
                value = os.pathsep.join((value, env[key]))
            env[key] = value
        env[PARENT_ENV] = str(os.getpid())
        return env

    def execute(self, job: ExecutionJob) -> ExecutionResult:
        """Run ``job`` to its end, its failure or its timeout; never raises for those."""
        work = self.session.run_dir(job.job_id)
        spec_file, result_file = work / "spec.json", work / "result.json"
        work_nb, work_log = work / "executed.ipynb", work / "run.log"
        spec_file.write_text(json.dumps({
            "input": job.notebook, "output": str(work_nb), "parameters": job.parameters,
            "kernel_name": job.kernel_name, "cwd": job.cwd, "cell_timeout": job.cell_timeout,
            "start_timeout": job.start_timeout, "result": str(result_file),
        }))
        t0 = time.monotonic()
        timed_out = cancelled = False
        try:
            with open(work_log, "wb") as logfh:
                with self._lock:
                    if self._stopping:
                        return ExecutionResult(job.job_id, False, 0.0, None, None, None, b"",
                                               timeout=job.timeout, cancelled=True)
                    proc = subprocess.Popen(
                        [self.python, "-m", "tributary_analysis.reports._worker",
                         str(spec_file)],
                        stdout=logfh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        env=self._env(job), start_new_session=True,
                    )
                    self._procs.add(proc)
                try:
                    proc.wait(timeout=job.timeout)
                except subprocess.TimeoutExpired:
                    timed_out = True
                    _stop(proc)
                finally:
                    with self._lock:
                        self._procs.discard(proc)
                        cancelled = self._stopping and not timed_out and proc.returncode != 0
            duration = time.monotonic() - t0
            outcome = None
            if not timed_out and result_file.exists():
                outcome = WorkerOutcome.from_dict(json.loads(result_file.read_text()))
            notebook = work_nb.read_bytes() if work_nb.exists() else None
            return ExecutionResult(job.job_id, timed_out, duration, proc.returncode, outcome,
                                   notebook, work_log.read_bytes(), timeout=job.timeout,
                                   cancelled=cancelled)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def stop_all(self) -> None:
        """Stop every worker in flight and refuse new jobs (Ctrl-C, a full disk)."""
        with self._lock:
            self._stopping = True
            procs = list(self._procs)
        for proc in procs:
            _stop(proc)
