"""The interface every log source implements, and the frame shapes it returns.

``FileLogs`` (DuckDB over JSON lines or Parquet) and ``ElasticsearchLogs`` both subclass
:class:`LogSource`, so a notebook asks the same question of either and gets the same frame:

- :meth:`LogSource.search` / :meth:`LogSource.iter_batches`: raw events in ``[start, end)``;
- :meth:`LogSource.summary`: requests, 5xx and 4xx errors and latency percentiles per time
  bucket and group, computed where the data lives (DuckDB SQL, Elasticsearch aggregations);
- :meth:`LogSource.top_errors`: error type, code and message with counts;
- :meth:`LogSource.exact_percentiles`: the summary computed from raw rows (exact, small
  windows only).

A summary counts *completed requests*: events with a status code (the seed's
``HTTP request processed`` lines); the request-start, search and error lines have none.
Filters are ``{column: value or list of values}``; values are always sent as query terms
or bound parameters, never spliced into query text (tenant ids are untrusted).
"""

from __future__ import annotations

import abc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

import pandas as pd

from tributary_analysis.errors import ConfigError, QueryError, TooManySamples
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.ground.time import (
    DurationLike,
    TimeLike,
    Window,
    parse_step,
    parse_time,
)
from tributary_analysis.sources.logs.schema import (
    GROUP_COLUMNS,
    LOG_SCHEMA,
    check_fields,
    concat_frames,
    set_attrs,
)

Filters = Mapping[str, Any]

SUMMARY_COUNTS: tuple[str, ...] = ("requests", "errors_5xx", "errors_4xx")
TOP_ERROR_COLUMNS: tuple[str, ...] = ("error_type", "error_code", "message", "count")

def resolve_window(start: TimeLike, end: TimeLike) -> Window:
    """The half-open window ``[start, end)``, read by the suite's one time vocabulary
    (:func:`~tributary_analysis.ground.time.parse_time`); a bad time is a
    :class:`QueryError` naming it, as every other bad question to a log source."""
    try:
        return Window(parse_time(start, name="start"), parse_time(end, name="end"))
    except ConfigError as exc:
        raise QueryError(str(exc), source="logs") from exc


def resolve_interval(interval: DurationLike, name: str = "interval") -> pd.Timedelta:
    """A summary bucket width (``5m``, ``1h``, ``1h30m``, ``1d``) as a ``Timedelta``."""
    try:
        return parse_step(interval, name=name)
    except ConfigError as exc:
        why = str(exc).removeprefix(f"{name}={interval!r} ")
        raise QueryError(f"invalid {name} {interval!r}: it {why}", source="logs") from exc


def check_filters(filters: Filters | None) -> dict[str, list[Any]]:
    """``{column: value | list}`` → ``{column: [values]}``, columns checked against the schema."""
    if not filters:
        return {}
    out: dict[str, list[Any]] = {}
    for key, value in filters.items():
        check_fields([key], "filter field")
        if key == "timestamp":
            raise QueryError("filter the time with start/end, not a timestamp filter",
                             source="logs")
        values = list(value) if isinstance(value, (list, tuple, set, frozenset)) else [value]
        if not values:
            raise QueryError(f"empty value list for filter {key!r}; give at least one value",
                             source="logs")
        if any(v is None for v in values):
            raise QueryError(f"filter {key!r} contains None; filter on present values only",
                             source="logs")
        if LOG_SCHEMA[key].startswith("Int"):
            try:
                values = [int(v) for v in values]
            except (TypeError, ValueError) as exc:
                raise QueryError(f"filter {key!r} needs integers, got {values!r}",
                                 source="logs") from exc
        elif LOG_SCHEMA[key] == "float64":
            values = [float(v) for v in values]
        else:
            values = [str(v) for v in values]
        out[key] = values
    return out


def check_group(by: Sequence[str] | str | None) -> tuple[str, ...]:
    """Validate summary group columns."""
    if by is None:
        return ()
    cols = (by,) if isinstance(by, str) else tuple(dict.fromkeys(by))
    bad = [c for c in cols if c not in GROUP_COLUMNS]
    if bad:
        raise QueryError(f"cannot summarize by {bad}; choose from {', '.join(GROUP_COLUMNS)}",
                         source="logs")
    return cols


def check_percentiles(percentiles: Sequence[float]) -> tuple[float, ...]:
    ps = tuple(float(p) for p in percentiles)
    if any(not 0 <= p <= 100 for p in ps):
        raise QueryError(f"percentiles must be within 0..100, got {ps}", source="logs")
    return ps


def percentile_column(p: float) -> str:
    """``95`` → ``latency_p95_s``; ``99.9`` → ``latency_p99.9_s``."""
    return f"latency_p{p:g}_s"


