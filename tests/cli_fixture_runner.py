"""Run the real ``tributary`` CLI in a subprocess with a registry of fixture notebooks.

Usage: ``python tests/cli_fixture_runner.py SPECS_JSON report run ...`` where ``SPECS_JSON``
is ``[[name, notebook_path, {default parameters}], ...]``. Everything after it goes to
:func:`tributary_analysis.cli.main` unchanged; only ``default_registry`` is replaced.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tributary_analysis.reports import registry
from tributary_analysis.reports.registry import Registry, ReportSpec


def main() -> int:
    specs = json.loads(sys.argv[1])
    reg = Registry([ReportSpec(name=n, notebook=Path(p), parameters=params)
                    for n, p, params in specs])
    registry.default_registry = lambda *a, **k: reg  # type: ignore[assignment]
    from tributary_analysis.cli import main as cli_main

    return cli_main(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
