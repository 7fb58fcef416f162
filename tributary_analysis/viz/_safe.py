"""Untrusted text in figures.

Tenant ids, dataset ids and paths come from HTTP headers and URLs. plotly renders a subset
of HTML in titles, legends, ticks and hover labels (``<b>``, ``<br>``, ``<a href>``), so such
text is HTML-escaped before it becomes a trace name or label: ``<``, ``>`` and ``&`` — what
starts a tag or an entity. Quotes are left as they are: outside a tag they are inert, and
plotly's pseudo-HTML does not decode ``&quot;``, so an escaped quote would show literally.
Untrusted text is never interpolated into a ``hovertemplate`` string (where ``%{…}`` would
be interpreted): it travels in ``customdata`` and is referenced by index.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

MAX_LABEL = 60


def safe_text(value: object, max_len: int = MAX_LABEL) -> str:
    """Escape ``<``, ``>`` and ``&`` (not quotes: plotly would show ``&quot;`` literally),
    and shorten very long values with an ellipsis (a label, not data: tables show it whole).

    Examples
    --------
    >>> safe_text('say "hi" <b>')
    'say "hi" &lt;b&gt;'
    """
    text = "" if value is None else str(value)
    if len(text) > max_len:
        text = text[: max_len - 1] + "…"
    return html.escape(text, quote=False)


def safe_list(values: Iterable[object], max_len: int = MAX_LABEL) -> list[str]:
    return [safe_text(v, max_len) for v in values]
