"""Request and error events from the logs, filtered where the logs live.

Filters are terms (never query strings) so an untrusted tenant id matches that tenant or
nothing; the aggregation of top errors runs in DuckDB or Elasticsearch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from tributary_analysis.ground.time import Window

__all__ = ["REQUEST_EVENT", "REQUEST_FIELDS", "request_events", "top_errors"]

#: the event every request logs when it completes
REQUEST_EVENT = "HTTP request processed"
#: the columns of a request event the latency and error analyses use
REQUEST_FIELDS = ("timestamp", "request_id", "method", "path", "endpoint", "status_code",
                  "duration_s", "tenant_id")


def request_events(logs: Any, window: Window, *, tenants: Sequence[str] = (),
                   endpoint: str | None = None,
                   fields: Sequence[str] = REQUEST_FIELDS) -> pd.DataFrame:
    """Completed requests in ``window`` (one row each), optionally for some tenants and
    one endpoint; the frame's metadata says what the log source reported."""
    filters: dict[str, Any] = {"event": REQUEST_EVENT}
    if tenants:
        filters["tenant_id"] = list(tenants)
    if endpoint:
        filters["endpoint"] = endpoint
    return logs.search(window.start, window.end, filters=filters, fields=list(fields))


def top_errors(logs: Any, window: Window, *, tenants: Sequence[str] = (), k: int = 10
               ) -> pd.DataFrame:
    """The ``k`` most frequent error messages in ``window`` (aggregated by the source)."""
    filters = {"tenant_id": list(tenants)} if tenants else None
    return logs.top_errors(window.start, window.end, filters=filters, k=k)
