"""Per-tenant usage histories: one ``by (tenant_id)`` query per measure, all tenants at once.

Counters (requests, searches, vector operations, rate-limit hits) come as counts per bin;
gauges (datasets, vectors, cache hit ratio) as sampled values — datasets and vectors are
reported identically by every replica, so the catalog combines them with ``max``.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tributary_analysis.fetch.prometheus import MetricsSource, count_frame, range_frame
from tributary_analysis.ground.time import DurationLike, Window, parse_step
from tributary_analysis.promql import LabelSpec
from tributary_analysis.promql import catalog as queries

__all__ = ["TenantUsageData", "tenant_usage_data"]

_BY = ("tenant_id",)


@dataclass(frozen=True)
class TenantUsageData:
    """What the tenant-usage analyses take, per tenant and bin (keyword names of
    :func:`tributary_analysis.analysis.tenants.tenant_usage`)."""

    requests: pd.DataFrame
    searches: pd.DataFrame
    vector_ops: pd.DataFrame
    rate_limit_hits: pd.DataFrame
    datasets: pd.DataFrame
    vectors: pd.DataFrame
    cache_hit_ratio: pd.DataFrame

    def frames(self) -> list[pd.DataFrame]:
        """Every frame, for the page's warning box."""
        return [self.requests, self.searches, self.vector_ops, self.rate_limit_hits,
                self.datasets, self.vectors, self.cache_hit_ratio]

    def as_kwargs(self) -> dict[str, pd.DataFrame]:
        """``tenant_usage(**data.as_kwargs())``."""
        return {"requests": self.requests, "searches": self.searches,
                "vector_ops": self.vector_ops, "rate_limit_hits": self.rate_limit_hits,
                "datasets": self.datasets, "vectors": self.vectors,
                "cache_hit_ratio": self.cache_hit_ratio}


def tenant_usage_data(source: MetricsSource, window: Window, step: DurationLike, *,
                      tenant: LabelSpec | None = None) -> TenantUsageData:
    """Every usage measure per tenant over ``window`` every ``step``.

    An empty result (e.g. no tenant ever hit a rate limit) still has a ``tenant_id``
    column, so "none" is zero rows, not a malformed frame.
    """
    st = parse_step(step)

    def counts(expr: str) -> pd.DataFrame:
        return count_frame(source, expr, window, st, labels=_BY)

    def gauge(expr: str) -> pd.DataFrame:
        return range_frame(source, expr, window, st, labels=_BY)

    return TenantUsageData(
        requests=counts(queries.request_rate(window=st, by=_BY, tenant=tenant)),
        searches=counts(queries.search_rate(window=st, by=_BY, tenant=tenant)),
        vector_ops=counts(queries.vector_ops_rate(window=st, by=_BY, tenant=tenant)),
        rate_limit_hits=counts(queries.rate_limit_hits(window=st, by=_BY, tenant=tenant)),
        datasets=gauge(queries.datasets_by_tenant(tenant=tenant)),
        vectors=gauge(queries.vectors_by_tenant(tenant=tenant)),
        cache_hit_ratio=gauge(queries.cache_hit_ratio(by=_BY, tenant=tenant)),
    )
