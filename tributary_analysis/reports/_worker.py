"""Child process that executes one notebook with papermill and reports how it ended.

Run as ``python -m tributary_analysis.reports._worker SPEC.json`` by
:class:`~tributary_analysis.reports.execute.LocalExecutor` (one process per notebook); the
warm pool's long-lived workers (:mod:`._pool_worker`) call :func:`execute` for each job.
The parent enforces the whole-notebook timeout by terminating this process; on SIGTERM —
and when the parent dies, even by ``kill -9`` (:mod:`._lifeline`) — we kill the kernel's
process group (jupyter_client starts kernels in their own session, so killing our group
alone would orphan it) and exit.

The outcome is written to ``spec["result"]`` as JSON (the fields of
:class:`~tributary_analysis.reports.execute.WorkerOutcome`), taken from the exception
papermill raised — never inferred from notebook metadata.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _children(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux ``/proc``; empty elsewhere)."""
    out = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = entry.read_text()
        except OSError:
            continue
        # the command name may contain spaces/parens: fields follow the last ')'
        rest = stat.rsplit(")", 1)[-1].split()
        if len(rest) > 1 and rest[1] == str(pid):
            out.append(int(entry.parent.name))
    return out


def _kill_kernels_and_exit(code: int = 143) -> None:
    for child in _children(os.getpid()):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(os.getpgid(child), signal.SIGKILL)
    os._exit(code)


def _write(path: str, result: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as fh:
        json.dump(result, fh)
    os.replace(tmp, path)


def execute(spec: dict[str, Any], *, km: Any = None) -> dict[str, Any]:
    """Run papermill on ``spec`` and return the outcome (the fields of ``WorkerOutcome``).

    ``km`` is a kernel manager whose kernel is already started (a warm pool's pre-started
    kernel, :mod:`._pool_worker`); without it papermill starts and stops its own kernel.
    """
    import papermill
    from papermill.exceptions import PapermillExecutionError

    extra: dict[str, Any] = {"km": km} if km is not None else {}
    try:
        papermill.execute_notebook(
            spec["input"],
            spec["output"],
            parameters=spec["parameters"],
            kernel_name=spec["kernel_name"],
            request_save_on_cell_execute=True,
            progress_bar=False,
            log_output=False,
            cwd=spec.get("cwd"),
            start_timeout=spec.get("start_timeout", 60),
            execution_timeout=spec.get("cell_timeout"),
            **extra,
        )
        return {"status": "ok"}
    except PapermillExecutionError as exc:
        return {
            "status": "failed",
            "cell_index": exc.cell_index,
            "exec_count": exc.exec_count,
            "ename": exc.ename,
            "evalue": _ANSI.sub("", str(exc.evalue)),
            "traceback": [_ANSI.sub("", line) for line in exc.traceback or []],
            "source": exc.source,
        }
    except BaseException as exc:  # the kernel died, would not start, a cell timed out...
        return {
            "status": "failed",
            "cell_index": None,
            "exec_count": None,
            "ename": type(exc).__name__,
            "evalue": _ANSI.sub("", str(exc)),
            "traceback": traceback.format_exception(exc)[-20:],
            "source": "",
        }


def never_started(result: dict[str, Any], output: str) -> bool:
    """True for a failure before the notebook's first cell ran — the kernel would not start
    or died starting (a port another process took between jupyter_client choosing it and the
    kernel binding it, a start timeout on a loaded machine). Nothing of the notebook ran, so
    running it again repeats nothing: the callers retry such a run once."""
    if result["status"] != "failed" or result.get("cell_index") is not None:
        return False
    try:
        cells = json.loads(Path(output).read_text()).get("cells", [])
    except (OSError, ValueError):
        return True  # papermill had not written the notebook yet
    return all(c.get("execution_count") is None and not c.get("outputs")
               for c in cells if c.get("cell_type") == "code")


def retry_line(result: dict[str, Any], who: str) -> str:
    """The run log's line for a kernel start that is retried."""
    return (f"[{who}] the kernel ended before the first cell ran ({result['ename']}: "
            f"{result['evalue']}); starting another kernel")


def main(spec_path: str) -> int:
    from tributary_analysis.reports._lifeline import PARENT_ENV, die_with_parent

    die_with_parent(_kill_kernels_and_exit)
    os.environ[PARENT_ENV] = str(os.getpid())  # the kernel's parent is us
    spec = json.loads(Path(spec_path).read_text())
    result = execute(spec)
    if never_started(result, spec["output"]):
        print(retry_line(result, "report worker"), file=sys.stderr, flush=True)
        result = execute(spec)
    _write(spec["result"], result)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
