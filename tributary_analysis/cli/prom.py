"""``tributary prom``: run PromQL against the configured Prometheus, print or save frames.

Options mirror :class:`~tributary_analysis.sources.prometheus.PrometheusSource` arguments;
the server comes from settings (``TRIBUTARY_PROMETHEUS_URL``, config file, demo stack).
Everything the server says besides the data goes to stderr, one line each: ``warning:``
(warnings, a partial response), ``info:`` (Prometheus 2.54+ infos), and ``note:`` when a
``--tenant`` filter matched nothing (with the closest known tenant ids).
"""

from __future__ import annotations

import contextlib
import difflib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pandas as pd

from tributary_analysis.cli.options import window_options
from tributary_analysis.errors import DataError
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.ground.time import Window
from tributary_analysis.promql import restrict
from tributary_analysis.sources.prometheus import PrometheusSource

TENANT_LABEL = "tenant_id"


def _source(url: str | None, cache: bool, **options: Any) -> PrometheusSource:
    from tributary_analysis.config import load_settings

    settings = load_settings()
    if url:
        from dataclasses import replace

        settings = replace(settings, prometheus_url=url)
    return PrometheusSource.from_settings(settings, cache=cache or None, **options)


@contextlib.contextmanager
def _quiet_library() -> Iterator[None]:
    """The command prints what the server said itself; without ``-v`` the library's log
    lines for the same facts would print them twice."""
    lib = logging.getLogger("tributary_analysis.sources.prometheus")
    old = lib.level
    if logging.getLogger().getEffectiveLevel() > logging.INFO:
        lib.setLevel(logging.ERROR)
    try:
        yield
    finally:
        lib.setLevel(old)


def _say_what_the_server_said(obj: Any) -> None:
    m = meta_of(obj)
    for w in m.warnings:
        click.echo(f"warning: {w}", err=True)
    for i in m.infos:
        click.echo(f"info: {i}", err=True)
    if m.partial:
        click.echo("warning: PARTIAL response: some data is missing", err=True)


def _tenant_expr(expr: str, tenants: tuple[str, ...], src: PrometheusSource) -> str:
    return restrict(expr, TENANT_LABEL, tenants, dialect=src.dialect) if tenants else expr


def _no_tenant_match(df: pd.DataFrame, tenants: tuple[str, ...],
                     src: PrometheusSource) -> None:
    """Say on stderr which tenant filters matched nothing, and the closest known ids."""
    if not tenants:
        return
    seen = set(df[TENANT_LABEL].astype(str)) if TENANT_LABEL in df.columns else set()
    missing = [t for t in tenants if t not in seen]
    if not missing:
        return
    known = sorted(src.label_values(TENANT_LABEL))
    for t in missing:
        if t in known:
            click.echo(f"note: tenant {t!r} exists but the result has no series for it: does "
                       f"the expression keep the {TENANT_LABEL} label (e.g. sum by "
                       f"({TENANT_LABEL}) (…)) and has the tenant data in the window?",
                       err=True)
            continue
        close = difflib.get_close_matches(t, known, n=5, cutoff=0.4) or known[:5]
        hint = ", ".join(repr(c) for c in close) if close else "none (no tenant_id label)"
        click.echo(f"note: tenant filter {TENANT_LABEL}={t!r} matched nothing: no such "
                   f"tenant at {src.url}; closest known tenant ids: {hint}", err=True)


def _emit(df: pd.DataFrame, out: Path | None) -> None:
    _say_what_the_server_said(df)
    if out is None:
        click.echo(df.to_string(index=False) if len(df) else "(no data)")
        return
    suffix = out.suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise DataError(f"--out {out}: use a .parquet or .csv file name")
    try:
        if suffix == ".parquet":
            df.to_parquet(out, index=False)
        else:
            df.to_csv(out, index=False)
    except OSError as exc:
        raise DataError(f"--out {out}: cannot write the file ({exc.strerror or exc}); choose "
                        "a writable path") from exc
    series = meta_of(df).details.get("series", "?")
    click.echo(f"wrote {len(df)} rows ({series} series) to {out}", err=True)


_url = click.option("--url", help="Prometheus API root (default: from settings).")
_out = click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
                    help="Write the frame to a .parquet or .csv file instead of printing.")
_tenant = click.option("--tenant", "tenants", multiple=True,
                       help="Keep only series of this tenant_id (repeatable); filtered on the "
                            "server, the value matched literally.")
