"""Warm workers: a pool of long-lived report workers that import once and render many.

A one-shot worker (:class:`~.execute.LocalExecutor`) pays for a fresh interpreter with
papermill, nbconvert and the package for every notebook, then for a kernel that starts and
imports pandas, plotly and the package before the first cell can run. :class:`PoolExecutor`
keeps ``size`` workers (:mod:`._pool_worker`) for the whole batch: each imports once, forks
its kernels from a zygote that imported what the notebooks import (:mod:`._kernel_zygote`),
and while one notebook runs it starts the kernel for the next. Every notebook still gets a
kernel process of its own — kernels are never reused.

With :meth:`PoolExecutor.execute_and_publish` (what the runner calls) the worker also
publishes the run — scrub, HTML export, ledger record, further artefacts — so pages are
exported in the pool, in parallel, instead of one after another in the parent; the record
comes back. That happens only when the worker sees the very settings the caller uses (it
reads the same environment and config file); otherwise the parent publishes as usual.

What holds exactly as with the local executor:

* the whole-notebook timeout: the parent waits for the worker's "executed" reply until the
  job's deadline, then terminates the worker (it kills its kernels' process groups) and
  reads the partial notebook; the slot gets a new worker for the next job;
* death with the parent: workers and kernels arm :mod:`._lifeline` (``PR_SET_PDEATHSIG`` and
  the watchdog) against their own parent; workers are started from one long-lived thread
  of the pool, since the death signal follows the *thread* that started a process;
* secrets: a job carries none (the worker's environment does); the unscrubbed notebook and
  log live only in the private work area (:mod:`.workarea`) until read;
* the failure record: :mod:`._worker`'s :func:`~._worker.execute` catches the outcome and
  :func:`~.failure.judge` reads it, in whichever process publishes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tributary_analysis.errors import OutputError, ReportError
from tributary_analysis.reports._lifeline import PARENT_ENV
from tributary_analysis.reports._pool_worker import read_exact, write_frame
from tributary_analysis.reports.execute import (
    ExecutionJob,
    ExecutionResult,
    WorkerOutcome,
    _stop,
)
from tributary_analysis.reports.workarea import WorkSession

if TYPE_CHECKING:
    from tributary_analysis.config import Settings
    from tributary_analysis.reports.ledger import RunRecord
    from tributary_analysis.reports.prepare import PreparedRun
    from tributary_analysis.reports.publish import ArtifactWriter
    from tributary_analysis.reports.scrub import Scrubber

log = logging.getLogger(__name__)


class _Died(Exception):
    """The worker's reply pipe closed: it exited (crash, stop_all)."""


class _Expired(Exception):
    """The job's deadline passed before the worker said it had executed the notebook."""


class _WorkerProcess:
    """One warm worker: its process, its request pipe (stdin) and its reply pipe."""

    def __init__(self, proc: subprocess.Popen[bytes], reply_fd: int, log_path: Path) -> None:
        self.proc = proc
        self.reply_fd = reply_fd
        self.log_path = log_path
        self.jobs = 0

    def send(self, obj: object) -> None:
        assert self.proc.stdin is not None
        try:
            write_frame(self.proc.stdin, obj)
        except (BrokenPipeError, OSError) as exc:
            raise _Died() from exc

    def recv(self, deadline: float | None) -> Any:
        import pickle
        import struct

        def read(n: int) -> bytes:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.reply_fd], [], [], left)[0]:
                    raise _Expired()
            return os.read(self.reply_fd, n)

        head = read_exact(read, 4)
        if head is None:
            raise _Died()
        body = read_exact(lambda n: os.read(self.reply_fd, n), struct.unpack("!I", head)[0])
        if body is None:
            raise _Died()
        return pickle.loads(body)  # our own child's reply

    def close(self, grace: float = 20.0) -> None:
        """End of input: the worker shuts its kernels down and exits; else it is stopped."""
        with contextlib.suppress(OSError):
            if self.proc.stdin is not None:
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            _stop(self.proc)
        with contextlib.suppress(OSError):
            os.close(self.reply_fd)


