"""Small helpers the notebooks call, so the notebooks stay thin (``import … as nb``).

* :mod:`.setup` — :func:`setup`: the plotly template and renderer, pandas display,
  logging, and the page's warning box;
* :mod:`.parameters` — :func:`check_parameters` / :class:`Params`: every parameter
  validated in one place (credentials refused), the window resolved;
  :func:`counts_step`, :func:`quantile_step`: bin widths for a window;
* :mod:`.display` — :func:`show_source_warnings`: what the sources said, in one box at the
  top of the page; :func:`show_sources`: which sources fed it;
* :mod:`.tables` — :func:`show_table`: tables a person reads (no index, formatted
  cells, nothing cut); the HTML form of every displayed DataFrame;
* :mod:`.answers` — each report's answer (tiles, findings) built by package functions;
* :mod:`.summary` — :func:`show_summary`: the run's answer (tiles, findings) at the top of
  the page and handed to the report as ``summary.json``; :func:`write_summary` for a
  free-form dict.

Fetching is :mod:`tributary_analysis.fetch`; analyses are :mod:`tributary_analysis.analysis`;
time is :mod:`tributary_analysis.ground.time` (``nb.Window`` and ``nb.parse_duration`` are
re-exported from there for the notebooks), formatting :mod:`tributary_analysis.ground.format`.
"""

from __future__ import annotations

from tributary_analysis.ground.format import human_duration, human_seconds
from tributary_analysis.ground.time import Window, parse_duration
from tributary_analysis.notebook.display import (
    SOURCES_MIMETYPE,
    WARNINGS_MIMETYPE,
    page_degraded,
    page_notes,
    reader_notes,
    show_source_warnings,
    show_sources,
)
from tributary_analysis.notebook.figures import show_forecast
from tributary_analysis.notebook.parameters import (
    Params,
    check_parameters,
    counts_step,
    quantile_bins,
    quantile_step,
)
from tributary_analysis.notebook.setup import setup
from tributary_analysis.notebook.summary import SUMMARY_MIMETYPE, show_summary, write_summary
from tributary_analysis.notebook.tables import show_table, table_html

__all__ = [
    "SOURCES_MIMETYPE", "SUMMARY_MIMETYPE", "WARNINGS_MIMETYPE", "Params", "Window",
    "check_parameters", "counts_step", "human_duration", "human_seconds", "page_degraded",
    "page_notes", "parse_duration", "quantile_bins", "quantile_step", "reader_notes", "setup",
    "show_forecast", "show_source_warnings", "show_sources", "show_summary", "show_table",
    "table_html", "write_summary",
]
