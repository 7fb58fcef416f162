"""Service-level objectives: error budget, burn rates, budget consumption.

Request-based SLO: the *objective* is the share of requests that must succeed (e.g.
0.999); the *error budget* over a period is ``(1 - objective) × requests in the period``.
A *burn rate* is the error ratio over a window divided by ``1 - objective``: burning at 1×
spends exactly the budget by the period's end. Alerting uses the multi-window pairs of the
Google SRE workbook ("Alerting on SLOs", table 5-8): page when both the long and the short
window burn faster than the factor.

Input is a counts frame (``timestamp``, ``errors``, ``total`` per bin) from
:mod:`tributary_analysis.analysis.errors`. A bin's timestamp is the *end* of the interval it
counts (Prometheus ``increase(x[step])`` evaluated at ``t`` covers ``(t - step, t]``), so a
rolling window ending at ``t`` sums exactly the bins inside it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from tributary_analysis.analysis._common import infer_step, require_columns
from tributary_analysis.errors import ConfigError
from tributary_analysis.frames.meta import carry
from tributary_analysis.ground.format import human_duration
from tributary_analysis.ground.time import parse_duration


@dataclass(frozen=True)
class BurnRateWindow:
    """One multi-window alert condition: both windows must burn faster than ``factor``."""

    long: str
    short: str
    factor: float
    severity: str

    @property
    def budget_spent(self) -> str:
        """Share of a 30-day budget a sustained burn at ``factor`` spends in ``long``."""
        share = self.factor * parse_duration(self.long) / pd.Timedelta(days=30)
        return f"{share:.0%}"


#: The SRE workbook's recommended pairs for a 30-day window.
SRE_WORKBOOK_WINDOWS: tuple[BurnRateWindow, ...] = (
    BurnRateWindow("1h", "5m", 14.4, "page"),
    BurnRateWindow("6h", "30m", 6.0, "page"),
    BurnRateWindow("3d", "6h", 1.0, "ticket"),
)


def _check_objective(objective: float) -> float:
    if not (isinstance(objective, int | float) and 0.0 < float(objective) < 1.0):
        raise ConfigError(
            f"objective={objective!r} must be a fraction strictly between 0 and 1, "
            "e.g. 0.999 for 99.9%"
        )
    return float(objective)


def _overall(counts: pd.DataFrame) -> pd.DataFrame:
    require_columns(counts, ["timestamp", "errors", "total"], what="counts frame",
                    hint="build it with request_counts() or request_counts_from_logs()")
    s = counts.groupby("timestamp", sort=True)[["errors", "total"]].sum()
    s.index = pd.DatetimeIndex(s.index)
    return s


@dataclass(frozen=True)
class ErrorBudget:
    """Error budget status for one objective and period."""

    objective: float
    period: pd.Timedelta
    start: pd.Timestamp
    end: pd.Timestamp
    requests: float
    errors: float
    attainment: float
    budget_requests: float
    consumed: float
    remaining: float
    coverage: float
    extrapolated: bool

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self) -> str:
        """One sentence for a notebook or report."""
        note = (f" (period traffic extrapolated from {self.coverage:.0%} of the period)"
                if self.extrapolated else "")
        return (f"Objective {self.objective:.3%} over {human_duration(self.period)}: attainment "
                f"{self.attainment:.4%}, {self.consumed:.1%} of the error budget consumed, "
                f"{self.remaining:.1%} remaining{note}.")


def error_budget(counts: pd.DataFrame, objective: float = 0.999, period: str = "30d"
                 ) -> ErrorBudget:
    """Error budget consumed and remaining over the last ``period`` of ``counts``.

    When the data cover less than the period, the period's request total is extrapolated
    from the observed rate (``requests × period / covered``) and ``extrapolated`` is set:
    a budget cannot be judged without knowing how many requests the period will hold.

    Examples
    --------
    >>> ts = pd.date_range("2026-01-01", periods=4, freq="1h", tz="UTC")
    >>> c = pd.DataFrame({"timestamp": ts, "errors": [0, 1, 1, 0.0], "total": [1000.0] * 4})
    >>> b = error_budget(c, objective=0.999, period="4h")
    >>> round(b.consumed, 3), round(b.remaining, 3)
    (0.5, 0.5)
    """
    obj = _check_objective(objective)
    span = parse_duration(period, name="period")
    s = _overall(counts)
    if s.empty:
        raise ConfigError("the counts frame is empty; widen the window or check the source")
    step = infer_step(pd.Series(s.index), what="counts frame") if len(s) > 1 \
        else pd.Timedelta(0)
    end = s.index.max()
    s = s[s.index > end - span]
    covered = min(span, (s.index.max() - s.index.min()) + step)
    requests, errors = float(s["total"].sum()), float(s["errors"].sum())
    coverage = covered / span
    period_requests = requests / coverage if coverage > 0 else requests
    budget = (1.0 - obj) * period_requests
    consumed = errors / budget if budget > 0 else np.nan
    return ErrorBudget(
        objective=obj, period=span, start=s.index.min() - step, end=end,
        requests=requests, errors=errors,
        attainment=1.0 - errors / requests if requests else np.nan,
        budget_requests=budget, consumed=consumed, remaining=1.0 - consumed,
        coverage=float(coverage), extrapolated=bool(coverage < 0.999),
    )


def burn_rates(
    counts: pd.DataFrame,
    objective: float = 0.999,
    windows: tuple[BurnRateWindow, ...] = SRE_WORKBOOK_WINDOWS,
) -> pd.DataFrame:
    """Burn rate over every long and short window, and whether each pair would fire.

    Returns
    -------
    DataFrame
        Indexed by ``timestamp``: one ``burn_<w>`` column per distinct window (NaN until
        the window is filled with data) and one boolean ``fire_<long>_<short>`` per pair.

    Examples
    --------
    >>> ts = pd.date_range("2026-01-01", periods=12, freq="5min", tz="UTC")
    >>> c = pd.DataFrame({"timestamp": ts, "errors": [0.0] * 11 + [10.0],
    ...                   "total": [1000.0] * 12})
    >>> float(round(burn_rates(c, 0.999)["burn_5m"].iloc[-1], 6))
    10.0
    """
    obj = _check_objective(objective)
    s = _overall(counts)
    step = infer_step(pd.Series(s.index), what="counts frame")
    out = pd.DataFrame(index=s.index)
    names = []
    for w in windows:
        for name in (w.long, w.short):
            if name not in names:
                names.append(name)
    for name in names:
        span = parse_duration(name, name="window")
        if span < step:
            raise ConfigError(f"burn-rate window {name} is shorter than the data step "
                              f"{step}; query with a step of at most {name}")
        rolled = s[["errors", "total"]].rolling(span).sum()
        filled = (s.index - s.index.min() + step) >= span
        with np.errstate(invalid="ignore", divide="ignore"):
            burn = rolled["errors"] / rolled["total"] / (1.0 - obj)
        out[f"burn_{name}"] = burn.where(filled)
    for w in windows:
        out[f"fire_{w.long}_{w.short}"] = (
            (out[f"burn_{w.long}"] > w.factor) & (out[f"burn_{w.short}"] > w.factor)
        )
    out.index.name = "timestamp"
    return carry(out, counts, step=step)


def burn_rate_summary(rates: pd.DataFrame,
                      windows: tuple[BurnRateWindow, ...] = SRE_WORKBOOK_WINDOWS
                      ) -> pd.DataFrame:
    """Per pair: factor, current and peak burn, minutes firing, first and last firing time."""
    rows = []
    step = infer_step(pd.Series(rates.index), what="burn-rate frame") if len(rates) > 1 \
        else pd.Timedelta(0)
    for w in windows:
        fire = rates[f"fire_{w.long}_{w.short}"]
        longb = rates[f"burn_{w.long}"]
        rows.append({
            "pair": f"{w.long}/{w.short}", "factor": w.factor, "severity": w.severity,
            "budget_spent_at_factor": w.budget_spent,
            "current_burn_long": float(longb.iloc[-1]) if len(longb) else np.nan,
            "peak_burn_long": float(longb.max()) if longb.notna().any() else np.nan,
            "firing_now": bool(fire.iloc[-1]) if len(fire) else False,
            "time_firing": step * int(fire.sum()),
            "first_fired": fire.index[fire.to_numpy()].min() if fire.any() else pd.NaT,
            "last_fired": fire.index[fire.to_numpy()].max() if fire.any() else pd.NaT,
        })
    return carry(pd.DataFrame(rows), rates)


def budget_consumption(counts: pd.DataFrame, objective: float = 0.999, period: str = "30d"
                       ) -> pd.DataFrame:
    """The budget-consumption curve: share of the period's budget spent by each time.

    ``ideal`` is the straight line of spending exactly at 1× burn; above it, the budget
    runs out before the period ends.

    Returns
    -------
    DataFrame
        ``timestamp``, ``errors_cum``, ``requests_cum``, ``consumed``, ``remaining``,
        ``ideal``.
    """
    budget = error_budget(counts, objective, period)
    s = _overall(counts)
    s = s[s.index > budget.end - budget.period]
    out = pd.DataFrame({"timestamp": s.index,
                        "errors_cum": s["errors"].cumsum().to_numpy(),
                        "requests_cum": s["total"].cumsum().to_numpy()})
    out["consumed"] = out["errors_cum"] / budget.budget_requests
    out["remaining"] = 1.0 - out["consumed"]
    out["ideal"] = (out["timestamp"] - budget.start) / budget.period
    return carry(out, counts)
