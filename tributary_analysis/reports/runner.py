"""Run reports: papermill on a real kernel, a whole-notebook timeout, HTML, ledger.

Each run executes in a child process (:mod:`tributary_analysis.reports._worker`) so that the
whole notebook — not just one cell, which is all papermill bounds — can be stopped: the
parent waits up to ``timeout`` seconds, then terminates the child, which kills its kernel.
Success is judged by the exception the child caught (or by the timeout), never by notebook
metadata. The executed notebook is written to a private work directory, scrubbed of every
secret in effect, and only then copied beside the HTML.

Layout of the output directory::

    <out>/index.html                  every run, newest first
    <out>/runs.jsonl                  the ledger
    <out>/assets/plotly.min.js        shared by every report (copied from plotly)
    <out>/<report>/<run_id>/report.html, report.ipynb, run.log
    <out>/<report>/latest.html        redirect to the newest successful run
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import papermill

from tributary_analysis.config import Settings, load_settings
from tributary_analysis.errors import ConfigError, ReportError
from tributary_analysis.reports import html as html_mod
from tributary_analysis.reports import index as index_mod
from tributary_analysis.reports import ledger
from tributary_analysis.reports.kernel import ensure_kernelspec
from tributary_analysis.reports.params import Window
from tributary_analysis.reports.registry import ReportSpec
from tributary_analysis.reports.scrub import Scrubber

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 900.0
#: parameters the runner injects; a notebook declares the ones it wants
INJECTED = ("start", "end", "since", "tenant", "tenants")
TRACEBACK_LINES = 25
LOG_LINES = 15


@dataclass(frozen=True)
class RunRequest:
    """One notebook execution: a report, its window, its parameters, maybe a tenant."""

    spec: ReportSpec
    window: Window
    parameters: dict[str, Any] = field(default_factory=dict)
    tenant: str | None = None
    schedule: str | None = None


def tenant_slug(tenant: str) -> str:
    """A directory-safe, collision-free name for an untrusted tenant id."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", tenant).strip("._")[:40] or "tenant"
    return f"{safe}-{hashlib.sha256(tenant.encode()).hexdigest()[:8]}"


def notebook_parameters(path: Path) -> dict[str, str]:
    """The parameters a notebook declares (its ``parameters`` cell): name → default source.

    Read with :mod:`ast` rather than ``papermill.inspect_notebook``, whose line regex skips
    assignments like ``x = None  # None = all`` and would make us refuse real parameters.
    """
    if not path.exists():
        raise ConfigError(f"report notebook {path} does not exist; check the registry or "
                          "pull the notebooks")
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if not cells:
        raise ConfigError(f"{path} has no cell tagged 'parameters'; tag the cell that sets "
                          "start and end")
    try:
        tree = ast.parse(cells[0].source)
    except SyntaxError:
        return {k: str(v.get("default")) for k, v in
                papermill.inspect_notebook(str(path)).items()}
    out: dict[str, str] = {}
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else (
            [node.target] if isinstance(node, ast.AnnAssign) else [])
        for t in targets:
            if isinstance(t, ast.Name) and node.value is not None:
                out[t.id] = ast.unparse(node.value)
    return out


