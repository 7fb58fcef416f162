"""``tributary config``: show the settings in effect (secrets masked)."""

from __future__ import annotations

import click

from tributary_analysis.config import load_settings


@click.group(name="config")
def group() -> None:
    """Inspect configuration (environment, config file, stack state)."""


@group.command("show")
def show() -> None:
    """Print the settings in effect.

    Secrets show only as (set); URLs without user:password; credential headers
    (Authorization, X-Api-Key, cookies, [secrets] headers) as (set).
    """
    for name, value in load_settings().describe().items():
        click.echo(f"{name:24} {value}")
