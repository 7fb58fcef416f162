"""Each report's answer, built by package functions (never in a notebook cell).

A builder takes what the notebook fetched and analysed and returns the report's
:class:`~tributary_analysis.reports.summary.Summary`: headline tiles (value, unit, baseline,
assessment, definition), at most five findings (what changed, what fired, what to look
at), the SLO block, what was withheld for lack of data and the status — ``warning`` when the
window holds no data for the selection or runs past the end of the data. The notebook then
calls :func:`tributary_analysis.notebook.show_summary`.

* :mod:`.common` — data end, the SLO block every report shows (:func:`slo_parts`), a
  selection that matched nothing (:func:`no_data`);
* :mod:`.daily`, :mod:`.errors`, :mod:`.latency`, :mod:`.capacity`, :mod:`.alerts` —
  one builder per report;
* :mod:`.traces` — the example traces of the latency and errors pages' findings.
"""

from __future__ import annotations

from tributary_analysis.notebook.answers.alerts import alerts_summary, flapping_claim
from tributary_analysis.notebook.answers.capacity import (
    accuracy_claimed,
    capacity_summary,
    soonest_limit,
)
from tributary_analysis.notebook.answers.common import (
    Parts,
    coverage_finding,
    data_end,
    no_data,
    selection_gap,
    slo_parts,
)
from tributary_analysis.notebook.answers.daily import daily_summary
from tributary_analysis.notebook.answers.errors import errors_summary
from tributary_analysis.notebook.answers.latency import (
    latency_details,
    latency_summary,
    nothing_to_show,
    regressed,
)
from tributary_analysis.notebook.answers.traces import (
    NO_TRACE_SOURCE,
    episode_examples,
    example_lines,
    examples_html,
    latency_spike,
    no_source_text,
    trace_choice,
    trace_ids,
)

__all__ = [
    "NO_TRACE_SOURCE",
    "Parts",
    "accuracy_claimed",
    "alerts_summary",
    "capacity_summary",
    "coverage_finding",
    "daily_summary",
    "data_end",
    "episode_examples",
    "errors_summary",
    "example_lines",
    "examples_html",
    "flapping_claim",
    "latency_details",
    "latency_spike",
    "latency_summary",
    "no_data",
    "no_source_text",
    "nothing_to_show",
    "regressed",
    "selection_gap",
    "slo_parts",
    "soonest_limit",
    "trace_choice",
    "trace_ids",
]
