"""``tributary prom``: run PromQL against the configured Prometheus, print or save frames.

Options mirror :class:`~tributary_analysis.sources.prometheus.PrometheusSource` arguments;
the server comes from settings (``TRIBUTARY_PROMETHEUS_URL``, config file, demo stack).
Warnings and partial responses are printed to stderr, never swallowed.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from tributary_analysis.errors import DataError
from tributary_analysis.sources.prometheus import PrometheusSource


def _source(url: str | None, cache: bool) -> PrometheusSource:
    from tributary_analysis.config import load_settings

    settings = load_settings()
    if url:
        from dataclasses import replace

        settings = replace(settings, prometheus_url=url)
    return PrometheusSource.from_settings(settings, cache=cache or None)


def _emit(df: pd.DataFrame, out: Path | None) -> None:
    for w in df.attrs.get("warnings", []):
        click.echo(f"warning: {w}", err=True)
    if df.attrs.get("partial_response"):
        click.echo("warning: PARTIAL response: some data is missing", err=True)
    if out is None:
        click.echo(df.to_string(index=False) if len(df) else "(no data)")
        return
    suffix = out.suffix.lower()
    if suffix == ".parquet":
        df.to_parquet(out, index=False)
    elif suffix == ".csv":
        df.to_csv(out, index=False)
    else:
        raise DataError(f"--out {out}: use a .parquet or .csv file name")
    click.echo(f"wrote {len(df)} rows ({df.attrs.get('series', '?')} series) to {out}", err=True)


_url = click.option("--url", help="Prometheus API root (default: from settings).")
_out = click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
                    help="Write the frame to a .parquet or .csv file instead of printing.")


@click.group(name="prom")
def group() -> None:
    """Query Prometheus into tidy frames (PromQL in, table or file out)."""


@group.command("query")
@click.argument("expr")
@click.option("--time", "at", help="Evaluation time (ISO 8601 or epoch seconds; default now).")
@click.option("--timeout", help="Server-side evaluation timeout, e.g. 30s.")
@_url
@_out
def query(expr: str, at: str | None, timeout: str | None, url: str | None,
          out: Path | None) -> None:
    """Evaluate EXPR at one instant."""
    _emit(_source(url, False).query(expr, time=at, timeout=timeout), out)


@group.command("range")
@click.argument("expr")
@click.option("--start", required=True, help="Range start (ISO 8601 or epoch seconds).")
@click.option("--end", default="now", show_default=True, help="Range end.")
@click.option("--step", required=True, help="Resolution, e.g. 60s, 5m or seconds.")
@click.option("--timeout", help="Server-side evaluation timeout per request, e.g. 30s.")
@click.option("--max-workers", default=4, show_default=True, help="Concurrent requests.")
@click.option("--cache/--no-cache", default=False, show_default=True,
              help="Reuse results for windows entirely in the past (Parquet cache).")
@_url
@_out
def range_(expr: str, start: str, end: str, step: str, timeout: str | None, max_workers: int,
           cache: bool, url: str | None, out: Path | None) -> None:
    """Evaluate EXPR over a time range (split automatically past 11,000 points)."""
    df = _source(url, cache).query_range(expr, start, end, step, timeout=timeout,
                                         max_workers=max_workers)
    _emit(df, out)


@group.command("series")
@click.argument("match", nargs=-1, required=True)
@click.option("--start", help="Only series with samples after this time.")
@click.option("--end", help="Only series with samples before this time.")
@_url
@_out
def series(match: tuple[str, ...], start: str | None, end: str | None, url: str | None,
           out: Path | None) -> None:
    """List the series matching selector(s) MATCH."""
    _emit(_source(url, False).series(list(match), start=start, end=end), out)


@group.command("labels")
@click.argument("name", required=False)
@_url
def labels(name: str | None, url: str | None) -> None:
    """List label names, or the values of label NAME."""
    src = _source(url, False)
    for item in (src.label_values(name) if name else src.label_names()):
        click.echo(item)
