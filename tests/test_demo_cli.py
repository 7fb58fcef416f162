"""The real CLI's life cycle: ``tributary demo up`` → ``status`` → ``down``, as a user runs it.

Each command runs as its own process (the installed ``tributary`` entry point) in a fresh
``TRIBUTARY_HOME``, so nothing is shared with the test process but the files ``up`` writes.
To keep the wall time down ``up`` reuses the session's simulation (``--sim-dir``, so no
live service); the backfill, Prometheus 3 (the default), Elasticsearch, Jaeger v2, the users
and the log load are all real.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import pytest
import requests

from tributary_analysis.stack import procs

pytestmark = pytest.mark.slow

TRIBUTARY = Path(sys.executable).with_name("tributary")


def _run(home: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRIBUTARY_")
           or k == "TRIBUTARY_ES_DIR"}
    env["TRIBUTARY_HOME"] = str(home)
    return subprocess.run([str(TRIBUTARY), "demo", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL, check=False)


def _gone(pid: int, timeout: float = 30.0) -> bool:
    """The PID has exited: gone, or a zombie left for init to reap (the CLI that started it
    exited, so init is its parent now)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return True
        if stat[stat.rindex(")") + 2] == "Z":
            return True
        time.sleep(0.2)
    return False


def _refs(st: dict[str, Any]) -> list[procs.ProcessRef]:
    out = []
    for name in ("prometheus", "elasticsearch", "jaeger"):
        for key in ("process", "server_process"):
            ref = (st.get(name) or {}).get(key)
            if ref:
                out.append(procs.ProcessRef.from_dict(ref))
    return out


def test_demo_up_status_down_leaves_nothing_behind(sim: Any, sim_dir: Path,
                                                   tmp_path: Path) -> None:
    home = tmp_path / "home"
    up = _run(home, "up", "--sim-dir", str(sim_dir), "--data-dir", str(tmp_path / "data"))
    st: dict[str, Any] = {}
    try:
        assert up.returncode == 0, up.stdout + up.stderr
        assert "Prometheus 3.16.0 ready on http://127.0.0.1:" in up.stdout
        assert "Jaeger 2.13.0 ready on http://127.0.0.1:" in up.stdout
        assert "stack up in" in up.stdout
        st = json.loads((home / "stack.json").read_text())
        prom, es = st["prometheus"], st["elasticsearch"]
        assert st["profile"] == "small" and st["seed"] == 7
        assert prom["version"] == "3.16.0" and st["jaeger"]["version"] == "2.13.0"
        refs = _refs(st)
        assert len(refs) == 4 and all(procs.is_running(r) for r in refs)
        # nothing the stack started listens beyond loopback
        for ref in refs:
            socks = procs.listening_sockets(ref.pid)
            assert all(procs.is_loopback(a) for a, _ in socks), (ref, socks)

        # no secret in the state file or the output; the reader's password in a 0600 file
        config = tomllib.loads((home / "config.toml").read_text())["elasticsearch"]
        password = config["password"]
        assert password not in (home / "stack.json").read_text()
        assert password not in up.stdout + up.stderr
        assert (home / "config.toml").stat().st_mode & 0o777 == 0o600

        # status sees both servers running
        status = _run(home, "status", "--json")
        assert status.returncode == 0, status.stderr
        shown = json.loads(status.stdout)
        assert shown["prometheus"]["running"] and shown["elasticsearch"]["running"]
        assert shown["jaeger"]["running"]
        plain = _run(home, "status")
        assert "jaeger" in plain.stdout and "data window" in plain.stdout

        # both URLs answer, with the simulated data in them
        r = requests.get(f"{prom['url']}/api/v1/query", timeout=30,
                         params={"query": 'count(up{job="deeplake-api"})',
                                 "time": sim.manifest["end_unix"]}).json()
        assert r["data"]["result"][0]["value"][1] == str(len(sim.manifest["instances"]))
        auth = (config["username"], password)
        count = requests.get(f"{es['url']}/{es['index_pattern']}/_count", auth=auth,
                             timeout=30).json()["count"]
        assert count == sim.manifest["counts"]["log_lines"] == st["elasticsearch"]["load"][
            "docs"]

        # a second 'up' refuses to start another stack over the running one
        again = _run(home, "up", "--sim-dir", str(sim_dir), timeout=120)
        assert again.returncode == 2
        assert "already running" in again.stderr and "demo down" in again.stderr
    finally:
        down = _run(home, "down", timeout=300)
    assert down.returncode == 0, down.stdout + down.stderr
    assert "stopped prometheus" in down.stdout and "stopped elasticsearch" in down.stdout
    assert "stopped jaeger" in down.stdout
    for ref in _refs(st):
        assert not procs.is_running(ref)
        assert _gone(ref.pid), f"PID {ref.pid} is still alive after 'down'"
    assert not (home / "stack.json").exists()
    assert not Path(st["elasticsearch"]["instance_dir"]).exists()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{st['prometheus']['url']}/-/ready", timeout=5)
    status = _run(home, "status")
    assert status.returncode == 0 and "no demo stack recorded" in status.stdout
