"""Execute a prepared notebook: the seam between preparing a run and publishing it.

An :class:`ExecutionJob` is plain data (JSON-serialisable, no secrets); an executor runs it
and returns an :class:`ExecutionResult` — the executed notebook and log as bytes, the
worker's typed :class:`WorkerOutcome`, whether the whole-notebook timeout stopped it. Publish
never looks at the executor's files, so an executor may run anywhere: :class:`LocalExecutor`
runs a worker subprocess here; the warm pool (:mod:`.pool`) and a Dask cluster
(:mod:`.dask_executor`) implement the same :class:`Executor` protocol and ship the result
back. :func:`open_executor` opens the one a ``--executor`` value names.

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
from collections.abc import Iterator, Mapping
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


def job_environment(job_env: dict[str, str], base: Mapping[str, str]) -> dict[str, str]:
    """``base`` with a job's variables on top; its kernelspec directory goes first on
    ``JUPYTER_PATH``, ahead of what was there."""
    env = dict(base)
    for key, value in job_env.items():
        if key == "JUPYTER_PATH" and env.get(key):
            value = os.pathsep.join((value, env[key]))
        env[key] = value
    return env


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

    def __init__(self, session: WorkSession, python: str = sys.executable,
                 base_env: Mapping[str, str] | None = None) -> None:
        self.session = session
        self.python = python
        #: the environment workers start from (default: this process's, when each starts)
        self.base_env = base_env
        self._procs: set[subprocess.Popen[bytes]] = set()
        self._lock = threading.Lock()
        self._stopping = False

    def _env(self, job: ExecutionJob) -> dict[str, str]:
        env = job_environment(job.env, os.environ if self.base_env is None else self.base_env)
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


#: the executor ``run_reports`` uses when none is passed (``tributary report run --executor``)
EXECUTOR_ENV = "TRIBUTARY_REPORT_EXECUTOR"
EXECUTORS = "local, pool or dask://HOST:PORT"


def parse_executor(spec: str) -> tuple[str, str]:
    """``"local"``, ``"pool"`` or ``"dask://HOST:PORT"`` → ``(kind, address)``.

    Examples
    --------
    >>> parse_executor("pool"), parse_executor("dask://127.0.0.1:8786")
    (('pool', ''), ('dask', 'tcp://127.0.0.1:8786'))
    """
    from tributary_analysis.errors import ConfigError

    text = spec.strip()
    if text.lower() in ("local", "pool"):
        return text.lower(), ""
    scheme, sep, rest = text.partition("://")
    if sep and scheme.lower() in ("dask", "tcp", "tls"):
        host, colon, port = rest.rstrip("/").rpartition(":")
        if host and colon and port.isdigit() and "/" not in rest.rstrip("/"):
            proto = "tls" if scheme.lower() == "tls" else "tcp"
            return "dask", f"{proto}://{host}:{port}"
    raise ConfigError(f"--executor {spec!r} is not an executor; use {EXECUTORS} (the "
                      "scheduler's address, e.g. dask://127.0.0.1:8786)")


@contextlib.contextmanager
def open_executor(spec: str, session: WorkSession, *, jobs: int = 2,
                  expected_jobs: int | None = None) -> Iterator[Executor]:
    """The executor ``spec`` names, open for one batch and closed after it.

    Parameters
    ----------
    spec : str
        ``local`` (a worker process per notebook), ``pool`` (``jobs`` warm workers,
        :mod:`.pool`) or ``dask://HOST:PORT`` (a Dask cluster, :mod:`.dask_executor`).
    session : WorkSession
        The batch's private work area.
    jobs : int
        Notebooks at once (the pool's size).
    expected_jobs : int, optional
        How many jobs the batch has (the pool pre-starts no kernel beyond them).
    """
    kind, address = parse_executor(spec)
    if kind == "local":
        yield LocalExecutor(session)
    elif kind == "pool":
        from tributary_analysis.reports.pool import PoolExecutor

        with PoolExecutor(session, jobs, expected_jobs=expected_jobs) as pool:
            yield pool
    else:
        from tributary_analysis.reports.dask_executor import DaskExecutor

        with DaskExecutor(address) as cluster:
            yield cluster
