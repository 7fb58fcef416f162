"""The dashboard report's server calls: a panel's queries, variable options, review probes.

Every call goes through :class:`~tributary_analysis.sources.prometheus.PrometheusSource`
(``query_range`` with the plan's step, ``query`` at the window's end for instant targets,
the label and series APIs), so retries, splitting of long ranges, error mapping and the
server's warnings are the suite's usual ones. The probes' PromQL comes from
:mod:`tributary_analysis.promql.catalog`. :mod:`tributary_analysis.dashboards` plans,
reviews and draws; this module is the only part of it that talks to a server.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from tributary_analysis.errors import SourceError
from tributary_analysis.promql import catalog
from tributary_analysis.promql import selector as make_selector

if TYPE_CHECKING:
    from tributary_analysis.dashboards.plan import PlannedQuery

__all__ = ["ReplicaProbe", "instant_number", "label_names_of", "label_values", "metric_type",
           "metrics_present", "replica_probe", "run_query"]


def run_query(source: Any, q: PlannedQuery) -> pd.DataFrame:
    """One planned query: ``query`` at the end for instant targets, else ``query_range``."""
    if q.instant:
        return source.query(q.expr, time=q.end)
    return source.query_range(q.expr, q.start, q.end, q.step.to_pytimedelta())


def label_values(source: Any, label: str, match: str | None, start: pd.Timestamp,
                 end: pd.Timestamp) -> list[str]:
    """A query variable's options: the label values API over the window."""
    return list(source.label_values(label, match=match, start=start, end=end))


@dataclass(frozen=True)
class ReplicaProbe:
    """How a gauge's copies compare across replicas at one instant."""

    total: float | None  # series
    groups: float | None  # label sets once the replica labels are removed
    differing: float | None  # label sets whose copies differ
    nonzero: float | None  # label sets with a non-zero value


def replica_probe(source: Any, selector: str, replica_labels: Sequence[str],
                  at: pd.Timestamp) -> ReplicaProbe:
    """Count series, label sets, differing and non-zero label sets of ``selector``."""
    q = catalog.replica_probe(selector, replica_labels)
    return ReplicaProbe(total=instant_number(source, q["total"], at),
                        groups=instant_number(source, q["groups"], at),
                        differing=instant_number(source, q["differing"], at),
                        nonzero=instant_number(source, q["nonzero"], at))


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
    out = {}
    for name in names:
        try:
            df = source.series(make_selector(name), start=start, end=end)
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
