"""Small checks shared by the analysis modules: every public function validates its frame
the same way and names the missing column and how to get it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from tributary_analysis.errors import DataError
from tributary_analysis.frames.meta import Problem, meta_of, update_meta


def require_columns(df: pd.DataFrame, columns: Iterable[str], *, what: str, hint: str = "") -> None:
    """Raise :class:`DataError` naming the frame, the missing columns and what to pass."""
    if not isinstance(df, pd.DataFrame):
        raise DataError(f"{what} must be a pandas DataFrame, got {type(df).__name__}")
    missing = [c for c in columns if c not in df.columns]
    if missing:
        have = ", ".join(map(str, df.columns)) or "(none)"
        msg = f"{what} lacks column(s) {', '.join(missing)}; it has: {have}"
        raise DataError(f"{msg}. {hint}" if hint else msg)


def as_list(by: str | Sequence[str] | None) -> list[str]:
    """``None`` → ``[]``, a string → ``[string]``, a sequence → a list."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def utc_timestamps(series: pd.Series, *, what: str) -> pd.Series:
    """Timestamps as tz-aware UTC; naive values are taken as UTC."""
    ts = pd.to_datetime(series, utc=True, errors="coerce")
    bad = int(ts.isna().sum() - series.isna().sum())
    if bad:
        raise DataError(f"{what}: {bad} timestamp(s) could not be parsed; fix the input")
    return ts


def infer_step(ts: pd.Series, *, what: str) -> pd.Timedelta:
    """The sampling step of a regular series: the most common gap between timestamps."""
    uniq = pd.Series(pd.to_datetime(ts, utc=True).drop_duplicates().sort_values())
    if len(uniq) < 2:
        raise DataError(f"{what} has fewer than two timestamps; widen the window")
    gaps = uniq.diff().dropna()
    return pd.Timedelta(gaps.mode().iloc[0])


def note_problem(df: pd.DataFrame, kind: str, count: int, *, dropped: bool = True
                 ) -> pd.DataFrame:
    """Count input rows an analysis left out (or nulled) in the frame's metadata, so the
    reader's warning box says so (``reader_notes``); no-op for a zero count."""
    if count:
        meta = meta_of(df)
        update_meta(df, problems=(*meta.problems, Problem(kind, int(count), dropped=dropped)))
    return df
