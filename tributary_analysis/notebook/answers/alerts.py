"""The alert-review answer: which rules work, which cannot fire, what they missed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import Window
from tributary_analysis.notebook.answers.common import data_end_iso
from tributary_analysis.reports.summary import Headline, Summary

__all__ = ["alerts_summary", "flapping_claim"]

#: state changes per day are counted over at least this much window (a rate per day from
#: six hours would be four times whatever happened in them)
MIN_FLAPPING_WINDOW = pd.Timedelta(days=1)


def flapping_claim(window: Window) -> Insufficient | None:
    """:class:`Insufficient` when the window is too short for a rate per day."""
    if window.duration >= MIN_FLAPPING_WINDOW:
        return None
    return Insufficient("flapping (state changes per day)",
                        f"{fmt.approx_duration(window.duration)} of window",
                        f"{fmt.approx_duration(MIN_FLAPPING_WINDOW)}")


def alerts_summary(*, window: Window, table: pd.DataFrame,
                   detection: pd.DataFrame | None = None,
                   variants: pd.DataFrame | None = None, end: pd.Timestamp | None = None,
                   details: Mapping[str, Any] | None = None, server: Any = None,
                   report: str = "alert_review") -> Summary:
    """The alert review summary.

    Parameters
    ----------
    table : DataFrame
        ``RuleReview.table(incidents)``: status, firings, flapping, precision, recall,
        time to detect per rule.
    detection : DataFrame, optional
        ``alerts.incident_detection`` (None: no incident list to score against).
    variants : DataFrame, optional
        ``alerts.compare_variants`` of one rule's threshold variants.
    server : ServerAlerts, optional
        ``fetch.alerts.server_alerts``: the replay against Prometheus's own ``ALERTS``
        (a tile when the server evaluated the rules; a finding either way, first when
        they disagree).
    """
    total = len(table)
    evaluated = table[table["status"] == "evaluated"]
    broken = table[table["status"] != "evaluated"]
    fired = evaluated[evaluated["times_fired"].fillna(0) > 0]
    gap = flapping_claim(window)
    tiles = [
        Headline.of("Rules evaluated", len(evaluated), "count", key="rules_evaluated",
                    text=f"{len(evaluated)} of {total}",
                    assessment="warning" if len(broken) else "ok",
                    definition="rules whose expression the server could evaluate over the "
                               "window"),
        Headline.of("Rules that fired", len(fired), "count", key="rules_fired",
                    text=f"{len(fired)} rule{'s' if len(fired) != 1 else ''}, "
                         f"{fmt.count(fired['times_fired'].sum())} time(s)",
                    definition="Prometheus's for: / keep_firing_for: replayed on the "
                               "evaluations"),
    ]
    findings: list[str] = []
    if len(broken):
        parts = [f"{r['rule']} — {r['status']}" + (f" ({r['reason']})" if r.get("reason")
                                                    else "")
                 for r in broken.to_dict("records")[:3]]
        more = f"; {len(broken) - 3} more" if len(broken) > 3 else ""
        findings.append(f"{len(broken)} rule(s) can never fire as written: "
                        + "; ".join(parts) + more + ".")
    if detection is not None and len(detection):
        relevant = evaluated[evaluated["incidents"].fillna(0) > 0] if "incidents" in \
            evaluated else evaluated.iloc[0:0]
        unmeant = detection[detection["meant_for"].map(len) == 0]
        detection = detection[detection["meant_for"].map(len) > 0]
        caught = detection[detection["detected_by"].map(len) > 0]
        tiles.append(Headline.of(
            "Incidents detected", len(caught), "count", key="incidents_detected",
            text=f"{len(caught)} of {len(detection)}",
            assessment="ok" if len(caught) == len(detection) else "warning",
            definition="incidents in the window during which a rule meant for them fired "
                       "(up to the grace after the end)"))
        if len(caught):
            slow = caught.sort_values("time_to_detect").iloc[-1]
            tiles.append(Headline.of(
                "Slowest detection", pd.Timedelta(slow["time_to_detect"]).total_seconds(),
                "duration", key="slowest_detection",
                definition=f"{slow['name']}, by {', '.join(slow['detected_by'])}: from the "
                           "incident's start to the first firing"))
        missed = detection[detection["detected_by"].map(len) == 0]
        if len(missed):
            findings.append("Missed: " + "; ".join(
                f"{r['name']} ({fmt.timestamp(r['start'])}), meant for "
                f"{', '.join(r['meant_for']) or 'no rule'}"
                for r in missed.to_dict("records")[:3]) + ".")
        fp = relevant[relevant["precision"].notna() & (relevant["precision"] < 0.5)] \
            if "precision" in relevant else relevant.iloc[0:0]
        if len(fp):
            findings.append("Noisy rules (most firings outside any incident): " + "; ".join(
                f"{r['rule']} precision {fmt.percent(r['precision'])} over "
                f"{fmt.count(r['times_fired'])} firing(s)" for r in fp.to_dict("records"))
                + ".")
        if len(unmeant):
            findings.append(f"No rule is meant for {len(unmeant)} incident(s): "
                            + ", ".join(str(n) for n in unmeant["name"])
                            + "; the rule set cannot alert on them.")
        if len(caught):
            findings.append("Caught: " + "; ".join(
                f"{r['name']} by {', '.join(r['detected_by'])} after "
                f"{fmt.human_duration(r['time_to_detect'])}"
                for r in caught.to_dict("records")[:3]) + ".")
    if gap is not None:
        tiles.append(Headline.withheld("Worst flapping", gap, key="flapping"))
    elif len(evaluated):
        worst = evaluated.sort_values("flapping_per_day").iloc[-1]
        tiles.append(Headline.of(
            "Worst flapping", float(worst["flapping_per_day"]), "/day", key="flapping",
            assessment="warning" if worst["flapping_per_day"] > 24 else "ok",
            definition=f"{worst['rule']}: state changes per day, all series"))
        if worst["flapping_per_day"] > 24:
            findings.append(f"{worst['rule']} flaps: "
                            f"{fmt.number(worst['flapping_per_day'])} state changes per day.")
    if variants is not None and len(variants) > 1 and "precision" in variants:
        v = variants.iloc[1:].copy()
        v["score"] = v["precision"].fillna(0) + v["recall"].fillna(0)
        best = v.sort_values("score").iloc[-1]
        base = variants.iloc[0]
        if best["score"] > (np.nan_to_num(base["precision"]) + np.nan_to_num(base["recall"])):
            findings.append(f"{best['rule']} would do better than {base['rule']}: precision "
                            f"{fmt.percent(best['precision'])}, recall "
                            f"{fmt.percent(best['recall'])}.")
    cmp = getattr(server, "comparison", None)
    if cmp is not None:
        rules = cmp.rules
        agree = int(rules["agrees"].sum())
        tiles.append(Headline.of(
            "Replay = Prometheus", agree, "count", key="server_agreement",
            text=f"{agree} of {len(rules)} rules",
            assessment="ok" if agree == len(rules) else "warning",
            definition="rules whose replayed firing intervals equal Prometheus's own ALERTS "
                       "(both ends within one evaluation interval) since it began evaluating"))
        if agree < len(rules):
            bad = rules[~rules["agrees"].astype(bool)]
            findings.insert(0, "The replay differs from Prometheus's own ALERTS for "
                            + ", ".join(str(r) for r in bad["rule"])
                            + " (Prometheus's are authoritative).")
        else:
            findings.append(f"{server.message}.")
    elif server is not None:
        findings.append(f"{str(server.message)[0].upper()}{str(server.message)[1:]}.")
    if not findings:
        findings.append("Every rule was evaluated; no incident list to score them against.")
    return Summary(report=report, status="ok", window_start=window.iso()[0],
                   window_end=window.iso()[1], data_end=data_end_iso(end),
                   headline=tuple(tiles), findings=tuple(findings[:5]),
                   insufficient=(gap,) if gap is not None else (),
                   details=dict(details or {}))
