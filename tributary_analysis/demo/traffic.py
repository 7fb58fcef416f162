"""Request-level events, drawn vectorised with numpy: the single truth behind logs and metrics.

Arrivals are Poisson per tenant and minute with daily and weekly seasonality, per-tenant
Zipf-like sizes and a slow per-tenant growth; health probes come from the kubelet every
``probe_interval_s`` per pod. Each request then gets an endpoint, dataset, replica, status,
duration and the side effects the service would record (search, vector and cache operations,
errors). Incidents modify these draws; nothing is looped per request in Python.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tributary_analysis.demo.incidents import (
    BAD_VERSION,
    BASE_VERSION,
    FIX_VERSION,
    RESTART_DOWNTIME_S,
    Incident,
)
from tributary_analysis.demo.profiles import Profile
from tributary_analysis.demo.world import ENDPOINTS, EP, World

US = 1_000_000
#: rate-limiter windows are 60 s long and start 17 s past the minute (the limiter's own clock)
LIMIT_WINDOW_S = 60
LIMIT_PHASE_S = 17


@dataclass(frozen=True)
class ErrorKind:
    """An error the service logs with ``log_error`` and counts in ``errors_total``."""

    error_type: str
    error_code: str
    status: int
    message: str


ERRORS: tuple[ErrorKind, ...] = (
    ErrorKind("validation", "INVALID_REQUEST", 400, "Invalid request payload"),
    ErrorKind("not_found", "DATASET_NOT_FOUND", 404, "Dataset not found"),
    ErrorKind("not_found", "VECTOR_NOT_FOUND", 404, "Vector not found"),
    ErrorKind("rate_limit", "RATE_LIMIT_EXCEEDED", 429, "Rate limit exceeded"),
    ErrorKind("internal", "INTERNAL_ERROR", 500, "Internal server error"),
    ErrorKind("unavailable", "SEARCH_BACKEND_UNAVAILABLE", 503, "Search backend unavailable"),
    ErrorKind("vector", "VECTOR_OPERATION_FAILED", 500, "Vector operation failed"),
    ErrorKind("internal", "SEARCH_BACKEND_ERROR", 500, "Search backend error"),
)
E_VALID, E_DS404, E_V404, E_429, E_500, E_503, E_VEC, E_SEARCH500 = range(len(ERRORS))


@dataclass
class Requests:
    """Columns of all requests, sorted by completion time (``t_us``, unix microseconds)."""

    t_us: np.ndarray
    dur_us: np.ndarray
    tenant: np.ndarray  # -1: no tenant (health probes; label "unknown")
    ep: np.ndarray
    ds: np.ndarray  # -1: none
    inst: np.ndarray
    status: np.ndarray
    err: np.ndarray  # index into ERRORS or -1
    search_type: np.ndarray  # -1 unless a successful search
    search_dur_us: np.ndarray
    results: np.ndarray  # -1 unless a successful search
    batch: np.ndarray  # vectors in the operation (insert/delete), 0 otherwise
    cache_type: np.ndarray  # 0 query, 1 vector, -1 none
    cache_hit: np.ndarray  # 1 hit, 0 miss, -1 none
    vid: np.ndarray
    version: np.ndarray  # index into versions

    def __len__(self) -> int:
        return len(self.t_us)

    def take(self, idx: np.ndarray) -> Requests:
        """Rows ``idx`` of every column."""
        return Requests(**{k: v[idx] for k, v in self.__dict__.items()})


def seasonality(t_s: np.ndarray) -> np.ndarray:
    """Relative traffic at unix time ``t_s``: a 15:00 UTC peak, 03:00 trough, quiet weekends.

    Normalised so that its mean over a week is 1.
    """
    hour = (t_s % 86400) / 3600.0
    daily = 1.0 + 0.6 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
    weekday = ((t_s // 86400) + 3) % 7  # 0 = Monday
    weekly = np.where(weekday >= 5, 0.6, 1.0)
    return daily * weekly / ((5 + 2 * 0.6) / 7)


def ramp(t_s: np.ndarray, start: int, end: int) -> np.ndarray:
    """0..1 envelope of the noisy tenant's surge: up over 25 %, plateau, down over 15 %."""
    span = max(end - start, 1)
    x = (t_s - start) / span
    up = np.clip(x / 0.25, 0, 1)
    down = np.clip((1 - x) / 0.15, 0, 1)
    return np.where((x >= 0) & (x < 1), np.minimum(up, down), 0.0)


