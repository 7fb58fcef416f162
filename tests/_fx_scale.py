"""Session fixtures for scale-out (owned by the scale area): a real local Dask cluster.

``dask_cluster``: a ``dask scheduler`` and two ``dask worker`` processes (one thread each)
on 127.0.0.1, dashboards off, started as their own process groups and stopped by PID at the
end of the session. The workers run with canary credentials in their environment (as a
real worker holds its own), and everything the three processes log goes to files the
tests read: ``.address`` (``tcp://127.0.0.1:PORT``), ``.executor`` (``dask://…``),
``.logs`` (scheduler, worker-1, worker-2), ``.home`` (the workers' ``TRIBUTARY_HOME``),
``.canaries`` and ``.env`` (the variables they were given).

Star-imported by ``conftest.py`` so every test module shares them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["DASK_CANARIES", "DaskCluster", "dask_cluster", "start_dask_cluster"]

#: credentials the cluster's workers (and the caller, in the tests) hold in their environment
DASK_CANARIES = {
    "TRIBUTARY_PROMETHEUS_TOKEN": "canaryDaskToken71c2e9",
    "TRIBUTARY_ES_PASSWORD": "canaryDaskEsPw38d1a0",
}


@dataclass
class DaskCluster:
    """A running local cluster: where it listens and where its processes log."""

    address: str
    procs: list[subprocess.Popen[bytes]]
    logs: dict[str, Path]
    home: Path
    env: dict[str, str]
    canaries: dict[str, str] = field(default_factory=lambda: dict(DASK_CANARIES))

    @property
    def executor(self) -> str:
        return "dask://" + self.address.split("://", 1)[1]

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.logs.values()
                         if p.exists())


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process's own group, then SIGKILL what is left; by PID, never by name."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=20)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


def _dask(*args: str) -> list[str]:
    return [sys.executable, "-m", "dask", *args]


def start_dask_cluster(root: Path, *, workers: int = 2, env: dict[str, str] | None = None,
                       timeout: float = 180.0) -> DaskCluster:
    """Start a scheduler and ``workers`` one-thread workers on 127.0.0.1 under ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    home = root / "worker-home"
    home.mkdir(exist_ok=True)
    scheduler_file = root / "scheduler.json"
    base = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUTARY_")}
    base.update(env or {})
    base["TRIBUTARY_HOME"] = str(home)
    base["DASK_DISTRIBUTED__WORKER__DAEMON"] = "False"  # workers' tasks start processes
    procs: list[subprocess.Popen[bytes]] = []
    logs: dict[str, Path] = {}

    def spawn(name: str, cmd: list[str]) -> None:
        logs[name] = root / f"{name}.log"
        with open(logs[name], "wb") as fh:
            procs.append(subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, env=base, cwd=root,
                                          start_new_session=True))

    try:
        spawn("scheduler", _dask("scheduler", "--host", "127.0.0.1", "--port", "0",
                                 "--no-dashboard", "--scheduler-file", str(scheduler_file)))
        deadline = time.monotonic() + timeout
        while not scheduler_file.exists() and time.monotonic() < deadline:
            if procs[0].poll() is not None:
                raise RuntimeError("dask scheduler exited: " + logs["scheduler"].read_text())
            time.sleep(0.2)
        time.sleep(0.2)  # the file is written whole, then read
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:"), address
        for i in range(1, workers + 1):
            spawn(f"worker-{i}", _dask(
                "worker", address, "--host", "127.0.0.1", "--nthreads", "1", "--nworkers",
                "1", "--no-dashboard", "--name", f"w{i}", "--local-directory",
                str(root / f"worker-{i}-space")))
        from distributed import Client

        with Client(address, timeout="60s", set_as_default=False) as client:
            client.wait_for_workers(workers, timeout=max(1.0, deadline - time.monotonic()))
    except BaseException:
        for proc in procs:
            _stop(proc)
        raise
    return DaskCluster(address=address, procs=procs, logs=logs, home=home, env=base)


def stop_dask_cluster(cluster: DaskCluster) -> None:
    for proc in reversed(cluster.procs):  # workers first, then the scheduler
        _stop(proc)


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskCluster]:
    """A real scheduler + two workers on loopback, with canary credentials in the
    workers' environment; stopped by PID at the end of the session."""
    cluster = start_dask_cluster(tmp_path_factory.mktemp("dask"), env=dict(DASK_CANARIES))
    try:
        yield cluster
    finally:
        stop_dask_cluster(cluster)
