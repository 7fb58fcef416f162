"""Session fixtures that start the REAL local servers for tests.

Every test session gets its own ``TRIBUTARY_HOME`` (a temporary directory) and no
``TRIBUTARY_*`` variables from the developer's shell, so tests never touch a real stack.

Fixtures other tests rely on (names and attributes are a contract):

- ``sim``: the ``small`` profile simulated once (seed 7) into a session directory; the
  simulator's :class:`SimulationResult`.
- ``prometheus_stack``: a real Prometheus (Debian's 2.42) backfilled from ``sim`` on a free
  port, stopped at the end; ``.url``, ``.manifest`` (dict), ``.out_dir`` (the simulation
  directory), ``.result`` (``sim``), ``.process``, ``.version`` ("2"), ``.release``.
  Prometheus 3 fixtures (``prometheus3_stack``, ``prometheus_server`` over both lines,
  ``prometheus3_native``, ``prometheus3_nhcb``) are in ``_fx_prom3.py``.
- ``elasticsearch_stack``: a real Elasticsearch (started only if a test asks for it; it boots
  while ``sim`` simulates) with ``sim``'s logs loaded; ``.url``, ``.reader`` and ``.admin``
  (``(user, password)`` tuples usable as ``basic_auth``), ``.index_pattern``, ``.load``
  (the :class:`LoadReport`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

# Area fixture plugins (one file per area, each with its own owner): star-imported so their
# session fixtures are shared by every test module. Each lists its fixtures in __all__.
from _fx_prom3 import *  # noqa: F403
from _fx_prom3 import PrometheusStack, start_prometheus_stack
from _fx_reports_out import *  # noqa: F403
from _fx_scale import *  # noqa: F403
from _fx_traces import *  # noqa: F403

from tributary_analysis.config import ENV_VARS

#: replay a session at a fixed simulated end (see ``sim``)
SIM_END_ENV = "TRIBUTARY_TEST_SIM_END"


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("tributary-home")
    mp = pytest.MonkeyPatch()
    for var in [*ENV_VARS, "TRIBUTARY_CONFIG"]:
        mp.delenv(var, raising=False)
    mp.setenv("TRIBUTARY_HOME", str(home))
    yield home
    mp.undo()


@pytest.fixture(scope="session")
def sim_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where ``sim`` writes: manifest.json, metrics/, logs/, incidents.json."""
    return tmp_path_factory.mktemp("sim")


@pytest.fixture(scope="session")
def sim(sim_dir: Path) -> Any:
    """The ``small`` profile, seed 7, simulated once per session, ending now — or at
    ``TRIBUTARY_TEST_SIM_END`` (ISO UTC), to replay a run whose outcome depended on the time
    of day (the window a CI run used is in its failure output)."""
    from tributary_analysis.demo import simulate
    from tributary_analysis.ground.time import parse_time

    end = os.environ.get(SIM_END_ENV)
    return simulate(profile="small", seed=7, out_dir=sim_dir,
                    end=parse_time(end).to_pydatetime() if end else None)


@pytest.fixture(scope="session")
def prometheus_stack(
    sim: Any, sim_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrometheusStack]:
    """Debian's Prometheus 2.42 backfilled from ``sim`` (``.version`` is ``"2"``)."""
    from tributary_analysis.stack import procs

    stack = start_prometheus_stack(sim, sim_dir, tmp_path_factory.mktemp("prometheus-stack"),
                                   version="2")
    try:
        yield stack
    finally:
        procs.stop(stack.process)


@dataclass
class ElasticsearchStack:
    """A running, secured Elasticsearch holding the simulated logs."""

    url: str
    reader: tuple[str, str]
    admin: tuple[str, str]
    index_pattern: str
    load: Any
    handle: Any


@pytest.fixture(scope="session")
def elasticsearch_stack(request: pytest.FixtureRequest,
                        sim_dir: Path) -> Iterator[ElasticsearchStack]:
    import shutil

    from tributary_analysis.stack import demo, es_logs
    from tributary_analysis.stack import elasticsearch as es_mod

    handle = demo.launch_elasticsearch()
    try:
        request.getfixturevalue("sim")  # simulated (if not yet) while the JVM boots
        manifest = demo.read_manifest(sim_dir)
        es_mod.wait_ready(handle.inst, handle.launcher, handle.admin)
        client = handle.client()
        report = es_logs.load_logs(client, [Path(p) for p in manifest["files"]["logs"]])
        client.close()
        yield ElasticsearchStack(handle.inst.url, handle.reader, handle.admin,
                                 es_mod.INDEX_PATTERN, report, handle)
    finally:
        handle.stop()
        if not os.environ.get("TRIBUTARY_KEEP_TEST_ES"):
            shutil.rmtree(handle.inst.root, ignore_errors=True)
