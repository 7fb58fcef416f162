"""Publish an executed run: scrub, page, ledger record, ``latest`` link, further artefacts.

Everything written here lands under ``--out``, which is served as static files, so nothing is
written before it is scrubbed: the executed notebook arrives as bytes
(:class:`~tributary_analysis.reports.execute.ExecutionResult`), is parsed, scrubbed of every
secret, stripped of the kernel's stderr (moved to ``run.log``), and only then written; the
page's tracebacks lose this installation's local paths. Files are written atomically
(:mod:`.outdir`), so a reader never sees half a page and a full disk raises
:class:`~tributary_analysis.errors.OutputError` rather than leaving a torn one.

Every run gets ``summary.json`` beside ``report.html`` (:mod:`.summary`), failed runs too.
The notebook hands its summary over as a display bundle in the executed notebook (as it does
its warnings: publish never reads an executor's files, so a run on a Dask worker carries
it the same way); publish validates it (:func:`~.summary.coerce`), stamps the run's report
name, window and tenant on it, renders the page's answer from that very object and writes
it. The run's status is the summary's (``warning`` when the notebook says so) unless the
run failed. ``summary_path``, a notebook parameter for use outside the runner, is never
shown: not in the header's parameters, not in the published notebook.

Artefact writers (:class:`ArtifactWriter`) run after the page: a PDF printed from the page;
each adds a file beside ``report.html`` and an entry in the record's ``artifacts``. A writer
that fails fails the run (its page stays) with the reason.
"""

from __future__ import annotations

import logging
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

import nbconvert  # noqa: F401 - the page exporter, imported once (warm workers import us)
import nbformat
import pandas as pd
from nbformat import NotebookNode

from tributary_analysis.config import Settings, redact_url
from tributary_analysis.errors import OutputError, TributaryError
from tributary_analysis.ground.time import iso
from tributary_analysis.reports import html as html_mod
from tributary_analysis.reports import index as index_mod
from tributary_analysis.reports import ledger, outdir
from tributary_analysis.reports import summary as summary_mod
from tributary_analysis.reports.execute import ExecutionResult
from tributary_analysis.reports.failure import Failure, Verdict, judge
from tributary_analysis.reports.prepare import INJECTED, PreparedRun
from tributary_analysis.reports.scrub import Scrubber
from tributary_analysis.reports.streams import stderr_section, strip_local_paths, take_stderr

log = logging.getLogger(__name__)

HTML_NAME, NOTEBOOK_NAME, LOG_NAME = "report.html", "report.ipynb", "run.log"
SUMMARY_NAME = summary_mod.FILENAME
#: parameters never shown to the reader (local paths for use outside the runner)
HIDDEN = ("summary_path",)
#: statuses whose page is the report's newest good answer (``latest.html``)
GOOD = ("ok", "warning")


@dataclass
class PublishedRun:
    """What an artefact writer gets: the written page and the (scrubbed) notebook."""

    prepared: PreparedRun
    run_dir: Path
    html_path: Path
    notebook: NotebookNode | None
    page: html_mod.Rendered
    verdict: Verdict
    context: html_mod.PageContext
    artifacts: dict[str, str] = field(default_factory=dict)
    summary: summary_mod.Summary | None = None


class ArtifactWriter(Protocol):
    """Writes one more file of a run beside its page; ``kind`` names it in the ledger."""

    @property
    def kind(self) -> str: ...

    def write(self, run: PublishedRun) -> Path: ...


def _sources_from_settings(settings: Settings) -> list[dict[str, str]]:
    """What is configured, URLs without credentials (used when a notebook says nothing)."""
    out = [{"kind": "prometheus (configured)", "url": redact_url(settings.prometheus_url)}]
    if settings.log_files:
        out.append({"kind": "log files (configured)", "url": settings.log_files})
    else:
        out.append({"kind": "elasticsearch (configured)", "url": redact_url(settings.es_url)})
    return out


def _parse_notebook(data: bytes | None) -> NotebookNode | None:
    if data is None:
        return None
    try:
        return nbformat.reads(data.decode("utf-8", errors="replace"), as_version=4)
    except Exception as exc:  # a half-written save when the worker was killed
        log.warning("could not read the partial executed notebook: %s", type(exc).__name__)
        return None


def _page_failure(failure: Failure | None) -> Failure | None:
    """The failure as the page shows it: no local paths of this installation."""
    if failure is None:
        return None
    return replace(failure, what=strip_local_paths(failure.what),
                   traceback=strip_local_paths(failure.traceback),
                   log=strip_local_paths(failure.log))


