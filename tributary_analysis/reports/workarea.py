"""The private work area: where unscrubbed report work lives, never under ``--out``.

An executing notebook holds whatever its cells printed — credentials included — until the
publish step scrubs it. That copy must never sit where reports are served as static files,
and must not outlive a crash. So:

* the area is ``$TRIBUTARY_HOME/work/`` (:attr:`Settings.work_dir
  <tributary_analysis.config.Settings.work_dir>`), mode 0700; when that lies inside the
  reports directory (``TRIBUTARY_HOME`` under ``--out``) a per-user directory under the
  system's temporary directory is used instead;
* each process works in a *session* directory it holds an ``flock`` on; every start removes
  the sessions whose lock nobody holds (their process died, maybe by ``kill -9``), and the
  ``.work/`` directory that older versions left under ``--out``;
* a run's own directory is removed as soon as its outputs are read into memory.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from tributary_analysis.errors import ConfigError

log = logging.getLogger(__name__)

LOCK = ".session.lock"
LEGACY_DIR = ".work"


def _private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def sweep(root: Path) -> int:
    """Remove every session under ``root`` whose process is gone; returns how many."""
    if not root.is_dir():
        return 0
    removed = 0
    for entry in root.iterdir():
        if not entry.is_dir():
            continue
        # a dot name is a session being created: only one left over by a crash goes
        if entry.name.startswith(".") and time.time() - entry.stat().st_mtime < 60:
            continue
        lock = entry / LOCK
        try:
            with open(lock, "a") as fh:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(entry, ignore_errors=True)
                removed += 1
        except BlockingIOError:
            continue  # a live process works here
        except OSError as exc:
            log.warning("could not remove stale report work %s: %s", entry, exc.strerror)
    return removed


def remove_legacy(out_dir: Path) -> bool:
    """Remove ``<out>/.work`` (unscrubbed work of older versions, served as static files)."""
    legacy = out_dir / LEGACY_DIR
    if legacy.is_dir():
        shutil.rmtree(legacy, ignore_errors=True)
        return True
    return False


@dataclass
class WorkSession:
    """One process's locked directory under the work area."""

    path: Path
    _lock: IO[str] | None = field(default=None, repr=False)

    def run_dir(self, name: str) -> Path:
        """A fresh private directory for one run."""
        return _private_dir(self.path / name)

    def close(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def _inside(path: Path, directory: Path) -> bool:
    path, directory = path.resolve(), directory.resolve()
    return path == directory or directory in path.parents


def outside(work_root: Path, out_dir: Path) -> Path:
    """``work_root``, or a private per-user directory when it lies inside ``out_dir``
    (which is served as static files)."""
    if not _inside(work_root, out_dir):
        return work_root
    fallback = Path(tempfile.gettempdir()) / f"tributary-{os.getuid()}" / "work"
    if _inside(fallback, out_dir):
        raise ConfigError(f"the report work area {work_root} lies inside --out {out_dir}, "
                          "which is served as static files; set TRIBUTARY_HOME outside it")
    log.info("report work area %s lies inside --out %s; working in %s instead", work_root,
             out_dir, fallback)
    _private_dir(fallback.parent)
    return fallback


@contextlib.contextmanager
def session(work_root: Path, out_dir: Path | None = None) -> Iterator[WorkSession]:
    """Open a locked work session (removing dead ones first); removed on exit."""
    if out_dir is not None:
        work_root = outside(work_root, out_dir)
        remove_legacy(out_dir)
    try:
        _private_dir(work_root)
        stale = sweep(work_root)
        # locked under a dot name (sweep spares fresh ones), then renamed: no sweep takes it
        name = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        tmp = _private_dir(work_root / f".{name}")
        fh = open(tmp / LOCK, "a")  # noqa: SIM115 - held for the session's life
        fcntl.flock(fh, fcntl.LOCK_EX)
        path = work_root / name
        tmp.rename(path)
    except OSError as exc:
        raise ConfigError(f"cannot create the report work area {work_root}: {exc.strerror}; "
                          "set TRIBUTARY_HOME to a writable directory with free space"
                          ) from None
    if stale:
        log.info("removed %d stale report work session(s) under %s", stale, work_root)
    ws = WorkSession(path, fh)
    try:
        yield ws
    finally:
        ws.close()
