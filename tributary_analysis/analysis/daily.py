"""The daily operations summary: golden signals against a baseline, top tenants, alerts.

Pure functions (frames in, frames out) for ``notebooks/daily_operations.ipynb``. The
baseline is the same window one week earlier; when the history is shorter the choice falls
back, openly, to the same hours fewer whole days earlier, then to whatever part of the
history exists before the window — rates and ratios are compared, never raw totals, so a
shorter baseline stays comparable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from tributary_analysis.analysis._common import require_columns, utc_timestamps
from tributary_analysis.errors import ConfigError
from tributary_analysis.frames.meta import carry
from tributary_analysis.ground.time import Window

#: relative changes that mark a signal as worse than its baseline (direction-aware)
WORSE_IF = {"error_ratio": 0.5, "p95_s": 0.2, "p99_s": 0.2, "memory_peak": 0.1,
            "connections_peak": 0.2}


@dataclass(frozen=True)
class Baseline:
    """Which window the day is compared with, and why.

    Attributes
    ----------
    window : Window or None
        The baseline window (None: no history before the window at all).
    kind : str
        ``previous_week``, ``days_earlier`` (same hours, fewer days back), ``partial``
        (the part of the history before the window) or ``none``.
    coverage : float
        Share of the baseline window's bins that hold data (0 when there is none).
    note : str
        One sentence for the reader.
    """

    window: Window | None
    kind: str
    coverage: float
    note: str


def baseline_window(window: Window, kind: str = "previous_week") -> Window:
    """The comparison window for ``window``: ``previous_week`` or ``previous`` (adjacent).

    Examples
    --------
    >>> w = Window.of("2026-01-08", "2026-01-09")
    >>> baseline_window(w).label(), baseline_window(w, "previous").label()
    ('2026-01-01 00:00 – 2026-01-02 00:00 UTC', '2026-01-07 00:00 – 2026-01-08 00:00 UTC')
    """
    if kind == "previous_week":
        return window.previous_week()
    if kind == "previous":
        return window.shift(-window.duration)
    raise ConfigError(f"baseline={kind!r} is unknown; use 'previous_week' or 'previous'")


def coverage(window: Window, timestamps: Iterable[pd.Timestamp], step: pd.Timedelta) -> float:
    """Share of ``window``'s ``step`` bins in which ``timestamps`` has at least one point."""
    ts = pd.DatetimeIndex(list(timestamps))
    if ts.tz is None:
        ts = ts.tz_localize("UTC")
    inside = ts[(ts >= window.start) & (ts < window.end)]
    bins = max(round(window.duration / step), 1)
    filled = len(set(((inside - window.start) // step).astype("int64")))
    return min(filled / bins, 1.0)


def choose_baseline(window: Window, history: Iterable[pd.Timestamp], step: pd.Timedelta,
                    *, min_coverage: float = 0.9) -> Baseline:
    """The comparison window for ``window`` given the timestamps that hold data.

    Parameters
    ----------
    window : Window
        The reported window.
    history : iterable of Timestamp
        Timestamps at which the traffic series has data (any coarse step).
    step : Timedelta
        The step of ``history`` (for the coverage count).
    min_coverage : float
        A candidate is accepted when this share of its bins holds data.

    Examples
    --------
    >>> w = Window(pd.Timestamp("2026-01-08", tz="UTC"), pd.Timestamp("2026-01-09", tz="UTC"))
    >>> hist = pd.date_range("2026-01-04", "2026-01-09", freq="1h", tz="UTC", inclusive="left")
    >>> b = choose_baseline(w, hist, pd.Timedelta("1h"))
    >>> b.kind, b.window.start.day
    ('days_earlier', 4)
    """
    hist = list(history)
    prev = window.previous_week()
    c7 = coverage(prev, hist, step)
    if c7 >= min_coverage:
        return Baseline(prev, "previous_week", c7,
                        f"Baseline: the same window 7 days earlier ({prev.label()}).")
    first = min(hist) if hist else None
    shorter = (f"The history starts at {first:%Y-%m-%d %H:%M} UTC" if first is not None
               else "There is no history") + (
        f", so the previous week ({prev.label()}) is only {c7:.0%} covered")
    for days in range(6, 0, -1):
        cand = window.shift(pd.Timedelta(days=-days))
        if cand.end > window.start:
            continue  # overlaps the reported window itself
        c = coverage(cand, hist, step)
        if c >= min_coverage:
            return Baseline(cand, "days_earlier", c,
                            f"{shorter}; baseline: the same hours {days} day(s) earlier "
                            f"({cand.label()}).")
    if first is not None and first < window.start:
        cand = Window(max(first, window.start - window.duration), window.start)
        c = coverage(cand, hist, step)
        return Baseline(cand, "partial", c,
                        f"{shorter}; no full earlier window exists, so the baseline is the "
                        f"{_hours(cand.duration)} of history before the window "
                        f"({cand.label()}); rates and ratios are compared, not totals.")
    return Baseline(None, "none", 0.0, f"{shorter}; there is no history before the window, "
                                       "so there is no baseline.")


def _hours(delta: pd.Timedelta) -> str:
    h = delta / pd.Timedelta(hours=1)
    return f"{h:.0f} h" if h >= 1 else f"{delta / pd.Timedelta(minutes=1):.0f} min"


def signal_values(
    requests: pd.DataFrame,
    latency_q: pd.DataFrame,
    memory: pd.DataFrame | None = None,
    connections: pd.DataFrame | None = None,
    *,
    step: pd.Timedelta,
) -> dict[str, float]:
    """The golden signals of one window as numbers.

    Parameters
    ----------
    requests : DataFrame
        Request counts per bin (``timestamp``, ``status_code``, ``value`` = requests).
    latency_q : DataFrame
        Window quantiles (``quantile``, ``value``) from ``latency.window_quantiles(by=None)``.
    memory, connections : DataFrame, optional
        Memory utilisation (0..1) and active connections per instance (``value``).
    step : Timedelta
        The bin width of ``requests``: the covered time is bins-with-data × step, so a
        partly covered window yields a true rate.

    Returns
    -------
    dict
        ``requests``, ``covered_s``, ``traffic_rps``, ``peak_rps``, ``errors``,
        ``error_ratio``, ``p95_s``, ``p99_s``, ``memory_peak``, ``connections_peak``
        (NaN where there is no data).
    """
    require_columns(requests, ["timestamp", "status_code", "value"], what="requests frame",
                    hint="fetch it with fetch.requests_per_bin(source, window, step, "
                         "by=('endpoint', 'status_code'))")
    value = requests["value"].astype("float64")
    value = value.where(np.isfinite(value), 0.0)
    per_bin = value.groupby(utc_timestamps(requests["timestamp"], what="requests")).sum()
    total = float(per_bin.sum())
    covered = len(per_bin) * step.total_seconds()
    errors = float(value[requests["status_code"].astype(str).str.match(r"^5\d\d$")].sum())
    out = {
        "requests": total,
        "covered_s": float(covered),
        "traffic_rps": total / covered if covered else np.nan,
        "peak_rps": float(per_bin.max() / step.total_seconds()) if len(per_bin) else np.nan,
        "errors": errors,
        "error_ratio": errors / total if total else np.nan,
    }
    for q, key in ((0.95, "p95_s"), (0.99, "p99_s")):
        hit = latency_q[np.isclose(latency_q["quantile"].astype(float), q)] \
            if len(latency_q) else latency_q
        out[key] = float(hit["value"].iloc[0]) if len(hit) else np.nan
    for frame, key in ((memory, "memory_peak"), (connections, "connections_peak")):
        out[key] = float(frame["value"].max()) if frame is not None and len(frame) else np.nan
    return out


def per_second(requests: pd.DataFrame, step: pd.Timedelta, label: str, *,
               shift: pd.Timedelta | None = None) -> pd.DataFrame:
    """Requests per second of a counts frame, summed over its labels, as one named series
    (``timestamp``, ``per_s``, ``series``); ``shift`` moves a baseline onto the window.

    Examples
    --------
    >>> f = pd.DataFrame({"timestamp": pd.to_datetime(["2026-01-01"] * 2, utc=True),
    ...                   "value": [60.0, 60.0]})
    >>> per_second(f, pd.Timedelta("1min"), "now")["per_s"].tolist()
    [2.0]
    """
    s = requests.groupby("timestamp")["value"].sum() / step.total_seconds()
    offset = shift if shift is not None else pd.Timedelta(0)
    return pd.DataFrame({"timestamp": pd.DatetimeIndex(s.index) + offset, "per_s": s.to_numpy(),
                         "series": label})


def signals_table(signals: pd.DataFrame) -> pd.DataFrame:
    """The golden signals as text a person reads, each row in its own unit (``1.19 %``
    against ``0.005 %``, ``238×``; ``310 ms`` against ``250 ms``, ``+24.0 %``)."""
    from tributary_analysis.ground import format as fmt

    units = {"req/s": "req/s", "ratio": "ratio", "s": "s", "conns": "connections"}
    rows = []
    for r in signals.to_dict("records"):
        unit = units.get(str(r["unit"]), str(r["unit"]))
        rows.append({"signal": r["signal"], "measure": r["measure"],
                     "current": fmt.value(r["current"], unit),
                     "baseline": fmt.value(r["baseline"], unit),
                     "change": fmt.change(r["current"], r["baseline"], unit),
                     "assessment": r["assessment"]})
    return pd.DataFrame(rows)


_ROWS = [  # key, signal, label, unit, higher_is_worse
    ("traffic_rps", "traffic", "Requests per second (mean)", "req/s", None),
    ("peak_rps", "traffic", "Requests per second (peak bin)", "req/s", None),
    ("error_ratio", "errors", "5xx ratio", "ratio", True),
    ("p95_s", "latency", "p95 latency", "s", True),
    ("p99_s", "latency", "p99 latency", "s", True),
    ("memory_peak", "saturation", "Peak memory utilisation (worst replica)", "ratio", True),
    ("connections_peak", "saturation", "Peak DB connections (worst replica)", "conns", True),
]


def golden_signals(current: Mapping[str, float],
                   baseline: Mapping[str, float] | None = None) -> pd.DataFrame:
    """The golden signals table: current, baseline, relative change and an assessment.

    ``assessment`` is ``worse`` when a signal where higher is worse rose by more than
    :data:`WORSE_IF` (relative), ``better`` when it fell by as much, ``similar`` otherwise,
    ``info`` for traffic (neither good nor bad) and ``no baseline`` without one.

    Examples
    --------
    >>> cur = {"traffic_rps": 10.0, "error_ratio": 0.02, "p95_s": 0.3}
    >>> t = golden_signals(cur, {"traffic_rps": 8.0, "error_ratio": 0.01, "p95_s": 0.3})
    >>> t.set_index("key").loc["error_ratio", "assessment"]
    'worse'
    """
    rows = []
    for key, signal, label, unit, worse_up in _ROWS:
        cur = float(current.get(key, np.nan))
        base = float(baseline.get(key, np.nan)) if baseline is not None else np.nan
        change = (cur - base) / base if base and np.isfinite(base) and np.isfinite(cur) \
            else np.nan
        if baseline is None or not np.isfinite(base) or not np.isfinite(cur):
            assessment = "no baseline"
        elif worse_up is None:
            assessment = "info"
        elif base == 0:
            assessment = "worse" if cur > 0 else "similar"
        else:
            limit = WORSE_IF.get(key, 0.2)
            assessment = "worse" if change > limit else "better" if change < -limit \
                else "similar"
        rows.append({"signal": signal, "key": key, "measure": label, "unit": unit,
                     "current": cur, "baseline": base, "change": change,
                     "assessment": assessment})
    return pd.DataFrame(rows)


def top_tenants(requests: pd.DataFrame, baseline: pd.DataFrame | None = None, *,
                n: int = 10, exclude: Iterable[str] = ("unknown",)) -> pd.DataFrame:
    """The ``n`` busiest tenants: requests, share, 5xx ratio, and the baseline's rate.

    Parameters
    ----------
    requests : DataFrame
        Request counts per bin with ``tenant_id``, ``status_code``, ``value``.
    baseline : DataFrame, optional
        The same for the baseline window: ``baseline_share`` and ``share_change`` compare
        shares (not totals), so a partial baseline still compares.
    n : int
        How many tenants to list.
    exclude : iterable of str
        Tenant ids left out of the ranking (``unknown`` = health probes); their share is
        still counted in the total, and the frame's attrs say how many requests they had.

    Returns
    -------
    DataFrame
        ``rank``, ``tenant_id``, ``requests``, ``share``, ``errors``, ``error_ratio``,
        ``baseline_share``, ``share_change``; attrs ``tenants`` (all ranked tenants) and
        ``excluded_requests``.
    """
    def per_tenant(frame: pd.DataFrame) -> pd.DataFrame:
        require_columns(frame, ["tenant_id", "status_code", "value"], what="tenant requests",
                        hint="fetch it with fetch.tenant_totals(source, window)")
        v = frame["value"].astype("float64")
        v = v.where(np.isfinite(v), 0.0)
        df = pd.DataFrame({"tenant_id": frame["tenant_id"].astype(str).to_numpy(),
                           "requests": v.to_numpy(),
                           "errors": np.where(frame["status_code"].astype(str)
                                              .str.match(r"^5\d\d$"), v, 0.0)})
        return df.groupby("tenant_id", sort=False)[["requests", "errors"]].sum()

    cur = per_tenant(requests)
    total = float(cur["requests"].sum())
    skip = set(exclude)
    excluded = float(cur.loc[cur.index.isin(skip), "requests"].sum())
    ranked = cur[~cur.index.isin(skip)].sort_values("requests", ascending=False)
    out = ranked.head(n).reset_index()
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out["share"] = out["requests"] / total if total else np.nan
    out["error_ratio"] = np.where(out["requests"] > 0,
                                  out["errors"] / out["requests"].where(out["requests"] > 0),
                                  np.nan)
    if baseline is not None and len(baseline):
        base = per_tenant(baseline)
        btotal = float(base["requests"].sum())
        bshare = base["requests"] / btotal if btotal else base["requests"] * np.nan
        out["baseline_share"] = out["tenant_id"].map(bshare).astype("float64")
        out["share_change"] = out["share"] - out["baseline_share"]
    else:
        out["baseline_share"] = np.nan
        out["share_change"] = np.nan
    out = out[["rank", "tenant_id", "requests", "share", "errors", "error_ratio",
               "baseline_share", "share_change"]]
    carry(out, requests)
    out.attrs.update(tenants=len(ranked), excluded_requests=excluded)
    return out


def fired_alerts(backtests: Mapping[str, object],
                 severities: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Every firing interval of the replayed rules, newest first.

    Parameters
    ----------
    backtests : mapping of str to AlertBacktest
        ``RuleReview.backtests`` from :func:`tributary_analysis.fetch.planning.backtest_rules`.
    severities : mapping, optional
        Rule name → severity label, shown beside each interval.

    Returns
    -------
    DataFrame
        ``rule``, ``severity``, ``series`` (label set), ``start``, ``end``, ``duration``,
        ``ongoing``.
    """
    parts = []
    for name, bt in backtests.items():
        iv = getattr(bt, "intervals", None)
        if iv is None or not len(iv):
            continue
        part = iv[["series", "start", "end", "duration", "ongoing"]].copy()
        part.insert(0, "rule", name)
        part.insert(1, "severity", (severities or {}).get(name, ""))
        parts.append(part)
    cols = ["rule", "severity", "series", "start", "end", "duration", "ongoing"]
    if not parts:
        return pd.DataFrame(columns=cols)
    out = pd.concat(parts, ignore_index=True)[cols]
    return out.sort_values(["start", "rule"], ascending=[False, True]).reset_index(drop=True)


def headline(signals: pd.DataFrame, *, alerts: int, episodes: int,
             budget_remaining: float | None, burn_firing: Iterable[str] = ()) -> list[str]:
    """A few plain sentences for the top of the report: what is worse, what fired."""
    lines = []
    worse = signals[signals["assessment"] == "worse"]
    if len(worse):
        changes = worse["change"].astype("float64")
        lines.append("Worse than the baseline: " + ", ".join(
            f"{measure} ({change:+.0%})" if np.isfinite(change)
            else f"{measure} (baseline was 0)"
            for measure, change in zip(worse["measure"], changes, strict=True)) + ".")
    elif (signals["assessment"] == "no baseline").all():
        lines.append("No baseline to compare with (see the note on the baseline).")
    else:
        lines.append("No golden signal is markedly worse than the baseline.")
    lines.append(f"{alerts} alert firing interval(s) would have fired; {episodes} error "
                 "episode(s) detected.")
    if budget_remaining is not None and np.isfinite(budget_remaining):
        lines.append(f"Error budget remaining: {budget_remaining:.1%}"
                     + (" — exhausted." if budget_remaining <= 0 else "."))
    firing = list(burn_firing)
    if firing:
        lines.append("Burn-rate alerts fired in the window: " + ", ".join(firing) + ".")
    return lines