def _strip_paths_in_errors(nb: NotebookNode | None) -> None:
    """Error outputs on the page keep their message, not this machine's paths."""
    for cell in nb.cells if nb is not None else []:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                out["traceback"] = [strip_local_paths(t) for t in out.get("traceback", [])]
                out["evalue"] = strip_local_paths(str(out.get("evalue", "")))


_PARAM_LINE = re.compile(r"^\s*(\w+)\s*=")


def _hide_parameters(nb: NotebookNode | None) -> None:
    """Drop the hidden parameters (``summary_path``) from the cell papermill injected."""
    for cell in nb.cells if nb is not None else []:
        if "injected-parameters" not in cell.get("metadata", {}).get("tags", []):
            continue
        lines = cell.source.splitlines()
        kept = [ln for ln in lines if not ((m := _PARAM_LINE.match(ln)) and m.group(1) in HIDDEN)]
        if len(kept) != len(lines):
            cell.source = "\n".join(kept)


def run_summary(prep: PreparedRun, verdict: Verdict, nb: NotebookNode | None
                ) -> tuple[summary_mod.Summary, str]:
    """The run's summary (stamped with the report, window and tenant) and, when the
    notebook's own could not be read, why.

    A free-form summary (``nb.write_summary``: the notebook drew its own answer) is mapped
    onto the schema for ``summary.json``; :func:`renders_answer` tells the page whether to
    draw the answer from it."""
    req = prep.request
    window = (prep.parameters["start"], prep.parameters["end"])
    if verdict.status != "ok":
        what = verdict.failure.what if verdict.failure is not None else verdict.error
        return summary_mod.failed(req.spec.name, window=window, tenant=req.tenant,
                                  what=strip_local_paths(what)), ""
    raw = html_mod.find_summary(nb)
    problem = ""
    base = summary_mod.Summary(report=req.spec.name)
    if raw is not None:
        try:
            base = summary_mod.coerce(raw, report=req.spec.name)
        except (summary_mod.SummaryError, TypeError, ValueError) as exc:
            problem = f"the notebook's summary could not be read ({exc}); no tiles shown"
    return base.with_run(report=req.spec.name, window=window, tenant=req.tenant), problem


def renders_answer(nb: NotebookNode | None) -> bool:
    """Whether the page draws its answer from the notebook's summary: yes for a schema
    document (``nb.show_summary``), no for a free-form one (the notebook drew its own)."""
    raw = html_mod.find_summary(nb)
    return raw is not None and raw.get("schema") == summary_mod.SCHEMA


def publish(
    prep: PreparedRun,
    result: ExecutionResult,
    *,
    settings: Settings,
    scrubber: Scrubber,
    writers: Sequence[ArtifactWriter] = (),
) -> ledger.RunRecord:
    """Write the run's page, notebook and log under ``--out`` and record it in the ledger.

    Raises
    ------
    OutputError
        The reports directory cannot be written (read-only, full): nothing half-written
        stays, and no record claims a page that does not exist.
    """
    nb = _parse_notebook(result.notebook)
    if nb is not None:
        scrubber.tree(nb)
    stderr = take_stderr(nb)
    run_log = scrubber.text(result.log.decode("utf-8", errors="replace"))
    verdict = judge(result, nb, scrubber, run_log)
    if verdict.failure is not None and verdict.failure.traceback:
        run_log += ("\n---- failure ----\n" + verdict.failure.what + "\n"
                    + verdict.failure.traceback + "\n")
    run_log += scrubber.text(stderr_section(stderr))

    run_dir = outdir.make_dir(prep.run_dir)
    try:
        return _publish_into(prep, result, run_dir, nb, verdict, stderr, run_log,
                             settings=settings, scrubber=scrubber, writers=writers)
    except OutputError:
        shutil.rmtree(run_dir, ignore_errors=True)  # no half-published run stays
        raise


