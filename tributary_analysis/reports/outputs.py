"""The convention by which a notebook tells its report what the sources said.

A notebook (through ``tributary_analysis.notebook``) displays a bundle with one of these
mimetypes; the exporter lifts them out of the body into the report header:

``application/vnd.tributary.warnings+json``
    ``{"source": "prometheus", "query": "...", "warnings": ["...", ...]}`` — or a list of
    such objects. ``warnings`` items may be strings or ``{"message": ...}`` objects. Server
    warnings, partial responses, dropped rows: everything the reader must know.
``application/vnd.tributary.sources+json``
    ``{"kind": "prometheus", "url": "http://..."}`` — or a list; which sources fed the report.

Both bundles also carry a ``text/plain`` fallback so JupyterLab shows them inline.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

WARNINGS_MIMETYPE = "application/vnd.tributary.warnings+json"
SOURCES_MIMETYPE = "application/vnd.tributary.sources+json"


def display_warnings(warnings: Iterable[str], *, source: str = "", query: str = "") -> None:
    """Show ``warnings`` in the notebook and hand them to the report header."""
    from IPython.display import display

    items = [str(w) for w in warnings]
    if not items:
        return
    payload = {"source": source, "query": query, "warnings": items}
    text = "\n".join(f"⚠ {source + ': ' if source else ''}{w}" for w in items)
    display({WARNINGS_MIMETYPE: payload, "text/plain": text}, raw=True)


def display_sources(sources: Iterable[Mapping[str, str]]) -> None:
    """Record which sources (kind and URL, never credentials) fed this notebook."""
    from IPython.display import display

    items = [{"kind": str(s.get("kind", "")), "url": str(s.get("url", ""))} for s in sources]
    if items:
        text = "\n".join(f"source: {s['kind']} {s['url']}" for s in items)
        display({SOURCES_MIMETYPE: items, "text/plain": text}, raw=True)


def normalize_warnings(payload: Any) -> list[dict[str, str]]:
    """Flatten any accepted warnings payload into ``[{"source", "query", "message"}]``."""
    items = payload if isinstance(payload, list) else [payload]
    out: list[dict[str, str]] = []
    for item in items:
        if isinstance(item, str):
            out.append({"source": "", "query": "", "message": item})
            continue
        if not isinstance(item, Mapping):
            out.append({"source": "", "query": "", "message": str(item)})
            continue
        source, query = str(item.get("source", "")), str(item.get("query", ""))
        warnings = item.get("warnings")
        if warnings is None and "message" in item:
            warnings = [item["message"]]
        for w in warnings if isinstance(warnings, list) else [warnings]:
            msg = w.get("message", str(w)) if isinstance(w, Mapping) else str(w)
            out.append({"source": source, "query": query, "message": str(msg)})
    return out


def normalize_sources(payload: Any) -> list[dict[str, str]]:
    """Flatten a sources payload into ``[{"kind", "url"}]``; URLs lose any userinfo and
    credential query parameters (:func:`~tributary_analysis.config.redact_url`)."""
    from tributary_analysis.config import redact_url

    items = payload if isinstance(payload, list) else [payload]
    return [
        {"kind": str(i.get("kind", "")), "url": redact_url(str(i.get("url", "")))}
        for i in items if isinstance(i, Mapping)
    ]
