"""Closest known names: what a report suggests when a filter selects nothing."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = ["closest"]


def closest(value: str, known: Iterable[str], n: int = 3) -> list[str]:
    """The ``n`` known values most like ``value`` (by similarity of their text; the
    alphabetically first ones when nothing is alike).

    Examples
    --------
    >>> closest("tenant-acmee", ["tenant-acme", "tenant-wayne", "tenant-globex"], n=1)
    ['tenant-acme']
    >>> closest("zzz", ["b", "a"], n=2)
    ['a', 'b']
    """
    pool = sorted({str(k) for k in known if str(k) != value})
    near = difflib.get_close_matches(value, pool, n=n, cutoff=0.4)
    return near + [k for k in pool if k not in near][: max(0, n - len(near))]
