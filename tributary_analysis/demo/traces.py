"""Simulated traces: the seed's ``TracingService`` spans for the same requests as logs and metrics.

Which requests
    Every API request gets a trace context (a random 16-byte trace id and the server span's
    8-byte id); health probes get none (``/health`` is an excluded URL of the FastAPI
    instrumentation, as is usual for probes). The SDK samples at the head with
    ``TraceIdRatioBased(ratio)``: a trace is exported when the lower 64 bits of its id are
    below ``ratio * 2**64`` (the Python SDK's rule), so the sample is uniform and
    deterministic: ``1/8`` of the requests for the ``small`` profile, ``1/16`` for ``demo``
    (:data:`SAMPLE_RATIO`). Log lines carry ``trace_id``/``span_id`` for every traced
    request, sampled or not, as a service's logs do.
Which spans
    ``SERVER`` ``"{method} {route}"`` (FastAPI instrumentation, stable HTTP semantic
    conventions; ``http.route`` is the metrics' ``endpoint`` label) with the app's
    ``tenant_id``; custom spans made by the seed's ``@trace_operation`` decorator
    (``function.name``, ``function.module``, ``function.args_count``/``kwargs_count``, on
    success ``function.duration`` and ``function.success``; the app adds ``tenant_id``,
    ``dataset_id``, ``search_type``, ``top_k``, ``results_count``, ``index_type``,
    ``vectors_count``, ``cache_hit``): ``authenticate``, ``tenant_lookup``,
    ``search_vectors`` → ``index_search`` (ANN in DeepLake; ``index_load`` when the HNSW
    index is not cached), ``text_search``, ``insert_vectors`` → ``index_append``,
    ``delete_vectors`` → ``index_delete``, ``get_vector`` → ``dataset_read``; Redis client
    spans (``GET``, ``HGETALL``, ``EVALSHA`` for the rate limiter, ``SETEX``, ``DEL``),
    SQLAlchemy spans (``SELECT tributary``, ``UPDATE tributary``) and an HTTPX span
    (``POST``, the embeddings call of hybrid searches, concurrent with ``text_search``).
    The decorator's spans are modelled as its intent (the current span, so calls inside
    nest under it); as written, the seed's ``tracer.start_span`` never makes them current,
    so in the seed they would be siblings under the server span.
Errors
    As ``record_exception`` and the SDK's ``Span.__exit__`` record them through the
    decorator: every decorated span an exception passes through gets status ``ERROR``
    (message ``"<Type>: <message>"``) and two ``exception`` events (``escaped`` ``False``
    from the decorator, ``True`` from ``__exit__``) with ``exception.type`` (qualified),
    ``exception.message`` and ``exception.stacktrace``. A server span is ``ERROR`` for a
    5xx response; it records the exception only when it escaped the app (unhandled, 500).
Durations
    The server span is the logged request (start = ``Request started``, duration = the
    logged ``duration`` to the microsecond); ``search_vectors`` lasts exactly the logged
    search ``duration``; children tile their parents in order, so self times sum to the
    request duration exactly (integer microseconds, written as nanoseconds).
Incidents
    The latency regression adds its extra time as self time of ``search_vectors`` (and of
    ``insert_vectors`` when inserts are named) plus the server span's response
    serialisation; the error spike fails ``index_search``/``text_search`` with
    ``SearchBackendUnavailable`` / ``SearchBackendError`` (``tenant_lookup``'s query with
    ``OperationalError`` on other endpoints); the noisy tenant's 429s end after
    ``EVALSHA`` and every neighbour span stretches by the contention factor.
    :func:`incident_spans` writes this into each incident's ``expected["spans"]``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.demo import otlp
from tributary_analysis.demo.incidents import Incident
from tributary_analysis.demo.traffic import (
    E_429,
    E_500,
    E_503,
    E_SEARCH500,
    E_V404,
    E_VALID,
    E_VEC,
    US,
    Requests,
    ramp,
)
from tributary_analysis.demo.world import ENDPOINTS, EP, INDEX_TYPES, SEARCH_TYPES, World

SERVICE = "deeplake-api"
NAMESPACE = "tributary"
ENVIRONMENT = "production"
#: head-sampling ratio per profile name (others: :data:`DEFAULT_SAMPLE_RATIO`)
SAMPLE_RATIO: dict[str, float] = {"small": 1 / 8, "demo": 1 / 16, "large": 1 / 64}
DEFAULT_SAMPLE_RATIO = 1 / 8
SDK_VERSION = "1.38.0"
INSTRUMENTATION_VERSION = "0.59b0"
#: instrumentation scopes: (name, version); the app's tracer is ``get_tracer(__name__)`` of
#: the seed's ``app/monitoring/tracing.py``
SCOPES: tuple[tuple[str, str], ...] = (
    ("opentelemetry.instrumentation.fastapi", INSTRUMENTATION_VERSION),
    ("opentelemetry.instrumentation.redis", INSTRUMENTATION_VERSION),
    ("opentelemetry.instrumentation.sqlalchemy", INSTRUMENTATION_VERSION),
    ("opentelemetry.instrumentation.httpx", INSTRUMENTATION_VERSION),
    ("app.monitoring.tracing", ""),
)
S_FASTAPI, S_REDIS, S_SQL, S_HTTPX, S_APP = range(len(SCOPES))
#: api-key and tenant-config cache miss rates (the miss path queries Postgres)
AUTH_MISS, TENANT_MISS = 0.08, 0.04
#: share of index-using searches slower than this quantile of their kind that load the index
INDEX_LOAD_QUANTILE = 0.96
#: the server span ends at least this long after its last child (the seed logs 100 µs before)
TAIL_US = 120
DECORATOR_FRAME = ('  File "/app/app/monitoring/decorators.py", line 25, in async_wrapper\n'
                   "    result = await func(*args, **kwargs)\n")


@dataclass(frozen=True)
class Custom:
    """A span of the seed's ``@trace_operation(name)`` on ``module.function``."""

    name: str
    function: str
    module: str
    args: int
    kwargs: int
    #: (line, code) in the function where it calls the next decorated function or raises
    line: int
    code: str


