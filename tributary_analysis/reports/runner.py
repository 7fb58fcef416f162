"""Run reports: prepare → execute → publish, one run or a batch with fan-out and retention.

* :mod:`.prepare` checks a :class:`RunRequest` (parameters, tenant, credentials) and
  describes its execution as a secret-free :class:`~.execute.ExecutionJob`; every mistake
  raises :class:`~tributary_analysis.errors.ConfigError` before anything runs;
* :mod:`.execute` runs the job: :class:`~.execute.LocalExecutor` in a worker subprocess with
  a whole-notebook timeout (papermill bounds only single cells), in the private work area
  (:mod:`.workarea`), the worker and kernel dying with this process; another executor can
  be passed in or named (``executor="pool"``: warm workers, :mod:`.pool`;
  ``"dask://HOST:PORT"``: a Dask cluster, :mod:`.dask_executor`; default
  ``$TRIBUTARY_REPORT_EXECUTOR``, else ``local``);
* :mod:`.publish` scrubs, writes the page, notebook and log atomically, records the run in
  the ledger, moves ``latest.html`` and calls the artefact writers (``--format pdf``).

Layout of the output directory::

    <out>/index.html                  every run, newest first
    <out>/runs.jsonl                  the ledger
    <out>/assets/plotly.min.js        shared by every report (copied from plotly)
    <out>/<report>/<run_id>/report.html, report.ipynb, run.log[, report.pdf]
    <out>/<report>/latest.html        redirect to the newest successful run

Nothing unscrubbed is ever under ``<out>``: work happens under ``$TRIBUTARY_HOME/work``.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from pathlib import Path

import pandas as pd

from tributary_analysis.config import Settings, load_settings
from tributary_analysis.errors import ConfigError, ReportError
from tributary_analysis.ground.time import iso
from tributary_analysis.reports import html as html_mod
from tributary_analysis.reports import index as index_mod
from tributary_analysis.reports import ledger, outdir, workarea
from tributary_analysis.reports.execute import EXECUTOR_ENV, Executor, open_executor
from tributary_analysis.reports.formats import parse_formats, writers_for
from tributary_analysis.reports.prepare import (
    DEFAULT_TIMEOUT,
    INJECTED,
    RunRequest,
    build_parameters,
    notebook_parameters,
    prepare,
    tenant_slug,
    validate,
)
from tributary_analysis.reports.publish import ArtifactWriter, publish
from tributary_analysis.reports.scrub import Scrubber

__all__ = [
    "DEFAULT_TIMEOUT", "INJECTED", "RunRequest", "build_parameters", "notebook_parameters",
    "raise_for_failures", "run_report", "run_reports", "tenant_slug",
]

log = logging.getLogger(__name__)


def _new_batch() -> str:
    import uuid

    now = pd.Timestamp.now(tz="UTC").floor("s")
    return iso(now).replace("-", "").replace(":", "") + "-" + uuid.uuid4().hex[:8]


def _ready_out_dir(out_dir: Path) -> Path:
    out_dir = outdir.check_out_dir(Path(out_dir))
    with outdir.writing(out_dir / html_mod.ASSETS_DIR, "install the shared assets into"):
        html_mod.install_assets(out_dir)
    return out_dir


def _run_one(req: RunRequest, out_dir: Path, executor: Executor, *, settings: Settings,
             scrubber: Scrubber, batch: str, timeout: float, cell_timeout: float | None,
             writers: Sequence[ArtifactWriter]) -> ledger.RunRecord:
    prep = prepare(req, out_dir, settings=settings, scrubber=scrubber, batch=batch,
                   timeout=timeout, cell_timeout=cell_timeout)
    # an executor that can publish where it ran (the warm pool exports pages there)
    execute_and_publish = getattr(executor, "execute_and_publish", None)
    if execute_and_publish is not None:
        record: ledger.RunRecord = execute_and_publish(prep, settings=settings,
                                                       scrubber=scrubber, writers=writers)
        return record
    result = executor.execute(prep.job)
    return publish(prep, result, settings=settings, scrubber=scrubber, writers=writers)


@contextlib.contextmanager
def _executor(executor: Executor | str | None, ws: workarea.WorkSession, *, jobs: int,
              expected_jobs: int) -> Iterator[Executor]:
    """The executor passed in, or the one named (``local``, ``pool``, ``dask://…``; default
    ``$TRIBUTARY_REPORT_EXECUTOR``, else ``local``), opened for this batch."""
    if executor is not None and not isinstance(executor, str):
        yield executor
        return
    spec = executor or os.environ.get(EXECUTOR_ENV) or "local"
    with open_executor(spec, ws, jobs=jobs, expected_jobs=expected_jobs) as opened:
        yield opened


def run_report(
    req: RunRequest,
    out_dir: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    cell_timeout: float | None = None,
    settings: Settings | None = None,
    scrubber: Scrubber | None = None,
    batch: str = "",
    executor: Executor | str | None = None,
    formats: Iterable[str] | str | None = None,
) -> ledger.RunRecord:
    """Execute one report and write its page; never raises for a notebook failure.

    A failed or timed-out notebook yields a failure page and a record with
    ``status != "ok"``; configuration mistakes (unknown parameter, missing notebook) raise
    :class:`~tributary_analysis.errors.ConfigError` before anything runs, an unwritable
    ``out_dir`` :class:`~tributary_analysis.errors.OutputError`.

    Parameters
    ----------
    req : RunRequest
        What to run.
    out_dir : Path
        The reports directory (``index.html``, ``runs.jsonl``, ``assets/``).
    timeout : float
        Whole-notebook limit in seconds, kernel start included.
    cell_timeout : float, optional
        Per-cell limit handed to papermill.
    settings, scrubber
        Defaults: :func:`~tributary_analysis.config.load_settings` and the scrubber of
        every secret it and the environment hold.
    batch : str
        The batch id recorded in the ledger and handed to the notebook (summary reports
        link the other runs of their batch).
    executor : Executor or str, optional
        Where the notebook runs: an :class:`~.execute.Executor`, or ``"local"``,
        ``"pool"``, ``"dask://HOST:PORT"``; default ``$TRIBUTARY_REPORT_EXECUTOR``, else a
        :class:`~.execute.LocalExecutor` in a fresh private work session.
    formats : str or list, optional
        ``"html"`` (default) or ``"html,pdf"``.
    """
    settings = settings or load_settings()
    scrubber = scrubber or Scrubber.from_environment(settings)
    writers = writers_for(parse_formats(formats))
    prepare(req, out_dir, settings=settings, scrubber=scrubber, batch=batch,
            timeout=timeout, cell_timeout=cell_timeout)  # raise before touching anything
    out_dir = _ready_out_dir(Path(out_dir))
    kwargs = dict(settings=settings, scrubber=scrubber, batch=batch, timeout=timeout,
                  cell_timeout=cell_timeout, writers=writers)
    if executor is not None and not isinstance(executor, str):
        return _run_one(req, out_dir, executor, **kwargs)  # type: ignore[arg-type]
    with workarea.session(settings.work_dir, out_dir) as ws, \
            _executor(executor, ws, jobs=1, expected_jobs=1) as opened:
        return _run_one(req, out_dir, opened, **kwargs)  # type: ignore[arg-type]


def run_reports(
    requests: Sequence[RunRequest],
    out_dir: Path,
    *,
    jobs: int = 2,
    timeout: float = DEFAULT_TIMEOUT,
    cell_timeout: float | None = None,
    keep_days: float | None = None,
    keep_runs: int | None = None,
    settings: Settings | None = None,
    on_done: Callable[[ledger.RunRecord], None] | None = None,
    notify: bool = True,
    executor: Executor | str | None = None,
    formats: Iterable[str] | str | None = None,
) -> list[ledger.RunRecord]:
    """Run ``requests`` with at most ``jobs`` at once, then prune, index and notify.

    Summary reports (``spec.summary``) start after every other run of the batch has
    finished, so their links point at this batch's pages. Returns the records in request
    order. Configuration problems raise before any run; an output directory that cannot be
    written raises :class:`~tributary_analysis.errors.OutputError` — before any run when it
    shows up front (a file, read-only, full), else at the first page that cannot be
    written, stopping the runs still going.

    ``executor`` is an :class:`~.execute.Executor` or its name: ``"local"`` (a worker
    process per notebook), ``"pool"`` (``jobs`` warm workers that import once, pre-start
    each kernel and export the pages), ``"dask://HOST:PORT"`` (the jobs run on a Dask
    cluster, as many at once as it has worker threads); default
    ``$TRIBUTARY_REPORT_EXECUTOR``, else ``"local"``.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {timeout:g} s")
    settings = settings or load_settings()
    writers = writers_for(parse_formats(formats))
    # validate everything first: a typo must not cost a half-finished batch
    for req in requests:
        validate(req)
    out_dir = _ready_out_dir(Path(out_dir))
    batch = _new_batch()
    records = _execute_batch(requests, out_dir, jobs=jobs, executor=executor,
                             settings=settings, batch=batch, timeout=timeout,
                             cell_timeout=cell_timeout, writers=writers, on_done=on_done)
    with outdir.writing(out_dir / ledger.LEDGER, "prune the run ledger"):
        ledger.prune(out_dir, keep_days=keep_days, keep_runs=keep_runs)
    with outdir.writing(out_dir / index_mod.INDEX, "write the index"):
        index_mod.write_index(out_dir)
    if notify:
        from tributary_analysis.reports.notify import notify_failures

        notify_failures([r for r in records if not r.ok], out_dir, settings=settings)
    return records


