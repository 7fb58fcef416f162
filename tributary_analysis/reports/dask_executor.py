"""Report jobs on a Dask distributed cluster: ``report run --executor dask://HOST:PORT``.

Each :class:`~.execute.ExecutionJob` becomes one Dask task whose function, on a worker,
runs the job exactly as this machine would — a :class:`~.execute.LocalExecutor` worker
subprocess with its whole-notebook timeout, in a private work area of *that* machine — and
returns the :class:`~.execute.ExecutionResult` to the caller, which publishes (scrub, page,
ledger) as for a local run. Failures and timeouts on a worker are therefore the same pages
and records; a task the cluster itself loses (a worker killed, the scheduler gone) becomes
a ``runner`` failure saying so.

Secrets never travel: the task payload (:func:`task_payload`) is the secret-free job plus
the notebook's text; a worker reads credentials from its own environment or config file,
as the local worker does. Nor do they come back: before returning, the worker replaces
every secret *it* knows in the notebook, the log and the outcome by a random marker the
caller chose for that job (``redact_as``); the caller's scrubber knows the marker, so its
publish step counts and redacts those occurrences exactly as if it had seen the secrets
(the page says how many were redacted, as for a local run), and still redacts the secrets
it knows itself. The task key is opaque (no tenant id in the scheduler's logs), and the
task function never raises, so neither the worker nor the scheduler logs its arguments.
Results go from the worker straight to the caller (``direct_to_workers``), not through
the scheduler, and are released at once.

Limits worth knowing: a worker needs this package and the notebooks' imports installed
(its kernelspec is written on the worker, for its own interpreter); the notebook travels
with the task, so its directory need not exist there (then the kernel runs in the work
area); a caller killed mid-batch leaves its running jobs to end on the cluster within their
``--timeout``, and nothing of them is published.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from tributary_analysis.config import REDACTED
from tributary_analysis.errors import ConfigError
from tributary_analysis.reports.execute import (
    STOP_GRACE,
    ExecutionJob,
    ExecutionResult,
    LocalExecutor,
    WorkerOutcome,
)
from tributary_analysis.reports.scrub import Scrubber

if TYPE_CHECKING:
    from tributary_analysis.config import Settings
    from tributary_analysis.reports.ledger import RunRecord
    from tributary_analysis.reports.prepare import PreparedRun
    from tributary_analysis.reports.publish import ArtifactWriter

log = logging.getLogger(__name__)

#: prefix of every task key: opaque, so no tenant id or report name reaches the scheduler
KEY_PREFIX = "tributary-report-"
#: how long past its own timeout a job may take before the caller gives up on the cluster
CLUSTER_GRACE = 300.0

#: jobs running in this worker process (a Dask worker), by task key: stop_all reaches them
_RUNNING: dict[str, LocalExecutor] = {}
_RUNNING_LOCK = threading.Lock()


def task_payload(job: ExecutionJob, redact_as: str = REDACTED) -> dict[str, Any]:
    """What a task carries: the secret-free job, the notebook's text (workers need not
    share the caller's file system) and the marker the worker puts in place of a secret."""
    text = Path(job.notebook).read_text(encoding="utf-8")
    return {"job": job.to_dict(), "notebook_text": text,
            "notebook_sha256": hashlib.sha256(text.encode()).hexdigest(),
            "redact_as": redact_as}


class _MarkingScrubber(Scrubber):
    """A scrubber that writes ``marker`` where a secret was (the caller redacts it)."""

    def __init__(self, secrets: tuple[str, ...], marker: str) -> None:
        super().__init__(secrets)
        self.marker = marker

    def text(self, value: str) -> str:
        if self._pattern is None or not value:
            return value
        new, n = self._pattern.subn(self.marker, value)
        self.count += n
        return new


def _scrub_here(result: ExecutionResult, marker: str) -> ExecutionResult:
    """``result`` without any secret this worker knows (its environment, its config)."""
    import json

    from tributary_analysis.config import load_settings

    scrub = _MarkingScrubber(Scrubber.from_environment(load_settings()).values, marker)
    notebook = result.notebook
    if notebook is not None:
        try:
            notebook = json.dumps(scrub.tree(json.loads(notebook))).encode()
        except ValueError:  # a torn save of a killed run: scrub it as text
            notebook = scrub.data(notebook)
    outcome = result.outcome
    if outcome is not None:
        # through JSON: the traceback is a tuple, which Scrubber.tree does not enter
        outcome = WorkerOutcome.from_dict(scrub.tree(json.loads(json.dumps(asdict(outcome)))))
    return replace(result, notebook=notebook, log=scrub.data(result.log), outcome=outcome)


