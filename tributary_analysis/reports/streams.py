"""What the kernel wrote to stderr stays out of pages; local paths stay out of page text.

A cell's stderr carries warnings from libraries (a plotly ``FutureWarning`` once carried a
local path into a published report), progress bars and debug lines: text for whoever runs
the reports, not for the reader. :func:`take_stderr` moves every stderr stream out of the
notebook (it goes to ``run.log``, scrubbed), and :func:`strip_local_paths` shortens the
paths of this installation (virtualenv, site-packages, the checkout, the home directory) in
the tracebacks a failure page shows.
"""

from __future__ import annotations

import os
import re
import site
import sys
import sysconfig
from functools import cache
from pathlib import Path

from nbformat import NotebookNode


def take_stderr(nb: NotebookNode | None) -> list[tuple[int, str]]:
    """Remove stderr stream outputs from ``nb`` in place; returns ``(code cell, text)``."""
    if nb is None:
        return []
    taken: list[tuple[int, str]] = []
    code = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code += 1
        kept = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stderr":
                text = out.get("text", "")
                taken.append((code, "".join(text) if isinstance(text, list) else str(text)))
            else:
                kept.append(out)
        cell["outputs"] = kept
    return taken


def stderr_section(taken: list[tuple[int, str]]) -> str:
    """The kernel's stderr as a ``run.log`` section, cell by cell."""
    if not taken:
        return ""
    lines = ["", "---- kernel stderr (kept out of the page) ----"]
    for cell, text in taken:
        lines.append(f"[code cell {cell}]")
        lines.append(text.rstrip("\n"))
    return "\n".join(lines) + "\n"


@cache
def _local_prefixes() -> tuple[str, ...]:
    import tributary_analysis

    candidates = {
        *site.getsitepackages(), site.getusersitepackages(),
        sysconfig.get_paths()["purelib"], sysconfig.get_paths()["stdlib"],
        sys.prefix, sys.base_prefix, sys.exec_prefix,
        str(Path(tributary_analysis.__file__).resolve().parents[1]),
        os.path.expanduser("~"),
    }
    out = {str(Path(p).resolve()) for p in candidates if p and len(p) > 1} | {
        p for p in candidates if p and len(p) > 1}
    return tuple(sorted((p.rstrip("/") for p in out if p not in {"/", ""}), key=len,
                        reverse=True))


def strip_local_paths(text: str) -> str:
    """``text`` with this installation's directories shortened to ``…``.

    Examples
    --------
    >>> import plotly, os
    >>> strip_local_paths(f'File "{os.path.dirname(plotly.__file__)}/io/_renderers.py"')
    'File "…/plotly/io/_renderers.py"'
    """
    if not text:
        return text
    prefixes = _local_prefixes()
    pattern = re.compile("|".join(re.escape(p) + r"(?=/)" for p in prefixes))
    return pattern.sub("…", text)
