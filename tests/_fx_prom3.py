"""Session fixtures: Prometheus 3 server fixtures (owned by the stack area).

Star-imported by ``conftest.py`` so every test module shares them.

- ``prometheus3_stack``: Prometheus 3.16 (the cached Go build) backfilled from ``sim`` by its
  own promtool, with the same attributes as ``prometheus_stack`` plus ``version`` ("3") and
  ``release`` ("3.16.0"); its remote-write receiver is on.
- ``prometheus_server``: parametrized over both lines (``prom2`` = Debian's 2.42 via
  ``prometheus_stack``, ``prom3`` = ``prometheus3_stack``), for tests that must hold on both;
  branch on ``.version`` for version-specific expectations.
- ``prometheus3_native``: a second Prometheus 3 holding ``sim``'s classic history *and* the
  latency families as exponential native histograms (schema 3, remote-written), as a server
  with ``scrape_native_histograms`` and ``always_scrape_classic_histograms`` stores them.
  ``.native`` maps family → :class:`WriteReport`.
- ``prometheus3_nhcb``: a Prometheus 3 where the latency families exist *only* as NHCB
  (custom-bucket native histograms, as ``convert_classic_histograms_to_nhcb`` stores them
  without ``always_scrape_classic_histograms``): their ``_bucket``/``_sum``/``_count`` series
  were left out of the backfill. ``.native`` as above.

The remote-write client for other tests is
:func:`tributary_analysis.demo.remote_write.write`; the native forms of the simulation come
from :func:`tributary_analysis.demo.native.simulated_histograms`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "PrometheusStack",
    "prometheus3_native",
    "prometheus3_nhcb",
    "prometheus3_stack",
    "prometheus_server",
    "start_prometheus_stack",
]


@dataclass
class PrometheusStack:
    """A running Prometheus holding the simulated history."""

    url: str
    manifest: dict[str, Any]
    out_dir: Path
    result: Any
    process: Any
    data_dir: Path
    version: str = "2"
    release: str = ""
    native: dict[str, Any] = field(default_factory=dict)


def _filtered_parts(parts: Sequence[str], drop: Sequence[str], out: Path) -> list[Path]:
    """Copies of the OpenMetrics parts without the samples of the ``drop`` families."""
    out.mkdir(parents=True, exist_ok=True)
    names = tuple(f"{d}{suffix}" for d in drop for suffix in ("_bucket", "_sum", "_count"))
    meta = tuple(f"# {kind} {d}" for d in drop for kind in ("TYPE", "HELP", "UNIT"))
    result = []
    for i, part in enumerate(parts):
        target = out / f"part-{i:03d}.om"
        with open(part, encoding="utf-8") as src, open(target, "w", encoding="utf-8") as dst:
            for line in src:
                if line.startswith(meta):
                    continue
                name = line.split("{", 1)[0].split(" ", 1)[0]
                if name in names:
                    continue
                dst.write(line)
        result.append(target)
    return result


def start_prometheus_stack(
    sim: Any, sim_dir: Path, data_dir: Path, *, version: str = "3",
    native: dict[str, str] | None = None, drop_classic: Sequence[str] = (),
) -> PrometheusStack:
    """Start a Prometheus of ``version`` with ``sim``'s history (the fixtures' shared recipe).

    ``native`` maps a latency family to ``"native"`` or ``"nhcb"``: that form is
    remote-written after the start; ``drop_classic`` families are left out of the backfill.
    """
    from tributary_analysis.demo import native as native_mod
    from tributary_analysis.demo import remote_write
    from tributary_analysis.stack import demo, procs

    manifest = demo.read_manifest(sim_dir)
    if drop_classic:
        parts = _filtered_parts(manifest["files"]["metrics"], drop_classic, data_dir / "om")
        manifest = {**manifest, "files": {**manifest["files"],
                                          "metrics": [str(p) for p in parts]}}
    info, _report = demo.start_prometheus(manifest, data_dir, version=version)
    ref = procs.ProcessRef.from_dict(info["process"])
    stack = PrometheusStack(info["url"], demo.read_manifest(sim_dir), sim_dir, sim, ref,
                            data_dir, version=info["line"], release=str(info["version"]))
    try:
        for family, form in (native or {}).items():
            series = native_mod.simulated_histograms(sim, family, form=form)  # type: ignore[arg-type]
            stack.native[family] = remote_write.write(
                stack.url, series, metadata=[native_mod.metadata(family)])
    except BaseException:
        procs.stop(ref)
        raise
    return stack


def _latency_families(sim: Any) -> list[str]:
    from tributary_analysis.demo import native as native_mod

    return native_mod.available_families(sim)


@pytest.fixture(scope="session")
def prometheus3_stack(sim: Any, sim_dir: Path,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusStack]:
    from tributary_analysis.stack import procs

    stack = start_prometheus_stack(sim, sim_dir, tmp_path_factory.mktemp("prometheus3-stack"))
    try:
        yield stack
    finally:
        procs.stop(stack.process)


@pytest.fixture(scope="session", params=["2", "3"], ids=["prom2", "prom3"])
def prometheus_server(request: pytest.FixtureRequest) -> PrometheusStack:
    """Both server lines in turn: Debian's 2.42 and the Go build of 3.16."""
    name = "prometheus_stack" if request.param == "2" else "prometheus3_stack"
    stack: PrometheusStack = request.getfixturevalue(name)
    return stack


@pytest.fixture(scope="session")
def prometheus3_native(sim: Any, sim_dir: Path,
                       tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusStack]:
    from tributary_analysis.stack import procs

    fams = _latency_families(sim)
    stack = start_prometheus_stack(sim, sim_dir, tmp_path_factory.mktemp("prometheus3-native"),
                                   native=dict.fromkeys(fams, "native"))
    try:
        yield stack
    finally:
        procs.stop(stack.process)


@pytest.fixture(scope="session")
def prometheus3_nhcb(sim: Any, sim_dir: Path,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusStack]:
    from tributary_analysis.stack import procs

    fams = _latency_families(sim)
    stack = start_prometheus_stack(sim, sim_dir, tmp_path_factory.mktemp("prometheus3-nhcb"),
                                   native=dict.fromkeys(fams, "nhcb"), drop_classic=fams)
    try:
        yield stack
    finally:
        procs.stop(stack.process)
