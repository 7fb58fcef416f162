"""The simulated fleet: tenants, datasets, replicas and endpoints, drawn once from the seed.

Everything here is static for a run; :mod:`~tributary_analysis.demo.traffic` draws the requests.
Tenant ids are deliberately plain (``tenant-acme``): hostile ids are injected by tests that need
them, not by the simulator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tributary_analysis.demo.profiles import HEAVY_TAIL, Profile

TENANT_NAMES = (
    "acme", "globex", "initech", "umbrella", "hooli", "stark", "wayne", "wonka", "tyrell",
    "cyberdyne", "soylent", "vandelay", "dunder", "oscorp", "aperture", "massive", "nakatomi",
    "gringotts", "monarch", "piedpiper", "contoso", "fabrikam", "northwind", "tailspin",
)
DATASET_WORDS = ("docs", "products", "support", "images", "catalog", "faq", "code", "news")
SEARCH_TYPES = ("vector", "hybrid", "text")
INDEX_TYPES = ("hnsw", "ivf_flat")


@dataclass(frozen=True)
class Endpoint:
    """One route of the service: its key, method and raw-path template."""

    key: str
    method: str
    template: str  # "{ds}" and "{vid}" are filled per request

    @property
    def normalized(self) -> str:
        """The ``endpoint`` label, as the seed's middleware normalises the raw path."""
        from tributary_analysis.seed import normalize_endpoint

        return normalize_endpoint(self.template.format(ds="x", vid="y"))


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("search", "POST", "/api/v1/datasets/{ds}/search"),
    Endpoint("insert", "POST", "/api/v1/datasets/{ds}/vectors"),
    Endpoint("get", "GET", "/api/v1/datasets/{ds}/vectors/{vid}"),
    Endpoint("delete", "DELETE", "/api/v1/datasets/{ds}/vectors/{vid}"),
    Endpoint("dataset", "GET", "/api/v1/datasets/{ds}"),
    Endpoint("list", "GET", "/api/v1/datasets"),
    Endpoint("health", "GET", "/health"),
)
EP = {e.key: i for i, e in enumerate(ENDPOINTS)}
#: tenants above these traffic shares keep connections to 3 / 2 pods (below: 1), see
#: :func:`_sticky_pods`
PODS3_SHARE, PODS2_SHARE = 0.2, 0.1
#: routes besides search and insert that a client may never call, and the chance that a
#: tenant calls each, ``a + b * share`` (small tenants run simple search-and-insert apps)
OPTIONAL_ROUTES = ("get", "delete", "dataset", "list")
OPTIONAL_USE = np.array([[0.45, 5.0], [0.2, 3.0], [0.3, 5.0], [0.55, 5.0]])
#: the largest tenants (this fraction of them) are on plans with nightly backups; with
#: heavy-tailed sizes (many tenants) only the largest 10 % are
BACKUP_PLAN_SHARE = 0.4
BACKUP_PLAN_SHARE_HEAVY = 0.1
#: tenants above this share write to 2 "live" datasets, the others to 1
LIVE2_SHARE = 0.2
#: share of a tenant's API requests per endpoint (health excluded), before per-tenant noise
ENDPOINT_MIX = np.array([0.55, 0.15, 0.17, 0.03, 0.06, 0.04])


@dataclass(frozen=True)
class World:
    """Static facts of one simulated fleet (arrays indexed by tenant / dataset / instance)."""

    tenants: tuple[str, ...]
    share: np.ndarray  # (T,) traffic share, sums to 1
    growth: np.ndarray  # (T,) relative growth per week
    endpoint_cum: np.ndarray  # (T, 6) cumulative endpoint probabilities
    latency_factor: np.ndarray  # (T,)
    cache_hit_p: np.ndarray  # (T,)
    rate_limit: np.ndarray  # (T,) requests per limiter window (60 s)
    user_agent: tuple[str, ...]
    client_ip: tuple[str, ...]
    datasets: tuple[str, ...]
    ds_tenant: np.ndarray  # (D,)
    ds_offset: np.ndarray  # (T+1,) dataset index range per tenant
    ds_cum: np.ndarray  # (D,) tenant + cumulative weight within tenant
    ds_writable: np.ndarray  # (D,) bool: receives inserts/deletes (the rest are read-only)
    ds_write_cum: np.ndarray  # (D,) like ds_cum, weights of read-only datasets set to 0
    ds_search_primary: np.ndarray  # (D,) index into SEARCH_TYPES
    ds_search_secondary: np.ndarray  # (D,) index or -1
    ds_top_k: np.ndarray  # (D,)
    ds_index_type: np.ndarray  # (D,) index into INDEX_TYPES
    ds_initial_vectors: np.ndarray  # (D,)
    instances: tuple[str, ...]
    backup_plan: np.ndarray  # (T,) bool: nightly backups (the largest tenants)
    backup_instance: np.ndarray  # (T,)
    backup_offset_s: np.ndarray  # (T,) seconds after 01:00 UTC
    tenant_pods: np.ndarray  # (T, R) pod indices a tenant's connections land on (padded)
    tenant_n_pods: np.ndarray  # (T,) how many of them are used
    ds_index_pod: np.ndarray  # (D,) replica that builds a dataset's index

    def datasets_of(self, t: int) -> list[str]:
        """Dataset ids of tenant index ``t``."""
        return list(self.datasets[self.ds_offset[t]:self.ds_offset[t + 1]])


