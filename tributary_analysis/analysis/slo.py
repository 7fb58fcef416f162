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

**One definition, one computation.** Every report that shows an SLO shows the figures of
:func:`slo_status` over one :class:`SloDefinition` (objective, period, bin step, the burn
pairs and their warm-up) and one history (:meth:`SloDefinition.history`: the period ending
with the window, or the window plus the warm-up when that is longer), so the daily report,
the weekly SLO report and the latency report of one window cannot disagree. The definition
is written beside the number (:meth:`SloStatus.sentence`): how much of which budget is left,
extrapolated from how much data, and how that reconciles with the window's attainment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from tributary_analysis.analysis._common import infer_step, require_columns
from tributary_analysis.errors import ConfigError
from tributary_analysis.frames.meta import carry
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.format import human_duration
from tributary_analysis.ground.time import Window, parse_duration


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


def error_budget(counts: pd.DataFrame, objective: float = 0.999, period: str = "30d", *,
                 end: pd.Timestamp | None = None) -> ErrorBudget:
    """Error budget consumed and remaining over the last ``period`` of ``counts`` (the
    period ending at ``end``, default the last bin).

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
    end = s.index.max() if end is None else pd.Timestamp(end)
    s = s[(s.index > end - span) & (s.index <= end)]
    if s.empty:
        raise ConfigError(f"no requests in the {human_duration(span)} before "
                          f"{fmt.timestamp(end)}; widen the window or check the source")
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


def budget_consumption(counts: pd.DataFrame, objective: float = 0.999, period: str = "30d",
                       *, end: pd.Timestamp | None = None) -> pd.DataFrame:
    """The budget-consumption curve: share of the period's budget spent by each time.

    ``ideal`` is the straight line of spending exactly at 1× burn; above it, the budget
    runs out before the period ends.

    Returns
    -------
    DataFrame
        ``timestamp``, ``errors_cum``, ``requests_cum``, ``consumed``, ``remaining``,
        ``ideal``.
    """
    budget = error_budget(counts, objective, period, end=end)
    s = _overall(counts)
    s = s[(s.index > budget.end - budget.period) & (s.index <= budget.end)]
    out = pd.DataFrame({"timestamp": s.index,
                        "errors_cum": s["errors"].cumsum().to_numpy(),
                        "requests_cum": s["total"].cumsum().to_numpy()})
    out["consumed"] = out["errors_cum"] / budget.budget_requests
    out["remaining"] = 1.0 - out["consumed"]
    out["ideal"] = (out["timestamp"] - budget.start) / budget.period
    return carry(out, counts)


# ---------------------------------------------------------------------- one definition


@dataclass(frozen=True)
class SloDefinition:
    """The availability SLO every report shows: one objective, period, bin step and set of
    burn-rate pairs; the warm-up is the longest pair window, so each pair can fire from the
    window's first bin.

    Examples
    --------
    >>> d = SloDefinition(objective=0.999, period="30d")
    >>> d.history(Window.of("2026-01-31", "2026-02-01")).label()
    '2026-01-02 00:00 – 2026-02-01 00:00 UTC'
    >>> d.describe()
    'a request is bad when it fails with a 5xx; objective 99.9 % of requests over 30 d'
    """

    objective: float = 0.999
    period: str = "30d"
    step: str = "5m"
    windows: tuple[BurnRateWindow, ...] = SRE_WORKBOOK_WINDOWS

    def __post_init__(self) -> None:
        _check_objective(self.objective)
        parse_duration(self.period, name="slo_period")

    @property
    def period_span(self) -> pd.Timedelta:
        return parse_duration(self.period, name="slo_period")

    @property
    def warmup(self) -> pd.Timedelta:
        """The longest burn window: history a pair needs before it can fire."""
        return max(parse_duration(w.long) for w in self.windows)

    def history(self, window: Window) -> Window:
        """What :func:`slo_status` reads: the period ending with the window, or the window
        and the warm-up before it when that is longer."""
        span = max(self.period_span, window.duration + self.warmup)
        return Window(window.end - span, window.end)

    def describe(self) -> str:
        """What a bad request is and what is promised."""
        return (f"a request is bad when it fails with a 5xx; objective "
                f"{fmt.percent(self.objective)} of requests over "
                f"{human_duration(self.period_span)}")

    def pairs(self) -> str:
        """``1h/5m at 14.4×, 6h/30m at 6×, 3d/6h at 1×``."""
        return ", ".join(f"{w.long}/{w.short} at {w.factor:g}×" for w in self.windows)


@dataclass(frozen=True)
class SloStatus:
    """The SLO over one window: attainment in the window, the budget of the period ending
    with it, and the burn-rate pairs that fired in it — every figure a report shows."""

    definition: SloDefinition
    window: Window
    requests: float
    errors: float
    attainment: float
    budget: ErrorBudget
    burn: pd.DataFrame
    rates: pd.DataFrame
    data_end: pd.Timestamp | None

    @property
    def remaining(self) -> float:
        return float(self.budget.remaining)

    @property
    def fired(self) -> pd.DataFrame:
        """The pairs that fired in the window (``pair``, ``factor``, ``severity``,
        ``time_firing``, ``first_fired``, ``last_fired``)."""
        f = self.burn[self.burn["time_firing"] > pd.Timedelta(0)]
        return f[["pair", "factor", "severity", "time_firing", "first_fired", "last_fired"]]

    def budget_sentence(self) -> str:
        """How much of which budget is left, and how it follows from the data."""
        b, d = self.budget, self.definition
        period = period_name(b.period)
        allowed = 1.0 - d.objective
        covered = fmt.approx_duration(b.coverage * b.period)
        ratio = 1.0 - b.attainment if np.isfinite(b.attainment) else np.nan
        burn = ratio / allowed if np.isfinite(ratio) else np.nan
        left = ("the budget is exhausted" if b.remaining <= 0
                else f"{fmt.percent(b.remaining)} left")
        head = f"{left} of a {period} error budget at {fmt.percent(d.objective)}"
        if b.extrapolated:
            return (f"{head}, extrapolated from {covered} of data: those {covered} failed "
                    f"{fmt.percent(ratio)} of requests ({fmt.multiplier(burn)} the "
                    f"{fmt.percent(allowed)} the objective allows), and {covered} at "
                    f"{fmt.multiplier(burn)} spend {fmt.percent(b.consumed)} of a {period} "
                    "budget")
        return (f"{head}: the last {human_duration(b.period)} failed {fmt.percent(ratio)} "
                f"of requests ({fmt.multiplier(burn)} the {fmt.percent(allowed)} the "
                "objective allows)")

    def sentence(self) -> str:
        """The definition written beside the numbers (one paragraph)."""
        same = abs((self.budget.end - self.budget.start) - self.window.duration) \
            <= pd.Timedelta(minutes=10) and self.budget.end == self.window.end
        att = (f"Attainment over the report's window ({human_duration(self.window.duration)})"
               f": {fmt.percent(self.attainment)}." if not same and np.isfinite(self.attainment)
               else "")
        burn = (f"Burn-rate pairs ({self.definition.pairs()}) on "
                f"{_bin_name(self.definition.step)} bins with "
                f"{fmt.approx_duration(self.definition.warmup)} of warm-up before the "
                "window.")
        return " ".join(p for p in (fmt_sentence(self.budget_sentence()), att, burn) if p)

    def fired_sentence(self) -> str:
        """``3d/6h (ticket) fired for 6 h 30 min from …`` or that none fired."""
        f = self.fired
        if f.empty:
            return "No burn-rate pair fired in the window."
        parts = [f"{r['pair']} ({r['severity']}) fired for "
                 f"{human_duration(pd.Timedelta(r['time_firing']))}, first at "
                 f"{fmt.timestamp(r['first_fired'])}" for r in f.to_dict("records")]
        return "Burn-rate alerts: " + "; ".join(parts) + "."


def fmt_sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop."""
    text = text.strip()
    if not text:
        return text
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _bin_name(step: str) -> str:
    """``5-minute`` for ``5m``."""
    span = parse_duration(step)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        n = span.total_seconds() / size
        if n >= 1 and float(n).is_integer():
            return f"{n:g}-{unit}"
    return human_duration(span)


