"""Tables a person reads: every cell through :mod:`tributary_analysis.ground.format`.

pandas shows its index, ``1.438e+04``, ``0.01189``, ``NaN``, ``NaT`` and timestamps with
nanoseconds; a report shows none of them. :func:`table_html` renders a frame as an escaped
HTML table — no index column (a meaningful index becomes a column), integer counts as
integers with thousands separators, ratios as percentages, seconds as ``ms``/``s``,
durations as ``2 h 30 min``, instants to the minute in UTC, ``—`` for a missing value
(or the reason, when a column says why), long text wrapped, never cut. The kind of each
column is given (``formats``) or read from its name and dtype (:func:`column_kind`).

:func:`show_table` displays it; ``nb.setup()`` makes it the HTML form of every displayed
DataFrame, so a cell that ends with a frame is readable too.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd

from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.claims import Insufficient

__all__ = ["column_kind", "format_cell", "show_table", "table_html", "table_text"]

#: column kinds and how a cell of each is written
KINDS = ("text", "count", "number", "ratio", "signed_ratio", "pp", "s", "duration", "time",
         "bytes", "rate", "×", "bool", "pvalue")

#: name tokens (split at ``_`` and spaces) that say what a numeric column holds
_RATIO = {"ratio", "share", "attainment", "precision", "recall", "coverage", "utilisation",
          "utilization", "fraction", "percent", "probability", "skill", "support"}
_SIGNED = {"change", "delta", "growth", "diff", "excess"}
_SECONDS = {"s", "seconds", "latency"}
_BYTES = {"bytes"}
_RATE = {"rps", "rate", "req/s"}
_COUNT = {"n", "count", "requests", "errors", "total", "hits", "points", "series",
          "evaluations", "fired", "incidents", "detected", "rank", "vectors", "datasets",
          "connections", "selected", "baseline", "tenants", "origins"}
_FACTOR = {"burn", "factor", "lift", "×", "risk"}
_PVALUE = {"p_value", "q_value", "pvalue", "qvalue"}
_QUANTILE = re.compile(r"^p\d+(\.\d+)?$")


def _tokens(name: str) -> set[str]:
    return set(re.split(r"[_\s]+", name.lower()))


def column_kind(name: str, values: pd.Series) -> str:
    """The kind of a column from its dtype, then its name (``error_ratio`` → ratio,
    ``p95_s`` → seconds, ``requests`` → count…).

    Examples
    --------
    >>> column_kind("error_ratio", pd.Series([0.1])), column_kind("p95_s", pd.Series([0.2]))
    ('ratio', 's')
    >>> column_kind("requests", pd.Series([1.0])), column_kind("tenant", pd.Series(["a"]))
    ('count', 'text')
    """
    dtype = values.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "bool"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "duration"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "time"
    is_object = pd.api.types.is_object_dtype(dtype)
    sample = values.dropna().head(50) if is_object else values.head(0)
    if is_object and len(sample):
        if all(isinstance(v, pd.Timestamp) for v in sample):
            return "time"
        if all(isinstance(v, timedelta) for v in sample):
            return "duration"
        if all(isinstance(v, bool | np.bool_) for v in sample):
            return "bool"
        if all(isinstance(v, int | float | np.integer | np.floating)
               and not isinstance(v, bool) for v in sample):
            return column_kind(name, pd.to_numeric(sample))
        return "text"
    if not pd.api.types.is_numeric_dtype(dtype):
        return "text"
    low, tokens = name.lower(), _tokens(name)
    if low in _PVALUE:
        return "pvalue"
    if tokens & _FACTOR:
        return "×"
    if tokens & _SIGNED:
        return "pp" if tokens & _RATIO or "share" in low or "excess" in tokens \
            else "signed_ratio"
    if tokens & _RATIO:
        return "ratio"
    if tokens & _BYTES:
        return "bytes"
    if tokens & _SECONDS or any(_QUANTILE.match(t) for t in tokens):
        return "s"
    if tokens & _RATE or low.endswith("/s"):
        return "rate"
    if pd.api.types.is_integer_dtype(dtype) or tokens & _COUNT:
        return "count"
    return "number"


def format_cell(value: Any, kind: str) -> str:
    """One cell as text (``—`` when missing; an :class:`Insufficient` says why)."""
    if isinstance(value, Insufficient):
        return value.short()
    if isinstance(value, list | tuple | set):
        return ", ".join(format_cell(v, "text") for v in value) or fmt.MISSING
    if fmt.is_missing(value):
        return fmt.MISSING
    if kind == "text":
        if isinstance(value, pd.Timestamp):
            return fmt.timestamp(value)
        if isinstance(value, timedelta):
            return fmt.human_duration(value)
        if isinstance(value, float | np.floating):
            return fmt.number(float(value))
        if isinstance(value, bool | np.bool_):
            return "yes" if value else "no"
        return str(value)
    if kind == "bool":
        return "yes" if bool(value) else "no"
    if kind == "time":
        return fmt.timestamp(value)
    if kind == "duration":
        return fmt.human_duration(value)
    if isinstance(value, str):
        return value
    if kind == "signed_ratio":
        return fmt.percent(float(value), signed=True)
    if kind == "pp":
        return fmt.points(float(value))
    if kind == "pvalue":
        v = float(value)
        return "< 0.0001" if v < 1e-4 else fmt.number(v, 2)
    if kind == "rate":
        return fmt.number(float(value))
    return fmt.value(value, {"ratio": "ratio", "s": "s", "bytes": "bytes", "count": "count",
                             "×": "×", "number": ""}.get(kind, ""))


def _frame(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` without a meaningless index (a RangeIndex), a meaningful one as columns."""
    if isinstance(df.index, pd.RangeIndex) or (
            df.index.name is None and not isinstance(df.index, pd.MultiIndex)
            and pd.api.types.is_integer_dtype(df.index.dtype)):
        return df.reset_index(drop=True)
    names = [n if n is not None else "" for n in df.index.names]
    out = df.reset_index()
    out.columns = [*names, *[str(c) for c in df.columns]] if all(names) else out.columns
    return out


