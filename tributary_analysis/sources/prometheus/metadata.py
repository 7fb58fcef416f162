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
    _legacy_attrs(df, meta)
    return df


def _legacy_attrs(df: pd.DataFrame, meta: FrameMeta) -> None:
    # legacy keys: remove once readers use meta_of
    # (fetch/planning.py, notebook/__init__.py and analysis/_common.py read these today)
    df.attrs["warnings"] = [*meta.warnings, *(f"info: {i}" for i in meta.infos)]
    df.attrs["partial_response"] = meta.partial
    df.attrs["query"] = meta.query
    df.attrs["series"] = int(meta.details.get("series", 0) or 0)
    df.attrs["renamed_labels"] = dict(meta.details.get("renamed_labels") or {})


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
