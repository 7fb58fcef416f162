"""What the daily operations summary reads: golden signals of a window, the traffic
history its baseline is chosen from, and the SLO histories.

Every signal is fetched the same way for the window and its baseline, so the two are
comparable bin for bin.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from tributary_analysis.fetch.latency import latency_buckets
from tributary_analysis.fetch.prometheus import MetricsSource, range_frame
from tributary_analysis.fetch.requests import requests_per_bin
from tributary_analysis.ground.time import DurationLike, Window, parse_step
from tributary_analysis.promql import catalog as queries

__all__ = ["GoldenSignalData", "budget_requests", "burn_requests", "golden_signal_data",
           "traffic_history"]

#: resolution of the traffic history the baseline is chosen from
HISTORY_STEP = pd.Timedelta(minutes=30)


@dataclass(frozen=True)
class GoldenSignalData:
    """Traffic, errors, latency and saturation of one window, per bin."""

    requests: pd.DataFrame  # per endpoint and status code (counts)
    buckets: pd.DataFrame  # latency bucket counts, all endpoints
    memory: pd.DataFrame  # used / total per replica (0..1)
    connections: pd.DataFrame  # per replica

    def frames(self) -> list[pd.DataFrame]:
        """Every frame, for the page's warning box."""
        return [self.requests, self.buckets, self.memory, self.connections]


def golden_signal_data(source: MetricsSource, window: Window, step: DurationLike
                       ) -> GoldenSignalData:
    """The four golden signals of ``window`` every ``step``."""
    st = parse_step(step)
    return GoldenSignalData(
        requests=requests_per_bin(source, window, st, by=("endpoint", "status_code")),
        buckets=latency_buckets(source, window, st),
        memory=range_frame(source, queries.memory_utilization(), window, st),
        connections=range_frame(source, queries.active_connections(), window, st))


def traffic_history(source: MetricsSource, window: Window, *, days: int = 7,
                    step: DurationLike = HISTORY_STEP) -> pd.DataFrame:
    """Where the request counter has samples in the ``days`` before ``window`` (coarse):
    the history a baseline can be taken from."""
    before = Window(window.start - pd.Timedelta(days=days), window.start)
    return range_frame(source, queries.request_counter_sum(), before, step)


def burn_requests(source: MetricsSource, window: Window, *, step: DurationLike = "5m",
                  warmup: DurationLike = "3d") -> pd.DataFrame:
    """Requests per bin by status code from ``warmup`` before the window to its end: the
    multi-window burn rates need their longest window of history at the window's start."""
    st = parse_step(step)
    lead = parse_step(warmup, name="warmup")
    return requests_per_bin(source, Window(window.start - lead, window.end), st,
                            by=("status_code",))


def budget_requests(source: MetricsSource, window: Window, period: DurationLike, *,
                    step: DurationLike = "1h") -> pd.DataFrame:
    """Requests per bin by status code over the SLO ``period`` ending with the window."""
    span = parse_step(period, name="slo_period")
    return requests_per_bin(source, Window(window.end - span, window.end), step,
                            by=("status_code",))
