"""``FileLogs``: the embedded default log source, DuckDB over JSON-lines or Parquet files.

Loading reads every file once with DuckDB (no Python per line), decodes the seed's
envelope, maps the three shapes with the same :class:`LogMapping` as the Elasticsearch path,
and keeps the result in a DuckDB table; every question after that is SQL with bound
parameters (summaries pushed down, percentiles exact with ``quantile_cont``).

Bad input is counted, never a crash and never skipped silently: malformed or truncated
lines (``malformed_json``), an envelope whose inner JSON is broken (``bad_envelope``),
records without a usable timestamp (``bad_timestamp``) are left out; wrong-typed values
(``wrong_type:status_code`` ...) become null. :attr:`FileLogs.problems` has the counts and
``file:line`` samples; every frame carries them in ``attrs["problems"]`` and loading logs
one warning.
"""

from __future__ import annotations

import glob
import logging
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from tributary_analysis.errors import DataError, NotFoundError, QueryError
from tributary_analysis.sources.logs.base import (
    Filters,
    LogSource,
    TimeLike,
    check_filters,
    check_group,
    check_percentiles,
    conform_summary,
    parse_interval,
    percentile_column,
    rank_errors,
    window,
)
from tributary_analysis.sources.logs.normalize import (
    DEFAULT_MAPPING,
    ECS_MARKERS,
    MAPPED_COLUMNS,
    FieldMap,
    LogMapping,
    Problems,
    check_shape,
    json_path,
    sql_extract_paths,
)
from tributary_analysis.sources.logs.schema import LOG_COLUMNS, check_fields, conform, set_attrs

log = logging.getLogger(__name__)

_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson", ".log", ".jsonl.gz", ".json.gz", ".ndjson.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
#: problem kinds whose records are left out of the frame
_DROPPED = ("malformed_json", "bad_envelope", "bad_timestamp")
_NUMERIC = {"status_code": "DOUBLE", "duration": "DOUBLE", "results_count": "DOUBLE"}


def resolve_paths(paths: str | Path | Sequence[str | Path]) -> list[str]:
    """Expand globs and directories into a sorted list of log files."""
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    found: list[str] = []
    for item in items:
        text = str(Path(item).expanduser())
        p = Path(text)
        if p.is_dir():
            found.extend(str(f) for f in sorted(p.rglob("*"))
                         if f.is_file() and f.name.endswith(_JSON_SUFFIXES + _PARQUET_SUFFIXES))
        elif any(ch in text for ch in "*?["):
            found.extend(sorted(glob.glob(text, recursive=True)))
        elif p.is_file():
            found.append(text)
    if not found:
        raise NotFoundError(
            f"no log files match {[str(i) for i in items]}; check the path or glob, or set "
            "TRIBUTARY_LOG_FILES (e.g. ~/.local/state/tributary/demo/logs/*.jsonl)",
            source="files", query=str(items))
    return sorted(dict.fromkeys(found))


