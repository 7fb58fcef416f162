"""Which Elasticsearch field holds each column of the log frame (from ``field_caps``).

The document shape is detected from what the index pattern maps (ECS names, flat names,
or undecoded envelopes), each frame column is looked up among the
:class:`~tributary_analysis.sources.logs.normalize.LogMapping` candidates (an aggregatable
``.keyword`` sub-field when a ``text`` field cannot aggregate), and conflicting mappings
across daily indices become warnings.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from tributary_analysis.errors import NotFoundError, QueryError
from tributary_analysis.sources.logs.normalize import (
    ECS_MARKERS,
    MAPPED_COLUMNS,
    FieldMap,
    LogMapping,
)

log = logging.getLogger("tributary_analysis.sources.logs.elasticsearch")

#: ``call(what, method_name, **kwargs) -> body``: one request through the source
Call = Callable[..., dict[str, Any]]


class FieldMapping:
    """The field mapping of one index pattern, read once with ``field_caps``."""

    def __init__(self, call: Call, *, url: str, index: str, shape: str | None,
                 mapping: LogMapping) -> None:
        self._call = call
        self.url, self.index, self.shape, self.mapping = url, index, shape, mapping
        self._caps: dict[str, dict[str, Any]] | None = None
        self.warnings: list[str] = []

    def field_types(self) -> dict[str, dict[str, Any]]:
        """``field_caps`` of the index pattern: field → {type: caps}. Warns on conflicts."""
        if self._caps is None:
            body = self._call("read the field mapping", "field_caps", index=self.index,
                              fields="*", allow_no_indices=False, ignore_unavailable=False)
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
                    self.warnings.append(msg)
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

    @property
    def fmap(self) -> FieldMap:
        """The candidate paths of the detected shape."""
        return self.mapping.for_shape(self.resolved_shape())

    def field(self, column: str, *, aggregatable: bool = False) -> str | None:
        """The Elasticsearch field that holds a frame column (``None`` when unmapped)."""
        caps = self.field_types()
        for path in self.fmap.paths(column):
            types = caps.get(path)
            if not types:
                continue
            if not aggregatable or any(c.get("aggregatable") for c in types.values()):
                return path
            kw = caps.get(f"{path}.keyword")
            if kw and any(c.get("aggregatable") for c in kw.values()):
                return f"{path}.keyword"
        return None

    def need(self, column: str, why: str, aggregatable: bool = True) -> str:
        """:meth:`field`, or a clear error saying which fields were looked for."""
        if self.resolved_shape() == "envelope":
            raise QueryError(
                f"the indices {self.index!r} hold undecoded envelopes (the service's JSON inside "
                f"'message'), so Elasticsearch cannot {why}; decode them at ingest (flat "
                "documents) or use FileLogs", source="elasticsearch", url=self.url,
                query=self.index)
        name = self.field(column, aggregatable=aggregatable)
        if name is None:
            raise NotFoundError(
                f"cannot {why}: none of the fields {list(self.fmap.paths(column))} for log "
                f"column {column!r} is {'an aggregatable field ' if aggregatable else ''}"
                f"mapped in {self.index!r} at {self.url}; map one or pass a LogMapping naming "
                "the field", source="elasticsearch", url=self.url, query=self.index)
        return name

    def time_field(self) -> str:
        """The date field the window applies to (``@timestamp`` first)."""
        caps = self.field_types()
        for path in ("@timestamp", *self.fmap.timestamp):
            if any(t in ("date", "date_nanos") for t in caps.get(path, {})):
                return path
        raise NotFoundError(f"no date field among {['@timestamp', *self.fmap.timestamp]} in "
                            f"{self.index!r} at {self.url}; the indices need a date-typed "
                            "timestamp", source="elasticsearch", url=self.url, query=self.index)

    def source_fields(self, cols: Sequence[str]) -> list[str]:
        """The ``_source`` paths an export of ``cols`` needs."""
        if self.resolved_shape() == "envelope":
            return [self.mapping.envelope_key, "levelname", "asctime", "@timestamp"]
        wanted = set(cols)
        if "endpoint" in wanted:
            wanted.add("path")
        wanted.add("timestamp")  # always needed to place the record
        paths: list[str] = []
        for c in MAPPED_COLUMNS:
            if ("duration_s" if c == "duration" else c) in wanted:
                paths.extend(self.fmap.paths(c))
        return sorted(set(paths))
