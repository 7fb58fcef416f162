"""Requests and background jobs → per-scrape cumulative series, as each replica exposes them.

A request counts in the first scrape strictly after it completes. Counters and histograms are
cumulative per replica from its process start; the injected restart resets them right after a
scrape (so no count is lost), and the scrape gap removes that replica's samples (but not its
requests: the counters catch up). A labelled child appears at the first scrape after its first
observation, as ``prometheus_client`` creates children lazily; gauges the service sets from the
start (business gauges, rate-limit remaining, memory, connections) exist from the first scrape.

No ``_created`` series are written: ``prometheus_client`` would expose them, but they add a
series per child and nothing this suite needs (Prometheus ignores them for queries anyway).

Business gauges (``datasets_total``, ``vectors_total``, ``rate_limit_remaining``) are read from
shared state, so *every replica reports the same value*: ``sum()`` over instances overcounts
them by the number of replicas. Use ``max by (tenant_id, ...)``; the true values are in the
manifest and the simulation result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from tributary_analysis import seed
from tributary_analysis.demo.incidents import LIMIT_TYPE, Incident
from tributary_analysis.demo.traffic import (
    ERRORS,
    LIMIT_PHASE_S,
    LIMIT_WINDOW_S,
    US,
    Requests,
)
from tributary_analysis.demo.world import ENDPOINTS, EP, INDEX_TYPES, SEARCH_TYPES, World

Q = "\x01"  # stands for '"' until the writer's final byte replace (see openmetrics.py)


def escape_label(value: str) -> str:
    """Escape a label value as the exposition formats require (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def label_text(pairs: list[tuple[str, str]]) -> str:
    """``k="v",...`` with quotes written as :data:`Q`."""
    return ",".join(f"{k}={Q}{escape_label(v)}{Q}" for k, v in pairs)


@dataclass
class Grid:
    """The scrape grid and per-replica scrape state."""

    times: np.ndarray  # (K,) unix seconds
    instances: tuple[str, ...]
    scraped: np.ndarray  # (I, K) bool: False during the scrape gap
    restart: tuple[int, int] | None = None  # (instance index, scrape index it restarts after)

    @property
    def k(self) -> int:
        """Number of scrapes."""
        return int(self.times.size)

    def kbin(self, t_us: np.ndarray) -> np.ndarray:
        """Index of the first scrape strictly after each time."""
        return np.searchsorted(self.times * US, t_us, side="right")


@dataclass
class Block:
    """One sample name's series: label texts, values and presence on the scrape grid."""

    sample: str
    labels: list[str]
    values: np.ndarray  # (S, K)
    mask: np.ndarray  # (S, K) bool
    integer: bool = False
    #: round floats to this many decimals when writing (sums of microsecond durations are
    #: exact at 6; the float noise of summation would otherwise add ~10 bytes per sample)
    decimals: int | None = None

    @property
    def n_samples(self) -> int:
        """Samples this block writes."""
        return int(self.mask.sum())


@dataclass
class FamilyData:
    """A metric family ready to write: TYPE/HELP name, type and its blocks."""

    name: str
    type: str
    help: str
    blocks: list[Block] = field(default_factory=list)

    @property
    def n_samples(self) -> int:
        """Samples this family writes."""
        return sum(b.n_samples for b in self.blocks)

    @property
    def n_series(self) -> int:
        """Series this family writes (those with at least one sample)."""
        return sum(int(b.mask.any(axis=1).sum()) for b in self.blocks)


@dataclass
class LiveCut:
    """A history/live split of one simulation (``simulate(history_end=...)``).

    ``families`` holds every family whole (all scrapes, ``times``); the OpenMetrics parts
    the simulator writes for promtool stop at the last scrape at or before ``cutoff_s``, and
    the live demo service serves the rest of the same simulation in real time.
    """

    cutoff_s: int
    families: list[FamilyData] = field(default_factory=list)
    times: np.ndarray | None = None


def cut_families(families: list[FamilyData], times: np.ndarray,
                 cutoff_s: int) -> list[FamilyData]:
    """The families masked after ``cutoff_s`` (what the backfill gets; values shared)."""
    keep = times <= cutoff_s
    return [replace(fam, blocks=[replace(b, mask=b.mask & keep[None, :]) for b in fam.blocks])
            for fam in families]


def _om_name(fam: seed.MetricFamily) -> str:
    """The OpenMetrics family name: counters drop ``_total``, info drops ``_info``."""
    if fam.type == "counter" and fam.name.endswith("_total"):
        return fam.name[: -len("_total")]
    if fam.type == "info" and fam.name.endswith("_info"):
        return fam.name[: -len("_info")]
    return fam.name


class Aggregator:
    """Builds :class:`FamilyData` for every family from one simulation's events."""

    def __init__(self, world: World, grid: Grid, req: Requests, jobs: dict[str, np.ndarray],
                 incidents: list[Incident], versions: list[tuple[str, int]],
                 memory: np.ndarray, limit_bytes: int, rng: np.random.Generator) -> None:
        self.w, self.g, self.r, self.jobs = world, grid, req, jobs
        self.incidents, self.versions = incidents, versions
        self.memory, self.limit = memory, limit_bytes
        self.rng = rng
        self.k_req = grid.kbin(req.t_us)
        self.tenant_names = (seed.UNKNOWN_TENANT, *world.tenants)  # index = tenant + 1

    # ---------------------------------------------------------------- helpers
    def _target(self, inst: int) -> list[tuple[str, str]]:
        return [("job", seed.JOB), ("instance", self.g.instances[inst])]

    def _scraped(self, inst: np.ndarray) -> np.ndarray:
        return self.g.scraped[inst]

    def _accumulate(self, cols: list[np.ndarray], radices: list[int], k: np.ndarray,
                    weights: np.ndarray | None = None, extra: np.ndarray | None = None,
                    n_extra: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Unique label combinations, cumulative values (S, [n_extra,] K), first scrape."""
        code = np.zeros(k.size, np.int64)
        for c, r in zip(cols, radices, strict=True):
            code = code * r + c.astype(np.int64)
        uniq, inv = np.unique(code, return_inverse=True)
        n_s, n_k = uniq.size, self.g.k
        idx = inv.astype(np.int64)
        if extra is not None:
            idx = idx * n_extra + extra
        flat = np.bincount(idx * n_k + k, weights=weights, minlength=n_s * n_extra * n_k)
        cum = flat.reshape(n_s, n_extra, n_k) if extra is not None else flat.reshape(n_s, n_k)
        np.cumsum(cum, axis=-1, out=cum)
        decoded = []
        rest = uniq.copy()
        for r in reversed(radices):
            decoded.append(rest % r)
            rest //= r
        keys = np.stack(decoded[::-1], axis=1) if decoded else np.zeros((n_s, 0), np.int64)
        return keys, cum, uniq

    def _reset(self, cum: np.ndarray, inst: np.ndarray) -> np.ndarray:
        """Apply the restart: the restarted replica's values start again from 0."""
        if self.g.restart is None:
            return cum
        r, k_r = self.g.restart
        sel = inst == r
        if sel.any():
            cum[sel, ..., k_r + 1:] -= cum[sel, ..., k_r: k_r + 1]
        return cum

    def _presence(self, raw_count: np.ndarray, inst: np.ndarray) -> np.ndarray:
        """Series exist from the first scrape with a count, and only when scraped."""
        return (raw_count > 0) & self._scraped(inst)

    def _counter(self, fam: seed.MetricFamily, cols: list[np.ndarray], radices: list[int],
                 k: np.ndarray, label_fn: Callable[[np.ndarray], list[tuple[str, str]]],
                 ) -> FamilyData:
        keys, cum, _ = self._accumulate(cols, radices, k)
        inst = keys[:, 0]
        mask = self._presence(cum, inst)
        cum = self._reset(cum, inst)
        labels = [label_text(label_fn(row) + self._target(int(row[0]))) for row in keys]
        return FamilyData(_om_name(fam), fam.type, fam.help,
                          [Block(fam.sample_names[0], labels, cum, mask, integer=True)])

    def _histogram(self, fam: seed.MetricFamily, cols: list[np.ndarray], radices: list[int],
                   k: np.ndarray, value: np.ndarray,
                   label_fn: Callable[[np.ndarray], list[tuple[str, str]]]) -> FamilyData:
        bounds = np.array(fam.buckets, float)
        n_b = bounds.size + 1
        b = np.searchsorted(bounds, value, side="left")  # value <= bound → that bucket
        keys, buckets, _ = self._accumulate(cols, radices, k, extra=b, n_extra=n_b)
        np.cumsum(buckets, axis=1, out=buckets)  # cumulative in le
        _, sums, _ = self._accumulate(cols, radices, k, weights=value.astype(float))
        inst = keys[:, 0]
        count = buckets[:, -1, :].copy()
        mask = self._presence(count, inst)
        buckets = self._reset(buckets, inst)
        sums = self._reset(sums, inst)
        count = buckets[:, -1, :]
        base = [label_fn(row) for row in keys]
        tgt = [self._target(int(row[0])) for row in keys]
        les = fam.le_values
        b_labels = [label_text(base[s] + [("le", le)] + tgt[s])
                    for s in range(len(keys)) for le in les]
        n_s, n_k = count.shape
        b_mask = np.repeat(mask, n_b, axis=0)
        plain = [label_text(base[s] + tgt[s]) for s in range(len(keys))]
        names = fam.sample_names
        return FamilyData(_om_name(fam), fam.type, fam.help, [
            Block(names[0], b_labels, buckets.reshape(n_s * n_b, n_k), b_mask, integer=True),
            Block(names[2], plain, count, mask, integer=True),
            Block(names[1], plain, sums, mask.copy(), decimals=6),
        ])

    def _gauge_all(self, fam: seed.MetricFamily, per_series: list[list[tuple[str, str]]],
                   values: np.ndarray) -> FamilyData:
        """A gauge every replica reports at every scrape: values (S, K) per replica copy."""
        labels, vals, masks = [], [], []
        for i in range(len(self.g.instances)):
            labels += [label_text(p + self._target(i)) for p in per_series]
            vals.append(values)
            masks.append(np.repeat(self.g.scraped[i][None, :], len(per_series), axis=0))
        return FamilyData(_om_name(fam), fam.type, fam.help, [
            Block(fam.sample_names[0], labels, np.concatenate(vals), np.concatenate(masks))])

    # ---------------------------------------------------------------- families
    def families(self) -> list[FamilyData]:
        """All families: the seed's plus ``up``; in a stable order."""
        f = seed.FAMILIES_BY_NAME
        out = [
            self.http_requests(f["http_requests_total"]),
            self.http_duration(f["http_request_duration_seconds"]),
            self.datasets_total(f["datasets_total"]),
            self.vectors_total(f["vectors_total"]),
            *self.search(f["search_operations_total"], f["search_latency_seconds"]),
            *self.vector_ops(f["vector_operations_total"], f["vector_batch_size"]),
            *self.cache(f["cache_operations_total"], f["cache_hit_ratio"]),
            *self.rate_limits(f["rate_limit_hits_total"], f["rate_limit_remaining"]),
            self.active_connections(f["active_connections"]),
            self.memory_usage(f["memory_usage_bytes"]),
            self.errors(f["errors_total"]),
            self.index_builds(f["index_build_duration_seconds"]),
            self.backups(f["backup_duration_seconds"]),
            self.info(f["deeplake_api_info"]),
            self.up(),
        ]
        return out

    def http_requests(self, fam: seed.MetricFamily) -> FamilyData:
        r = self.r
        codes, st_idx = np.unique(r.status, return_inverse=True)
        sel = np.ones(len(r), bool)

        def lab(row: np.ndarray) -> list[tuple[str, str]]:
            e = ENDPOINTS[row[1]]
            return [("method", e.method), ("endpoint", e.normalized),
                    ("status_code", str(int(codes[row[2]]))),
                    ("tenant_id", self.tenant_names[row[3]])]
        return self._counter(fam, [r.inst[sel], r.ep[sel], st_idx[sel], r.tenant[sel] + 1],
                             [len(self.g.instances), len(ENDPOINTS), len(codes),
                              len(self.tenant_names)], self.k_req[sel], lab)

    def http_duration(self, fam: seed.MetricFamily) -> FamilyData:
        r = self.r

        def lab(row: np.ndarray) -> list[tuple[str, str]]:
            e = ENDPOINTS[row[1]]
            return [("method", e.method), ("endpoint", e.normalized),
                    ("tenant_id", self.tenant_names[row[2]])]
        return self._histogram(fam, [r.inst, r.ep, r.tenant + 1],
                               [len(self.g.instances), len(ENDPOINTS), len(self.tenant_names)],
                               self.k_req, r.dur_us / US, lab)

    def datasets_total(self, fam: seed.MetricFamily) -> FamilyData:
        n = np.diff(self.w.ds_offset).astype(float)
        vals = np.repeat(n[:, None], self.g.k, axis=1)
        return self._gauge_all(fam, [[("tenant_id", t)] for t in self.w.tenants], vals)

    def vector_counts(self) -> np.ndarray:
        """True vectors per dataset at each scrape (D, K): initial + inserted − deleted."""
        r = self.r
        ok = r.err < 0
        ins = ok & (r.ep == EP["insert"])
        dele = ok & (r.ep == EP["delete"])
        delta = np.where(ins, r.batch, 0) - np.where(dele, r.batch, 0)
        sel = ins | dele
        n_d = len(self.w.datasets)
        flat = np.bincount(r.ds[sel].astype(np.int64) * self.g.k + self.k_req[sel],
                           weights=delta[sel].astype(float), minlength=n_d * self.g.k)
        return self.w.ds_initial_vectors[:, None] + np.cumsum(flat.reshape(n_d, self.g.k), 1)

    def vectors_total(self, fam: seed.MetricFamily) -> FamilyData:
        per = [[("dataset_id", d), ("tenant_id", self.w.tenants[self.w.ds_tenant[j]])]
               for j, d in enumerate(self.w.datasets)]
        return self._gauge_all(fam, per, self.vector_counts())

    def _ds_labels(self, ds: int) -> list[tuple[str, str]]:
        return [("dataset_id", self.w.datasets[ds]),
                ("tenant_id", self.w.tenants[self.w.ds_tenant[ds]])]

    def search(self, f_ops: seed.MetricFamily, f_lat: seed.MetricFamily) -> list[FamilyData]:
        r = self.r
        sel = r.search_type >= 0
        cols = [r.inst[sel], r.search_type[sel], r.ds[sel]]
        rad = [len(self.g.instances), len(SEARCH_TYPES), len(self.w.datasets)]

        def lab(row: np.ndarray) -> list[tuple[str, str]]:
            return [("search_type", SEARCH_TYPES[row[1]]), *self._ds_labels(int(row[2]))]
        return [self._counter(f_ops, cols, rad, self.k_req[sel], lab),
                self._histogram(f_lat, cols, rad, self.k_req[sel],
                                r.search_dur_us[sel] / US, lab)]

    def vector_ops(self, f_ops: seed.MetricFamily, f_batch: seed.MetricFamily,
                   ) -> list[FamilyData]:
        r = self.r
        # the service records batch operations (inserts); single-vector deletes only change
        # vectors_total
        sel = (r.err < 0) & (r.ep == EP["insert"])
        op = np.zeros(int(sel.sum()), np.int64)
        cols = [r.inst[sel], op, r.ds[sel]]
        rad = [len(self.g.instances), 1, len(self.w.datasets)]

        def lab(row: np.ndarray) -> list[tuple[str, str]]:
            return [("operation", "insert"), *self._ds_labels(int(row[2]))]
        return [self._counter(f_ops, cols, rad, self.k_req[sel], lab),
                self._histogram(f_batch, cols, rad, self.k_req[sel], r.batch[sel], lab)]

    def cache(self, f_ops: seed.MetricFamily, f_ratio: seed.MetricFamily) -> list[FamilyData]:
        r = self.r
        sel = r.cache_type >= 0
        miss = sel & (r.cache_hit == 0)
        # operations: 0 hit, 1 miss, 2 set (a miss stores the fresh result)
        op = np.concatenate([np.where(r.cache_hit[sel] == 1, 0, 1), np.full(miss.sum(), 2)])
        inst = np.concatenate([r.inst[sel], r.inst[miss]])
        ct = np.concatenate([r.cache_type[sel], r.cache_type[miss]])
        ten = np.concatenate([r.tenant[sel], r.tenant[miss]]) + 1
        k = np.concatenate([self.k_req[sel], self.k_req[miss]])
        ops_names, types = ("hit", "miss", "set"), ("query", "vector")
        n_i, n_t = len(self.g.instances), len(self.tenant_names)

        def lab(row: np.ndarray) -> list[tuple[str, str]]:
            return [("operation", ops_names[row[1]]), ("cache_type", types[row[2]]),
                    ("tenant_id", self.tenant_names[row[3]])]
        ops = self._counter(f_ops, [inst, op, ct, ten], [n_i, 3, 2, n_t], k, lab)
        # hit ratio since process start, per replica: hits / (hits + misses)
        cols = [r.inst[sel], r.cache_type[sel], r.tenant[sel] + 1]
        keys, gets, _ = self._accumulate(cols, [n_i, 2, n_t], self.k_req[sel])
        _, hits, _ = self._accumulate(cols, [n_i, 2, n_t], self.k_req[sel],
                                      weights=(r.cache_hit[sel] == 1).astype(float))
        inst_k = keys[:, 0]
        mask = self._presence(gets, inst_k)
        gets = self._reset(gets.astype(float), inst_k)
        hits = self._reset(hits, inst_k)
        mask &= gets > 0
        ratio = np.divide(hits, gets, out=np.zeros_like(hits), where=gets > 0)
        labels = [label_text([("cache_type", types[row[1]]),
                              ("tenant_id", self.tenant_names[row[2]]),
                              *self._target(int(row[0]))]) for row in keys]
        fr = FamilyData(_om_name(f_ratio), f_ratio.type, f_ratio.help,
                        [Block(f_ratio.name, labels, ratio, mask, decimals=6)])
        return [ops, fr]

    def rate_limits(self, f_hits: seed.MetricFamily, f_rem: seed.MetricFamily,
                    ) -> list[FamilyData]:
        r = self.r
        lim = r.status == 429
        hits = self._counter(
            f_hits, [r.inst[lim], r.tenant[lim]], [len(self.g.instances), len(self.w.tenants)],
            self.k_req[lim],
            lambda row: [("tenant_id", self.w.tenants[row[1]]), ("limit_type", LIMIT_TYPE)])
        admitted = (r.ep != EP["health"]) & ~lim
        t_k = self.g.times
        w_start = (t_k - LIMIT_PHASE_S) // LIMIT_WINDOW_S * LIMIT_WINDOW_S + LIMIT_PHASE_S
        rem = np.empty((len(self.w.tenants), t_k.size))
        adm = np.nonzero(admitted & (r.tenant >= 0))[0]
        by_tenant = adm[np.argsort(r.tenant[adm], kind="stable")]  # time order kept
        bounds = np.searchsorted(r.tenant[by_tenant], np.arange(len(self.w.tenants) + 1))
        for t in range(len(self.w.tenants)):
            ts = r.t_us[by_tenant[bounds[t]:bounds[t + 1]]]
            used = (np.searchsorted(ts, t_k * US, side="left")
                    - np.searchsorted(ts, w_start * US, side="left"))
            rem[t] = np.maximum(self.w.rate_limit[t] - used, 0)
        per = [[("tenant_id", t), ("limit_type", LIMIT_TYPE)] for t in self.w.tenants]
        return [hits, self._gauge_all(f_rem, per, rem)]

    def active_connections(self, fam: seed.MetricFamily) -> FamilyData:
        n_i, n_k = len(self.g.instances), self.g.k
        per = np.bincount(self.r.inst.astype(np.int64) * n_k + self.k_req,
                          minlength=n_i * n_k).reshape(n_i, n_k)
        step = float(self.g.times[1] - self.g.times[0]) if n_k > 1 else 60.0
        conn = 4 + 10 * per / step + self.rng.normal(0, 1.0, (n_i, n_k))
        conn = np.maximum(np.round(conn), 1)
        labels = [label_text(self._target(i)) for i in range(n_i)]
        return FamilyData(fam.name, fam.type, fam.help,
                          [Block(fam.name, labels, conn, self.g.scraped.copy())])

    def memory_usage(self, fam: seed.MetricFamily) -> FamilyData:
        n_i = len(self.g.instances)
        labels, vals, masks = [], [], []
        for i in range(n_i):
            labels += [label_text([("memory_type", "used"), *self._target(i)]),
                       label_text([("memory_type", "total"), *self._target(i)])]
            vals += [self.memory[i], np.full(self.g.k, float(self.limit))]
            masks += [self.g.scraped[i], self.g.scraped[i]]
        return FamilyData(fam.name, fam.type, fam.help,
                          [Block(fam.name, labels, np.stack(vals), np.stack(masks))])

    def errors(self, fam: seed.MetricFamily) -> FamilyData:
        r = self.r
        sel = r.err >= 0
        return self._counter(
            fam, [r.inst[sel], r.err[sel], r.tenant[sel] + 1],
            [len(self.g.instances), len(ERRORS), len(self.tenant_names)], self.k_req[sel],
            lambda row: [("error_type", ERRORS[row[1]].error_type),
                         ("error_code", ERRORS[row[1]].error_code),
                         ("tenant_id", self.tenant_names[row[2]])])

    def index_builds(self, fam: seed.MetricFamily) -> FamilyData:
        j = self.jobs
        sel = j["kind"] == 0
        ds = j["ds"][sel]
        return self._histogram(
            fam, [j["inst"][sel], self.w.ds_index_type[ds], ds],
            [len(self.g.instances), len(INDEX_TYPES), len(self.w.datasets)],
            self.g.kbin(j["t_us"][sel]), j["dur_s"][sel],
            lambda row: [("index_type", INDEX_TYPES[row[1]]), *self._ds_labels(int(row[2]))])

    def backups(self, fam: seed.MetricFamily) -> FamilyData:
        j = self.jobs
        sel = j["kind"] == 1
        return self._histogram(
            fam, [j["inst"][sel], j["tenant"][sel]],
            [len(self.g.instances), len(self.w.tenants)],
            self.g.kbin(j["t_us"][sel]), j["dur_s"][sel],
            lambda row: [("backup_type", "full"), ("tenant_id", self.w.tenants[row[1]])])

    def info(self, fam: seed.MetricFamily) -> FamilyData:
        t_k = self.g.times
        starts = np.array([s for _, s in self.versions])
        current = np.searchsorted(starts, t_k, side="right") - 1
        labels, vals, masks = [], [], []
        for i in range(len(self.g.instances)):
            for v, (version, _) in enumerate(self.versions):
                labels.append(label_text([("version", version), ("environment", "production"),
                                          *self._target(i)]))
                vals.append(np.ones(t_k.size))
                masks.append((current == v) & self.g.scraped[i])
        return FamilyData(_om_name(fam), fam.type, fam.help,
                          [Block(fam.name, labels, np.stack(vals), np.stack(masks))])

    def up(self) -> FamilyData:
        n_i = len(self.g.instances)
        labels = [label_text(self._target(i)) for i in range(n_i)]
        return FamilyData("up", "gauge", "1 if the instance was scraped successfully", [
            Block("up", labels, self.g.scraped.astype(float),
                  np.ones_like(self.g.scraped, bool), integer=True)])
