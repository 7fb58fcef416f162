"""Capacity planning: resource series, peaks and headroom, time to limits, what-ifs.

Pure functions over metric frames (no I/O). Two aggregation rules matter and are easy to
get wrong:

* business gauges (``vectors_total``, ``datasets_total``) are reported identically by every
  replica, so per tenant they are combined with **max across instances** (then summed over
  datasets and tenants) — summing replicas would triple them;
* traffic (request rates) is served by one replica per request, so rates **sum** across
  instances.

Forecasting and the limit arithmetic live in :mod:`tributary_analysis.analysis.forecast`;
this module decides *what* is forecast and turns forecasts into a planning table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd
from pandas.tseries.frequencies import to_offset

from tributary_analysis.analysis.forecast import (
    Forecast,
    TimeToLimit,
    forecast_series,
    time_to_limit,
)
from tributary_analysis.errors import DataError
from tributary_analysis.frames.meta import FrameMeta
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import DurationLike, parse_duration

Agg = Literal["max", "sum", "mean", "min"]


def to_series(frame: pd.DataFrame, *, by: str | Sequence[str] | None = None,
              across: Agg = "max", then: Agg | None = None,
              within: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Collapse a long metric frame into one column per group, indexed by timestamp.

    Parameters
    ----------
    frame : DataFrame
        Long metric frame (``timestamp``, ``value``, label columns).
    by : str or list of str, optional
        Labels to keep as separate series (e.g. ``"tenant_id"``); ``None`` → one total.
    across : {"max", "sum", "mean", "min"}
        How rows that share a timestamp and the ``within`` labels are combined first
        (``"max"`` across replicas for business gauges).
    then : {"max", "sum", "mean", "min"}, optional
        How the results of the first step are combined into ``by`` groups (``"sum"`` over
        datasets).
    within : str or list of str, optional
        Labels kept in the first step (e.g. ``dataset_id``); default: ``by``.

    Returns
    -------
    DataFrame
        Wide: one column per group (``"total"`` without ``by``).

    Examples
    --------
    >>> f = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-01"] * 4, utc=True),
    ...                   "value": [5.0, 5.0, 2.0, 2.0], "instance": ["a", "b", "a", "b"],
    ...                   "dataset_id": ["d1", "d1", "d2", "d2"]})
    >>> to_series(f, within="dataset_id", then="sum")["total"].tolist()  # max, then sum
    [7.0]
    """
    if not {"timestamp", "value"} <= set(frame.columns):
        raise DataError("to_series needs a metric frame with 'timestamp' and 'value' columns; "
                        f"got {list(frame.columns)}")
    keys = [by] if isinstance(by, str) else list(by or [])
    inner = keys + ([within] if isinstance(within, str) else list(within or []))
    inner = list(dict.fromkeys(inner))
    missing = [k for k in inner if k not in frame.columns]
    if missing:
        raise DataError(f"labels {missing} are not in the frame (columns: "
                        f"{list(frame.columns)}); check the query's by() clause")
    df = frame[["timestamp", "value", *inner]]
    first = df.groupby(["timestamp", *inner], observed=True)["value"].agg(across)
    if then is not None and len(inner) > len(keys):
        first = first.groupby(level=["timestamp", *keys], observed=True).agg(then)
    if not keys:
        if first.index.nlevels > 1:
            first = first.groupby(level="timestamp").agg(then or across)
        return first.rename("total").to_frame()
    wide = first.unstack(keys)
    if isinstance(wide.columns, pd.MultiIndex):
        wide.columns = [" · ".join(map(str, c)) for c in wide.columns]
    wide.columns = [str(c) for c in wide.columns]
    return wide.sort_index()


def peak_to_average(series: pd.Series, *, period: DurationLike = "1d") -> pd.DataFrame:
    """Per period (default: UTC day): ``peak``, ``peak_at``, ``average``, ``ratio``.

    Days with less than half the usual number of points are flagged ``partial``.
    """
    s = series.dropna()
    if s.empty:
        raise DataError(f"series {series.name!r} is empty: nothing to summarise")
    g = s.groupby(pd.Grouper(freq=to_offset(parse_duration(period, name="period"))))
    out = pd.DataFrame({"peak": g.max(), "peak_at": g.idxmax(), "average": g.mean(),
                        "points": g.size()})
    out = out[out["points"] > 0]
    out["ratio"] = out["peak"] / out["average"].where(out["average"] != 0)
    out["partial"] = out["points"] < 0.5 * out["points"].max()
    out.index.name = "period"
    return out


