"""Run a panel's planned queries and turn the answers into series.

The server calls themselves (the panel's queries, variable options, the review's probes)
live in :mod:`tributary_analysis.fetch.dashboards`, the fetch layer, and are re-exported
here; this module holds what the dashboard report makes of the answers (series named by
the legend, the server's notes). A query the server rejects becomes the panel's error, not
the report's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.dashboards.plan import PanelPlan, PlannedQuery
from tributary_analysis.errors import AuthenticationError, SourceError, SourceUnreachable
from tributary_analysis.fetch.dashboards import (
    ReplicaProbe,
    instant_number,
    label_names_of,
    label_values,
    metric_type,
    metrics_present,
    replica_probe,
    run_query,
)
from tributary_analysis.frames.meta import reader_notes
from tributary_analysis.promql import catalog

__all__ = ["PanelData", "ReplicaProbe", "Series", "distinct_names", "fetch_panel",
           "frame_series", "instant_number", "label_names_of", "label_values", "max_across",
           "metric_type", "metrics_present", "replica_probe", "run_query", "server_notes"]

_LEGEND = re.compile(r"\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}")
#: frame columns that are not labels
_NOT_LABELS = {"timestamp", "value"}


@dataclass(frozen=True)
class Series:
    """One result series of a panel query."""

    name: str
    labels: dict[str, str]
    ref_id: str
    timestamps: np.ndarray  # datetime64[ns], UTC
    values: np.ndarray  # float64


@dataclass
class PanelData:
    """What a panel's queries returned."""

    plan: PanelPlan
    series: list[Series] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    empty_queries: list[PlannedQuery] = field(default_factory=list)
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)


def server_notes(df: pd.DataFrame) -> list[str]:
    """Everything the server said besides the data (the frame's :class:`FrameMeta`)."""
    return list(reader_notes(df))


def legend_name(legend: str, labels: dict[str, str], expr: str) -> str:
    """Grafana's series name: ``{{label}}`` filled in; empty/``__auto`` → ``metric{labels}``
    (or the expression for a series with no labels)."""
    if legend and legend != "__auto":
        return _LEGEND.sub(lambda m: labels.get(m.group(1), ""), legend)
    metric = labels.get("__name__", "")
    rest = {k: v for k, v in labels.items() if k != "__name__"}
    if not rest:
        return metric or expr
    inner = ", ".join(f'{k}="{v}"' for k, v in sorted(rest.items()))
    return f"{metric}{{{inner}}}"


def distinct_names(series: list[Series]) -> list[str]:
    """Display names, with the labels that tell apart series sharing a legend name
    (``Connections · api-1:9090``) — the review still says the legend is ambiguous."""
    counts: dict[str, list[Series]] = {}
    for s in series:
        counts.setdefault(s.name, []).append(s)
    out = []
    for s in series:
        same = counts[s.name]
        if len(same) == 1:
            out.append(s.name)
            continue
        keys = [k for k in sorted({k for x in same for k in x.labels})
                if len({x.labels.get(k) for x in same}) > 1 and k != "__name__"]
        extra = ", ".join(s.labels.get(k, "") for k in keys[:2])
        out.append(f"{s.name} · {extra}" if extra else s.name)
    return out


def frame_series(df: pd.DataFrame, q: PlannedQuery) -> list[Series]:
    """A long metric frame → one :class:`Series` per label set, named by the legend."""
    if df is None or len(df) == 0:
        return []
    labels = [c for c in df.columns if c not in _NOT_LABELS]
    ts = pd.to_datetime(df["timestamp"], utc=True)
    values = pd.to_numeric(df["value"], errors="coerce").astype("float64")
    work = pd.DataFrame({"timestamp": ts, "value": values})
    for c in labels:
        work[c] = df[c].astype("string").fillna("")
    out: list[Series] = []
    groups: Iterable[tuple[Any, pd.DataFrame]]
    groups = work.groupby(labels, sort=True, observed=True) if labels else [((), work)]
    for key, g in groups:
        keys = list(key) if isinstance(key, tuple) else [key]
        lab = {("__name__" if c == "metric" else c): str(v)
               for c, v in zip(labels, keys, strict=True) if str(v) != ""}
        g = g.sort_values("timestamp")
        out.append(Series(name=legend_name(q.legend, lab, q.expr), labels=lab,
                          ref_id=q.ref_id,
                          timestamps=g["timestamp"].dt.tz_convert(None).to_numpy(),
                          values=g["value"].to_numpy(dtype="float64")))
    return out


def fetch_panel(source: Any, plan: PanelPlan) -> PanelData:
    """Run every query of ``plan``; a query the server rejects or times out is the panel's
    error (collected, not raised); an unreachable server or refused credentials raise."""
    data = PanelData(plan)
    for q in plan.queries:
        try:
            df = run_query(source, q)
        except (SourceUnreachable, AuthenticationError):
            raise  # the whole report cannot be made: its failure page says why
        except SourceError as exc:
            data.errors.append(f"query {q.ref_id} failed: {exc}")
            continue
        data.frames[q.ref_id] = df
        for note in server_notes(df):
            if note not in data.warnings:
                data.warnings.append(note)
        series = frame_series(df, q)
        if not series:
            data.empty_queries.append(q)
        data.series.extend(series)
    return data


# ------------------------------------------------------------------ review probes


def max_across(selector: str, replica_labels: Iterable[str]) -> str:
    """``max without (instance) (selector)``: one copy of a replicated gauge."""
    return catalog.replicas_max(selector, replica_labels)
