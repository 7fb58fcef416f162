"""``tributary logs``: search, summarize and rank errors in the service's logs.

Options mirror :class:`~tributary_analysis.sources.logs.LogSource` arguments; the window
is the shared ``--since/--start/--end`` (``--step`` for a summary's buckets) of every
command group. Credentials come from the environment or the config file only
(``TRIBUTARY_ES_USERNAME`` ...), never from options. Library errors become one line and
exit code 2 in ``cli/__init__.py``; the Elasticsearch client's own retry warnings and
tracebacks are kept for ``-v``.

What the source said besides the rows goes to stderr: warnings, partial answers, counted
input problems (by kind, with ``file:line``), notes on exactness, and a tenant filter
that matched nothing (with the closest known tenant ids).
"""

from __future__ import annotations

import difflib
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
import pandas as pd

from tributary_analysis.cli.options import window_options
from tributary_analysis.config import load_settings
from tributary_analysis.errors import ConfigError
from tributary_analysis.frames.meta import meta_of, reader_notes
from tributary_analysis.ground.time import Window
from tributary_analysis.sources.logs.base import LogSource
from tributary_analysis.sources.logs.normalize import describe_problem

#: loggers whose messages the command prints itself (or that only matter with -v)
_QUIET_LOGGERS = ("elastic_transport", "elasticsearch", "tributary_analysis.sources.logs")


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


def _report(df: pd.DataFrame) -> None:
    """Everything the frame's metadata says, one line each on stderr (never dropped)."""
    meta = meta_of(df)
    for sentence in reader_notes(replace(meta, problems=())):
        click.echo(f"warning: {sentence}", err=True)
    for p in meta.problems:
        where = "; e.g. " + "; ".join(p.samples[:2]) if p.samples else ""
        click.echo(f"warning: {p.count:,} record(s) {describe_problem(p.kind)}{where}",
                   err=True)
    probs = meta.details.get("problems")
    if meta.problems and isinstance(probs, dict):
        click.echo(f"warning: {probs.get('records', 0):,} records read, "
                   f"{probs.get('dropped', 0):,} left out", err=True)
    for note in meta.notes:
        if not note.startswith("percentiles are"):
            click.echo(f"note: {note}", err=True)


def _unmatched_tenants(src: LogSource, window: Window, tenants: Sequence[str]) -> None:
    """Say which tenant ids matched nothing in the window, and the closest known ones."""
    missing = [t for t in dict.fromkeys(tenants)
               if src.count(window.start, window.end, {"tenant_id": t}) == 0]
    if not missing:
        return
    known = src.distinct("tenant_id", window.start, window.end)
    for t in missing:
        if not known:
            hint = "no tenant has events in that window; widen it (--since, --start)"
        else:
            close = difflib.get_close_matches(t, known, n=3, cutoff=0.5)
            hint = ("closest known tenant ids: " + ", ".join(repr(c) for c in close)
                    if close else f"none is close; {len(known):,} tenant ids have events "
                    "there, e.g. " + ", ".join(repr(c) for c in known[:3]))
        click.echo(f"warning: tenant {t!r} matched no events in {window.describe()}; {hint}",
                   err=True)


def _emit(df: pd.DataFrame, out: str | None, limit: int | None) -> None:
    """The frame to a file or stdout."""
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


def _finish(src: LogSource, df: pd.DataFrame, window: Window, tenant: Sequence[str],
            out: str | None, limit: int | None) -> None:
    click.echo(f"window: {window.describe()}", err=True)
    _report(df)
    if tenant:
        _unmatched_tenants(src, window, tenant)
    elif df.empty:
        click.echo(f"warning: nothing matched in {window.describe()}", err=True)
    _emit(df, out, limit)


def _aliases(**old_to_new: str) -> Callable[[Any], Any]:
    """Hidden old option names (``--last``, ``--interval``) that still work."""

    def decorate(func: Any) -> Any:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in old_to_new.items():
                value = kwargs.pop(old, None)
                if value is None:
                    continue
                flag, target = new.split(":")
                if kwargs.get(target) not in (None, ""):
                    raise ConfigError(f"give --{old} or {flag}, not both; --{old} is the old "
                                      f"name of {flag}")
                kwargs[target] = value
            return func(*args, **kwargs)

        out: Any = wrapper
        for old in reversed(list(old_to_new)):
            out = click.option(f"--{old}", old, default=None, hidden=True)(out)
        return out

    return decorate


