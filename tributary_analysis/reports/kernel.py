"""The kernel reports run on: this very interpreter, whatever kernelspecs the machine has.

A stock ``python3`` kernelspec often says ``"python"`` and so runs whichever interpreter is
first on ``PATH`` — not necessarily the project's venv with ``tributary_analysis`` in it.
We write our own kernelspec pointing at :data:`sys.executable` into a private Jupyter data
directory and hand that directory to the worker through ``JUPYTER_PATH``. The kernel starts
through :mod:`._kernel`, which makes it (and whatever its cells start) die with the worker.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

KERNEL_NAME = "tributary-python3"


def ensure_kernelspec(data_dir: Path, python: str = sys.executable) -> tuple[str, Path]:
    """Write (or refresh) the kernelspec under ``data_dir/kernels``.

    Returns the kernel name and the directory to put on ``JUPYTER_PATH``.
    """
    spec_dir = data_dir / "kernels" / KERNEL_NAME
    spec = {
        "argv": [python, "-m", "tributary_analysis.reports._kernel", "-f", "{connection_file}"],
        "display_name": "Python 3 (tributary reports)",
        "language": "python",
        "metadata": {"debugger": False},
    }
    path = spec_dir / "kernel.json"
    text = json.dumps(spec, indent=1)
    if not path.exists() or path.read_text() != text:
        spec_dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".kernel.json.{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(text)
        os.replace(tmp, path)
    return KERNEL_NAME, data_dir
