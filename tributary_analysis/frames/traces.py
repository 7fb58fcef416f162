"""The trace frame: one row per trace, derived from a span frame (pure, no I/O).

Columns (:data:`TRACE_COLUMNS`): ``trace_id``, ``start``/``end`` (UTC), ``duration_s``
(the root span's, else first start to last end), ``root_service``, ``root_operation``,
``route`` (the root's ``http.route``), ``status_code`` (the root's
``http.response.status_code``), ``tenant_id`` (the root's, else the first span's that has
one), ``span_count``, ``error`` (the root span's status is ERROR: the request failed),
``error_spans``, ``exception_type`` (the exception where it was raised: the deepest span
with an exception event), ``has_root`` (a trace whose root span is missing is still a
trace; its times come from the spans present).

The span frame's contract is :data:`~tributary_analysis.sources.traces.store.SPAN_COLUMNS`
plus one column per attribute key (``http.route``, ``tenant_id``, …) and per resource
attribute (``resource.service.version``, …).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from tributary_analysis.errors import DataError
from tributary_analysis.frames.meta import carry

TRACE_COLUMNS: tuple[str, ...] = (
    "trace_id", "start", "end", "duration_s", "root_service", "root_operation", "route",
    "status_code", "tenant_id", "span_count", "error", "error_spans", "exception_type",
    "has_root")
ROUTE_ATTRIBUTE = "http.route"
STATUS_ATTRIBUTE = "http.response.status_code"
TENANT_ATTRIBUTE = "tenant_id"


def require_span_columns(df: object, columns: list[str], what: str = "span frame") -> None:
    """Raise :class:`DataError` naming the missing columns and where the frame comes from."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise DataError(f"{what} lacks column(s) {', '.join(missing)}; read it with a "
                        "TraceSource's spans() (OtlpFiles or JaegerTraces)")


def span_depth(spans: pd.DataFrame) -> np.ndarray:
    """Depth of each span in its trace (root 0; a span whose parent is missing counts as a
    root of its own subtree)."""
    n = len(spans)
    if n == 0:
        return np.zeros(0, np.int64)
    tid = spans["trace_id"].astype(str).to_numpy(dtype=object)
    key = pd.Index(tid + ":" + spans["span_id"].astype(str).to_numpy(dtype=object))
    parent = spans["parent_span_id"]
    pkey = tid + ":" + parent.astype(object).fillna("").astype(str).to_numpy(dtype=object)
    pidx = key.get_indexer(pkey)
    pidx[parent.isna().to_numpy()] = -1
    depth = np.zeros(n, np.int64)
    has = pidx >= 0
    for _ in range(256):  # a parent chain longer than this is a cycle
        new = np.where(has, depth[np.maximum(pidx, 0)] + 1, 0)
        if np.array_equal(new, depth):
            break
        depth = new
    return depth


