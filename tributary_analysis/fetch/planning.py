"""Fetch what the alert review and capacity planning need from a metrics source.

The only module of the two reviews that talks to a server; everything it returns goes to
the pure functions in :mod:`tributary_analysis.analysis.alerts`,
:mod:`~tributary_analysis.analysis.forecast` and :mod:`~tributary_analysis.analysis.capacity`.
The source is anything with the :class:`~tributary_analysis.sources.prometheus.PrometheusSource`
methods ``query_range`` and ``series``.

Nothing is skipped silently: a rule whose metrics are absent, whose expression the server
rejects, or whose signal matches no series is reported with the reason; server warnings
are collected per rule.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from tributary_analysis.analysis.alerts import (
    AlertBacktest,
    evaluation_times,
    incidents_frame,
    replay_alert,
    review,
)
from tributary_analysis.analysis.capacity import Resource, fleet_adjust, resample_mean, to_series
from tributary_analysis.errors import DataError, SourceError
from tributary_analysis.promql import catalog as queries
from tributary_analysis.promql import quote
from tributary_analysis.promql.rules import Rule, as_timedelta, metric_names, signal_expr


class MetricsSource(Protocol):
    """The part of ``PrometheusSource`` the reviews use."""

    def query_range(self, expr: str, start: Any, end: Any, step: Any) -> pd.DataFrame: ...

    def series(self, match: str | list[str], start: Any = None,
               end: Any = None) -> pd.DataFrame: ...


# ------------------------------------------------------------------ alert review

@dataclass
class RuleReview:
    """Everything the alert review found, rule by rule."""

    backtests: dict[str, AlertBacktest]
    status: pd.DataFrame  # rule, status, reason, missing_metrics, signal_series, warnings
    start: pd.Timestamp
    end: pd.Timestamp
    step: pd.Timedelta
    warnings: list[str] = field(default_factory=list)

    def table(self, incidents: pd.DataFrame | None = None, *,
              grace: pd.Timedelta | str = "15min",
              base_names: Mapping[str, str] | None = None) -> pd.DataFrame:
        """Status of every rule joined with the backtest summary and incident scores."""
        rev = review(self.backtests.values(), incidents, grace=grace, base_names=base_names)
        return self.status.merge(rev, on="rule", how="left")


def metric_presence(source: MetricsSource, names: Iterable[str], start: pd.Timestamp,
                    end: pd.Timestamp) -> dict[str, int]:
    """Number of series per metric name in ``[start, end]`` (series API)."""
    out: dict[str, int] = {}
    for name in dict.fromkeys(names):
        df = source.series(f"{{__name__={quote(name)}}}", start, end)
        out[name] = len(df)
    return out


def backtest_rules(source: MetricsSource, rules: Sequence[Rule], start: Any, end: Any, *,
                   step: Any = None, warmup: bool = True,
                   check_signal: bool = True) -> RuleReview:
    """Evaluate every alerting rule over ``[start, end)`` and replay ``for``/``keep_firing_for``.

    Parameters
    ----------
    source : MetricsSource
        A ``PrometheusSource``.
    rules : sequence of Rule
        Alerting rules (recording rules are listed with status ``recording rule``).
    start, end : timestamp-like
        The reviewed window.
    step : duration, optional
        Evaluation step; default each rule's group interval (the seed's 15 s). A coarser
        step is faster but approximates ``for:`` (noted per rule).
    warmup : bool
        Also evaluate ``for + keep_firing_for`` before ``start`` so alerts already pending at
        the start are not delayed.
    check_signal : bool
        For rules that never fire, evaluate the expression without its threshold to tell
        "never exceeded" from "matches no series".

    Returns
    -------
    RuleReview
    """
    t0, t1 = pd.Timestamp(start), pd.Timestamp(end)
    t0 = t0.tz_localize("UTC") if t0.tzinfo is None else t0.tz_convert("UTC")
    t1 = t1.tz_localize("UTC") if t1.tzinfo is None else t1.tz_convert("UTC")
    if t1 <= t0:
        raise DataError(f"review window end {t1} is not after start {t0}")
    names = [m for r in rules if r.is_alert for m in metric_names(r.expr)]
    present = metric_presence(source, names, t0, t1)
    backtests: dict[str, AlertBacktest] = {}
    rows: list[dict[str, Any]] = []
    all_warnings: list[str] = []
    for rule in rules:
        row: dict[str, Any] = {"rule": rule.name, "group": rule.group, "expr": rule.expr,
                               "for": rule.for_, "metrics": metric_names(rule.expr)}
        if not rule.is_alert:
            rows.append({**row, "status": "recording rule", "reason": "not an alert"})
            continue
        missing = [m for m in row["metrics"] if not present.get(m)]
        row["missing_metrics"] = missing
        if missing:
            rows.append({**row, "status": "metrics missing",
                         "reason": "no series for " + ", ".join(missing) + " in the window"})
            continue
        st = as_timedelta(step, where="step") if step is not None else rule.group_interval
        lead = (rule.for_ + rule.keep_firing_for) if warmup else pd.Timedelta(0)
        q_start = t0 - (-(-lead // st)) * st  # whole steps before start, on the grid
        q_end = t1 - st if (t1 - t0) % st == pd.Timedelta(0) else t1
        try:
            res = source.query_range(rule.expr, q_start, q_end, st)
        except SourceError as exc:
            rows.append({**row, "status": "query failed", "reason": str(exc)})
            continue
        warns = [str(w) for w in res.attrs.get("warnings", [])]
        if res.attrs.get("partial_response"):
            warns.append("partial response: some data may be missing")
        all_warnings += [f"{rule.name}: {w}" for w in warns]
        times = evaluation_times(q_start, q_end, st)
        bt = replay_alert(_labels_only(res), times, for_=rule.for_,
                          keep_firing_for=rule.keep_firing_for, name=rule.name,
                          rule_labels=rule.labels, window_start=t0)
        if st > rule.group_interval:
            bt.notes.append(f"evaluated every {st} instead of the group's {rule.group_interval}:"
                            " 'for' is approximated to whole steps")
        backtests[rule.name] = bt
        status, reason, signal_series = "evaluated", "", None
        if check_signal and bt.intervals.empty:
            sig = signal_expr(rule.expr)
            if sig is not None:
                try:
                    sres = source.query_range(sig, t0, q_end, max(st, pd.Timedelta("1m")))
                    signal_series = int(sres.attrs.get("series", 0) or 0) if len(sres) else 0
                except SourceError as exc:
                    reason = f"signal check failed: {exc}"
                if signal_series == 0:
                    status = "matches no series"
                    reason = ("the expression without its threshold returns nothing although "
                              "its metrics exist: check label matching (e.g. on/ignoring)")
        rows.append({**row, "status": status, "reason": reason or "; ".join(bt.notes),
                     "signal_series": signal_series, "warnings": warns,
                     "evaluations": len(times), "step": st})
    status_df = pd.DataFrame(rows)
    return RuleReview(backtests=backtests, status=status_df, start=t0, end=t1,
                      step=as_timedelta(step) if step is not None else pd.Timedelta(0),
                      warnings=all_warnings)


def _labels_only(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop ``metric`` (``__name__``) and restore renamed label columns."""
    out = frame.drop(columns=["metric"], errors="ignore")
    renamed = frame.attrs.get("renamed_labels") or {}
    return out.rename(columns={v: k for k, v in renamed.items() if k != "metric"})