def headroom(series: pd.Series, limit: float, *, period: DurationLike = "1d"
             ) -> pd.DataFrame:
    """Headroom at each period's peak: ``limit - peak`` and the share of the limit used."""
    if not np.isfinite(limit) or limit <= 0:
        raise DataError(f"limit {limit!r} for {series.name!r} must be a positive number")
    p = peak_to_average(series, period=period)
    p["limit"] = limit
    p["headroom"] = limit - p["peak"]
    p["headroom_fraction"] = p["headroom"] / limit
    p["utilization_at_peak"] = p["peak"] / limit
    return p


def fleet_adjust(frame: pd.DataFrame, column: str) -> tuple[pd.Series, pd.Series]:
    """Remove the load swing a replica shares with its peers, keep its own trend.

    Replicas behind one load balancer see the same traffic, so the load-driven part of a
    per-replica gauge (memory, connections) moves together, while a leak or a restart is
    one replica's own. The shared swing is the median over all replicas of their deviation
    from their own mean: with three or more replicas one replica's own behaviour cannot move
    the median far. Subtracting it leaves the replica's own trend, which a forecast can
    extrapolate even when the history is too short to learn the daily shape.

    Returns
    -------
    adjusted : Series
        ``frame[column]`` minus the shared swing.
    swing : Series
        The shared swing (its maximum is a margin: peaks reach the limit earlier).
    """
    if column not in frame.columns:
        raise DataError(f"{column!r} is not one of the replicas {list(frame.columns)}")
    if frame.shape[1] < 3:
        raise DataError(f"fleet adjustment for {column!r} needs at least three replicas, "
                        f"got {frame.shape[1]}")
    swing = (frame - frame.mean()).median(axis=1)
    swing = swing.interpolate(limit_direction="both").fillna(0.0)
    return (frame[column] - swing).rename(column), swing.rename("shared swing")


@dataclass(frozen=True)
class Resource:
    """A resource to plan: its history, its limit, and how it grows towards the limit.

    ``seasonal`` marks a quantity with a daily cycle (the request rate): its forecast
    needs two full days of history (:func:`forecast_claim`)."""

    name: str
    history: pd.Series
    limit: float | None = None
    unit: str = ""
    direction: Literal["up", "down"] = "up"
    seasonal: bool = False


# ------------------------------------------------------------------ what the data must hold

#: a trend (vectors, memory) is not forecast from less history than this
MIN_TREND_HISTORY = pd.Timedelta(hours=12)
#: a quantity with a daily cycle needs two full cycles (STL's minimum) before a forecast
MIN_SEASONAL_HISTORY = pd.Timedelta(days=2)
#: a trend is extrapolated at most this many times its observed span
HORIZON_PER_HISTORY = 3.0


def history_span(y: pd.Series) -> pd.Timedelta:
    """The time the values that hold data cover: first to last, plus one step (each value
    stands for its bin), so a day of 5-minute bins is one day."""
    v = y.dropna()
    if len(v) < 2:
        return pd.Timedelta(0)
    idx = pd.DatetimeIndex(v.index)
    step = pd.Timedelta(np.median(np.diff(idx.asi8)), unit=idx.unit)
    return pd.Timedelta(idx[-1] - idx[0]) + step


def forecast_claim(y: pd.Series, horizon: DurationLike, *, seasonal: bool = False,
                   what: str = "") -> Insufficient | None:
    """:class:`Insufficient` when ``y`` holds too little history to forecast ``horizon``
    ahead: less than 12 h (a trend) or two full days (a daily cycle: the request rate), or
    less than a third of the horizon (a trend extrapolated further is a guess).

    Examples
    --------
    >>> idx = pd.date_range("2026-01-01", periods=24, freq="1h", tz="UTC")
    >>> y = pd.Series(range(24), index=idx, dtype=float)
    >>> forecast_claim(y, "14d").short()
    'not enough data (have 1 d of history, need 4.7 d of history for a 14 d horizon)'
    >>> forecast_claim(y, "3d") is None, forecast_claim(y, "1d", seasonal=True).need
    (True, '2 d of history: two daily cycles')
    """
    span = history_span(y)
    name = what or f"{y.name} forecast"
    have = f"{fmt.approx_duration(span)} of history" if span > pd.Timedelta(0) \
        else "no history"
    if seasonal and span < MIN_SEASONAL_HISTORY:
        return Insufficient(name, have, f"{fmt.approx_duration(MIN_SEASONAL_HISTORY)} of "
                                        "history: two daily cycles")
    h = parse_duration(horizon, name="horizon")
    need = h / HORIZON_PER_HISTORY
    if span < max(need, MIN_TREND_HISTORY):
        # the larger of the two needs is what the reader must wait for
        if need <= MIN_TREND_HISTORY:
            return Insufficient(name, have,
                                f"{fmt.approx_duration(MIN_TREND_HISTORY)} of history")
        return Insufficient(name, have, f"{fmt.approx_duration(need)} of history for a "
                                        f"{fmt.approx_duration(h)} horizon")
    return None


