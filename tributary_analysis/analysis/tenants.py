"""Per-tenant usage: totals, shares, Pareto, growth, noisy neighbours, chargeback.

Counters come in as per-bin increases (``increase(x[step])`` by ``tenant_id``) and are
summed. The business gauges (``datasets_total``, ``vectors_total``) are reported by every
replica with the same value, so they are collapsed with ``max`` across ``instance`` —
summing them would multiply the tenant's data by the replica count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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
from tributary_analysis.ground.time import parse_duration

TENANT = "tenant_id"
REPLICA_LABELS = ("instance", "pod", "job")


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
