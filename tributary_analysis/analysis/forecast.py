"""Forecasts with prediction intervals, time-to-limit ranges, and an honest backtest.

The model is chosen by how much history there is, with statsmodels doing the fitting:

* at least two full weeks: MSTL with daily and weekly seasonality, ETS (additive error and
  trend) on the seasonally adjusted series;
* at least two full days: STL with daily seasonality, ETS on the adjusted series;
* less: ETS with an additive trend and no seasonality.

The seasonal part is carried forward as the last observed cycle (seasonal naive); the
prediction interval is the ETS model's (analytic where statsmodels has the closed form,
simulated otherwise). Intervals therefore cover noise in level and trend, not uncertainty in
the seasonal shape: good enough for "when do we run out", and the backtest says how good.

Forecast accuracy is reported as MASE (Hyndman & Koehler 2006): the mean absolute forecast
error divided by the in-sample mean absolute error of the seasonal-naive forecast
``y[t] - y[t-m]``. MASE < 1 beats seasonal naive in-sample; the backtest also scores the
seasonal-naive forecast itself out of sample so the comparison is like for like.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from tributary_analysis.errors import DataError
from tributary_analysis.ground.time import parse_duration, parse_time

Forecaster = Callable[[pd.Series, int], np.ndarray]


@dataclass(frozen=True)
class Forecast:
    """A forecast of one series.

    Attributes
    ----------
    history : Series
        The regularised history the model saw.
    frame : DataFrame
        Indexed by future timestamps: ``mean``, ``lower``, ``upper``.
    level : float
        Coverage of the prediction interval (e.g. 0.95).
    method : str
        What was fitted (``"ETS(A,A,N)"``, ``"STL(24)+ETS(A,A,N)"``, ...).
    notes : list of str
        Gaps filled, seasonality skipped for lack of data, fit warnings.
    """

    name: str
    history: pd.Series
    frame: pd.DataFrame
    level: float
    method: str
    notes: list[str] = field(default_factory=list)


def infer_step(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The sampling step of a (mostly) regular index: the median spacing."""
    if len(index) < 2:
        raise DataError("a series needs at least two points to infer its step")
    return pd.Timedelta(np.median(np.diff(index.asi8)), unit=index.unit)


def regularize(y: pd.Series, step: pd.Timedelta | str | None = None) -> tuple[pd.Series,
                                                                             list[str]]:
    """Put ``y`` on a regular grid; interpolate short gaps and say how many were filled."""
    if not isinstance(y.index, pd.DatetimeIndex):
        raise DataError(f"series {y.name!r} needs a DatetimeIndex (timestamps), got "
                        f"{type(y.index).__name__}")
    y = y.astype("float64").sort_index()
    y = y[~y.index.duplicated(keep="last")]
    notes: list[str] = []
    bad = ~np.isfinite(y.to_numpy())
    if bad.any():
        notes.append(f"{int(bad.sum())} non-finite values treated as missing")
        y = y[~bad]
    if len(y) < 2:
        raise DataError(f"series {y.name!r} has {len(y)} usable points; a forecast needs "
                        "more history (widen the window)")
    st = (parse_duration(step, name="step") if step is not None
          else infer_step(pd.DatetimeIndex(y.index)))
    grid = pd.date_range(y.index[0], y.index[-1], freq=st)
    reg = y.reindex(y.index.union(grid)).interpolate("time").reindex(grid)
    filled = int(len(grid) - y.index.isin(grid).sum())
    if filled:
        notes.append(f"{filled} of {len(grid)} points were missing and interpolated")
    reg.name = y.name
    return reg, notes


def seasonal_periods(n: int, step: pd.Timedelta) -> list[int]:
    """Daily and weekly periods (in steps) that at least two full cycles of history cover."""
    out = []
    for span in (pd.Timedelta(days=1), pd.Timedelta(days=7)):
        p = span / step
        if p >= 2 and float(p).is_integer() and n >= 2 * p:
            out.append(int(p))
    return out


