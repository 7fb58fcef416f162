"""What a log frame carries besides its rows: one :class:`FrameMeta`, built here.

Both log sources describe each frame with :func:`log_meta` and attach it with
:func:`stamp`; problems counted while reading (:class:`Problems`) become one
:class:`~tributary_analysis.frames.meta.Problem` per kind, with ``file:line`` samples and
whether such records are missing from the frame or kept with a value emptied.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from tributary_analysis.frames.meta import FrameMeta, Problem, Shards, meta_of, set_meta
from tributary_analysis.ground.time import Window
from tributary_analysis.sources.logs.normalize import Problems, is_dropped

#: kinds whose records are kept whole after a repair (see ``sources/logs/lines.py``)
REPAIRED = frozenset({"nul_prefix", "invalid_utf8"})


def problems_meta(probs: Problems | None) -> tuple[Problem, ...]:
    """One :class:`Problem` per kind, samples as ``file:line: text``."""
    if not probs:
        return ()
    out = []
    for kind, count in sorted(probs.counts.items()):
        samples = tuple(f"{s['where']}: {s['text']}" if s.get("text") else s["where"]
                        for s in probs.samples if s["kind"] == kind)
        out.append(Problem(kind=kind, count=int(count), samples=samples[:5],
                           dropped=is_dropped(kind), repaired=kind in REPAIRED))
    return tuple(out)


def log_meta(source: str, location: str, window: Window | None, queries: Iterable[str], *,
             problems: Problems | None = None, step: pd.Timedelta | None = None,
             warnings: Iterable[str] = (), partial: bool = False,
             shards: Mapping[str, int] | Shards | None = None, requests: int = 0,
             notes: Iterable[str] = (), details: Mapping[str, Any] | None = None) -> FrameMeta:
    """The metadata of one log frame (see :class:`FrameMeta` for each field)."""
    if isinstance(shards, Mapping):
        shards = Shards(**{k: int(shards.get(k, 0) or 0)
                           for k in ("total", "successful", "skipped", "failed")})
    extra = dict(details or {})
    if problems is not None:
        extra["problems"] = problems.as_dict()
    all_notes = list(notes)
    if problems is not None and problems.blank:
        all_notes.append(f"{problems.blank:,} blank line(s) in the input are not records")
    return FrameMeta(source=source, location=location, queries=tuple(queries),
                     window=window, step=step, warnings=tuple(dict.fromkeys(warnings)),
                     partial=partial, problems=problems_meta(problems), shards=shards,
                     requests=requests, notes=tuple(dict.fromkeys(all_notes)),
                     details=extra)


def stamp(df: pd.DataFrame, meta: FrameMeta) -> pd.DataFrame:
    """Replace ``df``'s attrs with ``meta`` and return ``df``."""
    df.attrs.clear()
    set_meta(df, meta)
    return df


def restamp(df: pd.DataFrame, **changes: Any) -> pd.DataFrame:
    """:func:`stamp` with some fields of ``df``'s metadata replaced (``details`` merged)."""
    from dataclasses import replace

    meta = meta_of(df)
    if "details" in changes:
        changes["details"] = {**meta.details, **changes["details"]}
    return stamp(df, replace(meta, **changes))
