"""What the Tributary service emits, taken exactly from the seed's monitoring guide.

The metric families mirror ``DeepLakeMetrics`` (names, label sets, histogram buckets) and
:func:`normalize_endpoint` mirrors ``MetricsMiddleware.normalize_endpoint``. Everything else in
the package (simulator, query catalog, log normalisation) reads these definitions instead of
repeating names, so a change in the service is a change in one place.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

MetricType = Literal["counter", "gauge", "histogram", "info"]


@dataclass(frozen=True)
class MetricFamily:
    """One metric family as the service's ``prometheus_client`` registers it."""

    name: str
    type: MetricType
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...] = ()

    @property
    def sample_names(self) -> tuple[str, ...]:
        """Names of the time series Prometheus stores for this family."""
        if self.type == "counter":
            return (f"{self.name}_total" if not self.name.endswith("_total") else self.name,)
        if self.type == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        if self.type == "info":
            return (f"{self.name}",)
        return (self.name,)

    @property
    def le_values(self) -> tuple[str, ...]:
        """The ``le`` label values, formatted as the Python client writes them."""
        return (*(format_le(b) for b in self.buckets), "+Inf")


def format_le(bound: float) -> str:
    """Format a bucket bound like ``prometheus_client`` (Go-style: ``1.0``, ``0.05``, ``+Inf``)."""
    if math.isinf(bound):
        return "+Inf" if bound > 0 else "-Inf"
    text = repr(float(bound))
    if "e" in text:  # prometheus_client keeps Go's exponent form; our buckets never need it
        mantissa, exponent = text.split("e")
        text = f"{mantissa}e{int(exponent):+03d}"
    return text


METRIC_FAMILIES: tuple[MetricFamily, ...] = (
    MetricFamily("http_requests_total", "counter", "Total HTTP requests",
                 ("method", "endpoint", "status_code", "tenant_id")),
    MetricFamily("http_request_duration_seconds", "histogram", "HTTP request duration",
                 ("method", "endpoint", "tenant_id"),
                 (0.01, 0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0)),
    MetricFamily("datasets_total", "gauge", "Total number of datasets", ("tenant_id",)),
    MetricFamily("vectors_total", "gauge", "Total number of vectors", ("dataset_id", "tenant_id")),
    MetricFamily("search_operations_total", "counter", "Total search operations",
                 ("search_type", "dataset_id", "tenant_id")),
    MetricFamily("search_latency_seconds", "histogram", "Search operation latency",
                 ("search_type", "dataset_id", "tenant_id"),
                 (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0)),
    MetricFamily("vector_operations_total", "counter", "Total vector operations",
                 ("operation", "dataset_id", "tenant_id")),
    MetricFamily("vector_batch_size", "histogram", "Vector batch operation size",
                 ("operation", "dataset_id", "tenant_id"),
                 (1, 10, 50, 100, 500, 1000, 5000)),
    MetricFamily("cache_operations_total", "counter", "Total cache operations",
                 ("operation", "cache_type", "tenant_id")),
    MetricFamily("cache_hit_ratio", "gauge", "Cache hit ratio", ("cache_type", "tenant_id")),
    MetricFamily("rate_limit_hits_total", "counter", "Total rate limit hits",
                 ("tenant_id", "limit_type")),
    MetricFamily("rate_limit_remaining", "gauge", "Remaining rate limit capacity",
                 ("tenant_id", "limit_type")),
    MetricFamily("active_connections", "gauge", "Active database connections", ()),
    MetricFamily("memory_usage_bytes", "gauge", "Memory usage in bytes", ("memory_type",)),
    MetricFamily("errors_total", "counter", "Total errors",
                 ("error_type", "error_code", "tenant_id")),
    MetricFamily("index_build_duration_seconds", "histogram", "Index build duration",
                 ("index_type", "dataset_id", "tenant_id"),
                 (1, 5, 10, 30, 60, 300, 600, 1800)),
    MetricFamily("backup_duration_seconds", "histogram", "Backup operation duration",
                 ("backup_type", "tenant_id"),
                 (10, 30, 60, 300, 600, 1800, 3600)),
    MetricFamily("deeplake_api_info", "info",
                 "Tributary AI Service for DeepLake service information", ()),
)

FAMILIES_BY_NAME: dict[str, MetricFamily] = {f.name: f for f in METRIC_FAMILIES}

#: Labels Prometheus adds at scrape time (the seed's ``deeplake-api`` job).
TARGET_LABELS: tuple[str, ...] = ("job", "instance")
JOB = "deeplake-api"

#: The tenant label value the middleware uses when no ``x-tenant-id`` header came in.
UNKNOWN_TENANT = "unknown"

_DATASET = re.compile(r"/datasets/[^/]+")
_VECTOR = re.compile(r"/vectors/[^/]+")
_BACKUP = re.compile(r"/backups/[^/]+")


def normalize_endpoint(path: str) -> str:
    """Replace dynamic path segments exactly as the seed's ``MetricsMiddleware`` does.

    Faithful to its quirks: ``/api/v1/datasets`` (no id) stays as it is, and the middleware
    only knows datasets, vectors and backups.

    Examples
    --------
    >>> normalize_endpoint("/api/v1/datasets/ds-42/vectors/v-7")
    '/api/v1/datasets/{id}/vectors/{id}'
    >>> normalize_endpoint("/api/v1/datasets")
    '/api/v1/datasets'
    """
    path = _DATASET.sub("/datasets/{id}", path)
    path = _VECTOR.sub("/vectors/{id}", path)
    return _BACKUP.sub("/backups/{id}", path)
