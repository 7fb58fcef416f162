"""``tributary demo generate``: run the telemetry simulator and print what it wrote.

The ``demo`` group (``cli/demo.py``) adds :data:`generate` with ``group.add_command``; the
options mirror :func:`tributary_analysis.demo.simulate`.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from tributary_analysis.demo import PROFILES, SimulationResult, simulate
from tributary_analysis.errors import DataError


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
    if value is None:
        return None
    try:
        end = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        end = None
    if end is None or end.tzinfo is None:
        raise DataError(f"--end {value!r} is not an ISO-8601 UTC time such as "
                        "2026-11-27T12:00:00Z")
    return end


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