def backtest_claim(y: pd.Series, *, seasonal: bool = False, what: str = "") -> Insufficient | None:
    """:class:`Insufficient` when a rolling-origin backtest (MASE) cannot be trusted: its
    first origin trains on half the history, which must itself hold what a forecast needs
    (twice the minimum of :func:`forecast_claim`)."""
    span = history_span(y)
    need = 2 * (MIN_SEASONAL_HISTORY if seasonal else MIN_TREND_HISTORY)
    if span >= need:
        return None
    have = f"{fmt.approx_duration(span)} of history" if span > pd.Timedelta(0) \
        else "no history"
    return Insufficient(what or f"{y.name} forecast accuracy (MASE)", have,
                        f"{fmt.approx_duration(need)} of history: half of it trains the "
                        "first origin")


def plan_claimed(resources: Sequence[Resource], *, horizon: pd.Timedelta | str = "14d",
                 level: float = 0.95, step: pd.Timedelta | str | None = None
                 ) -> tuple[pd.DataFrame, dict[str, Forecast], dict[str, Insufficient]]:
    """:func:`plan` for the resources whose history carries a forecast; the others get a
    row without numbers and their :class:`Insufficient` (third value, by resource)."""
    gaps = {r.name: g for r in resources
            if (g := forecast_claim(r.history, horizon, seasonal=r.seasonal,
                                    what=f"{r.name} forecast")) is not None}
    ok = [r for r in resources if r.name not in gaps]
    table, forecasts = plan(ok, horizon=horizon, level=level, step=step) if ok else (
        pd.DataFrame(columns=["resource"]), {})
    if gaps:
        rows = [{"resource": r.name, "unit": r.unit,
                 "last": float(r.history.dropna().iloc[-1]) if r.history.notna().any()
                 else np.nan, "limit": r.limit, "withheld": gaps[r.name].short()}
                for r in resources if r.name in gaps]
        table = pd.concat([table, pd.DataFrame(rows)], ignore_index=True)
    order = {r.name: i for i, r in enumerate(resources)}
    table = table.sort_values("resource", key=lambda c: c.map(order)).reset_index(drop=True)
    return table, forecasts, gaps


def plan(resources: Sequence[Resource], *, horizon: pd.Timedelta | str = "14d",
         level: float = 0.95, step: pd.Timedelta | str | None = None,
         fit_window: pd.Timedelta | str | None = None) -> tuple[pd.DataFrame,
                                                                dict[str, Forecast]]:
    """Forecast every resource and turn it into one planning table.

    Returns
    -------
    table : DataFrame
        One row per resource: last value, forecast mean/lower/upper at the horizon, limit,
        time to limit as ``earliest``/``likely``/``latest`` (NaT = not within the horizon),
        the model and notes.
    forecasts : dict
        The :class:`Forecast` per resource (for figures and what-ifs).
    """
    rows = []
    forecasts: dict[str, Forecast] = {}
    for r in resources:
        fc = forecast_series(r.history.rename(r.name), horizon, level=level, step=step,
                             fit_window=fit_window)
        forecasts[r.name] = fc
        end = fc.frame.iloc[-1]
        row: dict[str, object] = {
            "resource": r.name, "unit": r.unit, "last": float(fc.history.iloc[-1]),
            "forecast_mean": float(end["mean"]), "forecast_lower": float(end["lower"]),
            "forecast_upper": float(end["upper"]), "horizon_end": fc.frame.index[-1],
            "limit": r.limit, "method": fc.method, "notes": "; ".join(fc.notes)}
        if r.limit is not None:
            ttl = time_to_limit(fc, r.limit, direction=r.direction)
            row.update({k: ttl.as_dict()[k] for k in ("earliest", "likely", "latest",
                                                      "earliest_at", "likely_at",
                                                      "latest_at", "already_at_limit")})
        rows.append(row)
    table = pd.DataFrame(rows)
    for c in ("earliest", "likely", "latest"):
        if c in table:
            table[c] = pd.to_timedelta(table[c])
    return table, forecasts