def _common(f: Any) -> Any:
    """Options shared by every logs command: where from and which events."""
    options = [
        click.option("--source", type=click.Choice(["auto", "es", "files"]), default="auto",
                     show_default=True,
                     help="es = Elasticsearch, files = JSON-lines/Parquet via DuckDB; auto "
                          "picks files when --files or TRIBUTARY_LOG_FILES is set."),
        click.option("--files", "files", multiple=True,
                     help="Log file, directory or glob (repeatable); the demo stack's are "
                          "$TRIBUTARY_HOME/demo/sim/logs/*.jsonl."),
        click.option("--index", default=None, help="Elasticsearch index pattern "
                     "[default: TRIBUTARY_ES_INDEX or tributary-logs-*]."),
        click.option("--es-url", default=None, help="Elasticsearch URL [default: "
                     "TRIBUTARY_ES_URL or the demo stack]; credentials only from the "
                     "environment or config file."),
        click.option("--shape", type=click.Choice(["envelope", "flat", "ecs"]), default=None,
                     help="Document shape (default: detected)."),
        click.option("--tenant", multiple=True, help="Only these tenant ids (repeatable)."),
        click.option("--endpoint", multiple=True, help="Only these normalized endpoints."),
        click.option("--status", multiple=True, type=int, help="Only these status codes."),
        click.option("--out", default=None, help="Write to .parquet, .csv or .jsonl."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


@click.group(name="logs")
@click.pass_context
def group(ctx: click.Context) -> None:
    """Search, summarize and rank errors in the service's structured logs."""
    if ctx.find_root().params.get("verbose"):
        return
    saved = {name: logging.getLogger(name).level for name in _QUIET_LOGGERS}
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)

    def restore() -> None:
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)

    ctx.call_on_close(restore)


@group.command("search")
@_common
@_aliases(last="--since:since")
@window_options(default_since="24h")
@click.option("--fields", default=None, help="Comma-separated columns (default: all).")
@click.option("--limit", default=50, show_default=True, type=int,
              help="Rows to print when not writing --out.")
def search(source: str, files: Sequence[str], index: str | None, es_url: str | None,
           shape: str | None, window: Window, tenant: Sequence[str], endpoint: Sequence[str],
           status: Sequence[int], out: str | None, fields: str | None, limit: int) -> None:
    """Export the matching events (every one exactly once) as the normalized log frame."""
    src = _source(source, files, index, es_url, shape)
    cols = [c.strip() for c in fields.split(",")] if fields else None
    df = src.search(window.start, window.end, _filters(tenant, endpoint, status), cols)
    _finish(src, df, window, tenant, out, limit)


@group.command("summary")
@_common
@_aliases(last="--since:since", interval="--step:step_text")
@window_options(default_since="24h", step=True, default_step="1h")
@click.option("--by", multiple=True, default=("tenant_id",), show_default=True,
              help="Group column (repeatable): tenant_id, endpoint, status_code, search_type, "
                   "method, dataset_id, level.")
@click.option("--percentile", "percentiles", multiple=True, type=float,
              default=(50.0, 95.0, 99.0), show_default=True, help="Latency percentile.")
@click.option("--exact", is_flag=True, help="Exact percentiles from raw rows (small windows).")
def summary(source: str, files: Sequence[str], index: str | None, es_url: str | None,
            shape: str | None, window: Window, step: pd.Timedelta, tenant: Sequence[str],
            endpoint: Sequence[str], status: Sequence[int], out: str | None,
            by: Sequence[str], percentiles: Sequence[float], exact: bool) -> None:
    """Requests, 5xx/4xx errors and latency percentiles per time bucket (--step) and group."""
    src = _source(source, files, index, es_url, shape)
    flt = _filters(tenant, endpoint, status)
    fn = src.exact_percentiles if exact else src.summary
    df = fn(window.start, window.end, interval=step, by=list(by), filters=flt,
            percentiles=list(percentiles))
    click.echo(f"percentiles: {meta_of(df).details.get('percentiles', '')}", err=True)
    _finish(src, df, window, tenant, out, None)


@group.command("top-errors")
@_common
@_aliases(last="--since:since")
@window_options(default_since="24h")
@click.option("-k", "k", default=20, show_default=True, type=int, help="How many to list.")
def top_errors(source: str, files: Sequence[str], index: str | None, es_url: str | None,
               shape: str | None, window: Window, tenant: Sequence[str],
               endpoint: Sequence[str], status: Sequence[int], out: str | None,
               k: int) -> None:
    """The most frequent errors: type, code, message and count."""
    src = _source(source, files, index, es_url, shape)
    df = src.top_errors(window.start, window.end, _filters(tenant, endpoint, status), k=k)
    _finish(src, df, window, tenant, out, None)