def build_parameters(req: RunRequest, declared: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then user parameters, then the window/tenant; unknown names are refused."""
    unknown = sorted(set(req.parameters) - set(declared))
    if unknown:
        raise ConfigError(
            f"report {req.spec.name!r}: unknown parameter(s) {', '.join(unknown)}; "
            f"{req.spec.notebook.name} declares: {', '.join(sorted(declared)) or '(none)'}"
        )
    params: dict[str, Any] = {**req.spec.parameters, **req.parameters}
    start, end = req.window.iso()
    for name in ("start", "end"):
        if name not in declared:
            raise ConfigError(
                f"report {req.spec.name!r}: {req.spec.notebook.name} has no {name!r} "
                "parameter; add start and end to its cell tagged 'parameters'"
            )
    params["start"], params["end"] = start, end
    if "since" in declared:
        params["since"] = None  # the window is start/end; a default since would conflict
    if req.tenant is not None:
        if "tenant" in declared:
            params["tenant"] = req.tenant
        elif "tenants" in declared:
            params["tenants"] = [req.tenant]
        else:
            raise ConfigError(
                f"report {req.spec.name!r} takes no tenant (its notebook declares neither "
                "'tenant' nor 'tenants'); drop --tenant for it"
            )
    elif req.spec.per_tenant:
        raise ConfigError(f"report {req.spec.name!r} is per tenant: pass --tenant ID or "
                          "--tenant all")
    return params


def _worker_env(kernel_dir: Path, out_dir: Path, batch: str = "") -> dict[str, str]:
    env = dict(os.environ)
    env["PLOTLY_RENDERER"] = "plotly_mimetype"  # figures as JSON; html.py draws them
    env["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(kernel_dir), env.get("JUPYTER_PATH", "")) if p)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYDEVD_DISABLE_FILE_VALIDATION"] = "1"
    env["TRIBUTARY_REPORTS_DIR"] = str(out_dir.resolve())
    env["TRIBUTARY_REPORT_BATCH"] = batch
    return env


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the worker (it kills its kernel), then kill its whole group if needed."""
    try:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass
    except ProcessLookupError:
        return
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _code_cells(nb: nbformat.NotebookNode | None) -> list[nbformat.NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"] if nb is not None else []


def _running_cell(nb: nbformat.NotebookNode | None) -> tuple[int | None, str]:
    """1-based code-cell number and source of the cell papermill marked running when we
    stopped it (papermill saves the notebook as each cell starts)."""
    for i, cell in enumerate(_code_cells(nb)):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            return i + 1, cell.source
    return None, ""


def _failed_cell(nb: nbformat.NotebookNode | None) -> int | None:
    """1-based code-cell number of the cell with an error output (papermill's own error
    marker cells are markdown and do not count)."""
    for i, cell in enumerate(_code_cells(nb)):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i + 1
    return None


def _tail(text: str, n: int) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _sources_from_settings(settings: Settings) -> list[dict[str, str]]:
    """What is configured, URLs without any userinfo (used when a notebook says nothing)."""
    from urllib.parse import urlsplit, urlunsplit

    def clean(url: str) -> str:
        parts = urlsplit(url)
        host = parts.hostname or ""
        netloc = host + (f":{parts.port}" if parts.port else "")
        return urlunsplit((parts.scheme, netloc, parts.path, "", ""))

    out = [{"kind": "prometheus (configured)", "url": clean(settings.prometheus_url)}]
    if settings.log_files:
        out.append({"kind": "log files (configured)", "url": settings.log_files})
    else:
        out.append({"kind": "elasticsearch (configured)", "url": clean(settings.es_url)})
    return out


def run_report(
    req: RunRequest,
    out_dir: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    cell_timeout: float | None = None,
    settings: Settings | None = None,
    scrubber: Scrubber | None = None,
    batch: str = "",
) -> ledger.RunRecord:
    """Execute one report and write its page; never raises for a notebook failure.

    A failed or timed-out notebook yields a failure page and a record with
    ``status != "ok"``; configuration mistakes (unknown parameter, missing notebook) raise
    :class:`~tributary_analysis.errors.ConfigError` before anything runs.

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
    """
    settings = settings or load_settings()
    scrubber = scrubber or Scrubber.from_environment(settings)
    out_dir = Path(out_dir)
    declared = notebook_parameters(req.spec.notebook)
    params = build_parameters(req, declared)
    for key, value in params.items():
        if isinstance(value, str) and scrubber.text(value) != value:
            raise ConfigError(f"parameter {key!r} carries a credential; parameters are "
                              "written into the report — use the environment or config file")

    started = datetime.now(UTC)
    run_id = started.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]
    dirname = run_id + (f"--{tenant_slug(req.tenant)}" if req.tenant is not None else "")
    run_dir = out_dir / req.spec.name / dirname
    work = out_dir / ".work" / dirname
    work.mkdir(parents=True, exist_ok=True)
    run_dir.mkdir(parents=True, exist_ok=True)
    # absolute: the kernel runs in the notebook's directory, not ours
    kernel_name, kernel_dir = ensure_kernelspec((out_dir / ".work" / "jupyter").resolve())
    html_mod.install_assets(out_dir)

    spec_file, result_file = work / "spec.json", work / "result.json"
    work_nb, work_log = work / "executed.ipynb", work / "run.log"
    spec_file.write_text(json.dumps({
        "input": str(req.spec.notebook.resolve()),
        "output": str(work_nb),
        "parameters": params,
        "kernel_name": kernel_name,
        "cwd": str(req.spec.notebook.resolve().parent),
        "cell_timeout": cell_timeout,
        "result": str(result_file),
    }))
    t0 = time.monotonic()
    with open(work_log, "wb") as logfh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tributary_analysis.reports._worker", str(spec_file)],
            stdout=logfh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=_worker_env(kernel_dir, out_dir, batch), start_new_session=True,
        )
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop(proc)
    duration = time.monotonic() - t0

    result: dict[str, Any] = {}
    if not timed_out and result_file.exists():
        result = json.loads(result_file.read_text())
    nb = None
    if work_nb.exists():
        try:
            nb = nbformat.read(work_nb, as_version=4)
        except Exception as exc:  # a half-written save when the worker was killed
            log.warning("could not read the partial notebook %s: %s", work_nb, exc)
    if nb is not None:
        scrubber.tree(nb)
    run_log = scrubber.text(work_log.read_text(errors="replace"))

    if timed_out:
        status = "timeout"
        cell, source = _running_cell(nb)
        where = (f"code cell {cell} of {len(_code_cells(nb))} was running" if cell is not None
                 else "before the first cell started (kernel start?)")
        failure = {
            "what": f"the whole-notebook timeout of {timeout:g} s expired",
            "where": f"Stopped after {duration:.1f} s; {where}.",
            "source": scrubber.text(_tail(source, 15)), "traceback": "", "log": "",
        }
        error = f"timeout after {timeout:g} s" + (f" in cell {cell}" if cell is not None
                                                 else "")
    elif result.get("status") == "ok":
        status, failure, error = "ok", None, ""
    else:
        status = "failed"
        if result:
            cell = _failed_cell(nb) if result.get("cell_index") is not None else None
            count = result.get("exec_count")
            where = (f"In code cell {cell} of {len(_code_cells(nb))}"
                     + (f" (execution count [{count}])" if count else "") + ".") \
                if cell is not None else "Outside any cell (kernel or papermill)."
            what = f"{result.get('ename')}: {result.get('evalue')}"
            failure = {
                "what": scrubber.text(what),
                "where": where,
                "source": scrubber.text(_tail(result.get("source") or "", 15)),
                "traceback": scrubber.text(_tail("\n".join(result.get("traceback") or []),
                                                 TRACEBACK_LINES)),
                "log": "",
            }
            error = scrubber.text(what)[:300] + (f" (cell {cell})" if cell is not None
                                                else "")
        else:
            what = f"the notebook runner exited with code {proc.returncode} before reporting"
            failure = {"what": what, "where": "Outside any cell.", "source": "",
                       "traceback": "", "log": _tail(run_log, LOG_LINES)}
            error = what

    rel = Path(req.spec.name) / dirname
    html_path, nb_path, log_path = run_dir / "report.html", run_dir / "report.ipynb", \
        run_dir / "run.log"
    if nb is not None:
        nbformat.write(nb, nb_path)
    log_path.write_text(run_log)
    ctx = html_mod.PageContext(
        title=req.spec.display_title,
        status=status,
        window_start=params["start"],
        window_end=params["end"],
        generated_at=_now_iso(),
        index_href="../../" + index_mod.INDEX,
        assets_href="../../" + html_mod.ASSETS_DIR,
        tenant=req.tenant,
        duration_s=duration,
        parameters={k: v for k, v in params.items() if k not in INJECTED},
        sources=_sources_from_settings(settings),
        failure=failure,
    )
    if scrubber.count:
        ctx.warnings.append({"source": "report runner", "query": "",
                             "message": f"{scrubber.count} occurrence(s) of a credential "
                                        "were redacted from this report's outputs"})
    page = html_mod.render_page(nb, ctx)
    html_text = scrubber.text(page.html)
    html_path.write_text(html_text, encoding="utf-8")
    shutil.rmtree(work, ignore_errors=True)

    record = ledger.RunRecord(
        run_id=run_id, report=req.spec.name, title=req.spec.display_title, status=status,
        window_start=params["start"], window_end=params["end"],
        started_at=started.strftime("%Y-%m-%dT%H:%M:%SZ"), finished_at=_now_iso(),
        duration_s=round(duration, 2), run_dir=str(rel), html=str(rel / "report.html"),
        notebook=str(rel / "report.ipynb") if nb is not None else "",
        tenant=req.tenant, parameters=ctx.parameters, error=error,
        warnings=len(page.warnings), figures=page.figures, redactions=scrubber.count,
        html_bytes=len(html_text.encode()), schedule=req.schedule, batch=batch,
    )
    ledger.append(out_dir, record)
    if status == "ok" and req.tenant is None:
        _write_latest(out_dir / req.spec.name, dirname)
    log.info("%s %s%s in %.1f s -> %s", req.spec.name, status,
             f" (tenant {req.tenant!r})" if req.tenant is not None else "", duration, html_path)
    return record