def tenant_names(n_t: int) -> tuple[str, ...]:
    """``tenant-acme``, ``tenant-globex``, …, then ``tenant-0025``, ``tenant-0026``, …"""
    named = [f"tenant-{n}" for n in TENANT_NAMES[:n_t]]
    return tuple(named + [f"tenant-{i:04d}" for i in range(len(named) + 1, n_t + 1)])


def _heavy_tail_shares(n_t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Shares from :data:`~tributary_analysis.demo.profiles.HEAVY_TAIL` and the size ranks.

    A Zipf head (rank r ∝ r^-zipf) times log-normal noise, so neighbouring ranks differ and
    the tail spans orders of magnitude; a fraction of the tenants outside the ten largest is
    idle (share 0: datasets, limits and gauges, but no API traffic in the window).
    """
    ranks = rng.permutation(n_t) + 1
    weight = ranks.astype(float) ** -HEAVY_TAIL["zipf"] * np.exp(
        rng.normal(0.0, HEAVY_TAIL["sigma"], n_t))
    idle = (ranks > 10) & (rng.random(n_t) < HEAVY_TAIL["idle"])
    weight[idle] = 0.0
    share = weight / weight.sum()
    order = np.argsort(-share, kind="stable")
    size_rank = np.empty(n_t, np.int64)
    size_rank[order] = np.arange(1, n_t + 1)
    return share, size_rank


def build_world(profile: Profile, rng: np.random.Generator) -> World:
    """Draw tenants, their sizes and habits, datasets and replicas for ``profile``."""
    n_t = profile.n_tenants
    heavy = profile.sizes == "heavy_tail"
    if not heavy and n_t > len(TENANT_NAMES):
        raise ValueError(f"at most {len(TENANT_NAMES)} tenants are supported with Zipf sizes; "
                         "use sizes='heavy_tail' for more")
    names = tenant_names(n_t)
    if heavy:
        share, ranks = _heavy_tail_shares(n_t, rng)
    else:
        ranks = rng.permutation(n_t) + 1  # the largest tenant is not always the first name
        share = ranks.astype(float) ** -1.1
        share /= share.sum()
    growth = np.clip(rng.normal(0.05, 0.04, n_t), -0.03, 0.15)

    mix = np.empty((n_t, len(ENDPOINT_MIX)))
    for t in range(n_t):
        m = rng.dirichlet(ENDPOINT_MIX * 80)
        # not every client uses every route (read-mostly tenants never delete, search-only
        # apps never fetch a vector by id, ...); the largest tenant uses all
        p_use = np.clip(OPTIONAL_USE[:, 0] + OPTIONAL_USE[:, 1] * share[t], 0.0, 1.0)
        unused = rng.random(len(OPTIONAL_ROUTES)) >= p_use
        if ranks[t] > 1:
            for key, skip in zip(OPTIONAL_ROUTES, unused, strict=True):
                m[EP[key]] *= not skip
        mix[t] = m / m.sum()
    endpoint_cum = np.cumsum(mix, axis=1)
    endpoint_cum[:, -1] = 1.0

    lo, hi = profile.datasets_per_tenant
    if heavy:  # about one dataset more per tenfold size (an average tenant has 1-2)
        rel = np.maximum(share * n_t, 1e-9)
        n_ds = np.clip(1 + np.floor(np.log10(rel)).astype(np.int64)
                       + rng.integers(0, 2, n_t), lo, hi)
    else:
        n_ds = rng.integers(lo, hi + 1, n_t)
    datasets: list[str] = []
    ds_tenant: list[int] = []
    ds_cum: list[float] = []
    writable: list[bool] = []
    write_cum: list[float] = []
    for t in range(n_t):
        words = rng.choice(len(DATASET_WORDS), size=n_ds[t], replace=False)
        w = rng.dirichlet(np.full(n_ds[t], 2.0))
        c = np.cumsum(w)
        c[-1] = 1.0
        # most datasets are loaded once and then only read; writes go to the few "live" ones
        # (the most used), 2 for large tenants, 1 for the rest
        n_live = min(n_ds[t], 2 if share[t] > LIVE2_SHARE else 1)
        live = np.zeros(n_ds[t], bool)
        live[np.argsort(-w, kind="stable")[:n_live]] = True
        wc = np.cumsum(np.where(live, w, 0.0))
        wc /= wc[-1]
        short = names[t].removeprefix("tenant-")
        for j, wi in enumerate(words):
            datasets.append(f"{short}-{DATASET_WORDS[wi]}")
            ds_tenant.append(t)
            ds_cum.append(t + c[j])
            writable.append(bool(live[j]))
            write_cum.append(t + (1.0 if j == n_ds[t] - 1 else wc[j]))
    n_d = len(datasets)
    primary = rng.choice(len(SEARCH_TYPES), size=n_d, p=[0.5, 0.3, 0.2])
    secondary = np.where(rng.random(n_d) < 0.15, (primary + 1 + rng.integers(0, 2, n_d)) % 3, -1)

    sizes = (share * 60 * 4.25).astype(float)  # a tenant's mean requests per minute x 4.25
    rate_limit = np.ceil(sizes * profile.api_rate).astype(np.int64) + 10
    pods, n_pods = _sticky_pods(share, profile.n_replicas)
    sdk = ("tributary-python/2.3.1", "tributary-python/2.4.0", "tributary-js/1.8.2", "curl/8.5.0")
    return World(
        tenants=names,
        share=share,
        growth=growth,
        endpoint_cum=endpoint_cum,
        latency_factor=rng.uniform(0.8, 1.4, n_t),
        cache_hit_p=rng.uniform(0.55, 0.9, n_t),
        rate_limit=rate_limit,
        user_agent=tuple(sdk[i] for i in rng.integers(0, len(sdk), n_t)),
        client_ip=tuple(f"10.{(20 + t) % 256}.{rng.integers(0, 255)}.{rng.integers(1, 255)}"
                        for t in range(n_t)),
        datasets=tuple(datasets),
        ds_tenant=np.array(ds_tenant),
        ds_offset=np.concatenate([[0], np.cumsum(n_ds)]),
        ds_cum=np.array(ds_cum),
        ds_writable=np.array(writable),
        ds_write_cum=np.array(write_cum),
        ds_search_primary=primary,
        ds_search_secondary=secondary,
        ds_top_k=rng.choice([5, 10, 10, 20, 50], size=n_d),
        ds_index_type=rng.choice(len(INDEX_TYPES), size=n_d, p=[0.7, 0.3]),
        ds_initial_vectors=np.round(np.exp(rng.uniform(np.log(2e4), np.log(3e6), n_d))),
        instances=tuple(f"deeplake-api-{i}:9090" for i in range(profile.n_replicas)),
        backup_plan=ranks <= max(1, round((BACKUP_PLAN_SHARE_HEAVY if heavy
                                           else BACKUP_PLAN_SHARE) * n_t)),
        backup_instance=np.arange(n_t) % profile.n_replicas,
        backup_offset_s=rng.uniform(0, 7200, n_t),
        tenant_pods=pods,
        tenant_n_pods=n_pods,
        ds_index_pod=rng.integers(0, profile.n_replicas, n_d),
    )


def _sticky_pods(share: np.ndarray, n_replicas: int) -> tuple[np.ndarray, np.ndarray]:
    """Which pods each tenant's keep-alive connections land on.

    A Kubernetes Service balances *connections*, not requests: a tenant's SDK keeps a few
    long-lived connections, so a small tenant talks to one pod, a mid-sized one to two and a
    large one to all (thresholds :data:`PODS3_SHARE`, :data:`PODS2_SHARE`). Tenants are
    assigned greedily to the least loaded pods, so load stays balanced. This is also what
    keeps the per-replica series count realistic.
    """
    n_t = share.size
    n_pods = np.where(share > PODS3_SHARE, 3, np.where(share > PODS2_SHARE, 2, 1))
    n_pods = np.minimum(n_pods, n_replicas)
    pods = np.zeros((n_t, n_replicas), np.int64)
    load = np.zeros(n_replicas)
    for t in np.argsort(-share, kind="stable"):
        chosen = np.argsort(load, kind="stable")[: n_pods[t]]
        pods[t, : n_pods[t]] = np.sort(chosen)
        load[chosen] += share[t] / n_pods[t]
    return pods, n_pods
