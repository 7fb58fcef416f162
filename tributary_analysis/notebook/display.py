"""What the sources said, shown once per page: the warning box and the sources line.

Every frame carries a :class:`~tributary_analysis.frames.meta.FrameMeta`; the notebook hands
the frames that fed each section to :func:`show_source_warnings`, and the page's one box —
placed at the top by :func:`~tributary_analysis.notebook.setup.setup` and updated in place
(a Jupyter display id) as later sections add to it — lists
:func:`~tributary_analysis.frames.meta.reader_notes` of all of them: server warnings and
infos, partial responses, shard failures, input records left out. Until something is
said the box is empty; it never reports "no warnings" section by section.

The box is a ``text/html`` output (escaped: notes can quote tenant ids) plus the
``application/vnd.tributary.warnings+json`` bundle the report header lifts out.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tributary_analysis.frames.meta import FrameMeta, meta_of, reader_notes
from tributary_analysis.reports.outputs import SOURCES_MIMETYPE, WARNINGS_MIMETYPE

__all__ = [
    "SOURCES_MIMETYPE", "WARNINGS_MIMETYPE", "PageNotes", "page_degraded", "page_notes",
    "reader_notes", "show_source_warnings", "show_sources", "start_page",
]


class PageNotes:
    """The notes of one page, and the display that shows them."""

    def __init__(self) -> None:
        self.notes: list[str] = []
        self.sources: list[str] = []
        #: a source answered only in part (partial response, failed shards)
        self.degraded = False
        self._handle: Any = None

    def start(self) -> None:
        """Reserve the box's place (an empty output) where the page begins."""
        from IPython.display import display

        self.notes, self.sources, self.degraded = [], [], False
        # empty HTML: nothing to see (a page or JupyterLab draws no box) until a note comes
        self._handle = display({"text/html": "", "text/plain": ""}, raw=True, display_id=True)

    def add(self, *items: object, source: str = "") -> list[str]:
        """Add the reader notes of ``items`` (frames, metadata records, sentences); update
        the box when something new was said. Returns the new notes."""
        for item in items:
            meta = item if isinstance(item, FrameMeta) else (
                meta_of(item) if hasattr(item, "attrs") else None)
            if meta is not None and (meta.partial or (meta.shards is not None
                                                      and meta.shards.failed)):
                self.degraded = True
        new = [n for n in reader_notes(*items) if n not in self.notes]
        if not new:
            return []
        self.notes += new
        if source and source not in self.sources:
            self.sources.append(source)
        self._show()
        return new

    def bundle(self) -> dict[str, Any]:
        """The box as a display bundle (HTML, text and the report header's JSON)."""
        lis = "".join(f"<li>{html.escape(n)}</li>" for n in self.notes)
        label = f" from {html.escape(', '.join(self.sources))}" if self.sources else ""
        box = ("<div class='tributary-warnings' style='border:2px solid #D55E00;"
               "background:#fff4ec;padding:8px 12px;border-radius:6px'>"
               f"<b>⚠ {len(self.notes)} note(s){label} about the data on this page</b>"
               f"<ul>{lis}</ul></div>")
        return {"text/html": box, "text/plain": "\n".join(f"⚠ {n}" for n in self.notes),
                WARNINGS_MIMETYPE: {"source": ", ".join(self.sources), "query": "",
                                    "warnings": list(self.notes)}}

    def _show(self) -> None:
        from IPython.display import display

        if self._handle is None:
            self._handle = display(self.bundle(), raw=True, display_id=True)
        else:
            self._handle.update(self.bundle(), raw=True)


_PAGE = PageNotes()


def start_page() -> PageNotes:
    """Begin a page: an empty box at this point of the notebook (``setup`` calls it)."""
    _PAGE.start()
    return _PAGE


def page_notes() -> list[str]:
    """Everything the page's box says so far."""
    return list(_PAGE.notes)


def page_degraded() -> bool:
    """Whether a source answered only in part for this page (its status is a warning)."""
    return _PAGE.degraded


def show_source_warnings(*items: object, source: str = "") -> None:
    """Add what the sources said about ``items`` (frames, :class:`FrameMeta` records,
    sentences) to the page's warning box.

    Returns nothing on purpose: it is often a cell's last line, and a returned list would
    be echoed into the report; :func:`page_notes` gives the list.
    """
    _PAGE.add(*items, source=source)


def show_sources(prometheus: Any = None, logs: Any = None,
                 other: Sequence[tuple[str, str]] = ()) -> None:
    """Record which sources fed the notebook (kind and URL; never credentials); ``other``
    adds ``(kind, where)`` pairs, e.g. a trace source and its description."""
    from IPython.display import display

    items = []
    if prometheus is not None:
        items.append({"kind": "prometheus", "url": str(getattr(prometheus, "url", ""))})
    if logs is not None:
        kind = str(getattr(logs, "kind", "logs"))
        files = list(getattr(logs, "files", []))
        where = getattr(logs, "url", None) or ", ".join(Path(f).name for f in files[:5]) + (
            f" (+{len(files) - 5} more)" if len(files) > 5 else "")
        pruned = int(getattr(logs, "pruned_files", 0) or 0)
        if pruned:
            where += f"; {pruned} dated file(s) outside the window not read"
        items.append({"kind": kind, "url": str(where)})
    items.extend({"kind": str(kind), "url": str(where)} for kind, where in other)
    if items:
        text = "\n".join(f"source: {i['kind']} {i['url']}" for i in items)
        display({SOURCES_MIMETYPE: items, "text/plain": text}, raw=True)
