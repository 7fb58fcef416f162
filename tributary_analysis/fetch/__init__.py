"""The fetch layer: the only code that calls a server on behalf of an analysis.

Analyses are pure (:mod:`tributary_analysis.analysis`); notebooks and reports ask this layer
for the frames an analysis needs, with the aggregation pushed down to the server (PromQL
from :mod:`tributary_analysis.promql.catalog`, log filters and aggregations in DuckDB or
Elasticsearch) and batched (all tenants in one ``by (tenant_id)`` query, split in the
client). Every frame keeps the source's
:class:`~tributary_analysis.frames.meta.FrameMeta`, so what a server said reaches the page.

A notebook reads *fetch → analyze → show*::

    from tributary_analysis import fetch
    prom = fetch.open_prometheus(url)
    req = fetch.requests_per_bin(prom, window, step, by=("endpoint", "status_code"))

Modules, by job:

* :mod:`.sources` — open Prometheus and the logs;
* :mod:`.prometheus` — range and instant queries in the analyses' shapes;
* :mod:`.requests` — requests and errors per bin, per episode, tenant totals;
* :mod:`.latency` — latency histograms, mean latency, the build-info series;
* :mod:`.logs` — request events and top errors from the logs;
* :mod:`.labels` — which label values exist (the closest ones to a filter that matched
  nothing);
* :mod:`.usage` — per-tenant usage histories;
* :mod:`.daily` — golden signals, traffic history and SLO histories of the daily summary;
* :mod:`.slo` — the one SLO history every report that shows an SLO reads;
* :mod:`.alerts` — rules evaluated and replayed (alert review);
* :mod:`.capacity` — capacity-planning histories.
"""

from __future__ import annotations

from tributary_analysis.fetch.alerts import (
    RuleReview,
    VariantBacktests,
    backtest_rules,
    default_incidents_file,
    load_incidents,
    metric_presence,
    threshold_variants,
)
from tributary_analysis.fetch.capacity import fetch_capacity
from tributary_analysis.fetch.daily import (
    GoldenSignalData,
    budget_requests,
    burn_requests,
    golden_signal_data,
    traffic_history,
)
from tributary_analysis.fetch.labels import known_values
from tributary_analysis.fetch.latency import (
    build_info,
    latency_buckets,
    mean_latency,
    search_latency_buckets,
)
from tributary_analysis.fetch.logs import REQUEST_FIELDS, request_events, top_errors
from tributary_analysis.fetch.prometheus import (
    MetricsSource,
    count_frame,
    instant_frame,
    range_frame,
    rates_to_counts,
)
from tributary_analysis.fetch.requests import (
    episode_requests,
    errors_per_bin,
    requests_per_bin,
    tenant_totals,
)
from tributary_analysis.fetch.slo import slo_requests
from tributary_analysis.fetch.sources import LOG_SOURCES, open_logs, open_prometheus
from tributary_analysis.fetch.usage import TenantUsageData, tenant_usage_data

__all__ = [
    "LOG_SOURCES",
    "REQUEST_FIELDS",
    "GoldenSignalData",
    "MetricsSource",
    "RuleReview",
    "TenantUsageData",
    "VariantBacktests",
    "backtest_rules",
    "budget_requests",
    "build_info",
    "burn_requests",
    "count_frame",
    "default_incidents_file",
    "episode_requests",
    "errors_per_bin",
    "fetch_capacity",
    "golden_signal_data",
    "instant_frame",
    "known_values",
    "latency_buckets",
    "load_incidents",
    "mean_latency",
    "metric_presence",
    "open_logs",
    "open_prometheus",
    "range_frame",
    "rates_to_counts",
    "request_events",
    "requests_per_bin",
    "search_latency_buckets",
    "slo_requests",
    "tenant_totals",
    "tenant_usage_data",
    "threshold_variants",
    "top_errors",
    "traffic_history",
]