def period_name(period: pd.Timedelta) -> str:
    """``30-day`` (a whole number of days), else the duration."""
    days = period / pd.Timedelta(days=1)
    return f"{days:g}-day" if float(days).is_integer() else human_duration(period)


def slo_status(counts: pd.DataFrame, definition: SloDefinition, window: Window
               ) -> SloStatus | Insufficient:
    """Every SLO figure of ``window`` from one counts frame over
    ``definition.history(window)`` (:func:`tributary_analysis.fetch.slo_requests`).

    Returns
    -------
    SloStatus or Insufficient
        ``Insufficient`` when the period holds no request at all (nothing to judge).

    Examples
    --------
    >>> ts = pd.date_range("2026-01-01 00:05", periods=288, freq="5min", tz="UTC")
    >>> c = pd.DataFrame({"timestamp": ts, "errors": [1.0] * 288, "total": [1000.0] * 288})
    >>> st = slo_status(c, SloDefinition(period="2d"), Window.of("2026-01-01", "2026-01-02"))
    >>> fmt.percent(st.attainment), fmt.percent(st.remaining)
    ('99.9 %', '50.0 %')
    """
    s = _overall(counts) if len(counts) else pd.DataFrame(columns=["errors", "total"])
    inside = s[(s.index > window.end - definition.period_span) & (s.index <= window.end)] \
        if len(s) else s
    if inside.empty or float(inside["total"].sum()) <= 0:
        return Insufficient("the availability SLO",
                            f"no requests in the {human_duration(definition.period_span)} "
                            "before the window's end", "at least one request")
    budget = error_budget(counts, definition.objective, definition.period, end=window.end)
    # the window's bins as the fetch layer returns them for a window: those ending at
    # start … end (Prometheus's range includes both instants), as every other count on the
    # page is summed
    in_window = s[(s.index >= window.start) & (s.index <= window.end)]
    requests, errs = float(in_window["total"].sum()), float(in_window["errors"].sum())
    rates = burn_rates(counts, definition.objective, definition.windows)
    rates = rates[(rates.index >= window.start) & (rates.index <= window.end)]
    burn = burn_rate_summary(rates, definition.windows)
    return SloStatus(definition=definition, window=window, requests=requests, errors=errs,
                     attainment=1.0 - errs / requests if requests else np.nan,
                     budget=budget, burn=burn, rates=rates,
                     data_end=pd.Timestamp(s.index.max()) if len(s) else None)
