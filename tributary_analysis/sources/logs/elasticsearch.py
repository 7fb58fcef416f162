"""``ElasticsearchLogs``: the log source for users who keep the service's logs in ELK.

- Exports page with a point-in-time and ``search_after`` sorted by (timestamp,
  ``_shard_doc``): every event that existed when the PIT opened, exactly once, even while
  new documents are indexed. Only the mapped fields are requested (``_source`` filtering),
  the response is trimmed with ``filter_path`` and decoded with orjson, and columns are
  built directly: far cheaper than ``helpers.scan`` + ``pandas.DataFrame``.
- Summaries are aggregations: ``composite`` over the group fields and a ``date_histogram``,
  with ``percentiles`` (TDigest: *approximate*, said in ``attrs["percentiles"]``) and two
  ``filter`` sub-aggregations for 5xx and 4xx. Top errors page a ``composite`` over type,
  code and message (``multi_terms`` is an x-pack analytics aggregation and absent from the
  integ-test distribution; composite counts are exact anyway). No scripts anywhere.
- Partial answers are never dropped: shard failures, ``timed_out`` and failed shards go
  to ``attrs["warnings"]`` and a logging warning; conflicting mappings across daily indices
  (``field_caps``) warn the same way.
- Credentials come only from :class:`~tributary_analysis.config.Settings` (environment or
  config file), never from arguments a notebook would record.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import io
import logging
import queue
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import elasticsearch as es_lib
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json
from elasticsearch.serializer import OrjsonSerializer
from tqdm.auto import tqdm

from tributary_analysis.config import Settings, load_settings
from tributary_analysis.errors import (
    AuthenticationError,
    NotFoundError,
    QueryError,
    QueryTimeout,
    ServerUnavailable,
    SourceError,
    SourceUnreachable,
    UnexpectedResponse,
)
from tributary_analysis.sources.logs.base import (
    Filters,
    LogSource,
    TimeLike,
    check_filters,
    check_group,
    check_percentiles,
    conform_summary,
    parse_interval,
    percentile_column,
    rank_errors,
    window,
)
from tributary_analysis.sources.logs.normalize import (
    DEFAULT_MAPPING,
    ECS_MARKERS,
    MAPPED_COLUMNS,
    FieldMap,
    LogMapping,
    Problems,
    _finish,
    arrow_columns,
    check_shape,
    fast_frame,
    get_path,
    normalize_records,
)
from tributary_analysis.sources.logs.schema import (
    check_fields,
    concat_frames,
    set_attrs,
)

log = logging.getLogger(__name__)

_AGG_FILTER_PATH = "timed_out,_shards,hits.total,aggregations"


def _translate(exc: Exception, url: str, index: str, what: str) -> SourceError:
    """One place that turns client exceptions into the suite's errors, with the fix."""
    if isinstance(exc, es_lib.AuthenticationException):
        return AuthenticationError(
            f"Elasticsearch at {url} refused the credentials (401) while trying to {what}; "
            "check TRIBUTARY_ES_USERNAME/TRIBUTARY_ES_PASSWORD (or TRIBUTARY_ES_API_KEY)",
            source="elasticsearch", url=url, query=index, status=401)
    if isinstance(exc, es_lib.AuthorizationException):
        reason = _reason(exc)
        return AuthenticationError(
            f"Elasticsearch at {url} does not allow this user to {what} on {index!r} (403): "
            f"{reason}; grant the role the 'read' and 'view_index_metadata' index privileges "
            "on the log indices", source="elasticsearch", url=url, query=index, status=403)
    if isinstance(exc, es_lib.NotFoundError):
        return NotFoundError(
            f"no Elasticsearch index matches {index!r} at {url} ({_reason(exc)}); check "
            "TRIBUTARY_ES_INDEX or load the logs ('tributary demo up')",
            source="elasticsearch", url=url, query=index, status=404)
    if isinstance(exc, es_lib.ConnectionTimeout):
        return QueryTimeout(f"Elasticsearch at {url} did not answer in time while trying to "
                            f"{what}; narrow the window or raise the timeout",
                            source="elasticsearch", url=url, query=index)
    if isinstance(exc, es_lib.ConnectionError):
        return SourceUnreachable(f"cannot reach Elasticsearch at {url} ({exc}); is it running? "
                                 "check TRIBUTARY_ES_URL", source="elasticsearch", url=url)
    if isinstance(exc, es_lib.BadRequestError):
        return QueryError(f"Elasticsearch at {url} rejected the request to {what} on "
                          f"{index!r}: {_reason(exc)}", source="elasticsearch", url=url,
                          query=index, status=400)
    if isinstance(exc, es_lib.ApiError):
        status = exc.meta.status if exc.meta else None
        if status in (429, 502, 503, 504):
            return ServerUnavailable(f"Elasticsearch at {url} is unavailable ({status}) while "
                                     f"trying to {what}; retry later", source="elasticsearch",
                                     url=url, query=index, status=status)
        return UnexpectedResponse(f"Elasticsearch at {url} answered {status} while trying to "
                                  f"{what} on {index!r}: {_reason(exc)}",
                                  source="elasticsearch", url=url, query=index, status=status)
    if isinstance(exc, es_lib.UnsupportedProductError):
        return UnexpectedResponse(f"{url} is not Elasticsearch ({exc}); check TRIBUTARY_ES_URL",
                                  source="elasticsearch", url=url)
    return SourceError(f"Elasticsearch request to {what} failed at {url}: {exc}",
                       source="elasticsearch", url=url, query=index)


