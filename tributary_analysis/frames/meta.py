"""Frame metadata: one typed record, written and read here and nowhere else.

Every frame a source returns carries a :class:`FrameMeta` in ``df.attrs["meta"]``: which
source answered, the query and window asked, and everything the server said beyond the data
(warnings, infos, a partial response, shard failures, counted input problems). Analysis
functions carry it to their results with :func:`carry`, and the reader's warning box is
built from :func:`reader_notes` — so a partial response or a shard failure reaches the page
whatever path the frame took. No other module reads or writes ``df.attrs`` keys of its own
for these facts.

Examples
--------
>>> import pandas as pd
>>> df = set_meta(pd.DataFrame({"value": [1.0]}),
...               FrameMeta(source="prometheus", queries=("up",), partial=True))
>>> meta_of(df).partial
True
>>> reader_notes(df)
['partial response from prometheus for up: some data may be missing']
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import pandas as pd

from tributary_analysis.ground.time import Window, iso, parse_duration

__all__ = [
    "ATTRS_KEY", "FrameMeta", "Problem", "Shards", "carry", "merge_meta", "meta_of",
    "reader_notes", "set_meta", "update_meta",
]

#: the one ``df.attrs`` key this module owns
ATTRS_KEY = "meta"


@dataclass(frozen=True)
class Shards:
    """Elasticsearch shard accounting of the requests behind a frame (summed)."""

    total: int = 0
    successful: int = 0
    skipped: int = 0
    failed: int = 0

    def __add__(self, other: Shards) -> Shards:
        return Shards(self.total + other.total, self.successful + other.successful,
                      self.skipped + other.skipped, self.failed + other.failed)


@dataclass(frozen=True)
class Problem:
    """Input records of one kind that were left out or nulled, with where they were.

    ``kind`` is e.g. ``malformed_json``, ``nul_bytes``, ``bad_timestamp``,
    ``wrong_type:status_code``; ``samples`` are a few ``file:line: text`` strings.
    ``dropped`` says whether such records are missing from the frame (True) or kept
    (False): with the bad field emptied, or — ``repaired`` — whole after a repair such as
    stripping NUL padding or replacing invalid UTF-8.
    """

    kind: str
    count: int
    samples: tuple[str, ...] = ()
    dropped: bool = True
    repaired: bool = False

    def sentence(self) -> str:
        what = ("left out" if self.dropped else
                "kept after repair" if self.repaired else "kept with the field emptied")
        where = f" (e.g. {self.samples[0]})" if self.samples else ""
        return f"{self.count:,} input record(s) {what}: {self.kind}{where}"


@dataclass(frozen=True)
class FrameMeta:
    """What is known about a frame besides its rows.

    Attributes
    ----------
    source : str
        The kind of source: ``prometheus``, ``elasticsearch``, ``files``, ``jaeger``,
        ``otlp-files``; ``analysis`` for a derived frame with no source of its own.
    location : str
        URL, index pattern or file glob — never with credentials.
    server : str
        The server and version that answered (``Prometheus 3.6.0``), when known.
    queries : tuple of str
        The queries behind the frame (PromQL, an Elasticsearch query summary, SQL).
    window : Window or None
        The requested window (not the data's extent).
    step : Timedelta or None
        The query step or bin width.
    warnings, infos : tuple of str
        Everything the server said besides the data; infos are Prometheus's ``infos``
        (2.54+), kept apart because they are advice rather than a problem.
    partial : bool
        The server answered with part of the data (Prometheus ``partial_response``,
        Elasticsearch shard failures or ``timed_out``).
    problems : tuple of Problem
        Input records left out or nulled, counted by kind.
    shards : Shards or None
        Elasticsearch shard accounting.
    requests : int
        HTTP requests (or file scans) made to build the frame.
    notes : tuple of str
        Facts about exactness the reader should know (``percentiles are approximate
        (TDigest)``, ``served from the cache``).
    details : dict
        Source-specific extras for programs (query stats, renamed labels, series count,
        timings); not shown to the reader unless a note says so.
    """

    source: str = ""
    location: str = ""
    server: str = ""
    queries: tuple[str, ...] = ()
    window: Window | None = None
    step: pd.Timedelta | None = None
    warnings: tuple[str, ...] = ()
    infos: tuple[str, ...] = ()
    partial: bool = False
    problems: tuple[Problem, ...] = ()
    shards: Shards | None = None
    requests: int = 0
    notes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def query(self) -> str:
        """The queries as one string (``; ``-joined) for messages."""
        return "; ".join(self.queries)

    @property
    def dropped(self) -> int:
        """Input records left out of the frame."""
        return sum(p.count for p in self.problems if p.dropped)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (the Parquet cache's sidecar, ``summary.json`` warnings)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "window":
                v = None if v is None else {"start": iso(v.start), "end": iso(v.end)}
            elif f.name == "step":
                v = None if v is None else v.total_seconds()
            elif f.name == "problems":
                v = [{"kind": p.kind, "count": p.count, "samples": list(p.samples),
                      "dropped": p.dropped, "repaired": p.repaired} for p in v]
            elif f.name == "shards":
                v = None if v is None else {k.name: getattr(v, k.name) for k in fields(v)}
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, Mapping):
                v = json.loads(json.dumps(dict(v), default=str))
            out[f.name] = v
        return out

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> FrameMeta:
        """The inverse of :meth:`to_json`."""
        w = doc.get("window")
        step = doc.get("step")
        shards = doc.get("shards")
        return cls(
            source=str(doc.get("source", "")), location=str(doc.get("location", "")),
            server=str(doc.get("server", "")), queries=tuple(doc.get("queries", ())),
            window=Window.of(w["start"], w["end"]) if w else None,
            step=parse_duration(step) if step else None,
            warnings=tuple(doc.get("warnings", ())), infos=tuple(doc.get("infos", ())),
            partial=bool(doc.get("partial", False)),
            problems=tuple(Problem(p["kind"], int(p["count"]), tuple(p.get("samples", ())),
                                   bool(p.get("dropped", True)), bool(p.get("repaired", False)))
                           for p in doc.get("problems", ())),
            shards=Shards(**shards) if shards else None,
            requests=int(doc.get("requests", 0)), notes=tuple(doc.get("notes", ())),
            details=dict(doc.get("details", {})))


def meta_of(obj: Any) -> FrameMeta:
    """The :class:`FrameMeta` of a frame (an empty one when it has none)."""
    if isinstance(obj, FrameMeta):
        return obj
    attrs = getattr(obj, "attrs", None)
    meta = attrs.get(ATTRS_KEY) if isinstance(attrs, Mapping) else None
    return meta if isinstance(meta, FrameMeta) else FrameMeta()


def set_meta(df: pd.DataFrame, meta: FrameMeta) -> pd.DataFrame:
    """Attach ``meta`` to ``df`` (in place) and return ``df``."""
    df.attrs[ATTRS_KEY] = meta
    return df


def update_meta(df: pd.DataFrame, **changes: Any) -> pd.DataFrame:
    """Replace some fields of ``df``'s metadata (in place) and return ``df``."""
    return set_meta(df, replace(meta_of(df), **changes))


def _union(items: Iterable[Iterable[str]]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s for group in items for s in group))