def _write_latest(report_dir: Path, dirname: str) -> None:
    """``<report>/latest.html``: a redirect other reports can link to."""
    target = f"{dirname}/report.html"
    (report_dir / "latest.html").write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f'<meta http-equiv="refresh" content="0; url={target}"><title>latest</title></head>'
        f'<body><a href="{target}">latest report</a></body></html>', encoding="utf-8")


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
) -> list[ledger.RunRecord]:
    """Run ``requests`` with at most ``jobs`` at once, then prune, index and notify.

    Summary reports (``spec.summary``) start after every other run of the batch has
    finished, so their links point at this batch's pages. Returns the records in request
    order. Configuration problems raise before any run.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if timeout <= 0:
        raise ConfigError(f"--timeout must be positive, got {timeout:g}")
    settings = settings or load_settings()
    out_dir = Path(out_dir)
    # validate everything first: a typo must not cost a half-finished batch
    for req in requests:
        build_parameters(req, notebook_parameters(req.spec.notebook))
    html_mod.install_assets(out_dir)
    batch = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]

    def one(req: RunRequest) -> ledger.RunRecord:
        record = run_report(req, out_dir, timeout=timeout, cell_timeout=cell_timeout,
                            settings=settings, scrubber=Scrubber.from_environment(settings),
                            batch=batch)
        if on_done is not None:
            on_done(record)
        return record

    details = [i for i, r in enumerate(requests) if not r.spec.summary]
    summaries = [i for i, r in enumerate(requests) if r.spec.summary]
    done: dict[int, ledger.RunRecord] = {}
    with ThreadPoolExecutor(max_workers=jobs, thread_name_prefix="report") as pool:
        for group in (details, summaries):
            done.update(zip(group, pool.map(one, [requests[i] for i in group]), strict=True))
    records = [done[i] for i in range(len(requests))]
    ledger.prune(out_dir, keep_days=keep_days, keep_runs=keep_runs)
    index_mod.write_index(out_dir)
    if notify:
        from tributary_analysis.reports.notify import notify_failures

        notify_failures([r for r in records if not r.ok], out_dir)
    return records


def raise_for_failures(records: Sequence[ledger.RunRecord]) -> None:
    """Raise :class:`ReportError` naming every failed run (the CLI's non-zero exit)."""
    failed = [r for r in records if not r.ok]
    if failed:
        lines = "; ".join(
            f"{r.report}{f' [{r.tenant!r}]' if r.tenant is not None else ''}: {r.status}"
            f" ({r.error}) -> {r.html}" for r in failed)
        raise ReportError(f"{len(failed)} of {len(records)} report run(s) failed: {lines}",
                          report=failed[0].report)
