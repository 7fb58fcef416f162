"""A kernel that ends before the notebook's first cell runs is started again, once.

On a loaded machine a kernel can die while it starts — a port another process took between
jupyter_client choosing it and the kernel binding it ends the kernel with "Address already
in use" before it answers ``kernel_info`` (a CI run's pool batch failed so). Nothing of the
notebook ran, so both executors start another kernel and run it; the run log says so.

The kernel here is real: a kernelspec whose launcher exits at its first start (as a kernel
that cannot bind its port does) and starts the report kernel after that. A kernel that dies
*after* a cell ran is not retried: the notebook's own failure is the answer.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from tributary_analysis.reports import workarea
from tributary_analysis.reports.execute import ExecutionJob, ExecutionResult, LocalExecutor
from tributary_analysis.reports.pool import PoolExecutor

pytestmark = pytest.mark.slow

KERNEL = "tributary-flaky-start"

#: exits at the first start (as a kernel whose port was taken does); the report kernel after
LAUNCHER = """\
import os, sys
marker = sys.argv.pop(1)
if not os.path.exists(marker):
    open(marker, "w").close()
    print("flaky kernel: address already in use (first start)", file=sys.stderr, flush=True)
    sys.exit(1)
from tributary_analysis.reports import _kernel
_kernel.main()
"""


def _kernelspec(root: Path, marker: Path) -> Path:
    """A Jupyter data directory holding the flaky kernelspec."""
    launcher = root / "flaky_launcher.py"
    launcher.write_text(LAUNCHER)
    spec_dir = root / "jupyter" / "kernels" / KERNEL
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, str(launcher), str(marker), "-f", "{connection_file}"],
        "display_name": "flaky start", "language": "python"}))
    return root / "jupyter"


def _notebook(root: Path, source: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 6 * 7"), nbformat.v4.new_code_cell(source)]
    nb.metadata["kernelspec"] = {"name": KERNEL, "language": "python", "display_name": "f"}
    path = root / "nb.ipynb"
    nbformat.write(nb, path)
    return path


def _run(executor: str, root: Path, source: str = "print('answer', x)"
         ) -> tuple[ExecutionResult, Path]:
    marker = root / "started-once"
    jupyter = _kernelspec(root, marker)
    job = ExecutionJob("flaky-1", str(_notebook(root, source)), {}, KERNEL, str(root),
                       timeout=300.0, start_timeout=60.0,
                       env={"JUPYTER_PATH": str(jupyter)})
    with workarea.session(root / "work", root / "out") as session:
        if executor == "local":
            return LocalExecutor(session).execute(job), marker
        with PoolExecutor(session, size=1, expected_jobs=1) as pool:
            return pool.execute(job), marker


@pytest.mark.parametrize("executor", ["local", "pool"])
def test_a_kernel_that_dies_starting_is_started_again(executor: str, tmp_path: Path) -> None:
    result, marker = _run(executor, tmp_path)
    log = result.log.decode()
    assert marker.exists()  # the first kernel did start, and died
    assert "flaky kernel: address already in use (first start)" in log
    assert "the kernel ended before the first cell ran" in log
    assert log.count("starting another kernel") == 1
    assert result.outcome is not None and result.outcome.status == "ok", log
    assert result.notebook is not None
    outputs = nbformat.reads(result.notebook.decode(), as_version=4).cells[1].outputs
    assert [o.get("text") for o in outputs] == ["answer 42\n"]


@pytest.mark.parametrize("executor", ["local", "pool"])
def test_a_kernel_that_dies_in_a_cell_is_not_run_again(executor: str, tmp_path: Path) -> None:
    (tmp_path / "started-once").touch()  # the kernel starts at once
    result, _ = _run(executor, tmp_path, "import os; os._exit(3)")
    log = result.log.decode()
    assert "starting another kernel" not in log
    assert result.outcome is not None and result.outcome.status == "failed"
    assert result.outcome.cell_index is None  # the kernel died, no cell raised
