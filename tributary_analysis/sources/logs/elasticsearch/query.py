"""Query building and what each answer said besides its hits.

Filters become ``terms`` clauses whose values travel as JSON (an untrusted tenant id never
enters a query string). Every response passes :func:`check_partial`, so ``timed_out`` and
shard failures land in the frame's warnings, ``partial`` and shard totals, and in a logging
warning; :func:`describe` is the query summary a frame's metadata shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson

from tributary_analysis.ground.time import Window

log = logging.getLogger("tributary_analysis.sources.logs.elasticsearch")

#: response keys an aggregation request keeps (``filter_path``)
AGG_FILTER_PATH = "timed_out,_shards,hits.total,aggregations"


def window_query(window: Window, time_field: str, filters: Mapping[str, list[Any]],
                 field_of: Callable[[str], str],
                 extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """``bool.filter`` over the half-open window and the ``terms`` filters."""
    clauses: list[dict[str, Any]] = [{"range": {time_field: {
        "gte": window.start.isoformat(), "lt": window.end.isoformat(),
        "format": "strict_date_optional_time_nanos"}}}]
    for col, values in filters.items():
        # values travel as JSON terms: never spliced into a query string
        clauses.append({"terms": {field_of(col): values}})
    clauses.extend(extra)
    return {"bool": {"filter": clauses}}


def new_answer(warnings: Sequence[str] = ()) -> dict[str, Any]:
    """The accumulator :func:`check_partial` fills while a frame's requests run."""
    return {"warnings": list(warnings)}


def check_partial(body: Mapping[str, Any], acc: dict[str, Any], what: str, *,
                  index: str = "", url: str = "") -> None:
    """Shard failures and timeouts: into ``acc['warnings']`` and a logging warning.

    Shard totals are the largest seen over the frame's requests (each page of a composite
    aggregation asks every shard again; summing would multiply them).
    """
    shards = body.get("_shards") or {}
    warnings: list[str] = acc.setdefault("warnings", [])
    total = acc.setdefault("shards", {"total": 0, "successful": 0, "skipped": 0,
                                      "failed": 0})
    for k in total:
        total[k] = max(total[k], int(shards.get(k, 0) or 0))
    new: list[str] = []
    if body.get("timed_out"):
        new.append(f"Elasticsearch timed out during {what}: results are partial")
    if shards.get("failed"):
        reasons = sorted({str((f.get("reason") or {}).get("reason", f.get("reason")))
                          for f in shards.get("failures", [])})
        new.append(f"{shards['failed']} of {shards.get('total')} shards failed during "
                   f"{what}: results are partial ({'; '.join(reasons)[:500]})")
    for msg in new:
        if msg not in warnings:
            warnings.append(msg)
            log.warning("%s (index %s at %s)", msg, index, url)
    acc["partial"] = bool(warnings and any("partial" in w for w in warnings))


def describe(index: str, query: Mapping[str, Any], **parts: Any) -> str:
    """A one-line summary of a search for a frame's metadata: index, query, aggregations.

    Examples
    --------
    >>> describe("logs-*", {"match_all": {}}, size=0)
    'GET logs-*/_search query={"match_all":{}} size=0'
    """
    text = f"GET {index}/_search query={orjson.dumps(query).decode()}"
    for key, value in parts.items():
        if value is None:
            continue
        shown = value if isinstance(value, (int, str)) else orjson.dumps(value).decode()
        text += f" {key}={shown}"
    return text
