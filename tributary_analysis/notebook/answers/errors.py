"""The errors and SLO answer: what fails, since when, for whom, and the budget left."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from tributary_analysis.analysis.slo import SloStatus, period_name
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

__all__ = ["episode_sentence", "errors_summary"]


def episode_sentence(episodes: pd.DataFrame, causes: Sequence[str] = ()) -> str | None:
    """The worst episode in one sentence (and how many there were)."""
    if episodes.empty:
        return None
    e = episodes.sort_values("peak_ratio", ascending=False).iloc[0]
    tenants = e.get("tenants") if "tenants" in episodes.columns else None
    who = (f", {len(tenants)} tenant(s) affected" if isinstance(tenants, list | tuple)
           and len(tenants) else "")
    why = (f"; the failing requests differ most by {', '.join(causes[:2])}" if causes
           else "")
    more = f" ({len(episodes)} episodes in all)" if len(episodes) > 1 else ""
    return (f"Error episode on {e['endpoint']} from {fmt.timestamp(e['start'])} to "
            f"{fmt.timestamp(e['end'])} ({fmt.human_duration(e['end'] - e['start'])}): peak "
            f"5xx ratio {fmt.percent(e['peak_ratio'])}, {fmt.count(e['errors'])} errors"
            f"{who}{why}{more}.")


def _types_sentence(by_type: pd.DataFrame) -> str | None:
    if by_type.empty or not by_type["errors"].sum():
        return None
    top = by_type.iloc[0]
    return (f"Most application errors are {top['error_code']} ({top['error_type']}): "
            f"{fmt.count(top['errors'])} of {fmt.count(by_type['errors'].sum())} "
            f"({fmt.percent(top['share'])}).")


def _message_sentence(messages: pd.DataFrame | None) -> str | None:
    if messages is None or messages.empty:
        return None
    m = messages.iloc[0]
    text = m.get("message", m.get("event", ""))
    code = f" ({m['error_code']})" if "error_code" in m and not fmt.is_missing(
        m["error_code"]) else ""
    who = (f", {fmt.count(m['tenants'])} tenant(s)" if "tenants" in m
           and not fmt.is_missing(m["tenants"]) else "")
    return (f"The commonest error log line is \"{text}\"{code}: "
            f"{fmt.count(m['count'])}×{who}.")


def errors_summary(*, window: Window, counts: pd.DataFrame, episodes: pd.DataFrame,
                   slo: SloStatus | Insufficient, by_type: pd.DataFrame,
                   messages: pd.DataFrame | None, causes: Sequence[str],
                   end: pd.Timestamp | None, step: pd.Timedelta,
                   selection: str = "", no_data: str | None = None,
                   details: Mapping[str, Any] | None = None,
                   report: str = "errors_slo") -> Summary:
    """The errors and SLO summary.

    Parameters
    ----------
    counts : DataFrame
        Counts per bin (``errors.request_counts``) of the selection over the window.
    episodes : DataFrame
        ``errors.detect_episodes`` (with ``tenants`` when attributed).
    slo : SloStatus or Insufficient
        ``analysis.slo.slo_status`` of the selection (the one SLO computation).
    by_type, messages : DataFrame
        ``errors.errors_by_type`` and the logs' top error messages.
    causes : sequence of str
        ``attribution.top_causes`` of the first episode's failing requests.
    selection : str
        What the report covers (``all tenants · all endpoints``), for the definitions.
    no_data : str, optional
        The finding when the selection holds no requests (``answers.no_data``): the
        summary's status is then ``warning``.
    details : mapping, optional
        Report-specific figures for ``summary.json``'s ``details``.
    """
    requests = float(counts["total"].sum()) if len(counts) else 0.0
    errors = float(counts["errors"].sum()) if len(counts) else 0.0
    ratio = errors / requests if requests else None
    s = slo_parts(slo)
    where = f" ({selection})" if selection else ""
    tiles = [
        Headline.of("Requests", requests, "count", key="requests",
                    definition=f"HTTP requests in the window{where}"),
        Headline.of("5xx ratio", ratio, "ratio", key="error_ratio",
                    assessment="info" if ratio is None else
                    "warning" if ratio > 1 - (slo.definition.objective
                                              if isinstance(slo, SloStatus) else 0.999)
                    else "ok",
                    definition=f"{fmt.count(errors)} failed with a 5xx"),
        *s.tiles,
        Headline.of("Error episodes", len(episodes), "count", key="episodes",
                    assessment="warning" if len(episodes) else "ok",
                    definition="periods an endpoint's 5xx ratio stayed above the threshold"),
    ]
    if not by_type.empty and by_type["errors"].sum() > 0:
        top = by_type.iloc[0]
        tiles.append(Headline.of("Top error code", str(top["error_code"]), key="top_error",
                                 definition=f"{fmt.count(top['errors'])} errors "
                                            f"({fmt.percent(top['share'])}) of type "
                                            f"{top['error_type']}"))
    findings = [no_data, coverage_finding(window, end, step) if not no_data else None,
                episode_sentence(episodes, causes), *s.findings]
    if not s.findings and isinstance(slo, SloStatus):
        findings.append(f"{fmt.percent(slo.remaining)} of the "
                        f"{period_name(slo.definition.period_span)} error budget is left; "
                        "no burn-rate pair fired.")
    findings += [_types_sentence(by_type), _message_sentence(messages)]
    if not no_data and not len(episodes) and requests:
        findings.append("No error episode: no endpoint's 5xx ratio stayed above the "
                        "threshold with enough requests.")
    status = "warning" if no_data or is_short(window, end, step) else "ok"
    return Summary(report=report, status=status, window_start=window.iso()[0],
                   window_end=window.iso()[1], data_end=data_end_iso(end),
                   headline=tuple(tiles), slo=s.slo,
                   findings=tuple(f for f in findings if f)[:5],
                   insufficient=tuple(s.insufficient), details=dict(details or {}))
