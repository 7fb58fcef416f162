"""The capacity-planning answer: what runs out first and when, the forecasts the data can
carry, and how good they are."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.analysis.capacity import accuracy_claimed, limit_sentence
from tributary_analysis.analysis.forecast import Forecast
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import Window, parse_duration
from tributary_analysis.notebook.answers.common import (
    coverage_finding,
    data_end_iso,
    is_short,
)
from tributary_analysis.reports.summary import Headline, Summary

__all__ = ["accuracy_claimed", "capacity_summary", "soonest_limit"]

RATE = "request rate (req/s)"


def soonest_limit(table: pd.DataFrame) -> dict[str, Any] | None:
    """The planned resource whose likely time to its limit comes first (None: no resource
    reaches its limit within the horizon)."""
    if "likely" not in table or table["likely"].isna().all():
        return None
    rows = table[table["likely"].notna()].sort_values("likely")
    return {str(k): v for k, v in rows.iloc[0].to_dict().items()}


def _unit(resource: str) -> str:
    return ("req/s" if resource == RATE else "bytes" if resource.startswith("memory")
            else "connections" if resource.startswith("connections") else "count")


def capacity_summary(*, window: Window, horizon: str, level: float, table: pd.DataFrame,
                     forecasts: Mapping[str, Forecast], gaps: Mapping[str, Insufficient],
                     peaks: pd.DataFrame, accuracy: pd.DataFrame, what_if: pd.DataFrame,
                     end: pd.Timestamp | None, step: pd.Timedelta,
                     tenant_gaps: Mapping[str, Insufficient] | None = None,
                     details: Mapping[str, Any] | None = None,
                     report: str = "capacity") -> Summary:
    """The capacity summary.

    Parameters
    ----------
    table, forecasts, gaps
        ``capacity.plan_claimed`` of the fleet resources.
    peaks : DataFrame
        ``capacity.peak_to_average`` (or ``headroom``) of the request rate.
    accuracy : DataFrame
        ``capacity.accuracy_table``.
    what_if : DataFrame
        ``capacity.what_if_table``.
    tenant_gaps : mapping, optional
        The per-tenant forecasts withheld (listed as one entry).
    """
    h = fmt.approx_duration(parse_duration(horizon, name="horizon"))
    pct = f"{level:.0%}"
    tiles: list[Headline] = []
    findings: list[str | None] = [coverage_finding(window, end, step)]
    if len(peaks):
        top = peaks.sort_values("peak", ascending=False).iloc[0]
        tiles.append(Headline.of("Peak request rate", float(top["peak"]), "req/s",
                                 key="peak_rate",
                                 definition=f"highest 5-minute rate, at "
                                            f"{fmt.timestamp(top['peak_at'])}"))
    for name, label in ((RATE, "Request rate in"), ("vectors", "Vectors in")):
        key = "forecast_rate" if name == RATE else "forecast_vectors"
        if name in gaps:
            tiles.append(Headline.withheld(f"{label} {h}", gaps[name], unit=_unit(name),
                                           key=key))
            continue
        if name not in forecasts:
            continue
        fc = forecasts[name]
        peak = float(fc.frame["mean"].max() if name == RATE else fc.frame["mean"].iloc[-1])
        upper = float(fc.frame["upper"].max() if name == RATE else fc.frame["upper"].iloc[-1])
        hist = fc.history.dropna()
        if name == RATE:  # a peak against a peak: the last observed day's, not the last value
            base = float(hist[hist.index > hist.index[-1] - pd.Timedelta(days=1)].max())
            base_is = "the peak of the last observed day"
        else:
            base, base_is = float(hist.iloc[-1]), "the last value"
        tiles.append(Headline.of(
            f"{label} {h}", peak, _unit(name), baseline=base, key=key,
            definition=(f"{'peak of the ' if name == RATE else ''}forecast mean; {pct} "
                        f"interval up to {fmt.value(upper, _unit(name))}; baseline: "
                        f"{base_is}; model {fc.method}")))
    soon = soonest_limit(table)
    if soon is not None:
        likely = pd.Timedelta(soon["likely"])
        tiles.append(Headline.of(
            "First limit reached", likely.total_seconds(), "duration", key="first_limit",
            text=f"in {fmt.approx_duration(likely)}",
            assessment="critical" if likely < pd.Timedelta(days=7) else "warning",
            definition=f"{soon['resource']}: {limit_sentence(soon)}"))
        findings.append(f"{soon['resource']} reaches its limit "
                        f"({fmt.value(soon['limit'], _unit(str(soon['resource'])))}) "
                        f"{limit_sentence(soon)}, around {fmt.timestamp(soon['likely_at'])}.")
    elif "likely" in table and not table.empty:
        planned = table["limit"].notna() & table.get("withheld", pd.Series(
            "", index=table.index)).fillna("").eq("")
        if planned.any():
            tiles.append(Headline.of("First limit reached", None, "duration",
                                     key="first_limit", text=f"none within {h}",
                                     assessment="ok",
                                     definition="no forecast reaches its limit within the "
                                                "horizon"))
            findings.append(f"No resource with a limit reaches it within {h}.")
    rr = accuracy[accuracy["resource"] == RATE] if len(accuracy) else accuracy
    if len(rr):
        row = rr.iloc[0]
        gap = row.get("gap")
        if isinstance(gap, Insufficient):
            tiles.append(Headline.withheld("Forecast accuracy (MASE)", gap, key="mase"))
        elif np.isfinite(row["mase"]):
            tiles.append(Headline.of(
                "Forecast accuracy (MASE)", float(row["mase"]), "", key="mase",
                baseline=float(row["mase_naive"]),
                assessment="ok" if row["mase"] <= row["mase_naive"] else "warning",
                definition="request-rate forecast error ÷ seasonal naive's in-sample error "
                           "(below 1 beats it); baseline: seasonal naive out of sample"))
    if RATE in forecasts:
        fc = forecasts[RATE]
        findings.append(f"Request rate: peaks forecast up to "
                        f"{fmt.rate(float(fc.frame['mean'].max()))} in the next {h} "
                        f"({pct} interval up to {fmt.rate(float(fc.frame['upper'].max()))}).")
    if "vectors" in forecasts:
        fc = forecasts["vectors"]
        last, mean = float(fc.history.dropna().iloc[-1]), float(fc.frame["mean"].iloc[-1])
        findings.append(f"Vectors: {fmt.count(last)} now, {fmt.count(mean)} forecast in {h} "
                        f"({fmt.change(mean, last, 'count')}).")
    gaps_all = list(gaps.values()) + [r["gap"] for r in accuracy.to_dict("records")
                                      if isinstance(r.get("gap"), Insufficient)]
    if tenant_gaps:
        first = next(iter(tenant_gaps.values()))
        gaps_all.append(Insufficient(f"{len(tenant_gaps)} per-tenant forecast(s) (growth to "
                                     "the horizon)", first.have, first.need))
    if gaps:
        findings.append(f"{len(gaps)} fleet forecast(s) withheld for lack of history (have "
                        f"{next(iter(gaps.values())).have}); the list below says what each "
                        "needs.")
    if len(what_if) and "with_scenario_range" in what_if:
        hits = what_if[what_if["with_scenario_range"].notna()
                       & what_if["with_scenario_range"].astype(str).str.startswith("in ")]
        if len(hits):
            r = hits.iloc[0]
            findings.append(f"What if {r['scenario']}: {r['resource']} reaches its limit "
                            f"{r['with_scenario_range']}.")
    status = "warning" if is_short(window, end, step) else "ok"
    return Summary(report=report, status=status, window_start=window.iso()[0],
                   window_end=window.iso()[1], data_end=data_end_iso(end),
                   headline=tuple(tiles), findings=tuple(f for f in findings if f)[:5],
                   insufficient=tuple(gaps_all), details=dict(details or {}))