def describe_range(ttl: TimeToLimit | Mapping[str, object]) -> str:
    """``"in 1.2 d (range 0.9 d – 1.6 d)"`` style text; ``"beyond horizon"`` for a bound
    that does not reach the limit (pages say it better with :func:`limit_sentence`)."""
    d = ttl.as_dict() if isinstance(ttl, TimeToLimit) else dict(ttl)
    if d.get("already_at_limit") is True:
        return "already at the limit"

    def when(x: object) -> str:
        if fmt.is_missing(x):
            return "beyond horizon"
        td = pd.Timedelta(x)  # type: ignore[arg-type]
        hours = td / pd.Timedelta(hours=1)
        return f"{hours / 24:.1f} d" if hours >= 48 else f"{hours:.1f} h"

    return f"in {when(d['likely'])} (range {when(d['earliest'])} – {when(d['latest'])})"


def limit_sentence(ttl: TimeToLimit | Mapping[str, object]) -> str:
    """When a limit is reached, for a page: ``in 1.2 d (range 0.9 d – 1.6 d)``, ``not
    within the horizon``, ``not likely within the horizon (earliest in 9 d)``."""
    d = ttl.as_dict() if isinstance(ttl, TimeToLimit) else dict(ttl)
    if d.get("already_at_limit") is True:
        return "already at the limit"

    def when(x: object) -> str | None:
        if fmt.is_missing(x):
            return None
        return fmt.approx_duration(pd.Timedelta(x))  # type: ignore[arg-type]

    likely, early, late = when(d.get("likely")), when(d.get("earliest")), when(d.get("latest"))
    if likely is None and early is None:
        return "not within the horizon"
    if likely is None:
        return f"not likely within the horizon (earliest in {early})"
    return f"in {likely} (range {early} – {late or 'beyond the horizon'})"


def limits_table(table: pd.DataFrame) -> pd.DataFrame:
    """The planning table as a reader reads it: per resource the last value, the forecast
    at the horizon with its interval, the limit and the time to reach it as a range — or,
    for a forecast the history cannot carry, why it is withheld (bytes in GiB, counts as
    integers, through :mod:`tributary_analysis.ground.format`)."""
    units = {"bytes": "bytes", "req/s": "req/s", "connections": "connections"}
    rows = []
    for rec in table.to_dict("records"):
        r = {str(k): x for k, x in rec.items()}
        unit = units.get(str(r.get("unit") or ""), "count")
        withheld = r.get("withheld")
        has_fc = not (isinstance(withheld, str) and withheld)

        def v(x: object, unit: str = unit) -> str:
            return fmt.value(x, unit) if unit != "count" else fmt.count(x)  # type: ignore[arg-type]

        if has_fc:
            interval = f"{v(r.get('forecast_lower'))} – {v(r.get('forecast_upper'))}"
            ttl = ("no limit set" if r.get("limit") is None or fmt.is_missing(r.get("limit"))
                   else limit_sentence(r))
        else:
            interval, ttl = fmt.MISSING, str(withheld)
        limit = r.get("limit")
        rows.append({"resource": r["resource"], "last": v(r.get("last")),
                     "forecast at horizon": v(r.get("forecast_mean")) if has_fc
                     else fmt.MISSING,
                     "interval": interval,
                     "limit": fmt.MISSING if limit is None or fmt.is_missing(limit) else v(limit),
                     "time to limit": ttl,
                     "model": r.get("method") if has_fc else fmt.MISSING})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------ what-if

@dataclass(frozen=True)
class TenantGrows:
    """Scenario: one tenant's usage is multiplied by ``factor`` (2 = doubles)."""

    tenant: str
    factor: float = 2.0

    def describe(self) -> str:
        return f"tenant {self.tenant} × {self.factor:g}"


@dataclass(frozen=True)
class NewTenants:
    """Scenario: ``count`` new tenants, each like an existing tenant (``like``) or of a
    given ``size`` per resource (absolute units of that resource)."""

    count: int
    like: str | None = None
    size: Mapping[str, float] | None = None

    def describe(self) -> str:
        what = f"like {self.like}" if self.like else f"of size {dict(self.size or {})}"
        return f"{self.count} new tenant(s) {what}"