def trace_frame(spans: pd.DataFrame) -> pd.DataFrame:
    """One row per trace of a span frame (see the module docstring).

    Examples
    --------
    >>> import pandas as pd
    >>> t0 = pd.Timestamp("2026-01-01", tz="UTC")
    >>> s = pd.DataFrame({"trace_id": ["a", "a"], "span_id": ["1", "2"],
    ...                   "parent_span_id": [None, "1"], "service": ["api", "api"],
    ...                   "operation": ["GET /x", "SELECT"], "start": [t0, t0],
    ...                   "end": [t0 + pd.Timedelta("30ms"), t0 + pd.Timedelta("10ms")],
    ...                   "duration_s": [0.03, 0.01], "status": ["unset", "error"],
    ...                   "exception_type": [None, "OperationalError"]})
    >>> row = trace_frame(s).iloc[0]
    >>> print(row["root_operation"], row["span_count"], row["error_spans"], row["exception_type"])
    GET /x 2 1 OperationalError
    """
    require_span_columns(spans, ["trace_id", "span_id", "parent_span_id", "service",
                                 "operation", "start", "end", "duration_s", "status"])
    if spans.empty:
        out = pd.DataFrame({c: pd.Series(dtype=t) for c, t in (
            ("trace_id", "str"), ("start", "datetime64[ns, UTC]"),
            ("end", "datetime64[ns, UTC]"), ("duration_s", "float64"),
            ("root_service", "category"), ("root_operation", "category"),
            ("route", "category"), ("status_code", "Int64"), ("tenant_id", "category"),
            ("span_count", "int64"), ("error", "bool"), ("error_spans", "int64"),
            ("exception_type", "category"), ("has_root", "bool"))})
        return carry(out, spans)
    df = pd.DataFrame({
        "trace_id": spans["trace_id"].astype(str).to_numpy(),
        "start": spans["start"].to_numpy(), "end": spans["end"].to_numpy(),
        "duration_s": spans["duration_s"].to_numpy(dtype=float),
        "is_root": spans["parent_span_id"].isna().to_numpy(),
        "is_error": (spans["status"].astype(str) == "error").to_numpy(),
        "depth": span_depth(spans),
    })
    df["start"] = pd.to_datetime(df["start"], utc=True)
    df["end"] = pd.to_datetime(df["end"], utc=True)
    exc = spans["exception_type"] if "exception_type" in spans.columns else pd.Series(
        [None] * len(spans))
    df["exc"] = exc.astype(object).where(exc.notna(), None).to_numpy()
    g = df.groupby("trace_id", sort=False)
    out = pd.DataFrame({
        "start": g["start"].min(), "end": g["end"].max(), "span_count": g.size(),
        "error_spans": g["is_error"].sum().astype(np.int64),
    })
    # the root: the earliest span without a parent, else the earliest span
    order = df.assign(_nr=~df["is_root"]).sort_values(["trace_id", "_nr", "start"],
                                                      kind="stable")
    root_idx = order.groupby("trace_id", sort=False).head(1).index.to_numpy()
    roots = spans.iloc[root_idx]
    rid = pd.Index(df["trace_id"].iloc[root_idx].to_numpy())

    def root_col(name: str) -> pd.Series:
        if name not in spans.columns:
            return pd.Series([None] * len(root_idx), index=rid, dtype=object)
        return pd.Series(roots[name].to_numpy(), index=rid)

    out["has_root"] = pd.Series(df["is_root"].iloc[root_idx].to_numpy(), index=rid)
    out["duration_s"] = np.where(out["has_root"], root_col("duration_s").astype(float),
                                 (out["end"] - out["start"]).dt.total_seconds())
    out["root_service"] = root_col("service").astype(str)
    out["root_operation"] = root_col("operation").astype(str)
    out["route"] = root_col(ROUTE_ATTRIBUTE)
    out["status_code"] = pd.to_numeric(root_col(STATUS_ATTRIBUTE), errors="coerce").astype(
        "Int64")
    out["error"] = (root_col("status").astype(str) == "error").to_numpy() & \
        out["has_root"].to_numpy()
    if TENANT_ATTRIBUTE in spans.columns:
        ten = pd.Series(spans[TENANT_ATTRIBUTE].astype(object).to_numpy(),
                        index=df["trace_id"]).dropna()
        first = ten[~ten.index.duplicated()]
        root_t = root_col(TENANT_ATTRIBUTE).astype(object)
        out["tenant_id"] = root_t.where(root_t.notna(), first.reindex(rid))
    else:
        out["tenant_id"] = None
    with_exc = df[df["exc"].notna()]
    if len(with_exc):
        deepest = with_exc.sort_values(["trace_id", "depth", "start"],
                                       ascending=[True, False, True], kind="stable")
        out["exception_type"] = deepest.groupby("trace_id", sort=False)["exc"].first()
    else:
        out["exception_type"] = None
    out = out.reset_index().rename(columns={"index": "trace_id"})
    for c in ("root_service", "root_operation", "route", "tenant_id", "exception_type"):
        out[c] = pd.Series(out[c].astype(object).where(out[c].notna(), None),
                           dtype="str").astype("category")
    out = out.sort_values(["start", "trace_id"], kind="stable").reset_index(drop=True)
    return carry(out[list(TRACE_COLUMNS)], spans)


__all__ = ["ROUTE_ATTRIBUTE", "STATUS_ATTRIBUTE", "TENANT_ATTRIBUTE", "TRACE_COLUMNS",
           "require_span_columns", "span_depth", "trace_frame"]
