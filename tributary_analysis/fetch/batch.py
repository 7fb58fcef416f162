"""Frames shared by the per-tenant reports of one batch: one query per family, all tenants.

A batch of per-tenant reports asks the same questions of the same window for every tenant.
Asked per tenant, 1,000 tenants cost 1,000 × the queries; asked once ``by (tenant_id)`` and
split in the client, they cost the queries of one report plus a slice per tenant.

How it works: the runner gives every kernel of a batch the batch id
(``TRIBUTARY_REPORT_BATCH``, :mod:`tributary_analysis.reports.links`). The first kernel of
the batch that asks for a set of families (:func:`shared_frames`) takes a file lock,
queries every family once for all tenants and writes, per family, the all-tenant frame
(sorted by tenant, Parquet), the fleet aggregate and the per-tenant totals, with each
family's :class:`~tributary_analysis.frames.meta.FrameMeta`, into a directory of the
private report work area (``$TRIBUTARY_HOME/work``, never under a reports directory); the
other kernels wait for the lock and read their slice (a Parquet row filter, so a kernel
reads its tenant's rows, not the fleet's). Outside a batch (JupyterLab, one report) the
same function runs the same queries directly and keeps the result in memory.

The cache directory follows the work area's session protocol: a kernel using it holds a
shared ``flock`` on its ``.session.lock``, so the work area's sweep (which removes every
directory whose lock nobody holds) never removes it from under a reader and removes it
once the batch is over. A removed cache is recomputed, never wrong.

Tenant ids are data throughout: rows are selected by value (an Arrow filter expression),
file names are hashes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import pandas as pd

from tributary_analysis.config import load_settings
from tributary_analysis.errors import ConfigError
from tributary_analysis.frames.meta import FrameMeta, meta_of, set_meta

__all__ = [
    "BATCH_ENV", "REPORTS_DIR_ENV", "SESSION_LOCK", "FrameSet", "MemoryFrameSet",
    "StoredFrameSet", "batch_root", "current_batch", "shared_frames",
]

log = logging.getLogger(__name__)

#: the batch id the runner hands every kernel (``reports.links.BATCH_ENV``; the fetch
#: layer may not import the reports package)
BATCH_ENV = "TRIBUTARY_REPORT_BATCH"
#: the reports directory of the run (``reports.prepare`` sets it): the work area must not
#: lie inside it
REPORTS_DIR_ENV = "TRIBUTARY_REPORTS_DIR"
#: the work area's per-directory lock (``reports.workarea.LOCK``): held shared while a
#: kernel uses the cache, so the sweep leaves it alone
SESSION_LOCK = ".session.lock"
_FILL_LOCK = ".fill.lock"
_COMPLETE = "complete.json"
#: bump when the stored layout changes (old caches are then simply not found)
_LAYOUT = "1"
TENANT = "tenant_id"


def current_batch() -> str | None:
    """The batch id of the running report, or ``None`` outside a batch."""
    value = os.environ.get(BATCH_ENV, "").strip()
    return value or None


def _inside(path: Path, directory: Path) -> bool:
    path, directory = path.resolve(), directory.resolve()
    return path == directory or directory in path.parents


def batch_root() -> Path:
    """Where batch caches live: ``$TRIBUTARY_HOME/work`` (the private report work area),
    or the same per-user fallback the work area uses when that lies inside the reports
    directory (``reports.workarea.outside``)."""
    root = load_settings().work_dir
    out = os.environ.get(REPORTS_DIR_ENV)
    if out and _inside(root, Path(out)):
        root = Path(tempfile.gettempdir()) / f"tributary-{os.getuid()}" / "work"
    return root


def _private(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)
    return path


def _string_labels(df: pd.DataFrame) -> pd.DataFrame:
    """Label columns as plain strings (Parquet filters and a stable schema)."""
    out = df.copy(deep=False)
    for col in out.columns:
        if col not in ("timestamp", "value") and not pd.api.types.is_numeric_dtype(out[col]):
            out[col] = out[col].astype("string").astype(object)
    out.attrs = {}
    return out


class FrameSet:
    """Every tenant's frames of a set of families: a tenant's slice, the fleet, totals.

    Each family's frame has a ``tenant_id`` column; :meth:`slice` is one tenant's rows,
    :meth:`fleet` the family summed over tenants (precomputed by the builder), and
    :meth:`totals` each tenant's sum of ``value`` (for counts: the tenant's total in the
    window). Every frame returned carries the family's :class:`FrameMeta`.
    """

    shared: bool = False

    def families(self) -> list[str]:  # pragma: no cover - interface
        raise NotImplementedError

    def slice(self, family: str, tenant: str) -> pd.DataFrame:  # pragma: no cover
        raise NotImplementedError

    def frame(self, family: str) -> pd.DataFrame:  # pragma: no cover
        """Every tenant's rows of ``family`` (the fleet tenant report reads them all)."""
        raise NotImplementedError

    def fleet(self, family: str) -> pd.DataFrame:  # pragma: no cover
        raise NotImplementedError

    def totals(self, family: str) -> pd.DataFrame:  # pragma: no cover
        raise NotImplementedError

    def meta(self, family: str) -> FrameMeta:  # pragma: no cover
        raise NotImplementedError

    def close(self) -> None:
        """Release what the set holds (a stored set's shared lock)."""


