"""Requests and errors per time bin: the input of the error, SLO and daily analyses.

Counts per bin come from ``rate(x[step]) × step`` (= ``increase``) evaluated every ``step``,
so consecutive bins tile the window without overlap. Filters (tenant, endpoint) go through
the escaping PromQL builders: an untrusted tenant id selects that tenant or nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from tributary_analysis.fetch.prometheus import MetricsSource, count_frame, instant_frame
from tributary_analysis.frames.meta import carry
from tributary_analysis.ground.time import DurationLike, Window, parse_step
from tributary_analysis.promql import LabelSpec
from tributary_analysis.promql import catalog as queries

__all__ = ["episode_requests", "errors_per_bin", "requests_per_bin", "tenant_totals"]


def requests_per_bin(source: MetricsSource, window: Window, step: DurationLike, *,
                     by: Sequence[str] = ("status_code",), tenant: LabelSpec | None = None,
                     endpoint: LabelSpec | None = None) -> pd.DataFrame:
    """HTTP requests per ``step`` bin by ``by`` labels (include ``status_code`` for error
    ratios), optionally for some tenants and endpoints.

    Returns
    -------
    DataFrame
        A metric frame: ``timestamp`` (bin end), ``value`` (requests in the bin), the
        ``by`` labels. Feed it to :func:`tributary_analysis.analysis.errors.request_counts`.
    """
    st = parse_step(step)
    expr = queries.request_rate(window=st, by=tuple(by), tenant=tenant, endpoint=endpoint)
    return count_frame(source, expr, window, st, labels=tuple(by))


def errors_per_bin(source: MetricsSource, window: Window, step: DurationLike, *,
                   by: Sequence[str] = ("error_type", "error_code"),
                   tenant: LabelSpec | None = None) -> pd.DataFrame:
    """Application errors (``errors_total``) per ``step`` bin by type and code."""
    st = parse_step(step)
    expr = queries.errors_rate(window=st, by=tuple(by), tenant=tenant)
    return count_frame(source, expr, window, st, labels=tuple(by))


def episode_requests(source: MetricsSource, episodes: pd.DataFrame, step: DurationLike, *,
                     tenant: LabelSpec | None = None) -> list[pd.DataFrame]:
    """Requests per bin by endpoint, tenant and status code during each episode.

    One query covers every episode (the span from the first start to the last end, only
    the episodes' endpoints); each episode gets its own slice ``[start, end]`` of it,
    the bins a query over that episode alone would return.

    Parameters
    ----------
    episodes : DataFrame
        From :func:`tributary_analysis.analysis.errors.detect_episodes` (``start``,
        ``end``, ``endpoint``), on the same bin grid as ``step``.

    Returns
    -------
    list of DataFrame
        One metric frame per episode row, in order.
    """
    if episodes.empty:
        return []
    st = parse_step(step)
    span = Window(episodes["start"].min(), episodes["end"].max() + pd.Timedelta(milliseconds=1))
    endpoints = sorted({str(e) for e in episodes["endpoint"]})
    expr = queries.request_rate(window=st, by=("endpoint", "tenant_id", "status_code"),
                                endpoint=endpoints[0] if len(endpoints) == 1 else endpoints,
                                tenant=tenant)
    whole = count_frame(source, expr, span, st, labels=("endpoint", "tenant_id", "status_code"))
    parts = []
    for _, e in episodes.iterrows():
        keep = ((whole["timestamp"] >= e["start"]) & (whole["timestamp"] <= e["end"])
                & (whole["endpoint"].astype(str) == str(e["endpoint"])))
        parts.append(carry(whole.loc[keep.to_numpy(dtype=bool)].reset_index(drop=True), whole))
    return parts


def tenant_totals(source: MetricsSource, window: Window, *,
                  by: Sequence[str] = ("status_code",)) -> pd.DataFrame:
    """Requests per tenant (and ``by`` labels) over the whole window: ``increase`` over
    the window's length, evaluated at its end."""
    return instant_frame(source, queries.tenant_requests(window.duration, by=tuple(by)),
                         window.end)