_limit = click.option("--limit", type=int, default=None,
                      help="At most this many series (the server's limit where it has one).")


@click.group(name="prom")
def group() -> None:
    """Query Prometheus into tidy frames (PromQL in, table or file out)."""


@group.command("query")
@click.argument("expr")
@click.option("--time", "at", help="Evaluation time (ISO 8601, 'now-1h' or UNIX seconds; "
                                   "default now).")
@click.option("--timeout", help="Server-side evaluation timeout, e.g. 30s.")
@_tenant
@_limit
@_url
@_out
def query(expr: str, at: str | None, timeout: str | None, tenants: tuple[str, ...],
          limit: int | None, url: str | None, out: Path | None) -> None:
    """Evaluate EXPR at one instant."""
    with _quiet_library():
        src = _source(url, False)
        df = src.query(_tenant_expr(expr, tenants, src), time=at, timeout=timeout,
                       limit=limit)
        _emit(df, out)
        _no_tenant_match(df, tenants, src)


@group.command("range")
@click.argument("expr")
@window_options(default_since="1h", step=True)
@click.option("--timeout", help="Server-side evaluation timeout per request, e.g. 30s.")
@click.option("--max-workers", default=4, show_default=True, help="Concurrent requests.")
@click.option("--max-samples", type=int, default=None,
              help="Refuse before sending when the estimate exceeds this many samples "
                   "[default: 50,000,000]; 0 for no limit.")
@click.option("--cache/--no-cache", default=False, show_default=True,
              help="Reuse results for windows entirely in the past (Parquet cache).")
@_tenant
@_limit
@_url
@_out
def range_(expr: str, window: Window, step: pd.Timedelta | None, timeout: str | None,
           max_workers: int, max_samples: int | None, cache: bool, tenants: tuple[str, ...],
           limit: int | None, url: str | None, out: Path | None) -> None:
    """Evaluate EXPR over a window, every --step (default: ≤ 720 points).

    Split automatically past 11,000 points per request, on UTC day boundaries; start and
    end move down to multiples of the step.
    """
    options: dict[str, Any] = {}
    if max_samples is not None:
        options["max_samples"] = None if max_samples == 0 else max_samples
    with _quiet_library():
        src = _source(url, cache, **options)
        df = src.query_range(_tenant_expr(expr, tenants, src), window,
                             step=step or window.step(), timeout=timeout,
                             max_workers=max_workers, limit=limit)
        _emit(df, out)
        _no_tenant_match(df, tenants, src)


@group.command("series")
@click.argument("match", nargs=-1, required=True)
@click.option("--start", help="Only series with samples after this time.")
@click.option("--end", help="Only series with samples before this time.")
@_limit
@_url
@_out
def series(match: tuple[str, ...], start: str | None, end: str | None, limit: int | None,
           url: str | None, out: Path | None) -> None:
    """List the series matching selector(s) MATCH."""
    with _quiet_library():
        _emit(_source(url, False).series(list(match), start=start, end=end, limit=limit), out)


@group.command("labels")
@click.argument("name", required=False)
@_limit
@_url
def labels(name: str | None, limit: int | None, url: str | None) -> None:
    """List label names, or the values of label NAME."""
    with _quiet_library():
        src = _source(url, False)
        items = (src.label_values(name, limit=limit) if name
                 else src.label_names(limit=limit))
        _say_what_the_server_said(items)
        for item in items:
            click.echo(item)


@group.command("server")
@_url
def server(url: str | None) -> None:
    """Show which server answers: version, range semantics, what it supports."""
    with _quiet_library():
        info = _source(url, False).server
    if not info.detected:
        raise DataError("the server did not say what it is (no /api/v1/status/buildinfo); "
                        "check the URL")
    click.echo(f"server: {info.describe()}")
    click.echo(f"range selectors: {info.range_semantics}")
    for what, ok in (("infos", info.has_infos), ("limit on series/labels",
                                                 info.limit_on_metadata),
                     ("limit on queries", info.limit_on_queries),
                     ("UTF-8 names", info.utf8_names),
                     ("le/quantile as float text", info.normalises_le)):
        click.echo(f"{what}: {'yes' if ok else 'no'}")
    click.echo(f"client-side histogram_quantile follows: {info.quantile_algorithm}")
    if info.features:
        n = sum(len(v) for v in info.features.values())
        click.echo(f"features: {n} listed in {len(info.features)} categories")
