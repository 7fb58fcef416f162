"""A real Prometheus holding simulated history: promtool backfill, config, start.

Two server lines are supported side by side: ``"2"`` is Debian's ``prometheus`` package
(2.42, on PATH) and ``"3"`` is Prometheus 3.16 built from its Go module and cached by
:mod:`~tributary_analysis.stack.gobuild`. The backfill always uses the promtool of the same
version as the server.

The metric history is written as OpenMetrics parts; each part is turned into TSDB blocks by
``promtool tsdb create-blocks-from openmetrics`` (two parts at a time: the machine has two
cores) and the blocks are moved into one data directory. Blocks from different parts may
overlap in time; Prometheus ≥ 2.39 merges overlapping blocks by itself.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from tributary_analysis.errors import StackError
from tributary_analysis.stack import gobuild, procs

DEBIAN_PACKAGE = "prometheus"
MARKER = "--storage.tsdb.path="
#: the server lines: Debian's 2.42 and the Go build of 3.16
VERSIONS = ("2", "3")
#: what ``tributary demo up`` and ``make demo`` start
DEFAULT_VERSION = "3"

Echo = Callable[[str], None]


def check_version(version: str) -> str:
    """``"2"`` or ``"3"`` (``"2.42"``/``"3.16"`` accepted); a clear error otherwise."""
    major = str(version).strip().split(".", 1)[0]
    if major not in VERSIONS:
        raise StackError(f"unknown Prometheus version {version!r}: use 2 (Debian's 2.42) or "
                         "3 (3.16, built from the Go module)")
    return major


def find_binary(name: str, version: str = "2", *, echo: Echo | None = None) -> str:
    """Path of ``prometheus`` or ``promtool`` of ``version``.

    Version 2 is Debian's package (a clear error naming it when missing); version 3 is the Go
    build, built now (with progress lines to ``echo``) when it is not cached yet.
    """
    if check_version(version) == "3":
        return str(gobuild.ensure(gobuild.PROMETHEUS, echo=echo) / name)
    path = shutil.which(name)
    if path is None:
        raise StackError(
            f"'{name}' is not installed; install the Debian package '{DEBIAN_PACKAGE}' "
            f"(apt-get install {DEBIAN_PACKAGE}) or run 'make demo' as root"
        )
    return path


def release(version: str) -> str:
    """The release a version line runs here (``2.42.0``-style for Debian, ``3.16.0``)."""
    if check_version(version) == "3":
        return gobuild.PROMETHEUS.release
    proc = subprocess.run([find_binary("prometheus", "2"), "--version"], capture_output=True,
                          text=True, check=False)
    first = (proc.stdout or proc.stderr).split("\n", 1)[0]
    parts = first.split()
    return parts[2] if len(parts) > 2 and parts[1] == "version" else first


@dataclass(frozen=True)
class BackfillReport:
    """What the backfill did: parts, blocks and time spent."""

    parts: int
    blocks: int
    seconds: float


def _backfill_part(promtool: str, part: Path, out: Path, max_block: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    cmd = [promtool, "tsdb", "create-blocks-from", "openmetrics",
           f"--max-block-duration={max_block}", str(part), str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).splitlines()[-15:])
        raise StackError(f"promtool could not backfill {part} (exit {proc.returncode}); "
                         f"fix the OpenMetrics file:\n{tail}")
    return out


def backfill(
    parts: Sequence[Path], tsdb_dir: Path, *, workers: int = 2, max_block: str = "720h",
    version: str = "2",
) -> BackfillReport:
    """Turn OpenMetrics ``parts`` into TSDB blocks inside ``tsdb_dir``.

    Parameters
    ----------
    parts : sequence of Path
        OpenMetrics files (each ending in ``# EOF``).
    tsdb_dir : Path
        The Prometheus data directory; created if needed.
    workers : int
        promtool processes run at once.
    max_block : str
        ``--max-block-duration``: long blocks mean few blocks and fast startup.
    version : str
        The promtool of this server line (``"2"`` or ``"3"``): the server reads what its own
        promtool wrote.
    """
    if not parts:
        raise StackError("no OpenMetrics parts to backfill; check the manifest's files.metrics")
    for part in parts:
        if not part.is_file():
            raise StackError(f"OpenMetrics part {part} does not exist; re-run the simulation")
    promtool = find_binary("promtool", version)
    t0 = time.monotonic()
    staging = tsdb_dir / ".backfill"
    shutil.rmtree(staging, ignore_errors=True)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        outs = list(pool.map(
            lambda ip: _backfill_part(promtool, ip[1], staging / f"part-{ip[0]:03d}", max_block),
            enumerate(parts)))
    blocks = 0
    for out in outs:
        for block in sorted(out.iterdir()):
            if block.is_dir() and (block / "meta.json").exists():
                block.rename(tsdb_dir / block.name)
                blocks += 1
    shutil.rmtree(staging, ignore_errors=True)
    return BackfillReport(len(parts), blocks, time.monotonic() - t0)


def write_config(
    path: Path, *, port: int, scrape_interval_s: int = 15, version: str = "2",
    rule_files: Sequence[Path] = (),
    scrape_targets: Sequence[tuple[str, Mapping[str, str]]] = (),
    job: str = "deeplake-api", out_of_order_window: str | None = None,
    native_histograms: bool = False, nhcb: bool = False, retention: str | None = None,
) -> Path:
    """prometheus.yml: Prometheus scrapes itself (job ``prometheus``) beside the backfill.

    Parameters
    ----------
    rule_files : sequence of Path
        Rule files to evaluate (the seed's ``alert_rules.yml`` for the live demo).
    scrape_targets : sequence of (host:port, labels)
        Targets of the seed's ``job`` (the live demo service, one per replica with its
        ``instance`` label), scraped at ``scrape_interval_s`` with the seed's 10 s timeout.
    out_of_order_window : str, optional
        Version 3: ``storage.tsdb.out_of_order_time_window``, so remote-written samples older
        than the head block (simulated native histograms) are accepted.
    native_histograms, nhcb : bool
        Version 3, for ``job``: scrape native histograms / convert classic histograms to NHCB;
        classic series are kept as well (``always_scrape_classic_histograms``).
    retention : str, optional
        Version 3: ``storage.tsdb.retention.time`` (the flag is deprecated there).
    """
    v3 = check_version(version) == "3"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# written by tributary demo up; the deeplake-api history is backfilled"
        + (", then scraped live" if scrape_targets else ", not scraped"),
        "global:",
        f"  scrape_interval: {scrape_interval_s}s",
        f"  evaluation_interval: {scrape_interval_s}s",
    ]
    if rule_files:
        lines.append("rule_files:")
        lines += [f"  - {json.dumps(str(p))}" for p in rule_files]
    if v3 and (out_of_order_window or retention):
        lines += ["storage:", "  tsdb:"]
        if out_of_order_window:
            lines.append(f"    out_of_order_time_window: {out_of_order_window}")
        if retention:
            lines += ["    retention:", f"      time: {retention}"]
    lines += ["scrape_configs:", "  - job_name: prometheus", "    static_configs:",
              f"      - targets: ['127.0.0.1:{port}']"]
    if scrape_targets:
        lines += [f"  - job_name: {json.dumps(job)}", "    metrics_path: /metrics",
                  f"    scrape_interval: {scrape_interval_s}s",
                  f"    scrape_timeout: {min(10, scrape_interval_s)}s"]
        if v3 and (native_histograms or nhcb):
            if native_histograms:
                lines.append("    scrape_native_histograms: true")
            if nhcb:
                lines.append("    convert_classic_histograms_to_nhcb: true")
            lines.append("    always_scrape_classic_histograms: true")
        lines.append("    static_configs:")
        for target, labels in scrape_targets:
            lines.append(f"      - targets: [{json.dumps(target)}]")
            if labels:
                lines.append("        labels: " + json.dumps(dict(labels)))
    path.write_text("\n".join(lines) + "\n")
    return path


def retention_for(start: datetime, *, margin_days: int = 30) -> str:
    """A retention that keeps the whole history (from ``start``) plus a margin."""
    age = datetime.now(UTC) - start.astimezone(UTC)
    return f"{math.ceil(age.total_seconds() / 86400) + margin_days}d"


def start(
    tsdb_dir: Path, *, port: int, retention: str, config: Path, log_path: Path,
    timeout: float = 120.0, version: str = "2", remote_write_receiver: bool = False,
    echo: Echo | None = None,
) -> procs.ProcessRef:
    """Start Prometheus on 127.0.0.1:``port`` and wait until ``/-/ready`` answers.

    ``version`` picks the server line; ``remote_write_receiver`` enables
    ``/api/v1/write`` (how simulated native histograms get in). The listener is loopback
    only.
    """
    v3 = check_version(version) == "3"
    binary = find_binary("prometheus", version, echo=echo)
    if not procs.port_is_free(port):
        raise StackError(f"port {port} on 127.0.0.1 is in use; choose another with "
                         "--prom-port or leave it out to pick a free one")
    argv = [binary, f"--config.file={config}", f"{MARKER}{tsdb_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.page-title=Tributary demo"]
    if not v3 or "retention:" not in config.read_text():
        argv.append(f"--storage.tsdb.retention.time={retention}")
    if remote_write_receiver:
        argv.append("--web.enable-remote-write-receiver")
    ref = procs.start_detached(argv, log_path=log_path, marker=f"{MARKER}{tsdb_dir}",
                               cwd=tsdb_dir)
    try:
        procs.wait_http(f"http://127.0.0.1:{port}/-/ready", ref=ref, name="Prometheus",
                        timeout=timeout)
    except StackError:
        procs.stop(ref)
        raise
    return ref


def buildinfo(url: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """``/api/v1/status/buildinfo`` of a running server (``version``, ``revision``, …)."""
    try:
        resp = requests.get(f"{url.rstrip('/')}/api/v1/status/buildinfo", timeout=timeout)
        resp.raise_for_status()
        data: dict[str, Any] = resp.json()["data"]
    except (requests.RequestException, ValueError, KeyError) as exc:
        raise StackError(f"cannot read the build info of the Prometheus at {url}: {exc}; "
                         "check that it runs") from exc
    return data