def _ets(y: pd.Series, h: int, level: float) -> tuple[pd.DataFrame, str, list[str]]:
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    notes: list[str] = []
    values = y.to_numpy()
    trend = "add" if len(values) >= 10 else None
    if np.ptp(values) == 0:  # a constant series: statsmodels cannot fit it
        mean = np.full(h, values[-1])
        return pd.DataFrame({"mean": mean, "lower": mean, "upper": mean}), "constant", notes
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        series = pd.Series(values, index=pd.RangeIndex(len(values)))
        model = ETSModel(series, error="add", trend=trend, damped_trend=False)
        fit = model.fit(disp=False, maxiter=200)
        pred = fit.get_prediction(start=len(values), end=len(values) + h - 1)
        sf = pred.summary_frame(alpha=1 - level)
    for w in caught:
        notes.append(f"statsmodels: {w.message}")
    frame = pd.DataFrame({"mean": sf["mean"].to_numpy(), "lower": sf["pi_lower"].to_numpy(),
                          "upper": sf["pi_upper"].to_numpy()})
    return frame, f"ETS(A,{'A' if trend else 'N'},N)", notes


def forecast_series(y: pd.Series, horizon: int | pd.Timedelta | str, *, level: float = 0.95,
                    step: pd.Timedelta | str | None = None,
                    seasonality: Literal["auto", "none"] = "auto",
                    fit_window: pd.Timedelta | str | None = None,
                    nonnegative: bool | None = None) -> Forecast:
    """Forecast ``y`` with intervals; the model is chosen by history length (module doc).

    Parameters
    ----------
    y : Series
        Values indexed by UTC timestamps (gaps are interpolated and counted).
    horizon : int, Timedelta or str
        Steps ahead, or a duration (``"7d"``).
    level : float
        Prediction-interval coverage.
    step : Timedelta or str, optional
        Grid step; inferred from the index by default.
    seasonality : {"auto", "none"}
        ``"none"`` forces plain ETS.
    fit_window : Timedelta or str, optional
        Fit only the most recent stretch (after a known change in behaviour).
    nonnegative : bool, optional
        Clip the forecast and its interval at 0 (memory, counts, rates cannot go below);
        default: when the whole history is non-negative.

    Returns
    -------
    Forecast

    Examples
    --------
    >>> idx = pd.date_range("2024-01-01", periods=48, freq="h", tz="UTC")
    >>> y = pd.Series(np.arange(48.0), index=idx)
    >>> fc = forecast_series(y, "6h")
    >>> round(float(fc.frame["mean"].iloc[-1]))
    53
    """
    if not 0 < level < 1:
        raise DataError(f"level {level!r} must be between 0 and 1 (e.g. 0.95)")
    reg, notes = regularize(y, step)
    st = (infer_step(pd.DatetimeIndex(reg.index)) if step is None
          else parse_duration(step, name="step"))
    if fit_window is not None:
        reg = reg[reg.index > reg.index[-1] - parse_duration(fit_window, name="fit_window")]
    h = int(horizon) if isinstance(horizon, int | np.integer) else math.ceil(
        parse_duration(horizon, name="horizon") / st)
    if h < 1:
        raise DataError(f"horizon {horizon!r} is shorter than one step ({st})")
    periods = seasonal_periods(len(reg), st) if seasonality == "auto" else []
    if seasonality == "auto" and not periods:
        notes.append(f"no seasonality: {len(reg)} points of {st} cover fewer than two days")
    future = pd.date_range(reg.index[-1] + st, periods=h, freq=st)
    if periods:
        frame, method, more = _decomposed(reg, h, level, periods)
    else:
        frame, method, more = _ets(reg, h, level)
    notes += more
    if nonnegative if nonnegative is not None else bool((reg >= 0).all()):
        if (frame[["mean", "lower", "upper"]] < 0).to_numpy().any():
            notes.append("forecast clipped at 0 (the quantity cannot be negative)")
        frame[["mean", "lower", "upper"]] = frame[["mean", "lower", "upper"]].clip(lower=0)
    frame.index = future
    return Forecast(name=str(y.name), history=reg, frame=frame, level=level, method=method,
                    notes=notes)


