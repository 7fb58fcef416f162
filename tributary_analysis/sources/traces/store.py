"""OTLP JSON → DuckDB tables → span frames: the one conversion both trace sources use.

Input is OTLP JSON as the OpenTelemetry Collector's file exporter writes it (one
``ExportTraceServiceRequest`` per line) or as Jaeger's API v3 answers (the same document
under ``result``). DuckDB parses and flattens it (``read_ndjson_objects`` + ``from_json``
with the OTLP structure: no Python per span) into three tables of one connection:

``spans``
    one row per span (``r`` = row number): ids (lowercase hex; base64 ids as protobuf's
    JSON mapping writes them are converted), service, name, kind, start/end nanoseconds,
    status, scope, resource id, events;
``attrs``
    the span attributes in long form ``(r, key, s, i, d, b, j)`` (string, int, double, bool,
    JSON for arrays/maps/bytes);
``resources``
    distinct resources and their attributes.

Questions are SQL with bound parameters (tenant ids and other attribute values are never
spliced into SQL); :func:`frame` pivots the selected spans' attributes into columns.
Spans that cannot be used are counted by kind (``bad_id``, ``bad_timestamp``,
``duplicate_span``) and left out; an end before the start keeps the span with no duration
(``negative_duration``).
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from tributary_analysis.frames.meta import Problem

_ANY = {"stringValue": "VARCHAR", "intValue": "VARCHAR", "doubleValue": "VARCHAR",
        "boolValue": "BOOLEAN", "arrayValue": "JSON", "kvlistValue": "JSON",
        "bytesValue": "VARCHAR"}
_KV = [{"key": "VARCHAR", "value": _ANY}]
_SPAN = {"traceId": "VARCHAR", "spanId": "VARCHAR", "traceState": "VARCHAR",
         "parentSpanId": "VARCHAR", "name": "VARCHAR", "kind": "VARCHAR",
         "startTimeUnixNano": "VARCHAR", "endTimeUnixNano": "VARCHAR", "attributes": _KV,
         "events": [{"timeUnixNano": "VARCHAR", "name": "VARCHAR", "attributes": _KV}],
         "status": {"message": "VARCHAR", "code": "VARCHAR"}}
_REQUEST = {"resourceSpans": [{
    "resource": {"attributes": _KV},
    "scopeSpans": [{"scope": {"name": "VARCHAR", "version": "VARCHAR"}, "spans": [_SPAN]}],
}]}
#: the ``from_json`` structure of an ``ExportTraceServiceRequest`` (unknown fields ignored)
STRUCTURE = json.dumps(_REQUEST)
#: the same under Jaeger's ``result``
WRAPPED = json.dumps({"result": _REQUEST})

_KINDS = {"1": "internal", "2": "server", "3": "client", "4": "producer", "5": "consumer"}


def _case(expr: str, mapping: dict[str, str], default: str) -> str:
    whens = " ".join(f"WHEN '{k}' THEN '{v}' WHEN 'SPAN_KIND_{v.upper()}' THEN '{v}'"
                     for k, v in mapping.items())
    return f"CASE {expr} {whens} ELSE '{default}' END"


def _id(expr: str, nbytes: int) -> str:
    """Lowercase hex of an id written as hex, or as base64 (protobuf JSON's bytes); the
    hex digits are checked in :data:`BAD_ID` (cheaper than a regex per span here)."""
    n_b64 = 4 * ((nbytes + 2) // 3)
    return (f"CASE WHEN length({expr}) = {2 * nbytes} THEN lower({expr}) "
            f"WHEN length({expr}) = {n_b64} THEN lower(hex(TRY(from_base64({expr})))) "
            "ELSE NULL END")


#: one row per span from ``src(page INTEGER, req STRUCT)`` (parsed requests)
FLATTEN_SQL = f"""
WITH r AS (SELECT page, unnest(req.resourceSpans) AS rs FROM src),
s AS (SELECT page, md5(CAST(rs.resource.attributes AS VARCHAR)) AS rid,
        rs.resource.attributes AS rattrs,
        list_extract(list_filter(rs.resource.attributes, lambda x: x.key = 'service.name'),
                     1).value.stringValue AS service,
        unnest(rs.scopeSpans) AS ss FROM r),
p AS (SELECT page, rid, rattrs, service, ss.scope.name AS scope, unnest(ss.spans) AS sp
      FROM s)
SELECT page,
  {_id("sp.traceId", 16)} AS trace_id,
  {_id("sp.spanId", 8)} AS span_id,
  CASE WHEN coalesce(sp.parentSpanId, '') = '' THEN NULL
       ELSE coalesce({_id("sp.parentSpanId", 8)}, '?') END AS parent_span_id,
  service,
  coalesce(sp.name, '') AS operation,
  {_case("sp.kind", _KINDS, "unspecified")} AS kind,
  TRY_CAST(sp.startTimeUnixNano AS BIGINT) AS start_ns,
  TRY_CAST(sp.endTimeUnixNano AS BIGINT) AS end_ns,
  CASE sp.status.code WHEN '2' THEN 'error' WHEN 'STATUS_CODE_ERROR' THEN 'error'
       WHEN '1' THEN 'ok' WHEN 'STATUS_CODE_OK' THEN 'ok' ELSE 'unset' END AS status,
  nullif(sp.status.message, '') AS status_message,
  nullif(sp.traceState, '') AS trace_state,
  scope, rid, rattrs,
  sp.attributes AS attributes,
  sp.events AS events
FROM p
"""
#: spans that cannot be used, by problem kind
BAD_ID = ("trace_id IS NULL OR span_id IS NULL OR parent_span_id = '?' OR NOT "
          "regexp_full_match(trace_id || span_id || coalesce(parent_span_id, ''), "
          "'[0-9a-f]+') OR trace_id = '00000000000000000000000000000000'")
BAD_TIME = "start_ns IS NULL OR end_ns IS NULL OR start_ns <= 0"

#: attributes of the long form: typed value columns
_VALUE_COLUMNS = """a.key AS key, a.value.stringValue AS s,
  TRY_CAST(a.value.intValue AS BIGINT) AS i, TRY_CAST(a.value.doubleValue AS DOUBLE) AS d,
  a.value.boolValue AS b,
  coalesce(CAST(a.value.arrayValue AS VARCHAR), CAST(a.value.kvlistValue AS VARCHAR),
           a.value.bytesValue) AS j"""


@dataclass
class StoreStats:
    """What loading found: spans read and kept, and the problems counted."""

    read: int = 0
    kept: int = 0
    problems: dict[str, int] = field(default_factory=dict)
    samples: dict[str, list[str]] = field(default_factory=dict)
    overlap: int = 0  # spans of traces another page had already returned (Jaeger)

    def as_problems(self) -> tuple[Problem, ...]:
        return tuple(Problem(kind, n, tuple(self.samples.get(kind, ())[:3]),
                             dropped=kind != "negative_duration")
                     for kind, n in sorted(self.problems.items()) if n)


class SpanStore:
    """A DuckDB connection holding flattened spans (see the module docstring).

    Thread-safe: one lock around the connection.
    """

    def __init__(self) -> None:
        try:  # no progress bar on a terminal (Jupyter draws none without ipywidgets)
            self.con = duckdb.connect(config={"enable_progress_bar": False})
        except duckdb.Error:
            self.con = duckdb.connect()
        self.lock = threading.RLock()
        self.stats = StoreStats()
        self.loaded = False

    def close(self) -> None:
        with self.lock:
            self.con.close()

    # -- loading -----------------------------------------------------------------------
    def load_files(self, paths: Sequence[str]) -> StoreStats:
        """Flatten OTLP JSON-lines files (one request per line)."""
        with self.lock:
            src = self.con.sql("SELECT 0 AS page, from_json(json, $structure) AS req "
                               "FROM read_ndjson_objects($files)",
                               params={"files": list(paths), "structure": STRUCTURE})
            return self._load(src)

    def load_bodies(self, bodies: Sequence[bytes], *, wrapped: bool = True) -> StoreStats:
        """Flatten HTTP bodies (``{"result": {...}}`` from Jaeger when ``wrapped``); a
        trace in several bodies (pages) is kept from the first only."""
        with self.lock:
            table = pa.table({"page": pa.array(range(len(bodies)), pa.int32()),
                              "body": pa.array([b.decode("utf-8", "replace") for b in bodies],
                                               pa.large_string())})
            self.con.register("bodies", table)
            if wrapped:
                src = self.con.sql("SELECT page, from_json(body, $wrapped).result AS req "
                                   "FROM bodies", params={"wrapped": WRAPPED})
            else:
                src = self.con.sql("SELECT page, from_json(body, $structure) AS req "
                                   "FROM bodies", params={"structure": STRUCTURE})
            return self._load(src)

    def _load(self, src: duckdb.DuckDBPyRelation) -> StoreStats:
        con = self.con

        def one(sql: str) -> int:
            row = con.execute(sql).fetchone()
            return int(row[0]) if row and row[0] is not None else 0

        con.register("src", src)
        con.execute("CREATE OR REPLACE TEMP TABLE raw AS " + FLATTEN_SQL)
        con.unregister("src")
        st = StoreStats(read=one("SELECT count(*) FROM raw"))
        for kind, cond in (("bad_id", BAD_ID), ("bad_timestamp", BAD_TIME)):
            n = one(f"SELECT count(*) FROM raw WHERE {cond}")
            if n:
                st.problems[kind] = n
                rows = con.execute(f"SELECT operation, trace_id, span_id FROM raw WHERE {cond} "
                                   "LIMIT 3").fetchall()
                st.samples[kind] = [f"span {op!r} (trace {t}, span {s})" for op, t, s in rows]
        if st.problems:
            con.execute(f"DELETE FROM raw WHERE ({BAD_ID}) OR ({BAD_TIME})")
        if one("SELECT count(DISTINCT page) FROM raw") > 1:
            # a trace several pages returned is kept from its first page (pages overlap)
            before = one("SELECT count(*) FROM raw")
            con.execute("""DELETE FROM raw USING (SELECT trace_id, min(page) AS first
                           FROM raw GROUP BY trace_id) f
                           WHERE raw.trace_id = f.trace_id AND raw.page > f.first""")
            st.overlap = before - one("SELECT count(*) FROM raw")
        n = one("SELECT count(*) FROM raw")
        dup = n - one("SELECT count(*) FROM (SELECT DISTINCT trace_id, span_id FROM raw)")
        if dup:
            st.problems["duplicate_span"] = dup
            st.samples["duplicate_span"] = ["the same trace and span id more than once"]
            con.execute("CREATE OR REPLACE TEMP TABLE raw AS SELECT DISTINCT ON "
                        "(trace_id, span_id) * FROM raw")
        con.execute("""CREATE OR REPLACE TEMP TABLE resources AS
SELECT rid, """ + _VALUE_COLUMNS + """
FROM (SELECT rid, unnest(any_value(rattrs)) AS a FROM raw GROUP BY rid)""")
        con.execute("""CREATE OR REPLACE TEMP TABLE spans AS
SELECT (row_number() OVER ()) - 1 AS r, * EXCLUDE (page, rattrs) FROM raw""")
        con.execute("DROP TABLE raw")
        con.execute("""CREATE OR REPLACE TEMP TABLE attrs AS
SELECT r, """ + _VALUE_COLUMNS + """
FROM (SELECT r, unnest(attributes) AS a FROM spans)""")
        con.execute("ALTER TABLE spans DROP COLUMN attributes")
        st.kept = one("SELECT count(*) FROM spans")
        neg = one("SELECT count(*) FROM spans WHERE end_ns < start_ns")
        if neg:
            st.problems["negative_duration"] = neg
            st.samples["negative_duration"] = ["end before start: duration left empty"]
        self.stats = st
        self.loaded = True
        return st

    # -- questions ---------------------------------------------------------------------
    def services(self) -> list[str]:
        with self.lock:
            return [r[0] for r in self.con.execute(
                "SELECT DISTINCT service FROM spans WHERE service IS NOT NULL ORDER BY 1"
            ).fetchall()]

    def extent(self) -> tuple[int, int] | None:
        """Earliest and latest span start (ns), or None when empty."""
        with self.lock:
            lo, hi = self.con.execute("SELECT min(start_ns), max(start_ns) FROM spans"
                                      ).fetchone()  # type: ignore[misc]
        return None if lo is None else (int(lo), int(hi))

    def select(self, q: Selection) -> tuple[pd.DataFrame, int]:
        """The spans of the traces matching ``q`` (see :class:`Selection`), and how many
        traces matched before ``q.limit``."""
        where, params = q.sql()
        sql = f"""
CREATE OR REPLACE TEMP TABLE picked AS
WITH t AS (
  SELECT s.trace_id, min(s.start_ns) AS t0,
    max(CASE WHEN s.parent_span_id IS NULL THEN s.end_ns - s.start_ns END) AS root_ns,
    bool_or(s.parent_span_id IS NULL AND s.status = 'error') AS root_error,
    bool_or(s.service = $service) AS has_service,
    bool_or(s.operation = $operation) AS has_operation
  FROM spans s GROUP BY s.trace_id)
SELECT trace_id, t0 FROM t WHERE {where}"""
        with self.lock:
            con = self.con
            con.execute(sql, params)
            matched = int(con.execute("SELECT count(*) FROM picked").fetchone()[0])  # type: ignore[index]
            con.execute("""CREATE OR REPLACE TEMP TABLE chosen AS
SELECT trace_id FROM picked ORDER BY t0, trace_id LIMIT $limit""", {"limit": q.limit})
            return self._frame(), matched

    def _frame(self) -> pd.DataFrame:
        con = self.con

        def arrow(sql: str) -> pa.Table:
            return con.sql(sql).to_arrow_table()

        con.execute("""CREATE OR REPLACE TEMP TABLE sel AS
SELECT s.r, (row_number() OVER (ORDER BY s.trace_id, s.start_ns, s.span_id)) - 1 AS pos,
       s.rid
FROM spans s JOIN chosen USING (trace_id)""")
        base = arrow("""
SELECT sel.pos, s.trace_id, s.span_id, s.parent_span_id, s.service, s.operation, s.kind,
       s.start_ns, s.end_ns, s.status, s.status_message, s.trace_state, s.scope, s.rid
FROM spans s JOIN sel USING (r) ORDER BY sel.pos""")
        long = arrow("""SELECT sel.pos, a.key, a.s, a.i, a.d, a.b, a.j
FROM attrs a JOIN sel USING (r)""")
        long = long.take(pc.sort_indices(long, sort_keys=[("key", "ascending"),
                                                          ("pos", "ascending")]))
        res = arrow("""SELECT rid, key, s, i, d, b, j FROM resources
WHERE key <> 'service.name' AND rid IN (SELECT DISTINCT rid FROM sel)""")
        events = arrow("""
SELECT sel.pos, e.name, TRY_CAST(e.timeUnixNano AS BIGINT) AS t,
       list_extract(list_filter(e.attributes, lambda x: x.key = 'exception.type'), 1)
         .value.stringValue AS exc_type,
       list_extract(list_filter(e.attributes, lambda x: x.key = 'exception.message'), 1)
         .value.stringValue AS exc_message,
       e.attributes AS attributes
FROM (SELECT r, unnest(events) AS e FROM spans WHERE len(events) > 0) x
JOIN sel USING (r) ORDER BY sel.pos, t""")
        return assemble(base, long, res, events)


@dataclass(frozen=True)
class Selection:
    """Which traces to return; every value becomes a bound parameter.

    A trace is in the window when its earliest span starts in ``[start_ns, end_ns)``.
    ``service``/``operation``: a span of the trace has it (Jaeger's semantics);
    ``route``: the root span's ``http.route``; ``attributes``: a span of the trace has
    each ``key = value`` (string values; tenant ids); ``min_duration_ns``: the root span
    lasts at least this; ``errors_only``: the root span's status is ERROR.
    """

    start_ns: int
    end_ns: int
    limit: int
    service: str | None = None
    operation: str | None = None
    route: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()
    min_duration_ns: int | None = None
    max_duration_ns: int | None = None
    errors_only: bool = False
    trace_ids: tuple[str, ...] = ()

    def sql(self) -> tuple[str, dict[str, Any]]:
        conds = ["t0 >= $start_ns", "t0 < $end_ns"]
        params: dict[str, Any] = {"start_ns": self.start_ns, "end_ns": self.end_ns,
                                  "service": self.service, "operation": self.operation}
        if self.service is not None:
            conds.append("has_service")
        if self.operation is not None:
            conds.append("has_operation")
        if self.route is not None:
            conds.append("""trace_id IN (SELECT s.trace_id FROM spans s JOIN attrs a USING (r)
  WHERE s.parent_span_id IS NULL AND a.key = 'http.route' AND a.s = $route)""")
            params["route"] = self.route
        for k, (key, value) in enumerate(self.attributes):
            conds.append(f"""trace_id IN (SELECT s.trace_id FROM spans s JOIN attrs a USING (r)
  WHERE a.key = $ak{k} AND a.s = $av{k})""")
            params[f"ak{k}"], params[f"av{k}"] = key, value
        if self.min_duration_ns is not None:
            conds.append("root_ns >= $min_ns")
            params["min_ns"] = self.min_duration_ns
        if self.max_duration_ns is not None:
            conds.append("root_ns <= $max_ns")
            params["max_ns"] = self.max_duration_ns
        if self.errors_only:
            conds.append("root_error")
        if self.trace_ids:
            conds.append("list_contains($trace_ids, trace_id)")
            params["trace_ids"] = list(self.trace_ids)
        return " AND ".join(conds), params


# ------------------------------------------------------------------------------ frames

#: the fixed columns of a span frame, in order (attribute columns follow)
SPAN_COLUMNS: tuple[str, ...] = (
    "trace_id", "span_id", "parent_span_id", "service", "operation", "kind", "start", "end",
    "duration_s", "status", "status_message", "events", "exception_type",
    "exception_message", "scope", "trace_state")
_CATEGORY_MAX = 2000


def _strings(vals: pa.Array | pa.ChunkedArray, n: int | None = None,
             positions: np.ndarray | None = None) -> pd.Series:
    """Strings from Arrow without Python objects: a categorical when low-cardinality (few
    distinct values, many repeats), else the ``str`` dtype. ``positions`` scatters
    ``vals`` into ``n`` rows (the rest missing)."""
    arr = vals.combine_chunks() if isinstance(vals, pa.ChunkedArray) else vals
    if arr.type != pa.string() and arr.type != pa.large_string():
        arr = pc.cast(arr, pa.string())
    enc = arr.dictionary_encode()
    k = len(enc.dictionary)
    present = len(arr) - arr.null_count
    size = len(arr) if n is None else n
    if present and k <= _CATEGORY_MAX and k <= max(20, present // 2):
        codes = enc.indices.fill_null(-1).to_numpy().astype(np.int32)
        if positions is not None:
            full = np.full(size, -1, np.int32)
            full[positions] = codes
            codes = full
        cats = pd.Index(enc.dictionary.to_pylist(), dtype="str")
        return pd.Series(pd.Categorical.from_codes(codes, categories=cats))
    if positions is not None:
        idx = np.full(size, -1, np.int64)
        idx[positions] = np.arange(len(arr))
        arr = pc.take(arr, pa.array(idx, mask=idx < 0))
    return pd.Series(arr, dtype="str")


_VALUE_COLS = ("s", "i", "d", "b", "j")


def _pivot(long: pa.Table, n: int, pos_col: str) -> dict[str, pd.Series]:
    """Attribute columns from a long ``(pos, key, s, i, d, b, j)`` table sorted by key:
    one column per key, typed by its values (a key with values of several types becomes
    text)."""
    out: dict[str, pd.Series] = {}
    if long.num_rows == 0:
        return out
    keys = long.column("key").to_numpy(zero_copy_only=False)
    pos = long.column(pos_col).to_numpy()
    cuts = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    bounds = [0, *cuts.tolist(), len(keys)]
    columns = {c: long.column(c).combine_chunks() for c in _VALUE_COLS}
    for a, b in itertools.pairwise(bounds):
        key = str(keys[a])
        p = pos[a:b]
        chunks = {c: col.slice(a, b - a) for c, col in columns.items()}
        present = [c for c, ch in chunks.items() if ch.null_count < len(ch)]
        if not present:
            continue
        if len(present) > 1:
            kind = "s"
            vals = pc.coalesce(*[pc.cast(chunks[c], pa.string()) for c in present])
        else:
            kind, vals = present[0], chunks[present[0]]
        valid = vals.is_valid().to_numpy(zero_copy_only=False)
        if kind in ("s", "j"):
            out[key] = _strings(vals, n, p)
        elif kind == "i":
            data, mask = np.zeros(n, np.int64), np.ones(n, bool)
            data[p] = vals.fill_null(0).to_numpy()
            mask[p] = ~valid
            out[key] = pd.Series(pd.arrays.IntegerArray(data, mask))
        elif kind == "d":
            full_d = np.full(n, np.nan)
            full_d[p] = vals.fill_null(np.nan).to_numpy()
            out[key] = pd.Series(full_d)
        else:
            bv, bm = np.zeros(n, bool), np.ones(n, bool)
            bv[p] = vals.fill_null(False).to_numpy(zero_copy_only=False)
            bm[p] = ~valid
            out[key] = pd.Series(pd.arrays.BooleanArray(bv, bm))
    return out


def _event_dicts(events: pa.Table, n: int) -> tuple[np.ndarray, list[Any], list[Any]]:
    """Per span: a tuple of event dicts, and the first exception's type and message."""
    ev = np.empty(n, dtype=object)
    ev[:] = [()] * n
    exc_type: list[Any] = [None] * n
    exc_msg: list[Any] = [None] * n
    if events.num_rows == 0:
        return ev, exc_type, exc_msg
    pos = events.column("pos").to_pylist()
    names = events.column("name").to_pylist()
    times = events.column("t").to_pylist()
    attrs = events.column("attributes").to_pylist()
    types = events.column("exc_type").to_pylist()
    msgs = events.column("exc_message").to_pylist()
    cur: dict[int, list[dict[str, Any]]] = {}
    for p, name, t, at, ty, msg in zip(pos, names, times, attrs, types, msgs, strict=True):
        values: dict[str, Any] = {}
        for kv in at or ():
            v = kv["value"] or {}
            values[kv["key"]] = next((v[c] for c in ("stringValue", "intValue", "doubleValue",
                                                     "boolValue", "arrayValue", "kvlistValue",
                                                     "bytesValue") if v.get(c) is not None),
                                     None)
        cur.setdefault(p, []).append({
            "name": name, "time": pd.Timestamp(t, unit="ns", tz="UTC") if t else None,
            "attributes": values})
        if name == "exception" and exc_type[p] is None:
            exc_type[p], exc_msg[p] = ty, msg
    for p, lst in cur.items():
        ev[p] = tuple(lst)
    return ev, exc_type, exc_msg


def assemble(base: pa.Table, long: pa.Table, res: pa.Table, events: pa.Table) -> pd.DataFrame:
    """The span frame from the store's selected tables (see :data:`SPAN_COLUMNS`)."""
    n = base.num_rows
    start_ns = base.column("start_ns").to_numpy().astype(np.int64) if n else np.zeros(
        0, np.int64)
    end_ns = base.column("end_ns").to_numpy().astype(np.int64) if n else np.zeros(0, np.int64)
    dur = (end_ns - start_ns) / 1e9
    dur = np.where(end_ns < start_ns, np.nan, dur)

    def text(name: str, cat: bool = False) -> pd.Series:
        col = base.column(name)
        if cat:
            return _strings(col) if n else pd.Series([], dtype="category")
        return pd.Series(col, dtype="str")

    ev, exc_type, exc_msg = _event_dicts(events, n)
    df = pd.DataFrame({
        "trace_id": text("trace_id"), "span_id": text("span_id"),
        "parent_span_id": text("parent_span_id"),
        "service": text("service", True), "operation": text("operation", True),
        "kind": text("kind", True),
        "start": pd.to_datetime(start_ns, unit="ns", utc=True),
        "end": pd.to_datetime(end_ns, unit="ns", utc=True),
        "duration_s": dur,
        "status": pd.Categorical(base.column("status").to_pylist(),
                                 categories=["unset", "ok", "error"]),
        "status_message": text("status_message"),
        "events": ev,
        "exception_type": _strings(pa.array(exc_type, pa.string())) if n else pd.Series(
            [], dtype="category"),
        "exception_message": pd.Series(exc_msg, dtype="str"),
        "scope": text("scope", True), "trace_state": text("trace_state"),
    })
    extra: dict[str, pd.Series] = {}
    if res.num_rows and n:
        rid = base.column("rid").to_numpy(zero_copy_only=False)
        uniq, inv = np.unique(rid.astype(str), return_inverse=True)
        order = {r: k for k, r in enumerate(uniq.tolist())}
        rr = res.sort_by([("key", "ascending")])
        rpos = np.array([order.get(x, -1) for x in rr.column("rid").to_pylist()], np.int64)
        rr = rr.append_column("rpos", pa.array(rpos))
        per_res = _pivot(rr, len(uniq), "rpos")
        for key, col in per_res.items():
            values = pa.array([None if v is None or v is pd.NA or v != v else str(v)
                               for v in col.astype(object).tolist()], pa.string())
            extra[f"resource.{key}"] = _strings(values.take(pa.array(inv)))
    for key, col in _pivot(long, n, "pos").items():
        name = key if key not in df.columns and not key.startswith("resource.") else \
            f"attr.{key}"
        extra[name] = col.reset_index(drop=True)
    if extra:
        df = pd.concat([df, pd.DataFrame(extra, index=df.index)], axis=1)
    return df


def empty_spans() -> pd.DataFrame:
    """A zero-row span frame with the fixed columns."""
    empty = pa.table({c: pa.array([], t) for c, t in (
        ("r", pa.int64()), ("trace_id", pa.string()), ("span_id", pa.string()),
        ("parent_span_id", pa.string()), ("service", pa.string()), ("operation", pa.string()),
        ("kind", pa.string()), ("start_ns", pa.int64()), ("end_ns", pa.int64()),
        ("status", pa.string()), ("status_message", pa.string()),
        ("trace_state", pa.string()), ("scope", pa.string()), ("rid", pa.string()))})
    none = pa.table({"pos": pa.array([], pa.int64()), "key": pa.array([], pa.string())})
    return assemble(empty, none, pa.table({"rid": pa.array([], pa.string())}), pa.table(
        {"pos": pa.array([], pa.int64())}))


__all__ = ["SPAN_COLUMNS", "STRUCTURE", "Selection", "SpanStore", "StoreStats", "assemble",
           "empty_spans"]
