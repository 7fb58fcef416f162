"""Links from a summary report to the detailed reports of the same run batch.

The runner gives every ``run_reports`` call a batch id, records it in the ledger and hands
it to the notebook kernels (``TRIBUTARY_REPORT_BATCH``, beside ``TRIBUTARY_REPORTS_DIR``).
Summary reports (``ReportSpec.summary``) run after the rest of their batch, so when the
daily operations notebook calls :func:`batch_links` the detailed runs of its batch are in
the ledger. Outside a batch (JupyterLab, or a summary run on its own) the newest successful
run of every other report is linked instead, and marked as coming from an earlier run.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tributary_analysis.reports import ledger

BATCH_ENV = "TRIBUTARY_REPORT_BATCH"
REPORTS_DIR_ENV = "TRIBUTARY_REPORTS_DIR"


def batch_links(
    *,
    exclude: tuple[str, ...] = ("daily_operations",),
    out_dir: str | os.PathLike[str] | None = None,
    batch: str | None = None,
) -> list[dict[str, Any]]:
    """The detailed reports to link: this batch's runs, else the latest successful ones.

    Parameters
    ----------
    exclude : tuple of str
        Report names not to link (the summary itself).
    out_dir : path, optional
        The reports directory; default ``$TRIBUTARY_REPORTS_DIR`` (set by the runner).
        Without one, no links (an empty list).
    batch : str, optional
        The batch id; default ``$TRIBUTARY_REPORT_BATCH``.

    Returns
    -------
    list of dict
        ``report``, ``title``, ``tenant``, ``status``, ``href`` (relative to a report page
        two levels below ``out_dir``), ``same_batch``, ``started_at``, ``error`` — ordered by
        report title, then tenant.
    """
    where = out_dir or os.environ.get(REPORTS_DIR_ENV)
    if not where:
        return []
    batch = batch if batch is not None else os.environ.get(BATCH_ENV, "")
    records, _bad = ledger.read(Path(where))
    records = [r for r in records if r.report not in exclude]
    chosen = [r for r in records if batch and r.batch == batch]
    same = bool(chosen)
    if not chosen:
        newest: dict[tuple[str, str | None], ledger.RunRecord] = {}
        for r in sorted(records, key=lambda r: r.started_at):
            if r.ok:
                newest[(r.report, r.tenant)] = r
        chosen = list(newest.values())
    out = [{
        "report": r.report, "title": r.title, "tenant": r.tenant, "status": r.status,
        "href": "../../" + quote(r.html), "same_batch": same, "started_at": r.started_at,
        "error": r.error,
    } for r in chosen]
    return sorted(out, key=lambda d: (d["title"], d["tenant"] or ""))


def links_html(links: list[dict[str, Any]]) -> str:
    """A list of links as escaped HTML (tenant ids and errors are untrusted text)."""
    if not links:
        return ("<p>No detailed reports to link: none ran in this batch and none has run "
                "successfully in this reports directory yet.</p>")
    esc = html.escape
    note = ("" if links[0]["same_batch"] else
            "<p><em>None of the detailed reports ran in this batch; these are the newest "
            "successful runs from earlier batches.</em></p>")
    items = []
    for link in links:
        who = f" — tenant <code>{esc(str(link['tenant']))}</code>" \
            if link["tenant"] is not None else ""
        status = "" if link["status"] == "ok" else (
            f" <strong style='color:#b00020'>{esc(link['status'])}</strong>"
            + (f": {esc(str(link['error'])[:200])}" if link["error"] else ""))
        items.append(f"<li><a href=\"{esc(link['href'])}\">{esc(link['title'])}</a>{who}"
                     f"{status} <small>({esc(link['started_at'])})</small></li>")
    return note + "<ul class='tr-links'>" + "".join(items) + "</ul>"


def show_links(**kwargs: Any) -> list[dict[str, Any]]:
    """Display :func:`batch_links` in the notebook (HTML with a plain-text fallback)."""
    from IPython.display import display

    links = batch_links(**kwargs)
    text = "\n".join(f"{d['title']}{' [' + str(d['tenant']) + ']' if d['tenant'] else ''}: "
                     f"{d['status']} {d['href']}" for d in links) or "no detailed reports"
    display({"text/html": links_html(links), "text/plain": text}, raw=True)
    return links