def _decomposed(y: pd.Series, h: int, level: float,
                periods: list[int]) -> tuple[pd.DataFrame, str, list[str]]:
    from statsmodels.tsa.seasonal import MSTL, STL

    values = y.to_numpy()
    if len(periods) == 1:
        res = STL(values, period=periods[0], robust=True).fit()
        seasonals = [np.asarray(res.seasonal)]
        label = f"STL({periods[0]})"
    else:
        res = MSTL(values, periods=periods).fit()
        seas = np.asarray(res.seasonal)
        seasonals = [seas[:, i] for i in range(seas.shape[1])]
        label = f"MSTL({', '.join(map(str, periods))})"
    adjusted = pd.Series(values - sum(seasonals), index=y.index)
    frame, method, notes = _ets(adjusted, h, level)
    future_season = np.zeros(h)
    for p, s in zip(periods, seasonals, strict=True):
        last = s[-p:]
        future_season += np.resize(last, h)
    for c in ("mean", "lower", "upper"):
        frame[c] = frame[c].to_numpy() + future_season
    return frame, f"{label}+{method}", notes


# ------------------------------------------------------------------ time to limit

@dataclass(frozen=True)
class TimeToLimit:
    """When a forecast reaches a limit: a range, not a date.

    ``earliest`` comes from the pessimistic interval bound, ``likely`` from the mean,
    ``latest`` from the optimistic bound. ``None`` means "not within the horizon"
    (``beyond`` is then the horizon's end). All are durations after ``now``.
    """

    resource: str
    limit: float
    now: pd.Timestamp
    earliest: pd.Timedelta | None
    likely: pd.Timedelta | None
    latest: pd.Timedelta | None
    horizon_end: pd.Timestamp
    already: bool = False

    def as_dict(self) -> dict[str, object]:
        def at(d: pd.Timedelta | None) -> pd.Timestamp | None:
            return None if d is None else self.now + d

        return {"resource": self.resource, "limit": self.limit, "already_at_limit": self.already,
                "earliest": self.earliest, "likely": self.likely, "latest": self.latest,
                "earliest_at": at(self.earliest), "likely_at": at(self.likely),
                "latest_at": at(self.latest), "horizon_end": self.horizon_end}


def time_to_limit(fc: Forecast, limit: float, *, direction: Literal["up", "down"] = "up",
                  now: pd.Timestamp | None = None) -> TimeToLimit:
    """The range of times at which ``fc`` reaches ``limit``.

    The crossing time is interpolated linearly between forecast steps. For ``direction="up"``
    the upper bound crosses first (earliest), the mean next (likely), the lower bound last
    (latest); ``"down"`` mirrors it (a remaining quota falling to zero).
    """
    t0 = parse_time(now, name="now") if now is not None else fc.history.index[-1]
    last = float(fc.history.iloc[-1])
    sign = 1.0 if direction == "up" else -1.0
    if sign * (last - limit) >= 0:
        z = pd.Timedelta(0)
        return TimeToLimit(fc.name, limit, t0, z, z, z, fc.frame.index[-1], already=True)
    prev_t, prev = fc.history.index[-1], {c: last for c in ("mean", "lower", "upper")}
    found: dict[str, pd.Timedelta | None] = {"mean": None, "lower": None, "upper": None}
    times = fc.frame.index
    for col in found:
        vals = fc.frame[col].to_numpy()
        over = np.flatnonzero(sign * (vals - limit) >= 0)
        if not len(over):
            continue
        i = int(over[0])
        t1, v1 = times[i], vals[i]
        t_prev, v_prev = (times[i - 1], vals[i - 1]) if i else (prev_t, prev[col])
        frac = 0.0 if v1 == v_prev else (limit - v_prev) / (v1 - v_prev)
        found[col] = (t_prev + (t1 - t_prev) * float(np.clip(frac, 0, 1))) - t0
    early, late = ("upper", "lower") if direction == "up" else ("lower", "upper")
    return TimeToLimit(fc.name, limit, t0, found[early], found["mean"], found[late],
                       fc.frame.index[-1])


# ------------------------------------------------------------------ accuracy

def mase(actual: Sequence[float] | np.ndarray, forecast: Sequence[float] | np.ndarray,
         insample: Sequence[float] | np.ndarray, m: int = 1) -> float:
    """Mean absolute scaled error.

    ``mean(|actual - forecast|) / mean(|insample[t] - insample[t - m]|)``: the scale is the
    in-sample one-step seasonal-naive error, so a forecast as good as seasonal naive
    in-sample scores 1.

    Examples
    --------
    >>> mase([5, 7], [4, 9], [1, 2, 4, 7], m=1)  # errors 1, 2; naive diffs 1, 2, 3
    0.75
    """
    a, f, y = (np.asarray(x, dtype=float) for x in (actual, forecast, insample))
    if a.shape != f.shape or a.size == 0:
        raise DataError(f"actual ({a.size}) and forecast ({f.size}) must be non-empty and "
                        "equally long")
    if m < 1 or y.size <= m:
        raise DataError(f"MASE with season m={m} needs more than {m} in-sample points, got "
                        f"{y.size}")
    scale = float(np.mean(np.abs(y[m:] - y[:-m])))
    if scale == 0 or not np.isfinite(scale):
        raise DataError("MASE is undefined: the in-sample seasonal-naive error is 0 "
                        "(a constant or perfectly periodic series); report MAE instead")
    return float(np.mean(np.abs(a - f)) / scale)