def versions_for(incidents: list[Incident], start_s: int, end_s: int) -> list[tuple[str, int]]:
    """Deployed versions and the unix second each went live (a deploy = a version change)."""
    out = [(BASE_VERSION, start_s)]
    for inc in incidents:
        if inc.kind == "latency_regression":
            out.append((str(inc.affects.get("version", BAD_VERSION)), inc.start_s))
            if inc.end_s < end_s:
                out.append((str(inc.affects.get("fix_version", FIX_VERSION)), inc.end_s))
    return out


def _by_kind(incidents: list[Incident], kind: str) -> list[Incident]:
    return [i for i in incidents if i.kind == kind]


def generate_requests(profile: Profile, world: World, incidents: list[Incident],
                      rng: np.random.Generator, start_s: int, end_s: int) -> Requests:
    """Draw every request completed in ``[start_s, end_s)``."""
    n_t = len(world.tenants)
    bins = np.arange(start_s, end_s, 60)
    mid = bins + 30.0
    week = 7 * 86400.0
    lam = (profile.api_rate * 60.0 * seasonality(mid)[:, None] * world.share[None, :]
           * (1 + world.growth[None, :] * (mid[:, None] - start_s) / week))
    for inc in _by_kind(incidents, "noisy_tenant"):
        t = world.tenants.index(inc.affects["tenant"])
        factor = float(inc.expected.get("traffic_factor", 10.0))
        lam[:, t] += ((factor - 1) * profile.api_rate * 60.0 * world.share[t]
                      * ramp(mid, inc.start_s, inc.end_s))
    counts = rng.poisson(lam)
    flat = counts.ravel()
    n = int(flat.sum())
    cell = np.repeat(np.arange(flat.size), flat)
    tenant = (cell % n_t).astype(np.int16)
    t_us = (bins[cell // n_t].astype(np.int64) * US + rng.integers(0, 60 * US, n))

    u = rng.random(n)
    ep_keys = (np.arange(n_t)[:, None] + world.endpoint_cum).ravel()
    ep = (np.searchsorted(ep_keys, tenant + u, side="right") - tenant * 6).astype(np.int8)
    ep = np.minimum(ep, 5)
    ds = np.searchsorted(world.ds_cum, tenant + rng.random(n), side="right").astype(np.int32)
    ds = np.minimum(ds, world.ds_offset[tenant.astype(int) + 1] - 1)
    # writes go to the tenant's live datasets only
    wr = (ep == EP["insert"]) | (ep == EP["delete"])
    ds_w = np.searchsorted(world.ds_write_cum, tenant[wr] + rng.random(int(wr.sum())),
                           side="right")
    ds[wr] = np.minimum(ds_w, world.ds_offset[tenant[wr].astype(int) + 1] - 1)
    ds[ep == EP["list"]] = -1

    # health probes: every probe_interval_s per pod, with a per-pod phase and a little jitter
    n_r = profile.n_replicas
    p_step = int(profile.probe_interval_s * US)
    probe_t = np.arange(start_s * US, end_s * US, p_step)
    h_t = (probe_t[None, :] + rng.integers(0, p_step, n_r)[:, None]).ravel()
    h_t += rng.integers(-50_000, 50_000, h_t.size)
    h_inst = np.repeat(np.arange(n_r), probe_t.size)
    keep = (h_t >= start_s * US) & (h_t < end_s * US)
    h_t, h_inst = h_t[keep], h_inst[keep]

    # sticky connections: a tenant's requests go to its pods; a surging tenant opens more
    # connections and spreads over every pod
    slot = (rng.random(n) * world.tenant_n_pods[tenant]).astype(np.int64)
    inst = world.tenant_pods[tenant, slot]
    for inc in _by_kind(incidents, "noisy_tenant"):
        t = world.tenants.index(inc.affects["tenant"])
        surge = (tenant == t) & (t_us >= inc.start_s * US) & (t_us < inc.end_s * US)
        inst[surge] = rng.integers(0, n_r, int(surge.sum()))
    for inc in _by_kind(incidents, "restart"):
        r = world.instances.index(inc.affects["instance"])
        lo, hi = inc.start_s * US, (inc.start_s + RESTART_DOWNTIME_S) * US
        down = (inst == r) & (t_us >= lo) & (t_us < hi)
        inst[down] = (r + 1 + rng.integers(0, max(n_r - 1, 1), int(down.sum()))) % n_r
        hkeep = ~((h_inst == r) & (h_t >= lo) & (h_t < hi))
        h_t, h_inst = h_t[hkeep], h_inst[hkeep]

    m = h_t.size
    t_us = np.concatenate([t_us, h_t])
    tenant = np.concatenate([tenant, np.full(m, -1, np.int16)])
    ep = np.concatenate([ep, np.full(m, EP["health"], np.int8)])
    ds = np.concatenate([ds, np.full(m, -1, np.int32)])
    inst = np.concatenate([inst, h_inst]).astype(np.int8)
    order = np.argsort(t_us, kind="stable")
    t_us, tenant, ep, ds, inst = t_us[order], tenant[order], ep[order], ds[order], inst[order]
    n = t_us.size
    t_s = t_us / US
    api = ep != EP["health"]

    # ---- status and error kind
    err = np.full(n, -1, np.int8)
    u = rng.random(n)
    is_search, is_insert = ep == EP["search"], ep == EP["insert"]
    is_get, is_delete, is_ds = ep == EP["get"], ep == EP["delete"], ep == EP["dataset"]
    err[(is_search | is_insert) & (u < 0.01)] = E_VALID
    err[is_ds & (u < 0.02)] = E_DS404
    err[(is_get | is_delete) & (u < 0.03)] = E_V404
    u2 = rng.random(n)
    # background 5xx stay rare enough that no replica's 5-minute 5xx ratio nears 5 %, even on
    # weekend nights (health probes dilute the ratio, as they do for the real alert)
    err[(is_insert | is_delete) & (u2 < 0.001)] = E_VEC
    err[api & (u2 > 1 - 0.0002)] = E_500
    for inc in _by_kind(incidents, "error_spike"):
        ep_label = inc.affects["endpoint"]
        hit = np.array([e.normalized == ep_label for e in ENDPOINTS])[ep]
        win = hit & (t_us >= inc.start_s * US) & (t_us < inc.end_s * US)
        frac = float(inc.expected.get("error_fraction", 0.5))
        u3 = rng.random(n)
        err[win & (u3 < frac * 0.7)] = E_503
        err[win & (u3 >= frac * 0.7) & (u3 < frac)] = E_SEARCH500 if ep_label.endswith(
            "search") else E_500
    # rate limiting: fixed 60 s windows per tenant; requests past the limit get 429
    a_idx = np.nonzero(api)[0]
    win_id = ((t_us[a_idx] // US - LIMIT_PHASE_S) // LIMIT_WINDOW_S).astype(np.int64)
    key = tenant[a_idx].astype(np.int64) * (1 << 40) + win_id
    srt = np.argsort(key, kind="stable")  # stable: time order within a window
    ks = key[srt]
    first = np.searchsorted(ks, ks, side="left")
    rank = np.arange(ks.size) - first
    limited = rank >= world.rate_limit[tenant[a_idx][srt]]
    err[a_idx[srt[limited]]] = E_429
    status_of = np.array([e.status for e in ERRORS], np.int16)
    ok_status = np.where((ep == EP["insert"]), 201, 200).astype(np.int16)
    status = np.where(err >= 0, status_of[np.maximum(err, 0)], ok_status)
    ok = err < 0

    # ---- cache, results, batch sizes
    cache_type = np.full(n, -1, np.int8)
    cache_type[ok & is_search] = 0
    cache_type[ok & is_get] = 1
    hit_p = np.where(tenant >= 0, world.cache_hit_p[np.maximum(tenant, 0)], 0.0)
    hit_p = np.where(cache_type == 1, hit_p * 0.9, hit_p)
    cache_hit = np.where(cache_type >= 0, (rng.random(n) < hit_p).astype(np.int8), -1)
    cache_hit = cache_hit.astype(np.int8)

    ds0 = np.maximum(ds, 0)
    sec = world.ds_search_secondary[ds0]
    use_sec = (sec >= 0) & (rng.random(n) < 0.15)
    search_type = np.where(use_sec, sec, world.ds_search_primary[ds0]).astype(np.int8)
    search_type[~(ok & is_search)] = -1
    top_k = world.ds_top_k[ds0]
    results = np.where(rng.random(n) < 0.85, top_k,
                       (rng.random(n) * top_k).astype(np.int64)).astype(np.int32)
    results[~(ok & is_search)] = -1
    batch = np.zeros(n, np.int32)
    ins = is_insert
    batch[ins] = np.clip(np.round(np.exp(rng.normal(np.log(60), 1.2, int(ins.sum())))),
                         1, 20000).astype(np.int32)
    batch[is_delete] = 1

    # ---- durations (seconds), then incident multipliers
    median = np.array([0.045, 0.12, 0.008, 0.015, 0.01, 0.02, 0.0015])[ep]
    st_factor = np.array([1.0, 1.8, 0.6])[np.maximum(search_type, 0)]
    median = np.where(search_type >= 0, median * st_factor, median)
    median = np.where(is_insert, median * (np.maximum(batch, 1) / 60.0) ** 0.3, median)
    median = np.where(cache_hit == 1, median * 0.35, median)
    t_fac = np.where(tenant >= 0, world.latency_factor[np.maximum(tenant, 0)], 1.0)
    dur = median * t_fac * (0.85 + 0.15 * seasonality(t_s)) * np.exp(rng.normal(0, 0.45, n))
    dur = np.where(rng.random(n) < 0.004, dur * rng.uniform(3, 8, n), dur)
    fast = np.array([0.004, 0.006, 0.005, 0.002, -1, 0.03, -1, -1])
    f = np.where(err >= 0, fast[np.maximum(err, 0)], -1.0)
    dur = np.where(f > 0, f * np.exp(rng.normal(0, 0.3, n)), dur)
    for inc in _by_kind(incidents, "latency_regression"):
        eps = set(inc.affects["endpoints"])
        hit = np.array([e.normalized in eps for e in ENDPOINTS])[ep]
        win = hit & (t_us >= inc.start_s * US) & (t_us < inc.end_s * US) & (err != E_429)
        dur = np.where(win, dur * float(inc.expected.get("latency_factor", 3.0)), dur)
    for inc in _by_kind(incidents, "noisy_tenant"):
        nf = float(inc.expected.get("neighbour_latency_factor", 1.6)) - 1.0
        slow = api & (err != E_429)
        dur = np.where(slow, dur * (1 + nf * ramp(t_s, inc.start_s, inc.end_s)), dur)
    dur_us = np.maximum(np.round(dur * US), 300).astype(np.int64)
    search_dur_us = np.where(search_type >= 0,
                             np.round(dur_us * rng.uniform(0.6, 0.9, n)), 0).astype(np.int64)

    vers = versions_for(incidents, start_s, end_s)
    v_starts = np.array([s for _, s in vers], np.int64) * US
    version = (np.searchsorted(v_starts, t_us, side="right") - 1).astype(np.int8)
    vid = rng.integers(1, 10**7, n)
    vid[~(is_get | is_delete)] = 0
    return Requests(t_us=t_us, dur_us=dur_us, tenant=tenant, ep=ep, ds=ds, inst=inst,
                    status=status, err=err, search_type=search_type,
                    search_dur_us=search_dur_us, results=results, batch=batch,
                    cache_type=cache_type, cache_hit=cache_hit, vid=vid, version=version)
