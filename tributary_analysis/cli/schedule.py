"""``tributary schedule``: run report schedules in the foreground, or print crontab lines."""

from __future__ import annotations

from pathlib import Path

import click

_FILE = click.option("--file", "-f", "path", type=click.Path(dir_okay=False, path_type=Path),
                     default=Path("schedules.yaml"), show_default=True,
                     help="The schedules file.")


def _load(path: Path):  # type: ignore[no-untyped-def]
    from tributary_analysis.reports.registry import default_registry
    from tributary_analysis.reports.schedules import load_schedules

    return load_schedules(path, known_reports=set(default_registry()))


@click.group(name="schedule")
def group() -> None:
    """Report schedules (cron expressions in a YAML file)."""


@group.command("run")
@_FILE
def run_cmd(path: Path) -> None:
    """Run every schedule in the foreground (for containers without cron); Ctrl-C stops."""
    import logging

    from tributary_analysis.reports.schedules import run_forever

    sf = _load(path)
    logging.getLogger("tributary_analysis.reports").setLevel(logging.INFO)
    click.echo(f"running {len(sf.schedules)} schedule(s) from {path}; reports in "
               f"{sf.out_dir}/ (Ctrl-C to stop)", err=True)
    try:
        run_forever(sf)
    except (KeyboardInterrupt, SystemExit):
        click.echo("stopped", err=True)


@group.command("fire")
@click.argument("name")
@_FILE
def fire_cmd(name: str, path: Path) -> None:
    """Run schedule NAME once, now (what the crontab lines call); exit 2 if a run failed."""
    from tributary_analysis.cli.report import _warn_ledger
    from tributary_analysis.reports.runner import raise_for_failures
    from tributary_analysis.reports.schedules import fire

    sf = _load(path)
    records = fire(sf[name], sf.out_dir)
    for r in records:
        click.echo(f"{r.status:8} {r.report} {r.html}")
    _warn_ledger(sf.out_dir)
    raise_for_failures(records)


@group.command("crontab")
@_FILE
@click.option("--tributary", default=None,
              help="Path of the tributary executable in the lines (default: this venv's).")
def crontab_cmd(path: Path, tributary: str | None) -> None:
    """Print crontab lines equivalent to the schedules file."""
    from tributary_analysis.reports.schedules import crontab_lines

    for line in crontab_lines(_load(path), tributary):
        click.echo(line)


@group.command("next")
@_FILE
@click.option("-n", "count", type=int, default=3, show_default=True)
def next_cmd(path: Path, count: int) -> None:
    """Show the next fire times of every schedule (local to its timezone, and UTC)."""
    from tributary_analysis.ground.time import iso

    for s in _load(path).schedules:
        click.echo(f"{s.name}  ({s.cron}  {s.timezone})  -> {', '.join(s.reports)}")
        for t in s.next_fire_times(count):
            click.echo(f"    {t.isoformat()}   ({iso(t)})")
