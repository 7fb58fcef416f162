"""Errors specific to the Prometheus source, placed in the suite's one hierarchy::

    SourceError
    ├── SourceUnreachable
    │   └── ResponseTruncated     the connection dropped mid-body (fewer bytes than
    │                             Content-Length); retried on read requests, then raised
    └── TooManySamples
        └── BudgetExceeded        a range query refused *before sending*: the estimate of
                                  requests or samples is over the budget

They live here (not in :mod:`tributary_analysis.errors`) because only this source raises
them; catching the parent classes keeps working.
"""

from __future__ import annotations

from typing import Any

from tributary_analysis.errors import SourceUnreachable, TooManySamples


class ResponseTruncated(SourceUnreachable):
    """The server (or a proxy) closed the connection before the whole body arrived."""


class BudgetExceeded(TooManySamples):
    """A range query would need more requests or samples than the budget allows.

    ``estimate`` holds the figures (``requests``, ``points``, ``series``, ``samples``).
    """

    def __init__(self, message: str, *, estimate: dict[str, Any] | None = None,
                 **ctx: Any) -> None:
        super().__init__(message, **ctx)
        self.estimate = dict(estimate or {})
