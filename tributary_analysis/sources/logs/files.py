"""``FileLogs``: the embedded default log source, DuckDB over JSON-lines or Parquet files.

Loading reads every file once with DuckDB (no Python per line), decodes the seed's
envelope, maps the three shapes with the same :class:`LogMapping` as the Elasticsearch path,
and keeps the result in a DuckDB table; every question after that is SQL with bound
parameters (summaries pushed down, percentiles exact with ``quantile_cont``).

Files as shippers leave them (CRLF, NUL padding, binary garbage, blank or tab-only lines,
a broken gzip stream) first pass a bytes-only check (:mod:`.lines`); a clean file goes to
DuckDB as it is, a dirty one as a repaired copy, so DuckDB does the heavy lifting for both.

Bad input is counted, never a crash and never skipped silently: every kind (see
:class:`~tributary_analysis.sources.logs.normalize.Problems`) with ``file:line`` samples is
in :attr:`FileLogs.problems` and in each frame's :class:`FrameMeta`; loading logs one
warning. Every non-blank line read is a record: ``records == lines - blank`` is checked
on every load (any difference is counted as ``unread_lines``).
"""

from __future__ import annotations

import collections
import glob
import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from tributary_analysis.errors import DataError, NotFoundError, QueryError
from tributary_analysis.frames.meta import FrameMeta
from tributary_analysis.ground.time import DurationLike, Window
from tributary_analysis.sources.logs.base import (
    Filters,
    LogSource,
    TimeLike,
    check_filters,
    check_group,
    check_percentiles,
    conform_summary,
    format_interval,
    percentile_column,
    rank_errors,
    resolve_interval,
    resolve_window,
)
from tributary_analysis.sources.logs.lines import FileScan, scan_files
from tributary_analysis.sources.logs.meta import log_meta, stamp
from tributary_analysis.sources.logs.normalize import (
    DEFAULT_MAPPING,
    ECS_MARKERS,
    EPOCH_PLAUSIBLE_US,
    MAPPED_COLUMNS,
    FieldMap,
    LogMapping,
    Problems,
    check_shape,
    json_path,
    printable,
    sql_extract_paths,
)
from tributary_analysis.sources.logs.schema import LOG_COLUMNS, check_fields, conform

log = logging.getLogger(__name__)

_JSON_SUFFIXES = (".jsonl", ".json", ".ndjson", ".log", ".jsonl.gz", ".json.gz", ".ndjson.gz")
_PARQUET_SUFFIXES = (".parquet", ".pq")
#: where the demo stack's simulator writes its log files (``tributary demo up``)
DEMO_LOG_GLOB = "$TRIBUTARY_HOME/demo/sim/logs/*.jsonl"
#: problem kinds found in SQL whose records are left out of the frame
_SQL_DROPPED = ("malformed_json", "bad_envelope", "bad_timestamp")
_WRONG_TYPED = ("status_code", "duration_s", "results_count")
#: ``ts_kind`` codes of the staged table: how each record's time was read
_TS_KINDS = {0: "iso8601", 1: "asctime", 2: "epoch_s", 3: "epoch_ms", 4: "epoch_us",
             5: "epoch_ns"}
#: characters a blank line may hold (spaces, tabs, form feeds; CR is removed before)
_BLANK = "' ' || chr(9) || chr(11) || chr(12) || chr(13)"


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
            found.extend(f for f in sorted(glob.glob(text, recursive=True))
                         if Path(f).is_file())
        elif p.is_file():
            found.append(text)
    if not found:
        raise NotFoundError(
            f"no log files match {[str(i) for i in items]}; check the path or glob, or set "
            f"TRIBUTARY_LOG_FILES (the demo stack's are {DEMO_LOG_GLOB}, by default "
            "~/.local/state/tributary/demo/sim/logs/*.jsonl)",
            source="files", query=str(items))
    return sorted(dict.fromkeys(found))


