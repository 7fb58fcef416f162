"""The normalized log frame: one schema whatever the store or field naming.

Every log source returns frames with exactly these columns and dtypes (a subset when the
caller asks for ``fields``), so a notebook never cares where logs came from. Low-cardinality
columns are categoricals (a million rows of ``tenant_id`` cost a few MB, not ~60 MB of
Python strings); ids and raw paths stay strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd

from tributary_analysis.errors import QueryError

#: column → dtype of the normalized log frame, in column order
LOG_SCHEMA: dict[str, str] = {
    "timestamp": "datetime64[ns, UTC]",
    "level": "category",
    "event": "category",
    "request_id": "str",
    "method": "category",
    "path": "str",
    "endpoint": "category",
    "status_code": "Int16",
    "duration_s": "float64",
    "tenant_id": "category",
    "error_type": "category",
    "error_code": "category",
    "search_type": "category",
    "dataset_id": "category",
    "results_count": "Int64",
}

LOG_COLUMNS: tuple[str, ...] = tuple(LOG_SCHEMA)
STRING_COLUMNS: frozenset[str] = frozenset(
    c for c, t in LOG_SCHEMA.items() if t in ("str", "category")
)
INT_COLUMNS: frozenset[str] = frozenset(c for c, t in LOG_SCHEMA.items() if t.startswith("Int"))

#: columns a summary may be grouped by (besides the time bucket)
GROUP_COLUMNS: tuple[str, ...] = ("tenant_id", "endpoint", "status_code", "search_type",
                                  "method", "dataset_id", "level")

#: the event text of a completed request, as the seed's ``log_request`` writes it
REQUEST_EVENT = "HTTP request processed"


def check_fields(fields: Iterable[str] | None, what: str = "fields") -> tuple[str, ...]:
    """Validate requested column names; ``None`` means all columns.

    Raises
    ------
    QueryError
        naming the unknown columns and the known ones.
    """
    if fields is None:
        return LOG_COLUMNS
    if isinstance(fields, str):
        fields = (fields,)
    out = tuple(dict.fromkeys(fields))
    unknown = [f for f in out if f not in LOG_SCHEMA]
    if unknown:
        raise QueryError(
            f"unknown log {what} {unknown}; the log frame has: {', '.join(LOG_COLUMNS)}",
            source="logs",
        )
    return out


def empty_frame(fields: Sequence[str] | None = None) -> pd.DataFrame:
    """A zero-row frame with the schema's dtypes."""
    cols = check_fields(fields)
    return conform(pd.DataFrame({c: [] for c in cols}), cols)


def conform(df: pd.DataFrame, fields: Sequence[str] | None = None) -> pd.DataFrame:
    """Cast ``df`` to the schema (column order, dtypes, sorted categories).

    The one place both sources pass through, so the same rows give equal frames. Values are
    assumed already cleaned (numbers numeric, timestamps parseable); see ``normalize``.
    """
    cols = check_fields(fields)
    out: dict[str, pd.Series] = {}
    n = len(df)
    for col in cols:
        dtype = LOG_SCHEMA[col]
        s = df[col] if col in df.columns else pd.Series([None] * n, index=df.index, dtype=object)
        if col == "timestamp":
            s = pd.to_datetime(s, utc=True, format="ISO8601").astype("datetime64[ns, UTC]")
        elif dtype == "category":
            s = _as_category(s)
        elif dtype == "str":
            s = pd.Series(s.to_numpy(dtype=object), index=s.index, dtype="str")
        elif dtype == "float64":
            s = pd.to_numeric(s, errors="coerce").astype("float64")
        else:
            s = pd.to_numeric(s, errors="coerce").round().astype(cast(Any, dtype))
        out[col] = s
    frame = pd.DataFrame(out, index=pd.RangeIndex(n))
    frame.attrs.update(df.attrs)
    return frame


def _as_category(s: pd.Series) -> pd.Series:
    """Categorical with sorted ``str`` categories (order-independent equality)."""
    values = s.to_numpy(dtype=object)
    cat = pd.Categorical(values)
    if len(cat.categories) and not all(isinstance(c, str) for c in cat.categories):
        cat = pd.Categorical(_as_text(pd.Series(values)).to_numpy())  # numbers in text columns
    cats = pd.Index(sorted(cat.categories), dtype="str")
    if not cat.categories.equals(cats) or cat.categories.dtype != cats.dtype:
        cat = pd.Categorical(values if len(cat.categories) else [None] * len(values),
                             categories=cats)
    return pd.Series(cat, index=s.index)


def set_attrs(df: pd.DataFrame, attrs: Mapping[Any, Any]) -> pd.DataFrame:
    """Replace ``df.attrs`` (source, window, warnings, problems) and return ``df``."""
    df.attrs.clear()
    df.attrs.update(attrs)
    return df


def _as_text(s: pd.Series) -> pd.Series:
    """Object series of ``str`` or ``None`` (numbers that arrive in text columns become text)."""
    values = s.astype(object)
    values = values.where(values.notna(), None)
    if not all(v is None or isinstance(v, str) for v in values):
        values = values.map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return values


_STR_DTYPE = pd.Index([], dtype="str").dtype


def _str_categories(values: Any) -> pd.Categorical:
    """The same categorical with ``str`` categories: a page where a column is all null has
    empty *object* categories, and ``union_categoricals`` refuses mixed category dtypes."""
    cat = pd.Categorical(values)
    if cat.categories.dtype == _STR_DTYPE:
        return cat
    return pd.Categorical.from_codes(cat.codes,
                                     categories=pd.Index(cat.categories.astype(str),
                                                         dtype="str"))


def concat_frames(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Concatenate normalized frames, uniting categories (sorted) instead of falling back to
    object columns: no per-row Python work and no memory spike."""
    from pandas.api.types import union_categoricals

    cols: dict[str, Any] = {}
    for c in frames[0].columns:
        parts = [f[c] for f in frames]
        if isinstance(parts[0].dtype, pd.CategoricalDtype):
            cat = union_categoricals([_str_categories(p.array) for p in parts],
                                     sort_categories=True)
            cats = pd.Index(cat.categories, dtype="str")
            cols[c] = pd.Categorical.from_codes(cat.codes, categories=cats)
        else:
            cols[c] = pd.concat(parts, ignore_index=True)
    out = pd.DataFrame(cols)
    out.attrs.update(frames[-1].attrs)
    return out


def sort_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Stable order for comparisons: by timestamp, then request id when present."""
    keys = [c for c in ("timestamp", "request_id", "event") if c in df.columns]
    if not keys or df.empty:
        return df.reset_index(drop=True)
    sortable = pd.DataFrame({k: (df[k].astype(object) if k != "timestamp" else df[k])
                             for k in keys})
    order = np.lexsort([sortable[k].fillna("").astype(str).to_numpy() if k != "timestamp"
                        else sortable[k].to_numpy() for k in reversed(keys)])
    out = df.iloc[order].reset_index(drop=True)
    out.attrs.update(df.attrs)
    return out