def _execute_batch(requests: Sequence[RunRequest], out_dir: Path, *, jobs: int,
                   executor: Executor | str | None, settings: Settings, batch: str,
                   timeout: float,
                   cell_timeout: float | None, writers: Sequence[ArtifactWriter],
                   on_done: Callable[[ledger.RunRecord], None] | None
                   ) -> list[ledger.RunRecord]:
    details = [i for i, r in enumerate(requests) if not r.spec.summary]
    summaries = [i for i, r in enumerate(requests) if r.spec.summary]
    done: dict[int, ledger.RunRecord] = {}
    with workarea.session(settings.work_dir, out_dir) as ws, \
            _executor(executor, ws, jobs=jobs, expected_jobs=len(requests)) as runner:
        # a cluster runs as many at once as it has worker threads, whatever --jobs says
        width = max(jobs, int(getattr(runner, "concurrency", 0) or 0))

        def one(req: RunRequest) -> ledger.RunRecord:
            record = _run_one(req, out_dir, runner, settings=settings,
                              scrubber=Scrubber.from_environment(settings), batch=batch,
                              timeout=timeout, cell_timeout=cell_timeout, writers=writers)
            if on_done is not None:
                on_done(record)
            return record

        with ThreadPoolExecutor(max_workers=width, thread_name_prefix="report") as pool:
            futures: dict[Future[ledger.RunRecord], int] = {}
            try:
                for group in (details, summaries):
                    futures = {pool.submit(one, requests[i]): i for i in group}
                    for fut in as_completed(futures):
                        done[futures[fut]] = fut.result()
            except BaseException:
                # a full disk or Ctrl-C: stop what is running, start nothing more
                for fut in futures:
                    fut.cancel()
                runner.stop_all()
                raise
    return [done[i] for i in range(len(requests))]


def raise_for_failures(records: Sequence[ledger.RunRecord]) -> None:
    """Raise :class:`ReportError` naming every failed run (the CLI's non-zero exit)."""
    failed = [r for r in records if not r.ok]
    if failed:
        lines = "; ".join(
            f"{r.report}{f' [{r.tenant!r}]' if r.tenant is not None else ''}: {r.status}"
            f" ({r.error}) -> {r.html}" for r in failed)
        raise ReportError(f"{len(failed)} of {len(records)} report run(s) failed: {lines}",
                          report=failed[0].report)
