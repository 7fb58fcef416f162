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
@window_options(default_since="24h", tell_given=True)
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
@click.option("--executor", default=None, metavar="local|pool|dask://HOST:PORT",
              help="Where notebooks run: local (a worker process each; the default, or "
                   "$TRIBUTARY_REPORT_EXECUTOR), pool (--jobs warm workers that import "
                   "once and export the pages), dask://HOST:PORT (a Dask cluster).")
@click.option("--shards", type=int, default=None, metavar="N",
              help="Run only this pod's share of the runs: tenants split into N shards "
                   "(runs without a tenant in shard 0); see report k8s.")
@click.option("--shard-index", type=int, default=None, metavar="I",
              help="With --shards: the shard to run (default $JOB_COMPLETION_INDEX, set by "
                   "a Kubernetes Indexed Job).")
def run_cmd(
    names: tuple[str, ...], window: Window, window_given: bool, tenants: tuple[str, ...],
    out_dir: Path,
    params: tuple[str, ...], timeout: str, cell_timeout: str | None, formats: str, jobs: int,
    keep_days: float | None, keep_runs: int | None, run_all: bool, top_tenants: int | None,
    executor: str | None, shards: int | None, shard_index: int | None,
) -> None:
    """Render reports NAMES (default: all) for one window; exit 2 if any run failed.

    NAMES may be reports or groups: daily (daily_operations, latency), weekly (errors_slo,
    capacity, alert_review), tenants (tenant_usage). Per-tenant reports without --tenant
    run for every tenant (or the --top-tenants busiest). Without --since/--start the
    daily reports cover the last 24 h and the weekly ones the last 7 days; a window given
    is every report's.
    """
    from tributary_analysis.reports.execute import parse_executor
    from tributary_analysis.reports.formats import parse_formats, writers_for
    from tributary_analysis.reports.outdir import check_out_dir
    from tributary_analysis.reports.registry import default_registry, expand
    from tributary_analysis.reports.runner import raise_for_failures, run_reports
    from tributary_analysis.reports.tenants import plan

    if executor is not None:
        parse_executor(executor)  # a typo is refused before anything runs
    if shards is not None:
        from tributary_analysis.reports.k8s import shard_index as this_shard

        shard_index = this_shard(shards, shard_index)
    elif shard_index is not None:
        raise ConfigError("--shard-index needs --shards (how many shards there are)")
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
                    top=top_tenants, own_windows=not window_given)
    if shards is not None and shard_index is not None:
        from tributary_analysis.reports.k8s import select_shard

        planned = len(requests)
        requests = select_shard(requests, shards, shard_index)
        click.echo(f"shard {shard_index} of {shards}: {len(requests)} of {planned} "
                   "report run(s)", err=True)
    where = f" on {executor}" if executor else ""
    others = sorted({r.window.describe() for r in requests} - {window.describe()})
    also = f" (and {'; '.join(others)} for the weekly reports)" if others else ""
    click.echo(f"rendering {len(requests)} report run(s) for {window.describe()}{also} "
               f"into {out_dir}/ with {jobs} job(s){where}", err=True)
    records = run_reports(requests, out_dir, jobs=jobs, timeout=limit,
                          cell_timeout=per_cell, keep_days=keep_days,
                          keep_runs=keep_runs, on_done=_echo_record, formats=fmts,
                          executor=executor)
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


@group.command("k8s")
@click.argument("names", nargs=-1)
@click.option("--image", required=True, help="Container image with tributary and the notebooks.")
@click.option("--shards", type=int, default=4, show_default=True,
              help="Tenant shards: the Indexed Job's completions, one pod each.")
@click.option("--parallelism", type=int, default=None, help="Pods at once (default: all).")
@click.option("--schedule", default="0 6 * * *", show_default=True,
              help="When the CronJob runs (cron syntax).")
@click.option("--time-zone", default="Etc/UTC", show_default=True)
@click.option("--name", default="tributary-reports", show_default=True)
@click.option("--namespace", default=None)
@click.option("--secret", default="tributary-credentials", show_default=True,
              help="The Secret whose keys become the pods' environment (the credentials).")
@click.option("--env", "env_items", multiple=True, metavar="KEY=VALUE",
              help="A non-secret setting for the pods (TRIBUTARY_PROMETHEUS_URL=...).")