def _reason(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            root = err.get("root_cause") or [err]
            return str(root[0].get("reason") or err.get("type") or err)
        if err:
            return str(err)
    return str(getattr(exc, "message", exc))


def make_client(settings: Settings, url: str | None = None, request_timeout: float = 60.0,
                raw: bool = False) -> es_lib.Elasticsearch:
    """A client from settings (credentials only from the environment or config file).

    ``raw=True`` leaves response bodies as bytes: export pages are parsed by pyarrow.
    """
    kwargs: dict[str, Any] = {"request_timeout": request_timeout,
                              "verify_certs": settings.es_verify}
    if settings.es_api_key:
        kwargs["api_key"] = settings.es_api_key.get()
    elif settings.es_username:
        password = settings.es_password.get() if settings.es_password else ""
        kwargs["basic_auth"] = (settings.es_username, password)
    if settings.es_ca_bundle:
        kwargs["ca_certs"] = settings.es_ca_bundle
    if raw:
        kwargs["serializers"] = {"application/json": _RawSerializer(),
                                 "application/vnd.elasticsearch+json": _RawSerializer()}
    else:
        kwargs["serializer"] = _PagedJsonSerializer()
    return es_lib.Elasticsearch(url or settings.es_url, **kwargs)


class ElasticsearchLogs(LogSource):
    """Logs in Elasticsearch indices (flat documents, ECS names, or undecoded envelopes).

    Parameters
    ----------
    url
        Elasticsearch URL; default ``TRIBUTARY_ES_URL`` / the demo stack.
    client
        An existing ``elasticsearch.Elasticsearch`` instead of ``url`` (bring your own auth).
    index
        Index pattern; default ``TRIBUTARY_ES_INDEX`` or ``tributary-logs-*``.
    settings
        Where credentials come from; default :func:`~tributary_analysis.config.load_settings`.
    shape, mapping
        Document shape and field mapping (see ``normalize``); the shape is detected from the
        index mapping when ``None``.
    page_size
        Hits per export page (≤ ``index.max_result_window``, 10,000 by default).
    progress
        Show a tqdm progress bar during exports (default: only in a terminal/notebook).
    request_cache
        Elasticsearch's shard request cache for aggregations (``None``: the index default;
        ``False`` to measure or to force fresh answers).
    export_slices
        Parallel PIT slices for :meth:`search` (Elasticsearch serves them on several
        threads); :meth:`iter_batches` always reads one ordered slice.
    search_timeout
        Elasticsearch's per-search ``timeout`` (e.g. ``"30s"``): past it the node returns
        what it has with ``timed_out``, which lands in ``attrs["warnings"]``.

    Examples
    --------
    >>> logs = ElasticsearchLogs()                                   # doctest: +SKIP
    >>> logs.summary("now-1d", "now", by=["tenant_id", "endpoint"])  # doctest: +SKIP
    """

    kind = "elasticsearch"
    exact_summary_percentiles = False

    def __init__(self, url: str | None = None, *, client: es_lib.Elasticsearch | None = None,
                 index: str | None = None, settings: Settings | None = None,
                 shape: str | None = None, mapping: LogMapping = DEFAULT_MAPPING,
                 page_size: int = 10_000, keep_alive: str = "2m",
                 progress: bool | None = None, request_timeout: float = 60.0,
                 search_timeout: str | None = None, export_slices: int = 2,
                 request_cache: bool | None = None) -> None:
        settings = settings or load_settings()
        self.url = url or settings.es_url
        self.index = index or settings.es_index
        self.client = client if client is not None else make_client(settings, self.url,
                                                                     request_timeout)
        # export pages as raw bytes for pyarrow; a caller's own client keeps the dict path
        self._raw_client = (make_client(settings, self.url, request_timeout, raw=True)
                            if client is None else None)
        if client is not None:
            self.url = _client_url(client)
        self.shape = check_shape(shape)
        self.mapping = mapping
        self.page_size = int(page_size)
        self.keep_alive = keep_alive
        self.progress = progress
        self.search_timeout = search_timeout
        self.export_slices = max(1, int(export_slices))
        self.request_cache = request_cache
        self._caps: dict[str, dict[str, Any]] | None = None
        self._mapping_warnings: list[str] = []

    # ------------------------------------------------------------------ mapping

    def _call(self, what: str, fn: Any, **kwargs: Any) -> Any:
        if self.search_timeout and fn == self.client.search:
            kwargs.setdefault("timeout", self.search_timeout)
        try:
            resp = fn(**kwargs)
        except (es_lib.ApiError, es_lib.TransportError, es_lib.UnsupportedProductError) as exc:
            raise _translate(exc, self.url, self.index, what) from exc
        return resp.body if hasattr(resp, "body") else resp

    def field_types(self) -> dict[str, dict[str, Any]]:
        """``field_caps`` of the index pattern: field → {type: caps}. Warns on conflicts."""
        if self._caps is None:
            body = self._call("read the field mapping", self.client.field_caps,
                              index=self.index, fields="*", allow_no_indices=False,
                              ignore_unavailable=False)
            caps: dict[str, dict[str, Any]] = body.get("fields", {})
            if not body.get("indices"):
                raise NotFoundError(f"no Elasticsearch index matches {self.index!r} at "
                                    f"{self.url}; check TRIBUTARY_ES_INDEX or load the logs",
                                    source="elasticsearch", url=self.url, query=self.index)
            for name, types in sorted(caps.items()):
                real = {t: c for t, c in types.items() if t != "unmapped"}
                if len(real) > 1 and not name.startswith("_"):
                    detail = "; ".join(f"{t} in {c.get('indices') or 'some indices'}"
                                       for t, c in sorted(real.items()))
                    msg = (f"field {name!r} has conflicting mappings across {self.index!r}: "
                           f"{detail}; values of the minority type may not aggregate or "
                           "filter as expected")
                    self._mapping_warnings.append(msg)
                    log.warning("%s", msg)
            self._caps = caps
        return self._caps

    def resolved_shape(self) -> str:
        """The document shape: given, or detected from which fields are mapped."""
        if self.shape:
            return self.shape
        caps = self.field_types()
        if any(m in caps for m in ECS_MARKERS) and "@timestamp" in caps:
            return "ecs"
        if any(c in caps for c in ("status_code", "request_id", "tenant_id", "path")):
            return "flat"
        return "envelope"

    def _field(self, column: str, *, aggregatable: bool = False) -> str | None:
        """The Elasticsearch field that holds a frame column (``None`` when unmapped)."""
        caps = self.field_types()
        fmap = self.mapping.for_shape(self.resolved_shape())
        for path in fmap.paths(column):
            types = caps.get(path)
            if not types:
                continue
            if not aggregatable or any(c.get("aggregatable") for c in types.values()):
                return path
            kw = caps.get(f"{path}.keyword")
            if kw and any(c.get("aggregatable") for c in kw.values()):
                return f"{path}.keyword"
        return None

    def _need(self, column: str, why: str, aggregatable: bool = True) -> str:
        if self.resolved_shape() == "envelope":
            raise QueryError(
                f"the indices {self.index!r} hold undecoded envelopes (the service's JSON inside "
                f"'message'), so Elasticsearch cannot {why}; decode them at ingest (flat "
                "documents) or use FileLogs", source="elasticsearch", url=self.url,
                query=self.index)
        name = self._field(column, aggregatable=aggregatable)
        if name is None:
            fmap = self.mapping.for_shape(self.resolved_shape())
            raise NotFoundError(
                f"cannot {why}: none of the fields {list(fmap.paths(column))} for log column "
                f"{column!r} is {'an aggregatable field ' if aggregatable else ''}mapped in "
                f"{self.index!r} at {self.url}; map one or pass a LogMapping naming the field",
                source="elasticsearch", url=self.url, query=self.index)
        return name

    def _time_field(self) -> str:
        caps = self.field_types()
        fmap = self.mapping.for_shape(self.resolved_shape())
        for path in ("@timestamp", *fmap.timestamp):
            if any(t in ("date", "date_nanos") for t in caps.get(path, {})):
                return path
        raise NotFoundError(f"no date field among {['@timestamp', *fmap.timestamp]} in "
                            f"{self.index!r} at {self.url}; the indices need a date-typed "
                            "timestamp", source="elasticsearch", url=self.url, query=self.index)

    def _query(self, start: TimeLike, end: TimeLike, filters: Filters | None,
               extra: Sequence[dict[str, Any]] = ()) -> tuple[dict[str, Any], dict[str, Any]]:
        s, e = window(start, end)
        flt = check_filters(filters)
        ts = self._time_field()
        clauses: list[dict[str, Any]] = [{"range": {ts: {
            "gte": s.isoformat(), "lt": e.isoformat(),
            "format": "strict_date_optional_time_nanos"}}}]
        for col, values in flt.items():
            # values travel as JSON terms: never spliced into a query string
            clauses.append({"terms": {self._need(col, f"filter on {col}"): values}})
        clauses.extend(extra)
        attrs = {"source": "elasticsearch", "url": self.url, "index": self.index, "start": s,
                 "end": e, "filters": flt, "shape": self.resolved_shape(),
                 "warnings": list(self._mapping_warnings)}
        return {"bool": {"filter": clauses}}, attrs

    def _check_partial(self, body: dict[str, Any], attrs: dict[str, Any], what: str) -> None:
        """Shard failures and timeouts: into attrs['warnings'] and a logging warning."""
        shards = body.get("_shards") or {}
        warnings: list[str] = attrs.setdefault("warnings", [])
        total = attrs.setdefault("shards", {"total": 0, "successful": 0, "skipped": 0,
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
                log.warning("%s (index %s at %s)", msg, self.index, self.url)
        attrs["partial"] = bool(warnings and any("partial" in w for w in warnings))

    # ------------------------------------------------------------------ raw export

    def count(self, start: TimeLike, end: TimeLike, filters: Filters | None = None) -> int:
        query, _ = self._query(start, end, filters)
        body = self._call("count events", self.client.count, index=self.index, query=query)
        return int(body.get("count", 0))

    def _source_fields(self, cols: Sequence[str]) -> list[str]:
        fmap = self.mapping.for_shape(self.resolved_shape())
        if self.resolved_shape() == "envelope":
            return [self.mapping.envelope_key, "levelname", "asctime", "@timestamp"]
        wanted = {c for c in cols}
        if "endpoint" in wanted:
            wanted.add("path")
        if "timestamp" not in wanted:
            wanted.add("timestamp")  # always needed to place the record
        paths: list[str] = []
        for c in MAPPED_COLUMNS:
            col = "duration_s" if c == "duration" else c
            if col in wanted:
                paths.extend(fmap.paths(c))
        return sorted(set(paths))

    def _source_filter(self, cols: Sequence[str]) -> dict[str, Any] | bool:
        """The stored ``_source`` as it is, unless very few columns are wanted.

        Measured on this node (206k documents): ``_source`` includes make Elasticsearch
        parse and re-serialize every document (HTTP time 1.9 s → 6.0 s even for 4 fields)
        and ``filter_path`` on hits costs the same kind of re-serialization (1.9 s → 4.0 s);
        both cost more than the bytes they save on the service's ~15-field documents. So
        exports send neither; only a one- or two-column export filters the source.
        """
        if len(cols) > 2:
            return True
        return {"includes": self._source_fields(cols)}

    def iter_batches(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
                     fields: Sequence[str] | None = None,
                     batch_size: int = 50_000) -> Iterator[pd.DataFrame]:
        return self._export(start, end, filters, fields, batch_size, slices=1)

    def search(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
               fields: Sequence[str] | None = None) -> pd.DataFrame:
        """All matching events, oldest first (see :meth:`LogSource.search`).

        Unlike :meth:`iter_batches` (ordered pages), the PIT is read in ``export_slices``
        parallel slices sorted by ``_shard_doc`` only, so Elasticsearch serves pages on
        several threads; the frame is sorted by timestamp at the end.
        """
        cols = check_fields(fields)
        batches = list(self._export(start, end, filters, cols, 1 << 62,
                                    slices=self.export_slices))
        attrs = dict(batches[-1].attrs)
        df = concat_frames(batches)
        if "timestamp" in df.columns and len(df):
            order = np.argsort(df["timestamp"].to_numpy(), kind="stable")
            df = df.take(order).reset_index(drop=True)
        return set_attrs(df[list(cols)], attrs)

    def _export(self, start: TimeLike, end: TimeLike, filters: Filters | None,
                fields: Sequence[str] | None, batch_size: int,
                slices: int) -> Iterator[pd.DataFrame]:
        cols = check_fields(fields)
        if slices > 1 and "timestamp" not in cols:
            cols = ("timestamp", *cols)  # needed to order the slices' rows
        if batch_size <= 0:
            raise QueryError(f"batch_size must be positive, got {batch_size}", source=self.kind)
        query, attrs = self._query(start, end, filters)
        ts = self._time_field()
        shape = self.resolved_shape()
        source = self._source_filter(cols) if shape != "envelope" else True
        pit = self._call("open a point in time", self.client.open_point_in_time,
                         index=self.index, keep_alive=self.keep_alive)
        attrs["pit"] = True
        probs = Problems()
        page = min(self.page_size, batch_size)
        sort: list[Any] = ([{"_shard_doc": "asc"}] if slices > 1
                           else [{ts: {"order": "asc"}}, {"_shard_doc": "asc"}])
        base = {"size": page, "query": query, "sort": sort, "source": source}
        pager = _Pager(self, base, pit["id"], page, slices)
        totals: dict[int, int] = {}
        bar = tqdm(desc=f"export {self.index}", unit="doc", disable=self.progress is False,
                   leave=False)
        frames: list[pd.DataFrame] = []
        rows = 0
        try:
            for slice_id, item in pager:
                meta = item.meta if isinstance(item, _ArrowPage) else item
                self._check_partial(meta, attrs, "the export")
                if slice_id not in totals:
                    totals[slice_id] = int((meta.get("hits", {}).get("total") or {}).get(
                        "value", 0))
                    bar.total = attrs["total_hits"] = sum(totals.values())
                df = self._arrow_frame(item, cols, probs) if isinstance(
                    item, _ArrowPage) else None
                if df is None:
                    body = item.decoded() if isinstance(item, _ArrowPage) else item
                    hits = body.get("hits", {}).get("hits", [])
                    if not hits:
                        continue
                    df = self._frame(hits, shape, cols, probs, attrs)
                bar.update(len(df))
                frames.append(df)
                rows += len(df)
                attrs["problems"] = probs.as_dict()
                while rows >= batch_size:
                    whole = concat_frames(frames)
                    head, rest = whole.iloc[:batch_size], whole.iloc[batch_size:]
                    yield set_attrs(head.reset_index(drop=True), dict(attrs))
                    frames = [rest.reset_index(drop=True)] if len(rest) else []
                    rows = len(rest)
            if frames or probs.records == 0:
                last = concat_frames(frames) if frames else self._frame([], shape, cols,
                                                                       probs, attrs)
                yield set_attrs(last, dict(attrs))
        finally:
            pager.close()
            bar.close()
            try:
                self.client.close_point_in_time(id=pager.pit_id)
            except (es_lib.ApiError, es_lib.TransportError):  # expiry is harmless
                log.debug("closing the point in time failed", exc_info=True)

    def _arrow_frame(self, page: _ArrowPage, cols: Sequence[str],
                     probs: Problems) -> pd.DataFrame | None:
        """A clean page straight from Arrow columns; ``None`` sends it to the checked path."""
        fmap = self.mapping.for_shape(self.resolved_shape())
        columns = arrow_columns(page.records, fmap)
        df = None if columns is None else fast_frame(columns, fmap.duration_scale, cols)
        if df is not None:
            probs.records += page.n
        return df

    def _frame(self, hits: list[dict[str, Any]], shape: str, cols: Sequence[str],
               probs: Problems, attrs: dict[str, Any]) -> pd.DataFrame:
        sources = [h.get("_source") or {} for h in hits]
        with _gc_paused():  # the page's dicts are garbage-free; full collections only cost
            if shape == "envelope":
                df = normalize_records(sources, shape="envelope", mapping=self.mapping,
                                       fields=cols, problems=probs,
                                       where=[f"doc {h.get('_id')}" for h in hits])
            else:
                df = _fast_columns(sources, hits, self.mapping, shape, cols, probs)
        if probs:
            attrs["problems"] = probs.as_dict()
            msg = f"documents with problems: {probs.summary()}"
            attrs["warnings"] = [w for w in attrs.get("warnings", [])
                                 if not w.startswith("documents with problems")] + [msg]
        attrs["problems"] = probs.as_dict()
        return df

    # ------------------------------------------------------------------ aggregations

    def _composite(self, what: str, query: dict[str, Any], sources: list[dict[str, Any]],
                   sub: dict[str, Any], attrs: dict[str, Any],
                   size: int = 2000) -> Iterator[dict[str, Any]]:
        after: dict[str, Any] | None = None
        while True:
            comp: dict[str, Any] = {"size": size, "sources": sources}
            if after:
                comp["after"] = after
            agg: dict[str, Any] = {"composite": comp}
            if sub:
                agg["aggs"] = sub
            extra = {} if self.request_cache is None else {"request_cache": self.request_cache}
            body = self._call(what, self.client.search, index=self.index, size=0, query=query,
                              aggs={"c": agg}, track_total_hits=False,
                              filter_path=_AGG_FILTER_PATH, **extra)
            self._check_partial(body, attrs, what)
            res = (body.get("aggregations") or {}).get("c") or {}
            buckets = res.get("buckets", [])
            yield from buckets
            after = res.get("after_key")
            if not buckets or not after or len(buckets) < size:
                return

    def summary(self, start: TimeLike, end: TimeLike, interval: str = "1h",
                by: Sequence[str] | str | None = ("tenant_id",),
                filters: Filters | None = None,
                percentiles: Sequence[float] = (50, 95, 99)) -> pd.DataFrame:
        groups = check_group(by)
        ps = check_percentiles(percentiles)
        fixed, _ = parse_interval(interval)
        status = self._need("status_code", "count requests by status")
        duration = self._need("duration_s", "compute latency percentiles")
        fields = {c: self._need(c, f"summarize by {c}") for c in groups}
        query, attrs = self._query(start, end, filters, [{"exists": {"field": status}}])
        sources: list[dict[str, Any]] = [{"t": {"date_histogram": {
            "field": self._time_field(), "fixed_interval": fixed}}}]
        for i, c in enumerate(groups):
            sources.append({f"g{i}": {"terms": {"field": fields[c], "missing_bucket": True}}})
        sub: dict[str, Any] = {
            "e5": {"filter": {"range": {status: {"gte": 500}}}},
            "e4": {"filter": {"range": {status: {"gte": 400, "lt": 500}}}},
        }
        if ps:
            sub["p"] = {"percentiles": {"field": duration, "percents": list(ps),
                                        "keyed": False}}
        scale = self.mapping.for_shape(self.resolved_shape()).duration_scale
        rows: list[dict[str, Any]] = []
        for b in self._composite("summarize", query, sources, sub, attrs):
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
                                         "errors_4xx", *(percentile_column(p) for p in ps)])
        out = conform_summary(df, groups, ps)
        attrs.update({"interval": fixed, "by": list(groups),
                      "percentiles": "approximate (Elasticsearch TDigest percentiles "
                                     "aggregation)"})
        set_attrs(out, attrs)
        return out

    def top_errors(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
                   k: int = 20) -> pd.DataFrame:
        etype = self._need("error_type", "rank errors by type")
        ecode = self._need("error_code", "rank errors by code")
        msg = self._need("event", "rank errors by message")
        query, attrs = self._query(start, end, filters, [{"exists": {"field": etype}}])
        sources: list[dict[str, Any]] = [{"t": {"terms": {"field": etype}}},
                   {"c": {"terms": {"field": ecode, "missing_bucket": True}}},
                   {"m": {"terms": {"field": msg, "missing_bucket": True}}}]
        rows = [{"error_type": b["key"]["t"], "error_code": b["key"].get("c"),
                 "message": b["key"].get("m"), "count": b["doc_count"]}
                for b in self._composite("rank errors", query, sources, {}, attrs)]
        out = rank_errors(pd.DataFrame(rows, columns=["error_type", "error_code", "message",
                                                      "count"]), k)
        set_attrs(out, attrs)
        return out

    def close(self) -> None:
        self.client.close()

    def __repr__(self) -> str:
        return f"ElasticsearchLogs({self.url!r}, index={self.index!r})"


def _client_url(client: es_lib.Elasticsearch) -> str:
    try:
        node = client.transport.node_pool.get()
        return f"{node.config.scheme}://{node.config.host}:{node.config.port}"
    except Exception:  # pragma: no cover - only for messages
        return "(client)"


def _fast_columns(sources: list[dict[str, Any]], hits: list[dict[str, Any]],
                  mapping: LogMapping, shape: str, cols: Sequence[str],
                  probs: Problems) -> pd.DataFrame:
    """Columns straight from ``_source`` dicts; Arrow for clean pages, else the checked path."""
    fmap = mapping.for_shape(shape)
    n = len(sources)
    probs.records += n
    raw = _extract(sources, fmap)
    fast = fast_frame(raw, fmap.duration_scale, cols)
    if fast is not None:
        return fast
    scales = np.full(n, fmap.duration_scale, dtype="float64")
    return _finish(raw, scales, _Where(hits), probs, cols)


def _extract(sources: list[dict[str, Any]], fmap: FieldMap) -> dict[str, list[Any]]:
    """Column lists from ``_source`` dicts, the first present candidate path winning.

    One compiled pass reads every column's first candidate (a tuple per document, then a
    transpose), which is ~1.5x faster than a comprehension per column; later candidates
    and nested (dotted) paths only for the columns that still have gaps.
    """
    firsts = [fmap.paths(c)[0] for c in MAPPED_COLUMNS]
    getter = _getter(tuple(firsts))
    rows = getter(sources)
    n = len(sources)
    columns = list(zip(*rows, strict=True)) if n else [() for _ in MAPPED_COLUMNS]
    raw: dict[str, list[Any]] = {}
    for c, first, col in zip(MAPPED_COLUMNS, firsts, columns, strict=True):
        values = list(col)
        if None in values:
            for path in fmap.paths(c)[("." not in first):]:
                got = [get_path(s, path) for s in sources]
                values = [v if v is not None else g for v, g in zip(values, got, strict=True)]
                if None not in values:
                    break
        raw[c] = values
    return raw


@functools.lru_cache(maxsize=16)
def _getter(keys: tuple[str, ...]) -> Any:
    """``sources -> [(s.get(k1), s.get(k2), ...), ...]`` for validated field paths."""
    body = ", ".join(f"s.get({k!r})" for k in keys)
    return eval(f"lambda sources: [({body},) for s in sources]")  # paths are validated


_GC_LOCK = threading.Lock()
_GC_PAUSES = 0
_GC_WAS_ENABLED = False


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while decoding or converting a page of fresh dicts.

    A page is ~10,000 dicts that hold no cycles; as the export's frames grow, each full
    collection walks every live object, which measured up to 10x the cost of the decode
    itself. Reference-counted, so the prefetch thread and the converter can overlap.
    """
    global _GC_PAUSES, _GC_WAS_ENABLED
    with _GC_LOCK:
        if _GC_PAUSES == 0:
            _GC_WAS_ENABLED = gc.isenabled()
            gc.disable()
        _GC_PAUSES += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC_PAUSES -= 1
            if _GC_PAUSES == 0 and _GC_WAS_ENABLED:
                gc.enable()


class _PagedJsonSerializer(OrjsonSerializer):
    """orjson, with the cyclic GC paused while a response body is decoded."""

    def loads(self, data: bytes) -> Any:
        with _gc_paused():
            return super().loads(data)


@dataclasses.dataclass
class _ArrowPage:
    """A search response parsed by pyarrow: hit sources as columns, no Python dicts."""

    meta: dict[str, Any]
    records: pa.StructArray
    n: int
    last_sort: list[Any] | None
    data: bytes

    def decoded(self) -> dict[str, Any]:
        """The same response as dicts (for pages that need the checked path)."""
        with _gc_paused():
            body: dict[str, Any] = orjson.loads(self.data)
        return body


def _parse_page(data: bytes) -> dict[str, Any] | _ArrowPage:
    """Parse a search response with pyarrow's JSON reader (C++, releases the GIL).

    Falls back to orjson dicts when Arrow cannot type it (a field whose type changes within
    the page, an empty page); the dict path then counts any problems.
    """
    try:
        table = pa_json.read_json(io.BytesIO(data), read_options=pa_json.ReadOptions(
            block_size=len(data) + 1, use_threads=False))
        hits_obj = table.column("hits").combine_chunks()
        hits = pc.list_flatten(pc.struct_field(hits_obj, ["hits"]))
        n = len(hits)
        if n == 0:
            raise pa.ArrowInvalid("empty page")
        records = pc.struct_field(hits, ["_source"])
        last = pc.struct_field(hits, ["sort"])[n - 1].as_py()
        meta = table.drop_columns(["hits"]).to_pylist()[0]
        total_idx = hits_obj.type.get_field_index("total")
        if total_idx >= 0:
            meta["hits"] = {"total": pc.struct_field(hits_obj, ["total"])[0].as_py()}
        return _ArrowPage(meta, records, n, last, data)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, KeyError,
            IndexError):
        with _gc_paused():
            body: dict[str, Any] = orjson.loads(data)
        return body


class _RawSerializer(OrjsonSerializer):
    """Leaves response bodies as bytes (for pyarrow); request bodies still via orjson."""

    def loads(self, data: bytes) -> Any:
        return data


class _Pager:
    """PIT + ``search_after`` pages, the next one fetched while the caller converts this one.

    The request for page N+1 needs only page N's last sort values, so a background thread
    issues it as soon as page N arrives: Elasticsearch and the client work in parallel.
    """

    _END = object()

    def __init__(self, owner: ElasticsearchLogs, base: dict[str, Any], pit_id: str,
                 page: int, slices: int = 1) -> None:
        self.owner, self.base, self.pit_id, self.page = owner, base, pit_id, page
        self.slices = slices
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2 * slices)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), name=f"es-export-{i}",
                                          daemon=True) for i in range(slices)]
        for t in self._threads:
            t.start()

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False

    def _fetch(self, kwargs: dict[str, Any]) -> dict[str, Any] | _ArrowPage:
        """One page: raw bytes parsed by Arrow when possible, else a decoded dict."""
        raw = self.owner._raw_client
        if raw is None or self.owner.resolved_shape() == "envelope":
            body: dict[str, Any] = self.owner._call("export events", self.owner.client.search,
                                                    **kwargs)
            return body
        try:
            data = raw.search(**kwargs).body
        except es_lib.ApiError:  # re-ask with the decoding client for a readable error
            return dict(self.owner._call("export events", self.owner.client.search, **kwargs))
        except es_lib.TransportError as exc:
            raise _translate(exc, self.owner.url, self.owner.index, "export events") from exc
        return _parse_page(bytes(data))

    def _run(self, slice_id: int) -> None:
        after: list[Any] | None = None
        first = True
        try:
            while not self._stop.is_set():
                kwargs = dict(self.base, track_total_hits=first,
                              pit={"id": self.pit_id, "keep_alive": self.owner.keep_alive})
                if self.slices > 1:
                    kwargs["slice"] = {"id": slice_id, "max": self.slices}
                if self.owner.search_timeout:
                    kwargs["timeout"] = self.owner.search_timeout
                if after is not None:
                    kwargs["search_after"] = after
                page = self._fetch(kwargs)
                meta = page.meta if isinstance(page, _ArrowPage) else page
                self.pit_id = meta.get("pit_id", self.pit_id)
                first = False
                if isinstance(page, _ArrowPage):
                    n, last = page.n, page.last_sort
                else:
                    hits = page.get("hits", {}).get("hits", [])
                    n, last = len(hits), (hits[-1]["sort"] if hits else None)
                if not self._put((slice_id, page)) or n < self.page:
                    break
                after = last
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
        finally:
            self._put(self._END)

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any] | _ArrowPage]]:
        running = self.slices
        while running:
            item = self._queue.get()
            if item is self._END:
                running -= 1
                continue
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=120)


class _Where:
    """Lazy ``doc <id>`` locations: only computed for the few problem samples."""

    def __init__(self, hits: list[dict[str, Any]]) -> None:
        self._hits = hits

    def __getitem__(self, i: int) -> str:
        return f"doc {self._hits[i].get('_id')}"
