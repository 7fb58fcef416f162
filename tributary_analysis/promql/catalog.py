"""The standard PromQL of the Tributary service, as functions returning query strings.

Names and labels come from :mod:`tributary_analysis.seed`; every optional filter (tenant,
endpoint, search type, ...) goes through :func:`tributary_analysis.promql.selector`, so an
untrusted tenant id selects exactly that tenant or nothing.

Two corrections to the seed's own dashboards/alerts, on purpose:

* business gauges (``datasets_total``, ``vectors_total``) are reported identically by every
  replica, so they aggregate with ``max by (tenant_id)`` (``sum`` would multiply them by the
  replica count);
* memory saturation divides ``used`` by ``total`` with ``ignoring(memory_type)``; the seed's
  alert divides two series whose ``memory_type`` differs, which matches nothing.

Examples
--------
>>> request_rate(by=("endpoint",), tenant="acme")
'sum by (endpoint) (rate(http_requests_total{tenant_id="acme"}[5m]))'
>>> latency_quantile(0.95, by=("endpoint",))
'histogram_quantile(0.95, sum by (le, endpoint) (rate(http_request_duration_seconds_bucket[5m])))'
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

from tributary_analysis.errors import DataError
from tributary_analysis.ground.time import DurationLike, format_duration
from tributary_analysis.promql import (
    LabelSpec,
    Matcher,
    check_label_name,
    check_metric_name,
    selector,
)
from tributary_analysis.seed import FAMILIES_BY_NAME, JOB, METRIC_FAMILIES, MetricFamily

#: a range-vector duration: ``"5m"``, ``"1h30m"``, ``"1.5h"``, seconds or a Timedelta — read
#: by :func:`tributary_analysis.ground.time.parse_duration`, written in PromQL notation
Range = DurationLike
Filter = LabelSpec | None

__all__ = [
    "METRIC_FAMILIES",
    "active_connections",
    "alerts_evaluated",
    "alerts_firing",
    "build_info_timestamps",
    "cache_hit_ratio",
    "datasets_by_tenant",
    "error_ratio",
    "errors_rate",
    "family",
    "latency_buckets",
    "latency_quantile",
    "mean_latency",
    "memory_bytes",
    "memory_utilization",
    "rate_limit_hits",
    "request_counter_sum",
    "request_rate",
    "search_latency_buckets",
    "search_latency_quantile",
    "search_rate",
    "series_named",
    "tenant_requests",
    "up",
    "vector_error_ratio",
    "vector_ops_rate",
    "vectors_by_tenant",
]


def family(name: str) -> MetricFamily:
    """The seed's metric family ``name`` (raises DataError listing the known ones)."""
    try:
        return FAMILIES_BY_NAME[name]
    except KeyError:
        raise DataError(f"unknown metric family {name!r}; known: "
                        + ", ".join(sorted(FAMILIES_BY_NAME))) from None


def _w(window: Range) -> str:
    return format_duration(window)


def _by(labels: Iterable[str], extra: Sequence[str] = ()) -> str:
    names = [*extra, *labels]
    for n in names:
        check_label_name(n)
    return f"sum by ({', '.join(names)}) " if names else "sum "


def _sel(metric: str, extra: Sequence[Matcher] = (), **filters: Filter) -> str:
    # label filters only (the catalog never passes selector()'s own ``dialect`` keyword)
    return selector(metric, *extra, **filters)  # type: ignore[arg-type]


def request_rate(window: Range = "5m", by: Sequence[str] = (), *, tenant: Filter = None,
                 endpoint: Filter = None, method: Filter = None,
                 status_code: Filter = None) -> str:
    """Requests per second, ``sum by (by) (rate(http_requests_total[window]))``."""
    sel = _sel("http_requests_total", tenant_id=tenant, endpoint=endpoint, method=method,
               status_code=status_code)
    return f"{_by(by)}(rate({sel}[{_w(window)}]))"


def error_ratio(window: Range = "5m", by: Sequence[str] = (), *, tenant: Filter = None,
                endpoint: Filter = None) -> str:
    """Share of requests answered 5xx (0..1), per ``by`` group."""
    err = _sel("http_requests_total", [Matcher("status_code", "=~", "5..")],
               tenant_id=tenant, endpoint=endpoint)
    allr = _sel("http_requests_total", tenant_id=tenant, endpoint=endpoint)
    w = _w(window)
    return f"{_by(by)}(rate({err}[{w}])) / {_by(by)}(rate({allr}[{w}]))"


def latency_buckets(window: Range = "5m", by: Sequence[str] = (), *, tenant: Filter = None,
                    endpoint: Filter = None, method: Filter = None) -> str:
    """Bucket rates of HTTP latency, ``sum by (le, by)``: input for client-side quantiles."""
    sel = _sel("http_request_duration_seconds_bucket", tenant_id=tenant, endpoint=endpoint,
               method=method)
    return f"{_by(by, ('le',))}(rate({sel}[{_w(window)}]))"


