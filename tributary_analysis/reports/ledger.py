"""The run ledger: one JSON line per report run in ``<out>/runs.jsonl``.

The index page and retention read it; concurrent writers (parallel tenant runs, a scheduler
and a manual run) serialise on an ``fcntl`` lock beside it. Lines that cannot be read are
counted and reported (with their line numbers), never silently skipped.

It survives a torn write (a crash or a full disk in the middle of an append): an append
first checks that the file ends with a newline and starts a fresh line if it does not, so a
truncated record stays one unreadable line and never glues itself to the next record.
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
    #: further files of the run beside report.html, by kind (``pdf``, ``summary``)
    artifacts: dict[str, str] = field(default_factory=dict)

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


def _ends_with_newline(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return True
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) == b"\n"
    except FileNotFoundError:
        return True


def append(out_dir: Path, record: RunRecord) -> None:
    """Append ``record`` to the ledger, on a line of its own even after a torn write.

    Raises :class:`~tributary_analysis.errors.OutputError` when the ledger cannot be written
    (read-only, full disk).
    """
    from tributary_analysis.reports.outdir import writing

    line = json.dumps(asdict(record), ensure_ascii=False, sort_keys=True)
    path = out_dir / LEDGER
    with writing(path, "append to the run ledger"), locked(out_dir):
        prefix = "" if _ends_with_newline(path) else "\n"
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(prefix + line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


@dataclass(frozen=True)
class LedgerContents:
    """The records that could be read, oldest first, and the line numbers that could not."""

    records: list[RunRecord]
    bad_lines: tuple[int, ...] = ()

    def describe_bad(self, out_dir: Path) -> str:
        """``2 unreadable line(s) in …/runs.jsonl (lines 7, 9) skipped``, or ``""``."""
        if not self.bad_lines:
            return ""
        shown = ", ".join(str(n) for n in self.bad_lines[:10]) + (
            ", …" if len(self.bad_lines) > 10 else "")
        return (f"{len(self.bad_lines)} unreadable line(s) in {out_dir / LEDGER} "
                f"(line{'s' if len(self.bad_lines) > 1 else ''} {shown}) skipped")


def read_all(out_dir: Path) -> LedgerContents:
    """Every readable record and the numbers of the lines that are not."""
    path = out_dir / LEDGER
    if not path.exists():
        return LedgerContents([])
    records: list[RunRecord] = []
    bad: list[int] = []
    known = set(RunRecord.__dataclass_fields__)
    with open(path, "rb") as fh:
        raw = fh.read()
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line.decode("utf-8"))
            if not isinstance(data, dict):
                raise TypeError("not an object")
            records.append(RunRecord(**{k: v for k, v in data.items() if k in known}))
        except (UnicodeDecodeError, json.JSONDecodeError, TypeError):
            bad.append(number)
    return LedgerContents(records, tuple(bad))


def read(out_dir: Path) -> tuple[list[RunRecord], int]:
    """All records, oldest first, and how many lines could not be read."""
    contents = read_all(out_dir)
    return contents.records, len(contents.bad_lines)


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
        contents = read_all(out_dir)
        records, bad = contents.records, len(contents.bad_lines)
        if bad:
            lines = ", ".join(str(n) for n in contents.bad_lines[:10])
            raise DataError(
                f"{bad} unreadable line(s) in {out_dir / LEDGER} (line {lines}); fix or "
                "remove them before pruning so no run is lost from the index"
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
