"""``ElasticsearchLogs``: the log source for users who keep the service's logs in ELK.

The class ties the jobs together; each lives in its own module:
:mod:`.client` (the client and the translation of its errors), :mod:`.fields` (which field
holds each column, from ``field_caps``), :mod:`.query` (query building, partial answers),
:mod:`.export` (PIT + ``search_after``, sliced, Arrow pages) and :mod:`.aggregations`
(summaries and top errors as ``composite`` aggregations).

Partial answers are never dropped: shard failures, ``timed_out`` and failed shards go to
the frame's warnings (and a logging warning), ``partial`` and shard totals; conflicting
mappings across daily indices (``field_caps``) warn the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

import elasticsearch as es_lib
import numpy as np
import pandas as pd

from tributary_analysis.config import Settings, load_settings, redact_url
from tributary_analysis.frames.meta import FrameMeta
from tributary_analysis.ground.time import DurationLike, Window
from tributary_analysis.sources.logs.base import (
    Filters,
    LogSource,
    TimeLike,
    check_filters,
    check_group,
    check_percentiles,
    resolve_interval,
    resolve_window,
)
from tributary_analysis.sources.logs.elasticsearch import aggregations
from tributary_analysis.sources.logs.elasticsearch.client import (
    CLIENT_ERRORS,
    client_url,
    make_client,
    translate,
)
from tributary_analysis.sources.logs.elasticsearch.export import export
from tributary_analysis.sources.logs.elasticsearch.fields import FieldMapping
from tributary_analysis.sources.logs.elasticsearch.query import check_partial, window_query
from tributary_analysis.sources.logs.meta import log_meta, stamp
from tributary_analysis.sources.logs.normalize import (
    DEFAULT_MAPPING,
    LogMapping,
    Problems,
    check_shape,
)
from tributary_analysis.sources.logs.schema import check_fields, concat_frames, set_attrs


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
        what it has with ``timed_out``, which lands in the frame's warnings.

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
        self.url = redact_url(url or settings.es_url)
        self.index = index or settings.es_index
        self.client = client if client is not None else make_client(
            settings, url or settings.es_url, request_timeout)
        # export pages as raw bytes for pyarrow; a caller's own client keeps the dict path
        self.raw_client = (make_client(settings, url or settings.es_url, request_timeout,
                                       raw=True) if client is None else None)
        if client is not None:
            self.url = client_url(client)
        self.shape = check_shape(shape)
        self.mapping = mapping
        self.page_size = int(page_size)
        self.keep_alive = keep_alive
        self.progress = progress
        self.search_timeout = search_timeout
        self.export_slices = max(1, int(export_slices))
        self.request_cache = request_cache
        self.fields = FieldMapping(self.call, url=self.url, index=self.index, shape=shape,
                                   mapping=mapping)
        self._requests = 0
        self._requests_lock = threading.Lock()

    # ------------------------------------------------------------------ requests

    @property
    def requests_made(self) -> int:
        """HTTP requests sent so far (a frame's metadata counts the ones behind it)."""
        return self._requests

    def _count_request(self) -> None:
        with self._requests_lock:
            self._requests += 1

    def call(self, what: str, method: str, **kwargs: Any) -> dict[str, Any]:
        """One request with the decoding client; client errors become the suite's."""
        fn = getattr(self.client, method)
        if self.search_timeout and method == "search":
            kwargs.setdefault("timeout", self.search_timeout)
        self._count_request()
        try:
            resp = fn(**kwargs)
        except CLIENT_ERRORS as exc:
            raise translate(exc, self.url, self.index, what) from exc
        body = resp.body if hasattr(resp, "body") else resp
        return dict(body)

    def raw_search(self, kwargs: dict[str, Any]) -> bytes | None:
        """A search answered as raw bytes (``None`` on an API error: ask :meth:`call`)."""
        assert self.raw_client is not None
        self._count_request()
        try:
            return bytes(self.raw_client.search(**kwargs).body)
        except es_lib.ApiError:
            return None
        except es_lib.TransportError as exc:
            raise translate(exc, self.url, self.index, "export events") from exc

    # ------------------------------------------------------------------ mapping

    def field_types(self) -> dict[str, dict[str, Any]]:
        """``field_caps`` of the index pattern: field → {type: caps}. Warns on conflicts."""
        return self.fields.field_types()

    def resolved_shape(self) -> str:
        """The document shape: given, or detected from which fields are mapped."""
        return self.fields.resolved_shape()

    def source_filter(self, cols: Sequence[str]) -> dict[str, Any] | bool:
        """The stored ``_source`` as it is, unless very few columns are wanted.

        Measured on this node (206k documents): ``_source`` includes make Elasticsearch
        parse and re-serialize every document (HTTP time 1.9 s → 6.0 s even for 4 fields)
        and ``filter_path`` on hits costs the same kind of re-serialization (1.9 s → 4.0 s);
        both cost more than the bytes they save on the service's ~15-field documents. So
        exports send neither; only a one- or two-column export filters the source.
        """
        if len(cols) > 2:
            return True
        return {"includes": self.fields.source_fields(cols)}

    # ------------------------------------------------------------------ metadata

    def window_query(self, window: Window, filters: dict[str, list[Any]],
                     extra: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """The ``bool`` query over the window and the ``terms`` filters."""
        return window_query(window, self.fields.time_field(), filters,
                            lambda col: self.fields.need(col, f"filter on {col}"), extra)

    def check_partial(self, body: dict[str, Any], acc: dict[str, Any], what: str) -> None:
        """Shard failures and timeouts of one answer into the frame's accumulator."""
        check_partial(body, acc, what, index=self.index, url=self.url)


    def stamp(self, df: pd.DataFrame, window: Window, acc: dict[str, Any],
              filters: dict[str, list[Any]], *, problems: Problems | None = None,
              step: pd.Timedelta | None = None, notes: Sequence[str] = (),
              details: dict[str, Any] | None = None) -> pd.DataFrame:
        """Attach the frame's metadata (and the legacy attrs) built from ``acc``."""
        return stamp(df, self._meta(window, acc, filters, problems=problems, step=step,
                                    notes=notes, details=details))

    def _meta(self, window: Window, acc: dict[str, Any], filters: dict[str, list[Any]], *,
              problems: Problems | None, step: pd.Timedelta | None, notes: Sequence[str],
              details: dict[str, Any] | None) -> FrameMeta:
        extra: dict[str, Any] = {"url": self.url, "index": self.index, "filters": filters,
                                 "shape": self.fields.resolved_shape()}
        for key in ("pit", "total_hits"):
            if key in acc:
                extra[key] = acc[key]
        extra.update(details or {})
        return log_meta("elasticsearch", f"{self.url} index {self.index}", window,
                        acc.get("queries", ()), problems=problems, step=step,
                        warnings=acc.get("warnings", ()), partial=bool(acc.get("partial")),
                        shards=acc.get("shards"), requests=int(acc.get("requests", 0)),
                        notes=notes, details=extra)

    # ------------------------------------------------------------------ questions

    def count(self, start: TimeLike, end: TimeLike, filters: Filters | None = None) -> int:
        query = self.window_query(resolve_window(start, end), check_filters(filters))
        body = self.call("count events", "count", index=self.index, query=query)
        return int(body.get("count", 0))

    def iter_batches(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
                     fields: Sequence[str] | None = None,
                     batch_size: int = 50_000) -> Iterator[pd.DataFrame]:
        return export(self, resolve_window(start, end), check_filters(filters),
                      check_fields(fields), batch_size, slices=1)

    def search(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
               fields: Sequence[str] | None = None) -> pd.DataFrame:
        """All matching events, oldest first (see :meth:`LogSource.search`).

        Unlike :meth:`iter_batches` (ordered pages), the PIT is read in ``export_slices``
        parallel slices sorted by ``_shard_doc`` only, so Elasticsearch serves pages on
        several threads; the frame is sorted by timestamp at the end.
        """
        cols = check_fields(fields)
        batches = list(export(self, resolve_window(start, end), check_filters(filters), cols,
                              1 << 62, slices=self.export_slices))
        attrs = dict(batches[-1].attrs)
        df = concat_frames(batches)
        if "timestamp" in df.columns and len(df):
            order = np.argsort(df["timestamp"].to_numpy(), kind="stable")
            df = df.take(order).reset_index(drop=True)
        return set_attrs(df[list(cols)], attrs)

    def summary(self, start: TimeLike, end: TimeLike, interval: DurationLike = "1h",
                by: Sequence[str] | str | None = ("tenant_id",),
                filters: Filters | None = None,
                percentiles: Sequence[float] = (50, 95, 99)) -> pd.DataFrame:
        groups = check_group(by)
        ps = check_percentiles(percentiles)
        step = resolve_interval(interval)
        return aggregations.summary(self, resolve_window(start, end), step, groups,
                                    check_filters(filters), ps)

    def top_errors(self, start: TimeLike, end: TimeLike, filters: Filters | None = None,
                   k: int = 20) -> pd.DataFrame:
        return aggregations.top_errors(self, resolve_window(start, end),
                                       check_filters(filters), k)

    def distinct(self, column: str, start: TimeLike, end: TimeLike,
                 filters: Filters | None = None, limit: int = 10_000) -> list[str]:
        check_fields([column])
        return aggregations.distinct(self, column, resolve_window(start, end),
                                     check_filters(filters), limit)

    def close(self) -> None:
        self.client.close()
        if self.raw_client is not None:
            self.raw_client.close()

    def __repr__(self) -> str:
        return f"ElasticsearchLogs({self.url!r}, index={self.index!r})"