class FileLogs(LogSource):
    """Logs in JSON-lines or Parquet files, queried with DuckDB.

    Parameters
    ----------
    paths
        A file, a directory, a glob, or a list of them. ``None`` reads ``log_files`` from
        the settings (``TRIBUTARY_LOG_FILES``; the demo stack sets it).
    shape
        ``"envelope"``, ``"flat"``, ``"ecs"`` or ``None`` to detect per record.
    mapping
        Field paths per shape (:class:`~tributary_analysis.sources.logs.normalize.LogMapping`).
    threads
        DuckDB threads (default: all cores).
    progress
        Unused for files (loading is one DuckDB scan); kept for interface symmetry.

    Examples
    --------
    >>> logs = FileLogs("~/.local/state/tributary/demo/sim/logs/*.jsonl")   # doctest: +SKIP
    >>> logs.summary("2025-01-01", "2025-01-02", by=["tenant_id"])          # doctest: +SKIP
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
                                    f"pass paths or set it (the demo stack's are "
                                    f"{DEMO_LOG_GLOB})", source="files")
            paths = configured
        self.files = resolve_paths(paths)
        self.location = (str(Path(paths).expanduser()) if isinstance(paths, (str, Path))
                         else _short([str(p) for p in paths]))
        self.shape = check_shape(shape)
        self.mapping = mapping
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET TimeZone='UTC'")
        if threads:
            self._con.execute(f"SET threads={int(threads)}")
        self._lock = threading.Lock()
        self._problems: Problems | None = None
        self._scans: list[FileScan] = []
        self._details: dict[str, Any] = {}
        self._notes: list[str] = []

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
            workdir: list[Path] = []

            def make_workdir() -> Path:
                workdir.append(Path(tempfile.mkdtemp(prefix="tributary-logs-")))
                return workdir[0]

            try:
                self._stage(make_workdir)
            finally:
                for d in workdir:  # repaired copies live only for the load
                    shutil.rmtree(d, ignore_errors=True)
            if self._problems:
                log.warning("log files %s: %s", _short(self.files), self._problems.summary())

    def _stage(self, make_workdir: Any) -> None:
        parquet = [f for f in self.files if f.endswith(_PARQUET_SUFFIXES)]
        if parquet and len(parquet) != len(self.files):
            raise DataError(f"mix of Parquet and JSON-lines files in {_short(self.files)}; "
                            "open them as two FileLogs")
        if parquet:
            self._scans = [FileScan(path=f, read_path=f) for f in self.files]
        else:
            try:
                self._scans = scan_files(self.files, make_workdir)
            except OSError as exc:
                raise DataError(f"cannot read the log file {exc.filename or ''}: "
                                f"{exc.strerror or exc}; check its permissions") from exc
        ids = pd.DataFrame({"id": range(len(self._scans)),
                            "read_path": [sc.read_path for sc in self._scans]})
        self._con.register("log_files_df", ids)
        self._con.execute("CREATE TABLE log_files AS SELECT id::SMALLINT AS id, read_path "
                          "FROM log_files_df")
        self._con.unregister("log_files_df")
        read = [sc.read_path for sc in self._scans]
        sql = (self._normalized_parquet_sql() if parquet else None) or self._staging_sql()
        self._con.execute(sql, [read])
        self._con.execute(f"CREATE VIEW logs AS SELECT {', '.join(LOG_COLUMNS)} FROM staged "
                          "WHERE problem IS NULL")
        self._problems = self._collect_problems(parquet=bool(parquet))

    def _source_sql(self) -> str:
        if self.files[0].endswith(_PARQUET_SUFFIXES):
            return ("SELECT f.id AS file_id, to_json(p)::VARCHAR AS line "
                    "FROM read_parquet($1, filename=true, union_by_name=true) p "
                    "JOIN log_files f ON p.filename = f.read_path")
        return ("SELECT f.id AS file_id, r.line FROM read_csv($1, columns={'line': 'VARCHAR'}, "
                "delim=chr(0), quote='', escape='', header=false, filename=true, "
                "auto_detect=false, new_line='\\n') r JOIN log_files f ON r.filename = f.read_path")

    def _normalized_parquet_sql(self) -> str | None:
        """Parquet that already has the log frame's columns (``to_parquet``) skips the JSON
        mapping: read and typed directly, the same ``staged`` layout."""
        names = {row[0] for row in self._con.execute(
            "DESCRIBE SELECT * FROM read_parquet($1, union_by_name=true)", [self.files]
        ).fetchall()}
        if not set(LOG_COLUMNS) <= names:
            return None
        types = {"timestamp": "TIMESTAMPTZ", "status_code": "SMALLINT",
                 "duration_s": "DOUBLE", "results_count": "BIGINT"}
        cols = ", ".join(f"CAST(p.{c} AS {types.get(c, 'VARCHAR')}) AS {c}"
                         for c in LOG_COLUMNS)
        return ("CREATE TABLE staged AS SELECT "
                "CASE WHEN p.timestamp IS NULL THEN 'bad_timestamp' END AS problem, "
                "f.id AS file_id, NULL::VARCHAR AS p_line, 0::TINYINT AS ts_kind, "
                "false AS wt_status_code, false AS wt_duration_s, "
                f"false AS wt_results_count, {cols} "
                "FROM read_parquet($1, union_by_name=true, filename=true) p "
                "JOIN log_files f ON p.filename = f.read_path ORDER BY p.timestamp")

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
        lo, hi = EPOCH_PLAUSIBLE_US
        bad_value = """(r_status_code IS NOT NULL AND t_status IS NULL)
         OR (r_duration IS NOT NULL AND t_dur IS NULL)
         OR (r_results_count IS NOT NULL AND t_results IS NULL)"""
        return f"""