CUSTOM: dict[str, Custom] = {c.name: c for c in (
    Custom("authenticate", "authenticate", "app.auth.api_keys", 1, 0, 41,
           "key = await api_key_cache.get(key_hash)"),
    Custom("tenant_lookup", "get_tenant", "app.services.tenants", 1, 0, 58,
           "row = (await session.execute(select(Tenant).where(Tenant.id == tenant_id)))"
           ".scalar_one_or_none()"),
    Custom("search_vectors", "search_vectors", "app.services.search", 3, 0, 112,
           "hits = await index_search(dataset, query_vector, k=k)"),
    Custom("index_search", "index_search", "app.services.deeplake", 2, 1, 141, ""),
    Custom("text_search", "text_search", "app.services.deeplake", 2, 1, 176, ""),
    Custom("index_load", "load_index", "app.services.deeplake", 1, 0, 98, ""),
    Custom("insert_vectors", "insert_vectors", "app.services.vectors", 2, 0, 64,
           "await append(dataset, batch)"),
    Custom("index_append", "append", "app.services.deeplake", 2, 0, 219, ""),
    Custom("delete_vectors", "delete_vectors", "app.services.vectors", 2, 0, 97,
           "await delete(dataset, vector_id)"),
    Custom("index_delete", "delete", "app.services.deeplake", 2, 0, 247, ""),
    Custom("get_vector", "get_vector", "app.services.vectors", 2, 0, 83,
           'raise VectorNotFoundError("Vector not found")'),
    Custom("dataset_read", "read", "app.services.deeplake", 2, 0, 265, ""),
)}


@dataclass(frozen=True)
class Failure:
    """An exception raised in ``origin`` and recorded on the way up."""

    type: str
    message: str
    raise_code: str


SEARCH_UNAVAILABLE = Failure("app.services.deeplake.SearchBackendUnavailable",
                             "Search backend unavailable",
                             'raise SearchBackendUnavailable("Search backend unavailable") '
                             "from exc")
SEARCH_ERROR = Failure("app.services.deeplake.SearchBackendError", "Search backend error",
                       'raise SearchBackendError("Search backend error") from exc')
VECTOR_FAILED = Failure("app.services.deeplake.VectorOperationError", "Vector operation failed",
                        'raise VectorOperationError("Vector operation failed") from exc')
VECTOR_NOT_FOUND = Failure("app.services.vectors.VectorNotFoundError", "Vector not found",
                           'raise VectorNotFoundError("Vector not found")')
DB_LOST = Failure("sqlalchemy.exc.OperationalError",
                  "(psycopg2.OperationalError) server closed the connection unexpectedly",
                  "cursor.execute(statement, parameters)")

SQL: dict[str, str] = {
    "api_key": "SELECT api_keys.id, api_keys.tenant_id, api_keys.scopes FROM api_keys WHERE "
               "api_keys.key_hash = %(key_hash_1)s",
    "tenant": "SELECT tenants.id, tenants.plan, tenants.rate_limit FROM tenants WHERE "
              "tenants.id = %(id_1)s",
    "metadata": "SELECT vectors.id, vectors.metadata FROM vectors WHERE vectors.dataset_id = "
                "%(dataset_id_1)s AND vectors.id IN (__[POSTCOMPILE_id_1])",
    "dataset": "SELECT datasets.id, datasets.name, datasets.vector_count, datasets.index_type "
               "FROM datasets WHERE datasets.id = %(id_1)s AND datasets.tenant_id = "
               "%(tenant_id_1)s",
    "list": "SELECT datasets.id, datasets.name FROM datasets WHERE datasets.tenant_id = "
            "%(tenant_id_1)s ORDER BY datasets.created_at DESC LIMIT %(param_1)s",
    "count": "UPDATE datasets SET vector_count=(datasets.vector_count + %(vector_count_1)s) "
             "WHERE datasets.id = %(id_1)s",
}
REDIS_ARGS = {"GET": 2, "HGETALL": 2, "EVALSHA": 6, "SETEX": 4, "DEL": 2}


def sample_ratio(profile_name: str, override: float | None = None) -> float:
    """The head-sampling ratio for a profile (``override`` wins; must be in (0, 1])."""
    ratio = SAMPLE_RATIO.get(profile_name, DEFAULT_SAMPLE_RATIO) if override is None \
        else float(override)
    if not 0 < ratio <= 1:
        from tributary_analysis.errors import ConfigError

        raise ConfigError(f"trace_sample={override!r} must be a fraction in (0, 1], e.g. 0.125")
    return ratio


# ------------------------------------------------------------------------------ ids


_HEX = np.frombuffer(b"".join(f"{i:02x}".encode() for i in range(256)), np.uint8).reshape(
    256, 2)


def _hex(b: np.ndarray) -> list[str]:
    """Rows of bytes as lowercase hex strings."""
    n, w = b.shape
    out = _HEX[b].reshape(n, 2 * w)
    return out.view(f"S{2 * w}").ravel().astype(f"U{2 * w}").tolist()


@dataclass
class TraceIds:
    """Trace context per request (``""`` for untraced health probes)."""

    trace_id: list[str]
    span_id: list[str]
    traced: np.ndarray
    sampled: np.ndarray
    ratio: float


def assign_ids(rng: np.random.Generator, req: Requests, ratio: float) -> TraceIds:
    """Random W3C ids for every request and the SDK's ``TraceIdRatioBased`` decision."""
    n = len(req)
    tb = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    sb = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    tb[(tb == 0).all(axis=1), 15] = 1  # an all-zero id is invalid
    sb[(sb == 0).all(axis=1), 7] = 1
    low = tb[:, 8:].astype(np.uint64)
    low64 = np.zeros(n, np.uint64)
    for j in range(8):
        low64 = (low64 << np.uint64(8)) | low[:, j]
    traced = req.ep != EP["health"]
    bound = round(ratio * 2**64)
    sampled = traced & (np.ones(n, bool) if bound >= 2**64 else low64 < np.uint64(bound))
    tid, sid = _hex(tb), _hex(sb)
    for i in np.nonzero(~traced)[0].tolist():
        tid[i] = sid[i] = ""
    return TraceIds(tid, sid, traced, sampled, ratio)


# ------------------------------------------------------------------------------ shapes

#: an attribute part: a rendered KeyValue, or ``"col:<name>"`` for one per request
Part = str
Member = tuple[str, "TNode"]


