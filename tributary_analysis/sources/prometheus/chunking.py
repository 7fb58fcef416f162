"""Split a long ``query_range`` into step-aligned windows and fetch them concurrently.

Prometheus evaluates a range query at ``start + k*step`` for ``k = 0..n-1`` and refuses
more than 11,000 points per series. Windows are cut on that grid in integer milliseconds,
so each evaluation instant belongs to exactly one window: boundaries are neither
duplicated nor missing, and the merged result equals one unchunked request.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from tributary_analysis.errors import DataError

#: Prometheus's hard limit is (end-start)/step <= 11,000; stay one point below it.
MAX_POINTS = 11_000

T = TypeVar("T")


@dataclass(frozen=True)
class Window:
    """One request's range, in integer milliseconds since the epoch."""

    start_ms: int
    end_ms: int
    step_ms: int

    @property
    def points(self) -> int:
        return (self.end_ms - self.start_ms) // self.step_ms + 1


def plan_windows(start_ms: int, end_ms: int, step_ms: int, *, max_points: int = MAX_POINTS,
                 max_span_ms: int | None = None) -> list[Window]:
    """Cut ``[start, end]`` on the step grid into windows of at most ``max_points`` points
    and at most ``max_span_ms`` each.

    Examples
    --------
    >>> [(w.start_ms, w.end_ms) for w in plan_windows(0, 10_000, 1000, max_points=4)]
    [(0, 3000), (4000, 7000), (8000, 10000)]
    """
    if step_ms <= 0:
        raise DataError(f"step must be positive, got {step_ms} ms")
    if end_ms < start_ms:
        raise DataError(f"end ({end_ms} ms) is before start ({start_ms} ms); swap them")
    if max_points < 1:
        raise DataError(f"max_points must be >= 1, got {max_points}")
    per = max_points
    if max_span_ms is not None:
        if max_span_ms < step_ms:
            raise DataError(f"max_span ({max_span_ms} ms) is shorter than one step "
                            f"({step_ms} ms)")
        per = min(per, max_span_ms // step_ms + 1)
    total = (end_ms - start_ms) // step_ms + 1
    windows = []
    for k0 in range(0, total, per):
        k1 = min(total, k0 + per) - 1
        windows.append(Window(start_ms + k0 * step_ms, start_ms + k1 * step_ms, step_ms))
    return windows


def run_bounded(func: Callable[[Window], T], windows: list[Window], *, max_workers: int = 4,
                progress: bool | None = None, desc: str = "query_range") -> list[T]:
    """``func`` over ``windows`` with at most ``max_workers`` in flight, results in order.

    The first failure cancels the windows not yet started and is re-raised. ``progress``
    shows a tqdm bar (notebook-aware); ``None`` shows it when there are 8+ windows.
    """
    if len(windows) == 1:
        return [func(windows[0])]
    show = len(windows) >= 8 if progress is None else progress
    bar = _bar(len(windows), desc) if show else None
    results: list[T] = []
    try:
        with ThreadPoolExecutor(max_workers=max(1, max_workers),
                                thread_name_prefix="tributary-prom") as pool:
            futures = [pool.submit(func, w) for w in windows]
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


def iter_points(window: Window) -> Iterator[int]:
    """Evaluation instants of ``window`` in ms (used by tests to check coverage)."""
    return iter(range(window.start_ms, window.end_ms + 1, window.step_ms))


def step_ms_of(step_seconds: float) -> int:
    """Seconds → integer ms, refusing sub-millisecond steps Prometheus cannot express."""
    ms = round(step_seconds * 1000)
    if ms <= 0 or not math.isclose(ms, step_seconds * 1000, rel_tol=0, abs_tol=1e-6):
        raise DataError(f"step {step_seconds!r}s must be a positive whole number of "
                        "milliseconds")
    return ms