CREATE TABLE staged AS
WITH src AS ({self._source_sql()}),
v AS (SELECT file_id, line, (line IS NULL OR trim(line, {_BLANK}) = '') AS blank FROM src),
u AS (SELECT file_id, line, blank,
        NOT blank AND coalesce(json_valid(line), false) AS ok FROM v),
w AS (SELECT file_id, line, blank, ok,
        CASE WHEN ok AND json_type(line, '{key}') = 'VARCHAR'
             THEN json_extract_string(line, '{key}') END AS inner_txt FROM u),
x AS (SELECT file_id, line, blank, ok, inner_txt, coalesce({env}, false) AS env,
        CASE WHEN json_valid(inner_txt) THEN json_type(inner_txt) = 'OBJECT' ELSE false END
          AS inner_ok FROM w),
y AS (SELECT file_id, line, blank, ok, env, env AND NOT inner_ok AS bad_env,
        CASE WHEN NOT ok THEN NULL
             WHEN env AND inner_ok THEN json_merge_patch(line, inner_txt)
             WHEN env THEN NULL ELSE line END AS doc FROM x),
z AS (SELECT *, coalesce({is_ecs}, false) AS is_ecs FROM y),
r AS (SELECT file_id, line, blank, ok, bad_env, is_ecs,
        CASE WHEN is_ecs THEN json_extract_string(doc, {_sql_list(ecs_paths)}) END AS ev,
        CASE WHEN NOT is_ecs THEN json_extract_string(doc, {_sql_list(flat_paths)}) END AS fv
      FROM z),
m AS (SELECT file_id, line, blank, ok, bad_env, is_ecs,
  {raw_cols}
  FROM r),
t0 AS (SELECT *, TRY_CAST(r_timestamp AS TIMESTAMPTZ) AS ts_iso FROM m),
t1 AS (SELECT *,
  CASE WHEN ts_iso IS NULL AND r_timestamp IS NOT NULL
       THEN TRY_CAST(regexp_replace(r_timestamp,
              '^(\\d{{4}}-\\d{{2}}-\\d{{2}}[ T]\\d{{2}}:\\d{{2}}:\\d{{2}}),(\\d+)', '\\1.\\2')
            AS TIMESTAMPTZ) END AS ts_comma,
  CASE WHEN ts_iso IS NULL THEN TRY_CAST(r_timestamp AS DOUBLE) END AS ts_num FROM t0),
