"""Kernel launcher for report runs: ``ipykernel_launcher`` that dies with its worker.

The kernelspec (:mod:`.kernel`) starts ``python -m tributary_analysis.reports._kernel -f
CONNECTION_FILE``. jupyter_client puts the kernel in a session of its own, so the worker's
process group does not reach it; here the kernel arms :mod:`._lifeline` and, when the worker
is gone, kills its whole process group (itself and anything a cell started).
"""

from __future__ import annotations

import contextlib
import os
import runpy
import signal
import sys


def _kill_group() -> None:
    with contextlib.suppress(OSError):
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os._exit(137)


def main() -> None:
    from tributary_analysis.reports._lifeline import die_with_parent

    if os.getpgrp() == os.getpid():  # our own group: safe to kill it whole
        die_with_parent(_kill_group)
    else:
        die_with_parent(lambda: os._exit(137))
    sys.argv = ["ipykernel_launcher", *sys.argv[1:]]
    runpy.run_module("ipykernel_launcher", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
