"""Fetch the capacity-planning histories, with the aggregation pushed into PromQL.

Business gauges are combined with ``max`` across replicas (then summed over datasets),
request rates with ``sum``; memory and connections stay per replica. The result is an
:class:`~tributary_analysis.analysis.capacity.CapacityData` for the pure planning code.
"""

from __future__ import annotations

import pandas as pd

from tributary_analysis.analysis.capacity import CapacityData, to_series
from tributary_analysis.errors import DataError
from tributary_analysis.fetch.prometheus import MetricsSource, range_frame
from tributary_analysis.frames.meta import merge_meta, meta_of, reader_notes
from tributary_analysis.ground.time import DurationLike, TimeLike, Window, parse_step
from tributary_analysis.promql import catalog as queries

__all__ = ["fetch_capacity"]


def fetch_capacity(source: MetricsSource, start: TimeLike, end: TimeLike, *,
                   step: DurationLike = "5m", rate_window: DurationLike = "5m"
                   ) -> CapacityData:
    """Request rates (total and per tenant), vectors and datasets per tenant, memory used
    and its limit and database connections per replica, over ``[start, end]``.

    Raises
    ------
    DataError
        No request-rate data at all in the window (nothing to plan from).
    """
    window = Window.of(start, end)
    st = parse_step(step)
    frames: list[pd.DataFrame] = []

    def pull(expr: str) -> pd.DataFrame:
        df = range_frame(source, expr, window, st)
        frames.append(df)
        return df

    def wide(df: pd.DataFrame, by: str | None) -> pd.DataFrame:
        if df.empty:
            return pd.DataFrame(index=pd.DatetimeIndex([], tz="UTC"))
        return to_series(df, by=by, across="max")

    rr = pull(queries.request_rate(rate_window))
    rr_t = pull(queries.request_rate(rate_window, by=("tenant_id",)))
    vec = pull(queries.vectors_by_tenant())
    ds = pull(queries.datasets_by_tenant())
    mem_used = pull(queries.memory_bytes("used"))
    mem_total = pull(queries.memory_bytes("total"))
    conns = pull(queries.active_connections())
    if rr.empty:
        raise DataError(f"no request-rate data in {window.describe()}: check the window "
                        "and that http_requests_total is scraped")
    limit = (to_series(mem_total, by="instance").max() if not mem_total.empty
             else pd.Series(dtype=float))
    return CapacityData(
        request_rate=wide(rr, None), request_rate_by_tenant=wide(rr_t, "tenant_id"),
        vectors_by_tenant=wide(vec, "tenant_id"), datasets_by_tenant=wide(ds, "tenant_id"),
        memory_used=wide(mem_used, "instance"), memory_limit=limit,
        connections=wide(conns, "instance"), step=st, warnings=reader_notes(*frames),
        meta=merge_meta(*(meta_of(f) for f in frames)))
