"""The stack state file ``$TRIBUTARY_HOME/stack.json``: URLs and PIDs, never secrets.

:func:`tributary_analysis.config.load_settings` reads ``prometheus.url``,
``elasticsearch.url`` and ``logs.files`` from it as defaults, so a notebook finds the demo
stack without configuration.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tributary_analysis.config import read_stack_state

STATE_VERSION = 1


def state_path(home: Path) -> Path:
    """Where the state file of the stack for ``home`` lives."""
    return home / "stack.json"


def read_state(home: Path) -> dict[str, Any]:
    """The state, ``{}`` when no stack was started (raises ConfigError when corrupt)."""
    return read_stack_state(home)


def write_state(home: Path, state: dict[str, Any]) -> Path:
    """Write the state atomically (a reader never sees half a file)."""
    home.mkdir(parents=True, exist_ok=True)
    path = state_path(home)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps({"version": STATE_VERSION, **state}, indent=2, default=str))
    os.replace(tmp, path)
    return path


def clear_state(home: Path) -> None:
    """Remove the state file (after ``down``)."""
    path = state_path(home)
    if path.exists():
        path.unlink()
