"""A real Prometheus holding simulated history: promtool backfill, config, start.

The metric history is written as OpenMetrics parts; each part is turned into TSDB blocks by
``promtool tsdb create-blocks-from openmetrics`` (two parts at a time: the machine has two
cores) and the blocks are moved into one data directory. Blocks from different parts may
overlap in time; Prometheus ≥ 2.39 merges overlapping blocks by itself.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tributary_analysis.errors import StackError
from tributary_analysis.stack import procs

DEBIAN_PACKAGE = "prometheus"
MARKER = "--storage.tsdb.path="


def find_binary(name: str) -> str:
    """Path of ``prometheus`` or ``promtool``; a clear error naming the package if missing."""
    path = shutil.which(name)
    if path is None:
        raise StackError(
            f"'{name}' is not installed; install the Debian package '{DEBIAN_PACKAGE}' "
            f"(apt-get install {DEBIAN_PACKAGE}) or run 'make demo' as root"
        )
    return path


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
    parts: Sequence[Path], tsdb_dir: Path, *, workers: int = 2, max_block: str = "720h"
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
    """
    if not parts:
        raise StackError("no OpenMetrics parts to backfill; check the manifest's files.metrics")
    for part in parts:
        if not part.is_file():
            raise StackError(f"OpenMetrics part {part} does not exist; re-run the simulation")
    promtool = find_binary("promtool")
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


def write_config(path: Path, *, port: int, scrape_interval_s: int = 15) -> Path:
    """prometheus.yml: Prometheus scrapes itself (job ``prometheus``) beside the backfill."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "# written by tributary demo up; the deeplake-api history is backfilled, not scraped\n"
        "global:\n"
        f"  scrape_interval: {scrape_interval_s}s\n"
        f"  evaluation_interval: {scrape_interval_s}s\n"
        "scrape_configs:\n"
        "  - job_name: prometheus\n"
        "    static_configs:\n"
        f"      - targets: ['127.0.0.1:{port}']\n"
    )
    return path


def retention_for(start: datetime, *, margin_days: int = 30) -> str:
    """A retention that keeps the whole history (from ``start``) plus a margin."""
    age = datetime.now(UTC) - start.astimezone(UTC)
    return f"{math.ceil(age.total_seconds() / 86400) + margin_days}d"


def start(
    tsdb_dir: Path, *, port: int, retention: str, config: Path, log_path: Path,
    timeout: float = 120.0,
) -> procs.ProcessRef:
    """Start Prometheus on 127.0.0.1:``port`` and wait until ``/-/ready`` answers."""
    binary = find_binary("prometheus")
    if not procs.port_is_free(port):
        raise StackError(f"port {port} on 127.0.0.1 is in use; choose another with "
                         "--prom-port or leave it out to pick a free one")
    argv = [binary, f"--config.file={config}", f"{MARKER}{tsdb_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            f"--storage.tsdb.retention.time={retention}",
            "--web.page-title=Tributary demo"]
    ref = procs.start_detached(argv, log_path=log_path, marker=f"{MARKER}{tsdb_dir}",
                               cwd=tsdb_dir)
    try:
        procs.wait_http(f"http://127.0.0.1:{port}/-/ready", ref=ref, name="Prometheus",
                        timeout=timeout)
    except StackError:
        procs.stop(ref)
        raise
    return ref
