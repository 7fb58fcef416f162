"""Benchmark: what the report runner costs on top of papermill, step by step.

For each fixture notebook (``tests/fixtures/notebooks``: ``figures`` with 2 plotly figures,
``adversary`` printing the settings and the environment, ``raises`` failing) this times, in
one process and interleaved round by round so machine load hits both alike:

* **baseline**: ``papermill.execute_notebook`` alone (a fresh kernel, as the runner starts),
  what a hand-rolled cron job would do — no timeout, no scrubbing, no page;
* **runner**: :func:`tributary_analysis.reports.runner.run_report` end to end, and its three
  steps: ``prepare`` (parameters, kernelspec), ``execute`` (worker subprocess, whole-notebook
  timeout, kernel), ``publish`` (scrub, stderr to run.log, page, atomic writes, ledger).

The ratio runner/baseline is the price of the whole-notebook timeout, the scrubbing, the
page and the ledger. Prints a Markdown table for ``docs/benchmarks.md``.

Usage::

    .venv/bin/python bench/bench_report_steps.py --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures" / "notebooks"
NOTEBOOKS = {"figures": {"points": 50}, "adversary": {}, "raises": {}}


def _baseline(name: str, params: dict[str, object], tmp: Path) -> float:
    import papermill

    from tributary_analysis.reports.kernel import ensure_kernelspec

    kernel, kdir = ensure_kernelspec(tmp / "jupyter")
    os.environ["JUPYTER_PATH"] = str(kdir)
    t0 = time.perf_counter()
    with contextlib.suppress(papermill.PapermillExecutionError):  # raises.ipynb fails
        papermill.execute_notebook(str(FIXTURES / f"{name}.ipynb"), str(tmp / f"{name}.ipynb"),
                                   parameters={"start": "2025-01-30T00:00:00Z",
                                               "end": "2025-01-31T00:00:00Z", **params},
                                   kernel_name=kernel, progress_bar=False,
                                   cwd=str(FIXTURES))
    return time.perf_counter() - t0


def _runner(name: str, params: dict[str, object], out: Path) -> dict[str, float]:
    from tributary_analysis.config import load_settings
    from tributary_analysis.ground.time import parse_window
    from tributary_analysis.reports import workarea
    from tributary_analysis.reports.execute import LocalExecutor
    from tributary_analysis.reports.prepare import RunRequest, prepare
    from tributary_analysis.reports.publish import publish
    from tributary_analysis.reports.registry import ReportSpec
    from tributary_analysis.reports.runner import _ready_out_dir
    from tributary_analysis.reports.scrub import Scrubber

    settings = load_settings()
    scrubber = Scrubber.from_environment(settings)
    req = RunRequest(ReportSpec(name, FIXTURES / f"{name}.ipynb"),
                     parse_window("24h", end="2025-01-31T00:00:00Z"), dict(params))
    t0 = time.perf_counter()
    out = _ready_out_dir(out)
    with workarea.session(settings.work_dir, out) as ws:
        prep = prepare(req, out, settings=settings, scrubber=scrubber, timeout=600)
        t1 = time.perf_counter()
        result = LocalExecutor(ws).execute(prep.job)
        t2 = time.perf_counter()
        publish(prep, result, settings=settings, scrubber=scrubber)
        t3 = time.perf_counter()
    return {"prepare": t1 - t0, "execute": t2 - t1, "publish": t3 - t2, "total": t3 - t0}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-report-steps-") as tmpdir:
        tmp = Path(tmpdir)
        os.environ["TRIBUTARY_HOME"] = str(tmp / "home")
        os.environ.setdefault("TRIBUTARY_PROMETHEUS_TOKEN", "bench-token-123456")
        base: dict[str, list[float]] = {n: [] for n in NOTEBOOKS}
        steps: dict[str, list[dict[str, float]]] = {n: [] for n in NOTEBOOKS}
        for _ in range(args.rounds):
            for name, params in NOTEBOOKS.items():
                base[name].append(_baseline(name, params, tmp))
                steps[name].append(_runner(name, params, tmp / "out"))
        load = os.getloadavg()
        print(f"rounds: {args.rounds}; load average at the end: "
              f"{load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; python {sys.version.split()[0]}")
        print("| notebook | papermill alone | runner total | prepare | execute | publish | "
              "runner / papermill |")
        print("|---|---|---|---|---|---|---|")
        for name in NOTEBOOKS:
            med = {k: statistics.median(s[k] for s in steps[name])
                   for k in ("prepare", "execute", "publish", "total")}
            b = statistics.median(base[name])
            print(f"| {name} | {b:.2f} s | {med['total']:.2f} s | {med['prepare']:.2f} s | "
                  f"{med['execute']:.2f} s | {med['publish']:.2f} s | {med['total'] / b:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