t2 AS (SELECT *,
  CASE WHEN ts_num IS NULL THEN NULL
       WHEN abs(ts_num) < 1e11 THEN 2 WHEN abs(ts_num) < 1e14 THEN 3
       WHEN abs(ts_num) < 1e17 THEN 4 ELSE 5 END AS epoch_kind FROM t1),
t3 AS (SELECT *,
  round(ts_num * CASE epoch_kind WHEN 2 THEN 1e6 WHEN 3 THEN 1e3 WHEN 4 THEN 1.0
                 ELSE 1e-3 END) AS ts_us FROM t2),
t AS (SELECT *,
  coalesce(ts_iso, ts_comma,
           CASE WHEN ts_us >= {lo} AND ts_us < {hi}
                THEN make_timestamp(CAST(ts_us AS BIGINT))::TIMESTAMPTZ END) AS t_ts,
  CASE WHEN ts_iso IS NOT NULL THEN 0 WHEN ts_comma IS NOT NULL THEN 1
       WHEN ts_us >= {lo} AND ts_us < {hi} THEN epoch_kind END::TINYINT AS ts_kind,
  TRY_CAST(r_status_code AS DOUBLE) AS t_status,
  TRY_CAST(r_duration AS DOUBLE) * CASE WHEN is_ecs THEN {scale_e} ELSE {scale_f} END AS t_dur,
  TRY_CAST(r_results_count AS DOUBLE) AS t_results
  FROM t3)
