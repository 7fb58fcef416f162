"""Run a panel's planned queries through the safe Prometheus client.

The only code of the dashboard report that calls a server: every expression goes through
:class:`~tributary_analysis.sources.prometheus.PrometheusSource` (``query_range`` with the
plan's step, or ``query`` at the window's end for instant targets), so retries, splitting
of long ranges, error mapping and the server's warnings are the suite's usual ones. A query
the server rejects becomes the panel's error, not the report's.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.dashboards.plan import PanelPlan, PlannedQuery
from tributary_analysis.errors import AuthenticationError, SourceError, SourceUnreachable
from tributary_analysis.frames.meta import reader_notes

__all__ = ["PanelData", "Series", "distinct_names", "fetch_panel", "frame_series",
           "server_notes"]

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
    """Everything the server said besides the data (FrameMeta, or the source's attrs)."""
    out = list(reader_notes(df))
    attrs = df.attrs
    for w in attrs.get("warnings", []) or []:
        text = str(w.get("message", w) if isinstance(w, dict) else w)
        if text not in out:
            out.append(text)
    for i in attrs.get("infos", []) or []:
        text = f"info: {i}"
        if text not in out:
            out.append(text)
    if attrs.get("partial_response") or attrs.get("partial"):
        text = f"partial response for {attrs.get('query', 'a query')}: some data may be missing"
        if text not in out:
            out.append(text)
    return out


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


def run_query(source: Any, q: PlannedQuery) -> pd.DataFrame:
    """One planned query: ``query`` at the end for instant targets, else ``query_range``."""
    if q.instant:
        return source.query(q.expr, time=q.end)
    return source.query_range(q.expr, q.start, q.end, q.step.to_pytimedelta())


def label_values(source: Any, label: str, match: str | None, start: pd.Timestamp,
                 end: pd.Timestamp) -> list[str]:
    """A query variable's options: the label values API over the window."""
    return list(source.label_values(label, match=match, start=start, end=end))


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


@dataclass(frozen=True)
class ReplicaProbe:
    """How a gauge's copies compare across replicas at one instant."""

    total: float | None  # series
    groups: float | None  # label sets once the replica labels are removed
    differing: float | None  # label sets whose copies differ
    nonzero: float | None  # label sets with a non-zero value


def max_across(selector: str, replica_labels: Iterable[str]) -> str:
    """``max without (instance) (selector)``: one copy of a replicated gauge."""
    return f"max without ({', '.join(replica_labels)}) ({selector})"


def replica_probe(source: Any, selector: str, replica_labels: Sequence[str],
                  at: pd.Timestamp) -> ReplicaProbe:
    """Count series, label sets, differing and non-zero label sets of ``selector``."""
    wo = f"without ({', '.join(replica_labels)})"
    high, low = f"max {wo} ({selector})", f"min {wo} ({selector})"
    return ReplicaProbe(
        total=instant_number(source, f"count({selector})", at),
        groups=instant_number(source, f"count(count {wo} ({selector}))", at),
        differing=instant_number(source, f"count(({high}) != ({low}))", at),
        nonzero=instant_number(source, f"count(({high}) != 0)", at))


def instant_number(source: Any, expr: str, at: pd.Timestamp) -> float | None:
    """The single value of a scalar-like instant query (``count(...)``), ``None`` if empty."""
    df = source.query(expr, time=at)
    if df is None or len(df) == 0:
        return None
    return float(pd.to_numeric(df["value"], errors="coerce").sum())


def label_names_of(source: Any, selector: str, start: pd.Timestamp, end: pd.Timestamp
                   ) -> list[str]:
    """Label names of the series ``selector`` matches in the window."""
    return list(source.label_names(selector, start=start, end=end))


def metrics_present(source: Any, names: Iterable[str], start: pd.Timestamp,
                    end: pd.Timestamp) -> dict[str, bool]:
    """Whether each metric name has any series in the window (the series API)."""
    from tributary_analysis.promql import selector

    out = {}
    for name in names:
        try:
            df = source.series(selector(name), start=start, end=end)
        except SourceError:
            out[name] = False
            continue
        out[name] = len(df) > 0
    return out


def metric_type(source: Any, name: str) -> str:
    """``counter``/``gauge``/… from the server's metadata, else the seed's families, else
    ``""`` (backfilled TSDB blocks carry no metadata)."""
    try:
        meta = source.metadata(name)
    except SourceError:
        meta = None
    if meta is not None and len(meta) and str(meta["type"].iloc[0] or ""):
        return str(meta["type"].iloc[0])
    from tributary_analysis.seed import FAMILIES_BY_NAME

    fam = FAMILIES_BY_NAME.get(name)
    return fam.type if fam is not None else ""
