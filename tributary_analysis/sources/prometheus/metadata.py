"""The :class:`~tributary_analysis.frames.meta.FrameMeta` of every Prometheus frame, built here.

One function (:func:`attach`) puts the record on a frame; the cache sidecar stores it with
``FrameMeta.to_json`` and restores it with :func:`restore`. What goes where:

* ``warnings`` / ``infos``: the server's ``warnings`` and (2.54+) ``infos``, kept apart;
* ``partial``: ``partialResponse`` / ``isPartial`` (Thanos, Mimir) of any request;
* ``requests``: HTTP requests made for the frame (0 when served from the cache);
* ``notes``: exactness facts for the reader (cache hit, alignment, native histograms);
* ``details``: for programs — ``result_type``, ``series``, ``samples``, ``stats``,
  ``renamed_labels``, ``timings`` (seconds), ``cache``, ``estimate``, ``histograms``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pandas as pd

from tributary_analysis.frames.meta import FrameMeta, meta_of, set_meta
from tributary_analysis.ground.time import Window

SOURCE = "prometheus"


def build_meta(*, location: str, server: str, query: str, window: Window | None,
               step: pd.Timedelta | None, warnings: list[str], infos: list[str],
               partial: bool, requests: int, notes: list[str] | None = None,
               details: Mapping[str, Any] | None = None) -> FrameMeta:
    """The record for one Prometheus answer (``location`` already without credentials)."""
    return FrameMeta(source=SOURCE, location=location, server=server,
                     queries=(query,) if query else (), window=window, step=step,
                     warnings=tuple(dict.fromkeys(warnings)),
                     infos=tuple(dict.fromkeys(infos)), partial=partial, requests=requests,
                     notes=tuple(dict.fromkeys(notes or ())), details=dict(details or {}))


def attach(df: pd.DataFrame, meta: FrameMeta) -> pd.DataFrame:
    """Put ``meta`` on ``df`` (the only writer of a Prometheus frame's attrs)."""
    set_meta(df, meta)
    return df


def amend(df: pd.DataFrame, **changes: Any) -> pd.DataFrame:
    """Replace fields of ``df``'s record (``details`` merged, ``notes`` appended)."""
    meta = meta_of(df)
    if "details" in changes:
        changes["details"] = {**meta.details, **changes["details"]}
    if "notes" in changes:
        changes["notes"] = tuple(dict.fromkeys((*meta.notes, *changes["notes"])))
    return attach(df, replace(meta, **changes))


def restore(df: pd.DataFrame, doc: Mapping[str, Any]) -> pd.DataFrame:
    """Attach a record read back from a cache sidecar (``FrameMeta.to_json`` output)."""
    return attach(df, FrameMeta.from_json(doc))