def _localise(job: ExecutionJob, payload: dict[str, Any], work: Path) -> ExecutionJob:
    """The job as this machine runs it: our kernelspec, the notebook where it is."""
    from tributary_analysis.config import load_settings
    from tributary_analysis.reports.kernel import ensure_kernelspec

    settings = load_settings()
    kernel_name, kernel_dir = ensure_kernelspec((settings.home / "jupyter").resolve())
    notebook, cwd = Path(job.notebook), job.cwd
    same = False
    with contextlib.suppress(OSError):
        same = hashlib.sha256(notebook.read_bytes()).hexdigest() == payload["notebook_sha256"]
    if not same:
        notebook = work / Path(job.notebook).name
        notebook.write_text(payload["notebook_text"], encoding="utf-8")
        if not Path(cwd).is_dir():
            cwd = str(work)
    env = {**job.env, "JUPYTER_PATH": str(kernel_dir)}
    return replace(job, notebook=str(notebook), cwd=cwd, kernel_name=kernel_name, env=env)


#: Dask's tuning of its own worker processes (``distributed.nanny.pre-spawn-environ``) that a
#: notebook should not inherit: a 64 KiB malloc trim threshold made a pandas loop 1.1–2.3×
#: slower here. Dask's thread limits (``OMP_NUM_THREADS=1``...) are kept: one notebook
#: per worker thread.
_NOT_FOR_NOTEBOOKS = ("MALLOC_TRIM_THRESHOLD_",)