Scenario = TenantGrows | NewTenants


def what_if(total: Forecast, per_tenant: Mapping[str, Forecast], scenario: Scenario, *,
            limit: float | None = None, resource: str = "") -> dict[str, object]:
    """Apply a scenario to a resource forecast that is a sum over tenants.

    The extra load is the affected tenant's forecast (mean and interval bounds) scaled by
    the scenario, added to the total forecast; new tenants ``like`` an existing one add that
    tenant's forecast ``count`` times, new tenants of a fixed ``size`` add a constant.

    Returns
    -------
    dict
        ``scenario``, ``forecast`` (the adjusted :class:`Forecast`), ``delta_at_horizon``,
        and when ``limit`` is given the baseline and scenario :class:`TimeToLimit`.
    """
    def tenant_fc(t: str) -> Forecast:
        if t not in per_tenant:
            raise DataError(f"tenant {t!r} has no forecast for {resource or total.name}; "
                            f"known tenants: {sorted(per_tenant)[:20]}")
        return per_tenant[t]

    idx = total.frame.index
    if isinstance(scenario, TenantGrows):
        if scenario.factor < 0:
            raise DataError(f"growth factor {scenario.factor} must be >= 0")
        base = tenant_fc(scenario.tenant)
        delta = (scenario.factor - 1) * base.frame.reindex(idx).ffill()
        hist_delta = (scenario.factor - 1) * float(base.history.iloc[-1])
    elif isinstance(scenario, NewTenants):
        if scenario.count < 0:
            raise DataError(f"new tenant count {scenario.count} must be >= 0")
        if scenario.like is not None:
            base = tenant_fc(scenario.like)
            delta = scenario.count * base.frame.reindex(idx).ffill()
            hist_delta = scenario.count * float(base.history.iloc[-1])
        else:
            key = resource or total.name
            if not scenario.size or key not in scenario.size:
                raise DataError(f"NewTenants needs like=<tenant> or size={{{key!r}: ...}} for "
                                f"resource {key!r}")
            amount = float(scenario.size[key])
            delta = pd.DataFrame({c: amount * scenario.count for c in ("mean", "lower",
                                                                       "upper")}, index=idx)
            hist_delta = amount * scenario.count
    else:
        raise DataError(f"unknown scenario {scenario!r}; use TenantGrows or NewTenants")
    frame = total.frame + delta[["mean", "lower", "upper"]]
    adjusted = Forecast(name=f"{total.name} ({scenario.describe()})",
                        history=total.history + hist_delta, frame=frame, level=total.level,
                        method=total.method, notes=[*total.notes, "scenario applied at the "
                                                    "end of history"])
    out: dict[str, object] = {"scenario": scenario.describe(), "forecast": adjusted,
                              "delta_at_horizon": float(delta["mean"].iloc[-1])}
    if limit is not None:
        out["baseline"] = time_to_limit(total, limit)
        out["with_scenario"] = time_to_limit(adjusted, limit)
    return out


