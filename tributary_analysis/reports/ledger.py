"""The run ledger: one JSON line per report run in ``<out>/runs.jsonl``.

The index page and retention read it; concurrent writers (parallel tenant runs, a scheduler
and a manual run) serialise on an ``fcntl`` lock beside it. Lines that cannot be read are
counted and reported, never silently skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tributary_analysis.errors import DataError

LEDGER = "runs.jsonl"


@dataclass
class RunRecord:
    """What happened in one run; paths are relative to the output directory."""

    run_id: str
    report: str
    title: str
    status: str  # ok | failed | timeout
    window_start: str
    window_end: str
    started_at: str
    finished_at: str
    duration_s: float
    run_dir: str
    html: str
    notebook: str
    tenant: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    error: str = ""
    warnings: int = 0
    figures: int = 0
    redactions: int = 0
    html_bytes: int = 0
    schedule: str | None = None
    batch: str = ""  # one id per run_reports call: summaries link their batch's runs

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@contextlib.contextmanager
def locked(out_dir: Path) -> Iterator[None]:
    """Hold the ledger lock (exclusive) for a read-modify-write."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / ".runs.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def append(out_dir: Path, record: RunRecord) -> None:
    """Append ``record`` to the ledger."""
    line = json.dumps(asdict(record), ensure_ascii=False, sort_keys=True)
    with locked(out_dir), open(out_dir / LEDGER, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def read(out_dir: Path) -> tuple[list[RunRecord], int]:
    """All records, oldest first, and how many lines could not be read."""
    path = out_dir / LEDGER
    if not path.exists():
        return [], 0
    records: list[RunRecord] = []
    bad = 0
    known = set(RunRecord.__dataclass_fields__)
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            records.append(RunRecord(**{k: v for k, v in data.items() if k in known}))
        except (json.JSONDecodeError, TypeError):
            bad += 1
    return records, bad


def prune(
    out_dir: Path,
    *,
    keep_days: float | None = None,
    keep_runs: int | None = None,
    now: datetime | None = None,
) -> list[RunRecord]:
    """Delete runs older than ``keep_days`` and beyond the newest ``keep_runs`` per
    (report, tenant); their directories go too. Returns the removed records."""
    if keep_days is None and keep_runs is None:
        return []
    if (keep_days is not None and keep_days < 0) or (keep_runs is not None and keep_runs < 1):
        raise DataError("retention: keep_days must be >= 0 and keep_runs >= 1")
    now = now or datetime.now(UTC)
    with locked(out_dir):
        records, bad = read(out_dir)
        if bad:
            raise DataError(
                f"{bad} unreadable line(s) in {out_dir / LEDGER}; fix or remove them "
                "before pruning so no run is lost from the index"
            )
        newest_first = sorted(records, key=lambda r: r.started_at, reverse=True)
        seen: dict[tuple[str, str | None], int] = {}
        keep: list[RunRecord] = []
        drop: list[RunRecord] = []
        for r in newest_first:
            key = (r.report, r.tenant)
            seen[key] = seen.get(key, 0) + 1
            too_old = keep_days is not None and (
                datetime.fromisoformat(r.started_at.replace("Z", "+00:00"))
                < now - timedelta(days=keep_days)
            )
            too_many = keep_runs is not None and seen[key] > keep_runs
            (drop if too_old or too_many else keep).append(r)
        for r in drop:
            run_dir = (out_dir / r.run_dir).resolve()
            if run_dir.is_dir() and out_dir.resolve() in run_dir.parents:
                shutil.rmtree(run_dir)
        tmp = out_dir / (LEDGER + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            for r in sorted(keep, key=lambda r: r.started_at):
                fh.write(json.dumps(asdict(r), ensure_ascii=False, sort_keys=True) + "\n")
        tmp.replace(out_dir / LEDGER)
    return drop