def notebook_environment(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """This Dask worker's environment without what Dask set only for itself."""
    import dask.config
    import distributed  # noqa: F401 - its defaults are part of dask.config once imported

    env = os.environ if env is None else env
    dask_set = dask.config.get("distributed.nanny.pre-spawn-environ", default={}) or {}
    return {k: v for k, v in env.items()
            if not (k in _NOT_FOR_NOTEBOOKS and k in dask_set and str(dask_set[k]) == v)}


def run_job(payload: dict[str, Any], key: str) -> dict[str, Any]:
    """The task: run one job on this Dask worker; never raises (a raising task would have
    its arguments logged by the worker and the scheduler)."""
    from tributary_analysis.config import load_settings
    from tributary_analysis.reports import workarea

    job = ExecutionJob.from_dict(payload["job"])
    t0 = time.monotonic()
    try:
        settings = load_settings()
        with workarea.session(settings.work_dir) as ws:
            executor = LocalExecutor(ws, base_env=notebook_environment())
            with _RUNNING_LOCK:
                _RUNNING[key] = executor
            try:
                result = executor.execute(_localise(job, payload, ws.path))
            finally:
                with _RUNNING_LOCK:
                    _RUNNING.pop(key, None)
        return _to_dict(_scrub_here(result, str(payload.get("redact_as") or REDACTED)))
    except BaseException as exc:  # a broken worker set-up: a runner failure, said plainly
        message = (f"the Dask worker could not run the report: {type(exc).__name__}: "
                   f"{exc}").encode()
        return _to_dict(ExecutionResult(job.job_id, False, time.monotonic() - t0, None,
                                        None, None, message, timeout=job.timeout))


def stop_jobs(keys: list[str]) -> int:
    """Stop the jobs ``keys`` running in this worker process (run by ``Client.run``)."""
    with _RUNNING_LOCK:
        running = [ex for k, ex in _RUNNING.items() if k in keys]
    for executor in running:
        executor.stop_all()
    return len(running)


def _to_dict(result: ExecutionResult) -> dict[str, Any]:
    data = asdict(result)
    data["outcome"] = asdict(result.outcome) if result.outcome is not None else None
    return data


def _from_dict(data: dict[str, Any]) -> ExecutionResult:
    outcome = data.get("outcome")
    return ExecutionResult(
        job_id=data["job_id"], timed_out=bool(data["timed_out"]),
        duration_s=float(data["duration_s"]), returncode=data.get("returncode"),
        outcome=WorkerOutcome.from_dict(outcome) if outcome is not None else None,
        notebook=data.get("notebook"), log=data.get("log") or b"",
        timeout=float(data.get("timeout") or 0.0), cancelled=bool(data.get("cancelled")))


class DaskExecutor:
    """Run jobs as tasks on the Dask cluster whose scheduler is at ``address``.

    Parameters
    ----------
    address : str
        ``tcp://HOST:PORT`` (``parse_executor("dask://HOST:PORT")`` gives it).
    connect_timeout : float
        Seconds to reach the scheduler before :class:`ConfigError`.

    Attributes
    ----------
    concurrency : int
        The cluster's worker threads when we connected: how many jobs the runner keeps
        in flight.
    """

    def __init__(self, address: str, *, connect_timeout: float = 30.0) -> None:
        from distributed import Client

        self.address = address
        try:
            self.client = Client(address, timeout=f"{connect_timeout}s",
                                 direct_to_workers=True, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ConfigError(f"--executor dask://{address.split('://', 1)[-1]}: cannot "
                              f"reach the Dask scheduler ({type(exc).__name__}); start it "
                              "(dask scheduler) or fix the address") from None
        workers = self.client.scheduler_info().get("workers", {})
        self.concurrency = sum(int(w.get("nthreads", 1)) for w in workers.values())
        if not workers:
            log.warning("the Dask cluster at %s has no workers yet: jobs wait for one",
                        address)
        self._futures: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stopping = False

    def execute_and_publish(self, prep: PreparedRun, *, settings: Settings,
                            scrubber: Scrubber, writers: Sequence[ArtifactWriter]
                            ) -> RunRecord:
        """Run ``prep`` on a worker and publish it here; the worker marks the secrets it
        knows with a marker only this run's scrubber redacts (and counts)."""
        from tributary_analysis.reports.publish import publish

        marker = "tributary-secret-" + uuid.uuid4().hex
        result = self._execute(prep.job, marker)
        return publish(prep, result, settings=settings,
                       scrubber=Scrubber([*scrubber.values, marker]), writers=writers)

    def execute(self, job: ExecutionJob) -> ExecutionResult:
        """Run ``job`` on a worker and return its result (the worker's secrets already
        ``[redacted]``); never raises for a failure."""
        return self._execute(job, REDACTED)

    def _execute(self, job: ExecutionJob, marker: str) -> ExecutionResult:
        from distributed import CancelledError

        key = KEY_PREFIX + uuid.uuid4().hex
        t0 = time.monotonic()
        with self._lock:
            if self._stopping:
                return ExecutionResult(job.job_id, False, 0.0, None, None, None, b"",
                                       timeout=job.timeout, cancelled=True)
            future = self.client.submit(run_job, task_payload(job, marker), key, key=key,
                                        pure=False, retries=0)
            self._futures[key] = future
        try:
            return _from_dict(future.result(timeout=job.timeout + STOP_GRACE
                                            + CLUSTER_GRACE))
        except CancelledError:
            return ExecutionResult(job.job_id, False, time.monotonic() - t0, None, None,
                                   None, b"", timeout=job.timeout, cancelled=True)
        except Exception as exc:  # the cluster lost the task: a worker died, no scheduler
            with self._lock:
                cancelled = self._stopping
            what = (f"the Dask cluster at {self.address} did not return the job: "
                    f"{type(exc).__name__}: {exc}")
            return ExecutionResult(job.job_id, False, time.monotonic() - t0, None, None,
                                   None, what.encode(), timeout=job.timeout,
                                   cancelled=cancelled)
        finally:
            with self._lock:
                self._futures.pop(key, None)
            future.release()

    def stop_all(self) -> None:
        """Cancel every job of ours and stop those already running on a worker."""
        with self._lock:
            self._stopping = True
            futures = dict(self._futures)
        if not futures:
            return
        with contextlib.suppress(Exception):
            self.client.run(stop_jobs, list(futures))
        with contextlib.suppress(Exception):
            self.client.cancel(list(futures.values()))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