def summary_columns(by: Sequence[str], percentiles: Sequence[float]) -> list[str]:
    return ["timestamp", *by, *SUMMARY_COUNTS, *(percentile_column(p) for p in percentiles)]


def conform_summary(df: pd.DataFrame, by: Sequence[str],
                    percentiles: Sequence[float]) -> pd.DataFrame:
    """One summary shape from every source: dtypes, column order, sorted rows."""
    from tributary_analysis.sources.logs.schema import conform

    cols = summary_columns(by, percentiles)
    n = len(df)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    out["timestamp"] = pd.to_datetime(df["timestamp"], utc=True).astype("datetime64[ns, UTC]")
    groups = conform(df.reset_index(drop=True), list(by)) if by else pd.DataFrame()
    for c in by:
        out[c] = groups[c].to_numpy() if n else groups[c]
        if LOG_SCHEMA[c] == "category":
            out[c] = groups[c]
    for c in SUMMARY_COUNTS:
        out[c] = pd.to_numeric(df[c]).astype("int64").to_numpy() if n else pd.Series(
            [], dtype="int64")
    for p in percentiles:
        c = percentile_column(p)
        out[c] = pd.to_numeric(df[c], errors="coerce").astype("float64").to_numpy()
    out = out[cols]
    keys = ["timestamp", *by]
    out = out.sort_values(keys, kind="stable", na_position="last").reset_index(drop=True)
    out.attrs.update(df.attrs)
    return out