def seasonal_naive(y: pd.Series | np.ndarray, h: int, m: int = 1) -> np.ndarray:
    """Repeat the last season: ``yhat[T + k] = y[T + k - m * ceil(k / m)]``."""
    v = np.asarray(y, dtype=float)
    if v.size < m:
        raise DataError(f"seasonal naive with m={m} needs at least {m} points")
    k = np.arange(1, h + 1)
    return v[v.size - m + (k - 1) % m]


def ets_forecaster(level: float = 0.95) -> Forecaster:
    """The default model of :func:`forecast_series` as a backtest forecaster (means only)."""
    def run(train: pd.Series, h: int) -> np.ndarray:
        return forecast_series(train, h, level=level).frame["mean"].to_numpy()
    return run


def rolling_origin_backtest(y: pd.Series, horizon: int, *, m: int | None = None,
                            origins: int | Sequence[int] = 5, min_train: int | None = None,
                            forecaster: Forecaster | None = None) -> pd.DataFrame:
    """Rolling-origin evaluation: refit at each origin, forecast ``horizon`` steps, score.

    Parameters
    ----------
    y : Series
        Regular series (see :func:`regularize`).
    horizon : int
        Steps forecast from each origin.
    m : int, optional
        Seasonal period for the naive baseline and the MASE scale; default: daily if the
        series holds two days, else 1.
    origins : int or sequence of int
        Number of origins spread evenly over the last part of the series, or the explicit
        training lengths.
    min_train : int, optional
        Shortest training set when origins are spread (default: half the series).
    forecaster : callable, optional
        ``f(train, h) -> means``; default: :func:`ets_forecaster`.

    Returns
    -------
    DataFrame
        One row per origin: ``origin`` (timestamp), ``train_size``, ``mase`` (model),
        ``mase_naive`` (seasonal naive), ``mae``, ``mae_naive``. ``attrs["summary"]`` has
        the means and ``skill`` = 1 - mase / mase_naive.
    """
    values = y.to_numpy(dtype=float)
    n = len(values)
    if m is None:
        per = seasonal_periods(n, infer_step(pd.DatetimeIndex(y.index)))
        m = per[0] if per else 1
    if isinstance(origins, int):
        lo = min_train or n // 2
        hi = n - horizon
        if hi <= lo or hi - lo < origins - 1:
            raise DataError(f"series of {n} points is too short for {origins} origins with "
                            f"horizon {horizon} and min_train {lo}")
        points = np.unique(np.linspace(lo, hi, origins).astype(int)).tolist()
    else:
        points = [int(o) for o in origins]
    fc = forecaster or ets_forecaster()
    rows = []
    for o in points:
        if o <= m or o + horizon > n:
            raise DataError(f"origin {o} leaves no room for season m={m} or horizon {horizon} "
                            f"in {n} points")
        train, test = y.iloc[:o], values[o:o + horizon]
        pred = np.asarray(fc(train, horizon), dtype=float)
        naive = seasonal_naive(values[:o], horizon, m)
        rows.append({"origin": y.index[o], "train_size": o,
                     "mase": mase(test, pred, values[:o], m),
                     "mase_naive": mase(test, naive, values[:o], m),
                     "mae": float(np.mean(np.abs(test - pred))),
                     "mae_naive": float(np.mean(np.abs(test - naive)))})
    out = pd.DataFrame(rows)
    mean_model, mean_naive = float(out["mase"].mean()), float(out["mase_naive"].mean())
    out.attrs["summary"] = {"mase": mean_model, "mase_naive": mean_naive, "m": m,
                            "horizon": horizon, "origins": len(out),
                            "skill": 1 - mean_model / mean_naive if mean_naive else float("nan")}
    return out

