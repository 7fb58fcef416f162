"""The run's answer: shown at the top of the notebook and handed to the report.

Every report notebook ends with :func:`show_summary`: its
:class:`~tributary_analysis.reports.summary.Summary` (built by a package function, never in
a cell) fills the answer block that :func:`~tributary_analysis.notebook.setup.setup`
reserved at the top of the page — headline tiles and findings, in JupyterLab as in the
report — and travels to the report as a display bundle
(``application/vnd.tributary.summary+json``), from which the runner writes ``summary.json``
and renders the page's answer. With ``summary_path`` (tests, scripts) the same document
is also written to a file.

:func:`write_summary` writes a free-form dict (older notebooks, dashboards); the report
turns it into the schema (:func:`~tributary_analysis.reports.summary.coerce`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tributary_analysis.reports.summary import MIMETYPE, Summary, jsonable
from tributary_analysis.reports.summary import write as write_document

__all__ = ["SUMMARY_MIMETYPE", "jsonable", "show_summary", "start_answer", "write_summary"]

SUMMARY_MIMETYPE = MIMETYPE


class _Answer:
    """The reserved answer block at the top of the page (a Jupyter display id)."""

    def __init__(self) -> None:
        self._handle: Any = None

    def start(self) -> None:
        from IPython.display import display

        self._handle = display({"text/html": "", "text/plain": ""}, raw=True,
                               display_id=True)

    def show(self, bundle: dict[str, Any]) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(bundle, raw=True, display_id=True)
        else:
            self._handle.update(bundle, raw=True)


_ANSWER = _Answer()


def _in_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebooks
        return False
    return get_ipython() is not None


def start_answer() -> None:
    """Reserve the answer block where the page begins (``setup`` calls it)."""
    if _in_kernel():
        _ANSWER.start()


def _plain(summary: Summary) -> str:
    lines = [f"{summary.report}: {summary.status}"]
    lines += [f"  {h.name}: {h.text}" + (f" (baseline {h.baseline_text}, {h.change})"
                                         if h.baseline_text else "") for h in summary.headline]
    lines += [f"- {f}" for f in summary.findings]
    lines += [f"withheld: {g.message()}" for g in summary.insufficient]
    return "\n".join(lines)


def show_summary(summary: Summary, path: str | os.PathLike[str] | None = None) -> Summary:
    """Show ``summary`` as the page's answer and hand it to the report.

    The page's warning notes so far join ``summary.warnings``, and a page whose sources
    answered only in part (a partial response, failed shards) makes the status
    ``warning``. Returns the summary as shown (a cell may end with it: its text form is
    short).

    Parameters
    ----------
    summary : Summary
        Built by a package function (``notebook.answers``).
    path : str or Path, optional
        Also write ``summary.json`` there (the notebook's ``summary_path``).
    """
    from tributary_analysis.notebook.display import page_degraded, page_notes
    from tributary_analysis.reports.html import answer_html

    shown = summary.with_run(status="warning" if page_degraded() else None,
                             warnings=page_notes())
    if path:
        write_document(path, shown)
    if _in_kernel():
        _ANSWER.show({"text/html": answer_html(shown, standalone=True),
                      "text/plain": _plain(shown), MIMETYPE: shown.to_json()})
    return shown


def write_summary(path: str | os.PathLike[str] | None, summary: Mapping[str, Any]) -> None:
    """Write a free-form summary dict as JSON to ``path`` (nothing when ``path`` is empty)
    and hand it to the report, which maps it onto the schema.

    Values are made JSON-safe with :func:`jsonable`.
    """
    doc = jsonable(summary)
    if _in_kernel():
        from IPython.display import display

        display({MIMETYPE: doc, "text/plain": ""}, raw=True)
    if not path:
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(doc, indent=1, sort_keys=True))
