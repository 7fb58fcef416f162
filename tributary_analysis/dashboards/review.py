"""Review each panel's query the way the alert review reviews rules: against the server.

Findings, each said beside the panel it concerns:

``replicated_gauge_sum``
    ``sum`` over a gauge that every replica reports identically (the seed's
    ``datasets_total``, ``vectors_total``: shared state read by each pod) adds one copy per
    replica. Checked on the server, not guessed from the name: at the window's end and
    middle, more than one series per label set once the replica label is removed, and every
    copy equal. The corrected query takes the ``max`` across replicas first, then sums; it
    runs too, and its value is shown.
``no_series``
    The query matches nothing in the window; the series API tells a metric that does not
    exist apart from filters that select nothing.
``topk_over_range``
    ``topk``/``bottomk`` in a range query picks its k series at every step, so more than k
    appear over the window.
``range_shorter_than_step``
    ``rate(x[5m])`` drawn with a 15-minute step skips two thirds of the data;
    ``$__rate_interval`` avoids it.
``heatmap_not_buckets``
    A heatmap fed ``le`` series in the ``time_series`` format: Grafana would bucket the
    values themselves; the report draws the buckets (Format: Heatmap in Grafana).
``duplicate_names``
    Several series share one legend name (they differ in a label the legend leaves out).
``query_error`` / ``planning``
    The server rejected a query; a variable value could not be used.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tributary_analysis.dashboards import fetch as fetch_mod
from tributary_analysis.dashboards.fetch import PanelData, Series
from tributary_analysis.dashboards.plan import PlannedQuery
from tributary_analysis.dashboards.reduce import calc_of, reduce_values
from tributary_analysis.errors import SourceError, TributaryError
from tributary_analysis.promql.rules import Token, metric_names, tokenize

__all__ = ["Correction", "Finding", "find_sums_of_selectors", "review_panel"]

REPLICA_LABELS = ("instance", "pod", "kubernetes_pod_name", "replica")
_NOT_SUMMABLE = ("counter", "histogram", "summary")


@dataclass(frozen=True)
class Correction:
    """A corrected query and what it returns (one number per series, reduced as the panel
    does)."""

    expr: str
    values: tuple[tuple[str, float], ...] = ()
    total: float | None = None
    series: tuple[Series, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One review result for one panel."""

    kind: str
    severity: str  # error | warning | info
    message: str
    ref_id: str = ""
    correction: Correction | None = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SumOfSelector:
    """``sum [by|without (…)] (selector)`` found in an expression."""

    metric: str
    selector: str
    sel_start: int
    sel_end: int
    grouping: tuple[str, ...]
    without: bool