SELECT
  CASE WHEN blank THEN 'blank' WHEN NOT ok THEN 'malformed_json' WHEN bad_env THEN 'bad_envelope'
       WHEN t_ts IS NULL THEN 'bad_timestamp' END AS problem,
  file_id,
  CASE WHEN NOT blank AND (NOT ok OR bad_env OR t_ts IS NULL OR {bad_value})
       THEN line END AS p_line,
  ts_kind,
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

    def _rows(self, sql: str) -> list[tuple[Any, ...]]:
        return self._con.execute(sql).fetchall()

    def _collect_problems(self, parquet: bool) -> Problems:
        """Count every kind (SQL's and the pre-pass's), sample it with ``file:line``, and
        check that every line read is accounted for."""
        probs = Problems()
        per_file = {int(f): (int(n), int(b)) for f, n, b in self._rows(
            "SELECT file_id, count(*), count(*) FILTER (WHERE problem = 'blank') "
            "FROM staged GROUP BY file_id")}
        kinds = dict(self._rows("SELECT problem, count(*) FROM staged "
                                "WHERE problem IS NOT NULL GROUP BY problem"))
        wrong = self._rows("SELECT " + ", ".join(
            f"count(*) FILTER (WHERE problem IS NULL AND wt_{c})" for c in _WRONG_TYPED)
            + " FROM staged")[0]
        probs.blank = int(kinds.pop("blank", 0))
        conds = [(k, f"problem = '{k}'") for k in _SQL_DROPPED if kinds.get(k)] + [
            (f"wrong_type:{c}", f"problem IS NULL AND wt_{c}")
            for c, n in zip(_WRONG_TYPED, wrong, strict=True) if n]
        for k in _SQL_DROPPED:
            if kinds.get(k):
                probs.counts[k] = int(kinds[k])
        for c, n in zip(_WRONG_TYPED, wrong, strict=True):
            if n:
                probs.counts[f"wrong_type:{c}"] = int(n)
        samples: list[tuple[str, int, str]] = []
        for kind, cond in conds:
            rows = self._rows(f"SELECT file_id, p_line FROM staged WHERE {cond} "
                              f"ORDER BY file_id LIMIT {probs.max_samples}")
            samples.extend((kind, int(f), line or "") for f, line in rows)
        located = ([self._scans[fid].path for _k, fid, _t in samples] if parquet
                   else _locate(samples, self._scans))
        found: list[tuple[str, str, str]] = [
            (kind, where, text) for (kind, _fid, text), where in zip(samples, located,
                                                                       strict=True)]
        lines = unread = 0
        stats: dict[str, int] = collections.Counter()
        for fid, scan in enumerate(self._scans):
            read = per_file.get(fid, (0, 0))[0]
            if parquet:
                scan.lines = scan.read_lines = read
            lines += scan.lines
            for kind, n in scan.counts.items():
                probs.counts[kind] = probs.counts.get(kind, 0) + n
            found.extend((kind, f"{scan.path}:{ln}", text) for kind, ln, text in scan.problems)
            stats["crlf_lines"] += scan.crlf
            if read != scan.read_lines:  # DuckDB and the pre-pass disagree: never silent
                missing = scan.read_lines - read
                unread += max(missing, 0)
                probs.counts["unread_lines"] = probs.counts.get("unread_lines", 0) + abs(missing)
                found.append(("unread_lines", scan.path,
                              f"{scan.read_lines} lines to read, DuckDB returned {read}"))
            if not scan.clean:
                stats["repaired_files"] += 1
        for kind, where, text in sorted(found, key=lambda s: _line_key(s[1])):
            if sum(1 for s in probs.samples if s["kind"] == kind) < probs.max_samples:
                probs.samples.append({"kind": kind, "where": where, "text": printable(text)})
        probs.lines = lines
        nonblank = sum(n - b for n, b in per_file.values())
        # every non-blank line is a record: read by DuckDB, left out by the pre-pass, or
        # counted as unread_lines above
        probs.records = nonblank + sum(sc.dropped for sc in self._scans) + unread
        formats = {(_TS_KINDS.get(int(k), "other") if k is not None else "none"): int(n)
                   for k, n in self._rows("SELECT ts_kind, count(*) FROM staged "
                                          "WHERE problem IS NULL GROUP BY ts_kind")}
        self._details = {"files": list(self.files), "timestamp_formats": formats,
                         **{k: v for k, v in stats.items() if v}}
        self._notes = []
        if formats.get("asctime"):
            self._notes.append(
                f"{formats['asctime']:,} timestamp(s) in logging's asctime format (no time "
                "zone) were read as UTC; set the formatter's converter to time.gmtime if the "
                "service logs local time")
        return probs

    # ------------------------------------------------------------------ queries

    def _where(self, start: TimeLike, end: TimeLike,
               filters: Filters | None) -> tuple[str, list[Any], Window, dict[str, Any]]:
        w = resolve_window(start, end)
        flt = check_filters(filters)
        clauses = ["timestamp >= ?", "timestamp < ?"]
        params: list[Any] = [w.start.to_pydatetime(), w.end.to_pydatetime()]
        for col, values in flt.items():
            clauses.append(f"{col} IN ({', '.join('?' for _ in values)})")
            params.extend(values)
        return " AND ".join(clauses), params, w, flt

    def _meta(self, window: Window, sql: str, filters: dict[str, Any], *,
              step: pd.Timedelta | None = None, notes: Sequence[str] = (),
              details: dict[str, Any] | None = None) -> FrameMeta:
        probs = self.problems
        return log_meta("files", self.location, window, [" ".join(sql.split())],
                        problems=probs, step=step, requests=1,
                        notes=[*self._notes, *notes],
                        details={**self._details, "filters": filters, **(details or {})})

    def _query(self, sql: str, params: list[Any]) -> duckdb.DuckDBPyConnection:
        self._load()
        try:
            return self._con.cursor().execute(sql, params)
        except duckdb.Error as exc:  # pragma: no cover - SQL is generated, params bound
            raise QueryError(f"DuckDB failed on the log files {_short(self.files)}: {exc}",
                             source="files", query=sql) from exc

    def count(self, start: TimeLike, end: TimeLike, filters: Filters | None = None) -> int:
        where, params, _, _ = self._where(start, end, filters)
        row = self._query(f"SELECT count(*) FROM logs WHERE {where}", params).fetchone()
        return int(row[0]) if row else 0

    def iter_batches(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
                     fields: Sequence[str] | None = None,
                     batch_size: int = 50_000) -> Iterator[pd.DataFrame]:
        cols = check_fields(fields)
        if batch_size <= 0:
            raise QueryError(f"batch_size must be positive, got {batch_size}", source="files")
        where, params, w, flt = self._where(start, end, filters)
        order = ", ".join(c for c in ("timestamp", "request_id", "event"))
        sql = f"SELECT {', '.join(cols)} FROM logs WHERE {where} ORDER BY {order}"
        self._load()
        meta = self._meta(w, sql, flt)
        reader = self._con.cursor().sql(sql, params=params).to_arrow_reader(batch_size)
        yielded = False
        for batch in reader:
            if batch.num_rows == 0:
                continue
            yielded = True
            yield stamp(conform(batch.to_pandas(), cols), meta)
        if not yielded:
            from tributary_analysis.sources.logs.schema import empty_frame

            yield stamp(empty_frame(cols), meta)

    def summary(self, start: TimeLike, end: TimeLike, interval: DurationLike = "1h",
                by: Sequence[str] | str | None = ("tenant_id",),
                filters: Filters | None = None,
                percentiles: Sequence[float] = (50, 95, 99)) -> pd.DataFrame:
        groups = check_group(by)
        ps = check_percentiles(percentiles)
        step = resolve_interval(interval)
        step_us = int(step / pd.Timedelta(microseconds=1))
        where, params, w, flt = self._where(start, end, filters)
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
        how = "exact (DuckDB quantile_cont)"
        return stamp(out, self._meta(w, sql, flt, step=step,
                                     notes=[f"percentiles are {how}"],
                                     details={"interval": format_interval(step),
                                              "by": list(groups), "percentiles": how}))

    def top_errors(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
                   k: int = 20) -> pd.DataFrame:
        where, params, w, flt = self._where(start, end, filters)
        sql = ("SELECT error_type, error_code, event AS message, count(*) AS count "
               f"FROM logs WHERE error_type IS NOT NULL AND {where} GROUP BY ALL")
        out = rank_errors(self._query(sql, params).df(), k)
        return stamp(out, self._meta(w, sql, flt))

    def distinct(self, column: str, start: TimeLike, end: TimeLike,
                 filters: Filters | None = None, limit: int = 10_000) -> list[str]:
        check_fields([column])
        where, params, _, _ = self._where(start, end, filters)
        rows = self._query(f"SELECT DISTINCT CAST({column} AS VARCHAR) FROM logs WHERE {where} "
                           f"AND {column} IS NOT NULL ORDER BY 1 LIMIT {int(limit)}",
                           params).fetchall()
        return [str(r[0]) for r in rows]

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


