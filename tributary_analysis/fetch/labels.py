"""Which label values exist: what a report names when a filter selects nothing.

A report for an endpoint or tenant with no data in its window says so and lists the closest
known values (:func:`tributary_analysis.analysis.names.closest`); this is where the known
values come from — one label-values request over the window and the week before it.
"""

from __future__ import annotations

import pandas as pd

from tributary_analysis.fetch.prometheus import MetricsSource
from tributary_analysis.ground.time import Window
from tributary_analysis.promql import catalog as queries

__all__ = ["known_values"]

#: how far before the window a value still counts as known
LOOKBACK = pd.Timedelta(days=7)


def known_values(source: MetricsSource, label: str, window: Window) -> list[str]:
    """Values of ``label`` on the request counter in ``window`` and the week before it,
    sorted (empty when the source cannot list them)."""
    values = source.label_values(label, match=queries.series_named("http_requests_total"),
                                 start=window.start - LOOKBACK, end=window.end)
    return sorted({str(v) for v in values if str(v)})
