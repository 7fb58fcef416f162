"""The daily operations answer: golden signals against the baseline, the SLO, what fired."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from tributary_analysis.analysis.daily import Baseline
from tributary_analysis.analysis.slo import SloStatus, period_name
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import Window
from tributary_analysis.notebook.answers.common import (
    Parts,
    coverage_finding,
    data_end_iso,
    is_short,
    slo_parts,
)
from tributary_analysis.reports.summary import Headline, Summary

__all__ = ["daily_summary", "signal_tiles"]

#: the golden-signal rows shown as tiles: key → (tile name, unit of the value)
TILES = {
    "traffic_rps": ("Traffic (mean)", "req/s"),
    "error_ratio": ("5xx ratio", "ratio"),
    "p95_s": ("p95 latency", "s"),
    "p99_s": ("p99 latency", "s"),
    "memory_peak": ("Peak memory (worst replica)", "ratio"),
    "connections_peak": ("Peak DB connections", "connections"),
}


def _baseline_name(base: Baseline, window: Window) -> str:
    if base.window is None:
        return "no baseline"
    if base.kind == "partial":
        return "the history before the window"
    days = round((window.start - base.window.start) / pd.Timedelta(days=1))
    return f"the same hours {days} day{'s' if days != 1 else ''} earlier"


def signal_tiles(signals: pd.DataFrame, base: Baseline, window: Window,
                 claims: Mapping[str, Insufficient | None] | None = None) -> list[Headline]:
    """One tile per golden signal: the window's value against the baseline's, assessed as
    the signals table assesses it; a signal the data cannot carry is withheld."""
    rows = signals.set_index("key")
    out = []
    for key, (name, unit) in TILES.items():
        if key not in rows.index:
            continue
        gap = (claims or {}).get(key)
        r = rows.loc[key]
        definition = str(r["measure"])
        if gap is not None:
            out.append(Headline.withheld(name, gap, unit=unit, key=key,
                                         definition=definition))
            continue
        out.append(Headline.of(name, r["current"], unit,
                               baseline=r["baseline"] if base.window is not None else None,
                               assessment=str(r["assessment"]), key=key,
                               definition=definition))
    return out


def _lower(name: str) -> str:
    """A tile name inside a sentence (``Peak memory`` → ``peak memory``; ``p95`` stays)."""
    return name[:1].lower() + name[1:] if name[1:2].islower() else name


def _worse(tiles: list[Headline], base: Baseline, window: Window) -> str | None:
    worse = [t for t in tiles if t.assessment == "worse"]
    if not worse:
        if base.window is None:
            return "There is no baseline to compare with (no history before the window)."
        return f"No golden signal is markedly worse than {_baseline_name(base, window)}."
    parts = [f"{_lower(t.name)} {t.text} vs {t.baseline_text} ({t.change})" for t in worse]
    return f"Worse than {_baseline_name(base, window)}: " + "; ".join(parts) + "."


def _alerts(fired: pd.DataFrame) -> str:
    if fired.empty:
        return "No alert rule would have fired."
    g = fired.groupby("rule", sort=False).agg(
        n=("start", "size"), severity=("severity", "first"),
        total=("duration", "sum"), first=("start", "min"))
    g["rank"] = g["severity"].map({"critical": 0, "warning": 1}).fillna(2)
    g = g.sort_values(["rank", "n"], ascending=[True, False])
    parts = [f"{rule} ({r.severity or 'no severity'}) {r.n}× for "
             f"{fmt.human_duration(pd.Timedelta(r.total))} from {fmt.timestamp(r.first)}"
             for rule, r in g.head(3).iterrows()]
    more = f" and {len(g) - 3} more rule(s)" if len(g) > 3 else ""
    return "Would have fired: " + "; ".join(parts) + more + "."


def _episodes(episodes: pd.DataFrame) -> str | None:
    if episodes.empty:
        return None
    e = episodes.sort_values("peak_ratio", ascending=False).iloc[0]
    more = f" ({len(episodes)} episodes in all)" if len(episodes) > 1 else ""
    return (f"Error episode on {e['endpoint']}: {fmt.timestamp(e['start'])} to "
            f"{fmt.timestamp(e['end'])}, peak 5xx ratio {fmt.percent(e['peak_ratio'])}{more}.")


def _tenants(top: pd.DataFrame) -> str | None:
    if top.empty or top["share_change"].isna().all():
        return None
    moved = top[top["share_change"].abs() >= 0.05]
    if moved.empty:
        return None
    r = moved.iloc[int(moved["share_change"].abs().to_numpy().argmax())]
    return (f"Tenant {r['tenant_id']} sent {fmt.percent(r['share'])} of requests vs "
            f"{fmt.percent(r['baseline_share'])} in the baseline "
            f"({fmt.points(r['share_change'])}).")


def daily_summary(*, window: Window, signals: pd.DataFrame, baseline: Baseline,
                  slo: SloStatus | Insufficient, fired: pd.DataFrame, episodes: pd.DataFrame,
                  top: pd.DataFrame, requests: float, end: pd.Timestamp | None,
                  step: pd.Timedelta, p99_requests_needed: int = 100,
                  report: str = "daily_operations") -> Summary:
    """The daily operations summary.

    Parameters
    ----------
    window : Window
        The report's window.
    signals : DataFrame
        ``analysis.daily.golden_signals``.
    baseline : Baseline
        ``analysis.daily.choose_baseline``.
    slo : SloStatus or Insufficient
        ``analysis.slo.slo_status`` (the one SLO computation).
    fired, episodes, top : DataFrame
        ``daily.fired_alerts``, ``errors.detect_episodes``, ``daily.top_tenants``.
    requests : float
        Requests in the window (a p99 of fewer than ``p99_requests_needed`` is withheld).
    end : Timestamp or None
        The last sample of the window's data (``answers.data_end``).
    step : Timedelta
        The bin width of the signals.
    """
    gaps: dict[str, Insufficient | None] = {}
    if requests < p99_requests_needed:
        gaps["p99_s"] = Insufficient("p99 latency", f"{fmt.count(requests)} requests",
                                     f"{p99_requests_needed} requests")
    if requests < 20:
        gaps["p95_s"] = Insufficient("p95 latency", f"{fmt.count(requests)} requests",
                                     "20 requests")
    tiles = signal_tiles(signals, baseline, window, gaps)
    s = slo_parts(slo)
    alerts_tile = Headline.of(
        "Alerts that would have fired", len(fired), "count", key="alerts_fired",
        text=(f"{len(fired)} interval{'s' if len(fired) != 1 else ''}" if len(fired)
              else "none"),
        assessment=("critical" if (fired["severity"] == "critical").any() else "warning")
        if len(fired) else "ok",
        definition="seed alert rules replayed over the window (firing intervals)")
    episodes_tile = Headline.of(
        "Error episodes", len(episodes), "count", key="episodes",
        assessment="warning" if len(episodes) else "ok",
        definition="periods an endpoint's 5xx ratio stayed above the episode threshold")
    parts = Parts(tiles=[*tiles, *s.tiles, alerts_tile, episodes_tile],
                  insufficient=[g for g in gaps.values() if g is not None] + s.insufficient,
                  slo=s.slo)
    findings = [coverage_finding(window, end, step), _worse(tiles, baseline, window),
                *s.findings]
    if not s.findings and isinstance(slo, SloStatus):
        findings.append(f"{fmt.percent(slo.remaining)} of the "
                        f"{period_name(slo.definition.period_span)} error budget is "
                        "left; no burn-rate pair fired.")
    findings += [_alerts(fired), _episodes(episodes), _tenants(top)]
    if requests <= 0:
        findings.insert(0, "The service answered no request in the window.")
    kept = [f for f in findings if f][:5]
    status = "warning" if is_short(window, end, step) or requests <= 0 else "ok"
    return Summary(report=report, status=status, window_start=window.iso()[0],
                   window_end=window.iso()[1], data_end=data_end_iso(end),
                   headline=tuple(parts.tiles), slo=parts.slo, findings=tuple(kept),
                   insufficient=tuple(parts.insufficient),
                   details={"baseline": {"kind": baseline.kind, "note": baseline.note,
                                         "coverage": baseline.coverage},
                            "signals": signals, "alerts": len(fired),
                            "episodes": len(episodes),
                            "top_tenants": top["tenant_id"].astype(str).tolist()
                            if len(top) else []})
