"""Per-tenant usage: totals, shares, Pareto, growth, noisy neighbours, chargeback.

Growth between weeks is :func:`week_over_week` (the last 24 h against the same 24 h a week
earlier), withheld as :class:`~tributary_analysis.ground.claims.Insufficient` with fewer
than 8 days of history; :func:`growth` keeps its fitted path for a trend *within* a short
window, which is not growth and is never shown as such. :func:`closest_tenants` names the
known ids nearest to one that had no traffic (a typo is the usual reason).

Counters come in as per-bin increases (``increase(x[step])`` by ``tenant_id``) and are
summed. The business gauges (``datasets_total``, ``vectors_total``) are reported by every
replica with the same value, so they are collapsed with ``max`` across ``instance`` —
summing them would multiply the tenant's data by the replica count.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu, poisson
from statsmodels.stats.multitest import multipletests

from tributary_analysis.analysis._common import (
    as_list,
    infer_step,
    require_columns,
    utc_timestamps,
)
from tributary_analysis.errors import ConfigError, DataError
from tributary_analysis.frames.meta import carry
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import parse_duration

TENANT = "tenant_id"
REPLICA_LABELS = ("instance", "pod", "job")
#: days of history week-over-week growth needs (the compared day a week back, plus it)
GROWTH_MIN_DAYS = 8.0
#: share of the hourly bins of the earlier day that must hold data
GROWTH_MIN_COVERAGE = 0.9


def _finite(values: pd.Series) -> pd.Series:
    v = values.astype("float64")
    return v.where(np.isfinite(v))


def replica_gauge(frame: pd.DataFrame, by: str | Sequence[str] = (TENANT,), how: str = "max"
                  ) -> pd.DataFrame:
    """Collapse a gauge reported by every replica into one series per ``by`` group.

    ``how="max"`` for values every replica reports identically (business gauges);
    ``"mean"`` for per-replica measurements such as a cache hit ratio.
    """
    keys = as_list(by)
    require_columns(frame, ["timestamp", "value", *keys], what="gauge frame")
    if how not in {"max", "mean", "sum"}:
        raise ConfigError(f"how={how!r} must be 'max', 'mean' or 'sum'")
    df = frame.assign(value=_finite(frame["value"]))
    out = df.groupby(["timestamp", *keys], observed=True, sort=True)["value"].agg(how)
    return carry(out.reset_index(), frame)


def _no_series(frame: pd.DataFrame, name: str) -> pd.Series | None:
    """An empty query result (no series at all, so no label columns) means zero for all.

    Prometheus returns nothing, not zeros, when e.g. no tenant ever hit a rate limit.
    """
    if len(frame) == 0:
        return pd.Series(dtype="float64", name=name, index=pd.Index([], name=TENANT))
    return None


def _counter_totals(frame: pd.DataFrame | None, name: str) -> pd.Series | None:
    if frame is None:
        return None
    if (empty := _no_series(frame, name)) is not None:
        return empty
    require_columns(frame, [TENANT, "value"], what=f"{name} frame",
                    hint=f"fetch it with fetch.tenant_usage_data(source, window, step) "
                         f"(its {name!r} frame)")
    return frame.assign(value=_finite(frame["value"])).groupby(
        TENANT, observed=True)["value"].sum().rename(name)


def _gauge_last(frame: pd.DataFrame | None, name: str, *, inner: Sequence[str] = ()
                ) -> pd.Series | None:
    """Last value per tenant after max-across-replicas and summing over ``inner`` labels."""
    if frame is None:
        return None
    if (empty := _no_series(frame, name)) is not None:
        return empty
    per = replica_gauge(frame, [TENANT, *inner], how="max")
    if inner:
        per = per.groupby(["timestamp", TENANT], observed=True)["value"].sum().reset_index()
    last_ts = per.groupby(TENANT, observed=True)["timestamp"].transform("max")
    return per[per["timestamp"] == last_ts].groupby(TENANT, observed=True)["value"].sum(
        ).rename(name)


def tenant_usage(
    *,
    requests: pd.DataFrame | None = None,
    searches: pd.DataFrame | None = None,
    vector_ops: pd.DataFrame | None = None,
    datasets: pd.DataFrame | None = None,
    vectors: pd.DataFrame | None = None,
    cache_hit_ratio: pd.DataFrame | None = None,
    rate_limit_hits: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """One row per tenant with everything known about its usage in the window.

    Parameters
    ----------
    requests, searches, vector_ops, rate_limit_hits : DataFrame, optional
        Metric frames of per-bin increases with a ``tenant_id`` label; summed.
    datasets : DataFrame, optional
        ``datasets_total`` samples (``tenant_id``, maybe ``instance``); the last value,
        max across replicas.
    vectors : DataFrame, optional
        ``vectors_total`` samples (``dataset_id``, ``tenant_id``, maybe ``instance``): max
        across replicas, summed over datasets, last value.
    cache_hit_ratio : DataFrame, optional
        ``cache_hit_ratio`` samples; the mean over time and replicas.

    Returns
    -------
    DataFrame
        Indexed by ``tenant_id``; one column per input given, plus ``<col>_share`` for the
        counters. Sorted by requests (or the first counter) descending.
    """
    parts = [
        _counter_totals(requests, "requests"), _counter_totals(searches, "searches"),
        _counter_totals(vector_ops, "vector_ops"),
        _gauge_last(datasets, "datasets"),
        _gauge_last(vectors, "vectors", inner=("dataset_id",) if vectors is not None
                    and "dataset_id" in vectors.columns else ()),
        _counter_totals(rate_limit_hits, "rate_limit_hits"),
    ]
    if cache_hit_ratio is not None and len(cache_hit_ratio) > 0:
        require_columns(cache_hit_ratio, [TENANT, "value"], what="cache_hit_ratio frame")
        parts.append(cache_hit_ratio.assign(value=_finite(cache_hit_ratio["value"])).groupby(
            TENANT, observed=True)["value"].mean().rename("cache_hit_ratio"))
    given = [p for p in parts if p is not None]
    if not given:
        raise DataError("tenant_usage() got no frames; pass at least requests=…")
    out = pd.concat(given, axis=1)
    out.index = out.index.astype("string")
    out.index.name = TENANT
    for col in ("requests", "searches", "vector_ops", "rate_limit_hits", "datasets",
                "vectors"):
        if col in out:
            out[col] = out[col].fillna(0.0)
            total = out[col].sum()
            out[f"{col}_share"] = out[col] / total if total > 0 else np.nan
    sort_col = next((c for c in ("requests", "searches", "vector_ops") if c in out),
                    out.columns[0])
    out = out.sort_values(sort_col, ascending=False, kind="stable")
    frames = [f for f in (requests, searches, vector_ops, datasets, vectors,
                          cache_hit_ratio, rate_limit_hits) if f is not None]
    return carry(out, *frames)


def pareto(usage: pd.DataFrame, column: str = "requests", *, target: float = 0.8
           ) -> pd.DataFrame:
    """Tenants sorted by ``column`` with cumulative share; ``attrs['tenants_for_target']``
    is how many tenants make up ``target`` of the total."""
    if column not in usage.columns:
        raise DataError(f"usage table has no column {column!r}; have: "
                        + ", ".join(map(str, usage.columns)))
    s = usage[column].fillna(0.0).sort_values(ascending=False, kind="stable")
    total = float(s.sum())
    out = pd.DataFrame({column: s, "share": s / total if total else np.nan})
    out["cumulative_share"] = out["share"].cumsum()
    out["rank"] = np.arange(1, len(out) + 1)
    n = int((out["cumulative_share"] < target - 1e-12).sum() + 1) if total else 0
    carry(out, usage)
    out.attrs.update(tenants_for_target=min(n, len(out)), target=target,
                     tenant_share_for_target=min(n, len(out)) / max(len(out), 1))
    return out


def growth(
    series: pd.DataFrame,
    *,
    by: str = TENANT,
    min_days_for_wow: float = 8.0,
) -> pd.DataFrame:
    """Growth of each tenant's activity, with the method stated.

    With at least ``min_days_for_wow`` days of data: **week-over-week**, the last 24 hours
    against the same 24 hours one week earlier. With less: the **fitted growth rate** of a
    Poisson regression of per-hour counts on time (statsmodels GLM, log link, dispersion
    from Pearson χ²), reported per day and per week with a 95 % interval.

    Parameters
    ----------
    series : DataFrame
        Per-bin counts (``timestamp``, ``by``, ``value``), e.g. request increases.

    Returns
    -------
    DataFrame
        Per tenant: ``method``, ``growth_per_day``, ``growth_per_week`` (fractions, 0.1 =
        +10 %), ``low_per_week``/``high_per_week`` (fit only), ``current``, ``earlier``
        (week-over-week only), sorted by ``growth_per_week`` descending.
    """
    require_columns(series, ["timestamp", by, "value"], what="growth input")
    if len(series) == 0:  # no traffic at all in the window: nothing grew
        return carry(pd.DataFrame(columns=[by, "method", "growth_per_day",
                                           "growth_per_week", "low_per_week",
                                           "high_per_week", "current", "earlier"]), series)
    df = series.assign(timestamp=utc_timestamps(series["timestamp"], what="growth input"),
                       value=_finite(series["value"]).fillna(0.0))
    t0, t1 = df["timestamp"].min(), df["timestamp"].max()
    step = infer_step(df["timestamp"], what="growth input")
    span = (t1 - t0) + step
    rows = []
    for tenant, part in df.groupby(by, observed=True, sort=True):
        per = part.groupby("timestamp")["value"].sum()
        if span >= pd.Timedelta(days=min_days_for_wow):
            rows.append({by: str(tenant), **_wow(per, t1, step)})
        else:
            rows.append({by: str(tenant), **_fitted(per, t0, t1, step)})
    out = pd.DataFrame(rows)
    if out.empty:
        return carry(out, series)
    out = out.sort_values("growth_per_week", ascending=False, kind="stable",
                          na_position="last").reset_index(drop=True)
    return carry(out, series)


def _wow(per: pd.Series, t1: pd.Timestamp, step: pd.Timedelta) -> dict[str, object]:
    day, week = pd.Timedelta(days=1), pd.Timedelta(days=7)
    end = t1 + step
    cur = float(per[(per.index >= end - day) & (per.index < end)].sum())
    earlier = float(per[(per.index >= end - day - week) & (per.index < end - week)].sum())
    g = cur / earlier - 1.0 if earlier > 0 else np.nan
    return {"method": "week_over_week (last 24h vs same 24h a week earlier)",
            "growth_per_week": g, "growth_per_day": (1 + g) ** (1 / 7) - 1 if g > -1 else g,
            "low_per_week": np.nan, "high_per_week": np.nan, "current": cur,
            "earlier": earlier}


def _fitted(per: pd.Series, t0: pd.Timestamp, t1: pd.Timestamp, step: pd.Timedelta
            ) -> dict[str, object]:
    hourly = per.resample("1h", origin=t0).sum()
    full = pd.date_range(hourly.index.min() if len(hourly) else t0.floor("1h"),
                         t1, freq="1h")
    hourly = hourly.reindex(full, fill_value=0.0) if len(full) else hourly
    base = {"method": "fitted (Poisson regression of hourly counts on time)",
            "current": float(per.sum()), "earlier": np.nan}
    if len(hourly) < 3 or hourly.sum() <= 0:
        return {**base, "growth_per_day": np.nan, "growth_per_week": np.nan,
                "low_per_week": np.nan, "high_per_week": np.nan}
    import statsmodels.api as sm  # slow to import; only the fitted-growth path needs it

    days = (hourly.index - hourly.index[0]) / pd.Timedelta(days=1)
    x = sm.add_constant(np.asarray(days, dtype=float))
    fit = sm.GLM(hourly.to_numpy(dtype=float), x, family=sm.families.Poisson()).fit(
        scale="X2")
    slope = float(fit.params[1])
    lo, hi = (float(v) for v in fit.conf_int(alpha=0.05)[1])
    return {**base, "growth_per_day": float(np.expm1(slope)),
            "growth_per_week": float(np.expm1(7 * slope)),
            "low_per_week": float(np.expm1(7 * lo)), "high_per_week": float(np.expm1(7 * hi))}


def _robust_z(x: pd.Series) -> pd.Series:
    med = x.median()
    mad = (x - med).abs().median() * 1.4826
    if not np.isfinite(mad) or mad <= 0:
        sd = x.std()
        mad = sd if np.isfinite(sd) and sd > 0 else 1.0
    return (x - med) / mad


def noisy_neighbours(
    rates: pd.DataFrame,
    latency: pd.DataFrame,
    *,
    max_lag: int = 2,
    surge_factor: float = 2.0,
    surge_p: float = 1e-3,
    elevated_z: float = 2.0,
    min_surge_bins: int = 3,
    min_score: float = 0.71,
    alpha: float = 1e-3,
    smooth: int = 3,
    baseline: str = "24h",
) -> pd.DataFrame:
    """Score each tenant as a noisy neighbour: its surge coinciding with others' latency.

    *Surge bins* of tenant ``T``: T sent at least ``surge_factor`` times its expected
    count and the excess is significant under a Poisson model (upper tail below
    ``surge_p``; scipy). The expected count is T's usual *share* of all requests (rolling
    median over ``baseline``, centred, so slow organic growth is no surge) times the bin's
    total — the share, because daily seasonality lifts every tenant at once; the Poisson
    test keeps a small tenant's 1 → 4 requests from counting.

    *Others' latency* ``y``: per bin, the median over the *other* tenants of their latency
    robust z-score (smoothed over ``smooth`` bins, then re-standardised).

    ``score`` is the probability that the others' latency in one of T's surge bins is
    higher than in one of its normal bins (the Mann–Whitney U effect size; 0.5 = no
    relation, 1 = always higher), at the best lag in ``0..max_lag`` bins (latency may
    trail the surge); ``p_value`` is the one-sided Mann–Whitney test, Benjamini–Hochberg
    adjusted over tenants (``q_value``). ``overlap`` is the share of surge bins in which
    the others' latency is clearly elevated (``y > elevated_z``). A tenant is flagged
    ``noisy`` with at least ``min_surge_bins`` surge bins, ``q_value < alpha`` and
    ``score ≥ min_score`` (0.71: a "large" effect).

    Parameters
    ----------
    rates : DataFrame
        Per-bin request *counts* per tenant (``timestamp``, ``tenant_id``, ``value``);
        the Poisson test needs counts, not per-second rates.
    latency : DataFrame
        Per-bin latency per tenant on the same grid (e.g. mean or p95 seconds).

    Returns
    -------
    DataFrame
        ``tenant_id``, ``score``, ``q_value``, ``overlap``, ``best_lag`` (bins),
        ``surge_bins``, ``peak_ratio`` (largest count / expected), ``noisy``; noisy first,
        then by ``q_value`` and score.
    """
    for f, what in ((rates, "rates frame"), (latency, "latency frame")):
        require_columns(f, ["timestamp", TENANT, "value"], what=what)
    r = rates.assign(value=_finite(rates["value"])).pivot_table(
        index="timestamp", columns=TENANT, values="value", aggfunc="sum", observed=True)
    lat = latency.assign(value=_finite(latency["value"])).pivot_table(
        index="timestamp", columns=TENANT, values="value", aggfunc="mean", observed=True)
    idx = r.index.union(lat.index)
    r = r.reindex(idx).fillna(0.0)
    total = r.sum(axis=1)
    share = r.div(total.where(total > 0), axis=0).fillna(0.0)
    usual = share.rolling(parse_duration(baseline, name="baseline"), center=True,
                          min_periods=1).median()
    lat = lat.reindex(idx)
    if smooth > 1:
        lat = lat.rolling(smooth, center=True, min_periods=1).mean()
    lat_z = lat.apply(_robust_z)
    rows = []
    for tenant in r.columns:
        others = [c for c in lat_z.columns if c != tenant]
        if not others:
            continue
        y = _robust_z(lat_z[others].median(axis=1, skipna=True))
        expected = (usual[tenant] * total).to_numpy()
        count = r[tenant].to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            tail = poisson.sf(np.ceil(count) - 1, np.maximum(expected, 1e-9))
            ratio = np.where(expected > 0, count / expected, np.nan)
        surge = (count >= surge_factor * expected) & (tail < surge_p) & (expected > 0)
        best: tuple[float, float, int, float] = (np.nan, np.nan, 0, 0.0)
        for lag in range(max_lag + 1):
            ys = y.shift(-lag).to_numpy()
            ok = np.isfinite(ys)
            a, b = ys[surge & ok], ys[~surge & ok]
            if len(a) < 1 or len(b) < 1:
                continue
            res = mannwhitneyu(a, b, alternative="greater")
            eff = float(res.statistic) / (len(a) * len(b))
            if not np.isfinite(best[0]) or eff > best[0]:
                best = (eff, float(res.pvalue), lag, float((a > elevated_z).mean()))
        score, p, lag, overlap = best
        rows.append({TENANT: str(tenant), "score": score, "p_value": p, "overlap": overlap,
                     "best_lag": lag, "surge_bins": int(surge.sum()),
                     "peak_ratio": float(np.nanmax(ratio)) if np.isfinite(ratio).any()
                     else np.nan})
    cols = [TENANT, "score", "p_value", "overlap", "best_lag", "surge_bins", "peak_ratio"]
    out = pd.DataFrame(rows, columns=cols)
    pv = out["p_value"].to_numpy(dtype=float)
    q = np.full(len(out), np.nan)
    if np.isfinite(pv).any():
        q[np.isfinite(pv)] = multipletests(pv[np.isfinite(pv)], method="fdr_bh")[1]
    out["q_value"] = q
    out["noisy"] = (out["surge_bins"] >= min_surge_bins) & (out["q_value"] < alpha) \
        & (out["score"] >= min_score)
    out = out.sort_values(["noisy", "q_value", "score"], ascending=[False, True, False],
                          kind="stable", na_position="last").reset_index(drop=True)
    out = out[[TENANT, "score", "q_value", "overlap", "best_lag", "surge_bins", "peak_ratio",
               "noisy"]]
    return carry(out, rates, latency)


def chargeback(usage: pd.DataFrame, prices: Mapping[str, float] | None = None
               ) -> pd.DataFrame:
    """An export table for chargeback: usage units per tenant, shares and optional cost.

    Parameters
    ----------
    usage : DataFrame
        :func:`tenant_usage` output.
    prices : mapping, optional
        Price per unit for usage columns, e.g. ``{"requests": 1e-6, "vectors": 1e-7}``.
        Unknown columns are an error (a typo would silently charge nothing).

    Returns
    -------
    DataFrame
        A flat table (``tenant_id`` column, no index) ready for CSV.
    """
    units = [c for c in ("requests", "searches", "vector_ops", "datasets", "vectors",
                         "rate_limit_hits") if c in usage.columns]
    out = usage[units].copy()
    for c in units:
        total = out[c].sum()
        out[f"{c}_share"] = out[c] / total if total > 0 else np.nan
    if prices:
        unknown = [k for k in prices if k not in units]
        if unknown:
            raise ConfigError(f"prices for unknown usage column(s) {', '.join(unknown)}; "
                              f"known: {', '.join(units)}")
        out["cost"] = sum(out[k] * float(v) for k, v in prices.items())
        total_cost = out["cost"].sum()
        out["cost_share"] = out["cost"] / total_cost if total_cost > 0 else np.nan
    out = out.reset_index()
    out[TENANT] = out[TENANT].astype("string")
    return carry(out, usage)


def closest_tenants(tenant: str, known: Sequence[str], n: int = 5) -> list[str]:
    """The ``n`` known tenant ids most like ``tenant`` (difflib's ratio, case-insensitive),
    most similar first — what a typo most likely meant.

    Examples
    --------
    >>> closest_tenants("tenant-acmee", ["tenant-globex", "tenant-acme", "tenant-initech"])[0]
    'tenant-acme'
    """
    want = str(tenant).casefold()
    scored = []
    for k in dict.fromkeys(str(t) for t in known):
        if k == str(tenant):
            continue
        ratio = difflib.SequenceMatcher(None, want, k.casefold(), autojunk=False).ratio()
        scored.append((-ratio, k))
    return [k for _, k in sorted(scored)[:n]]


# ---------------------------------------------------------------------- growth

@dataclass(frozen=True)
class Growth:
    """Week-over-week growth per tenant and for the fleet, as of ``end``.

    ``per_tenant``: ``tenant_id``, ``current`` (requests in the last 24 h), ``earlier``
    (the same 24 h a week before), ``growth`` (fraction, 0.1 = +10 %; NaN when
    ``earlier`` is 0), ``new`` (no traffic a week earlier); busiest growth first.
    """

    per_tenant: pd.DataFrame
    fleet: float
    fleet_current: float
    fleet_earlier: float
    end: pd.Timestamp
    definition: str = ("requests in the last 24 h against the same 24 h one week earlier "
                       "(removes the daily and weekly cycle)")

    def of(self, tenant: str) -> dict[str, Any] | None:
        rows = self.per_tenant[self.per_tenant[TENANT] == str(tenant)]
        return None if rows.empty else {str(k): v for k, v in rows.iloc[0].items()}


def _history_days(hourly: pd.DataFrame, end: pd.Timestamp) -> float:
    if len(hourly) == 0:
        return 0.0
    first = pd.to_datetime(hourly["timestamp"], utc=True).min()
    return max(float((end - first) / pd.Timedelta(days=1)) + 1 / 24, 0.0)


def week_over_week(hourly: pd.DataFrame, end: pd.Timestamp, *,
                   min_days: float = GROWTH_MIN_DAYS,
                   min_coverage: float = GROWTH_MIN_COVERAGE) -> Growth | Insufficient:
    """Week-over-week request growth per tenant and for the fleet, or why not.

    Parameters
    ----------
    hourly : DataFrame
        Requests per hour (``timestamp`` = bin end, ``tenant_id``, ``value``) over at least
        the 8 days before ``end`` (``fetch.usage`` family ``requests_hourly``).
    end : Timestamp
        The instant growth is measured at (the report window's end).

    Returns
    -------
    Growth or Insufficient
        ``Insufficient`` with less than ``min_days`` of history, or when the day a week
        back holds data in fewer than ``min_coverage`` of its hours.
    """
    require_columns(hourly, ["timestamp", TENANT, "value"], what="hourly requests")
    end = pd.Timestamp(end)
    have = _history_days(hourly, end)
    what = "week-over-week growth"
    need = f"{fmt.human_duration(min_days * 86400)}"
    if have < min_days - 1e-9:
        return Insufficient(what, f"{fmt.human_duration(round(have * 24) * 3600)} of history"
                            if have else "no history", need)
    ts = pd.to_datetime(hourly["timestamp"], utc=True)
    day, week = pd.Timedelta(days=1), pd.Timedelta(days=7)
    cur_mask = (ts > end - day) & (ts <= end)
    old_mask = (ts > end - day - week) & (ts <= end - week)
    covered = ts[old_mask].dt.floor("h").nunique() / 24.0
    if covered < min_coverage:
        return Insufficient(what, f"{covered:.0%} of the day a week earlier",
                            f"{min_coverage:.0%} of it")
    v = pd.to_numeric(hourly["value"], errors="coerce").fillna(0.0)
    ids = hourly[TENANT].astype(str)
    cur = v[cur_mask].groupby(ids[cur_mask]).sum()
    old = v[old_mask].groupby(ids[old_mask]).sum()
    table = pd.concat([cur.rename("current"), old.rename("earlier")], axis=1).fillna(0.0)
    table.index.name = TENANT
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(table["earlier"] > 0, table["current"] / table["earlier"] - 1.0, np.nan)
    table["growth"] = g
    table["new"] = (table["earlier"] <= 0) & (table["current"] > 0)
    table = table.reset_index().sort_values(["growth", TENANT], ascending=[False, True],
                                            na_position="last", kind="stable")
    fc, fe = float(table["current"].sum()), float(table["earlier"].sum())
    return Growth(carry(table.reset_index(drop=True), hourly),
                  fleet=fc / fe - 1.0 if fe > 0 else float("nan"), fleet_current=fc,
                  fleet_earlier=fe, end=end)


# ---------------------------------------------------------------------- the fleet's answer

@dataclass
class FleetAnswer:
    """What the fleet tenant report answers first: tiles (plain dicts in the
    ``summary.json`` headline shape), at most five findings, the estimates withheld."""

    headline: list[dict[str, Any]]
    findings: list[str]
    insufficient: list[Insufficient]


def rate_limited(usage: pd.DataFrame) -> pd.DataFrame:
    """Tenants refused by a rate limit in the window: ``tenant_id``, ``rate_limit_hits``,
    ``requests``, ``hit_ratio`` (hits over their requests), most hits first."""
    cols = [TENANT, "rate_limit_hits", "requests", "hit_ratio"]
    if "rate_limit_hits" not in usage.columns or len(usage) == 0:
        return pd.DataFrame(columns=cols)
    u = usage.reset_index() if TENANT not in usage.columns else usage.copy()
    u = u[u["rate_limit_hits"].round() > 0].copy()
    u["hit_ratio"] = np.where(u["requests"] > 0, u["rate_limit_hits"] / u["requests"], np.nan)
    u[TENANT] = u[TENANT].astype(str)
    return u.sort_values(["rate_limit_hits", TENANT], ascending=[False, True])[
        cols].reset_index(drop=True)


def fleet_answer(usage: pd.DataFrame, par: pd.DataFrame, noisy: pd.DataFrame,
                 growth: Growth | Insufficient) -> FleetAnswer:
    """Tiles and findings of the fleet tenant report.

    Parameters
    ----------
    usage : DataFrame
        :func:`tenant_usage` (indexed by tenant; health probes already left out).
    par : DataFrame
        :func:`pareto` of the requests.
    noisy : DataFrame
        :func:`noisy_neighbours`.
    growth : Growth or Insufficient
        :func:`week_over_week` of the hourly requests.
    """
    n = int((usage["requests"] > 0).sum()) if "requests" in usage else 0
    k = int(par.attrs.get("tenants_for_target", 0)) if len(par) else 0
    total = float(usage["requests"].sum()) if "requests" in usage else 0.0
    top = str(par.index[0]) if len(par) else ""
    top_share = float(par["share"].iloc[0]) if len(par) else float("nan")
    flagged = noisy[noisy["noisy"]] if len(noisy) else noisy
    limited = rate_limited(usage)
    tiles: list[dict[str, Any]] = [
        {"key": "tenants", "name": "Tenants with traffic", "value": n, "unit": "count",
         "assessment": "info", "definition": "tenants that sent a request in the window"},
        {"key": "tenants_for_80pct", "name": "Tenants making 80 % of requests", "value": k,
         "unit": "count", "assessment": "info", "text": f"{k:,} of {n:,}",
         "definition": f"the fewest tenants whose requests add up to 80 % of "
                       f"{fmt.count(total)}"},
        {"key": "top_share", "name": "Busiest tenant's share", "value": top_share,
         "unit": "ratio", "assessment": "info", "definition": f"{top}'s share of requests"},
        {"key": "noisy", "name": "Noisy neighbours", "value": len(flagged), "unit": "count",
         "assessment": "warning" if len(flagged) else "ok",
         "definition": "tenants whose surges coincide with the others' latency"},
        {"key": "rate_limited", "name": "Rate-limited tenants", "value": len(limited),
         "unit": "count", "assessment": "warning" if len(limited) else "ok",
         "definition": "tenants refused by a rate limit in the window"},
    ]
    withheld: list[Insufficient] = []
    gdef = "fleet requests, last 24 h against the same 24 h a week earlier"
    if isinstance(growth, Insufficient):
        withheld.append(growth)
        tiles.append({"key": "growth", "name": "Fleet growth (week over week)", "value": None,
                      "unit": "ratio", "assessment": "withheld", "definition": gdef,
                      "withheld": growth})
    else:
        tiles.append({"key": "growth", "name": "Fleet growth (week over week)",
                      "value": growth.fleet, "unit": "ratio", "assessment": "info",
                      "definition": gdef})
    findings = []
    if n:
        findings.append(f"{k:,} of {n:,} tenants make up 80 % of the {fmt.count(total)} "
                        f"requests; the busiest, {top}, sent {fmt.percent(top_share)}.")
    else:
        findings.append("No tenant sent a request in this window.")
    if len(flagged):
        r = flagged.iloc[0]
        findings.append(f"Noisy neighbour: {r[TENANT]} surged in {int(r['surge_bins'])} bins "
                        "while the other tenants' latency rose (the others were slower in "
                        f"{fmt.percent(r['score'])} of comparisons of its surge bins with its "
                        "normal ones).")
    elif len(noisy):
        findings.append("No tenant's surge coincided with the other tenants' latency.")
    if len(limited):
        r = limited.iloc[0]
        more = f" and {len(limited) - 1:,} more" if len(limited) > 1 else ""
        findings.append(f"Rate-limited: {r[TENANT]} ({fmt.count(r['rate_limit_hits'])} "
                        f"refused requests, {fmt.percent(r['hit_ratio'])} of theirs){more}.")
    else:
        findings.append("No tenant was rate-limited in the window.")
    if isinstance(growth, Growth):
        g = growth.per_tenant.dropna(subset=["growth"])
        g = g[g["earlier"] >= 100] if len(g) else g
        if len(g):
            r = g.iloc[0]
            findings.append(f"Fastest growing: {r[TENANT]} "
                            f"({fmt.percent(r['growth'], signed=True)} week over week; the "
                            f"fleet {fmt.percent(growth.fleet, signed=True)}).")
    return FleetAnswer(tiles, findings[:5], withheld)


@dataclass
class FleetReport:
    """Everything the fleet tenant report shows, computed once (:func:`fleet_report`)."""

    usage: pd.DataFrame
    pareto: pd.DataFrame
    noisy: pd.DataFrame
    limited: pd.DataFrame
    growth: Growth | Insufficient
    chargeback: pd.DataFrame
    answer: FleetAnswer
    requests: pd.DataFrame
    latency: pd.DataFrame


def _without(frame: pd.DataFrame, exclude: Sequence[str]) -> pd.DataFrame:
    if len(frame) == 0 or TENANT not in frame.columns or not exclude:
        return frame
    keep = ~frame[TENANT].astype(str).isin(list(exclude))
    return carry(frame.loc[keep.to_numpy(dtype=bool)].reset_index(drop=True), frame)


def fleet_report(frames: Mapping[str, pd.DataFrame], counts: pd.DataFrame,
                 latency: pd.DataFrame, end: pd.Timestamp, *,
                 tenants: Sequence[str] = (), prices: Mapping[str, float] | None = None,
                 exclude: Sequence[str] = ("unknown",)) -> FleetReport:
    """The fleet tenant report: usage per tenant, Pareto, noisy neighbours, rate-limited
    tenants, week-over-week growth ranking, chargeback, and the answer.

    Parameters
    ----------
    frames : mapping
        Every tenant's frames of the tenant report families
        (``fetch.usage.fleet_report_data(...).all_frames``): the totals are then the very
        numbers each tenant's own report shows.
    counts, latency : DataFrame
        Requests per bin and mean latency per bin, per tenant, on one fine grid (noisy
        neighbours: a surge lasts an hour or two, so bins of minutes).
    end : Timestamp
        Where week-over-week growth is measured (the window's end).
    tenants : sequence of str
        Only these tenants (default: all).
    exclude : sequence of str
        Not tenants: ``unknown`` is traffic without a tenant header (health probes).
    """
    def keep(frame: pd.DataFrame) -> pd.DataFrame:
        frame = _without(frame, exclude)
        if tenants and len(frame) and TENANT in frame.columns:
            sel = frame[TENANT].astype(str).isin(list(tenants)).to_numpy(dtype=bool)
            frame = carry(frame.loc[sel].reset_index(drop=True), frame)
        return frame

    usage = tenant_usage(**{k: keep(frames[k]) for k in (
        "requests", "searches", "vector_ops", "rate_limit_hits", "datasets", "vectors",
        "cache_hit_ratio") if k in frames})
    par = pareto(usage, "requests")
    per_bin, lat = keep(counts), keep(latency)
    noisy = noisy_neighbours(per_bin, lat) if len(per_bin) else pd.DataFrame(
        columns=[TENANT, "score", "q_value", "overlap", "best_lag", "surge_bins",
                 "peak_ratio", "noisy"])
    grow = week_over_week(keep(frames["requests_hourly"]), end)
    limited = rate_limited(usage)
    charge = chargeback(usage, prices)
    return FleetReport(usage=usage, pareto=par, noisy=noisy, limited=limited, growth=grow,
                       chargeback=charge, answer=fleet_answer(usage, par, noisy, grow),
                       requests=per_bin, latency=lat)
