"""Latency histograms and the build-info series: the input of the latency analyses.

Bucket counts per bin come from ``rate(x_bucket[step]) × step``; quantiles are computed
client-side (:mod:`tributary_analysis.analysis.histograms`) so the same buckets give
quantiles over time, over the window, per group and before/after a deploy.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tributary_analysis.fetch.prometheus import MetricsSource, count_frame, range_frame
from tributary_analysis.ground.time import DurationLike, Window, parse_step
from tributary_analysis.promql import LabelSpec
from tributary_analysis.promql import catalog as queries

__all__ = ["build_info", "latency_buckets", "mean_latency", "search_latency_buckets"]


def latency_buckets(source: MetricsSource, window: Window, step: DurationLike, *,
                    by: Sequence[str] = (), tenant: LabelSpec | None = None,
                    endpoint: LabelSpec | None = None) -> pd.DataFrame:
    """HTTP request-duration bucket counts per ``step`` bin (``le`` and the ``by``
    labels)."""
    st = parse_step(step)
    expr = queries.latency_buckets(window=st, by=tuple(by), tenant=tenant, endpoint=endpoint)
    return count_frame(source, expr, window, st, labels=("le", *by))


def search_latency_buckets(source: MetricsSource, window: Window, step: DurationLike, *,
                           by: Sequence[str] = ("search_type",),
                           tenant: LabelSpec | None = None) -> pd.DataFrame:
    """Search-latency bucket counts per ``step`` bin by search type."""
    st = parse_step(step)
    expr = queries.search_latency_buckets(window=st, by=tuple(by), tenant=tenant)
    return count_frame(source, expr, window, st, labels=("le", *by))


def mean_latency(source: MetricsSource, window: Window, step: DurationLike, *,
                 by: Sequence[str] = ("tenant_id",)) -> pd.DataFrame:
    """Mean HTTP latency (seconds) per ``step`` bin and ``by`` group (``_sum / _count``)."""
    st = parse_step(step)
    return range_frame(source, queries.mean_latency(st, by=tuple(by)), window, st,
                       labels=tuple(by))


def build_info(source: MetricsSource, window: Window, step: DurationLike) -> pd.DataFrame:
    """``timestamp(deeplake_api_info)`` per replica and version: where each version was
    running (deploys, and the version serving each request)."""
    return range_frame(source, queries.build_info_timestamps(), window, step)
