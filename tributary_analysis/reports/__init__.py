"""Scheduled HTML reports: papermill on a real kernel, nbconvert HTML, an index, schedules.

Typical use is the CLI (``tributary report run``, ``tributary schedule run``); the same
pieces are importable::

    from tributary_analysis.ground.time import parse_window
    from tributary_analysis.reports import default_registry, RunRequest, run_reports
    reg = default_registry()
    req = RunRequest(reg["daily_operations"], parse_window("24h"))
    [record] = run_reports([req], Path("reports"))

Modules: :mod:`.registry` (what reports exist), :mod:`.params` (``-p`` parameters),
:mod:`.tenants` (fan-out), :mod:`.runner` (prepare → execute → publish, batches), with
:mod:`.prepare` (checks, the secret-free job), :mod:`.execute` (executors: worker
subprocess, whole-notebook timeout), :mod:`.publish` (scrub, page, ledger, artefacts),
:mod:`.failure` (the typed failure record), :mod:`.workarea` (private unscrubbed work),
:mod:`.outdir` (the reports directory, atomic writes), :mod:`.formats` (html, pdf),
:mod:`.html` (page), :mod:`.streams` (kernel stderr kept off pages), :mod:`.index` and
:mod:`.ledger` (history, retention), :mod:`.schedules`, :mod:`.notify`, :mod:`.scrub`
(secrets), :mod:`.outputs` (how notebooks hand warnings to the header).
Windows are :class:`tributary_analysis.ground.time.Window`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tributary_analysis.reports.failure import Failure
    from tributary_analysis.reports.ledger import RunRecord
    from tributary_analysis.reports.params import parse_param
    from tributary_analysis.reports.registry import Registry, ReportSpec, default_registry
    from tributary_analysis.reports.runner import (
        RunRequest,
        raise_for_failures,
        run_report,
        run_reports,
    )

#: public name → defining module; loaded on first use, so that the worker's and the
#: kernel's small helpers (``_lifeline``, ``_kernel``) do not pay for papermill and nbconvert
_EXPORTS = {
    "Failure": "failure",
    "Registry": "registry",
    "ReportSpec": "registry",
    "RunRecord": "ledger",
    "RunRequest": "runner",
    "default_registry": "registry",
    "parse_param": "params",
    "raise_for_failures": "runner",
    "run_report": "runner",
    "run_reports": "runner",
}

__all__ = [
    "Failure",
    "Registry",
    "ReportSpec",
    "RunRecord",
    "RunRequest",
    "default_registry",
    "parse_param",
    "raise_for_failures",
    "run_report",
    "run_reports",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