def scenario_table(results: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """Rows of :func:`what_if` results: scenario, delta, time to limit before and after."""
    rows = []
    for r in results:
        row: dict[str, object] = {"scenario": r["scenario"],
                                  "delta_at_horizon": r["delta_at_horizon"]}
        for key in ("baseline", "with_scenario"):
            ttl = r.get(key)
            if isinstance(ttl, TimeToLimit):
                row[f"{key}_likely"] = ttl.likely
                row[f"{key}_earliest"] = ttl.earliest
                row[f"{key}_range"] = describe_range(ttl)
        rows.append(row)
    return pd.DataFrame(rows)


def growth_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per resource of a :func:`plan_claimed` table: the last value, the forecast at the
    horizon with its interval and the growth to the horizon — fastest first — or why the
    forecast is withheld (those rows last)."""
    t = table.copy()
    if "forecast_mean" not in t:
        t["forecast_mean"] = np.nan
    t["growth_to_horizon"] = t["forecast_mean"] / t["last"].where(t["last"] != 0) - 1
    t = t.sort_values("growth_to_horizon", ascending=False, na_position="last")
    cols = ["resource", "last", "forecast_mean", "forecast_lower", "forecast_upper",
            "growth_to_horizon", "withheld"]
    out = t[[c for c in cols if c in t.columns]].reset_index(drop=True)
    if "withheld" in out:
        out["withheld"] = out["withheld"].fillna("")
    return out.rename(columns={"forecast_mean": "forecast", "forecast_lower": "lower",
                               "forecast_upper": "upper", "growth_to_horizon": "growth"})


def what_if_table(scenarios: Sequence[Scenario], totals: Mapping[str, Forecast],
                  per_tenant: Mapping[str, Mapping[str, Forecast]],
                  limits: Mapping[str, float | None],
                  gaps: Mapping[str, Insufficient] | None = None) -> pd.DataFrame:
    """Every scenario against every resource: :func:`scenario_table` rows, and for a
    resource whose forecast was withheld (``gaps``) or whose tenant has none, a row that
    says so (``withheld``) instead of a number."""
    rows: list[dict[str, object]] = []
    for sc in scenarios:
        for res in totals.keys() | (gaps or {}).keys():
            gap = (gaps or {}).get(res)
            tenant = sc.tenant if isinstance(sc, TenantGrows) else sc.like
            if gap is None and res in totals and (tenant is None
                                                  or tenant in per_tenant.get(res, {})):
                out = what_if(totals[res], per_tenant.get(res, {}), sc, limit=limits.get(res),
                              resource=res)
                row = {str(k): v for k, v in scenario_table([out]).iloc[0].to_dict().items()}
            else:
                why = gap.short() if gap is not None else f"no forecast for {tenant}"
                row = {"scenario": sc.describe(), "delta_at_horizon": np.nan,
                       "withheld": why}
            row["resource"] = res
            rows.append(row)
    order = list(totals) + [r for r in (gaps or {}) if r not in totals]
    out_df = pd.DataFrame(rows)
    if len(out_df):
        out_df = out_df.sort_values(["scenario", "resource"], key=lambda c: c.map(
            {n: i for i, n in enumerate(order)}) if c.name == "resource" else c,
            kind="stable").reset_index(drop=True)
    return out_df


def accuracy_table(histories: Mapping[str, tuple[pd.Series, bool]], *, horizon: int,
                   origins: int = 4) -> pd.DataFrame:
    """Rolling-origin MASE of each history's forecast (``name → (history, seasonal)``),
    or why it is withheld (:func:`backtest_claim`): ``resource``, ``mase``, ``mase_naive``,
    ``skill``, ``m``, ``horizon``, ``origins``, ``withheld``."""
    from tributary_analysis.analysis.forecast import rolling_origin_backtest

    rows: list[dict[str, object]] = []
    for name, (y, seasonal) in histories.items():
        gap = backtest_claim(y, seasonal=seasonal, what=f"{name} forecast accuracy (MASE)")
        if gap is None:
            try:
                bt = rolling_origin_backtest(y, min(horizon, len(y) // 4), origins=origins)
                rows.append({"resource": name, **bt.attrs["summary"], "withheld": ""})
                continue
            except DataError as exc:
                gap = Insufficient(f"{name} forecast accuracy (MASE)", f"{len(y)} points",
                                   str(exc))
        rows.append({"resource": name, "mase": np.nan, "mase_naive": np.nan,
                     "skill": np.nan, "withheld": gap.short(), "gap": gap})
    return pd.DataFrame(rows)


def accuracy_claimed(histories: Mapping[str, tuple[pd.Series, bool]], *,
                     horizon: pd.Timedelta, step: pd.Timedelta, origins: int = 4
                     ) -> pd.DataFrame:
    """:func:`~tributary_analysis.analysis.capacity.accuracy_table` where the history holds
    the backtest the page names, withheld where it does not.

    The page scores forecasts ``horizon`` ahead from origins in the second half of the
    history, so a score needs twice the horizon (the first origin trains on half, and each
    origin needs ``horizon`` of actuals after it); ``accuracy_table`` alone would shorten
    the horizon to a quarter of the history and score a different forecast than the page
    describes. Rows withheld here carry their :class:`Insufficient` in ``gap``.
    """
    table = accuracy_table(histories, horizon=max(1, int(horizon / step)), origins=origins)
    need = 2 * horizon
    for i, row in table.iterrows():
        if isinstance(row.get("gap"), Insufficient):
            continue
        y = histories[str(row["resource"])][0]
        span = history_span(y)
        if span >= need:
            continue
        gap = Insufficient(f"{row['resource']} forecast accuracy (MASE)",
                           f"{fmt.approx_duration(span)} of history",
                           f"{fmt.approx_duration(need)} of history: the first origin "
                           f"trains on half, each origin needs "
                           f"{fmt.approx_duration(horizon)} of actuals ahead")
        if "gap" not in table:
            table["gap"] = None
        table.loc[i, ["mase", "mase_naive", "skill"]] = np.nan
        for col in ("m", "horizon", "origins"):
            if col in table:
                table.loc[i, col] = np.nan
        table.loc[i, "withheld"] = gap.short()
        table.at[i, "gap"] = gap  # type: ignore[assignment]
    return table


# ------------------------------------------------------------------ resolution and peaks

_NICE_STEPS = tuple(parse_duration(s) for s in ("1m", "2m", "5m", "10m", "15m", "30m", "1h",
                                                "2h", "3h", "6h", "12h", "1d"))


def forecast_step(span: pd.Timedelta, *, points: int = 300) -> pd.Timedelta:
    """A round step that gives about ``points`` points over ``span`` (5 min for a day,
    30 min for a week): enough resolution for the daily shape, cheap to fit."""
    target = span / points
    for s in _NICE_STEPS:
        if s >= target:
            return s
    return _NICE_STEPS[-1]


def resample_mean(series: pd.Series, step: DurationLike) -> pd.Series:
    """Mean per ``step`` bin (bins labelled by their start); empty bins stay NaN."""
    out = series.resample(parse_duration(step, name="step")).mean()
    out.name = series.name
    return out


def daily_forecast_peaks(fc: Forecast) -> pd.DataFrame:
    """Per future UTC day of a forecast: peak of the mean and of the upper bound, average."""
    f = fc.frame
    g = f.groupby(pd.DatetimeIndex(f.index).floor("D"))
    out = pd.DataFrame({"peak_mean": g["mean"].max(), "peak_upper": g["upper"].max(),
                        "average_mean": g["mean"].mean(), "points": g.size()})
    out["ratio"] = out["peak_mean"] / out["average_mean"].where(out["average_mean"] != 0)
    out.index.name = "day"
    return out


# ------------------------------------------------------------------ the histories to plan

@dataclass
class CapacityData:
    """Histories for capacity planning, each a wide frame (one column per group), as
    :func:`tributary_analysis.fetch.capacity.fetch_capacity` pulls them.

    ``meta`` merges what the server said about every query (the page's warning box);
    ``warnings`` are the same facts as sentences.
    """

    request_rate: pd.DataFrame  # column "total"
    request_rate_by_tenant: pd.DataFrame
    vectors_by_tenant: pd.DataFrame
    datasets_by_tenant: pd.DataFrame
    memory_used: pd.DataFrame  # per instance
    memory_limit: pd.Series  # per instance (bytes)
    connections: pd.DataFrame  # per instance
    step: pd.Timedelta
    warnings: list[str] = field(default_factory=list)
    meta: FrameMeta = field(default_factory=FrameMeta)

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
                  step: DurationLike | None = None) -> list[Resource]:
        """The resources to plan, with limits (memory defaults to each replica's ``total``;
        connections to the seed's alert threshold of 80).

        With ``fleet_adjusted`` (and at least three replicas) per-replica memory and
        connections have the load swing shared with the other replicas removed
        (:func:`fleet_adjust`): the forecast then follows the replica's own trend, e.g. a
        leak. The default does this only when the history is shorter than two days: with
        more, STL learns the daily swing from the replica itself, and the fleet median
        would leak a trending replica's drift into the others (measured on the demo
        profile: 18 % vs 6 % error in time to limit). ``step`` averages every history into
        bins of that size first (see :func:`forecast_step`)."""
        if fleet_adjusted is None:
            idx = self.memory_used.index
            fleet_adjusted = len(idx) > 1 and idx[-1] - idx[0] < pd.Timedelta(days=2)
        out = self._resources(request_limit, vector_limit, dataset_limit, connection_limit,
                              memory_limit, fleet_adjusted)
        if step is None:
            return out
        return [replace(r, history=resample_mean(r.history, step)) for r in out]

    def _resources(self, request_limit: float | None, vector_limit: float | None,
                   dataset_limit: float | None, connection_limit: float | None,
                   memory_limit: float | None, fleet_adjusted: bool) -> list[Resource]:
        out = [Resource("request rate (req/s)", self.request_rate["total"], request_limit,
                        "req/s", seasonal=True),
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
