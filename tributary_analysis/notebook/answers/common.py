"""What every report's answer shares: where the data end, the SLO block, no data."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.analysis.names import closest
from tributary_analysis.analysis.slo import SloStatus, period_name
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.format import human_duration
from tributary_analysis.ground.time import Window, iso
from tributary_analysis.reports.summary import BurnPair, Headline, SloFigures

__all__ = ["Parts", "coverage_finding", "data_end", "data_end_iso", "is_short", "no_data",
           "selection_gap", "slo_parts"]


@dataclass
class Parts:
    """Pieces of an answer: tiles, findings, what was withheld, the SLO block."""

    tiles: list[Headline] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    insufficient: list[Insufficient] = field(default_factory=list)
    slo: SloFigures | None = None


def data_end(*frames: Any) -> pd.Timestamp | None:
    """The last timestamp holding data among ``frames`` (``timestamp`` column or a time
    index); ``None`` when none holds any."""
    ends: list[pd.Timestamp] = []
    for f in frames:
        if f is None or not hasattr(f, "columns") or not len(f):
            continue
        if "timestamp" in f.columns:
            ts = pd.to_datetime(f["timestamp"], utc=True)
        elif isinstance(f.index, pd.DatetimeIndex):
            ts = f.index.to_series()
            ts = ts.dt.tz_localize("UTC") if ts.dt.tz is None else ts
        else:
            continue
        if ts.notna().any():
            ends.append(pd.Timestamp(ts.max()))
    return max(ends) if ends else None


def data_end_iso(end: pd.Timestamp | None) -> str | None:
    return iso(end) if end is not None else None


def _slack(step: pd.Timedelta | None) -> pd.Timedelta:
    return max(pd.Timedelta(minutes=5), 2 * (step if step is not None else pd.Timedelta(0)))


def is_short(window: Window, end: pd.Timestamp | None, step: pd.Timedelta | None = None
             ) -> bool:
    """Whether the data end more than two bins (at least 5 minutes) before the window."""
    return end is None or window.end - end > _slack(step)


def coverage_finding(window: Window, end: pd.Timestamp | None,
                     step: pd.Timedelta | None = None) -> str | None:
    """A sentence when the window runs past the data (``None`` when it does not)."""
    if end is None:
        return (f"There are no data in the window ({window.label()}): every number below "
                "is empty.")
    if not is_short(window, end, step):
        return None
    return (f"The data end at {fmt.timestamp(end)}, {human_duration(window.end - end)} "
            "before the window ends; figures cover the data up to there and charts stop "
            "at the dashed 'data end' line.")


def _assess_budget(remaining: float) -> str:
    if not np.isfinite(remaining):
        return "info"
    return "critical" if remaining <= 0 else "warning" if remaining < 0.25 else "ok"


def slo_parts(status: SloStatus | Insufficient) -> Parts:
    """The SLO block every report shows, from :func:`tributary_analysis.analysis.slo.
    slo_status`: three tiles (availability over the window, error budget left, burn-rate
    pairs fired), the ``slo`` figures with their definition, a finding when a pair fired
    or the budget is spent."""
    if isinstance(status, Insufficient):
        return Parts(tiles=[Headline.withheld("Availability (SLO)", status,
                                              key="slo_attainment")],
                     insufficient=[status])
    d, b = status.definition, status.budget
    fired = status.fired
    pairs = tuple(BurnPair(pair=str(r["pair"]), factor=float(r["factor"]),
                           severity=str(r["severity"]),
                           fired_for_s=pd.Timedelta(r["time_firing"]).total_seconds(),
                           first_fired=iso(r["first_fired"]), last_fired=iso(r["last_fired"]))
                  for r in fired.to_dict("records"))
    covered = fmt.approx_duration(b.coverage * b.period)
    figures = SloFigures(objective=d.objective, period=d.period,
                         attainment=status.attainment if np.isfinite(status.attainment)
                         else None,
                         budget_remaining=b.remaining if np.isfinite(b.remaining) else None,
                         budget_consumed=b.consumed if np.isfinite(b.consumed) else None,
                         extrapolated=b.extrapolated, data_covered=covered,
                         burn_pairs_fired=pairs, definition=status.sentence())
    att = status.attainment
    tiles = [
        Headline.of("Availability (window)", att, "ratio",
                    assessment=("info" if not np.isfinite(att) else
                                "ok" if att >= d.objective else "critical"),
                    key="slo_attainment",
                    definition=f"non-5xx share of requests in the window; objective "
                               f"{fmt.percent(d.objective)}"),
        Headline.of("Error budget left", b.remaining, "ratio",
                    assessment=_assess_budget(b.remaining), key="slo_budget_remaining",
                    definition=(f"of a {period_name(b.period)} budget"
                                + (f", extrapolated from {covered} of data"
                                   if b.extrapolated else ""))),
        Headline.of("Burn-rate alerts", len(pairs), "count", key="slo_burn_pairs",
                    text=(", ".join(p.pair for p in pairs) + " fired") if pairs
                    else "none fired",
                    assessment=("critical" if any(p.severity == "page" for p in pairs)
                                else "warning" if pairs else "ok"),
                    definition=f"SRE workbook pairs {d.pairs()}"),
    ]
    findings = []
    if pairs:
        findings.append(status.fired_sentence())
    if np.isfinite(b.remaining) and b.remaining <= 0:
        findings.append(f"The {human_duration(b.period)} error budget is spent "
                        f"({fmt.percent(b.consumed)} consumed).")
    return Parts(tiles=tiles, findings=findings, slo=figures)


def no_data(what: str, values: Sequence[str], known: Iterable[str], window: Window) -> str:
    """The finding of a selection with no data: what was asked, the closest known values."""
    asked = ", ".join(repr(v) for v in values)
    near = [closest(v, known, n=3) for v in values]
    names = list(dict.fromkeys(n for group in near for n in group))
    hint = (f" Closest known {what} values: {', '.join(names)}." if names
            else f" No {what} is known in the window or the week before.")
    return f"No requests for {what} {asked} in the window ({window.label()}).{hint}"


def selection_gap(params: Any, requests: float,
                  known: Callable[[str], Iterable[str]]) -> str | None:
    """The no-data finding of a report filtered to tenants or an endpoint that saw no
    request in the window (``None`` when it has data or is not filtered).

    ``known(label)`` lists the values a label has (``fetch.known_values``); it is asked
    only when the selection is empty.
    """
    if requests > 0:
        return None
    window = params.window
    if getattr(params, "endpoint", None):
        return no_data("endpoint", [params.endpoint], known("endpoint"), window)
    tenants = tuple(getattr(params, "tenants", ()) or ())
    if tenants:
        return no_data("tenant", list(tenants), known("tenant_id"), window)
    return None
