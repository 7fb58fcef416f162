"""``tributary demo``: bring the local stack (Prometheus + Elasticsearch) up, down, status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tributary_analysis.config import load_settings
from tributary_analysis.ground.time import iso


def _home() -> Path:
    return load_settings().home


@click.group(name="demo")
def group() -> None:
    """A local stack with simulated Tributary telemetry: Prometheus, Elasticsearch, Jaeger."""


@group.command("up")
@click.option("--profile", type=click.Choice(["small", "demo", "large"]), default="demo",
              show_default=True, help="small: 1 day, 5 tenants; demo: 7 days, 20 tenants; "
              "large: 1 day, 1,000 tenants of heavy-tailed sizes (~17 GB of OpenMetrics "
              "written to disk, several minutes).")
@click.option("--seed", type=int, default=7, show_default=True, help="Simulator seed.")
@click.option("--prom-port", type=int, default=None, help="Prometheus port (default: free).")
@click.option("--es-port", type=int, default=None, help="Elasticsearch port (default: free).")
@click.option("--prometheus", "prometheus_version", type=click.Choice(["3", "2"]),
              default="3", show_default=True,
              help="3: Prometheus 3.16 built from its Go module (once, cached); 2: Debian's "
              "2.42.")
@click.option("--no-elasticsearch", is_flag=True, help="Start Prometheus only.")
@click.option("--no-jaeger", is_flag=True, help="Do not start Jaeger v2 (built once, cached).")
@click.option("--no-live", is_flag=True,
              help="History only: no live demo service after the backfill.")
@click.option("--live-hours", type=click.FloatRange(min=0.1, max=168), default=24.0,
              show_default=True, help="How long the live demo service goes on.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Simulated data and TSDB (default: $TRIBUTARY_HOME/demo).")
@click.option("--sim-dir", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=None, help="Reuse this simulation (a directory with manifest.json) "
              "instead of simulating; --profile and --seed are then taken from it.")
def up(profile: str, seed: int, prom_port: int | None, es_port: int | None,
       prometheus_version: str, no_elasticsearch: bool, no_jaeger: bool, no_live: bool,
       live_hours: float, data_dir: Path | None, sim_dir: Path | None) -> None:
    """Simulate telemetry, backfill and start Prometheus, start Elasticsearch, load logs."""
    from tributary_analysis.stack import demo

    home = _home()
    result = demo.up(home=home, profile=profile, seed=seed, prom_port=prom_port,
                     es_port=es_port, elasticsearch=not no_elasticsearch,
                     data_dir=data_dir, sim_dir=sim_dir, echo=click.echo,
                     prometheus_version=prometheus_version, jaeger=not no_jaeger,
                     live=not no_live, live_hours=live_hours)
    _print_usage(home, result.state)
    click.echo(f"stack up in {result.timings['total']:.1f} s")


def _print_usage(home: Path, st: dict[str, Any]) -> None:
    prom = st["prometheus"]["url"]
    click.echo("")
    click.echo(f"Prometheus     {prom}  (version {st['prometheus'].get('version')})")
    from tributary_analysis.promql import catalog

    example = catalog.request_rate("5m", by=("tenant_id",))
    click.echo(f"  curl -s '{prom}/api/v1/query' --data-urlencode 'query={example}'")
    es = st.get("elasticsearch")
    if es:
        click.echo(f"Elasticsearch  {es['url']}  (read-only user {es['reader_username']}; "
                   f"password in {home / 'config.toml'})")
        click.echo(f"  curl -s -u {es['reader_username']}:\"$PASSWORD\" "
                   f"'{es['url']}/{es['index_pattern']}/_count'")
    jg = st.get("jaeger")
    if jg:
        click.echo(f"Jaeger         {jg['url']}  (version {jg.get('version')}; OTLP/HTTP "
                   f"{jg['otlp_http']})")
        click.echo(f"  curl -s '{jg['url']}/api/v3/services'")
    live = st.get("live")
    window = st.get("window") or {}
    if live:
        click.echo(f"Live service   {', '.join(live['targets'])}  (until "
                   f"{window.get('live_until')}; history from {window.get('start')})")
    click.echo(f"Log files      {st['logs']['files']}")
    traces = (st.get("traces") or {}).get("files")
    if traces:
        click.echo(f"Trace files    {traces}  (OTLP JSON lines)")
    click.echo(f"State          {home / 'stack.json'} (the suite's default URLs)")
    click.echo("")
    click.echo("Environment for another shell or machine user:")
    click.echo(f"  export TRIBUTARY_HOME={home}")
    click.echo(f"  export TRIBUTARY_PROMETHEUS_URL={prom}")
    if es:
        click.echo(f"  export TRIBUTARY_ES_URL={es['url']}")
        click.echo(f"  export TRIBUTARY_ES_USERNAME={es['reader_username']}")
        click.echo("  export TRIBUTARY_ES_PASSWORD=...   # from config.toml [elasticsearch]")
    if jg:
        click.echo(f"  export TRIBUTARY_JAEGER_URL={jg['url']}")
    if traces:
        click.echo(f"  export TRIBUTARY_TRACE_FILES='{traces}'")
    click.echo("Stop with: tributary demo down")


@group.command("down")
@click.option("--keep-data", is_flag=True, help="Keep the Elasticsearch data directory.")
def down(keep_data: bool) -> None:
    """Stop exactly the processes that 'up' started."""
    from tributary_analysis.stack import demo

    demo.down(_home(), keep_data=keep_data, echo=click.echo)


@group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the state as JSON.")
def status(as_json: bool) -> None:
    """Show the recorded stack and whether each server still runs."""
    from tributary_analysis.stack import demo

    st = demo.status(_home())
    if as_json:
        click.echo(json.dumps(st, indent=2, default=str))
        return
    if not st:
        click.echo("no demo stack recorded; start one with 'tributary demo up'")
        return
    for name in ("prometheus", "elasticsearch", "jaeger"):
        info = st.get(name)
        if info:
            flag = "running" if info.get("running") else "NOT running"
            version = f" {info['version']}" if info.get("version") else ""
            click.echo(f"{name:14} {info['url']:28} {flag}{version}")
    live = st.get("live")
    window = st.get("window") or {}
    if live:
        beat = live.get("heartbeat") or {}
        flag = "running" if live.get("running") else "NOT running"
        served = beat.get("grid_time_s")
        click.echo(f"{'live service':14} {', '.join(live.get('targets', [])):28} {flag}"
                   + (f"; serving {iso(served)}" if served else "")
                   + ("; horizon reached" if beat.get("horizon_reached") else ""))
    end = "now (live)" if live and live.get("running") else window.get("end")
    click.echo(f"data window    {window.get('start')} .. {end}"
               + (f"; live until {window['live_until']}" if window.get("live_until") else ""))
    click.echo(f"profile        {st.get('profile')} (seed {st.get('seed')})")


def _register_generate() -> None:
    """``demo generate``: the simulator alone, for files without a running stack."""
    from tributary_analysis.cli.demo_generate import generate

    group.add_command(generate)


_register_generate()
