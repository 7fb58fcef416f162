"""Which tenants a window saw, and how busy each was: the report fan-out's questions.

``--tenant all`` asks :func:`list_tenants`; ``--top-tenants N`` asks :func:`rank_tenants`.
Both are one request each to the configured Prometheus (label values, one instant query of
:func:`tributary_analysis.promql.catalog.tenant_requests`), never one per tenant.
"""

from __future__ import annotations

from tributary_analysis.config import Settings, load_settings
from tributary_analysis.ground.time import Window
from tributary_analysis.promql import catalog
from tributary_analysis.seed import UNKNOWN_TENANT

__all__ = ["list_tenants", "rank_tenants"]

#: the series that names every tenant that sent a request
_REQUESTS = "http_requests_total"


def list_tenants(window: Window, settings: Settings | None = None) -> list[str]:
    """Tenants with any request in ``window``, sorted (Prometheus label values), without
    the health probes' pseudo-tenant ``unknown`` (``--tenant unknown`` still renders it).

    Parameters
    ----------
    window : Window
        The report window.
    settings : Settings, optional
        Default :func:`~tributary_analysis.config.load_settings`.
    """
    from tributary_analysis.sources.prometheus import PrometheusSource

    with PrometheusSource.from_settings(settings or load_settings()) as source:
        tenants = source.label_values("tenant_id", match=_REQUESTS, start=window.start,
                                      end=window.end)
    return sorted(str(t) for t in tenants if t and str(t) != UNKNOWN_TENANT)


def rank_tenants(window: Window, settings: Settings | None = None) -> list[str]:
    """Tenants by requests in ``window``, busiest first (ties by id), without ``unknown``;
    one instant query.

    Parameters
    ----------
    window : Window
        The report window; requests are counted with ``increase`` over its length, at its
        end.
    settings : Settings, optional
        Default :func:`~tributary_analysis.config.load_settings`.
    """
    from tributary_analysis.sources.prometheus import PrometheusSource

    expr = catalog.tenant_requests(window.duration)
    with PrometheusSource.from_settings(settings or load_settings()) as source:
        frame = source.query(expr, window.end)
    if frame.empty or "tenant_id" not in frame:
        return []
    frame = frame[~frame["tenant_id"].astype(str).isin(["", UNKNOWN_TENANT])]
    return frame.sort_values(["value", "tenant_id"], ascending=[False, True])[
        "tenant_id"].astype(str).tolist()