class TNode:
    """One span of a trace *shape*: its items (gaps, children, concurrent blocks) tile it.

    A shape is the same for every request of a group (route, outcome, cache and search
    decisions); durations are drawn per request, vectorised over the group.
    """

    __slots__ = ("attrs", "event", "event_child", "exc", "exc_type", "extra", "fixed",
                 "items", "kind", "name", "scope", "status", "status_msg")

    def __init__(self, name: str, kind: int, scope: int, attrs: list[Part] | None = None
                 ) -> None:
        self.name, self.kind, self.scope = name, kind, scope
        self.attrs: list[Part] = attrs or []
        self.items: list[tuple[float, TNode | list[Member] | None]] = []
        self.fixed: str | None = None  # per-request duration key (the logged search time)
        self.extra: str | None = None  # per-request extra self time key (into the last gap)
        self.status = otlp.STATUS_UNSET
        self.status_msg = ""
        self.exc: list[tuple[int, str]] = []  # (µs before the end, event attributes)
        self.exc_type: str | None = None
        self.event = ""  # the app's cache event, at the end of ``event_child``
        self.event_child: TNode | None = None

    def gap(self, w: float) -> None:
        self.items.append((w, None))

    def add(self, w: float, child: TNode) -> TNode:
        self.items.append((w, child))
        return child

    def par(self, w: float, members: list[Member]) -> None:
        """Concurrent children (``asyncio.gather``); each lasts its fraction of the block."""
        self.items.append((w, members))

    def children(self) -> list[TNode]:
        out: list[TNode] = []
        for _, c in self.items:
            if isinstance(c, TNode):
                out.append(c)
            elif isinstance(c, list):
                out.extend(m for _, m in c)
        return out


@dataclass
class _Group:
    """Per-request vectors of one shape group while it is laid out."""

    rows: np.ndarray
    vec: dict[str, np.ndarray]
    rng: np.random.Generator
    dur: dict[int, np.ndarray] = field(default_factory=dict)
    start: dict[int, np.ndarray] = field(default_factory=dict)
    items: dict[int, np.ndarray] = field(default_factory=dict)  # item durations per node


def _inner_extra(node: TNode, g: _Group) -> np.ndarray | int:
    """Extra time inside ``node`` beyond its weights: its own and its unfixed children's."""
    tot: np.ndarray | int = g.vec[node.extra] if node.extra else 0
    for _, c in node.items:
        if isinstance(c, TNode) and c.fixed is None:
            tot = tot + _inner_extra(c, g)
    return tot


def _allocate(node: TNode, total: np.ndarray, g: _Group) -> None:
    """Durations of ``node``'s items for every request of the group: fixed children keep
    theirs, extras go where they were put (a node's own into its last gap), the rest is
    shared by jittered weights with cumulative rounding, so items sum to ``total``."""
    g.dur[id(node)] = total
    items = node.items
    if not items:
        return
    m, k = total.size, len(items)
    durs = np.zeros((m, k), np.int64)
    free, extras = [], []
    fixed_sum = np.zeros(m, np.int64)
    for j, (_, c) in enumerate(items):
        if isinstance(c, TNode) and c.fixed is not None:
            durs[:, j] = g.vec[c.fixed]
            fixed_sum += durs[:, j]
        else:
            free.append(j)
            extras.append(_inner_extra(c, g) if isinstance(c, TNode) else 0)
    own = g.vec[node.extra] if node.extra else 0
    extra_sum = sum(extras) if extras else 0
    budget = np.maximum(total - fixed_sum - own - extra_sum, 0)
    w = np.array([items[j][0] for j in free]) * (0.6 + 0.8 * g.rng.random((m, len(free))))
    cum = np.rint(np.cumsum(w, axis=1) / w.sum(axis=1, keepdims=True) * budget[:, None])
    parts = np.diff(cum.astype(np.int64), axis=1, prepend=0)
    for col, (j, e) in enumerate(zip(free, extras, strict=True)):
        durs[:, j] = parts[:, col] + e
    last_gap = max((j for j, (_, c) in enumerate(items) if c is None), default=k - 1)
    durs[:, last_gap] += total - durs.sum(axis=1)
    g.items[id(node)] = durs
    for j, (_, c) in enumerate(items):
        if isinstance(c, TNode):
            _allocate(c, durs[:, j].copy(), g)
        elif isinstance(c, list):
            for key, member in c:
                frac = g.vec[key]
                _allocate(member, np.maximum(1, np.rint(durs[:, j] * frac)).astype(np.int64),
                          g)


def _place(node: TNode, start: np.ndarray, g: _Group) -> None:
    g.start[id(node)] = start
    if not node.items:
        return
    durs = g.items[id(node)]
    cursor = start.copy()
    for j, (_, c) in enumerate(node.items):
        if isinstance(c, TNode):
            _place(c, cursor.copy(), g)
        elif isinstance(c, list):
            for _, member in c:
                _place(member, cursor.copy(), g)
        cursor += durs[:, j]


def _walk(node: TNode, parent: TNode | None = None) -> Iterator[tuple[TNode, TNode | None]]:
    """Depth-first pre-order: the order spans of a trace are written in."""
    yield node, parent
    for c in node.children():
        yield from _walk(c, node)


def _seconds(us: int) -> str:
    """Microseconds as a double of seconds, exactly as the Go marshaller prints it."""
    sec, frac = divmod(us, US)
    return f"{sec}.{frac:06d}".rstrip("0") if frac else str(sec)


# ------------------------------------------------------------------------------ the model


@dataclass
class SpanTable:
    """Every exported span, in trace order (a trace's spans together, depth-first)."""

    row: np.ndarray
    trace_id: list[str]
    span_id: list[str]
    parent_span_id: list[str]
    name: list[str]
    kind: np.ndarray
    scope: np.ndarray
    start_us: np.ndarray
    end_us: np.ndarray
    status: np.ndarray
    exception: list[str | None]
    json: list[str]

    def __len__(self) -> int:
        return len(self.span_id)

    def frame(self) -> pd.DataFrame:
        """The truth as a frame (one row per span; ``exception`` = type recorded on it)."""
        kinds = {v: k for k, v in otlp.KIND.items()}
        return pd.DataFrame({
            "request_row": self.row,
            "trace_id": self.trace_id, "span_id": self.span_id,
            "parent_span_id": [p or None for p in self.parent_span_id],
            "operation": pd.Categorical(self.name),
            "kind": pd.Categorical([kinds[int(k)] for k in self.kind]),
            "scope": pd.Categorical([SCOPES[int(s)][0] for s in self.scope]),
            "start": pd.to_datetime(self.start_us, unit="us", utc=True),
            "end": pd.to_datetime(self.end_us, unit="us", utc=True),
            "duration_s": (self.end_us - self.start_us) / US,
            "status": pd.Categorical(np.where(self.status == otlp.STATUS_ERROR, "error",
                                              "unset")),
            "exception": self.exception,
        })


