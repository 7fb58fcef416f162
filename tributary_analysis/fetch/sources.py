"""Open the sources an analysis reads: Prometheus and the logs (files or Elasticsearch).

Credentials never pass through here: they come from the settings (environment or config
file); a notebook only names a URL, a log source kind and file globs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tributary_analysis.errors import ConfigError
from tributary_analysis.ground.time import Window, parse_time

__all__ = ["LOG_SOURCES", "open_logs", "open_prometheus"]

LOG_SOURCES = ("files", "elasticsearch")
_DAY_IN_NAME = re.compile(r"(\d{4}-\d{2}-\d{2})")


def open_prometheus(url: str | None = None) -> Any:
    """A :class:`~tributary_analysis.sources.prometheus.PrometheusSource`: ``url`` with the
    credentials from the settings, else the settings' URL (the demo stack's, if any)."""
    from dataclasses import replace

    from tributary_analysis.config import load_settings
    from tributary_analysis.sources.prometheus import PrometheusSource

    settings = load_settings()
    if url:
        settings = replace(settings, prometheus_url=url)
    return PrometheusSource.from_settings(settings)


def open_logs(kind: str = "files", files: Sequence[str] = (), *, window: Window | None = None,
              prune_by_date: bool = True) -> Any:
    """The log source of ``kind``: ``FileLogs`` over ``files`` (default: the settings'
    log files) or ``ElasticsearchLogs`` (from the settings).

    With ``window`` and ``prune_by_date``, log files whose name carries a date
    (``…-2026-01-31.jsonl``, the usual daily rotation) are only read when that day overlaps
    the window (with an hour's margin for late lines): a week of logs is a gigabyte, a
    day's window needs two files. The number of files left out is recorded in the
    source's ``pruned_files`` attribute (the page's sources line says so).
    """
    if kind not in LOG_SOURCES:
        raise ConfigError(f"log_source={kind!r}; use one of {', '.join(LOG_SOURCES)}")
    if kind == "elasticsearch":
        from tributary_analysis.sources.logs.elasticsearch import ElasticsearchLogs

        return ElasticsearchLogs()
    from tributary_analysis.config import load_settings
    from tributary_analysis.sources.logs.files import FileLogs, resolve_paths

    given = list(files) if files else None
    if given is None:
        configured = load_settings().log_files
        given = [configured] if configured else None
    if given is None or window is None or not prune_by_date:
        return FileLogs(given)
    paths = resolve_paths(given)
    keep = [f for f in paths if _day_overlaps(f, window)]
    src = FileLogs(keep or paths)
    src.pruned_files = len(paths) - len(keep) if keep else 0  # type: ignore[attr-defined]
    return src


def _day_overlaps(path: str, window: Window) -> bool:
    m = _DAY_IN_NAME.search(Path(path).name)
    if not m:
        return True
    try:
        day = parse_time(m.group(1), name="date in a log file name")
    except ConfigError:
        return True
    margin = pd.Timedelta(hours=1)
    return bool(day - margin < window.end and day + pd.Timedelta(days=1) + margin
                > window.start)
