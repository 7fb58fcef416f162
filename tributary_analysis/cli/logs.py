"""``tributary logs``: search, summarize and rank errors in the service's logs.

Options mirror :class:`~tributary_analysis.sources.logs.LogSource` arguments. Credentials
come from the environment or the config file only (``TRIBUTARY_ES_USERNAME`` ...), never
from options. Library errors become one line and exit code 2 in ``cli/__init__.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
import pandas as pd

from tributary_analysis.config import load_settings
from tributary_analysis.errors import ConfigError
from tributary_analysis.sources.logs.base import LogSource, parse_interval


def _source(source: str, files: Sequence[str], index: str | None, es_url: str | None,
            shape: str | None) -> LogSource:
    settings = load_settings()
    if source == "auto":
        source = "files" if files or settings.log_files else "es"
    if source == "files":
        from tributary_analysis.sources.logs.files import FileLogs

        return FileLogs(list(files) or None, shape=shape)
    from tributary_analysis.sources.logs.elasticsearch import ElasticsearchLogs

    return ElasticsearchLogs(es_url, index=index, settings=settings, shape=shape)


def _window(start: str | None, end: str | None, last: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    end_ts = pd.Timestamp(end) if end else pd.Timestamp.now(tz="UTC")
    end_ts = end_ts.tz_localize("UTC") if end_ts.tzinfo is None else end_ts
    if start:
        start_ts = pd.Timestamp(start)
        return (start_ts.tz_localize("UTC") if start_ts.tzinfo is None else start_ts), end_ts
    _, us = parse_interval(last)
    return end_ts - pd.Timedelta(microseconds=us), end_ts


def _filters(tenant: Sequence[str], endpoint: Sequence[str],
             status: Sequence[int]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tenant:
        out["tenant_id"] = list(tenant)
    if endpoint:
        out["endpoint"] = list(endpoint)
    if status:
        out["status_code"] = list(status)
    return out


def _emit(df: pd.DataFrame, out: str | None, limit: int | None) -> None:
    """Warnings to stderr (never dropped); the frame to a file or stdout."""
    for w in df.attrs.get("warnings", []):
        click.echo(f"warning: {w}", err=True)
    if out:
        path = Path(out)
        suffix = path.suffix.lower()
        if suffix == ".parquet":
            df.to_parquet(path, index=False)
        elif suffix == ".csv":
            df.to_csv(path, index=False)
        elif suffix in (".jsonl", ".json"):
            df.to_json(path, orient="records", lines=True, date_format="iso")
        else:
            raise ConfigError(f"cannot write {out}: use a .parquet, .csv or .jsonl file name")
        click.echo(f"wrote {len(df):,} rows to {path}", err=True)
        return
    with pd.option_context("display.max_columns", None, "display.width", 200):
        shown = df if limit is None else df.head(limit)
        click.echo(shown.to_string(index=False) if len(shown) else "(no rows)")
        if limit is not None and len(df) > limit:
            click.echo(f"... {len(df) - limit:,} more rows (use --out to save all)", err=True)


def _common(f: Any) -> Any:
    """Options shared by every logs command: where from, which window, which events."""
    options = [
        click.option("--source", type=click.Choice(["auto", "es", "files"]), default="auto",
                     show_default=True,
                     help="es = Elasticsearch, files = JSON-lines/Parquet via DuckDB; auto "
                          "picks files when --files or TRIBUTARY_LOG_FILES is set."),
        click.option("--files", "files", multiple=True,
                     help="Log file, directory or glob (repeatable)."),
        click.option("--index", default=None, help="Elasticsearch index pattern "
                     "[default: TRIBUTARY_ES_INDEX or tributary-logs-*]."),
        click.option("--es-url", default=None, help="Elasticsearch URL [default: "
                     "TRIBUTARY_ES_URL or the demo stack]; credentials only from the "
                     "environment or config file."),
        click.option("--shape", type=click.Choice(["envelope", "flat", "ecs"]), default=None,
                     help="Document shape (default: detected)."),
        click.option("--start", default=None, help="Window start, ISO 8601 (naive = UTC)."),
        click.option("--end", default=None, help="Window end (exclusive) [default: now]."),
        click.option("--last", default="24h", show_default=True,
                     help="Window length when --start is not given (e.g. 30m, 6h, 7d)."),
        click.option("--tenant", multiple=True, help="Only these tenant ids (repeatable)."),
        click.option("--endpoint", multiple=True, help="Only these normalized endpoints."),
        click.option("--status", multiple=True, type=int, help="Only these status codes."),
        click.option("--out", default=None, help="Write to .parquet, .csv or .jsonl."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group(name="logs")
def group() -> None:
    """Search, summarize and rank errors in the service's structured logs."""


@group.command("search")
@_common
@click.option("--fields", default=None, help="Comma-separated columns (default: all).")
@click.option("--limit", default=50, show_default=True, type=int,
              help="Rows to print when not writing --out.")
def search(source: str, files: Sequence[str], index: str | None, es_url: str | None,
           shape: str | None, start: str | None, end: str | None, last: str,
           tenant: Sequence[str], endpoint: Sequence[str], status: Sequence[int],
           out: str | None, fields: str | None, limit: int) -> None:
    """Export the matching events (every one exactly once) as the normalized log frame."""
    src = _source(source, files, index, es_url, shape)
    s, e = _window(start, end, last)
    cols = [c.strip() for c in fields.split(",")] if fields else None
    _emit(src.search(s, e, _filters(tenant, endpoint, status), cols), out, limit)


@group.command("summary")
@_common
@click.option("--interval", default="1h", show_default=True, help="Time bucket (5m, 1h, 1d).")
@click.option("--by", multiple=True, default=("tenant_id",), show_default=True,
              help="Group column (repeatable): tenant_id, endpoint, status_code, search_type, "
                   "method, dataset_id, level.")
@click.option("--percentile", "percentiles", multiple=True, type=float,
              default=(50.0, 95.0, 99.0), show_default=True, help="Latency percentile.")
@click.option("--exact", is_flag=True, help="Exact percentiles from raw rows (small windows).")
def summary(source: str, files: Sequence[str], index: str | None, es_url: str | None,
            shape: str | None, start: str | None, end: str | None, last: str,
            tenant: Sequence[str], endpoint: Sequence[str], status: Sequence[int],
            out: str | None, interval: str, by: Sequence[str], percentiles: Sequence[float],
            exact: bool) -> None:
    """Requests, 5xx/4xx errors and latency percentiles per time bucket and group."""
    src = _source(source, files, index, es_url, shape)
    s, e = _window(start, end, last)
    flt = _filters(tenant, endpoint, status)
    fn = src.exact_percentiles if exact else src.summary
    df = fn(s, e, interval=interval, by=list(by), filters=flt, percentiles=list(percentiles))
    click.echo(f"percentiles: {df.attrs.get('percentiles', '')}", err=True)
    _emit(df, out, None)


@group.command("top-errors")
@_common
@click.option("-k", "k", default=20, show_default=True, type=int, help="How many to list.")
def top_errors(source: str, files: Sequence[str], index: str | None, es_url: str | None,
               shape: str | None, start: str | None, end: str | None, last: str,
               tenant: Sequence[str], endpoint: Sequence[str], status: Sequence[int],
               out: str | None, k: int) -> None:
    """The most frequent errors: type, code, message and count."""
    src = _source(source, files, index, es_url, shape)
    s, e = _window(start, end, last)
    _emit(src.top_errors(s, e, _filters(tenant, endpoint, status), k=k), out, None)
