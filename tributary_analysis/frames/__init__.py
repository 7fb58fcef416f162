"""The frames layer: the tidy shapes every source returns and their one metadata record.

- :mod:`.meta`: :class:`~.meta.FrameMeta` in ``df.attrs["meta"]``, read and written only
  through :func:`~.meta.meta_of`, :func:`~.meta.set_meta`, :func:`~.meta.carry` and
  :func:`~.meta.reader_notes`.

The column contracts live beside the sources that build them (metric frame:
``sources/prometheus/frames.py``; log frame: ``sources/logs/schema.py``; span frame:
``sources/traces/``).
"""

from tributary_analysis.frames.meta import (
    FrameMeta,
    Problem,
    Shards,
    carry,
    merge_meta,
    meta_of,
    reader_notes,
    set_meta,
    update_meta,
)

__all__ = ["FrameMeta", "Problem", "Shards", "carry", "merge_meta", "meta_of",
           "reader_notes", "set_meta", "update_meta"]