def _locate(samples: Sequence[tuple[str, int, str]], scans: Sequence[FileScan]) -> list[str]:
    """``file:line`` (original numbering) for sampled bad records: one pass over each file
    DuckDB read that has any. A line sampled for two kinds gets its number in both;
    repeated texts of one kind get their successive occurrences."""
    wanted: dict[int, dict[str, dict[str, collections.deque[int]]]] = {}
    for i, (kind, fid, text) in enumerate(samples):
        by_kind = wanted.setdefault(fid, {}).setdefault(text, {})
        by_kind.setdefault(kind, collections.deque()).append(i)
    out = [scans[fid].path for _k, fid, _t in samples]
    for fid, texts in wanted.items():
        scan = scans[fid]
        try:
            opener = __import__("gzip").open if scan.read_path.endswith(".gz") else open
            with opener(scan.read_path, "rt", encoding="utf-8", errors="replace",
                        newline="\n") as fh:
                for lineno, line in enumerate(fh, start=1):
                    text = line.rstrip("\n").rstrip("\r")
                    if lineno == 1:
                        text = text.removeprefix("\ufeff")
                    if text not in texts:
                        continue
                    by_kind = texts[text]
                    where = f"{scan.path}:{scan.original_line(lineno)}"
                    for kind in list(by_kind):
                        out[by_kind[kind].popleft()] = where
                        if not by_kind[kind]:
                            del by_kind[kind]
                    if not by_kind:
                        del texts[text]
                    if not texts:
                        break
        except OSError:
            continue
    return out
