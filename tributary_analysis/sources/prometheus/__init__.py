"""Prometheus HTTP API → long metric frames (client, parsing, chunking, budgets, cache).

See ``docs/prometheus.md`` for the frame contract, the budgets and the version rules.
"""

from __future__ import annotations

from tributary_analysis.errors import BudgetExceeded, ResponseTruncated
from tributary_analysis.sources.prometheus.budget import Estimate
from tributary_analysis.sources.prometheus.cache import FrameCache, cache_key
from tributary_analysis.sources.prometheus.chunking import MAX_POINTS, Chunk, plan_chunks
from tributary_analysis.sources.prometheus.client import LabelList, PrometheusSource
from tributary_analysis.sources.prometheus.frames import (
    RawResult,
    build_frame,
    parse,
    response_to_frame,
    to_wide,
)
from tributary_analysis.sources.prometheus.server import ServerInfo
from tributary_analysis.sources.prometheus.transport import RetryPolicy

__all__ = [
    "MAX_POINTS",
    "BudgetExceeded",
    "Chunk",
    "Estimate",
    "FrameCache",
    "LabelList",
    "PrometheusSource",
    "RawResult",
    "ResponseTruncated",
    "RetryPolicy",
    "ServerInfo",
    "build_frame",
    "cache_key",
    "parse",
    "plan_chunks",
    "response_to_frame",
    "to_wide",
]