def _totals(frame: pd.DataFrame) -> pd.DataFrame:
    if len(frame) == 0 or TENANT not in frame.columns:
        return pd.DataFrame({TENANT: pd.Series(dtype=object),
                             "value": pd.Series(dtype="float64")})
    v = pd.to_numeric(frame["value"], errors="coerce")
    out = v.where(v.notna() & (v.abs() != float("inf")), 0.0).groupby(
        frame[TENANT].astype(str)).sum()
    return out.rename("value").rename_axis(TENANT).reset_index()


@dataclass
class MemoryFrameSet(FrameSet):
    """A frame set held in memory: what the builder returned (outside a batch, or the
    kernel that filled the batch cache).

    ``frames`` are the all-tenant frames by family; ``fleet_frames`` their fleet
    aggregates (a family without one has none).
    """

    frames: Mapping[str, pd.DataFrame]
    fleet_frames: Mapping[str, pd.DataFrame] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    def families(self) -> list[str]:
        return list(self.frames)

    def _frame(self, family: str) -> pd.DataFrame:
        try:
            return self.frames[family]
        except KeyError:
            raise ConfigError(f"no family {family!r} in this frame set; have: "
                              + ", ".join(self.frames)) from None

    def meta(self, family: str) -> FrameMeta:
        m = meta_of(self._frame(family))
        return replace(m, details={**m.details, **self.details}) if self.details else m

    def slice(self, family: str, tenant: str) -> pd.DataFrame:
        frame = self._frame(family)
        if len(frame) == 0 or TENANT not in frame.columns:
            part = frame.iloc[0:0].copy()
        else:
            keep = (frame[TENANT].astype(str) == str(tenant)).to_numpy(dtype=bool)
            part = frame.loc[keep].reset_index(drop=True)
        return set_meta(_string_labels(part), self.meta(family))

    def frame(self, family: str) -> pd.DataFrame:
        return set_meta(_string_labels(self._frame(family)), self.meta(family))

    def fleet(self, family: str) -> pd.DataFrame:
        if family not in self.fleet_frames:
            raise ConfigError(f"family {family!r} has no fleet aggregate")
        return set_meta(self.fleet_frames[family].copy(deep=False), self.meta(family))

    def totals(self, family: str) -> pd.DataFrame:
        return set_meta(_totals(self._frame(family)), self.meta(family))


def _read_table(path: Path, tenant: str | None = None) -> pd.DataFrame:
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    if tenant is None:
        table = pq.read_table(path)
    else:  # a row filter on the value: the tenant id is never parsed as anything
        table = pq.read_table(path, filters=ds.field(TENANT) == tenant)
    return table.to_pandas()


