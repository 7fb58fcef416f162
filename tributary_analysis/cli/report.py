"""``tributary report``: render reports to HTML (and PDF), list them, rebuild the index.

Windows use the shared ``--since/--start/--end`` options (:mod:`.options`), durations the
one parser of :mod:`tributary_analysis.ground.time` (``--timeout 15m``, ``--since 1h30m``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import click

from tributary_analysis.cli.options import window_options
from tributary_analysis.errors import ConfigError
from tributary_analysis.ground.time import Window, parse_duration
from tributary_analysis.reports.ledger import RunRecord

#: a command another area provides for this group (``report dashboard FILE.json``)
_EXTRA_COMMANDS = {"dashboard": "tributary_analysis.cli.report_dashboard"}


def _seconds(text: str, name: str = "--timeout") -> float:
    """``--timeout 900`` or ``--timeout 15m``: seconds."""
    return float(parse_duration(text, name=name).total_seconds())


def _warn_ledger(out_dir: Path) -> None:
    """Say on stderr when the ledger has lines that cannot be read (a torn write)."""
    from tributary_analysis.reports import ledger

    message = ledger.read_all(out_dir).describe_bad(out_dir)
    if message:
        click.echo(f"warning: {message}; they are not in the index", err=True)


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


class _ReportGroup(click.Group):
    """The ``report`` commands, plus those other areas provide when installed."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        extra = [n for n, mod in _EXTRA_COMMANDS.items() if importlib.util.find_spec(mod)]
        return sorted({*super().list_commands(ctx), *extra})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        module = _EXTRA_COMMANDS.get(cmd_name)
        if command is None and module and importlib.util.find_spec(module):
            mod = importlib.import_module(module)
            for attr in ("command", cmd_name, f"{cmd_name}_cmd", "group"):
                found = getattr(mod, attr, None)
                if isinstance(found, click.Command):
                    return found
        return command


@click.group(name="report", cls=_ReportGroup)
def group() -> None:
    """Render the notebooks as HTML (and PDF) reports (papermill + nbconvert)."""


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
@window_options(default_since="24h")
@click.option("--tenant", "tenants", multiple=True,
              help="Tenant id (repeatable), or 'all' for one report per tenant.")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              default=Path("reports"), show_default=True, help="Output directory.")
@click.option("-p", "--param", "params", multiple=True, metavar="[REPORT.]KEY=VALUE",
              help="Notebook parameter for every selected report, or one (REPORT.KEY).")
@click.option("--timeout", default="900", show_default=True,
              help="Whole-notebook time limit per run: seconds, or a duration (15m, 1h30m).")
@click.option("--cell-timeout", default=None,
              help="Per-cell limit: seconds, or a duration (5m).")
@click.option("--format", "formats", default="html", show_default=True,
              help="Output formats, comma-separated: html, pdf (pdf printed from the page).")
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
    names: tuple[str, ...], window: Window, tenants: tuple[str, ...], out_dir: Path,
    params: tuple[str, ...], timeout: str, cell_timeout: str | None, formats: str, jobs: int,
    keep_days: float | None, keep_runs: int | None, run_all: bool, top_tenants: int | None,
) -> None:
    """Render reports NAMES (default: all) for one window; exit 2 if any run failed.

    NAMES may be reports or groups: daily (daily_operations, latency), weekly (errors_slo,
    capacity, alert_review), tenants (tenant_usage). Per-tenant reports without --tenant
    run for every tenant (or the --top-tenants busiest).
    """
    from tributary_analysis.reports.formats import parse_formats, writers_for
    from tributary_analysis.reports.outdir import check_out_dir
    from tributary_analysis.reports.registry import default_registry, expand
    from tributary_analysis.reports.runner import raise_for_failures, run_reports
    from tributary_analysis.reports.tenants import plan

    limit = _seconds(timeout)
    per_cell = _seconds(cell_timeout, "--cell-timeout") if cell_timeout else None
    fmts = parse_formats(formats)
    writers_for(fmts)  # --format pdf without the PDF module: refused before anything
    registry = default_registry()
    selected = list(registry) if run_all else expand(list(names), registry)
    specs = [registry[n] for n in selected]
    common, scoped = split_params(params, selected)
    check_out_dir(out_dir)  # a read-only or full --out shows before tenants are listed
    requests = plan(specs, window, tenants=list(tenants), common=common, scoped=scoped,
                    top=top_tenants)
    click.echo(f"rendering {len(requests)} report run(s) for {window.describe()} "
               f"into {out_dir}/ with {jobs} job(s)", err=True)
    records = run_reports(requests, out_dir, jobs=jobs, timeout=limit,
                          cell_timeout=per_cell, keep_days=keep_days,
                          keep_runs=keep_runs, on_done=_echo_record, formats=fmts)
    _warn_ledger(out_dir)
    click.echo(f"index: {out_dir / 'index.html'}", err=True)
    raise_for_failures(records)  # ReportError: one line on stderr, exit 2


@group.command("index")
@click.option("--out", "out_dir", type=click.Path(path_type=Path),
              default=Path("reports"), show_default=True)
@click.option("--keep-days", type=float, default=None, help="Prune runs older than this.")
@click.option("--keep-runs", type=int, default=None,
              help="Keep at most this many runs per report and tenant.")
def index_cmd(out_dir: Path, keep_days: float | None, keep_runs: int | None) -> None:
    """Apply retention and rebuild index.html from the run ledger."""
    from tributary_analysis.reports import index, ledger
    from tributary_analysis.reports.outdir import writing

    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"--out {out_dir} is a file, not a reports directory; give the "
                          "directory that holds runs.jsonl")
    with writing(out_dir / ledger.LEDGER, "prune the run ledger"):
        removed = ledger.prune(out_dir, keep_days=keep_days, keep_runs=keep_runs)
    if removed:
        click.echo(f"pruned {len(removed)} run(s)", err=True)
    _warn_ledger(out_dir)
    with writing(out_dir / index.INDEX, "write the index"):
        click.echo(str(index.write_index(out_dir)))
