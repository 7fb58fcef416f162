"""pytest plugin for ``make test``: tests that need the Go builds run last.

``make test`` starts the Prometheus 3 and Jaeger v2 builds in the background before anything
else (``binaries-background``) and no longer waits for them before pytest: this plugin moves
every test module that needs a Go-built server to the end of the run — modules needing only
Prometheus 3 first, then those needing Jaeger — so the rest of the suite runs while the
builds compile. Before the first test of each late group it waits for that build (the
background build holds the lock; ``gobuild.ensure`` waits for it, or builds itself when no
build ran), outside any per-test timeout.

A module is late when one of its tests uses a Go fixture (:data:`GO_FIXTURES`, or
``prometheus_server`` on the ``3`` line; the fixture closure, so indirect use counts) or its
source calls the stack directly (:data:`SOURCE_HINTS`). Whole modules move, so module
fixtures are set up once. Getting it wrong costs only time: an early test that needs a
build waits for it in ``gobuild.ensure``. Load with ``-p tributary_ci_order`` (the
Makefile puts ``.ci`` on ``PYTHONPATH``).
"""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

#: fixtures that start a server built from Go: Prometheus 3 (rank 1) or Jaeger (rank 2)
GO_FIXTURES: dict[str, int] = {"prometheus3_stack": 1, "prometheus3_native": 1,
                               "prometheus3_nhcb": 1, "jaeger_traces": 2}
#: source text of a module that builds or starts them itself, and the rank it implies
SOURCE_HINTS: tuple[tuple[re.Pattern[str], int], ...] = (
    (re.compile(r"\bjaeger\b", re.I), 2),
    (re.compile(r"gobuild|find_binary|prometheus_version|\bdemo\.up\(|\"up\", \"--"), 1),
)
_NAMES = {1: "prometheus", 2: "jaeger"}


def _item_rank(item: pytest.Item) -> int:
    names = getattr(item, "fixturenames", ())
    rank = max((GO_FIXTURES.get(n, 0) for n in names), default=0)
    callspec = getattr(item, "callspec", None)
    if callspec is not None and callspec.params.get("prometheus_server") == "3":
        rank = max(rank, 1)
    return rank


def _source_rank(path: Path, cache: dict[Path, int]) -> int:
    if path not in cache:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError:
            text = ""
        cache[path] = max((r for pat, r in SOURCE_HINTS if pat.search(text)), default=0)
    return cache[path]


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list[pytest.Item]) -> None:
    """Stable reorder: modules without Go servers, then Prometheus 3, then Jaeger."""
    module_rank: dict[Path, int] = {}
    sources: dict[Path, int] = {}
    for item in items:
        path = Path(str(item.path))
        rank = max(_item_rank(item), _source_rank(path, sources))
        module_rank[path] = max(module_rank.get(path, 0), rank)
    first_seen = {p: i for i, p in enumerate(dict.fromkeys(Path(str(i.path)) for i in items))}
    items.sort(key=lambda i: (module_rank[Path(str(i.path))], first_seen[Path(str(i.path))]))
    late = [i for i in items if module_rank[Path(str(i.path))]]
    config.stash[_FIRST] = {}
    for item in late:
        config.stash[_FIRST].setdefault(module_rank[Path(str(item.path))], item.nodeid)
    n_late = len({Path(str(i.path)) for i in late})
    if late:
        config.stash[_SUMMARY] = (f"tributary_ci_order: {len(items) - len(late)} tests first, "
                                  f"then {len(late)} tests in {n_late} modules that need the "
                                  "Go-built servers")


_FIRST = pytest.StashKey[dict[int, str]]()
_SUMMARY = pytest.StashKey[str]()


def pytest_report_collectionfinish(config: pytest.Config) -> str | None:
    return config.stash.get(_SUMMARY, None)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: Any) -> Generator[None, None, None]:
    """Before the first test of a late group: wait for its build (outside test timeouts)."""
    first = item.config.stash.get(_FIRST, {})
    for rank, nodeid in sorted(first.items()):
        if nodeid == item.nodeid:
            capman = item.config.pluginmanager.getplugin("capturemanager")
            with capman.global_and_fixture_disabled() if capman else _nothing():
                _wait_for_builds(rank)
    yield


@contextlib.contextmanager
def _nothing() -> Generator[None, None, None]:
    yield


def _wait_for_builds(rank: int) -> None:
    from tributary_analysis.stack import gobuild

    programs = [gobuild.PROMETHEUS] + ([gobuild.JAEGER] if rank >= 2 else [])
    for program in programs:
        if gobuild.cached(program) is not None:
            continue
        t0 = time.monotonic()
        print(f"\n[tributary_ci_order] waiting for the {_NAMES.get(rank, '')} group's build "
              f"of {program.name} (progress in {gobuild.log_path()}) ...", file=sys.stderr,
              flush=True)
        gobuild.ensure(program, echo=lambda m: print(m, file=sys.stderr, flush=True))
        print(f"[tributary_ci_order] {program.name} ready after {time.monotonic() - t0:.0f} s",
              file=sys.stderr, flush=True)