def threshold_variants(source: MetricsSource, rule: Rule, thresholds: Iterable[float], start: Any,
                       end: Any, *, step: Any = None,
                       exprs: Mapping[str, str] | None = None) -> dict[str, AlertBacktest]:
    """Backtest a rule and variants of it: rewritten thresholds and/or whole expressions.

    Returns a dict ``variant name → AlertBacktest`` whose first entry is the rule as written;
    pass it to :func:`~tributary_analysis.analysis.alerts.compare_variants`.
    """
    variants = [rule] + [rule.with_threshold(t) for t in thresholds]
    variants += [rule.with_expr(e, name=n) for n, e in (exprs or {}).items()]
    rev = backtest_rules(source, variants, start, end, step=step, check_signal=False)
    failed = rev.status[rev.status["status"] != "evaluated"]
    if len(failed):
        raise DataError("variants could not be evaluated: " + "; ".join(
            f"{r.rule}: {r.reason}" for r in failed.itertuples()))
    return {v.name: rev.backtests[v.name] for v in variants}


def default_incidents_file() -> Path | None:
    """``incidents.json`` of the local demo stack's simulation, if a stack was started."""
    from tributary_analysis.config import load_settings, read_stack_state

    sim_dir = read_stack_state(load_settings().home).get("sim_dir")
    if not sim_dir:
        return None
    path = Path(str(sim_dir)) / "incidents.json"
    return path if path.exists() else None


