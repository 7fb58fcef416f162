"""The report *for one tenant*: their usage, latency, errors, limits and growth beside the
fleet's, answered first.

Everything is computed from two sets of frames of the same families (the tenant's slice and
the fleet's aggregate, see :func:`tributary_analysis.fetch.usage.tenant_report_data`), so a
tenant's number and the fleet's number always share one definition:

* **usage** — requests, searches, vector operations: sums of per-bin increases over the
  window; the share is the tenant's sum over the fleet's (the fleet is every tenant, this
  one included; traffic without a tenant header — health probes — is in neither);
* **latency** — p50/p95/p99 of the request-duration histogram summed over the window
  (client-side ``histogram_quantile``, equal to the server's), beside the *other tenants'*
  (the fleet without this tenant: a tenant that is half the fleet would otherwise be
  compared with itself) and the whole fleet's; a quantile is withheld below
  ``ceil(5 / (1 - q))`` requests (p95: 100, p99: 500);
* **errors** — 5xx over all requests; "worse" or "better" than the other tenants only when
  a Poisson test at their ratio says so (p < 0.01), so one error in 200 requests is not
  "ten times the fleet";
* **rate limits** — hits (``rate_limit_hits_total``) against the limit: the seed exports
  ``rate_limit_remaining{tenant_id, limit_type}`` (capacity left in the current limit
  window), so the limit is at least the most capacity ever seen remaining, and the peak use
  is one minus the least seen (sampled once per bin);
* **growth** — week over week (the last 24 h against the same 24 h a week earlier, as of the
  window's end); withheld with fewer than 8 days of history — a trend fitted to one day of
  a diurnal ramp is not growth;
* **datasets and vectors** — business gauges every replica reports identically: ``max``
  across replicas, never ``sum``.

A tenant with no request in the window is a finding, not a success: :func:`tenant_report`
says so and lists the closest known tenant ids (:func:`closest_tenants`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import poisson

from tributary_analysis.analysis._common import require_columns
from tributary_analysis.analysis.errors import DEFAULT_ERROR_STATUS, _is_error
from tributary_analysis.analysis.tenants import Growth, closest_tenants, week_over_week
from tributary_analysis.frames.meta import carry
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.time import Window

__all__ = [
    "QUANTILES", "Growth", "TenantReport", "closest_tenants", "quantile_need",
    "tenant_report", "week_over_week",
]

TENANT = "tenant_id"
QUANTILES = (0.5, 0.95, 0.99)
#: p-value below which a tenant's error count differs from the fleet's ratio
ERROR_ALPHA = 0.01
#: latency ratio to the fleet beyond which a tenant is slower / faster (±25 %)
LATENCY_TOLERANCE = 1.25
#: a rate-limit window named ``…_per_minute``: its length, for the sentence
_LIMIT_PERIOD = {"second": "second", "minute": "minute", "hour": "hour", "day": "day"}


def quantile_need(q: float) -> int:
    """Requests a latency quantile needs: ``ceil(5 / (1 - q))`` — five requests above it
    (p50: 10, p95: 100, p99: 500)."""
    return math.ceil(5.0 / (1.0 - q) - 1e-9)


# ---------------------------------------------------------------------- the report

@dataclass
class TenantReport:
    """Everything the report for one tenant shows, computed once.

    ``headline`` are the tiles (plain dicts in the ``summary.json`` headline shape: ``key``,
    ``name``, ``value``, ``unit``, ``baseline``, ``assessment``, ``definition``, and
    ``withheld`` (an :class:`Insufficient`) where the estimate is withheld); ``findings``
    at most five sentences; ``insufficient`` every estimate withheld.
    """

    tenant: str
    window: Window
    has_data: bool
    known: list[str]
    closest: list[str]
    rank: int | None = None
    n_tenants: int = 0
    totals: dict[str, float] = field(default_factory=dict)
    fleet_totals: dict[str, float] = field(default_factory=dict)
    usage: pd.DataFrame = field(default_factory=pd.DataFrame)
    latency: pd.DataFrame = field(default_factory=pd.DataFrame)
    endpoints: pd.DataFrame = field(default_factory=pd.DataFrame)
    search_types: pd.DataFrame = field(default_factory=pd.DataFrame)
    operations: pd.DataFrame = field(default_factory=pd.DataFrame)
    error_types: pd.DataFrame = field(default_factory=pd.DataFrame)
    datasets: pd.DataFrame = field(default_factory=pd.DataFrame)
    limits: pd.DataFrame = field(default_factory=pd.DataFrame)
    over_time: pd.DataFrame = field(default_factory=pd.DataFrame)
    latency_over_time: pd.DataFrame = field(default_factory=pd.DataFrame)
    remaining_over_time: pd.DataFrame = field(default_factory=pd.DataFrame)
    growth: Growth | Insufficient | None = None
    error_ratio: float = float("nan")
    fleet_error_ratio: float = float("nan")
    others_error_ratio: float = float("nan")
    error_assessment: str = "no baseline"
    headline: list[dict[str, Any]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)
    insufficient: list[Insufficient] = field(default_factory=list)

    @property
    def status(self) -> str:
        """``warning`` when the tenant had no data in the window, else ``ok``."""
        return "ok" if self.has_data else "warning"


def _sum(frame: pd.DataFrame | None) -> float:
    if frame is None or len(frame) == 0:
        return 0.0
    v = pd.to_numeric(frame["value"], errors="coerce")
    return float(v[np.isfinite(v)].sum())


def _by(frame: pd.DataFrame, label: str) -> pd.Series:
    if len(frame) == 0 or label not in frame.columns:
        return pd.Series(dtype="float64")
    v = pd.to_numeric(frame["value"], errors="coerce").fillna(0.0)
    return v.groupby(frame[label].astype(str)).sum()


def _errors(frame: pd.DataFrame) -> float:
    if len(frame) == 0:
        return 0.0
    mask = _is_error(frame["status_code"], DEFAULT_ERROR_STATUS).to_numpy()
    return _sum(frame.loc[mask])


def _status(frame: pd.DataFrame, code: str) -> float:
    if len(frame) == 0:
        return 0.0
    return _sum(frame[frame["status_code"].astype(str) == code])


def _quantile(buckets: pd.DataFrame, q: float, by: Sequence[str] = ()) -> pd.DataFrame:
    from tributary_analysis.analysis import histograms

    keys = list(by)
    if len(buckets) == 0:
        return pd.DataFrame({**{k: [] for k in keys}, "value": [], "requests": []})
    summed = buckets.groupby([*keys, "le"], observed=True)["value"].sum().reset_index()
    res = histograms.histogram_quantile(q, summed, by=keys)
    inf = summed[summed["le"].astype(str).isin(["+Inf", "Inf", "inf"])]
    counts = inf.groupby(keys, observed=True)["value"].sum() if keys else pd.Series(
        [float(inf["value"].sum())])
    if keys:
        res = res.merge(counts.rename("requests").reset_index(), on=keys, how="left")
    else:
        res["requests"] = float(counts.iloc[0]) if len(counts) else 0.0
    return res


def _rest(fleet: pd.DataFrame, tenant: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """The fleet without the tenant: the fleet's sums minus the tenant's, per ``keys``."""
    keys = list(keys)
    if len(fleet) == 0:
        return fleet
    f = fleet.assign(**{k: fleet[k].astype(str) for k in keys if k != "timestamp"})
    whole = f.groupby(keys, observed=True)["value"].sum()
    if len(tenant):
        t = tenant.assign(**{k: tenant[k].astype(str) for k in keys if k != "timestamp"})
        mine = t.groupby(keys, observed=True)["value"].sum()
        whole = whole.sub(mine.reindex(whole.index).fillna(0.0), fill_value=0.0)
    return whole.clip(lower=0.0).reset_index()


def _latency(tenant: pd.DataFrame, others: pd.DataFrame, fleet: pd.DataFrame
             ) -> pd.DataFrame:
    rows = []
    for q in QUANTILES:
        need = quantile_need(q)
        label = f"p{q * 100:g}"
        row: dict[str, Any] = {"quantile": q, "measure": f"{label} latency"}
        for who, frame, name in (("tenant", tenant, "the tenant"),
                                 ("others", others, "the other tenants"),
                                 ("fleet", fleet, "the fleet")):
            res = _quantile(frame, q)
            n = float(res["requests"].iloc[0]) if len(res) else 0.0
            value: float | Insufficient = float(res["value"].iloc[0]) if len(res) else \
                float("nan")
            if n < need:
                value = Insufficient(f"{label} latency of {name}", f"{fmt.count(n)} requests",
                                     f"{fmt.count(need)} requests")
            row[who], row[f"{who}_requests"] = value, n
        rows.append(row)
    return pd.DataFrame(rows)


def _latency_assessment(tv: object, fv: object) -> tuple[str, float]:
    if not isinstance(tv, float) or not isinstance(fv, float) or not (fv > 0) \
            or not math.isfinite(tv):
        return "no baseline", float("nan")
    ratio = tv / fv
    if ratio > LATENCY_TOLERANCE:
        return "worse", ratio
    if ratio < 1 / LATENCY_TOLERANCE:
        return "better", ratio
    return "similar", ratio


def _error_assessment(errors: float, requests: float, fleet_ratio: float) -> str:
    """Worse/better than the other tenants only when the count is unlikely at their
    ratio."""
    if not requests or not math.isfinite(fleet_ratio):
        return "no baseline"
    expected = fleet_ratio * requests
    k = round(errors)
    if expected <= 0:
        return "worse" if k > 0 else "similar"
    if poisson.sf(k - 1, expected) < ERROR_ALPHA and k > expected:
        return "worse"
    if poisson.cdf(k, expected) < ERROR_ALPHA and k < expected:
        return "better"
    return "similar"


def _period(limit_type: str) -> str:
    for key, word in _LIMIT_PERIOD.items():
        if limit_type.endswith(key):
            return word
    return "limit window"


def _limits(remaining: pd.DataFrame, hits: pd.DataFrame, requests: float) -> pd.DataFrame:
    """Per limit type: hits, share of requests, the limit (most seen remaining), the
    least seen remaining and the peak use."""
    types = sorted(set(_by(remaining, "limit_type").index) | set(_by(hits, "limit_type").index))
    rows = []
    for lt in types:
        rem = remaining[remaining["limit_type"].astype(str) == lt] if len(remaining) else \
            remaining
        v = pd.to_numeric(rem["value"], errors="coerce").dropna() if len(rem) else pd.Series(
            dtype=float)
        h = float(_by(hits, "limit_type").get(lt, 0.0))
        limit = float(v.max()) if len(v) else float("nan")
        least = float(v.min()) if len(v) else float("nan")
        peak = 1.0 if round(h) > 0 else (1.0 - least / limit if limit > 0 else float("nan"))
        rows.append({"limit_type": lt, "hits": h,
                     "hit_ratio": h / requests if requests else float("nan"),
                     "limit": limit, "least_remaining": least, "peak_use": peak,
                     "samples": len(v), "period": _period(lt)})
    return pd.DataFrame(rows, columns=["limit_type", "hits", "hit_ratio", "limit",
                                       "least_remaining", "peak_use", "samples", "period"])


def _vectors(vectors: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: vectors at the window's end, at its start, the change."""
    cols = ["dataset_id", "vectors", "vectors_at_start", "change"]
    if len(vectors) == 0:
        return pd.DataFrame(columns=cols)
    v = vectors.assign(value=pd.to_numeric(vectors["value"], errors="coerce"),
                       dataset_id=vectors["dataset_id"].astype(str))
    v = v.dropna(subset=["value"]).sort_values("timestamp")
    last = v.groupby("dataset_id")["value"].last()
    first = v.groupby("dataset_id")["value"].first()
    out = pd.DataFrame({"vectors": last, "vectors_at_start": first})
    out["change"] = out["vectors"] - out["vectors_at_start"]
    return out.sort_values("vectors", ascending=False).reset_index()[cols]


