"""``tributary demo generate``: run the telemetry simulator and print what it wrote.

The ``demo`` group (``cli/demo.py``) adds :data:`generate` with ``group.add_command``; the
options mirror :func:`tributary_analysis.demo.simulate`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from tributary_analysis.demo import PROFILES, SimulationResult, simulate
from tributary_analysis.errors import ConfigError, DataError
from tributary_analysis.ground.time import parse_time


def summarize(result: SimulationResult) -> str:
    """A few lines on what a simulation wrote: window, counts, incidents."""
    m = result.manifest
    c = m["counts"]
    lines = [
        f"simulated {m['profile']!r} (seed {m['seed']}) {m['start']} .. {m['end']} "
        f"into {result.out_dir}",
        f"  {c['requests']:,} requests, {c['log_lines']:,} log lines, {c['series']:,} series, "
        f"{c['samples']:,} samples in {len(m['files']['metrics'])} OpenMetrics parts "
        f"({result.timings.get('total', 0):.1f} s)",
    ]
    lines += [f"  {i.kind:<19} {i.start:%Y-%m-%d %H:%M} .. {i.end:%H:%M}  {i.description}"
              for i in result.incidents]
    return "\n".join(lines)


def _parse_end(value: str | None) -> datetime | None:
    """``--end`` through the suite's time vocabulary (ISO 8601, ``now-2h``, UNIX seconds)."""
    if value is None:
        return None
    try:
        return parse_time(value, name="--end").to_pydatetime()
    except ConfigError as exc:
        raise DataError(str(exc)) from None


@click.command("generate")
@click.option("--profile", type=click.Choice(sorted(PROFILES)), default="small",
              show_default=True, help="Simulation size.")
@click.option("--seed", type=int, default=7, show_default=True, help="Random seed.")
@click.option("--end", "end", default=None, help="End of the window (ISO-8601 UTC); "
              "default now.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("demo-data"), show_default=True, help="Output directory.")
@click.option("--incidents", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="incidents.json to inject instead of the default set.")
@click.option("--progress/--no-progress", default=False, help="Print stage timings.")
def generate(profile: str, seed: int, end: str | None, out_dir: Path,
             incidents: Path | None, progress: bool) -> None:
    """Write simulated metrics (OpenMetrics), logs (JSONL) and incidents.json."""
    result = simulate(profile=profile, seed=seed, end=_parse_end(end), out_dir=out_dir,
                      incidents=incidents, progress=progress)
    click.echo(summarize(result))