@click.option("--reports-claim", default="tributary-reports", show_default=True,
              help="PersistentVolumeClaim (ReadWriteMany) the pods write the reports to.")
@click.option("--reports-path", default="/reports", show_default=True)
@click.option("--since", default="24h", show_default=True, help="Each batch's window.")
@click.option("--tenant", "tenants", multiple=True, help="Tenant ids, or 'all' (default).")
@click.option("--top-tenants", type=int, default=None, metavar="N")
@click.option("-p", "--param", "params", multiple=True, metavar="[REPORT.]KEY=VALUE")
@click.option("--timeout", default="900", show_default=True,
              help="Whole-notebook limit per run, as for report run.")
@click.option("--jobs", "-j", type=int, default=2, show_default=True,
              help="Notebooks at once in each pod.")
@click.option("--executor", default="pool", show_default=True,
              help="The executor inside each pod (local or pool).")
@click.option("--format", "formats", default="html", show_default=True)
@click.option("--deadline", default=None, help="The Job's activeDeadlineSeconds (a duration).")
@click.option("--retries", type=int, default=0, show_default=True,
              help="Retries per shard (backoffLimitPerIndex).")
@click.option("--cpu", default="1", show_default=True, help="CPU request per pod.")
@click.option("--memory", default="2Gi", show_default=True, help="Memory per pod.")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=None,
              help="Write the manifest here (default: standard output).")
def k8s_cmd(names: tuple[str, ...], image: str, shards: int, parallelism: int | None,
            schedule: str, time_zone: str, name: str, namespace: str | None, secret: str,
            env_items: tuple[str, ...], reports_claim: str, reports_path: str, since: str,
            tenants: tuple[str, ...], top_tenants: int | None, params: tuple[str, ...],
            timeout: str, jobs: int, executor: str, formats: str, deadline: str | None,
            retries: int, cpu: str, memory: str, output: Path | None) -> None:
    """Write a Kubernetes CronJob running reports NAMES (default: tenants) as an Indexed Job.

    Each of the --shards pods runs `tributary report run NAMES ... --shards N`, and picks
    its tenants from JOB_COMPLETION_INDEX; reports without a tenant run in shard 0.
    """
    from tributary_analysis.reports.execute import parse_executor
    from tributary_analysis.reports.k8s import cronjob_manifest, to_yaml
    from tributary_analysis.reports.registry import default_registry, expand

    if croniter_ok(schedule) is False:
        raise ConfigError(f"--schedule {schedule!r} is not a cron expression (five fields, "
                          "e.g. '0 6 * * *')")
    kind, _ = parse_executor(executor)
    if kind == "dask":
        raise ConfigError("--executor inside a pod is local or pool; the Indexed Job is the "
                          "scale-out")
    expand(list(names) or ["tenants"], default_registry())  # unknown names refused here
    _seconds(since, "--since")
    _seconds(timeout)
    env: dict[str, str] = {}
    for item in env_items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise ConfigError(f"--env {item!r}: use KEY=VALUE")
        env[key] = value
    args = [*(names or ("tenants",)), "--since", since, "--timeout", timeout,
            "--jobs", str(jobs), "--executor", executor, "--format", formats]
    for tenant in tenants or ("all",):
        args += ["--tenant", tenant]
    if top_tenants is not None:
        args += ["--top-tenants", str(top_tenants)]
    for param in params:
        args += ["-p", param]
    manifest = cronjob_manifest(
        args, image=image, shards=shards, schedule=schedule, name=name, namespace=namespace,
        secret=secret, env=env, parallelism=parallelism, reports_claim=reports_claim,
        reports_path=reports_path, time_zone=time_zone, retries=retries, cpu=cpu,
        memory=memory,
        deadline_s=int(_seconds(deadline, "--deadline")) if deadline else None)
    text = to_yaml(manifest, secret=secret)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
        click.echo(f"wrote {output}", err=True)


def croniter_ok(expr: str) -> bool:
    """Whether ``expr`` is a five-field cron expression (croniter's reading)."""
    from croniter import croniter

    return len(expr.split()) == 5 and bool(croniter.is_valid(expr))
