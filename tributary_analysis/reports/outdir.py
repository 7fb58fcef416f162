"""The reports directory (``--out``): checked before anything runs, written atomically, and
every operating-system failure turned into one :class:`~tributary_analysis.errors.OutputError`
that names the path and the fix.

Pages are written to a temporary name beside their target and renamed, so a reader (a web
server, the index) never sees half a page, and a full disk leaves the previous page intact.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from tributary_analysis.errors import OutputError

T = TypeVar("T")

_FIXES = {
    errno.ENOSPC: "no space left on the device; free space or choose another --out",
    errno.EDQUOT: "the disk quota is exhausted; free space or choose another --out",
    errno.EROFS: "the file system is read-only; choose a writable --out",
    errno.EACCES: "permission denied; fix its permissions or choose another --out",
    errno.EPERM: "operation not permitted; fix its permissions or choose another --out",
    errno.ENOTDIR: "a part of the path is a file, not a directory; choose another --out",
    errno.EEXIST: "a file is in the way; remove it or choose another --out",
    errno.EISDIR: "a directory is in the way; remove it or choose another --out",
    errno.EIO: "an I/O error occurred; check the device or choose another --out",
}


def output_error(exc: OSError, path: Path | str, what: str = "write") -> OutputError:
    """The typed error for an ``OSError`` met while writing the reports directory."""
    fix = _FIXES.get(exc.errno or 0, f"{exc.strerror or exc}; check it or choose another "
                                     "--out")
    return OutputError(f"cannot {what} {path}: {fix}", path=str(path), errno=exc.errno)


@contextlib.contextmanager
def writing(path: Path | str, what: str = "write") -> Iterator[None]:
    """Turn any ``OSError`` inside the block into :class:`OutputError` for ``path``."""
    try:
        yield
    except OutputError:
        raise
    except OSError as exc:
        raise output_error(exc, exc.filename or path, what) from None


def guarded(path: Path | str, func: Callable[[], T], what: str = "write") -> T:
    """``func()`` with its ``OSError`` turned into :class:`OutputError` for ``path``."""
    with writing(path, what):
        return func()


def check_out_dir(out_dir: Path) -> Path:
    """Make sure ``--out`` is a directory we can write, before any notebook runs.

    Creates it if missing, refuses a file in its place, and writes and removes a probe file
    (a read-only mount or a full disk shows here, not after an hour of notebooks).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out {out_dir} is an existing file, not a directory; remove it or "
                          "choose another --out", path=str(out_dir), errno=errno.ENOTDIR)
    with writing(out_dir, "create the reports directory"):
        out_dir.mkdir(parents=True, exist_ok=True)
    probe = out_dir / f".probe-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    try:
        with writing(out_dir, "write to the reports directory"), open(probe, "wb") as fh:
            fh.write(b"\0" * 4096)
            fh.flush()
            os.fsync(fh.fileno())
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    return out_dir


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file + rename)."""
    tmp = _tmp_name(path)
    try:
        with writing(path):
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink()
    return path


def write_text(path: Path, text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return write_bytes(path, text.encode("utf-8"))


def make_dir(path: Path) -> Path:
    """``mkdir -p`` with the typed error."""
    with writing(path, "create"):
        path.mkdir(parents=True, exist_ok=True)
    return path
