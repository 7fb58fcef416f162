"""Fetch what the alert review needs: every rule evaluated over a window, replayed.

The rules are evaluated with ``query_range`` at their group's interval and Prometheus's
rule manager is replayed on the result (:mod:`tributary_analysis.analysis.alerts`).
Nothing is skipped silently: a rule whose metrics are absent (series API), whose
expression the server rejects, or whose signal matches no series is reported with the
reason; what the server said about each query (warnings, partial responses) is kept per
rule and for the page.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tributary_analysis.analysis.alerts import (
    AlertBacktest,
    ServerComparison,
    compare_with_server,
    evaluation_times,
    incidents_frame,
    replay_alert,
    review,
    server_intervals,
)
from tributary_analysis.errors import DataError, SourceError
from tributary_analysis.fetch.prometheus import MetricsSource
from tributary_analysis.frames.meta import FrameMeta, merge_meta, meta_of, reader_notes
from tributary_analysis.ground.time import (
    TimeLike,
    Window,
    format_duration,
    iso,
    parse_duration,
)
from tributary_analysis.promql import catalog as queries
from tributary_analysis.promql.rules import Rule, metric_names, signal_expr

__all__ = [
    "RuleReview", "ServerAlerts", "VariantBacktests", "backtest_rules", "default_incidents_file",
    "load_incidents", "metric_presence", "rule_signal", "server_alerts", "threshold_variants",
]


@dataclass
class RuleReview:
    """Everything the alert review found, rule by rule.

    ``meta`` merges the metadata of every query made (the page's warning box);
    ``warnings`` are the same facts as sentences prefixed with the rule they concern.
    """

    backtests: dict[str, AlertBacktest]
    status: pd.DataFrame  # rule, status, reason, missing_metrics, signal_series, warnings
    start: pd.Timestamp
    end: pd.Timestamp
    step: pd.Timedelta
    warnings: list[str] = field(default_factory=list)
    meta: FrameMeta = field(default_factory=FrameMeta)

    def table(self, incidents: pd.DataFrame | None = None, *,
              grace: pd.Timedelta | str = "15m",
              base_names: Mapping[str, str] | None = None) -> pd.DataFrame:
        """Status of every rule joined with the backtest summary and incident scores."""
        rev = review(self.backtests.values(), incidents, grace=grace, base_names=base_names)
        return self.status.merge(rev, on="rule", how="left")


def metric_presence(source: MetricsSource, names: Iterable[str], start: pd.Timestamp,
                    end: pd.Timestamp) -> dict[str, int]:
    """Number of series per metric name in ``[start, end]`` (series API)."""
    out: dict[str, int] = {}
    for name in dict.fromkeys(names):
        out[name] = len(source.series(queries.series_named(name), start, end))
    return out


def _series_count(frame: pd.DataFrame) -> int:
    """Distinct label sets in a range-query frame."""
    labels = [c for c in frame.columns if c not in ("timestamp", "value")]
    if not len(frame):
        return 0
    return len(frame[labels].drop_duplicates()) if labels else 1


def backtest_rules(source: MetricsSource, rules: Sequence[Rule], start: TimeLike,
                   end: TimeLike, *, step: Any = None, warmup: bool = True,
                   check_signal: bool = True) -> RuleReview:
    """Evaluate every alerting rule over ``[start, end)`` and replay ``for``/``keep_firing_for``.

    Parameters
    ----------
    source : MetricsSource
        A ``PrometheusSource``.
    rules : sequence of Rule
        Alerting rules (recording rules are listed with status ``recording rule``).
    start, end : time
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
    window = Window.of(start, end)
    t0, t1 = window.start, window.end
    names = [m for r in rules if r.is_alert for m in metric_names(r.expr)]
    present = metric_presence(source, names, t0, t1)
    backtests: dict[str, AlertBacktest] = {}
    rows: list[dict[str, Any]] = []
    all_warnings: list[str] = []
    metas: list[FrameMeta] = []
    fixed = parse_duration(step, name="step") if step is not None else None
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
        st = fixed if fixed is not None else rule.group_interval
        lead = (rule.for_ + rule.keep_firing_for) if warmup else pd.Timedelta(0)
        q_start = t0 - (-(-lead // st)) * st  # whole steps before start, on the grid
        q_end = t1 - st if (t1 - t0) % st == pd.Timedelta(0) else t1
        try:
            res = source.query_range(rule.expr, q_start, q_end, st)
        except SourceError as exc:
            rows.append({**row, "status": "query failed", "reason": str(exc)})
            continue
        metas.append(meta_of(res))
        warns = reader_notes(res)
        all_warnings += [f"{rule.name}: {w}" for w in warns]
        times = evaluation_times(_grid_start(res, q_start), q_end, st)
        bt = replay_alert(_labels_only(res), times, for_=rule.for_,
                          keep_firing_for=rule.keep_firing_for, name=rule.name,
                          rule_labels=rule.labels, window_start=t0)
        if st > rule.group_interval:
            bt.notes.append(f"evaluated every {format_duration(st)} instead of the group's "
                            f"{format_duration(rule.group_interval)}: 'for' is approximated to "
                            "whole steps")
        backtests[rule.name] = bt
        status, reason, signal_series = "evaluated", "", None
        if check_signal and bt.intervals.empty:
            sig = signal_expr(rule.expr)
            if sig is not None:
                try:
                    sres = source.query_range(sig, t0, q_end, max(st, pd.Timedelta(minutes=1)))
                    metas.append(meta_of(sres))
                    signal_series = _series_count(sres)
                except SourceError as exc:
                    reason = f"signal check failed: {exc}"
                if signal_series == 0:
                    status = "matches no series"
                    reason = ("the expression without its threshold returns nothing although "
                              "its metrics exist: check label matching (e.g. on/ignoring)")
        rows.append({**row, "status": status, "reason": reason or "; ".join(bt.notes),
                     "signal_series": signal_series, "warnings": warns,
                     "evaluations": len(times), "step": st})
    return RuleReview(backtests=backtests, status=pd.DataFrame(rows), start=t0, end=t1,
                      step=fixed if fixed is not None else pd.Timedelta(0),
                      warnings=all_warnings, meta=merge_meta(*metas))


def _labels_only(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop ``metric`` (``__name__``) and restore label columns the frame renamed (labels
    called ``timestamp`` or ``value`` collide with the frame's own columns)."""
    out = frame.drop(columns=["metric"], errors="ignore")
    renamed = meta_of(frame).details.get("renamed_labels") or {}
    return out.rename(columns={v: k for k, v in renamed.items() if k != "metric"})


class VariantBacktests(dict[str, AlertBacktest]):
    """``variant name → AlertBacktest`` (the rule as written first), with the ``meta`` of
    the queries behind them."""

    meta: FrameMeta = FrameMeta()


def threshold_variants(source: MetricsSource, rule: Rule, thresholds: Iterable[float],
                       start: TimeLike, end: TimeLike, *, step: Any = None,
                       exprs: Mapping[str, str] | None = None) -> VariantBacktests:
    """Backtest a rule and variants of it: rewritten thresholds and/or whole expressions.

    Returns a dict ``variant name → AlertBacktest`` whose first entry is the rule as written
    (its ``meta`` says what the server said); pass it to
    :func:`~tributary_analysis.analysis.alerts.compare_variants`.
    """
    variants = [rule] + [rule.with_threshold(t) for t in thresholds]
    variants += [rule.with_expr(e, name=n) for n, e in (exprs or {}).items()]
    rev = backtest_rules(source, variants, start, end, step=step, check_signal=False)
    failed = rev.status[rev.status["status"] != "evaluated"]
    if len(failed):
        raise DataError("variants could not be evaluated: " + "; ".join(
            f"{r.rule}: {r.reason}" for r in failed.itertuples()))
    out = VariantBacktests((v.name, rev.backtests[v.name]) for v in variants)
    out.meta = rev.meta
    return out


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


#: said on the page when the server has no ALERTS in the window
NOT_EVALUATED = ("this Prometheus does not evaluate the rules (no ALERTS series in the window)")


@dataclass
class ServerAlerts:
    """Prometheus's own ``ALERTS`` over the reviewed window, compared with the replay.

    ``comparison`` is ``None`` when the window holds no ``ALERTS`` sample at all (the server
    does not evaluate these rules, or did not then); ``message`` says so for the page.
    ``intervals`` are the server's firing intervals (:func:`server_intervals`).
    """

    comparison: ServerComparison | None
    intervals: pd.DataFrame
    message: str
    meta: FrameMeta = field(default_factory=FrameMeta)


def _grid_start(frame: pd.DataFrame, asked: pd.Timestamp) -> pd.Timestamp:
    """The first instant the source evaluated: a long range is moved down to a multiple of
    the step (query frontends cache only those), so a replay on the grid of the instant
    asked for would find none of the rows on it and see no alert fire."""
    window = meta_of(frame).window
    return window.start if window is not None else asked


def server_alerts(source: MetricsSource, rules: Sequence[Rule], rev: RuleReview) -> ServerAlerts:
    """Read ``ALERTS{alertstate="firing"}`` over ``rev``'s window and compare it with the
    replay, rule by rule (:func:`~tributary_analysis.analysis.alerts.compare_with_server`).

    The server's alerts are read on the replay's grid (its step, else the shortest group
    interval of the rules), and two intervals are the same when both ends agree within
    that step. The comparison starts at the first ``ALERTS`` sample of the window (pending
    or firing): before it the server did not evaluate the rules.
    """
    alerting = [r for r in rules if r.is_alert]
    steps = [r.group_interval for r in alerting]
    st = rev.step if rev.step > pd.Timedelta(0) else min(steps, default=pd.Timedelta(minutes=1))
    tol = max([st, *steps])
    t0, t1 = rev.start, rev.end
    q_end = t1 - st if (t1 - t0) % st == pd.Timedelta(0) else t1
    seen = source.query_range(queries.alerts_evaluated(), t0, q_end, st)
    metas = [meta_of(seen)]
    if seen.empty:
        return ServerAlerts(None, server_intervals(seen, evaluation_times(t0, q_end, st)),
                            NOT_EVALUATED, merge_meta(*metas))
    firing = source.query_range(queries.alerts_firing(), t0, q_end, st)
    metas.append(meta_of(firing))
    grid = evaluation_times(_grid_start(firing, t0), q_end, st)
    iv = server_intervals(_labels_only(firing), grid)
    began = pd.Timestamp(pd.to_datetime(seen["timestamp"], utc=True).min())
    cmp = compare_with_server(
        rev.backtests, iv, tolerance=tol, end=t1, evaluated_from=began,
        holds={r.name: r.for_ for r in alerting},
        rule_labels={r.name: dict(r.labels) for r in alerting})
    n, agree = len(cmp.rules), int(cmp.rules["agrees"].sum())
    message = (f"Prometheus evaluated the rules from {iso(began)}: "
               f"{agree} of {n} rule(s) fired exactly as replayed (within {format_duration(tol)})")
    return ServerAlerts(cmp, iv, message, merge_meta(*metas))


def rule_signal(source: MetricsSource, rule: Rule, start: TimeLike, end: TimeLike, *,
                step: Any = None) -> tuple[pd.DataFrame, str, float]:
    """The rule's expression without its threshold over ``[start, end)``, with the
    comparison operator and threshold (what :func:`~tributary_analysis.viz.alerts.signal_chart`
    draws). ``step`` defaults to the group interval, at least one minute.

    Raises
    ------
    DataError
        The expression has no single top-level comparison with a number.
    """
    from tributary_analysis.promql.rules import comparison

    op, threshold, _ = comparison(rule.expr)
    sig = signal_expr(rule.expr)
    if sig is None:  # comparison() accepted it, so this cannot happen; said anyway
        raise DataError(f"rule {rule.name!r}: no signal side in {rule.expr!r}")
    window = Window.of(start, end)
    st = parse_duration(step, name="step") if step is not None else \
        max(rule.group_interval, pd.Timedelta(minutes=1))
    q_end = window.end - st if window.duration % st == pd.Timedelta(0) else window.end
    frame = source.query_range(sig, window.start, q_end, st)
    return _labels_only(frame), op, float(threshold)
