"""``tributary report``: render reports to HTML, list them, rebuild the index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from tributary_analysis.errors import ConfigError
from tributary_analysis.reports.ledger import RunRecord


def _seconds(text: str) -> float:
    """``--timeout 900`` or ``--timeout 15m``."""
    from tributary_analysis.reports.params import parse_duration

    try:
        value = float(text)
    except ValueError:
        return parse_duration(text).total_seconds()
    if value <= 0:
        raise ConfigError(f"--timeout must be positive, got {text!r}")
    return value


def split_params(
    raw: tuple[str, ...], names: list[str]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """``-p key=value`` (every selected report) and ``-p report.key=value`` (one report)."""
    from tributary_analysis.reports.params import parse_param

    common: dict[str, Any] = {}
    scoped: dict[str, dict[str, Any]] = {}
    for item in raw:
        head, _, _ = item.partition("=")
        scope, dot, _ = head.partition(".")
        if dot:
            if scope not in names:
                raise ConfigError(f"-p {item!r}: {scope!r} is not one of the selected "
                                  f"reports ({', '.join(names)})")
            key, value = parse_param(item[len(scope) + 1:])
            scoped.setdefault(scope, {})[key] = value
        else:
            key, value = parse_param(item)
            common[key] = value
    return common, scoped


def _echo_record(r: RunRecord) -> None:
    tenant = f" [{r.tenant}]" if r.tenant is not None else ""
    color = "green" if r.ok else "red"
    click.echo(f"{click.style(r.status, fg=color):>8}  {r.report}{tenant}  "
               f"{r.duration_s:.1f}s  {r.html}" + (f"  ({r.error})" if r.error else ""),
               err=not r.ok)


@click.group(name="report")
def group() -> None:
    """Render the notebooks as HTML reports (papermill + nbconvert)."""


@group.command("list")
def list_cmd() -> None:
    """The reports that can be run, with their notebooks and parameters."""
    from tributary_analysis.reports.registry import default_registry
    from tributary_analysis.reports.runner import notebook_parameters

    for spec in default_registry().values():
        if spec.notebook.exists():
            params = ", ".join(sorted(notebook_parameters(spec.notebook)))
        else:
            params = "(notebook missing)"
        fan = " per tenant" if spec.per_tenant else ""
        click.echo(f"{spec.name:18} {spec.schedule_hint:7}{fan:11} {spec.notebook.name:28} "
                   f"{params}")


@group.command("run")
@click.argument("names", nargs=-1)
@click.option("--since", help="Window length back from --end, e.g. 24h, 7d (default 24h).")
@click.option("--start", help="Window start, ISO-8601 (UTC if no offset).")
@click.option("--end", help="Window end, ISO-8601 or 'now' (default now).")
@click.option("--tenant", "tenants", multiple=True,
              help="Tenant id (repeatable), or 'all' for one report per tenant.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports"), show_default=True, help="Output directory.")
@click.option("-p", "--param", "params", multiple=True, metavar="[REPORT.]KEY=VALUE",
              help="Notebook parameter for every selected report, or one (REPORT.KEY).")
@click.option("--timeout", default="900", show_default=True,
              help="Whole-notebook time limit per run (seconds, or 15m).")
@click.option("--cell-timeout", type=float, default=None, help="Per-cell limit (seconds).")
@click.option("--jobs", "-j", type=int, default=2, show_default=True,
              help="Notebook runs at once.")
@click.option("--keep-days", type=float, default=None, help="Prune runs older than this.")
@click.option("--keep-runs", type=int, default=None,
              help="Keep at most this many runs per report and tenant.")
@click.option("--all", "run_all", is_flag=True,
              help="Every registered report (the default when no NAMES are given).")
@click.option("--top-tenants", type=int, default=None, metavar="N",
              help="With --tenant all (or no --tenant): only the N busiest tenants of the "
                   "window ('unknown', the health probes, is never one of them).")
def run_cmd(
    names: tuple[str, ...], since: str | None, start: str | None, end: str | None,
    tenants: tuple[str, ...], out_dir: Path, params: tuple[str, ...], timeout: str,
    cell_timeout: float | None, jobs: int, keep_days: float | None, keep_runs: int | None,
    run_all: bool, top_tenants: int | None,
) -> None:
    """Render reports NAMES (default: all) for one window; exit 2 if any run failed.

    NAMES may be reports or groups: daily (daily_operations, latency), weekly (errors_slo,
    capacity, alert_review), tenants (tenant_usage). Per-tenant reports without --tenant
    run for every tenant (or the --top-tenants busiest).
    """
    from tributary_analysis.reports.params import resolve_window
    from tributary_analysis.reports.registry import default_registry, expand
    from tributary_analysis.reports.runner import raise_for_failures, run_reports
    from tributary_analysis.reports.tenants import plan

    registry = default_registry()
    selected = list(registry) if run_all else expand(list(names), registry)
    specs = [registry[n] for n in selected]
    window = resolve_window(since, start, end)
    common, scoped = split_params(params, selected)
    requests = plan(specs, window, tenants=list(tenants), common=common, scoped=scoped,
                    top=top_tenants)
    click.echo(f"rendering {len(requests)} report run(s) for {window.describe()} "
               f"into {out_dir}/ with {jobs} job(s)", err=True)
    records = run_reports(requests, out_dir, jobs=jobs, timeout=_seconds(timeout),
                          cell_timeout=cell_timeout, keep_days=keep_days,
                          keep_runs=keep_runs, on_done=_echo_record)
    click.echo(f"index: {out_dir / 'index.html'}", err=True)
    raise_for_failures(records)  # ReportError: one line on stderr, exit 2


@group.command("index")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports"), show_default=True)
@click.option("--keep-days", type=float, default=None, help="Prune runs older than this.")
@click.option("--keep-runs", type=int, default=None,
              help="Keep at most this many runs per report and tenant.")
def index_cmd(out_dir: Path, keep_days: float | None, keep_runs: int | None) -> None:
    """Apply retention and rebuild index.html from the run ledger."""
    from tributary_analysis.reports import index, ledger

    removed = ledger.prune(out_dir, keep_days=keep_days, keep_runs=keep_runs)
    if removed:
        click.echo(f"pruned {len(removed)} run(s)", err=True)
    click.echo(str(index.write_index(out_dir)))
