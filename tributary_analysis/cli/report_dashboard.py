"""``tributary report dashboard FILE.json``: a Grafana dashboard rendered as a report.

The command mirrors :func:`tributary_analysis.dashboards.render_dashboard`: the window
options every command shares, ``--var NAME=VALUE`` for template variables (repeat a name
for several values, ``NAME=All`` for all), ``--step`` and ``--scrape-interval`` for
Grafana's interval built-ins. It runs ``notebooks/dashboard.ipynb`` through the report
runner, so the page, ledger, index, scrubbing and ``--format html,pdf`` are those of every
report. ``FILE`` may also be a built-in: ``overview`` or ``business``.
"""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from tributary_analysis.cli.options import window_options
from tributary_analysis.ground.time import Window

__all__ = ["dashboard_cmd"]


@click.command("dashboard")
@click.argument("file")
@window_options(default_since="24h", step=True)
@click.option("--var", "variables", multiple=True, metavar="NAME=VALUE",
              help="Template variable value (repeat NAME for several; NAME=All for all). "
                   "Values are escaped wherever they enter PromQL.")
@click.option("--scrape-interval", default="15s", show_default=True,
              help="The data source's scrape interval: floor of the step and base of "
                   "$__rate_interval.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("reports"), show_default=True, help="Output directory.")
@click.option("--format", "formats", default="html", show_default=True,
              help="Output formats, comma-separated: html, pdf.")
@click.option("--timeout", default="15m", show_default=True,
              help="Whole-notebook time limit (seconds, or 15m).")
def dashboard_cmd(file: str, window: Window, step: pd.Timedelta | None,
                  variables: tuple[str, ...], scrape_interval: str, out_dir: Path,
                  formats: str, timeout: str) -> None:
    """Render the Grafana dashboard FILE (JSON, or 'overview'/'business') as a report."""
    from tributary_analysis.dashboards.specs import dashboard_spec
    from tributary_analysis.dashboards.variables import parse_overrides
    from tributary_analysis.ground.time import format_duration, parse_duration
    from tributary_analysis.reports.runner import RunRequest, raise_for_failures, run_reports

    parse_overrides(list(variables))  # refuse a malformed --var before anything runs
    spec = dashboard_spec(file)
    params: dict[str, object] = {"variables": list(variables) or None,
                                 "scrape_interval": format_duration(parse_duration(
                                     scrape_interval, name="--scrape-interval"))}
    if step is not None:
        params["step"] = format_duration(step)
    req = RunRequest(spec, window, parameters=params)
    click.echo(f"rendering {spec.title} for {window.describe()} into {out_dir}/", err=True)
    seconds = parse_duration(timeout, name="--timeout").total_seconds()
    records = run_reports([req], out_dir, jobs=1, timeout=seconds, formats=formats)
    for r in records:
        click.echo(f"{r.status:>8}  {r.report}  {r.duration_s:.1f}s  {out_dir / r.html}"
                   + (f"  ({r.error})" if r.error else ""), err=not r.ok)
    raise_for_failures(records)