class PoolExecutor:
    """Run jobs on ``size`` warm workers inside ``session``.

    Parameters
    ----------
    session : WorkSession
        The private work area of this batch.
    size : int
        Workers (notebooks at once); the runner passes ``--jobs``.
    python : str
        The interpreter of the workers (and, through the kernelspec, of the kernels).
    prestart : bool
        Start each notebook's kernel while the previous notebook runs.
    expected_jobs : int, optional
        How many jobs the batch has: no kernel is pre-started for a job that will not come.

    Examples
    --------
    >>> run_reports(requests, out_dir, executor="pool")  # doctest: +SKIP
    """

    def __init__(self, session: WorkSession, size: int = 2, *, python: str = sys.executable,
                 prestart: bool = True, expected_jobs: int | None = None) -> None:
        if size < 1:
            raise ValueError(f"a worker pool needs at least one worker, got {size}")
        self.session = session
        self.size = size
        self.python = python
        self.prestart = prestart
        self.expected_jobs = expected_jobs
        self._cond = threading.Condition()
        self._idle: list[_WorkerProcess] = []
        self._busy: set[_WorkerProcess] = set()
        self._alive = 0
        self._started_jobs = 0
        self._spawned = 0
        self._stopping = False
        self._closed = False
        # one long-lived thread starts every worker: PR_SET_PDEATHSIG fires when the
        # *thread* that started a process ends, and the runner's threads end with the batch
        self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="report-pool")

    # -- workers ---------------------------------------------------------------------------

    def _spawn(self) -> _WorkerProcess:
        def start() -> _WorkerProcess:
            self._spawned += 1
            log_path = self.session.path / f"pool-worker-{self._spawned}.log"
            read_fd, write_fd = os.pipe()
            env = dict(os.environ)
            env[PARENT_ENV] = str(os.getpid())
            try:
                with open(log_path, "ab") as logfh:
                    proc = subprocess.Popen(
                        [self.python, "-m", "tributary_analysis.reports._pool_worker",
                         str(write_fd)],
                        stdin=subprocess.PIPE, stdout=logfh, stderr=subprocess.STDOUT,
                        pass_fds=(write_fd,), env=env, start_new_session=True)
            except BaseException:
                os.close(read_fd)
                raise
            finally:
                os.close(write_fd)
            return _WorkerProcess(proc, read_fd, log_path)

        return self._spawner.submit(start).result()

    def _checkout(self) -> _WorkerProcess | None:
        """An idle worker, a new one while fewer than ``size`` live, else wait; None once
        the pool is stopping."""
        with self._cond:
            while True:
                if self._stopping:
                    return None
                if self._idle:
                    worker = self._idle.pop()
                    self._busy.add(worker)
                    return worker
                if self._alive < self.size:
                    self._alive += 1
                    break
                self._cond.wait()
        try:
            worker = self._spawn()
        except BaseException:
            with self._cond:
                self._alive -= 1
                self._cond.notify()
            raise
        with self._cond:
            self._busy.add(worker)
        return worker

    def _checkin(self, worker: _WorkerProcess, *, alive: bool) -> None:
        with self._cond:
            self._busy.discard(worker)
            if alive and not self._stopping and worker.proc.poll() is None:
                self._idle.append(worker)
            else:
                self._alive -= 1
                _discard(worker)
            self._cond.notify()

    def _prestart_next(self) -> bool:
        with self._cond:
            self._started_jobs += 1
            if not self.prestart:
                return False
            if self.expected_jobs is None:
                return True
            # jobs not yet handed to any worker, beyond those the busy workers will take
            return self.expected_jobs - self._started_jobs > 0

    # -- jobs ------------------------------------------------------------------------------

    def execute(self, job: ExecutionJob) -> ExecutionResult:
        """Run ``job`` to its end, its failure or its timeout; never raises for those."""
        result, _ = self._run(job, None)
        assert result is not None
        return result

    def execute_and_publish(self, prep: PreparedRun, *, settings: Settings,
                            scrubber: Scrubber, writers: Sequence[ArtifactWriter]
                            ) -> RunRecord:
        """Execute ``prep`` and publish it in the worker when it can (else here).

        Raises :class:`~tributary_analysis.errors.OutputError` as :func:`.publish.publish`
        does.
        """
        from tributary_analysis.reports.publish import publish

        payload = self._publish_payload(prep, settings, writers)
        result, record = self._run(prep.job, payload)
        if record is not None:
            return record
        assert result is not None
        return publish(prep, result, settings=settings, scrubber=scrubber, writers=writers)

    @staticmethod
    def _publish_payload(prep: PreparedRun, settings: Settings,
                         writers: Sequence[ArtifactWriter]) -> dict[str, Any] | None:
        """What the worker needs to publish, or None when the parent must: the worker
        builds its settings from the same environment and config file, so it publishes
        only when those give exactly the caller's settings."""
        import pickle

        from tributary_analysis.config import load_settings

        try:
            if load_settings() != settings:
                return None
            payload = {"prepared": prep, "writers": list(writers)}
            pickle.dumps(payload)
        except Exception:  # settings that do not load here, a writer that cannot travel
            return None
        return payload

    def _run(self, job: ExecutionJob, publish: dict[str, Any] | None
             ) -> tuple[ExecutionResult | None, RunRecord | None]:
        work = self.session.run_dir(job.job_id)
        result_file, work_nb, work_log = (work / "result.json", work / "executed.ipynb",
                                          work / "run.log")
        spec = {
            "input": job.notebook, "output": str(work_nb), "parameters": job.parameters,
            "kernel_name": job.kernel_name, "cwd": job.cwd, "cell_timeout": job.cell_timeout,
            "start_timeout": job.start_timeout, "result": str(result_file),
        }
        try:
            worker = self._checkout()
            if worker is None:
                return ExecutionResult(job.job_id, False, 0.0, None, None, None, b"",
                                       timeout=job.timeout, cancelled=True), None
            work_log.touch(mode=0o600)
            t0 = time.monotonic()
            timed_out = died = False
            executed = False
            record: RunRecord | None = None
            error: dict[str, Any] | None = None
            try:
                worker.send({"job": job.to_dict(), "spec": spec, "log": str(work_log),
                             "publish": publish, "prestart": self._prestart_next()})
                worker.recv(t0 + job.timeout)  # {"executed": status}
                executed = True
                worker.jobs += 1
                if publish is not None:
                    answer = worker.recv(None)
                    record, error = answer.get("record"), answer if "error" in answer else None
            except _Expired:
                timed_out = True
                _stop(worker.proc)
            except _Died:
                died = True
                worker.proc.wait()
            finally:
                self._checkin(worker, alive=not (timed_out or died))
            duration = time.monotonic() - t0
            if error is not None:
                raise _publish_error(error)
            if record is not None:
                return None, record
            with self._cond:
                cancelled = self._stopping and not timed_out and not executed
            outcome = None
            if not timed_out and result_file.exists():
                outcome = WorkerOutcome.from_dict(_json(result_file))
            notebook = work_nb.read_bytes() if work_nb.exists() else None
            run_log = work_log.read_bytes()
            if died and not executed:
                run_log += _worker_log_tail(worker.log_path)
            returncode = worker.proc.returncode if (timed_out or died) else (
                0 if outcome is not None and outcome.status == "ok" else 1)
            return ExecutionResult(job.job_id, timed_out, duration, returncode, outcome,
                                   notebook, run_log, timeout=job.timeout,
                                   cancelled=cancelled), None
        finally:
            import shutil

            shutil.rmtree(work, ignore_errors=True)

    # -- lifetime --------------------------------------------------------------------------

    def stop_all(self) -> None:
        """Stop every worker (and so every kernel) and refuse new jobs (Ctrl-C, full disk)."""
        with self._cond:
            self._stopping = True
            workers = [*self._idle, *self._busy]
            self._cond.notify_all()
        for worker in workers:
            _stop(worker.proc)

    def close(self) -> None:
        """Shut every worker down (their kernels with them) and wait for them."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            workers, self._idle = self._idle, []
            busy = list(self._busy)
        for worker in workers:
            worker.close()
        for worker in busy:  # a close during a run (an error elsewhere): stop it
            _stop(worker.proc)
        self._spawner.shutdown(wait=True)

    def __enter__(self) -> PoolExecutor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _discard(worker: _WorkerProcess) -> None:
    """Close what we hold of a worker that exited or was stopped."""
    with contextlib.suppress(OSError):
        os.close(worker.reply_fd)
    with contextlib.suppress(OSError):
        if worker.proc.stdin is not None:
            worker.proc.stdin.close()


def _json(path: Path) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads(path.read_text())
    return data


def _worker_log_tail(path: Path, limit: int = 20_000) -> bytes:
    """What a worker that died between jobs said (an import error, a crash)."""
    try:
        data = path.read_bytes()[-limit:]
    except OSError:
        return b""
    return (b"\n---- report worker output ----\n" + data) if data.strip() else b""


def _publish_error(answer: dict[str, Any]) -> ReportError:
    """The exception publishing raised in the worker, raised again here."""
    if answer["error"] == "OutputError":
        return OutputError(answer["message"], path=answer.get("path") or "",
                           errno=answer.get("errno"))
    return ReportError(f"publishing the run in the report worker failed: "
                       f"{answer['error']}: {answer['message']}")