class FileLogs(LogSource):
    """Logs in JSON-lines or Parquet files, queried with DuckDB.

    Parameters
    ----------
    paths
        A file, a directory, a glob, or a list of them. ``None`` reads ``log_files`` from
        the settings (``TRIBUTARY_LOG_FILES``).
    shape
        ``"envelope"``, ``"flat"``, ``"ecs"`` or ``None`` to detect per record.
    mapping
        Field paths per shape (:class:`~tributary_analysis.sources.logs.normalize.LogMapping`).
    progress
        Unused for files (loading is one DuckDB scan); kept for interface symmetry.

    Examples
    --------
    >>> logs = FileLogs("demo/logs/*.jsonl")                          # doctest: +SKIP
    >>> logs.summary("2025-01-01", "2025-01-02", by=["tenant_id"])    # doctest: +SKIP
    """

    kind = "files"
    exact_summary_percentiles = True

    def __init__(self, paths: str | Path | Sequence[str | Path] | None = None, *,
                 shape: str | None = None, mapping: LogMapping = DEFAULT_MAPPING,
                 threads: int | None = None, progress: bool | None = None) -> None:
        if paths is None:
            from tributary_analysis.config import load_settings

            configured = load_settings().log_files
            if not configured:
                raise NotFoundError("no log files given and TRIBUTARY_LOG_FILES is not set; "
                                    "pass paths or set it", source="files")
            paths = configured
        self.files = resolve_paths(paths)
        self.shape = check_shape(shape)
        self.mapping = mapping
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET TimeZone='UTC'")
        if threads:
            self._con.execute(f"SET threads={int(threads)}")
        self._lock = threading.Lock()
        self._problems: Problems | None = None

    # ------------------------------------------------------------------ loading

    @property
    def problems(self) -> Problems:
        """Counted input problems with ``file:line`` samples (loads the files if needed)."""
        self._load()
        assert self._problems is not None
        return self._problems

    def _load(self) -> None:
        with self._lock:
            if self._problems is not None:
                return
            sql = self._normalized_parquet_sql() or self._staging_sql()
            self._con.execute(sql, [self.files])
            self._con.execute(f"CREATE VIEW logs AS SELECT {', '.join(LOG_COLUMNS)} FROM staged "
                              "WHERE problem IS NULL")
            self._problems = self._collect_problems()
            if self._problems:
                log.warning("log files %s: %s", _short(self.files), self._problems.summary())

    def _source_sql(self) -> str:
        parquet = [f for f in self.files if f.endswith(_PARQUET_SUFFIXES)]
        if parquet and len(parquet) != len(self.files):
            raise DataError(f"mix of Parquet and JSON-lines files in {_short(self.files)}; "
                            "open them as two FileLogs")
        if parquet:
            return ("SELECT filename AS file, to_json(p)::VARCHAR AS line "
                    "FROM read_parquet($1, filename=true, union_by_name=true) p")
        return ("SELECT filename AS file, line FROM read_csv($1, columns={'line': 'VARCHAR'}, "
                "delim=chr(0), quote='', escape='', header=false, filename=true, "
                "auto_detect=false, new_line='\\n')")

    def _normalized_parquet_sql(self) -> str | None:
        """Parquet that already has the log frame's columns (``to_parquet``) skips the JSON
        mapping: read and typed directly, the same ``staged`` layout."""
        if not all(f.endswith(_PARQUET_SUFFIXES) for f in self.files):
            return None
        names = {row[0] for row in self._con.execute(
            "DESCRIBE SELECT * FROM read_parquet($1, union_by_name=true)", [self.files]
        ).fetchall()}
        if not set(LOG_COLUMNS) <= names:
            return None
        types = {"timestamp": "TIMESTAMPTZ", "status_code": "SMALLINT",
                 "duration_s": "DOUBLE", "results_count": "BIGINT"}
        cols = ", ".join(f"CAST({c} AS {types.get(c, 'VARCHAR')}) AS {c}" for c in LOG_COLUMNS)
        return ("CREATE TABLE staged AS SELECT "
                "CASE WHEN timestamp IS NULL THEN 'bad_timestamp' END AS problem, "
                "CASE WHEN timestamp IS NULL THEN filename END AS p_file, "
                "NULL::VARCHAR AS p_line, false AS wt_status_code, false AS wt_duration_s, "
                f"false AS wt_results_count, {cols} "
                "FROM read_parquet($1, union_by_name=true, filename=true) ORDER BY timestamp")

    def _staging_sql(self) -> str:
        """One scan: validate JSON, decode envelopes, detect shapes, map and type columns."""
        key = json_path(self.mapping.envelope_key, True)
        if self.shape == "envelope":
            env = "ok AND inner_txt IS NOT NULL"
        elif self.shape is None:
            env = "ok AND inner_txt IS NOT NULL AND starts_with(ltrim(inner_txt), '{')"
        else:
            env = "false"
        marker_paths = [json_path(m, d) for m in ECS_MARKERS for d in (True, False)]
        if self.shape == "ecs":
            is_ecs = "true"
        elif self.shape is None:
            is_ecs = (f"json_exists(doc, '{json_path('@timestamp', True)}') AND "
                      f"len(list_filter(json_extract_string(doc, {_sql_list(marker_paths)}), "
                      "lambda x: x IS NOT NULL)) > 0")
        else:
            is_ecs = "false"
        flat_paths, flat_idx = sql_extract_paths(self.mapping.flat)
        ecs_paths, ecs_idx = sql_extract_paths(self.mapping.ecs)

        def col(c: str) -> str:
            f = "coalesce(" + ", ".join(f"fv[{i}]" for i in flat_idx[c]) + ")"
            e = "coalesce(" + ", ".join(f"ev[{i}]" for i in ecs_idx[c]) + ")"
            return f"CASE WHEN is_ecs THEN {e} ELSE {f} END AS r_{c}"

        raw_cols = ",\n  ".join(col(c) for c in MAPPED_COLUMNS)
        scale_f, scale_e = _scale(self.mapping.flat), _scale(self.mapping.ecs)
        endpoint = "r_path"
        for seg in ("datasets", "vectors", "backups"):
            endpoint = f"regexp_replace({endpoint}, '/{seg}/[^/]+', '/{seg}/{{id}}', 'g')"
        return f"""
CREATE TABLE staged AS
WITH src AS ({self._source_sql()}),
v AS (SELECT file, line, coalesce(json_valid(line), false) AS ok FROM src
      WHERE line IS NOT NULL AND trim(line) <> ''),
w AS (SELECT file, line, ok,
        CASE WHEN ok AND json_type(line, '{key}') = 'VARCHAR'
             THEN json_extract_string(line, '{key}') END AS inner_txt FROM v),
x AS (SELECT file, line, ok, inner_txt, coalesce({env}, false) AS env,
        CASE WHEN json_valid(inner_txt) THEN json_type(inner_txt) = 'OBJECT' ELSE false END
          AS inner_ok FROM w),
y AS (SELECT file, line, ok, env, env AND NOT inner_ok AS bad_env,
        CASE WHEN NOT ok THEN NULL
             WHEN env AND inner_ok THEN json_merge_patch(line, inner_txt)
             WHEN env THEN NULL ELSE line END AS doc FROM x),
z AS (SELECT *, coalesce({is_ecs}, false) AS is_ecs FROM y),
r AS (SELECT file, line, ok, bad_env, is_ecs,
        CASE WHEN is_ecs THEN json_extract_string(doc, {_sql_list(ecs_paths)}) END AS ev,
        CASE WHEN NOT is_ecs THEN json_extract_string(doc, {_sql_list(flat_paths)}) END AS fv
      FROM z),
m AS (SELECT file, line, ok, bad_env, is_ecs,
  {raw_cols}
  FROM r),
t AS (SELECT *,
  coalesce(TRY_CAST(r_timestamp AS TIMESTAMPTZ),
           CASE WHEN TRY_CAST(r_timestamp AS DOUBLE) IS NOT NULL
                THEN make_timestamp(CAST(TRY_CAST(r_timestamp AS DOUBLE) * 1000 AS BIGINT))
                     ::TIMESTAMPTZ END) AS t_ts,
  TRY_CAST(r_status_code AS DOUBLE) AS t_status,
  TRY_CAST(r_duration AS DOUBLE) * CASE WHEN is_ecs THEN {scale_e} ELSE {scale_f} END AS t_dur,
  TRY_CAST(r_results_count AS DOUBLE) AS t_results
  FROM m)
SELECT
  CASE WHEN NOT ok THEN 'malformed_json' WHEN bad_env THEN 'bad_envelope'
       WHEN t_ts IS NULL THEN 'bad_timestamp' END AS problem,
  CASE WHEN NOT ok OR bad_env OR t_ts IS NULL
         OR (r_status_code IS NOT NULL AND t_status IS NULL)
         OR (r_duration IS NOT NULL AND t_dur IS NULL)
         OR (r_results_count IS NOT NULL AND t_results IS NULL)
       THEN file END AS p_file,
  CASE WHEN NOT ok OR bad_env OR t_ts IS NULL
         OR (r_status_code IS NOT NULL AND t_status IS NULL)
         OR (r_duration IS NOT NULL AND t_dur IS NULL)
         OR (r_results_count IS NOT NULL AND t_results IS NULL)
       THEN line END AS p_line,
  (r_status_code IS NOT NULL AND t_status IS NULL) AS wt_status_code,
  (r_duration IS NOT NULL AND t_dur IS NULL) AS wt_duration_s,
  (r_results_count IS NOT NULL AND t_results IS NULL) AS wt_results_count,
  t_ts AS timestamp,
  r_level AS level, r_event AS event, r_request_id AS request_id, r_method AS method,
  r_path AS path, coalesce(r_endpoint, {endpoint}) AS endpoint,
  CAST(round(t_status) AS SMALLINT) AS status_code, t_dur AS duration_s,
  r_tenant_id AS tenant_id, r_error_type AS error_type, r_error_code AS error_code,
  r_search_type AS search_type, r_dataset_id AS dataset_id,
  CAST(round(t_results) AS BIGINT) AS results_count
FROM t
ORDER BY timestamp
"""

    def _scalar(self, sql: str) -> int:
        row = self._con.execute(sql).fetchone()
        return int(row[0]) if row else 0

    def _collect_problems(self) -> Problems:
        probs = Problems()
        probs.records = self._scalar("SELECT count(*) FROM staged")
        kinds = [(k, f"problem = '{k}'") for k in _DROPPED] + [
            (f"wrong_type:{c}", f"problem IS NULL AND wt_{c}")
            for c in ("status_code", "duration_s", "results_count")]
        samples: list[tuple[str, str, str]] = []
        for kind, cond in kinds:
            n = self._scalar(f"SELECT count(*) FROM staged WHERE {cond}")
            if not n:
                continue
            probs.counts[kind] = n
            rows = self._con.execute(f"SELECT p_file, p_line FROM staged WHERE {cond} "
                                     f"LIMIT {probs.max_samples}").fetchall()
            samples.extend((kind, f, line or "") for f, line in rows)
        where = _locate(samples)
        for (kind, _f, text), loc in sorted(zip(samples, where, strict=True),
                                            key=lambda s: _line_key(s[1])):
            probs.samples.append({"kind": kind, "where": loc, "text": text[:200]})
        return probs

    # ------------------------------------------------------------------ queries

    def _where(self, start: TimeLike, end: TimeLike,
               filters: Filters | None) -> tuple[str, list[Any], dict[str, Any]]:
        s, e = window(start, end)
        flt = check_filters(filters)
        clauses = ["timestamp >= ?", "timestamp < ?"]
        params: list[Any] = [s.to_pydatetime(), e.to_pydatetime()]
        for col, values in flt.items():
            clauses.append(f"{col} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
        attrs = {"source": "files", "files": list(self.files), "start": s, "end": e,
                 "filters": flt}
        return " AND ".join(clauses), params, attrs

    def _attrs(self, attrs: dict[str, Any]) -> dict[str, Any]:
        probs = self.problems
        attrs["problems"] = probs.as_dict()
        attrs["warnings"] = [f"input problems: {probs.summary()}"] if probs else []
        return attrs

    def _query(self, sql: str, params: list[Any]) -> duckdb.DuckDBPyConnection:
        self._load()
        try:
            return self._con.cursor().execute(sql, params)
        except duckdb.Error as exc:  # pragma: no cover - SQL is generated, params bound
            raise QueryError(f"DuckDB failed on the log files {_short(self.files)}: {exc}",
                             source="files", query=sql) from exc

    def count(self, start: TimeLike, end: TimeLike, filters: Filters | None = None) -> int:
        where, params, _ = self._where(start, end, filters)
        row = self._query(f"SELECT count(*) FROM logs WHERE {where}", params).fetchone()
        return int(row[0]) if row else 0

    def iter_batches(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
                     fields: Sequence[str] | None = None,
                     batch_size: int = 50_000) -> Iterator[pd.DataFrame]:
        cols = check_fields(fields)
        where, params, attrs = self._where(start, end, filters)
        attrs = self._attrs(attrs)
        order = ", ".join(c for c in ("timestamp", "request_id", "event"))
        self._load()
        rel = self._con.cursor().sql(
            f"SELECT {', '.join(cols)} FROM logs WHERE {where} ORDER BY {order}", params=params)
        reader = rel.to_arrow_reader(batch_size)
        for batch in reader:
            if batch.num_rows == 0:
                continue
            df = conform(batch.to_pandas(), cols)
            set_attrs(df, attrs)
            yield df

    def summary(self, start: TimeLike, end: TimeLike, interval: str = "1h",
                by: Sequence[str] | str | None = ("tenant_id",),
                filters: Filters | None = None,
                percentiles: Sequence[float] = (50, 95, 99)) -> pd.DataFrame:
        groups = check_group(by)
        ps = check_percentiles(percentiles)
        fixed, step_us = parse_interval(interval)
        where, params, attrs = self._where(start, end, filters)
        qs = "[" + ", ".join(repr(p / 100.0) for p in ps) + "]"
        group_sql = "".join(f", {c}" for c in groups)
        sql = (f"SELECT make_timestamp((epoch_us(timestamp) // {step_us}) * {step_us}) "
               f"AS timestamp{group_sql}, count(*) AS requests, "
               "count(*) FILTER (WHERE status_code >= 500) AS errors_5xx, "
               "count(*) FILTER (WHERE status_code >= 400 AND status_code < 500) AS errors_4xx"
               + (f", quantile_cont(duration_s, {qs}) AS q" if ps else "")
               + f" FROM logs WHERE status_code IS NOT NULL AND {where} "
               f"GROUP BY ALL")
        df = self._query(sql, params).df()
        if ps:
            qv = df.pop("q") if "q" in df.columns else pd.Series([], dtype=object)
            for i, p in enumerate(ps):
                df[percentile_column(p)] = [None if v is None else v[i] for v in qv]
        df["timestamp"] = pd.to_datetime(df["timestamp"]).dt.tz_localize("UTC")
        out = conform_summary(df, groups, ps)
        set_attrs(out, self._attrs(attrs))
        out.attrs.update({"interval": fixed, "by": list(groups),
                          "percentiles": "exact (DuckDB quantile_cont)"})
        return out

    def top_errors(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
                   k: int = 20) -> pd.DataFrame:
        where, params, attrs = self._where(start, end, filters)
        df = self._query("SELECT error_type, error_code, event AS message, count(*) AS count "
                         f"FROM logs WHERE error_type IS NOT NULL AND {where} GROUP BY ALL",
                         params).df()
        out = rank_errors(df, k)
        set_attrs(out, self._attrs(attrs))
        return out

    def to_parquet(self, path: str | Path) -> Path:
        """Write the normalized rows to one Parquet file (fast to reopen, no re-parsing)."""
        self._load()
        target = Path(path)
        self._con.execute("COPY (SELECT * FROM logs) TO ? (FORMAT parquet)", [str(target)])
        return target

    def close(self) -> None:
        self._con.close()

    def __repr__(self) -> str:
        return f"FileLogs({_short(self.files)}, shape={self.shape!r})"


def _scale(fmap: FieldMap) -> str:
    return repr(float(fmap.duration_scale))


def _sql_list(paths: Sequence[str]) -> str:
    """A SQL list literal of validated JSON paths."""
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _short(files: Sequence[str]) -> str:
    return files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more)"


def _line_key(where: str) -> tuple[str, int]:
    """Sort ``file:line`` locations by file, then line number."""
    file, _, line = where.rpartition(":")
    return (file, int(line)) if line.isdigit() else (where, 0)


def _locate(samples: Sequence[tuple[str, str, str]]) -> list[str]:
    """``file:line`` for sampled bad records: one pass over each file that has any."""
    wanted: dict[str, dict[str, list[int]]] = {}
    for i, (_kind, f, text) in enumerate(samples):
        wanted.setdefault(f, {}).setdefault(text, []).append(i)
    out = [f for _k, f, _t in samples]
    for f, texts in wanted.items():
        if f.endswith(_PARQUET_SUFFIXES):
            continue
        try:
            opener = __import__("gzip").open if f.endswith(".gz") else open
            with opener(f, "rt", encoding="utf-8", errors="replace", newline="\n") as fh:
                for lineno, line in enumerate(fh, start=1):
                    idxs = texts.pop(line.rstrip("\n").rstrip("\r"), None)
                    for i in idxs or ():
                        out[i] = f"{f}:{lineno}"
                    if not texts:
                        break
        except OSError:
            continue
    return out