def latency_quantile(q: float, window: Range = "5m", by: Sequence[str] = (), *,
                     tenant: Filter = None, endpoint: Filter = None,
                     method: Filter = None) -> str:
    """HTTP latency quantile ``q`` (seconds) by endpoint/tenant/..."""
    _check_q(q)
    inner = latency_buckets(window, by, tenant=tenant, endpoint=endpoint, method=method)
    return f"histogram_quantile({q!r}, {inner})"


def search_latency_buckets(window: Range = "5m", by: Sequence[str] = ("search_type",), *,
                           tenant: Filter = None, search_type: Filter = None,
                           dataset: Filter = None) -> str:
    """Bucket rates of search latency, ``sum by (le, by)``."""
    sel = _sel("search_latency_seconds_bucket", tenant_id=tenant, search_type=search_type,
               dataset_id=dataset)
    return f"{_by(by, ('le',))}(rate({sel}[{_w(window)}]))"


def search_latency_quantile(q: float, window: Range = "5m",
                            by: Sequence[str] = ("search_type",), *, tenant: Filter = None,
                            search_type: Filter = None, dataset: Filter = None) -> str:
    """Search latency quantile ``q`` by search type (the seed's SlowSearchQueries rule)."""
    _check_q(q)
    inner = search_latency_buckets(window, by, tenant=tenant, search_type=search_type,
                                   dataset=dataset)
    return f"histogram_quantile({q!r}, {inner})"


def search_rate(window: Range = "5m", by: Sequence[str] = ("search_type",), *,
                tenant: Filter = None, dataset: Filter = None) -> str:
    """Searches per second."""
    sel = _sel("search_operations_total", tenant_id=tenant, dataset_id=dataset)
    return f"{_by(by)}(rate({sel}[{_w(window)}]))"


def vector_ops_rate(window: Range = "5m", by: Sequence[str] = ("operation",), *,
                    tenant: Filter = None, dataset: Filter = None) -> str:
    """Vector operations per second."""
    sel = _sel("vector_operations_total", tenant_id=tenant, dataset_id=dataset)
    return f"{_by(by)}(rate({sel}[{_w(window)}]))"


def tenant_requests(window: Range = "1d", *, tenant: Filter = None,
                    by: Sequence[str] = ()) -> str:
    """Requests per tenant (and ``by`` labels, e.g. ``status_code``) over ``window``
    (``increase``): evaluated at a window's end, the window's totals per tenant."""
    sel = _sel("http_requests_total", tenant_id=tenant)
    return f"{_by(by, ('tenant_id',))}(increase({sel}[{_w(window)}]))"


def request_counter_sum() -> str:
    """The request counter summed over every series, ``sum(http_requests_total)``: it has
    a sample wherever traffic was scraped, so it tells which stretches of history exist
    (the daily report chooses its baseline from it)."""
    return "sum(http_requests_total)"


def mean_latency(window: Range = "5m", by: Sequence[str] = ("tenant_id",), *,
                 tenant: Filter = None, endpoint: Filter = None) -> str:
    """Mean HTTP latency in seconds (``_sum / _count``) per ``by`` group: more sensitive
    to a broad slowdown than a quantile interpolated inside coarse buckets."""
    w = _w(window)
    total = _sel("http_request_duration_seconds_sum", tenant_id=tenant, endpoint=endpoint)
    count = _sel("http_request_duration_seconds_count", tenant_id=tenant, endpoint=endpoint)
    return f"{_by(by)}(rate({total}[{w}])) / {_by(by)}(rate({count}[{w}]))"


def build_info_timestamps() -> str:
    """``timestamp(deeplake_api_info)``: one series per replica and version, with a sample
    at every scrape of it — deploys show as a version's series starting."""
    return "timestamp(deeplake_api_info)"


def memory_bytes(memory_type: Literal["used", "total"] | str,
                 by: Sequence[str] = ("instance",)) -> str:
    """Memory of one ``memory_type`` in bytes, ``max`` per ``by`` group (per replica)."""
    for n in by:
        check_label_name(n)
    sel = selector("memory_usage_bytes", memory_type=memory_type)
    return f"max by ({', '.join(by)}) ({sel})" if by else f"max ({sel})"


def series_named(metric: str) -> str:
    """``{__name__="metric"}``: the selector the series API takes to count a metric's
    series (the alert review checks that a rule's metrics exist)."""
    return selector(None, Matcher.eq("__name__", check_metric_name(metric)))