def summarize_frame(df: pd.DataFrame, *, interval: DurationLike = "1h",
                    by: Sequence[str] | str | None = ("tenant_id",),
                    percentiles: Sequence[float] = (50, 95, 99)) -> pd.DataFrame:
    """The summary computed in pandas from raw rows: exact percentiles (linear interpolation,
    the same definition as DuckDB's ``quantile_cont`` and numpy's default).

    Pure: no I/O. Rows without a status code (not a completed request) are ignored.

    Examples
    --------
    >>> raw = pd.DataFrame({"timestamp": pd.to_datetime(["2025-01-01T00:10Z"] * 2),
    ...                     "tenant_id": ["a", "a"], "status_code": [200, 503],
    ...                     "duration_s": [0.1, 0.3]})
    >>> summarize_frame(raw, by=["tenant_id"], percentiles=[50])["latency_p50_s"].iloc[0]
    np.float64(0.2)
    """
    groups = check_group(by)
    ps = check_percentiles(percentiles)
    step_us = int(resolve_interval(interval) / pd.Timedelta(microseconds=1))
    req = df[df["status_code"].notna()]
    ts_us = req["timestamp"].astype("datetime64[us, UTC]").astype("int64")
    bucket = pd.to_datetime((ts_us // step_us) * step_us, unit="us", utc=True)
    status = req["status_code"].astype("float64")
    work = pd.DataFrame({
        "timestamp": bucket.to_numpy(),
        **{c: req[c].astype(object).to_numpy() for c in groups},
        "_5xx": (status >= 500).to_numpy(),
        "_4xx": ((status >= 400) & (status < 500)).to_numpy(),
        "_d": req["duration_s"].astype("float64").to_numpy(),
    })
    keys = ["timestamp", *groups]
    if work.empty:
        empty = pd.DataFrame({c: [] for c in summary_columns(groups, ps)})
        return conform_summary(empty, groups, ps)
    g = work.groupby(keys, dropna=False, sort=True)
    res = g.agg(requests=("_d", "size"), errors_5xx=("_5xx", "sum"), errors_4xx=("_4xx", "sum"))
    for p in ps:
        res[percentile_column(p)] = g["_d"].quantile(p / 100.0)
    res = res.reset_index()
    return conform_summary(res, groups, ps)


class LogSource(abc.ABC):
    """Structured logs of the Tributary service, from any store, as normalized frames."""

    #: short name shown in frame metadata and messages (``files``, ``elasticsearch``)
    kind: str = "logs"
    #: whether :meth:`summary` percentiles are exact (DuckDB) or approximate (TDigest)
    exact_summary_percentiles: bool = True

    @abc.abstractmethod
    def iter_batches(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
                     fields: Sequence[str] | None = None,
                     batch_size: int = 50_000) -> Iterator[pd.DataFrame]:
        """Yield normalized frames of at most ``batch_size`` rows, oldest first.

        Every event in ``[start, end)`` matching ``filters`` appears exactly once.
        """

    def search(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
               fields: Sequence[str] | None = None) -> pd.DataFrame:
        """All matching events in ``[start, end)`` as one normalized frame.

        Parameters
        ----------
        start, end
            The half-open window; strings in ISO 8601, naive means UTC.
        filters
            ``{column: value or list}``, e.g. ``{"tenant_id": "acme", "status_code": [500, 503]}``.
        fields
            Columns to return (default: every column of the log frame).

        Returns
        -------
        pandas.DataFrame
            The log frame; its :class:`FrameMeta` (``meta_of(df)``) carries the source,
            window, query, warnings and counted problems.
        """
        cols = check_fields(fields)
        batches = list(self.iter_batches(start, end, filters, cols))
        if not batches:  # pragma: no cover - both sources yield at least one frame
            from tributary_analysis.sources.logs.schema import empty_frame
            return empty_frame(cols)
        attrs = dict(batches[-1].attrs)
        df = concat_frames(batches)
        set_attrs(df, attrs)
        return df

    @abc.abstractmethod
    def summary(self, start: TimeLike, end: TimeLike, interval: DurationLike = "1h",
                by: Sequence[str] | str | None = ("tenant_id",),
                filters: Filters | None = None,
                percentiles: Sequence[float] = (50, 95, 99)) -> pd.DataFrame:
        """Requests, errors and latency percentiles per time bucket and group.

        Columns: ``timestamp`` (bucket start, UTC, epoch-aligned), the ``by`` columns,
        ``requests``, ``errors_5xx`` (status ≥ 500), ``errors_4xx`` (400–499) and
        ``latency_p<P>_s`` per percentile. The frame's notes say whether the percentiles
        are exact or approximate (TDigest).
        """

    @abc.abstractmethod
    def top_errors(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
                   k: int = 20) -> pd.DataFrame:
        """The ``k`` most frequent errors: ``error_type, error_code, message, count``.

        Ties are broken by type, code and message so both sources agree exactly.
        """

    def exact_percentiles(self, start: TimeLike, end: TimeLike, interval: DurationLike = "1h",
                          by: Sequence[str] | str | None = ("tenant_id",),
                          filters: Filters | None = None,
                          percentiles: Sequence[float] = (50, 95, 99),
                          max_rows: int = 2_000_000) -> pd.DataFrame:
        """The :meth:`summary` frame computed from raw rows: exact percentiles.

        Pulls the rows, so keep the window small; raises :class:`TooManySamples` beyond
        ``max_rows`` rather than exhausting memory.
        """
        groups = check_group(by)
        need = ["timestamp", "status_code", "duration_s", *groups]
        count = self.count(start, end, filters)
        if count > max_rows:
            raise TooManySamples(
                f"{count} events in the window exceed max_rows={max_rows}; narrow the window "
                "or use summary() (pushed down)", source=self.kind)
        raw = self.search(start, end, filters, need)
        out = summarize_frame(raw, interval=interval, by=groups, percentiles=percentiles)
        from tributary_analysis.sources.logs.meta import stamp

        meta = meta_of(raw)
        how = "exact (from raw rows, linear interpolation)"
        notes = [n for n in meta.notes if not n.startswith("percentiles are")]
        return stamp(out, replace(
            meta, step=resolve_interval(interval), notes=(*notes, f"percentiles are {how}"),
            details={**meta.details, "percentiles": how, "by": list(groups),
                     "interval": format_interval(resolve_interval(interval))}))

    def distinct(self, column: str, start: TimeLike, end: TimeLike,
                 filters: Filters | None = None, limit: int = 10_000) -> list[str]:
        """The values of ``column`` seen in ``[start, end)`` (at most ``limit``, sorted):
        e.g. the tenant ids to suggest when a tenant filter matched nothing."""
        raw = self.search(start, end, filters, [column])
        values = raw[column].dropna().astype(str).unique().tolist()
        return sorted(values)[:limit]

    @abc.abstractmethod
    def count(self, start: TimeLike, end: TimeLike, filters: Filters | None = None) -> int:
        """How many events match (all events, not only completed requests)."""


def format_interval(step: pd.Timedelta) -> str:
    """A bucket width in the units Elasticsearch's ``fixed_interval`` takes (``ms s m h d``,
    one unit): ``1h``, ``90m`` for 1h30m, ``7d`` for a week.

    Examples
    --------
    >>> format_interval(pd.Timedelta("1h30m")), format_interval(pd.Timedelta("250ms"))
    ('90m', '250ms')
    """
    ms = round(step / pd.Timedelta(milliseconds=1))
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def rank_errors(df: pd.DataFrame, k: int) -> pd.DataFrame:
    """Top ``k`` error groups by count; ties by type, code, message (nulls last)."""
    if k <= 0:
        raise QueryError(f"k must be positive, got {k}", source="logs")
    out = pd.DataFrame({c: df[c] if c in df.columns else [] for c in TOP_ERROR_COLUMNS})
    for c in ("error_type", "error_code", "message"):
        out[c] = out[c].astype(object).where(out[c].notna(), None).astype("str")
    out["count"] = pd.to_numeric(out["count"]).astype("int64")
    out = out.sort_values(["count", "error_type", "error_code", "message"],
                          ascending=[False, True, True, True], na_position="last",
                          kind="stable").head(k).reset_index(drop=True)
    return out