def _label(name: object) -> str:
    text = " · ".join(map(str, name)) if isinstance(name, tuple) else str(name)
    return text.replace("_", " ")


def table_text(df: pd.DataFrame, formats: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``df`` as a frame of strings, each cell formatted (for text and tests)."""
    frame = _frame(df)
    kinds = {str(c): (formats or {}).get(str(c)) or column_kind(str(c), frame[c])
             for c in frame.columns}
    return pd.DataFrame({_label(c): [format_cell(v, kinds[str(c)]) for v in frame[c]]
                         for c in frame.columns})


def table_html(df: pd.DataFrame, *, formats: Mapping[str, str] | None = None,
               columns: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
               caption: str = "", max_rows: int | None = None) -> str:
    """An escaped HTML table of ``df`` that fits the page (cells wrap, numbers align right).

    Parameters
    ----------
    df : DataFrame
        The data (a meaningful index becomes the first column).
    formats : mapping, optional
        Column → kind (:data:`KINDS`); the rest is read by :func:`column_kind`.
    columns : sequence of str, optional
        Which columns, in order (default: all).
    labels : mapping, optional
        Column → header text (default: the name with spaces for ``_``).
    caption : str
        A sentence under the table.
    max_rows : int, optional
        Show the first rows only; the caption says how many more there are.
    """
    frame = _frame(df)
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    more = 0
    if max_rows is not None and len(frame) > max_rows:
        more = len(frame) - max_rows
        frame = frame.head(max_rows)
    kinds = {str(c): (formats or {}).get(str(c)) or column_kind(str(c), frame[c])
             for c in frame.columns}
    head = "".join(
        f"<th class='{'num' if kinds[str(c)] not in ('text', 'time', 'bool') else 'txt'}'>"
        f"{html.escape((labels or {}).get(str(c), _label(c)))}</th>" for c in frame.columns)
    rows = []
    for rec in frame.itertuples(index=False, name=None):
        cells = []
        for c, v in zip(frame.columns, rec, strict=True):
            kind = kinds[str(c)]
            cls = "num" if kind not in ("text", "time", "bool") else "txt"
            cells.append(f"<td class='{cls}'>{html.escape(format_cell(v, kind))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    notes = [caption] if caption else []
    if more:
        notes.append(f"{more:,} more row(s) not shown.")
    if not len(frame):
        rows.append(f"<tr><td colspan='{max(len(frame.columns), 1)}' class='txt'>"
                    "(no rows)</td></tr>")
    cap = "".join(f"<p class='tr-caption'>{html.escape(n)}</p>" for n in notes)
    return (f"<div class='tr-table-wrap'><table class='tr-table'><thead><tr>{head}</tr>"
            f"</thead><tbody>{''.join(rows)}</tbody></table>{cap}</div>")


def show_table(df: pd.DataFrame, *, formats: Mapping[str, str] | None = None,
               columns: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
               caption: str = "", max_rows: int | None = None) -> None:
    """Display :func:`table_html` of ``df`` (text form for a terminal)."""
    from IPython.display import display

    text = table_text(df if columns is None else _frame(df)[[c for c in columns
                                                             if c in _frame(df).columns]],
                      formats)
    display({"text/html": table_html(df, formats=formats, columns=columns, labels=labels,
                                     caption=caption, max_rows=max_rows),
             "text/plain": text.to_string(index=False)}, raw=True)