def datasets_by_tenant(*, tenant: Filter = None) -> str:
    """Datasets per tenant: ``max`` over replicas (each reports the same gauge)."""
    return f"max by (tenant_id) ({_sel('datasets_total', tenant_id=tenant)})"


def vectors_by_tenant(*, tenant: Filter = None) -> str:
    """Vectors per tenant: max over replicas per dataset, then summed over datasets."""
    sel = _sel("vectors_total", tenant_id=tenant)
    return f"sum by (tenant_id) (max by (tenant_id, dataset_id) ({sel}))"


def cache_hit_ratio(by: Sequence[str] = ("cache_type",), *, tenant: Filter = None) -> str:
    """The service's ``cache_hit_ratio`` gauge, averaged over replicas per ``by`` group."""
    for n in by:
        check_label_name(n)
    sel = _sel("cache_hit_ratio", tenant_id=tenant)
    return f"avg by ({', '.join(by)}) ({sel})" if by else f"avg ({sel})"


def rate_limit_hits(window: Range = "5m", by: Sequence[str] = ("tenant_id", "limit_type"), *,
                    tenant: Filter = None, limit_type: Filter = None) -> str:
    """Rate-limit rejections per second."""
    sel = _sel("rate_limit_hits_total", tenant_id=tenant, limit_type=limit_type)
    return f"{_by(by)}(rate({sel}[{_w(window)}]))"


def errors_rate(window: Range = "5m", by: Sequence[str] = ("error_type",), *,
                tenant: Filter = None, error_type: Filter = None) -> str:
    """Application errors per second (``errors_total``)."""
    sel = _sel("errors_total", tenant_id=tenant, error_type=error_type)
    return f"{_by(by)}(rate({sel}[{_w(window)}]))"


def vector_error_ratio(window: Range = "5m", *, tenant: Filter = None) -> str:
    """Vector errors per vector operation, per tenant (the seed's HighVectorErrorRate)."""
    err = _sel("errors_total", tenant_id=tenant, error_type="vector")
    ops = _sel("vector_operations_total", tenant_id=tenant)
    w = _w(window)
    return (f"sum by (tenant_id) (rate({err}[{w}])) / "
            f"sum by (tenant_id) (rate({ops}[{w}]))")


def memory_utilization(by: Sequence[str] = ("instance",)) -> str:
    """Used / total memory (0..1) per instance."""
    used = selector("memory_usage_bytes", memory_type="used")
    total = selector("memory_usage_bytes", memory_type="total")
    return f"{_by(by)}({used}) / ignoring(memory_type) {_by(by)}({total})" if by else \
        f"sum({used}) / sum({total})"


def active_connections(by: Sequence[str] = ("instance",)) -> str:
    """Active database connections per instance (saturation; the seed alerts above 80)."""
    return f"{_by(by)}(active_connections)" if by else "sum(active_connections)"


def up(job: str = JOB) -> str:
    """Scrape health of the service's targets (1 up, 0 down)."""
    return selector("up", job=job)


def replicas_max(sel: str, replica_labels: Iterable[str]) -> str:
    """``max without (instance) (sel)``: one copy of a gauge every replica reports (the
    dashboard review's corrected query for a ``sum`` over such a gauge).

    Examples
    --------
    >>> replicas_max('datasets_total{job="x"}', ["instance"])
    'max without (instance) (datasets_total{job="x"})'
    """
    labels = [check_label_name(n) for n in replica_labels]
    return f"max without ({', '.join(labels)}) ({sel})"


def replica_probe(sel: str, replica_labels: Sequence[str]) -> dict[str, str]:
    """Instant queries that tell whether ``sel``'s copies across replicas are one gauge
    reported several times: ``total`` series, label ``groups`` once the replica labels are
    removed, groups whose copies ``differ``, groups with a ``nonzero`` value."""
    labels = [check_label_name(n) for n in replica_labels]
    wo = f"without ({', '.join(labels)})"
    high, low = f"max {wo} ({sel})", f"min {wo} ({sel})"
    return {"total": f"count({sel})", "groups": f"count(count {wo} ({sel}))",
            "differing": f"count(({high}) != ({low}))", "nonzero": f"count(({high}) != 0)"}


def _check_q(q: float) -> None:
    if not 0 <= q <= 1:
        raise DataError(f"quantile {q!r} must be between 0 and 1 (e.g. 0.95)")


def alerts_firing() -> str:
    """Prometheus's own record of its firing alerts (written by its rule manager at every
    evaluation; one series per alert, labels as sent to Alertmanager)."""
    return selector("ALERTS", alertstate="firing")


def alerts_evaluated() -> str:
    """How many alerts (pending or firing) the server's rule manager recorded: its first
    sample in a window tells since when the server evaluated the rules there."""
    return f"count({selector('ALERTS')})"
