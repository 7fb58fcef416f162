"""The last cell's small JSON summary: the key results of a run, for tests and reports."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["jsonable", "write_summary"]


def jsonable(value: Any) -> Any:
    """``value`` with timestamps as ISO strings, durations as seconds, NaN as ``None``,
    frames as lists of records — what ``json.dumps`` can write."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return [jsonable(r) for r in value.to_dict(orient="records")]
    if isinstance(value, pd.Series):
        return jsonable(value.to_dict())
    if isinstance(value, list | tuple | set | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat() if not pd.isna(value) else None
    if isinstance(value, pd.Timedelta | timedelta):
        return pd.Timedelta(value).total_seconds()
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        return f if math.isfinite(f) else None
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, int | str):
        return value
    return str(value)


def write_summary(path: str | os.PathLike[str] | None, summary: Mapping[str, Any]) -> None:
    """Write the notebook's key results as JSON to ``path`` (no-op when ``path`` is empty).

    Used by the tests (papermill injects ``summary_path``) and by reports that link
    findings; values are made JSON-safe with :func:`jsonable`.
    """
    if not path:
        return
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(jsonable(summary), indent=1, sort_keys=True))
