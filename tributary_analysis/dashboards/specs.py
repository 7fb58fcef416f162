"""Dashboards as registered reports: the :class:`ReportSpec` of a dashboard file or built-in.

The registry (:mod:`tributary_analysis.reports.registry`) lists the two built-ins with
:func:`builtin_report_specs`; ``tributary report dashboard FILE.json`` builds a spec for any
file with :func:`dashboard_spec`. Every dashboard report runs the one notebook
``notebooks/dashboard.ipynb`` with ``dashboard=<name or path>``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tributary_analysis.dashboards.model import BUILTIN, load_dashboard

if TYPE_CHECKING:
    from tributary_analysis.reports.registry import ReportSpec

__all__ = ["NOTEBOOK", "builtin_report_specs", "dashboard_spec", "report_name"]

NOTEBOOK = "dashboard.ipynb"
_DESCRIPTIONS = {
    "overview": "The seed's main Grafana dashboard (traffic, errors, latency, cache, memory, "
                "rate limits) as a report; every panel query reviewed.",
    "business": "The seed's business-metrics Grafana dashboard (datasets, vectors, searches) "
                "as a report; replicated-gauge sums flagged and corrected.",
}
_HINTS = {"overview": "daily", "business": "weekly"}


def report_name(source: str | Path) -> str:
    """``dashboard_overview`` for a built-in; ``dashboard-<file stem>-<hash>`` for a file
    (letters, digits, ``_`` and ``-`` only: it becomes a directory name)."""
    text = str(source)
    if text in BUILTIN:
        return f"dashboard_{text}"
    path = Path(text).resolve()
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", path.stem).strip("-")[:40] or "file"
    return f"dashboard-{stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:6]}"


def dashboard_spec(source: str | Path, notebooks_dir: Path | None = None) -> ReportSpec:
    """The :class:`~tributary_analysis.reports.registry.ReportSpec` rendering ``source``
    (a built-in name or a JSON file, checked by parsing it now)."""
    from tributary_analysis.reports.registry import NOTEBOOKS_DIR, ReportSpec

    board = load_dashboard(source)
    text = str(source)
    param = text if text in BUILTIN else str(Path(text).resolve())
    return ReportSpec(
        name=report_name(source), notebook=(notebooks_dir or NOTEBOOKS_DIR) / NOTEBOOK,
        title=f"Grafana: {board.title}", parameters={"dashboard": param},
        description=_DESCRIPTIONS.get(text, f"Grafana dashboard {board.title!r} as a report."),
        schedule_hint=_HINTS.get(text, ""))


def builtin_report_specs(notebooks_dir: Path | None = None) -> list[ReportSpec]:
    """The seed's two dashboards as reports (``dashboard_overview``, ``dashboard_business``)."""
    return [dashboard_spec(name, notebooks_dir) for name in BUILTIN]