def _last(frame: pd.DataFrame) -> float:
    """The last sampled value of a gauge summed over its series (timestamp-wise)."""
    if len(frame) == 0:
        return float("nan")
    v = frame.assign(value=pd.to_numeric(frame["value"], errors="coerce")).dropna(
        subset=["value"])
    if v.empty:
        return float("nan")
    per = v.groupby("timestamp")["value"].sum()
    return float(per.iloc[-1])


def _share(part: float, whole: float) -> float:
    return part / whole if whole > 0 else float("nan")


def _table(counts: pd.Series, fleet: pd.Series, name: str, total: float) -> pd.DataFrame:
    out = pd.DataFrame({name: counts.index.astype(str), "count": counts.to_numpy()})
    out["share_of_tenant"] = out["count"] / total if total else np.nan
    fl = fleet.reindex(out[name]).to_numpy(dtype=float) if len(fleet) else np.full(
        len(out), np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share_of_fleet"] = np.where(fl > 0, out["count"].to_numpy() / fl, np.nan)
    return out.sort_values(["count", name], ascending=[False, True]).reset_index(drop=True)


def _rank(totals: pd.DataFrame, tenant: str) -> tuple[int | None, int]:
    t = totals[totals["value"] > 0].sort_values(["value", TENANT], ascending=[False, True])
    ids = t[TENANT].astype(str).tolist()
    return (ids.index(str(tenant)) + 1 if str(tenant) in ids else None), len(ids)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def tenant_report(tenant: str, window: Window, frames: Mapping[str, pd.DataFrame],
                  fleet: Mapping[str, pd.DataFrame], totals: Mapping[str, pd.DataFrame]
                  ) -> TenantReport:
    """The report for ``tenant``: usage, latency, errors, limits, growth, datasets — each
    beside the fleet's — with headline tiles and at most five findings.

    Parameters
    ----------
    tenant : str
        The tenant id (untrusted text; only compared and shown escaped).
    window : Window
        The report window.
    frames, fleet : mapping of family name to DataFrame
        The tenant's slice and the fleet's aggregate of the report families
        (:data:`tributary_analysis.fetch.usage.REPORT_FAMILIES`): ``requests``,
        ``searches``, ``vector_ops``, ``rate_limit_hits``, ``errors``, ``latency``,
        ``search_latency``, ``rate_limit_remaining``, ``datasets``, ``vectors``,
        ``requests_hourly``.
    totals : mapping of family name to DataFrame
        Every tenant's window total per counts family (``tenant_id``, ``value``): ranks
        and the known tenants.
    """
    for name in ("requests", "latency"):
        require_columns(frames[name], ["timestamp", "value"], what=f"tenant {name} frame")
    req_t, req_f = frames["requests"], fleet["requests"]
    known_tab = totals["requests"]
    known_tab = known_tab[known_tab["value"] > 0].sort_values(
        ["value", TENANT], ascending=[False, True])
    known = known_tab[TENANT].astype(str).tolist()
    n_req = _sum(req_t)
    has_data = n_req > 0
    rep = TenantReport(tenant=str(tenant), window=window, has_data=has_data, known=known,
                       closest=[] if has_data else closest_tenants(tenant, known))
    rep.rank, rep.n_tenants = _rank(known_tab, tenant)
    if has_data:  # the tenant beside the rest of the fleet: their sum is the fleet
        rep.growth = week_over_week(_with_rest_of_fleet(frames, fleet), window.end)
    if not has_data:
        rep.findings = [_no_data_sentence(rep)]
        rep.headline = [{"key": "requests", "name": "Requests", "value": 0.0,
                         "unit": "count", "baseline": None, "assessment": "warning",
                         "definition": "requests of this tenant in the window: none"}]
        return rep

    keys = ("requests", "searches", "vector_ops", "rate_limit_hits")
    rep.totals = {k: _sum(frames[k]) for k in keys}
    rep.fleet_totals = {k: _sum(fleet[k]) for k in keys}
    rep.totals["errors_5xx"], rep.fleet_totals["errors_5xx"] = _errors(req_t), _errors(req_f)
    rep.totals["status_429"] = _status(req_t, "429")
    rep.fleet_totals["status_429"] = _status(req_f, "429")
    datasets_now, fleet_datasets = _last(frames["datasets"]), _last(fleet["datasets"])
    rep.datasets = _vectors(frames["vectors"])
    vectors_now = float(rep.datasets["vectors"].sum()) if len(rep.datasets) else float("nan")
    fleet_vectors = _last(fleet["vectors"])
    rep.totals.update(datasets=datasets_now, vectors=vectors_now)
    rep.fleet_totals.update(datasets=fleet_datasets, vectors=fleet_vectors)

    usage_rows = [("Requests", "requests"), ("Searches", "searches"),
                  ("Vector operations", "vector_ops"), ("Rate-limit hits", "rate_limit_hits"),
                  ("Server errors (5xx)", "errors_5xx"), ("Datasets", "datasets"),
                  ("Vectors stored", "vectors")]
    rep.usage = pd.DataFrame([{"measure": label, "key": k, "tenant": rep.totals[k],
                               "fleet": rep.fleet_totals[k],
                               "share": _share(rep.totals[k], rep.fleet_totals[k])}
                              for label, k in usage_rows])
    others_latency = _rest(fleet["latency"], frames["latency"], ("timestamp", "le"))
    rep.latency = _latency(frames["latency"], others_latency, fleet["latency"])
    rep.error_ratio = _share(rep.totals["errors_5xx"], n_req)
    rep.fleet_error_ratio = _share(rep.fleet_totals["errors_5xx"], rep.fleet_totals["requests"])
    rep.others_error_ratio = _share(rep.fleet_totals["errors_5xx"] - rep.totals["errors_5xx"],
                                    rep.fleet_totals["requests"] - n_req)
    rep.error_assessment = _error_assessment(rep.totals["errors_5xx"], n_req,
                                             rep.others_error_ratio)

    ep_t, ep_f = _by(req_t, "endpoint"), _by(req_f, "endpoint")
    rep.endpoints = _table(ep_t, ep_f, "endpoint", n_req)
    err_by_ep = _by(req_t.loc[_is_error(req_t["status_code"], DEFAULT_ERROR_STATUS).to_numpy()]
                    if len(req_t) else req_t, "endpoint")
    rep.endpoints["error_ratio"] = [
        _share(float(err_by_ep.get(e, 0.0)), float(c)) for e, c in
        zip(rep.endpoints["endpoint"], rep.endpoints["count"], strict=True)]
    rep.search_types = _table(_by(frames["searches"], "search_type"),
                              _by(fleet["searches"], "search_type"), "search_type",
                              rep.totals["searches"])
    rep.search_types["p95"] = pd.Series(
        _per_type_p95(frames["search_latency"], rep.search_types), dtype=object)
    rep.search_types["fleet_p95"] = pd.Series(
        _per_type_p95(fleet["search_latency"], rep.search_types), dtype=object)
    rep.operations = _table(_by(frames["vector_ops"], "operation"),
                            _by(fleet["vector_ops"], "operation"), "operation",
                            rep.totals["vector_ops"])
    rep.error_types = _error_types(frames["errors"])
    rep.limits = _limits(frames["rate_limit_remaining"], frames["rate_limit_hits"], n_req)
    rep.over_time = _over_time(req_t, req_f)
    rep.latency_over_time = _latency_over_time(frames["latency"], others_latency)
    rep.remaining_over_time = frames["rate_limit_remaining"]

    rep.insufficient = [v for v in (*rep.latency["tenant"], *rep.latency["others"])
                        if isinstance(v, Insufficient)]
    if isinstance(rep.growth, Insufficient):
        rep.insufficient.append(rep.growth)
    for sentence in (_usage_sentence(rep), _latency_sentence(rep), _error_sentence(rep),
                     _limit_sentence(rep), _growth_or_data_sentence(rep)):
        if sentence:
            rep.findings.append(sentence)
    rep.findings = rep.findings[:5]
    rep.headline = _headline(rep)
    return carry_report(rep, frames)


def carry_report(rep: TenantReport, frames: Mapping[str, pd.DataFrame]) -> TenantReport:
    """The tables carry the metadata of the frames they came from (warnings box)."""
    inputs = list(frames.values())
    for name in ("usage", "latency", "endpoints", "search_types", "operations",
                 "error_types", "datasets", "limits", "over_time", "latency_over_time"):
        carry(getattr(rep, name), *inputs)
    return rep


def _empty_hourly() -> pd.DataFrame:
    return pd.DataFrame({"timestamp": pd.Series(dtype="datetime64[ns, UTC]"),
                         TENANT: pd.Series(dtype=object), "value": pd.Series(dtype=float)})


def _with_rest_of_fleet(frames: Mapping[str, pd.DataFrame],
                        fleet: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """The tenant's hourly requests and the rest of the fleet's as one more series, so
    :func:`week_over_week` gives the tenant's growth and (their sum) the fleet's."""
    mine = frames.get("requests_hourly", _empty_hourly())
    whole = fleet.get("requests_hourly")
    if whole is None or len(whole) == 0:
        return mine if len(mine) else _empty_hourly()
    per = pd.to_numeric(mine["value"], errors="coerce").groupby(
        pd.to_datetime(mine["timestamp"], utc=True)).sum() if len(mine) else pd.Series(
        dtype=float)
    all_ = pd.to_numeric(whole["value"], errors="coerce").groupby(
        pd.to_datetime(whole["timestamp"], utc=True)).sum()
    rest = (all_ - per.reindex(all_.index).fillna(0.0)).clip(lower=0.0)
    others = pd.DataFrame({"timestamp": rest.index, TENANT: "\x00others",
                           "value": rest.to_numpy()})
    return pd.concat([mine[["timestamp", TENANT, "value"]], others], ignore_index=True)


def _per_type_p95(buckets: pd.DataFrame, types: pd.DataFrame) -> list[object]:
    if len(types) == 0:
        return []
    res = _quantile(buckets, 0.95, by=("search_type",)) if len(buckets) else pd.DataFrame(
        {"search_type": [], "value": [], "requests": []})
    need = quantile_need(0.95)
    out: list[object] = []
    for st in types["search_type"]:
        row = res[res["search_type"].astype(str) == st]
        n = float(row["requests"].iloc[0]) if len(row) else 0.0
        out.append(float(row["value"].iloc[0]) if n >= need else Insufficient(
            f"p95 search latency ({st})", f"{fmt.count(n)} searches",
            f"{fmt.count(need)} searches"))
    return out


def _error_types(errors: pd.DataFrame) -> pd.DataFrame:
    cols = ["error_type", "error_code", "count"]
    if len(errors) == 0:
        return pd.DataFrame(columns=cols)
    v = pd.to_numeric(errors["value"], errors="coerce").fillna(0.0)
    out = v.groupby([errors["error_type"].astype(str), errors["error_code"].astype(str)]
                    ).sum().rename("count").reset_index()
    out = out[out["count"].round() > 0]
    return out.sort_values(["count", "error_code"], ascending=[False, True]).reset_index(
        drop=True)[cols]


def _over_time(req_t: pd.DataFrame, req_f: pd.DataFrame) -> pd.DataFrame:
    """Per bin: the tenant's requests and 5xx, the fleet's requests, the tenant's share."""
    def per(frame: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
        if len(frame) == 0:
            return pd.Series(dtype=float), pd.Series(dtype=float)
        ts = pd.to_datetime(frame["timestamp"], utc=True)
        v = pd.to_numeric(frame["value"], errors="coerce").fillna(0.0)
        err = _is_error(frame["status_code"], DEFAULT_ERROR_STATUS).to_numpy()
        return v.groupby(ts).sum(), v[err].groupby(ts[err]).sum()

    t_all, t_err = per(req_t)
    f_all, _ = per(req_f)
    idx = f_all.index.union(t_all.index)
    out = pd.DataFrame({"timestamp": idx,
                        "requests": t_all.reindex(idx).fillna(0.0).to_numpy(),
                        "errors": t_err.reindex(idx).fillna(0.0).to_numpy(),
                        "fleet_requests": f_all.reindex(idx).fillna(0.0).to_numpy()})
    with np.errstate(divide="ignore", invalid="ignore"):
        out["share"] = np.where(out["fleet_requests"] > 0,
                                out["requests"] / out["fleet_requests"], np.nan)
    return out


def _latency_over_time(tenant: pd.DataFrame, others: pd.DataFrame) -> pd.DataFrame:
    """p95 per bin for the tenant and the other tenants (``who`` = ``tenant`` /
    ``others``; bins with too few requests: NaN)."""
    from tributary_analysis.analysis import histograms

    need = quantile_need(0.95)
    parts = []
    for who, frame in (("tenant", tenant), ("others", others)):
        if len(frame) == 0:
            continue
        res = histograms.histogram_quantile(0.95, frame, by=["timestamp"])
        inf = frame[frame["le"].astype(str).isin(["+Inf", "Inf", "inf"])]
        n = inf.groupby("timestamp")["value"].sum()
        res["requests"] = res["timestamp"].map(n).fillna(0.0).to_numpy()
        res.loc[res["requests"] < need, "value"] = np.nan
        parts.append(res.assign(who=who)[["timestamp", "who", "value", "requests"]])
    if not parts:
        return pd.DataFrame(columns=["timestamp", "who", "value", "requests"])
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------------- sentences and tiles

def _no_data_sentence(rep: TenantReport) -> str:
    close = (" Closest known tenant ids: " + ", ".join(rep.closest) + "."
             if rep.closest else " No tenant had traffic in this window.")
    return (f"No requests from this tenant in {rep.window.label()}: the id may be misspelt, "
            f"or the tenant was idle.{close}")


def _usage_sentence(rep: TenantReport) -> str:
    n, share = rep.totals["requests"], _share(rep.totals["requests"],
                                              rep.fleet_totals["requests"])
    rank = (f", the {_ordinal(rep.rank)} busiest of {rep.n_tenants} tenants"
            if rep.rank else "")
    return (f"{fmt.count(n)} requests in the window: {fmt.percent(share)} of the fleet's "
            f"{fmt.count(rep.fleet_totals['requests'])}{rank}; "
            f"{fmt.count(rep.totals['searches'])} searches and "
            f"{fmt.count(rep.totals['vector_ops'])} vector operations.")


def _latency_sentence(rep: TenantReport) -> str:
    row = rep.latency[rep.latency["quantile"] == 0.95].iloc[0]
    tv, fv = row["tenant"], row["others"]
    if isinstance(tv, Insufficient):
        return f"p95 latency withheld: {tv.short()}."
    if isinstance(fv, Insufficient):
        return (f"p95 latency {fmt.human_seconds(tv)} (no figure for the other tenants: "
                f"{fv.short()}).")
    verdict, ratio = _latency_assessment(tv, fv)
    mine, theirs = fmt.human_seconds(tv), fmt.human_seconds(fv)
    if verdict == "worse":
        return f"p95 latency {mine}, {fmt.multiplier(ratio)} the other tenants' {theirs}."
    if verdict == "better":
        return (f"p95 latency {mine}, faster than the other tenants' {theirs} "
                f"({fmt.multiplier(ratio)}).")
    return f"p95 latency {mine}, in line with the other tenants' {theirs}."


def _error_sentence(rep: TenantReport) -> str:
    words = {"worse": "higher than", "better": "lower than", "similar": "in line with"}
    how = words.get(rep.error_assessment, "against")
    return (f"{fmt.percent(rep.error_ratio)} of their requests failed with a server error "
            f"({fmt.count(rep.totals['errors_5xx'])} 5xx), {how} the other tenants' "
            f"{fmt.percent(rep.others_error_ratio)}.")


def _limit_sentence(rep: TenantReport) -> str:
    if rep.limits.empty:
        return "No rate limit is reported for this tenant."
    row = rep.limits.sort_values("hits", ascending=False).iloc[0]
    limit = (f"a limit of at least {fmt.count(row['limit'])} requests per {row['period']}"
             if math.isfinite(row["limit"]) else "its limit")
    if round(row["hits"]) > 0:
        return (f"Rate-limited {fmt.count(row['hits'])} times "
                f"({fmt.percent(row['hit_ratio'])} of their requests) against {limit}.")
    peak = (f"; at most {fmt.percent(row['peak_use'])} of it was in use when sampled"
            if math.isfinite(row["peak_use"]) else "")
    return f"Never rate-limited in the window ({limit}{peak})."


def _growth_or_data_sentence(rep: TenantReport) -> str:
    g = rep.growth
    if isinstance(g, Growth):
        mine = g.of(rep.tenant)
        if mine is None or mine["current"] <= 0:
            return ""
        if mine["new"]:
            return (f"New this week: {fmt.count(mine['current'])} requests in the last "
                    "24 hours and none in the same hours a week earlier.")
        return (f"Requests {_growth_word(mine['growth'])} week over week "
                f"({fmt.percent(mine['growth'], signed=True)}; fleet "
                f"{fmt.percent(g.fleet, signed=True)}).")
    if rep.totals.get("vectors", 0) > 0:
        return (f"{fmt.count(rep.totals['datasets'])} datasets hold "
                f"{fmt.count(rep.totals['vectors'])} vectors "
                f"({fmt.percent(_share(rep.totals['vectors'], rep.fleet_totals['vectors']))}"
                " of the fleet's).")
    return ""


def _growth_word(g: float) -> str:
    return "grew" if g > 0.05 else "fell" if g < -0.05 else "held steady"


def _tile(key: str, name: str, value: Any, unit: str, *, baseline: Any = None,
          assessment: str = "info", definition: str = "") -> dict[str, Any]:
    return {"key": key, "name": name, "value": value, "unit": unit, "baseline": baseline,
            "assessment": assessment, "definition": definition}


def _headline(rep: TenantReport) -> list[dict[str, Any]]:
    t, f = rep.totals, rep.fleet_totals
    tiles = [
        _tile("requests", "Requests", t["requests"], "count",
              definition="their requests in the window (http_requests_total)"),
        _tile("request_share", "Share of fleet requests", _share(t["requests"],
              f["requests"]), "ratio",
              definition=f"of all tenants' {fmt.count(f['requests'])} requests"),
    ]
    row = rep.latency[rep.latency["quantile"] == 0.95].iloc[0]
    tv, fv = row["tenant"], row["others"]
    definition = "request duration over the window; baseline: the other tenants'"
    if isinstance(tv, Insufficient):
        tiles.append({**_tile("p95_latency", "p95 latency", None, "s", assessment="withheld",
                              definition=definition), "withheld": tv})
    else:
        verdict, _ = _latency_assessment(tv, fv)
        tiles.append(_tile("p95_latency", "p95 latency", tv, "s",
                           baseline=fv if isinstance(fv, float) else None,
                           assessment=verdict, definition=definition))
    tiles.append(_tile("error_ratio", "5xx ratio", rep.error_ratio, "ratio",
                       baseline=rep.others_error_ratio, assessment=rep.error_assessment,
                       definition=("server errors over their requests; baseline: the other "
                                   "tenants' (a difference only at Poisson p < 0.01)")))
    if not rep.limits.empty:
        lim = rep.limits.sort_values("hits", ascending=False).iloc[0]
        tiles.append(_tile(
            "rate_limit_hits", "Rate-limit hits", lim["hits"], "count",
            assessment="warning" if round(lim["hits"]) > 0 else "ok",
            definition=(f"requests refused; limit ≥ {fmt.count(lim['limit'])} per "
                        f"{lim['period']} ({lim['limit_type']})")))
    g = rep.growth
    gdef = "last 24 h against the same 24 h a week earlier; baseline: the fleet's"
    if isinstance(g, Insufficient):
        tiles.append({**_tile("growth", "Growth (week over week)", None, "ratio",
                              assessment="withheld", definition=gdef), "withheld": g})
    elif isinstance(g, Growth):
        mine = g.of(rep.tenant)
        value = mine["growth"] if mine is not None else float("nan")
        tiles.append(_tile("growth", "Growth (week over week)", value, "ratio",
                           baseline=g.fleet, assessment="info", definition=gdef))
    return tiles