def _merge_problems(groups: Iterable[Iterable[Problem]]) -> tuple[Problem, ...]:
    merged: dict[tuple[str, bool], Problem] = {}
    for group in groups:
        for p in group:
            key = (p.kind, p.dropped)
            old = merged.get(key)
            merged[key] = p if old is None else Problem(
                p.kind, old.count + p.count, (old.samples + p.samples)[:5], p.dropped,
                p.repaired)
    return tuple(merged.values())


def merge_meta(*metas: FrameMeta) -> FrameMeta:
    """One record for a frame built from several: unions of queries, warnings, infos,
    notes; problems and requests summed; partial if any part was partial. Source,
    location, server, window and step are kept when all parts agree."""
    parts = [m for m in metas if m != FrameMeta()]
    if not parts:
        return FrameMeta()
    if len(parts) == 1:
        return parts[0]

    def same(name: str) -> Any:
        values = {repr(getattr(m, name)) for m in parts}
        return getattr(parts[0], name) if len(values) == 1 else (
            "" if isinstance(getattr(parts[0], name), str) else None)

    shards = [m.shards for m in parts if m.shards is not None]
    total_shards = None
    for s in shards:
        total_shards = s if total_shards is None else total_shards + s
    return FrameMeta(
        source=same("source") or "mixed", location=same("location"), server=same("server"),
        queries=_union(m.queries for m in parts), window=same("window"), step=same("step"),
        warnings=_union(m.warnings for m in parts), infos=_union(m.infos for m in parts),
        partial=any(m.partial for m in parts),
        problems=_merge_problems(m.problems for m in parts), shards=total_shards,
        requests=sum(m.requests for m in parts), notes=_union(m.notes for m in parts),
        details={})


def carry(out: pd.DataFrame, *inputs: Any, **changes: Any) -> pd.DataFrame:
    """Give a derived frame the merged metadata of the frames it was computed from.

    Analysis functions call this on every result so what the servers said travels with
    the numbers; ``changes`` set fields of the result's own (e.g. ``step``).
    """
    meta = merge_meta(*(meta_of(i) for i in inputs))
    if changes:
        meta = replace(meta, **changes)
    return set_meta(out, meta)


def reader_notes(*items: Any) -> list[str]:
    """Every sentence the reader must see for ``items``: frames, :class:`FrameMeta`
    records, or plain strings (already sentences) — de-duplicated, in order.

    Warnings, infos (marked ``info:``), partial responses, shard failures and counted
    input problems each become one sentence; this is what the warning box shows.
    """
    out: list[str] = []

    def add(text: str) -> None:
        if text and text not in out:
            out.append(text)

    for item in items:
        if item is None:
            continue
        if isinstance(item, str):
            add(item)
            continue
        if isinstance(item, Iterable) and not isinstance(item, pd.DataFrame | Mapping):
            for sub in reader_notes(*item):
                add(sub)
            continue
        m = meta_of(item)
        who = m.source or "the source"
        for w in m.warnings:
            add(w)
        for i in m.infos:
            add(f"info: {i}")
        if m.partial:
            q = f" for {m.query}" if m.query else ""
            add(f"partial response from {who}{q}: some data may be missing")
        if m.shards is not None and m.shards.failed:
            add(f"{m.shards.failed} of {m.shards.total} shard(s) failed at {who}: the "
                "results miss their documents")
        for p in m.problems:
            add(p.sentence())
    return out
