"""Summaries and rankings computed by Elasticsearch: ``composite`` aggregations, paged.

- Summary: a ``date_histogram`` source plus one ``terms`` source per group field
  (``missing_bucket``), with ``percentiles`` (TDigest: *approximate*, said in the frame's
  notes) and two ``filter`` sub-aggregations for 5xx and 4xx; only completed requests.
- Top errors: a ``composite`` over type, code and message (``multi_terms`` is an x-pack
  analytics aggregation and absent from the integ-test distribution; composite counts are
  exact anyway), ranked client-side.

No scripts anywhere (the integ-test distribution has no painless).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from tributary_analysis.ground.time import Window
from tributary_analysis.sources.logs.base import (
    TOP_ERROR_COLUMNS,
    conform_summary,
    format_interval,
    percentile_column,
    rank_errors,
)
from tributary_analysis.sources.logs.elasticsearch.query import (
    AGG_FILTER_PATH,
    describe,
    new_answer,
)

if TYPE_CHECKING:
    from tributary_analysis.sources.logs.elasticsearch.source import ElasticsearchLogs

#: what the summary says about its percentiles
TDIGEST = "approximate (Elasticsearch TDigest percentiles aggregation)"


def composite(src: ElasticsearchLogs, what: str, query: dict[str, Any],
              sources: list[dict[str, Any]], sub: dict[str, Any], acc: dict[str, Any],
              size: int = 2000) -> Iterator[dict[str, Any]]:
    """Every bucket of a ``composite`` aggregation, page by page (``after_key``)."""
    after: dict[str, Any] | None = None
    agg: dict[str, Any] = {"composite": {"size": size, "sources": sources}}
    if sub:
        agg["aggs"] = sub
    acc.setdefault("queries", []).append(describe(src.index, query, aggs={"c": agg}))
    while True:
        comp: dict[str, Any] = {"size": size, "sources": sources}
        if after:
            comp["after"] = after
        page_agg: dict[str, Any] = {"composite": comp}
        if sub:
            page_agg["aggs"] = sub
        extra = {} if src.request_cache is None else {"request_cache": src.request_cache}
        body = src.call(what, "search", index=src.index, size=0, query=query,
                        aggs={"c": page_agg}, track_total_hits=False,
                        filter_path=AGG_FILTER_PATH, **extra)
        src.check_partial(body, acc, what)
        res = (body.get("aggregations") or {}).get("c") or {}
        buckets = res.get("buckets", [])
        yield from buckets
        after = res.get("after_key")
        if not buckets or not after or len(buckets) < size:
            return


def summary(src: ElasticsearchLogs, window: Window, step: pd.Timedelta,
            groups: Sequence[str], filters: dict[str, list[Any]],
            percentiles: Sequence[float]) -> pd.DataFrame:
    """See :meth:`LogSource.summary`."""
    fields = src.fields
    requests0 = src.requests_made
    fixed = format_interval(step)
    status = fields.need("status_code", "count requests by status")
    duration = fields.need("duration_s", "compute latency percentiles")
    by_field = {c: fields.need(c, f"summarize by {c}") for c in groups}
    query = src.window_query(window, filters, [{"exists": {"field": status}}])
    acc = new_answer(fields.warnings)
    sources: list[dict[str, Any]] = [{"t": {"date_histogram": {
        "field": fields.time_field(), "fixed_interval": fixed}}}]
    for i, c in enumerate(groups):
        sources.append({f"g{i}": {"terms": {"field": by_field[c], "missing_bucket": True}}})
    sub: dict[str, Any] = {
        "e5": {"filter": {"range": {status: {"gte": 500}}}},
        "e4": {"filter": {"range": {status: {"gte": 400, "lt": 500}}}},
    }
    if percentiles:
        sub["p"] = {"percentiles": {"field": duration, "percents": list(percentiles),
                                    "keyed": False}}
    scale = fields.fmap.duration_scale
    rows: list[dict[str, Any]] = []
    for b in composite(src, "summarize", query, sources, sub, acc):
        key = b["key"]
        row: dict[str, Any] = {"timestamp": pd.Timestamp(key["t"], unit="ms", tz="UTC"),
                               "requests": b["doc_count"], "errors_5xx": b["e5"]["doc_count"],
                               "errors_4xx": b["e4"]["doc_count"]}
        for i, c in enumerate(groups):
            row[c] = key.get(f"g{i}")
        for v in (b.get("p") or {}).get("values", []):
            value = v.get("value")
            row[percentile_column(float(v["key"]))] = (
                None if value is None else float(value) * scale)
        rows.append(row)
    df = pd.DataFrame(rows, columns=["timestamp", *groups, "requests", "errors_5xx",
                                     "errors_4xx", *(percentile_column(p) for p in percentiles)])
    out = conform_summary(df, groups, percentiles)
    acc["requests"] = src.requests_made - requests0
    return src.stamp(out, window, acc, filters, step=step,
                     notes=["percentiles are approximate (Elasticsearch TDigest); "
                            "exact_percentiles() computes exact ones from raw rows"],
                     details={"interval": fixed, "by": list(groups), "percentiles": TDIGEST})


def top_errors(src: ElasticsearchLogs, window: Window, filters: dict[str, list[Any]],
               k: int) -> pd.DataFrame:
    """See :meth:`LogSource.top_errors`."""
    fields = src.fields
    requests0 = src.requests_made
    etype = fields.need("error_type", "rank errors by type")
    ecode = fields.need("error_code", "rank errors by code")
    msg = fields.need("event", "rank errors by message")
    query = src.window_query(window, filters, [{"exists": {"field": etype}}])
    acc = new_answer(fields.warnings)
    sources: list[dict[str, Any]] = [
        {"t": {"terms": {"field": etype}}},
        {"c": {"terms": {"field": ecode, "missing_bucket": True}}},
        {"m": {"terms": {"field": msg, "missing_bucket": True}}}]
    rows = [{"error_type": b["key"]["t"], "error_code": b["key"].get("c"),
             "message": b["key"].get("m"), "count": b["doc_count"]}
            for b in composite(src, "rank errors", query, sources, {}, acc)]
    out = rank_errors(pd.DataFrame(rows, columns=list(TOP_ERROR_COLUMNS)), k)
    acc["requests"] = src.requests_made - requests0
    return src.stamp(out, window, acc, filters)


def distinct(src: ElasticsearchLogs, column: str, window: Window,
             filters: dict[str, list[Any]], limit: int) -> list[str]:
    """The values of one column in the window (a ``composite`` ``terms`` source)."""
    field = src.fields.need(column, f"list the values of {column}")
    query = src.window_query(window, filters)
    acc = new_answer()
    out: list[str] = []
    for b in composite(src, f"list the values of {column}", query,
                       [{"v": {"terms": {"field": field}}}], {}, acc,
                       size=min(max(limit, 1), 10_000)):
        out.append(str(b["key"]["v"]))
        if len(out) >= limit:
            break
    return sorted(out)
