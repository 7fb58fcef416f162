"""The traces report's answer: headline tiles and at most five findings, as every report opens.

Built from :func:`~tributary_analysis.analysis.traces.trace_findings` once; the page and its
``summary.json`` show the same object (the free-form numbers stay under ``details``).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tributary_analysis.analysis.slo import SloDefinition
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import Window
from tributary_analysis.reports.summary import MAX_FINDINGS, Headline, Summary

__all__ = ["traces_summary"]


def _feature(attribute: str, value: Any) -> str:
    """A trace feature as a reader says it (``has:SETEX`` = yes → "a SETEX span")."""
    if attribute.startswith("has:"):
        return f"{'a' if str(value) == 'yes' else 'no'} {attribute[4:]} span"
    if attribute == "bottleneck":
        return f"{value} as their bottleneck"
    return f"{attribute} = {value}"


def traces_summary(found: dict[str, Any], window: Window, *,
                   details: dict[str, Any] | None = None, where: str = "") -> Summary:
    """Tiles (traces, failed share, p95, where the waiting goes, top exception) and findings.

    A window without traces is status ``warning``: nothing could be said about it.
    """
    n, failed = int(found["n_traces"]), int(found["n_failed"])
    allowed = 1.0 - SloDefinition().objective  # the one availability objective
    p95, prof, slow, groups = found["p95_s"], found["profile"], found["slow"], found["errors"]
    tiles = [Headline.of("Traces", n, "count", key="traces",
                         definition="root spans in the window (a head sample of the requests)"),
             Headline.of("Failed traces", failed / n if n else None, "ratio",
                         key="failed_traces", text=f"{fmt.percent(failed / n)} ({failed:,})"
                         if n else "—", assessment="info" if not n else
                         "warning" if failed / n > allowed else "ok",
                         definition="root span ERROR (a 5xx or an exception that escaped); "
                                    f"the SLO allows {fmt.percent(allowed)}")]
    tiles.append(Headline.withheld("p95 trace duration", p95, key="p95", unit="s")
                 if isinstance(p95, Insufficient) else
                 Headline.of("p95 trace duration", float(p95), "s", key="p95",
                             definition="root spans, all routes"))
    findings: list[str] = []
    gaps = [v for v in (p95, prof, slow) if isinstance(v, Insufficient)]
    if n == 0:
        findings.append(f"No traces {where or 'in this window'}: nothing to analyse.")
    else:
        lat = p95.short() if isinstance(p95, Insufficient) else (
            f"median {fmt.human_seconds(float(found['p50_s']))}, p95 "
            f"{fmt.human_seconds(float(p95))}")
        findings.append(f"{n:,} traces {where} ({lat}); {failed:,} failed "
                        f"({fmt.percent(failed / n)}).".replace("  ", " "))
    if isinstance(prof, pd.DataFrame) and len(prof):
        top = prof.iloc[0]
        tiles.append(Headline.of("Most waiting", float(top["critical_share"]), "ratio",
                                 key="critical_path",
                                 text=f"{top['operation']} ({fmt.percent(top['critical_share'])})",
                                 definition="the operation with the largest share of the "
                                            "critical path"))
        parts = [f"{o} ({fmt.percent(float(c))})" for o, c in
                 zip(prof.head(2)["operation"], prof.head(2)["critical_share"], strict=True)]
        findings.append("The waiting goes to " + " and ".join(parts) + " of the critical path.")
    if isinstance(slow, pd.DataFrame):
        sig = slow[slow["significant"]].head(2)
        if len(sig):
            parts = [f"{_feature(str(a), v)} ({fmt.percent(float(s))} of them against "
                     f"{fmt.percent(float(b))} of the others)" for a, v, s, b in zip(
                         sig["attribute"], sig["value"], sig["support"],
                         sig["baseline_share"], strict=True)]
            findings.append("Slow traces (above the p95 of their route) have "
                            + "; ".join(parts) + " more often than chance explains "
                            "(Fisher, BH q < 0.01).")
        else:
            findings.append("No attribute sets the slow traces apart (q < 0.01).")
    if isinstance(groups, pd.DataFrame) and len(groups):
        g = groups.iloc[0]
        tiles.append(Headline.of("Top exception", int(g["traces"]), "count",
                                 key="top_exception",
                                 text=str(g["exception_type"]).rsplit(".", 1)[-1],
                                 assessment="warning",
                                 definition=f"{g['exception_type']}: {int(g['traces']):,} of "
                                            f"{failed:,} failed traces"))
        findings.append(f"Failures: {g['exception_type']} in {int(g['traces']):,} of "
                        f"{failed:,} failed traces ({fmt.percent(float(g['share']))}), "
                        f"mostly on {g['top_route']}.")
    start, end = window.iso()
    return Summary(report="traces", status="ok" if n else "warning", window_start=start,
                   window_end=end, data_end=None, headline=tuple(tiles),
                   findings=tuple(findings)[:MAX_FINDINGS], insufficient=tuple(gaps),
                   details=dict(details or {}))