class TraceModel:
    """Lays out the spans of the sampled requests, shape group by shape group."""

    def __init__(self, world: World, req: Requests, ids: TraceIds, paths: list[str],
                 incidents: list[Incident], versions: list[tuple[str, int]],
                 rng: np.random.Generator) -> None:
        self.w, self.r, self.ids, self.paths = world, req, ids, paths
        self.incidents, self.versions, self.rng = incidents, versions, rng
        self.rows = np.nonzero(ids.sampled)[0]
        self.reg_extra = self._regression()
        self.index_load = self._index_load()
        kv = otlp.kv
        self.route = [f"{e.method} {e.normalized}" for e in ENDPOINTS]
        self.server_static = [kv("url.scheme", "http"), kv("server.address", SERVICE),
                              kv("server.port", 8000), kv("network.protocol.version", "1.1")]
        self.custom_static = {
            c.name: [kv("function.name", c.function), kv("function.module", c.module),
                     *([kv("function.args_count", c.args)] if c.args else []),
                     *([kv("function.kwargs_count", c.kwargs)] if c.kwargs else [])]
            for c in CUSTOM.values()}
        self.redis_static = {cmd: [kv("db.system", "redis"),
                                   kv("db.statement", cmd + " ?" * (k - 1)),
                                   kv("net.peer.name", "redis"), kv("net.peer.port", 6379),
                                   kv("net.transport", "ip_tcp"),
                                   kv("db.redis.database_index", 0),
                                   kv("db.redis.args_length", k)]
                             for cmd, k in REDIS_ARGS.items()}
        self.sql_static = {k: [kv("db.system", "postgresql"), kv("db.name", "tributary"),
                               kv("db.statement", v), kv("net.peer.name", "postgres"),
                               kv("net.peer.port", 5432)]
                           for k, v in SQL.items()}
        self.embed_static = [kv("http.request.method", "POST"),
                             kv("url.full", "https://api.openai.com/v1/embeddings"),
                             kv("server.address", "api.openai.com"), kv("server.port", 443),
                             kv("network.protocol.version", "1.1"),
                             kv("http.response.status_code", 200)]
        self.scope_json = [otlp.scope(n, v) for n, v in SCOPES]
        tenant_kv = [kv("tenant_id", t) for t in world.tenants]
        ds_kv = [kv("dataset_id", d) for d in world.datasets]
        ua_kv = [kv("user_agent.original", u) for u in world.user_agent]
        ip_kv = [kv("client.address", i) for i in world.client_ip]
        itype_kv = [kv("index_type", t) for t in INDEX_TYPES]
        r = req
        # per-request attribute columns (``col:<name>``), rendered for a group's rows
        self.columns: dict[str, Any] = {
            "tenant": lambda rows: [tenant_kv[t] for t in r.tenant[rows].tolist()],
            "ua": lambda rows: [ua_kv[t] for t in r.tenant[rows].tolist()],
            "ip": lambda rows: [ip_kv[t] for t in r.tenant[rows].tolist()],
            "dataset": lambda rows: [ds_kv[d] for d in r.ds[rows].tolist()],
            "path": lambda rows: [kv("url.path", paths[i]) for i in rows.tolist()],
            "top_k": lambda rows: [kv("top_k", int(k)) for k in world.ds_top_k[r.ds[rows]]],
            "k": lambda rows: [kv("k", int(k)) for k in world.ds_top_k[r.ds[rows]]],
            "index_type": lambda rows: [itype_kv[t] for t in
                                        world.ds_index_type[r.ds[rows]].tolist()],
            "results": lambda rows: [kv("results_count", int(x)) for x in
                                     r.results[rows].tolist()],
            "batch": lambda rows: [kv("vectors_count", int(x)) for x in r.batch[rows].tolist()],
        }

    # -- incident effects --------------------------------------------------------------
    def _regression(self) -> np.ndarray:
        """Per request: the share of its duration the latency regression added."""
        r = self.r
        extra = np.zeros(len(r), np.float64)
        for inc in self.incidents:
            if inc.kind != "latency_regression":
                continue
            eps = set(inc.affects["endpoints"])
            on = np.array([e.normalized in eps for e in ENDPOINTS])[r.ep]
            win = on & (r.t_us >= inc.start_s * US) & (r.t_us < inc.end_s * US) & (
                r.err != E_429)
            f = float(inc.expected.get("latency_factor", 3.0))
            extra = np.where(win, 1.0 - 1.0 / f, extra)
        return extra

    def _index_load(self) -> np.ndarray:
        """Index-using search misses slower than most of their kind: the HNSW index was not
        in memory (``index_load``). Judged on the duration without incident effects."""
        r = self.r
        base = r.dur_us * (1.0 - self.reg_extra)
        for inc in self.incidents:
            if inc.kind == "noisy_tenant":
                nf = float(inc.expected.get("neighbour_latency_factor", 1.6)) - 1.0
                base = base / (1 + nf * ramp(r.t_us / US, inc.start_s, inc.end_s))
        cand = (r.ep == EP["search"]) & (r.err < 0) & (r.cache_hit == 0) & np.isin(
            r.search_type, [0, 1])
        idx = np.nonzero(cand)[0]
        out = np.zeros(len(r), bool)
        if idx.size == 0:
            return out
        df = pd.DataFrame({"b": base[idx], "k": r.search_type[idx].astype(np.int64) * 1000
                           + r.tenant[idx].astype(np.int64)})
        thr = df.groupby("k")["b"].transform(lambda s: s.quantile(INDEX_LOAD_QUANTILE))
        out[idx] = (df["b"] > thr).to_numpy()
        return out

    # -- shapes ------------------------------------------------------------------------
    def _keys(self) -> np.ndarray:
        """One shape code per sampled request (route, outcome, cache/search decisions)."""
        r, w, rows = self.r, self.w, self.rows
        u = self.rng.random((rows.size, 3))
        ep = r.ep[rows].astype(np.int64)
        err = r.err[rows].astype(np.int64)
        auth = (u[:, 0] < AUTH_MISS).astype(np.int64)
        ten = ((u[:, 1] < TENANT_MISS) | (err == E_500)).astype(np.int64)
        search = ep == EP["search"]
        ok = err < 0
        hit = ((r.cache_hit[rows] == 1) & ok & (search | (ep == EP["get"]))).astype(np.int64)
        ds = np.maximum(r.ds[rows], 0)
        st = np.where(r.search_type[rows] >= 0, r.search_type[rows], w.ds_search_primary[ds])
        st = np.where(search, st, -1).astype(np.int64)
        il = (self.index_load[rows] & search & (hit == 0)).astype(np.int64)
        ef = ((u[:, 2] < 0.7) & (st == 1)).astype(np.int64)
        return (((((((ep * 10 + err + 1) * 2 + auth) * 2 + ten) * 2 + hit) * 4 + st + 1) * 2
                 + il) * 2 + ef)

    @staticmethod
    def _decode(code: int) -> tuple[int, ...]:
        code, ef = divmod(code, 2)
        code, il = divmod(code, 2)
        code, st1 = divmod(code, 4)
        code, hit = divmod(code, 2)
        code, ten = divmod(code, 2)
        code, auth = divmod(code, 2)
        ep, err1 = divmod(code, 10)
        return ep, err1 - 1, auth, ten, hit, st1 - 1, il, ef

    def _custom(self, name: str, extra: list[Part]) -> TNode:
        return TNode(name, otlp.KIND["internal"], S_APP, [*self.custom_static[name], *extra])

    def _redis(self, cmd: str) -> TNode:
        return TNode(cmd, otlp.KIND["client"], S_REDIS, list(self.redis_static[cmd]))

    def _sql(self, what: str, verb: str = "SELECT") -> TNode:
        return TNode(f"{verb} tributary", otlp.KIND["client"], S_SQL, list(self.sql_static[what]))

    def _shape(self, key: tuple[int, ...], status_code: int) -> tuple[TNode, TNode | None]:
        """The spans of one shape, and the span a latency regression slows (if any)."""
        ep, err, auth_miss, ten_miss, _hit, _st, _il, _ef = key
        e = ENDPOINTS[ep]
        kv = otlp.kv
        root = TNode(self.route[ep], otlp.KIND["server"], S_FASTAPI, [
            kv("http.request.method", e.method), *self.server_static, "col:path",
            *([kv("url.query", "limit=50")] if ep == EP["list"] else []),
            "col:ip", "col:ua", kv("http.route", e.normalized), "col:tenant",
            kv("http.response.status_code", status_code)])
        root.extra = "root_extra"
        root.gap(8)
        auth = root.add(22, self._custom("authenticate", ["col:tenant"]))
        auth.gap(10)
        auth.add(40, self._redis("GET"))
        if auth_miss:
            auth.gap(4)
            auth.add(46, self._sql("api_key"))
        auth.gap(6)
        root.gap(2)
        ten = root.add(20, self._custom("tenant_lookup", ["col:tenant"]))
        ten.gap(10)
        ten.add(45, self._redis("HGETALL"))
        failed: list[TNode] = []
        if ten_miss:
            ten.gap(4)
            q = ten.add(300 if err == E_500 else 45, self._sql("tenant"))
            if err == E_500:
                q.status, q.status_msg = otlp.STATUS_ERROR, DB_LOST.message
                failed = [q, ten]
        ten.gap(6)
        carrier: TNode | None = None
        if err != E_500:
            root.gap(2)
            root.add(12, self._redis("EVALSHA"))
            if err not in (E_429, E_VALID):
                root.gap(2)
                carrier = self._handler(root, key, failed)
        root.gap(10)
        if status_code >= 500:
            root.status = otlp.STATUS_ERROR
        if failed:
            self._fail(root, failed)
        if carrier is not None:
            carrier.extra = "carrier_extra"
        return root, carrier

    def _handler(self, root: TNode, key: tuple[int, ...], failed: list[TNode]) -> TNode | None:
        ep, err, _, _, hit, st, il, ef = key
        kv = otlp.kv
        if ep == EP["search"]:
            ok = err < 0
            attrs = ["col:tenant", "col:dataset", kv("search_type", SEARCH_TYPES[st]),
                     "col:top_k", kv("cache_hit", bool(hit)), *(["col:results"] if ok else [])]
            sv = root.add(75, self._custom("search_vectors", attrs))
            if ok:  # the logged search duration
                sv.fixed = "S"
            sv.gap(2)
            get = sv.add(8 if hit else 5, self._redis("GET"))
            sv.event, sv.event_child = ("cache.hit" if hit else "cache.miss"), get
            sv.gap(1)
            backend: TNode | None = None
            if not hit:
                idx = ["col:dataset", "col:index_type", "col:k"]
                if st == 1:  # hybrid: embed the text while BM25 runs, then the ANN search
                    emb = TNode("POST", otlp.KIND["client"], S_HTTPX, list(self.embed_static))
                    txt = self._custom("text_search", ["col:dataset", "col:k"])
                    sv.par(30, [("one", emb), ("par_a", txt)] if ef else
                           [("par_a", emb), ("one", txt)])
                    sv.gap(1)
                    backend = sv.add(35, self._custom("index_search", idx))
                elif st == 2:
                    backend = sv.add(50, self._custom("text_search", ["col:dataset", "col:k"]))
                else:
                    backend = sv.add(55, self._custom("index_search", idx))
                if il:  # the HNSW index was not in memory
                    backend.gap(1)
                    backend.add(85, self._custom("index_load", ["col:dataset", "col:index_type"]))
                    backend.gap(14)
                    sv.items[-1] = (sv.items[-1][0] * 6, backend)
                if ok:
                    sv.gap(1)
                    sv.add(4, self._redis("SETEX"))
            if err in (E_503, E_SEARCH500) and backend is not None:
                failed[:] = [backend, sv]
                self._failure = SEARCH_UNAVAILABLE if err == E_503 else SEARCH_ERROR
            elif ok:
                sv.gap(1)
                sv.add(70 if hit else 28, self._sql("metadata"))
            sv.gap(4)
            return sv
        if ep in (EP["insert"], EP["delete"]):
            ins = ep == EP["insert"]
            h = root.add(80, self._custom("insert_vectors" if ins else "delete_vectors",
                                          ["col:tenant", "col:dataset",
                                           *(["col:batch"] if ins else [])]))
            h.gap(3)
            if err == E_V404:
                h.add(60, self._custom("dataset_read", ["col:dataset"]))
                failed[:] = [h]
                self._failure = VECTOR_NOT_FOUND
            else:
                op = h.add(70, self._custom("index_append" if ins else "index_delete",
                                            ["col:dataset"]))
                if err == E_VEC:
                    failed[:] = [op, h]
                    self._failure = VECTOR_FAILED
                else:
                    h.gap(2)
                    h.add(12, self._sql("count", "UPDATE"))
                    h.gap(1)
                    h.add(5, self._redis("DEL"))
            h.gap(3)
            return h
        if ep == EP["get"]:
            h = root.add(75, self._custom("get_vector", ["col:tenant", "col:dataset",
                                                         kv("cache_hit", bool(hit))]))
            h.gap(3)
            get = h.add(80 if hit else 25, self._redis("GET"))
            h.event, h.event_child = ("cache.hit" if hit else "cache.miss"), get
            if not hit:
                h.gap(2)
                h.add(60, self._custom("dataset_read", ["col:dataset"]))
                if err == E_V404:
                    failed[:] = [h]
                    self._failure = VECTOR_NOT_FOUND
                else:
                    h.gap(1)
                    h.add(8, self._redis("SETEX"))
            h.gap(3)
            return h
        # dataset metadata (a 404 is an HTTPException in the handler: nothing recorded), list
        root.add(60, self._sql("dataset" if ep == EP["dataset"] else "list"))
        return None

    # -- errors ------------------------------------------------------------------------
    @staticmethod
    def _stack(chain: list[TNode], failure: Failure) -> str:
        """The traceback ``record_exception`` formats in the outermost span of ``chain``
        (decorated spans, outer → inner, down to the raise)."""
        frames = []
        for k, n in enumerate(chain):
            c = CUSTOM[n.name]
            if k == len(chain) - 1:
                code = c.code if failure is DB_LOST else failure.raise_code
            else:
                code = f"return await {CUSTOM[chain[k + 1].name].function}(*args, **kwargs)"
            path = "/app/" + c.module.replace(".", "/") + ".py"
            frames.append(DECORATOR_FRAME)
            frames.append(f'  File "{path}", line {c.line}, in {c.function}\n    {code}\n')
        if failure is DB_LOST:
            frames.append('  File "/usr/local/lib/python3.12/site-packages/sqlalchemy/engine/'
                          'default.py", line 941, in do_execute\n'
                          "    cursor.execute(statement, parameters)\n")
        return ("Traceback (most recent call last):\n" + "".join(frames)
                + f"{failure.type}: {failure.message}\n")

    def _fail(self, root: TNode, failed: list[TNode]) -> None:
        """Status and exception events on the spans an exception passed through
        (``failed`` is innermost first)."""
        failure = DB_LOST if failed[0].kind == otlp.KIND["client"] else self._failure
        chain_up = [n for n in failed if n.name in CUSTOM]
        short = failure.type.rsplit(".", 1)[-1]
        kv = otlp.kv
        for k, n in enumerate(chain_up):
            stack = self._stack(list(reversed(chain_up[:k + 1])), failure)
            n.status, n.status_msg = otlp.STATUS_ERROR, f"{short}: {failure.message}"
            body = ",".join([kv("exception.type", failure.type),
                             kv("exception.message", failure.message),
                             kv("exception.stacktrace", stack)])
            n.exc = [(2, body + "," + kv("exception.escaped", "False")),
                     (1, body + "," + kv("exception.escaped", "True"))]
            n.exc_type = failure.type
        if failure is DB_LOST:  # unhandled: the ASGI middleware records it on the server span
            stack = self._stack(list(reversed(chain_up)), failure)
            root.status_msg = f"{short}: {failure.message}"
            root.exc = [(1, ",".join([kv("exception.type", failure.type),
                                      kv("exception.message", failure.message),
                                      kv("exception.stacktrace", stack),
                                      kv("exception.escaped", "True")]))]
            root.exc_type = failure.type

    # -- one group ---------------------------------------------------------------------
    def _group(self, code: int, rows: np.ndarray, out: dict[str, list[Any]]) -> None:
        r = self.r
        key = self._decode(code)
        self._failure = DB_LOST
        root, carrier = self._shape(key, int(r.status[rows[0]]))
        m = rows.size
        d = r.dur_us[rows].astype(np.int64)
        end = r.t_us[rows].astype(np.int64)
        s = r.search_dur_us[rows].astype(np.int64)
        frac = self.reg_extra[rows]
        tail = np.minimum(TAIL_US, np.maximum(d // 10, 1))
        zero = np.zeros(m, np.int64)
        if carrier is not None and carrier.fixed is not None:
            ce, re = np.rint(s * frac), np.rint((d - s) * frac) + tail
        elif carrier is not None:
            ce, re = np.rint(d * frac), tail
        else:
            ce, re = zero, np.rint(d * frac) + tail
        g = _Group(rows, {"S": s, "carrier_extra": ce.astype(np.int64),
                          "root_extra": np.asarray(re, np.int64),
                          "par_a": 0.55 + 0.4 * self.rng.random(m), "one": np.ones(m)},
                   self.rng)
        _allocate(root, d, g)
        _place(root, end - d, g)
        cols: dict[str, list[str]] = {}
        ids: dict[int, list[str]] = {}
        trace_ids = [self.ids.trace_id[i] for i in rows.tolist()]
        kv = otlp.kv
        for rank, (node, parent) in enumerate(_walk(root)):
            if parent is None:
                sid = [self.ids.span_id[i] for i in rows.tolist()]
                pid = [""] * m
            else:
                b = self.rng.integers(0, 256, (m, 8), dtype=np.uint8)
                b[(b == 0).all(axis=1), 7] = 1
                sid = _hex(b)
                pid = ids[id(parent)]
            ids[id(node)] = sid
            st = g.start[id(node)]
            du = g.dur[id(node)]
            en = st + du
            parts: list[list[str] | str] = []
            for p in node.attrs:
                if p.startswith("col:"):
                    if p not in cols:
                        cols[p] = self.columns[p[4:]](rows)
                    parts.append(cols[p])
                else:
                    parts.append(p)
            if node.scope == S_APP and node.status != otlp.STATUS_ERROR:
                parts.append([f'{{"key":"function.duration","value":{{"doubleValue":'
                              f'{_seconds(x)}}}}}' for x in np.maximum(du - 2, 0).tolist()])
                parts.append(kv("function.success", True))
            texts = _join_parts(parts, m)
            if node.exc:
                evs = [",".join(otlp.event((e - off) * 1000, "exception", [body])
                                for off, body in node.exc) for e in en.tolist()]
            elif node.event and node.event_child is not None:
                at = (g.start[id(node.event_child)] + g.dur[id(node.event_child)]).tolist()
                ctype = kv("cache_type", "query" if node.name == "search_vectors" else "vector")
                evs = [otlp.event(t * 1000, node.event, [ctype]) for t in at]
            else:
                evs = [""] * m
            head = f'","name":{otlp.jstr(node.name)}' + (f',"kind":{node.kind}' if node.kind
                                                          else "")
            status = otlp.status(node.status, node.status_msg)
            attr_open = ',"attributes":[' if texts[0] else ""
            attr_close = "]" if texts[0] else ""
            ev_open = ',"events":[' if evs[0] else ""
            ev_close = "]" if evs[0] else ""
            if parent is None:
                out["json"].extend(
                    f'{{"traceId":"{t}","spanId":"{sp}{head},"startTimeUnixNano":"{a}000",'
                    f'"endTimeUnixNano":"{z}000"{attr_open}{at_}{attr_close}'
                    f'{ev_open}{ev}{ev_close},{status}}}'
                    for t, sp, a, z, at_, ev in zip(trace_ids, sid, st.tolist(), en.tolist(),
                                                   texts, evs, strict=True))
            else:
                out["json"].extend(
                    f'{{"traceId":"{t}","spanId":"{sp}","parentSpanId":"{pp}{head},'
                    f'"startTimeUnixNano":"{a}000","endTimeUnixNano":"{z}000"'
                    f'{attr_open}{at_}{attr_close}{ev_open}{ev}{ev_close},{status}}}'
                    for t, sp, pp, a, z, at_, ev in zip(trace_ids, sid, pid, st.tolist(),
                                                       en.tolist(), texts, evs, strict=True))
            out["row"].append(rows)
            out["rank"].append(np.full(m, rank, np.int64))
            out["trace_id"].extend(trace_ids)
            out["span_id"].extend(sid)
            out["parent_span_id"].extend(pid)
            out["name"].extend([node.name] * m)
            out["kind"].append(np.full(m, node.kind, np.int8))
            out["scope"].append(np.full(m, node.scope, np.int8))
            out["start"].append(st)
            out["end"].append(en)
            out["status"].append(np.full(m, node.status, np.int8))
            out["exception"].extend([node.exc_type] * m)

    def build(self) -> SpanTable:
        """Lay out and render every sampled trace; spans in trace order."""
        out: dict[str, list[Any]] = {k: [] for k in (
            "json", "row", "rank", "trace_id", "span_id", "parent_span_id", "name", "kind",
            "scope", "start", "end", "status", "exception")}
        if self.rows.size:
            codes = self._keys()
            order = np.argsort(codes, kind="stable")
            uniq, first = np.unique(codes[order], return_index=True)
            bounds = [*first.tolist(), order.size]
            for j, code in enumerate(uniq.tolist()):
                self._group(int(code), self.rows[order[bounds[j]:bounds[j + 1]]], out)

        def cat(name: str, dtype: Any) -> np.ndarray:
            return np.concatenate(out[name]) if out[name] else np.zeros(0, dtype)

        row, rank = cat("row", np.int64), cat("rank", np.int64)
        o = np.lexsort((rank, row))
        ol = o.tolist()

        def pick(name: str) -> list[Any]:
            values = out[name]
            return [values[k] for k in ol]

        self.table = SpanTable(
            row=row[o], trace_id=pick("trace_id"), span_id=pick("span_id"),
            parent_span_id=pick("parent_span_id"), name=pick("name"),
            kind=cat("kind", np.int8)[o], scope=cat("scope", np.int8)[o],
            start_us=cat("start", np.int64)[o], end_us=cat("end", np.int64)[o],
            status=cat("status", np.int8)[o], exception=pick("exception"), json=pick("json"))
        return self.table

    # -- files -------------------------------------------------------------------------
    def resource_json(self, inst: int, version: int) -> str:
        pod = self.w.instances[inst].split(":", 1)[0]
        return otlp.resource({
            "service.name": SERVICE, "service.version": self.versions[version][0],
            "deployment.environment": ENVIRONMENT, "telemetry.sdk.language": "python",
            "telemetry.sdk.name": "opentelemetry", "telemetry.sdk.version": SDK_VERSION,
            "k8s.namespace.name": NAMESPACE, "k8s.pod.name": pod})

    def lines(self, max_spans: int = 1000) -> Iterator[tuple[int, str]]:
        """(UTC day, line): ``ExportTraceServiceRequest`` lines of whole traces in completion
        order, at most ``max_spans`` spans (or one trace) each, never across a UTC day."""
        tb, r = self.table, self.r
        n = len(tb)
        if n == 0:
            return
        rows = tb.row
        new = np.r_[True, rows[1:] != rows[:-1]]
        starts = [*np.nonzero(new)[0].tolist(), n]
        trace_rows = rows[new]
        days = (r.t_us[trace_rows] // US // 86400).tolist()
        inst = r.inst[trace_rows].tolist()
        ver = r.version[trace_rows].tolist()
        res_cache: dict[tuple[int, int], str] = {}
        scope = tb.scope.tolist()
        k = 0
        n_tr = len(trace_rows)
        while k < n_tr:
            day = days[k]
            groups: dict[tuple[int, int], dict[int, list[str]]] = {}
            count = 0
            while k < n_tr and days[k] == day:
                a, b = starts[k], starts[k + 1]
                if count and count + (b - a) > max_spans:
                    break
                scopes = groups.setdefault((inst[k], ver[k]), {})
                for s in range(a, b):
                    scopes.setdefault(scope[s], []).append(tb.json[s])
                count += b - a
                k += 1
            out = []
            for key, scopes in groups.items():
                if key not in res_cache:
                    res_cache[key] = self.resource_json(*key)
                out.append((res_cache[key], [(self.scope_json[s], scopes[s])
                                             for s in sorted(scopes)]))
            yield day, otlp.request_line(out)


def _join_parts(parts: list[list[str] | str], m: int) -> list[str]:
    """Comma-join attribute parts (static strings or per-request lists) for ``m`` requests."""
    if not parts:
        return [""] * m
    lists = [p for p in parts if isinstance(p, list)]
    if not lists:
        return [",".join(parts)] * m  # type: ignore[arg-type]
    # consecutive static parts become one template slot
    fmt, dyn = [], []
    for p in parts:
        if isinstance(p, list):
            fmt.append("{}")
            dyn.append(p)
        else:
            fmt.append(p.replace("{", "{{").replace("}", "}}"))
    template = ",".join(fmt)
    return [template.format(*vals) for vals in zip(*dyn, strict=True)]


def write_traces(model: TraceModel, out_dir: Path) -> tuple[list[Path], int]:
    """Write ``deeplake-api-YYYY-MM-DD.jsonl`` OTLP files (UTC day of the trace's end);
    returns (paths, line count)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    n_lines = 0
    fh = None
    cur = None
    try:
        for day, line in model.lines():
            if day != cur:
                if fh is not None:
                    fh.close()
                name = np.datetime_as_string(np.datetime64(day * 86400, "s"), unit="D")
                path = out_dir / f"{SERVICE}-{name}.jsonl"
                fh = path.open("w", encoding="utf-8")
                files.append(path)
                cur = day
            assert fh is not None
            fh.write(line)
            n_lines += 1
    finally:
        if fh is not None:
            fh.close()
    return files, n_lines


# ------------------------------------------------------------------------------ truth


def incident_spans(inc: Incident, spans: pd.DataFrame, requests: pd.DataFrame,
                   ratio: float) -> list[dict[str, Any]]:
    """Which spans carry ``inc``: what ``incidents.json`` records under ``expected.spans``.

    ``spans`` is :meth:`SpanTable.frame`; ``requests`` the simulator's request frame.
    ``traces`` counts the exported (sampled) traces whose request completed in the window.
    """
    t = requests["time"]
    win = ((t >= pd.Timestamp(inc.start)) & (t < pd.Timestamp(inc.end))).to_numpy()
    in_win = spans[win[spans["request_row"].to_numpy()]]
    roots = in_win[in_win["parent_span_id"].isna()]
    sample = f"1-in-{round(1 / ratio)} sample"
    if inc.kind == "error_spike":
        route = str(inc.affects["endpoint"])
        mine = roots[roots["operation"].astype(str).str.endswith(" " + route)]
        err_roots = mine[mine["status"] == "error"]
        tids = set(err_roots["trace_id"])
        cause = in_win[in_win["trace_id"].isin(tids) & in_win["exception"].notna()]
        # the origin: a span with an exception none of whose children has one
        has_child_exc = set(cause["parent_span_id"].dropna())
        origin = cause[~cause["span_id"].isin(has_child_exc)]
        out: list[dict[str, Any]] = []
        for op, part in origin.groupby(origin["operation"].astype(str)):
            types = part["exception"].astype(str).value_counts()
            out.append({"operation": op, "role": "cause", "status": "error",
                        "exception_types": {str(k): int(v) for k, v in types.items()},
                        "traces": int(part["trace_id"].nunique()),
                        "effect": f"raises the exception (2 exception events: escaped False "
                                  f"then True); counts are of the {sample}"})
        out.append({"operation": "search_vectors" if route.endswith("search")
                    else "tenant_lookup", "role": "propagates", "status": "error",
                    "effect": "the exception passes through this decorated span"})
        out.append({"operation": f"{inc.affects.get('method', 'POST')} {route}",
                    "role": "root", "status": "error", "traces": len(err_roots),
                    "effect": "server span ERROR for the 5xx response"})
        return out
    if inc.kind == "latency_regression":
        out = []
        for route in inc.affects["endpoints"]:
            mine = roots[roots["operation"].astype(str).str.endswith(" " + route)]
            name = {"search": "search_vectors", "vectors": "insert_vectors"}.get(
                route.rsplit("/", 1)[-1], "")
            if not name:
                continue
            basis = "logged search duration" if name == "search_vectors" else "request"
            out.append({"operation": name, "route": route, "role": "cause",
                        "effect": f"self time grows by (1 - 1/latency_factor) of the {basis}",
                        "traces": len(mine)})
            if name == "search_vectors":
                out.append({"operation": f"POST {route}", "route": route, "role": "cause",
                            "effect": "server span self time (response serialisation) grows "
                                      "by the rest of the extra", "traces": len(mine)})
        return out
    if inc.kind == "noisy_tenant":
        tenant = str(inc.affects["tenant"])
        req = requests.iloc[roots["request_row"].to_numpy()]
        limited = int(((req["status_code"] == 429)
                       & (req["tenant_id"].astype(str) == tenant)).sum())
        return [
            {"operation": "EVALSHA", "tenant_id": tenant, "role": "cause",
             "http.response.status_code": 429, "traces": limited,
             "effect": "rate-limited requests end after the rate limiter's Redis call"},
            {"operation": "*", "role": "contention",
             "effect": "every neighbour span stretches by the neighbour latency factor"}]
    return []


#: why incidents of these kinds leave spans as they are
NOT_IN_TRACES = {
    "memory_trend": "memory is not traced",
    "scrape_gap": "the replica keeps serving and exporting spans; only scraping stops",
    "restart": "requests in the 10 s are served by the other replicas",
}


__all__ = ["DEFAULT_SAMPLE_RATIO", "NOT_IN_TRACES", "SAMPLE_RATIO", "SCOPES", "SERVICE",
           "SpanTable", "TraceIds", "TraceModel", "assign_ids", "incident_spans",
           "sample_ratio", "write_traces"]
