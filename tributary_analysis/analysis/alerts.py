"""Alert backtest: replay Prometheus's rule manager over an expression's history.

Pure functions, no I/O: the input is what ``query_range`` returned for an alert's ``expr``
(a long metric frame) plus the evaluation grid. The state machine copies
``rules.AlertingRule.Eval`` of Prometheus 2.42 exactly:

* every series the expression returns at an evaluation (whatever its value, NaN included)
  is *active*; a new one starts ``pending`` with ``ActiveAt`` = that evaluation;
* at the same evaluation, ``pending`` becomes ``firing`` once ``t - ActiveAt >= for``
  (so ``for: 0`` fires at once);
* an evaluation without the series resets ``pending`` to inactive; a ``firing`` series is
  resolved there, unless ``keep_firing_for`` is set: then it keeps firing while
  ``t - KeepFiringSince < keep_firing_for``, where ``KeepFiringSince`` is the first
  evaluation without it (a result in between resets that clock);
* the alert's identity is the result's label set without ``__name__``, with the rule's
  labels added (rule labels win) and ``alertname``.

Because it works run-by-run (stretches of consecutive evaluations with a result), a week
at 15 s (40,320 evaluations) costs little. ``tests/test_rules_promtool.py`` checks these
semantics against ``promtool test rules``.

Scoring against incidents: a firing interval is a true positive when it overlaps an
incident window ``[start, end + grace]``; precision counts firing intervals, recall counts
incidents, time to detect is the first firing start after the incident start minus the
start (0 when the alert was already firing).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tributary_analysis.errors import DataError
from tributary_analysis.ground.time import format_duration, iso, parse_duration, parse_time
from tributary_analysis.promql.rules import Rule

#: columns of a metric frame that are not labels
_NON_LABELS = {"timestamp", "value", "__name__"}


@dataclass(frozen=True)
class AlertBacktest:
    """The replayed history of one alerting rule (or one threshold variant of it).

    Attributes
    ----------
    rule : str
        Alert name (or variant name).
    intervals : DataFrame
        One row per firing interval: ``series`` (label-set key), ``pending_at``, ``start``
        (first firing evaluation), ``end`` (the evaluation that resolved it, or the end of
        the window when still firing), ``ongoing``, ``duration``, then the label columns.
    transitions : DataFrame
        Every state change: ``series``, ``timestamp``, ``from``, ``to``
        (``inactive``/``pending``/``firing``).
    start, end : Timestamp
        The evaluated window ``[start, end)``.
    step : Timedelta
        Evaluation interval used.
    notes : list of str
        Everything the reader should know (grid mismatches, coarse step, warm-up).
    """

    rule: str
    intervals: pd.DataFrame
    transitions: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    step: pd.Timedelta
    notes: list[str] = field(default_factory=list)

    def firing_at(self, t: pd.Timestamp | str) -> pd.DataFrame:
        """Firing intervals that cover evaluation time ``t``."""
        ts = _utc(t)
        iv = self.intervals
        return iv[(iv["start"] <= ts) & (iv["end"] > ts)]


def evaluation_times(start: pd.Timestamp | str, end: pd.Timestamp | str,
                     step: pd.Timedelta | str) -> pd.DatetimeIndex:
    """The grid ``query_range`` evaluates on: ``start, start+step, ...`` up to ``end``
    inclusive (as Prometheus does)."""
    s, e, st = _utc(start), _utc(end), parse_duration(step, name="step")
    if e < s:
        raise DataError(f"window end {iso(e)} is before start {iso(s)}; swap them")
    n = int((e - s) // st) + 1
    return pd.DatetimeIndex(s + st * np.arange(n), tz="UTC")


def series_keys(frame: pd.DataFrame, extra: Mapping[str, str] | None = None) -> pd.Series:
    """A stable text key per row: ``{a="1", b="2"}`` over the label columns plus ``extra``."""
    extra = dict(extra or {})
    labels = sorted({c for c in frame.columns if c not in _NON_LABELS} | set(extra))
    parts: list[pd.Series] = []
    for c in labels:
        if c in extra:
            parts.append(pd.Series(f'{c}="{_escape(extra[c])}"', index=frame.index))
            continue
        col = frame[c].astype("object")
        text = col.map(lambda v, c=c: "" if v is None or v == "" or (
            isinstance(v, float) and np.isnan(v)) else f'{c}="{_escape(str(v))}"')
        parts.append(text)
    if not parts:
        return pd.Series("{}", index=frame.index)
    joined = parts[0]
    for p in parts[1:]:
        joined = joined.str.cat(p, sep=", ")
    return "{" + joined.str.replace(r"(, )+", ", ", regex=True).str.strip(", ") + "}"


def replay_alert(results: pd.DataFrame, eval_times: pd.DatetimeIndex, *,
                 for_: pd.Timedelta | str = "0s",
                 keep_firing_for: pd.Timedelta | str = "0s",
                 name: str = "alert", rule_labels: Mapping[str, str] | None = None,
                 window_start: pd.Timestamp | None = None) -> AlertBacktest:
    """Replay the rule manager over an expression's evaluated history.

    Parameters
    ----------
    results : DataFrame
        Long metric frame of the alert expression (``timestamp``, ``value``, label columns),
        as ``query_range`` returns it on the grid ``eval_times``. A row means "the
        expression returned this series at this evaluation".
    eval_times : DatetimeIndex
        Every evaluation time, including those where nothing was returned.
    for_, keep_firing_for : Timedelta or str
        The rule's hold and keep-firing durations.
    name : str
        Alert name, added as ``alertname``.
    rule_labels : mapping, optional
        The rule's ``labels`` (they override result labels of the same name).
    window_start : Timestamp, optional
        Report only from here on; evaluations before it are a warm-up so that alerts
        pending before the window are not delayed. Intervals are clipped to it.

    Returns
    -------
    AlertBacktest

    Examples
    --------
    >>> t = evaluation_times("2024-01-01", "2024-01-01 00:10", "1m")
    >>> r = pd.DataFrame({"timestamp": t[2:8], "value": 1.0, "instance": "a"})
    >>> bt = replay_alert(r, t, for_="2m", name="X")
    >>> bt.intervals[["start", "end"]].astype(str).values.tolist()
    [['2024-01-01 00:04:00+00:00', '2024-01-01 00:08:00+00:00']]
    """
    hold = parse_duration(for_, name="for", allow_zero=True)
    kff = parse_duration(keep_firing_for, name="keep_firing_for", allow_zero=True)
    times = pd.DatetimeIndex(eval_times)
    if times.tz is None:
        raise DataError("eval_times must be timezone-aware UTC timestamps")
    if len(times) == 0:
        raise DataError("eval_times is empty: give at least one evaluation time")
    notes: list[str] = []
    labels = {k: v for k, v in (rule_labels or {}).items() if "{{" not in k}
    if any("{{" in v for v in labels.values()):
        notes.append("rule labels with templates are kept as written (not expanded)")
    frame = results.reset_index(drop=True)
    if "timestamp" not in frame.columns:
        raise DataError(f"results for {name!r} need a 'timestamp' column (a metric frame)")
    keyed = frame.drop(columns=[c for c in frame.columns if c in labels], errors="ignore")
    keys = series_keys(keyed, {**labels, "alertname": name})
    tvals = times.asi8
    ts = pd.DatetimeIndex(frame["timestamp"]).tz_convert("UTC").as_unit(times.unit).asi8 \
        if len(frame) else np.array([], dtype="int64")
    idx = np.searchsorted(tvals, ts)
    ok = (idx < len(tvals)) & (tvals[np.minimum(idx, len(tvals) - 1)] == ts)
    if (~ok).sum():
        notes.append(f"{int((~ok).sum())} result rows are not on the evaluation grid and were "
                     "not used; query with the same start and step")
    label_cols = [c for c in keyed.columns if c not in _NON_LABELS]
    rows: list[dict[str, object]] = []
    trans: list[tuple[str, pd.Timestamp, str, str]] = []
    firsts: dict[str, dict[str, object]] = {}
    grouped = pd.DataFrame({"key": keys[ok].to_numpy(), "i": idx[ok]})
    if len(grouped):
        dup = grouped.duplicated(["key", "i"]).sum()
        if dup:
            notes.append(f"{int(dup)} evaluations returned the same label set twice after "
                         "adding rule labels (Prometheus rejects these evaluations)")
        okkeys = keys[ok]
        first_pos = okkeys[~okkeys.duplicated()]
        for key, lab in zip(first_pos, keyed.loc[first_pos.index, label_cols]
                            .to_dict("records"), strict=True):
            firsts[str(key)] = lab
        for key, g in grouped.groupby("key", sort=True):
            present = np.unique(g["i"].to_numpy())
            _replay_series(str(key), present, times, hold, kff, rows, trans)
    start = times[0] if window_start is None else _utc(window_start)
    end = times[-1] + (times[1] - times[0] if len(times) > 1 else pd.Timedelta(0))
    iv = pd.DataFrame(rows, columns=["series", "pending_at", "start", "end", "ongoing"])
    for c in ("pending_at", "start", "end"):
        iv[c] = pd.to_datetime(iv[c], utc=True)
    iv.loc[iv["ongoing"].astype(bool), "end"] = end
    if window_start is not None:
        iv = iv[iv["end"] > start].copy()
        iv["start"] = iv["start"].where(iv["start"] >= start, start)
    iv["duration"] = iv["end"] - iv["start"]
    iv["alertname"] = name
    for c in label_cols:
        iv[c] = pd.Series([firsts[k].get(c) for k in iv["series"]], index=iv.index,
                          dtype=object)
    for k, v in labels.items():
        iv[k] = v
    tr = pd.DataFrame(trans, columns=["series", "timestamp", "from", "to"])
    tr["timestamp"] = pd.to_datetime(tr["timestamp"], utc=True)
    tr = tr[tr["timestamp"] >= start].sort_values(["timestamp", "series"], ignore_index=True)
    iv = iv.sort_values(["start", "series"], ignore_index=True)
    return AlertBacktest(rule=name, intervals=iv, transitions=tr, start=start, end=end,
                         step=(times[1] - times[0]) if len(times) > 1 else pd.Timedelta(0),
                         notes=notes)


def _replay_series(key: str, present: np.ndarray, times: pd.DatetimeIndex, hold: pd.Timedelta,
                   kff: pd.Timedelta, rows: list[dict[str, object]],
                   trans: list[tuple[str, pd.Timestamp, str, str]]) -> None:
    """Run the state machine for one series given the indices where it was returned."""
    n = len(times)
    # runs of consecutive evaluation indices
    breaks = np.flatnonzero(np.diff(present) != 1)
    run_starts = np.concatenate([[present[0]], present[breaks + 1]])
    run_ends = np.concatenate([present[breaks], [present[-1]]])
    state = "inactive"
    active_at: pd.Timestamp | None = None
    fired_at: pd.Timestamp | None = None
    for r, (s, e) in enumerate(zip(run_starts, run_ends, strict=True)):
        if state == "inactive":
            state, active_at = "pending", times[s]
            trans.append((key, times[s], "inactive", "pending"))
        if state == "pending":
            assert active_at is not None
            f = int(times.searchsorted(active_at + hold, side="left"))
            f = max(f, int(s))
            if f <= e:
                state, fired_at = "firing", times[f]
                trans.append((key, times[f], "pending", "firing"))
        if e + 1 >= n:
            break  # the window ends while active
        next_start = int(run_starts[r + 1]) if r + 1 < len(run_starts) else n
        if state == "pending":
            state = "inactive"
            trans.append((key, times[e + 1], "pending", "inactive"))
            continue
        # firing: keep firing from the first missing evaluation for keep_firing_for
        kfs = times[e + 1]
        j = int(times.searchsorted(kfs + kff, side="left")) if kff > pd.Timedelta(0) \
            else e + 1
        if j < next_start and j < n:
            rows.append({"series": key, "pending_at": active_at, "start": fired_at,
                         "end": times[j], "ongoing": False})
            trans.append((key, times[j], "firing", "inactive"))
            state, active_at, fired_at = "inactive", None, None
        elif next_start >= n:
            break  # kept firing up to the end of the window
        # else: the series came back while kept firing; the alert continues
    if state == "firing":
        rows.append({"series": key, "pending_at": active_at, "start": fired_at,
                     "end": pd.NaT, "ongoing": True})


def firing_matrix(backtest: AlertBacktest, eval_times: Iterable[pd.Timestamp]) -> dict[
        pd.Timestamp, list[str]]:
    """Firing series keys at each given evaluation time (what ``promtool`` compares)."""
    out: dict[pd.Timestamp, list[str]] = {}
    for t in eval_times:
        out[_utc(t)] = sorted(backtest.firing_at(t)["series"].tolist())
    return out


def summarize(backtests: Iterable[AlertBacktest]) -> pd.DataFrame:
    """Per rule: times fired, time firing, series that fired, state changes per day.

    ``flapping_per_day`` counts every state change (inactive→pending→firing→inactive) per
    day of window, summed over series; ``max_series_flaps_per_day`` is the worst series.
    """
    rows = []
    for bt in backtests:
        days = max((bt.end - bt.start) / pd.Timedelta(days=1), 1e-9)
        per_series = bt.transitions.groupby("series").size() if len(bt.transitions) else \
            pd.Series(dtype=float)
        rows.append({
            "rule": bt.rule,
            "times_fired": len(bt.intervals),
            "time_firing": bt.intervals["duration"].sum() if len(bt.intervals)
            else pd.Timedelta(0),
            "series_fired": bt.intervals["series"].nunique(),
            "ongoing": int(bt.intervals["ongoing"].sum()) if len(bt.intervals) else 0,
            "state_changes": len(bt.transitions),
            "flapping_per_day": len(bt.transitions) / days,
            "max_series_flaps_per_day": float(per_series.max() / days) if len(per_series)
            else 0.0,
            "window_days": days,
            "notes": "; ".join(bt.notes),
        })
    return pd.DataFrame(rows)


def incidents_frame(incidents: Iterable[Mapping[str, object]] | pd.DataFrame) -> pd.DataFrame:
    """Normalize an incident list to ``name, start, end, alerts``.

    Each incident needs ``start`` and ``end`` (UTC); ``name`` is optional; ``alerts``
    (a list of alert names the incident should trigger) makes it relevant only to those
    rules, otherwise it is relevant to every rule.
    """
    df = pd.DataFrame(list(incidents)) if not isinstance(incidents, pd.DataFrame) \
        else incidents.copy()
    if df.empty:
        return pd.DataFrame({"name": pd.Series(dtype=object),
                             "start": pd.Series(dtype="datetime64[ns, UTC]"),
                             "end": pd.Series(dtype="datetime64[ns, UTC]"),
                             "alerts": pd.Series(dtype=object)})
    missing = {"start", "end"} - set(df.columns)
    if missing:
        raise DataError(f"incidents need 'start' and 'end'; missing {sorted(missing)} "
                        f"(columns: {list(df.columns)})")
    try:
        df["start"] = pd.to_datetime(df["start"], utc=True)
        df["end"] = pd.to_datetime(df["end"], utc=True)
    except (ValueError, TypeError) as exc:
        raise DataError(f"incident start/end must be timestamps: {exc}") from exc
    bad = df["end"] < df["start"]
    if bad.any():
        raise DataError(f"{int(bad.sum())} incident(s) end before they start: "
                        f"{df.loc[bad, 'start'].tolist()}")
    if "name" not in df.columns:
        df["name"] = [f"incident {i + 1}" for i in range(len(df))]
    if "alerts" not in df.columns:
        df["alerts"] = None
    df["alerts"] = pd.Series([_alert_list(a) for a in df["alerts"]], index=df.index,
                             dtype=object)
    return df[["name", "start", "end", "alerts"]].reset_index(drop=True)


def score(backtest: AlertBacktest, incidents: pd.DataFrame, *,
          grace: pd.Timedelta | str = "15m", alertname: str | None = None) -> dict[str, object]:
    """Precision, recall and time to detect of one backtest against incidents.

    Parameters
    ----------
    backtest : AlertBacktest
    incidents : DataFrame
        From :func:`incidents_frame`.
    grace : Timedelta or str
        A firing that starts up to ``grace`` after an incident ends still counts for it
        (``for:`` and ``[5m]`` windows delay both start and end).
    alertname : str, optional
        The name used to select relevant incidents (defaults to the backtest's rule; pass
        the base rule's name for threshold variants).
    """
    g = parse_duration(grace, name="grace", allow_zero=True)
    name = alertname or backtest.rule
    inc = incidents_frame(incidents)
    rel = inc[[a is None or name in a for a in inc["alerts"]]]
    rel = rel[(rel["end"] >= backtest.start) & (rel["start"] <= backtest.end)]
    iv = backtest.intervals
    tp = 0
    for _, row in iv.iterrows():
        if ((rel["start"] <= row["end"]) & (rel["end"] + g >= row["start"])).any():
            tp += 1
    detected, ttd = 0, []
    for _, inc_row in rel.iterrows():
        hit = iv[(iv["start"] <= inc_row["end"] + g) & (iv["end"] >= inc_row["start"])]
        if len(hit):
            detected += 1
            ttd.append(max(hit["start"].min() - inc_row["start"], pd.Timedelta(0)))
    return {
        "rule": backtest.rule,
        "incidents": len(rel),
        "detected": detected,
        "firings": len(iv),
        "true_positive_firings": tp,
        "precision": tp / len(iv) if len(iv) else float("nan"),
        "recall": detected / len(rel) if len(rel) else float("nan"),
        "median_time_to_detect": pd.Series(ttd).median() if ttd else pd.NaT,
        "max_time_to_detect": max(ttd) if ttd else pd.NaT,
    }


def incident_detection(backtests: Mapping[str, AlertBacktest], incidents: pd.DataFrame, *,
                       start: pd.Timestamp, end: pd.Timestamp,
                       grace: pd.Timedelta | str = "15m") -> pd.DataFrame:
    """Per incident in ``[start, end]``: the rules meant for it, which of them fired
    during it (up to ``grace`` after its end) and how soon.

    Returns
    -------
    DataFrame
        ``name``, ``start``, ``end``, ``meant_for`` (rules), ``detected_by`` (rules that
        fired), ``time_to_detect`` (first firing − incident start; NaT when missed).
    """
    g = parse_duration(grace, name="grace", allow_zero=True)
    inc = incidents_frame(incidents)
    inc = inc[(inc["end"] >= _utc(start)) & (inc["start"] <= _utc(end))]
    rows = []
    for r in inc.to_dict("records"):
        meant = list(r["alerts"]) if r["alerts"] is not None else list(backtests)
        hits: dict[str, pd.Timestamp] = {}
        for name in meant:
            bt = backtests.get(name)
            if bt is None or bt.intervals.empty:
                continue
            iv = bt.intervals
            hit = iv[(iv["start"] <= r["end"] + g) & (iv["end"] >= r["start"])]
            if len(hit):
                hits[name] = hit["start"].min()
        first = min(hits.values()) if hits else None
        rows.append({"name": r["name"], "start": r["start"], "end": r["end"],
                     "meant_for": meant, "detected_by": sorted(hits),
                     "time_to_detect": max(first - r["start"], pd.Timedelta(0))
                     if first is not None else pd.NaT})
    cols = ["name", "start", "end", "meant_for", "detected_by", "time_to_detect"]
    return pd.DataFrame(rows, columns=cols)


def review(backtests: Iterable[AlertBacktest], incidents: pd.DataFrame | None = None, *,
           grace: pd.Timedelta | str = "15m",
           base_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per rule (or variant): :func:`summarize` plus :func:`score` when incidents
    are given. ``base_names`` maps variant names to the alert name incidents refer to."""
    bts = list(backtests)
    out = summarize(bts)
    if incidents is not None and len(bts):
        scores = pd.DataFrame([score(bt, incidents, grace=grace,
                                     alertname=(base_names or {}).get(bt.rule))
                               for bt in bts])
        out = out.merge(scores.drop(columns=["firings"]), on="rule", how="left")
    return out


def compare_variants(backtests: Mapping[str, AlertBacktest], incidents: pd.DataFrame | None,
                     *, base: str, grace: pd.Timedelta | str = "15m") -> pd.DataFrame:
    """Side-by-side review of threshold variants of one rule (rows: variant name)."""
    names = {k: base for k in backtests}
    table = review(list(backtests.values()), incidents, grace=grace, base_names=names)
    table.insert(1, "variant_of", base)
    return table


def missing_metrics(rule: Rule, present: Mapping[str, bool]) -> list[str]:
    """The metric names ``rule.expr`` references that ``present`` says do not exist."""
    from tributary_analysis.promql.rules import metric_names

    return [m for m in metric_names(rule.expr) if not present.get(m, False)]


def _alert_list(a: object) -> list[str] | None:
    if a is None or (isinstance(a, float) and np.isnan(a)):
        return None
    if isinstance(a, str):
        return [a]
    if isinstance(a, Iterable):
        return [str(x) for x in a]
    raise DataError(f"incident 'alerts' must be a list of alert names, got {a!r}")


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _utc(t: pd.Timestamp | str) -> pd.Timestamp:
    return parse_time(t)


# ------------------------------------------------------- the replay against Prometheus's ALERTS

#: which source wins when the replay and the server disagree, as the page says it
AUTHORITY = ("Prometheus's own ALERTS series are authoritative: they are what its rule manager "
             "evaluated and sent to Alertmanager. The replay reconstructs them from the data; it "
             "is the only source before the server evaluated the rules and for threshold "
             "variants, and a difference means the replay (or the data it read) is off.")

#: outcome of one interval in :func:`compare_with_server`
SAME, DIFFERENT = "same", "different times"
ONLY_REPLAY, ONLY_SERVER = "only in the replay", "only in Prometheus"

_TEMPLATE = "{{"


@dataclass(frozen=True)
class ServerComparison:
    """The replay's firing intervals against Prometheus's own ``ALERTS``, rule by rule.

    Attributes
    ----------
    rules : DataFrame
        One row per rule: ``rule``, ``replay`` and ``prometheus`` (firing intervals in the
        compared period), ``same``, ``different``, ``only_replay``, ``only_prometheus``,
        ``agrees`` (every interval the same within ``tolerance``).
    intervals : DataFrame
        One row per interval or matched pair: ``rule``, ``series``, ``outcome``,
        ``replay_start``, ``replay_end``, ``server_start``, ``server_end``.
    start, end : Timestamp
        The compared period ``[start, end)``: from the server's first ``ALERTS`` sample
        (or the given ``evaluated_from``) to the end of the window.
    tolerance : Timedelta
        How far the two may differ at either end and still be the same interval.
    notes : list of str
    """

    rules: pd.DataFrame
    intervals: pd.DataFrame
    start: pd.Timestamp
    end: pd.Timestamp
    tolerance: pd.Timedelta
    notes: list[str] = field(default_factory=list)

    @property
    def agrees(self) -> bool:
        """Every rule's intervals are the same on both sides."""
        return bool(len(self.rules)) and bool(self.rules["agrees"].all())


def server_intervals(alerts: pd.DataFrame, eval_times: pd.DatetimeIndex) -> pd.DataFrame:
    """Firing intervals from ``ALERTS{alertstate="firing"}`` evaluated on ``eval_times``.

    A run of consecutive grid points where a label set is present is one interval
    ``[first, last + step)`` (the window's end when it reaches the last point).

    Returns
    -------
    DataFrame
        ``rule``, ``series`` (the key :func:`series_keys` gives the replay), ``start``,
        ``end``, ``ongoing``.
    """
    cols = ["rule", "series", "start", "end", "ongoing"]
    times = pd.DatetimeIndex(eval_times)
    if alerts.empty or "alertname" not in alerts.columns or len(times) == 0:
        return pd.DataFrame({c: pd.Series(dtype="datetime64[ns, UTC]" if c in ("start", "end")
                                          else object) for c in cols})
    frame = alerts.drop(columns=["alertstate", "metric"], errors="ignore").reset_index(drop=True)
    step = times[1] - times[0] if len(times) > 1 else pd.Timedelta(0)
    keys = series_keys(frame)
    ts = pd.DatetimeIndex(frame["timestamp"]).tz_convert("UTC").as_unit(times.unit).asi8
    idx = np.searchsorted(times.asi8, ts)
    rows: list[dict[str, object]] = []
    for (key, rule), g in pd.DataFrame({"key": keys, "rule": frame["alertname"].astype(str),
                                        "i": idx}).groupby(["key", "rule"], sort=True):
        present = np.unique(g["i"].to_numpy())
        breaks = np.flatnonzero(np.diff(present) != 1)
        for s, e in zip(np.concatenate([[present[0]], present[breaks + 1]]),
                        np.concatenate([present[breaks], [present[-1]]]), strict=True):
            rows.append({"rule": rule, "series": key, "start": times[min(s, len(times) - 1)],
                         "end": times[min(e, len(times) - 1)] + step,
                         "ongoing": bool(e >= len(times) - 1)})
    out = pd.DataFrame(rows, columns=cols)
    for c in ("start", "end"):
        out[c] = pd.to_datetime(out[c], utc=True)
    return out.sort_values(["rule", "start", "series"], ignore_index=True)


def compare_with_server(backtests: Mapping[str, AlertBacktest], server: pd.DataFrame, *,
                        tolerance: pd.Timedelta | str, end: pd.Timestamp | str,
                        evaluated_from: pd.Timestamp | str | None = None,
                        holds: Mapping[str, pd.Timedelta] | None = None,
                        rule_labels: Mapping[str, Mapping[str, str]] | None = None,
                        ) -> ServerComparison:
    """Each rule's replayed firing intervals against the server's (:func:`server_intervals`).

    Two intervals of one series are *the same* when both ends differ by at most
    ``tolerance`` (one evaluation interval: the server evaluates at its own offset inside
    the interval, the query grid at another). Overlapping intervals whose ends differ more
    are *different times*; the rest are only in one of them.

    Parameters
    ----------
    backtests : mapping
        Rule name → :func:`replay_alert` result.
    server : DataFrame
        :func:`server_intervals` of ``ALERTS{alertstate="firing"}``.
    tolerance : Timedelta or str
        Largest difference at either end of a matching interval.
    end : Timestamp
        End of the reviewed window.
    evaluated_from : Timestamp, optional
        Since when the server evaluated the rules. Default: the first ``ALERTS`` sample the
        caller found, else the first server interval. Replay intervals that end before it
        are not compared; one that started earlier is compared from ``evaluated_from +
        for`` (the server went pending at its first evaluation).
    holds : mapping, optional
        Rule name → ``for:``.
    rule_labels : mapping, optional
        Rule name → its labels; labels with templates (``{{ $value }}``) are expanded by
        the server and kept as written by the replay, so they are left out of the match.

    Returns
    -------
    ServerComparison
    """
    tol = parse_duration(tolerance, name="tolerance", allow_zero=True)
    t_end = _utc(end)
    notes: list[str] = []
    if evaluated_from is not None:
        t0 = _utc(evaluated_from)
    elif len(server):
        t0 = pd.Timestamp(server["start"].min())
    else:
        t0 = t_end
    srv = server[server["end"] > t0] if len(server) else server
    rows: list[dict[str, object]] = []
    per_rule: list[dict[str, object]] = []
    for name in sorted(set(backtests) | set(srv["rule"].astype(str) if len(srv) else ())):
        bt = backtests.get(name)
        templated = sorted(k for k, v in (rule_labels or {}).get(name, {}).items()
                           if _TEMPLATE in v)
        if templated:
            notes.append(f"{name}: labels {', '.join(templated)} have templates and are not "
                         "compared")
        hold = (holds or {}).get(name, pd.Timedelta(0))
        rep = _replay_for_comparison(bt, t0, hold) if bt is not None else pd.DataFrame(
            columns=["series", "start", "end"])
        mine = srv[srv["rule"] == name] if len(srv) else srv
        pairs = _match(_rekey(rep, templated), _rekey(mine, templated), tol)
        kept = [p for p in pairs if not _late(p, t_end - tol)]
        if len(kept) < len(pairs):  # the server writes an evaluation up to an interval late
            notes.append(f"{name}: {len(pairs) - len(kept)} interval(s) starting within "
                         f"{format_duration(tol)} of the window's end ({iso(t_end)}) are not "
                         "compared: the server may not have written that evaluation yet")
            pairs = kept
        counts = {SAME: 0, DIFFERENT: 0, ONLY_REPLAY: 0, ONLY_SERVER: 0}
        for p in pairs:
            counts[str(p["outcome"])] += 1
            rows.append({"rule": name, **p})
        per_rule.append({"rule": name, "replay": len(rep), "prometheus": len(mine),
                         "same": counts[SAME], "different": counts[DIFFERENT],
                         "only_replay": counts[ONLY_REPLAY],
                         "only_prometheus": counts[ONLY_SERVER],
                         "agrees": counts[SAME] == len(pairs),
                         "evaluated": bt is not None})
        if bt is None:
            notes.append(f"{name}: fired on the server but is not in the replayed rules")
    cols = ["rule", "series", "outcome", "replay_start", "replay_end", "server_start",
            "server_end"]
    iv = pd.DataFrame(rows, columns=cols)
    for c in cols[3:]:
        iv[c] = pd.to_datetime(iv[c], utc=True)
    return ServerComparison(rules=pd.DataFrame(per_rule, columns=[
        "rule", "replay", "prometheus", "same", "different", "only_replay", "only_prometheus",
        "agrees", "evaluated"]), intervals=iv, start=t0, end=t_end, tolerance=tol, notes=notes)


def _late(pair: Mapping[str, object], after: pd.Timestamp) -> bool:
    """True for an interval only one side has that begins at or after ``after``."""
    key = {ONLY_REPLAY: "replay_start", ONLY_SERVER: "server_start"}.get(str(pair["outcome"]))
    return key is not None and pd.Timestamp(pair[key]) >= after  # type: ignore[arg-type]


def _replay_for_comparison(bt: AlertBacktest, t0: pd.Timestamp, hold: pd.Timedelta
                           ) -> pd.DataFrame:
    """The replay's intervals as a server evaluating from ``t0`` would have seen them."""
    iv = bt.intervals[bt.intervals["end"] > t0 + hold][["series", "start", "end"]].copy()
    iv["start"] = iv["start"].where(iv["start"] >= t0 + hold, t0 + hold)
    return iv.reset_index(drop=True)


def _rekey(frame: pd.DataFrame, drop: list[str]) -> pd.DataFrame:
    """Remove the ``drop`` labels from the ``series`` keys (templated rule labels)."""
    if not drop or frame.empty:
        return frame
    out = frame.copy()
    for label in drop:
        out["series"] = out["series"].str.replace(
            rf'(, )?{label}="(?:[^"\\]|\\.)*"', "", regex=True).str.replace("{, ", "{",
                                                                           regex=False)
    return out


def _match(replay: pd.DataFrame, server: pd.DataFrame, tol: pd.Timedelta
           ) -> list[dict[str, object]]:
    """Pair the intervals of each series: same, different times, or only on one side."""
    out: list[dict[str, object]] = []
    keys = sorted(set(replay["series"]) | set(server["series"]))
    for key in keys:
        mine = replay[replay["series"] == key].sort_values("start")
        theirs = server[server["series"] == key].sort_values("start")
        used: set[int] = set()
        for r in mine.itertuples():
            cand = [(abs(s.start - r.start) + abs(s.end - r.end), i, s)
                    for i, s in enumerate(theirs.itertuples())
                    if i not in used and s.start <= r.end + tol and s.end + tol >= r.start]
            if not cand:
                out.append({"series": key, "outcome": ONLY_REPLAY, "replay_start": r.start,
                            "replay_end": r.end, "server_start": pd.NaT, "server_end": pd.NaT})
                continue
            _, i, s = min(cand, key=lambda c: (c[0], c[1]))
            used.add(i)
            same = abs(s.start - r.start) <= tol and abs(s.end - r.end) <= tol
            out.append({"series": key, "outcome": SAME if same else DIFFERENT,
                        "replay_start": r.start, "replay_end": r.end,
                        "server_start": s.start, "server_end": s.end})
        for i, s in enumerate(theirs.itertuples()):
            if i not in used:
                out.append({"series": key, "outcome": ONLY_SERVER, "replay_start": pd.NaT,
                            "replay_end": pd.NaT, "server_start": s.start,
                            "server_end": s.end})
    return out
