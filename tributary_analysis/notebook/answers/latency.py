"""The latency answer: how fast, where slow, what changed at the deploy, and the SLO."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.analysis.slo import SloStatus
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import Window
from tributary_analysis.notebook.answers.common import (
    coverage_finding,
    data_end_iso,
    is_short,
    slo_parts,
)
from tributary_analysis.reports.summary import Headline, Summary

__all__ = ["latency_details", "latency_summary", "nothing_to_show", "regressed",
           "regression_sentence"]


def nothing_to_show(requests: float) -> str | None:
    """The line every section of the latency page shows instead of its figures when the
    selection holds no request in the window (``None`` when it holds some)."""
    if requests > 0:
        return None
    return "*No data for this selection in the window: nothing to compute here.*"


def regressed(frame: pd.DataFrame | None, flag: str = "regression") -> list[str]:
    """The endpoints a comparison flags (none when it computed nothing)."""
    if frame is None or frame.empty or flag not in frame:
        return []
    return frame.loc[frame[flag].astype(bool), "endpoint"].astype(str).tolist()


def latency_details(*, deploys: pd.DataFrame | None, before: Window | None,
                    after: Window | None, comparison: pd.DataFrame | None,
                    comparison_logs: pd.DataFrame | None, by_endpoint: pd.DataFrame | None,
                    attainment: pd.DataFrame | None, slowest: pd.DataFrame | None,
                    causes: Sequence[str], heatmap: pd.DataFrame | None,
                    example_traces: Sequence[str] = (),
                    example_window: Window | None = None) -> dict[str, Any]:
    """``summary.json``'s report-specific details; a section that computed nothing (no
    data for the selection) gives empty values."""
    def by_ep(frame: pd.DataFrame | None, col: str) -> dict[str, Any]:
        if frame is None or frame.empty:
            return {}
        return {str(k): v for k, v in frame.set_index("endpoint")[col].items()}

    return {"deploys": deploys if deploys is not None else [],
            "compared": ({"before": before.label(), "after": after.label()}
                         if before is not None and after is not None else None),
            "regressions": regressed(comparison),
            "regressions_logs": regressed(comparison_logs),
            "p95_by_endpoint": by_ep(by_endpoint, "value"),
            "attainment": by_ep(attainment, "attainment"),
            "slowest_s": (float(slowest["duration_s"].iloc[0])
                          if slowest is not None and len(slowest) else None),
            "slow_causes": list(causes),
            "heatmap_requests": float(heatmap["count"].sum()) if heatmap is not None else 0.0,
            "example_traces": list(example_traces),
            "example_window": (dict(zip(("start", "end"), example_window.iso(), strict=True))
                               if example_window is not None else None)}


def regression_sentence(cmp: pd.DataFrame | None, deploys: pd.DataFrame | None,
                        logs_confirm: Sequence[str]) -> str | None:
    """The regression the deploy brought, if any, in one sentence."""
    if cmp is None or cmp.empty or "regression" not in cmp or not cmp["regression"].any():
        return None
    reg = cmp[cmp["regression"]].sort_values("p95_change", ascending=False)
    r = reg.iloc[0]
    when = ""
    if deploys is not None and len(deploys):
        d = deploys.iloc[0]
        when = f"After the deploy of {d['to_version']} at {fmt.timestamp(d['time'])}, "
    confirmed = (" (the logs' Mann–Whitney test agrees)" if str(r["endpoint"]) in logs_confirm
                 else "")
    more = f"; {len(reg) - 1} more endpoint(s) slowed too" if len(reg) > 1 else ""
    lead = when or "In the second half of the window, "
    return (f"{lead}p95 of {r['endpoint']} rose from {fmt.human_seconds(r['p95_before'])} to "
            f"{fmt.human_seconds(r['p95_after'])} "
            f"({fmt.change(r['p95_after'], r['p95_before'], 's')}){confirmed}{more}.")


def _quantile_tile(q: float, value: float | Insufficient) -> Headline:
    name = f"p{q * 100:g} latency"
    key = f"p{q * 100:g}"
    if isinstance(value, Insufficient):
        return Headline.withheld(name, value, unit="s", key=key)
    return Headline.of(name, value, "s", key=key,
                       definition="all requests in the window, interpolated in the "
                                  "histogram buckets")


def latency_summary(*, window: Window, quantiles: Mapping[float, float | Insufficient],
                    by_endpoint: pd.DataFrame | None, attainment: float | None,
                    threshold: float, objective: float, comparison: pd.DataFrame | None,
                    deploys: pd.DataFrame | None, regressions_logs: Sequence[str],
                    causes: Sequence[str],
                    slo: SloStatus | Insufficient, requests: float, end: pd.Timestamp | None,
                    step: pd.Timedelta, no_data: str | None = None,
                    details: Mapping[str, Any] | None = None,
                    report: str = "latency") -> Summary:
    """The latency summary.

    Parameters
    ----------
    quantiles : mapping
        ``latency.quantile_claims`` of all requests in the window.
    by_endpoint : DataFrame or None
        Window p95 per endpoint (``endpoint``, ``value``) — the slowest is named; ``None``
        (as for ``comparison`` and ``deploys``) when the selection held no data.
    attainment : float or None
        Share of requests within ``threshold`` seconds (all endpoints).
    objective : float
        The latency SLO's objective for that share.
    comparison, deploys : DataFrame
        ``latency.compare_windows`` and ``latency.find_deploys``.
    regressions_logs : sequence of str
        Endpoints the logs' test flags too.
    causes : sequence of str
        ``attribution.top_causes`` of the slow requests.
    slo : SloStatus or Insufficient
        The availability SLO (the one computation every report shares).
    """
    s = slo_parts(slo)
    tiles = [_quantile_tile(q, v) for q, v in quantiles.items()]
    gaps = [v for v in quantiles.values() if isinstance(v, Insufficient)]
    tiles.append(Headline.of(
        f"Faster than {fmt.human_seconds(threshold)}", attainment, "ratio",
        key="latency_attainment",
        assessment="info" if attainment is None else
        "ok" if attainment >= objective else "warning",
        definition=f"share of requests; objective {fmt.percent(objective)}"))
    slowest = None
    if by_endpoint is not None and len(by_endpoint) and by_endpoint["value"].notna().any():
        slowest = by_endpoint.iloc[int(np.nanargmax(by_endpoint["value"].to_numpy(dtype=float)))]
        tiles.append(Headline.of("Slowest endpoint (p95)", float(slowest["value"]), "s",
                                 key="slowest_endpoint",
                                 definition=str(slowest["endpoint"])))
    n_reg = len(regressed(comparison))
    tiles.append(Headline.of("Regressions", n_reg, "count", key="regressions",
                             text=f"{n_reg} endpoint{'s' if n_reg != 1 else ''}",
                             assessment="critical" if n_reg else "ok",
                             definition="endpoints slower after the deploy (χ² on the "
                                        "buckets, BH-adjusted, medium effect)"))
    tiles += s.tiles
    findings = [no_data, coverage_finding(window, end, step) if not no_data else None,
                regression_sentence(comparison, deploys, regressions_logs)]
    if causes:
        findings.append("Requests slower than the p99 of their own endpoint and dataset are "
                        f"over-represented in {', '.join(causes[:2])}.")
    if slowest is not None:
        findings.append(f"The slowest endpoint is {slowest['endpoint']}: p95 "
                        f"{fmt.human_seconds(float(slowest['value']))}.")
    if attainment is not None and np.isfinite(attainment):
        findings.append(f"{fmt.percent(attainment)} of requests finished within "
                        f"{fmt.human_seconds(threshold)} (objective {fmt.percent(objective)}).")
    findings += s.findings
    status = "warning" if no_data or requests <= 0 or is_short(window, end, step) else "ok"
    return Summary(report=report, status=status, window_start=window.iso()[0],
                   window_end=window.iso()[1], data_end=data_end_iso(end),
                   headline=tuple(tiles), slo=s.slo,
                   findings=tuple(f for f in findings if f)[:5],
                   insufficient=tuple(gaps + s.insufficient), details=dict(details or {}))
