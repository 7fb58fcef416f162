"""``OtlpFiles``: the embedded default trace source, DuckDB over OTLP JSON files.

The files are what the OpenTelemetry Collector's file exporter writes (and what the
simulator writes under ``traces/``): one ``ExportTraceServiceRequest`` JSON per line.
They are read once with DuckDB (no Python per span) into an in-memory span store
(:mod:`.store`) and read again only when a file changes (size or modification time);
every question after that is SQL with bound parameters. No server needed.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tributary_analysis.errors import DataError, NotFoundError
from tributary_analysis.frames.meta import FrameMeta, Problem
from tributary_analysis.ground.time import Window
from tributary_analysis.sources.traces.base import (
    TraceQuery,
    TraceSource,
    stamp,
    window_note,
)
from tributary_analysis.sources.traces.store import Selection, SpanStore

#: where ``tributary demo up`` keeps the simulator's trace files
DEMO_TRACE_GLOB = "$TRIBUTARY_HOME/demo/sim/traces/*.jsonl"


class OtlpFiles(TraceSource):
    """Traces from OTLP JSON-lines files.

    Parameters
    ----------
    paths : str, Path or sequence of them
        Files, directories (every ``*.jsonl`` / ``*.json`` inside) or glob patterns
        (``~`` and ``$VARS`` expanded).

    Examples
    --------
    >>> src = OtlpFiles("demo-data/traces/*.jsonl")                     # doctest: +SKIP
    >>> src.traces(start="2026-11-20T09:00Z", end="2026-11-20T10:00Z")  # doctest: +SKIP
    """

    kind = "otlp-files"

    def __init__(self, paths: str | Path | Sequence[str | Path]) -> None:
        items = [paths] if isinstance(paths, str | Path) else list(paths)
        if not items:
            raise DataError("OtlpFiles needs at least one file, directory or glob pattern")
        self._patterns = [os.path.expandvars(os.path.expanduser(str(p))) for p in items]
        self._store: SpanStore | None = None
        self._signature: tuple[tuple[str, int, int], ...] = ()

    @property
    def location(self) -> str:
        return ", ".join(self._patterns)

    def files(self) -> list[str]:
        """The files the patterns name right now (sorted)."""
        out: list[str] = []
        for pat in self._patterns:
            p = Path(pat)
            if p.is_dir():
                out += [str(f) for f in sorted(p.iterdir())
                        if f.suffix in (".jsonl", ".json", ".ndjson") and f.is_file()]
            elif any(ch in pat for ch in "*?["):
                out += sorted(glob.glob(pat))
            elif p.is_file():
                out.append(str(p))
        if not out:
            raise NotFoundError(f"no OTLP trace files match {self.location}; check the path "
                                "(the demo writes them under <sim dir>/traces/)",
                                source=self.kind)
        return sorted(dict.fromkeys(out))

    def _loaded(self) -> SpanStore:
        files = self.files()
        sig = tuple((f, (st := os.stat(f)).st_size, st.st_mtime_ns) for f in files)
        if self._store is None or sig != self._signature:
            store = SpanStore()
            store.load_files(files)
            if self._store is not None:
                self._store.close()
            self._store, self._signature = store, sig
        return self._store

    def services(self) -> list[str]:
        return self._loaded().services()

    def _meta(self, store: SpanStore, query: str, window: Window | None, *, partial: bool,
              notes: list[str], details: dict[str, object]) -> FrameMeta:
        st = store.stats
        problems: tuple[Problem, ...] = st.as_problems()
        return FrameMeta(source=self.kind, location=self.location, queries=(query,),
                         window=window, partial=partial, problems=problems,
                         requests=len(self._signature), notes=tuple(notes),
                         details={"files": len(self._signature), "spans_read": st.read,
                                  "spans_kept": st.kept, **details})

    def _check_service(self, store: SpanStore, service: str | None) -> None:
        if service is None:
            return
        known = store.services()
        if service not in known:
            shown = ", ".join(known) or "none"
            raise NotFoundError(f"service {service!r} sent no spans to {self.location}; "
                                f"services in these files: {shown} (or pass service=None)",
                                source=self.kind, query=service)

    def _spans(self, query: TraceQuery) -> pd.DataFrame:
        store = self._loaded()
        self._check_service(store, query.service)
        df, matched = store.select(query.selection())
        notes: list[str] = []
        ext = store.extent()
        where = f"the trace files ({len(self._signature)})"
        miss = window_note(query.window, None if ext is None else (
            pd.Timestamp(ext[0], unit="ns", tz="UTC"), pd.Timestamp(ext[1], unit="ns",
                                                                    tz="UTC")), where)
        if miss and df.empty:
            notes.append(miss)
        returned = int(df["trace_id"].nunique()) if len(df) else 0
        partial = matched > returned
        if partial:
            notes.append(f"{returned:,} of {matched:,} matching traces returned (limit="
                         f"{query.limit:,}, earliest first); narrow the window or raise limit")
        return stamp(df, self._meta(store, query.describe(), query.window, partial=partial,
                                    notes=notes, details={"matched_traces": matched,
                                                          "returned_traces": returned,
                                                          "limit": query.limit}))

    def _trace(self, trace_id: str, window: Window | None) -> pd.DataFrame:
        store = self._loaded()
        lo, hi = (-(2**62), 2**62) if window is None else (int(window.start.value),
                                                          int(window.end.value))
        df, _ = store.select(Selection(start_ns=lo, end_ns=hi, limit=1,
                                       trace_ids=(trace_id,)))
        return stamp(df, self._meta(store, f"trace {trace_id}", window, partial=False,
                                    notes=[], details={}))


__all__ = ["DEMO_TRACE_GLOB", "OtlpFiles"]