def _publish_into(prep: PreparedRun, result: ExecutionResult, run_dir: Path,
                  nb: NotebookNode | None, verdict: Verdict, stderr: list[tuple[int, str]],
                  run_log: str, *, settings: Settings, scrubber: Scrubber,
                  writers: Sequence[ArtifactWriter]) -> ledger.RunRecord:
    req = prep.request
    _hide_parameters(nb)
    summary, summary_problem = run_summary(prep, verdict, nb)
    if nb is not None:
        outdir.write_text(run_dir / NOTEBOOK_NAME, nbformat.writes(nb))
    outdir.write_text(run_dir / LOG_NAME, run_log)
    _strip_paths_in_errors(nb)
    ctx = html_mod.PageContext(
        title=req.spec.display_title,
        status=verdict.status,
        window_start=prep.parameters["start"],
        window_end=prep.parameters["end"],
        generated_at=iso(pd.Timestamp.now(tz="UTC").floor("s")),
        index_href="../../" + index_mod.INDEX,
        assets_href="../../" + html_mod.ASSETS_DIR,
        tenant=req.tenant,
        duration_s=result.duration_s,
        parameters={k: v for k, v in prep.parameters.items()
                    if k not in INJECTED and k not in HIDDEN},
        sources=_sources_from_settings(settings),
        failure=_page_failure(verdict.failure),
        summary=summary if verdict.status == "ok" and renders_answer(nb) else None,
    )
    if stderr:
        lines = sum(len(text.splitlines()) or 1 for _, text in stderr)
        ctx.notes.append(f"The kernel wrote {lines} line(s) to stderr (library warnings, "
                         f"progress); they are kept out of this page, in {LOG_NAME}.")
    if scrubber.count:
        ctx.warnings.append({"source": "report runner", "query": "",
                             "message": f"{scrubber.count} occurrence(s) of a credential "
                                        "were redacted from this report's outputs"})
    if summary_problem:
        ctx.warnings.append({"source": "report runner", "query": "",
                             "message": summary_problem})
    page = html_mod.render_page(nb, ctx)
    html_text = scrubber.text(page.html)
    html_path = outdir.write_text(run_dir / HTML_NAME, html_text)
    # the summary the page was rendered from, with the page's one list of warnings
    summary = (page.summary or summary).with_run(
        warnings=[w["message"] for w in page.warnings])
    summary_path = outdir.write_text(run_dir / SUMMARY_NAME,
                                     scrubber.text(summary_mod.dumps(summary)))

    published = PublishedRun(prep, run_dir, html_path, nb, page, verdict, ctx,
                             summary=summary)
    published.artifacts["summary"] = str(prep.rel_dir / summary_path.relative_to(run_dir))
    status = verdict.status if verdict.status != "ok" else summary.status
    error = verdict.error
    for writer in writers:
        try:
            path = writer.write(published)
        except OutputError:
            raise
        except (TributaryError, OSError) as exc:
            message = scrubber.text(strip_local_paths(str(exc)))
            log.warning("%s: %s not written: %s", req.spec.name, writer.kind, message)
            status = "failed"
            error = "; ".join(e for e in (error, f"{writer.kind} not written: {message}") if e)
            continue
        published.artifacts[writer.kind] = str(prep.rel_dir / path.relative_to(run_dir))

    if status == "failed" and summary.status != "failed":  # an artefact could not be written
        summary = summary.with_run(status="failed", warnings=[scrubber.text(error)])
        published.summary = summary
        outdir.write_text(run_dir / SUMMARY_NAME, scrubber.text(summary_mod.dumps(summary)))

    rel = prep.rel_dir
    record = ledger.RunRecord(
        run_id=prep.run_id, report=req.spec.name, title=req.spec.display_title,
        status=status, window_start=prep.parameters["start"],
        window_end=prep.parameters["end"], started_at=iso(prep.started.floor("s")),
        finished_at=iso(pd.Timestamp.now(tz="UTC").floor("s")),
        duration_s=round(result.duration_s, 2), run_dir=str(rel),
        html=str(rel / HTML_NAME), notebook=str(rel / NOTEBOOK_NAME) if nb is not None else "",
        tenant=req.tenant, parameters=ctx.parameters, error=scrubber.text(error),
        warnings=len(page.warnings), figures=page.figures, redactions=scrubber.count,
        html_bytes=len(html_text.encode()), schedule=req.schedule, batch=prep.batch,
        artifacts=dict(published.artifacts),
    )
    ledger.append(prep.out_dir, record)
    if status in GOOD and req.tenant is None:
        write_latest(prep.out_dir / req.spec.name, prep.dirname)
    log.info("%s %s%s in %.1f s -> %s", req.spec.name, status,
             f" (tenant {req.tenant!r})" if req.tenant is not None else "", result.duration_s,
             html_path)
    return record


def write_latest(report_dir: Path, dirname: str) -> None:
    """``<report>/latest.html``: a redirect other reports can link to."""
    target = f"{dirname}/{HTML_NAME}"
    outdir.write_text(report_dir / "latest.html",
                      '<!DOCTYPE html><html><head><meta charset="utf-8">'
                      f'<meta http-equiv="refresh" content="0; url={target}">'
                      '<title>latest</title></head>'
                      f'<body><a href="{target}">latest report</a></body></html>')
