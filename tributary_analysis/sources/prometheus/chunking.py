"""Split a long ``query_range`` into step-grid chunks and fetch them concurrently.

Prometheus evaluates a range query at ``start + k*step`` for ``k = 0..n-1`` and refuses
more than 11,000 points per series. Chunks are cut on that grid in integer milliseconds,
so each evaluation instant belongs to exactly one chunk: boundaries are neither duplicated
nor missing, and the merged result equals one unchunked request.

Where a split is needed anyway, the cuts fall on UTC day boundaries (or on whole fractions
of a day when one day holds more than 11,000 points), the way query frontends (Thanos,
Mimir, Cortex) split and cache: each chunk then matches a cache entry of theirs. A chunk
is called :class:`Chunk` (not a window: the suite's one window type is
:class:`tributary_analysis.ground.time.Window`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import pandas as pd

from tributary_analysis.errors import DataError
from tributary_analysis.ground.time import DurationLike, iso, parse_step

#: Prometheus's hard limit is (end-start)/step <= 11,000; stay one point below it.
MAX_POINTS = 11_000
DAY_MS = 86_400_000

T = TypeVar("T")


def _iso_ms(ms: int) -> str:
    return iso(pd.Timestamp(ms, unit="ms", tz="UTC"))


@dataclass(frozen=True)
class Chunk:
    """One request's range on the step grid: first and last evaluation instant (both
    included, as the API takes them) in integer milliseconds since the epoch."""

    start_ms: int
    end_ms: int
    step_ms: int

    @property
    def points(self) -> int:
        return (self.end_ms - self.start_ms) // self.step_ms + 1

    def describe(self) -> str:
        """``start … end`` in ISO UTC, for messages."""
        return f"{_iso_ms(self.start_ms)} … {_iso_ms(self.end_ms)}"


def _day_span(step_ms: int, per: int) -> int | None:
    """The chunk length (ms) cutting on day boundaries with at most ``per`` points, or None
    when the step does not divide a day (then plain cuts on the grid are used)."""
    if DAY_MS % step_ms and step_ms % DAY_MS:
        return None
    if per * step_ms >= DAY_MS:
        days = (per * step_ms) // DAY_MS
        span = days * DAY_MS
        return span if span % step_ms == 0 else None
    # a day holds more than ``per`` points: the fewest equal parts of a day that fit
    for parts in range(-(-DAY_MS // (per * step_ms)), DAY_MS // step_ms + 1):
        if DAY_MS % parts == 0 and (DAY_MS // parts) % step_ms == 0 and \
                DAY_MS // parts // step_ms <= per:
            return DAY_MS // parts
    return None


def plan_chunks(start_ms: int, end_ms: int, step_ms: int, *, max_points: int = MAX_POINTS,
                max_span_ms: int | None = None, day_boundaries: bool = True) -> list[Chunk]:
    """Cut ``[start, end]`` (both evaluated) on the step grid into chunks of at most
    ``max_points`` points and at most ``max_span_ms`` each.

    A range that fits one request stays one request. Otherwise, with ``day_boundaries``
    and a step that divides a day, the cuts fall on UTC midnights (or on equal fractions
    of a day), as query frontends split; else every ``max_points`` points.

    Examples
    --------
    >>> [(c.start_ms, c.end_ms) for c in plan_chunks(0, 10_000, 1000, max_points=4,
    ...                                              day_boundaries=False)]
    [(0, 3000), (4000, 7000), (8000, 10000)]
    >>> for c in plan_chunks(0, 2 * DAY_MS, 3_600_000, max_span_ms=DAY_MS):
    ...     print(c.describe(), c.points)
    1970-01-01T00:00:00Z … 1970-01-01T23:00:00Z 24
    1970-01-02T00:00:00Z … 1970-01-02T23:00:00Z 24
    1970-01-03T00:00:00Z … 1970-01-03T00:00:00Z 1
    """
    if step_ms <= 0:
        raise DataError(f"step must be positive, got {step_ms} ms")
    if end_ms < start_ms:
        raise DataError(f"end {_iso_ms(end_ms)} is before start {_iso_ms(start_ms)}; "
                        "swap them")
    if max_points < 1:
        raise DataError(f"max_points must be >= 1, got {max_points}")
    per = max_points
    if max_span_ms is not None:
        if max_span_ms < step_ms:
            raise DataError(f"max_span ({max_span_ms / 1000:g}s) is shorter than one step "
                            f"({step_ms / 1000:g}s); use a longer max_span or a finer step")
        per = min(per, max(1, max_span_ms // step_ms))
    total = (end_ms - start_ms) // step_ms + 1
    if total <= per and max_span_ms is None:
        return [Chunk(start_ms, start_ms + (total - 1) * step_ms, step_ms)]
    span = _day_span(step_ms, per) if day_boundaries else None
    if span is not None and max_span_ms is not None and span > max_span_ms:
        span = None
    if span is None:
        return [Chunk(start_ms + k0 * step_ms, start_ms + (min(total, k0 + per) - 1) * step_ms,
                      step_ms) for k0 in range(0, total, per)]
    last = start_ms + (total - 1) * step_ms
    chunks = []
    k = 0
    while k < total:
        t = start_ms + k * step_ms
        boundary = (t // span + 1) * span  # next cut after t (a midnight or a day fraction)
        k_end = min(total - 1, (boundary - 1 - start_ms) // step_ms)
        chunks.append(Chunk(t, min(last, start_ms + k_end * step_ms), step_ms))
        k = k_end + 1
    return chunks


def run_bounded(func: Callable[[Chunk], T], chunks: list[Chunk], *, max_workers: int = 4,
                progress: bool | None = None, desc: str = "query_range") -> list[T]:
    """``func`` over ``chunks`` with at most ``max_workers`` in flight, results in order.

    The first failure cancels the chunks not yet started and is re-raised. ``progress``
    shows a tqdm bar (notebook-aware); ``None`` shows it when there are 8+ chunks.
    """
    if len(chunks) == 1:
        return [func(chunks[0])]
    show = len(chunks) >= 8 if progress is None else progress
    bar = _bar(len(chunks), desc) if show else None
    results: list[T] = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, max_workers),
                                thread_name_prefix="tributary-prom") as pool:
            futures = [pool.submit(func, c) for c in chunks]
            try:
                for fut in futures:
                    results.append(fut.result())
                    if bar is not None:
                        bar.update(1)
            except BaseException:
                for f in futures:
                    f.cancel()
                raise
    finally:
        if bar is not None:
            bar.close()
    return results


def _bar(total: int, desc: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="req", leave=False)


def iter_points(chunk: Chunk) -> Iterator[int]:
    """Evaluation instants of ``chunk`` in ms (used by tests to check coverage)."""
    return iter(range(chunk.start_ms, chunk.end_ms + 1, chunk.step_ms))


def step_ms_of(step: DurationLike) -> int:
    """A step as integer milliseconds (what Prometheus can express), read by
    :func:`tributary_analysis.ground.time.parse_step`."""
    return int(parse_step(step) // pd.Timedelta(milliseconds=1))
