"""Prometheus HTTP API → long metric frames (client, parsing, chunking, cache)."""

from __future__ import annotations

from tributary_analysis.sources.prometheus.cache import FrameCache, cache_key
from tributary_analysis.sources.prometheus.chunking import MAX_POINTS, Window, plan_windows
from tributary_analysis.sources.prometheus.client import PrometheusSource, to_timestamp
from tributary_analysis.sources.prometheus.frames import (
    RawResult,
    build_frame,
    parse,
    response_to_frame,
    to_wide,
)
from tributary_analysis.sources.prometheus.transport import RetryPolicy

__all__ = [
    "MAX_POINTS",
    "FrameCache",
    "PrometheusSource",
    "RawResult",
    "RetryPolicy",
    "Window",
    "build_frame",
    "cache_key",
    "parse",
    "plan_windows",
    "response_to_frame",
    "to_timestamp",
    "to_wide",
]