def _close(toks: Sequence[Token], i: int) -> int:
    """Index of the token closing the bracket at ``i``."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j].kind == "punct" and toks[j].text in "([{":
            depth += 1
        elif toks[j].kind == "punct" and toks[j].text in ")]}":
            depth -= 1
            if depth == 0:
                return j
    return len(toks) - 1


def _labels(toks: Sequence[Token], i: int, j: int) -> tuple[str, ...]:
    return tuple(t.text for t in toks[i + 1:j] if t.kind == "ident")


def find_sums_of_selectors(expr: str) -> list[SumOfSelector]:
    """Every ``sum`` whose argument is a plain vector selector (no function around it).

    Examples
    --------
    >>> [(s.metric, s.grouping) for s in find_sums_of_selectors(
    ...     "sum(datasets_total) by (tenant_id) + sum(rate(x[5m]))")]
    [('datasets_total', ('tenant_id',))]
    """
    toks = tokenize(expr)
    out = []
    for i, t in enumerate(toks):
        if t.kind != "ident" or t.text.lower() != "sum":
            continue
        j = i + 1
        grouping: tuple[str, ...] = ()
        without = False
        if j < len(toks) and toks[j].text.lower() in ("by", "without"):
            without = toks[j].text.lower() == "without"
            k = _close(toks, j + 1)
            grouping, j = _labels(toks, j + 1, k), k + 1
        if j >= len(toks) or toks[j].text != "(":
            continue
        end = _close(toks, j)
        arg = toks[j + 1:end]
        if not arg or arg[0].kind != "ident":
            continue
        if len(arg) > 1 and not (arg[1].text == "{" and _close(arg, 1) == len(arg) - 1):
            continue
        after = end + 1
        if not grouping and after < len(toks) and toks[after].text.lower() in ("by",
                                                                               "without"):
            without = toks[after].text.lower() == "without"
            grouping = _labels(toks, after + 1, _close(toks, after + 1))
        out.append(SumOfSelector(arg[0].text, expr[arg[0].start:arg[-1].end],
                                 arg[0].start, arg[-1].end, grouping, without))
    return out


def uses_rate(expr: str) -> bool:
    """Whether every result of ``expr`` is a per-second rate (it applies rate/irate)."""
    try:
        toks = tokenize(expr)
    except TributaryError:
        return False
    return any(t.kind == "ident" and t.text in ("rate", "irate") and i + 1 < len(toks)
               and toks[i + 1].text == "(" for i, t in enumerate(toks))


def _top_k(expr: str) -> int | None:
    toks = tokenize(expr)
    for i, t in enumerate(toks[:-2]):
        if t.kind == "ident" and t.text.lower() in ("topk", "bottomk") and \
                toks[i + 1].text == "(" and toks[i + 2].kind == "number":
            try:
                return int(float(toks[i + 2].text))
            except ValueError:
                return None
    return None


def _range_durations(expr: str) -> list[pd.Timedelta]:
    from tributary_analysis.ground.time import parse_duration

    toks = tokenize(expr)
    out = []
    for i, t in enumerate(toks):
        if t.kind == "duration" and i and toks[i - 1].text == "[":
            out.append(parse_duration(t.text))
    return out


def review_panel(source: Any, data: PanelData, *, window: Any) -> list[Finding]:
    """Every finding for one fetched panel (server probes run through :mod:`.fetch`)."""
    plan = data.plan
    panel = plan.panel
    findings: list[Finding] = []
    if plan.error:
        findings.append(Finding("planning", "error", plan.error))
    for err in data.errors:
        findings.append(Finding("query_error", "error", err))
    calc, _note = calc_of(panel.options, panel.legacy)
    by_ref: dict[str, list[Series]] = {}
    for s in data.series:
        by_ref.setdefault(s.ref_id, []).append(s)
    for q in plan.queries:
        if q.ref_id in data.frames:
            findings.extend(_replicated(source, q, by_ref.get(q.ref_id, []), calc, window))
    for q in data.empty_queries:
        findings.append(_no_series(source, q, window))
    for q in plan.queries:
        k = None if q.instant else _top_k(q.expr)
        n = len(by_ref.get(q.ref_id, []))
        if k is not None and n > k:
            findings.append(Finding(
                "topk_over_range", "info",
                f"query {q.ref_id}: topk or bottomk with k = {k} is evaluated at every step of "
                f"a range query, so {n} different series appear over the window, not {k}; the "
                "table and legend rank them by their value", q.ref_id))
        if not q.instant:
            short = [d for d in _range_durations(q.expr) if d < q.step]
            if short:
                findings.append(Finding(
                    "range_shorter_than_step", "warning",
                    f"query {q.ref_id}: the range [{_fmt_td(short[0])}] is shorter than the "
                    f"step ({_fmt_td(q.step)}), so samples between steps are never looked "
                    "at; use [$__rate_interval]", q.ref_id))
    if panel.type == "heatmap" and any("le" in s.labels for s in data.series):
        fmt = {q.format for q in plan.queries}
        if "heatmap" not in fmt and panel.legacy.get("dataFormat") != "tsbuckets":
            findings.append(Finding(
                "heatmap_not_buckets", "warning",
                "the query returns histogram buckets (le series) in the time_series format: "
                "Grafana's heatmap would bucket those rates as plain values. The report "
                "draws the buckets; in Grafana set the query's Format to Heatmap"))
    names = Counter(s.name for s in data.series)
    dupes = [(n, c) for n, c in names.items() if c > 1]
    if dupes:
        name, count = max(dupes, key=lambda d: d[1])
        differ = _differing_labels([s for s in data.series if s.name == name])
        findings.append(Finding(
            "duplicate_names", "warning",
            f"{sum(c for _n, c in dupes)} series share {len(dupes)} legend name(s) — e.g. "
            f"{count} named {name!r}" + (f", which differ only in {', '.join(differ)}"
                                          if differ else "") + "; add the label to the legend "
            "or aggregate it away"))
    return findings


def _differing_labels(series: Iterable[Series]) -> list[str]:
    items = list(series)
    keys = sorted({k for s in items for k in s.labels})
    return [k for k in keys if len({s.labels.get(k) for s in items}) > 1]


def _fmt_td(td: pd.Timedelta) -> str:
    from tributary_analysis.ground.format import human_duration

    return human_duration(td)


def _replicated(source: Any, q: PlannedQuery, series: list[Series], calc: str,
                window: Any) -> list[Finding]:
    out = []
    for found in find_sums_of_selectors(q.expr):
        if any(label in found.grouping for label in REPLICA_LABELS):
            continue  # grouped by (or explicitly without) the replica: nothing doubled
        replica = list(REPLICA_LABELS)
        try:
            probe = _probe(source, found, replica, window)
        except (SourceError, TributaryError):
            continue
        if probe is None:
            continue
        factor, labels = probe
        fixed = (q.expr[:found.sel_start] + fetch_mod.max_across(found.selector, labels)
                 + q.expr[found.sel_end:])
        correction = _run_correction(source, q, fixed, calc)
        shown = [reduce_values(s.values, calc) for s in series]
        shown_total = sum(v for v in shown if math.isfinite(v)) if shown else None
        msg = (f"query {q.ref_id}: {found.metric} is a gauge that every replica reports "
               f"identically ({factor:g} copies of each series, one per "
               f"{'/'.join(labels)}), so sum() adds the copies and the panel shows "
               f"{factor:g}× the true value. Corrected (max across replicas, then sum): "
               f"{fixed}")
        out.append(Finding("replicated_gauge_sum", "error", msg, q.ref_id, correction,
                           {"factor": factor, "metric": found.metric,
                            "shown_total": shown_total, "labels": labels}))
    return out


def _probe(source: Any, found: SumOfSelector, replica: list[str], window: Any
           ) -> tuple[float, list[str]] | None:
    """``(copies per label set, replica labels)`` when the gauge is replicated, else None."""
    if fetch_mod.metric_type(source, found.metric) in _NOT_SUMMABLE:
        return None
    present = set(fetch_mod.label_names_of(source, found.selector, window.start, window.end))
    labels = [label for label in replica if label in present]
    if not labels:
        return None
    factors = []
    mid = window.start + (window.end - window.start) / 2
    for at in (window.end - pd.Timedelta(seconds=1), mid):
        probe = fetch_mod.replica_probe(source, found.selector, labels, at)
        if not probe.total or not probe.groups or probe.total <= probe.groups \
                or probe.differing or not probe.nonzero:
            return None
        factors.append(probe.total / probe.groups)
    return round(min(factors), 2), labels


def _run_correction(source: Any, q: PlannedQuery, expr: str, calc: str) -> Correction:
    fixed_q = PlannedQuery(q.ref_id, expr, q.template, q.legend, q.instant, q.step, q.start,
                           q.end, q.format)
    try:
        df = fetch_mod.run_query(source, fixed_q)
    except SourceError:
        return Correction(expr)
    series = fetch_mod.frame_series(df, fixed_q)
    values = tuple((s.name, reduce_values(s.values, calc)) for s in series)
    finite = [v for _n, v in values if math.isfinite(v)]
    return Correction(expr, values, sum(finite) if finite else None, tuple(series))


def _no_series(source: Any, q: PlannedQuery, window: Any) -> Finding:
    try:
        names = metric_names(q.expr)
    except TributaryError:
        names = []
    missing: list[str] = []
    if names:
        try:
            present = fetch_mod.metrics_present(source, names, window.start, window.end)
            missing = [n for n, ok in present.items() if not ok]
        except TributaryError:
            missing = []
    if missing:
        why = (f"metric(s) {', '.join(missing)} have no series in the window (not exported, "
               "renamed, or not scraped)")
    elif names:
        why = ("its metrics exist, but the label filters or the operations between them "
               "select nothing (e.g. a division whose sides share no label set)")
    else:
        why = "it selects no metric"
    return Finding("no_series", "warning",
                   f"query {q.ref_id} matches no series in the window: {why}", q.ref_id,
                   details={"missing": missing})