class StoredFrameSet(FrameSet):
    """A frame set in a batch cache directory, read family by family, tenant by tenant.

    Holds a shared lock on the directory's ``.session.lock`` until :meth:`close`.
    """

    shared = True

    def __init__(self, path: Path, lock: IO[str] | None, role: str) -> None:
        self.path = path
        self._lock = lock
        self.role = role
        doc = json.loads((path / _COMPLETE).read_text())
        self._families: dict[str, dict[str, Any]] = doc["families"]
        self._metas = {name: FrameMeta.from_json(info["meta"])
                       for name, info in self._families.items()}
        self.built_s = float(doc.get("built_s", 0.0))

    def families(self) -> list[str]:
        return list(self._families)

    def meta(self, family: str) -> FrameMeta:
        if family not in self._metas:
            raise ConfigError(f"no family {family!r} in the batch cache {self.path}; have: "
                              + ", ".join(self._families))
        m = self._metas[family]
        return replace(m, details={**m.details, "batch_cache": self.role})

    def _file(self, family: str, kind: str) -> Path:
        self.meta(family)
        return self.path / f"{self._families[family]['file']}.{kind}.parquet"

    def slice(self, family: str, tenant: str) -> pd.DataFrame:
        return set_meta(_read_table(self._file(family, "tenants"), str(tenant)),
                        self.meta(family))

    def frame(self, family: str) -> pd.DataFrame:
        return set_meta(_read_table(self._file(family, "tenants")), self.meta(family))

    def fleet(self, family: str) -> pd.DataFrame:
        path = self._file(family, "fleet")
        if not path.exists():
            raise ConfigError(f"family {family!r} has no fleet aggregate")
        return set_meta(_read_table(path), self.meta(family))

    def totals(self, family: str) -> pd.DataFrame:
        return set_meta(_read_table(self._file(family, "totals")), self.meta(family))

    def close(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def __del__(self) -> None:  # a forgotten close must not keep the sweep away forever
        self.close()


def _write_parquet(df: pd.DataFrame, path: Path) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    _string_labels(df).to_parquet(tmp, index=False, row_group_size=65536)
    os.replace(tmp, path)


def _store(path: Path, built: MemoryFrameSet, built_s: float) -> None:
    """Write every family of ``built`` into ``path``; the index file last (its presence
    means complete)."""
    families: dict[str, Any] = {}
    for i, name in enumerate(built.families()):
        frame = built.frames[name]
        stem = f"f{i:02d}"
        if TENANT in frame.columns and len(frame):
            order = frame[TENANT].astype(str).argsort(kind="stable").to_numpy()
            frame = frame.iloc[order]
        _write_parquet(frame, path / f"{stem}.tenants.parquet")
        _write_parquet(_totals(built.frames[name]), path / f"{stem}.totals.parquet")
        if name in built.fleet_frames:
            _write_parquet(built.fleet_frames[name], path / f"{stem}.fleet.parquet")
        families[name] = {"file": stem, "meta": meta_of(built.frames[name]).to_json()}
    doc = {"families": families, "built_s": built_s, "layout": _LAYOUT,
           "written_at": time.time()}
    tmp = path / f".{_COMPLETE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(doc, default=str))
    os.replace(tmp, path / _COMPLETE)


def cache_key(batch: str, parts: Sequence[object]) -> str:
    """The cache directory name of one batch and one question (window, step, server…)."""
    raw = json.dumps([_LAYOUT, batch, *[str(p) for p in parts]], separators=(",", ":"))
    return "batch-" + hashlib.sha256(raw.encode()).hexdigest()[:24]


@contextlib.contextmanager
def _flock(path: Path, mode: int) -> Iterator[IO[str]]:
    fh = open(path, "a")  # noqa: SIM115 - closed below
    try:
        fcntl.flock(fh, mode)
        yield fh
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()


def _hold_session_lock(path: Path) -> IO[str]:
    """A shared lock on ``path/.session.lock`` that the sweep cannot have removed: retried
    when the directory was swept between creating it and locking it."""
    for _ in range(5):
        _private(path)
        fh = open(path / SESSION_LOCK, "a")  # noqa: SIM115 - held by the frame set
        fcntl.flock(fh, fcntl.LOCK_SH)
        try:
            same = os.fstat(fh.fileno()).st_ino == os.stat(path / SESSION_LOCK).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fh
        fcntl.flock(fh, fcntl.LOCK_UN)
        fh.close()
    raise ConfigError(f"the batch cache {path} keeps disappearing (another process sweeps "
                      "the work area); set TRIBUTARY_HOME to a directory of its own")


def shared_frames(build: Callable[[], MemoryFrameSet], key_parts: Sequence[object], *,
                  batch: str | None = None, root: Path | None = None) -> FrameSet:
    """The frame set of ``build``: computed once per batch and shared, or built directly.

    Parameters
    ----------
    build : callable
        Queries every family for all tenants and returns a :class:`MemoryFrameSet`.
    key_parts : sequence
        What makes the question unique within a batch: the server, window, step, the
        families' queries. Two reports of one batch with the same parts share one build.
    batch : str, optional
        The batch id; default :func:`current_batch`. ``None`` outside a batch: ``build``
        runs here and nothing is stored.
    root : Path, optional
        Where caches live; default :func:`batch_root`.

    Returns
    -------
    FrameSet
        ``shared`` is true for a set read from (or written to) the batch cache; the
        families' metadata say ``details["batch_cache"]`` = ``"filled"`` or ``"read"``.
        Call ``close()`` when done (releases the cache's shared lock).
    """
    batch = batch if batch is not None else current_batch()
    if not batch:
        return build()
    try:
        base = _private(root or batch_root())
        path = base / cache_key(batch, key_parts)
        lock = _hold_session_lock(path)
    except OSError as exc:
        log.warning("batch cache unavailable (%s); querying directly", exc.strerror)
        return build()
    try:
        with _flock(path / _FILL_LOCK, fcntl.LOCK_EX):
            role = "read"
            if not (path / _COMPLETE).exists():
                t0 = time.perf_counter()
                built = build()
                try:
                    _store(path, built, time.perf_counter() - t0)
                except OSError as exc:  # full disk: this report goes on from memory
                    log.warning("could not write the batch cache %s: %s", path, exc.strerror)
                    lock.close()
                    return replace(built, details={"batch_cache": "unwritable"})
                role = "filled"
        return StoredFrameSet(path, lock, role)
    except BaseException:
        lock.close()
        raise