def load_incidents(path: str | Path, rule_names: Iterable[str] = (), *,
                   by_kind: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """The simulator's ``incidents.json`` (or a user file of the same shape) as incidents.

    Each incident's ``expected.alert`` (or a top-level ``alerts`` list) names the rules that
    should fire for it; ``by_kind`` adds rules per incident ``kind`` (e.g.
    ``{"scrape_gap": ["ServiceDown"]}``). An incident naming no known rule is relevant to
    none (it is still listed). ``start``/``end`` are required.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise DataError(f"cannot read incidents file {p}: {exc}") from exc
    items = doc.get("incidents", doc) if isinstance(doc, dict) else doc
    if not isinstance(items, list):
        raise DataError(f"incidents file {p} must hold a list of incidents")
    known = set(rule_names)
    rows = []
    for i, inc in enumerate(items):
        if not isinstance(inc, dict):
            raise DataError(f"incident #{i + 1} in {p} must be an object")
        alerts = inc.get("alerts")
        if alerts is None:
            expected = (inc.get("expected") or {}).get("alert")
            alerts = [expected] if isinstance(expected, str) else []
        alerts = list(alerts) + list((by_kind or {}).get(str(inc.get("kind", "")), []))
        if known:
            alerts = [a for a in alerts if a in known]
        alerts = list(dict.fromkeys(alerts))
        rows.append({"name": inc.get("id") or inc.get("name") or f"incident {i + 1}",
                     "kind": inc.get("kind", ""), "start": inc.get("start"),
                     "end": inc.get("end"), "alerts": alerts})
    try:
        frame = incidents_frame(pd.DataFrame(rows))
    except DataError as exc:
        raise DataError(f"incidents file {p}: {exc}") from exc
    frame.insert(1, "kind", [r["kind"] for r in rows])
    return frame


# ------------------------------------------------------------------ capacity

@dataclass
class CapacityData:
    """Histories for capacity planning, each a wide frame (one column per group)."""

    request_rate: pd.DataFrame  # column "total"
    request_rate_by_tenant: pd.DataFrame
    vectors_by_tenant: pd.DataFrame
    datasets_by_tenant: pd.DataFrame
    memory_used: pd.DataFrame  # per instance
    memory_limit: pd.Series  # per instance (bytes)
    connections: pd.DataFrame  # per instance
    step: pd.Timedelta
    warnings: list[str] = field(default_factory=list)

    @property
    def vectors_total(self) -> pd.Series:
        return self.vectors_by_tenant.sum(axis=1, min_count=1).rename("vectors")

    @property
    def datasets_total(self) -> pd.Series:
        return self.datasets_by_tenant.sum(axis=1, min_count=1).rename("datasets")

    def resources(self, *, request_limit: float | None = None,
                  vector_limit: float | None = None, dataset_limit: float | None = None,
                  connection_limit: float | None = 80.0,
                  memory_limit: float | None = None,
                  fleet_adjusted: bool | None = None,
                  step: pd.Timedelta | str | None = None) -> list[Resource]:
        """The resources to plan, with limits (memory defaults to each replica's ``total``;
        connections to the seed's alert threshold of 80).

        With ``fleet_adjusted`` (and at least three replicas) per-replica memory and
        connections have the load swing shared with the other replicas removed
        (:func:`~tributary_analysis.analysis.capacity.fleet_adjust`): the forecast then
        follows the replica's own trend, e.g. a leak. The default does this only when the
        history is shorter than two days: with more, STL learns the daily swing from the
        replica itself, and the fleet median would leak a trending replica's drift into
        the others (measured on the demo profile: 18 % vs 6 % error in time to limit).
        ``step`` averages every history into bins of that size first (see
        :func:`~tributary_analysis.analysis.capacity.forecast_step`)."""
        if fleet_adjusted is None:
            idx = self.memory_used.index
            fleet_adjusted = len(idx) > 1 and idx[-1] - idx[0] < pd.Timedelta(days=2)
        out = self._resources(request_limit, vector_limit, dataset_limit, connection_limit,
                              memory_limit, fleet_adjusted)
        if step is None:
            return out
        return [replace(r, history=resample_mean(r.history, as_timedelta(step)))
                for r in out]

    def _resources(self, request_limit: float | None, vector_limit: float | None,
                   dataset_limit: float | None, connection_limit: float | None,
                   memory_limit: float | None, fleet_adjusted: bool) -> list[Resource]:
        out = [Resource("request rate (req/s)", self.request_rate["total"], request_limit,
                        "req/s"),
               Resource("vectors", self.vectors_total, vector_limit, "vectors"),
               Resource("datasets", self.datasets_total, dataset_limit, "datasets")]
        for inst in self.memory_used.columns:
            lim = memory_limit if memory_limit is not None else self.memory_limit.get(inst)
            out.append(Resource(f"memory used {inst}", self._own(self.memory_used, inst,
                                                                 fleet_adjusted),
                                None if lim is None or pd.isna(lim) else float(lim), "bytes"))
        for inst in self.connections.columns:
            out.append(Resource(f"connections {inst}", self._own(self.connections, inst,
                                                                 fleet_adjusted),
                                connection_limit, "connections"))
        return out

    @staticmethod
    def _own(frame: pd.DataFrame, inst: str, adjust: bool) -> pd.Series:
        if adjust and frame.shape[1] >= 3:
            return fleet_adjust(frame, inst)[0]
        return frame[inst]


def fetch_capacity(source: MetricsSource, start: Any, end: Any, *,
                   step: Any = "5m", rate_window: str = "5m") -> CapacityData:
    """Pull the capacity histories with aggregation pushed into PromQL.

    Business gauges are combined with ``max`` across replicas (then summed over datasets),
    request rates with ``sum``; memory and connections stay per replica.
    """
    st = as_timedelta(step, where="step")
    warnings: list[str] = []

    def pull(expr: str) -> pd.DataFrame:
        df = source.query_range(expr, start, end, st)
        warnings.extend(f"{expr}: {w}" for w in df.attrs.get("warnings", []))
        if df.attrs.get("partial_response"):
            warnings.append(f"{expr}: partial response, some data may be missing")
        return df

    def wide(df: pd.DataFrame, by: str | None) -> pd.DataFrame:
        if df.empty:
            return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))
        return to_series(df, by=by, across="max")

    rr = pull(queries.request_rate(rate_window))
    rr_t = pull(queries.request_rate(rate_window, by=("tenant_id",)))
    vec = pull(queries.vectors_by_tenant())
    ds = pull(queries.datasets_by_tenant())
    mem_used = pull('max by (instance) (memory_usage_bytes{memory_type="used"})')
    mem_total = pull('max by (instance) (memory_usage_bytes{memory_type="total"})')
    conns = pull(queries.active_connections())
    if rr.empty:
        raise DataError(f"no request-rate data between {start} and {end}: check the window "
                        "and that http_requests_total is scraped")
    limit = (to_series(mem_total, by="instance").max() if not mem_total.empty
             else pd.Series(dtype=float))
    return CapacityData(
        request_rate=wide(rr, None), request_rate_by_tenant=wide(rr_t, "tenant_id"),
        vectors_by_tenant=wide(vec, "tenant_id"), datasets_by_tenant=wide(ds, "tenant_id"),
        memory_used=wide(mem_used, "instance"), memory_limit=limit,
        connections=wide(conns, "instance"), step=st, warnings=warnings)
