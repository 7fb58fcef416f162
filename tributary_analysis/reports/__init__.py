"""Scheduled HTML reports: papermill on a real kernel, nbconvert HTML, an index, schedules.

Typical use is the CLI (``tributary report run``, ``tributary schedule run``); the same
pieces are importable::

    from tributary_analysis.reports import default_registry, resolve_window, RunRequest
    reg = default_registry()
    req = RunRequest(reg["daily_operations"], resolve_window("24h"))
    [record] = run_reports([req], Path("reports"))

Modules: :mod:`.registry` (what reports exist), :mod:`.params` (window, ``-p``),
:mod:`.runner` (execution, timeout, fan-out), :mod:`.html` (page), :mod:`.index` and
:mod:`.ledger` (history, retention), :mod:`.schedules`, :mod:`.notify`, :mod:`.scrub`
(secrets), :mod:`.outputs` (how notebooks hand warnings to the header).
"""

from __future__ import annotations

from tributary_analysis.reports.ledger import RunRecord
from tributary_analysis.reports.params import Window, parse_param, resolve_window
from tributary_analysis.reports.registry import Registry, ReportSpec, default_registry
from tributary_analysis.reports.runner import (
    RunRequest,
    raise_for_failures,
    run_report,
    run_reports,
)

__all__ = [
    "Registry",
    "ReportSpec",
    "RunRecord",
    "RunRequest",
    "Window",
    "default_registry",
    "parse_param",
    "raise_for_failures",
    "resolve_window",
    "run_report",
    "run_reports",
]
