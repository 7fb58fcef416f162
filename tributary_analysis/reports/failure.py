"""How a run ended, as a typed record: ``ok``, ``failed`` or ``timeout``, and for the last two
a :class:`Failure` saying what failed, where, with the cell's source and a traceback excerpt.

Judged from the executor's :class:`~tributary_analysis.reports.execute.ExecutionResult` (the
exception the worker caught, or the timeout that stopped it) and the partial notebook, never
from notebook metadata alone. Every text is scrubbed of secrets here, so the record can go
to the page, the ledger, the CLI and a webhook as it is.
"""

from __future__ import annotations

from dataclasses import dataclass

from nbformat import NotebookNode

from tributary_analysis.reports.execute import ExecutionResult
from tributary_analysis.reports.scrub import Scrubber

TRACEBACK_LINES = 25
SOURCE_LINES = 15
LOG_LINES = 15
ERROR_CHARS = 300


@dataclass(frozen=True)
class Failure:
    """Why a run did not succeed.

    Attributes
    ----------
    kind : str
        ``timeout`` (the whole-notebook limit), ``cell`` (a cell raised), ``kernel``
        (papermill or the kernel failed outside any cell), ``runner`` (the worker died
        before it could report), ``cancelled`` (the batch was aborted).
    what : str
        One sentence: the exception and message, or the limit that expired.
    where : str
        ``In code cell 4 of 5 (execution count [4]).`` and the like.
    cell : int or None
        1-based code-cell number, when a cell is to blame.
    source, traceback, log : str
        Excerpts: the cell's source, the traceback, the run log's last lines.
    """

    kind: str
    what: str
    where: str
    cell: int | None = None
    source: str = ""
    traceback: str = ""
    log: str = ""


@dataclass(frozen=True)
class Verdict:
    """The run's status, its failure (``None`` when ok) and the one-line error."""

    status: str  # ok | failed | timeout
    failure: Failure | None
    error: str


def _code_cells(nb: NotebookNode | None) -> list[NotebookNode]:
    return [c for c in nb.cells if c.cell_type == "code"] if nb is not None else []


def running_cell(nb: NotebookNode | None) -> tuple[int | None, str]:
    """1-based code-cell number and source of the cell papermill marked running when we
    stopped it (papermill saves the notebook as each cell starts)."""
    for i, cell in enumerate(_code_cells(nb)):
        if cell.get("metadata", {}).get("papermill", {}).get("status") == "running":
            return i + 1, cell.source
    return None, ""


def failed_cell(nb: NotebookNode | None) -> int | None:
    """1-based code-cell number of the cell with an error output (papermill's own error
    marker cells are markdown and do not count)."""
    for i, cell in enumerate(_code_cells(nb)):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i + 1
    return None


def tail(text: str, n: int) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


def judge(result: ExecutionResult, nb: NotebookNode | None, scrubber: Scrubber,
          run_log: str = "") -> Verdict:
    """The verdict on one execution; ``nb`` is the (scrubbed) executed or partial notebook,
    ``run_log`` the scrubbed log."""
    n_cells = len(_code_cells(nb))
    if result.timed_out:
        cell, source = running_cell(nb)
        where = (f"code cell {cell} of {n_cells} was running" if cell is not None
                 else "before the first cell started (kernel start?)")
        limit = f"{result.timeout or result.duration_s:g} s"
        failure = Failure(kind="timeout", what=f"the whole-notebook timeout of {limit} expired",
                          where=f"Stopped after {result.duration_s:.1f} s; {where}.",
                          cell=cell, source=scrubber.text(tail(source, SOURCE_LINES)))
        return Verdict("timeout", failure,
                       f"timeout after {limit}" + (f" in cell {cell}" if cell is not None
                                                   else ""))
    out = result.outcome
    if out is not None and out.status == "ok":
        return Verdict("ok", None, "")
    if result.cancelled:
        failure = Failure(kind="cancelled", what="the run was stopped before it finished: "
                          "its batch was aborted", where="Outside any cell.",
                          log=tail(run_log, LOG_LINES))
        return Verdict("failed", failure, failure.what)
    if out is None:
        what = f"the notebook runner exited with code {result.returncode} before reporting"
        failure = Failure(kind="runner", what=what, where="Outside any cell.",
                          log=tail(run_log, LOG_LINES))
        return Verdict("failed", failure, what)
    cell = failed_cell(nb) if out.cell_index is not None else None
    if cell is not None:
        where = (f"In code cell {cell} of {n_cells}"
                 + (f" (execution count [{out.exec_count}])" if out.exec_count else "") + ".")
    else:
        where = "Outside any cell (kernel or papermill)."
    what = scrubber.text(f"{out.ename}: {out.evalue}")
    failure = Failure(kind="cell" if cell is not None else "kernel", what=what, where=where,
                      cell=cell, source=scrubber.text(tail(out.source, SOURCE_LINES)),
                      traceback=scrubber.text(tail("\n".join(out.traceback),
                                                   TRACEBACK_LINES)))
    return Verdict("failed", failure,
                   what[:ERROR_CHARS] + (f" (cell {cell})" if cell is not None else ""))

