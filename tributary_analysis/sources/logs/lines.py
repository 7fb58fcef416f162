"""Log files as real shippers leave them: a cheap check, and a repaired copy when needed.

DuckDB reads JSON-lines files fastest (its CSV scanner, in parallel), but it is a CSV
scanner: a line ending in CRLF or a stray CR trips its state machine, a NUL byte splits a
line into "columns" or turns it into a silent NULL row, and bytes that are not UTF-8
abort the whole scan. So every file gets a pre-pass first (bytes only: newline count,
``memchr`` for NUL and CR, UTF-8 validation; no Python per line):

- a **clean** file (the usual case) goes to DuckDB as it is;
- a **dirty** one is copied into a temporary file with each line repaired or left out,
  line by line only in the 16 MB blocks that need it, and DuckDB reads the copy. Every
  line left out or repaired is counted by kind with its original ``file:line``.

Repairs: a CR before the newline (CRLF) is dropped (not a problem: Windows shippers write
it); NUL padding around a record is removed (``nul_prefix``, kept: log rotation with
``copytruncate`` leaves it); a line of NULs or with NULs inside is left out
(``nul_bytes``); a JSON record with some non-UTF-8 bytes keeps them as U+FFFD
(``invalid_utf8``); other non-UTF-8 lines are left out (``binary``); a CR inside a line
that is still valid JSON is whitespace; otherwise the line is ``malformed_json``. A gzip
stream that ends early (``truncated_gzip``) gives the lines before the break.
"""

from __future__ import annotations

import codecs
import os
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import orjson

#: bytes read per block (a block always ends at a newline, so lines are never split)
BLOCK = 16 << 20


@dataclass
class FileScan:
    """What the pre-pass learned about one file, and what DuckDB should read instead.

    ``lines`` counts the original file's lines; ``read_path`` is the file to scan (the
    original, or a repaired copy of ``read_lines`` lines whose original numbers are
    ``line_map``); ``problems`` are ``(kind, line number, text)`` found here, with
    ``counts`` per kind (the samples are capped, the counts are not).
    """

    path: str
    read_path: str
    lines: int = 0
    read_lines: int = 0
    clean: bool = True
    crlf: int = 0
    line_map: np.ndarray | None = None
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[tuple[str, int, str]] = field(default_factory=list)
    max_samples: int = 5

    @property
    def dropped(self) -> int:
        """Lines left out here (not written to the copy)."""
        return self.lines - self.read_lines

    def add(self, kind: str, lineno: int, text: str) -> None:
        n = self.counts.get(kind, 0)
        self.counts[kind] = n + 1
        if n < self.max_samples:
            self.problems.append((kind, lineno, text[:200]))

    def original_line(self, read_lineno: int) -> int:
        """The original line number of a line of :attr:`read_path` (1-based)."""
        if self.line_map is None:
            return read_lineno
        return int(self.line_map[read_lineno - 1])


def _raw_chunks(path: str, on_error: list[str]) -> Iterator[bytes]:
    """The file's bytes; a ``.gz`` file decompressed member by member, and a stream that
    breaks off gives what came before the break (the error text goes to ``on_error``)."""
    with open(path, "rb") as fh:
        if not path.endswith(".gz"):
            while block := fh.read(BLOCK):
                yield block
            return
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pending = b""
        while True:
            data = pending or fh.read(1 << 20)
            pending = b""
            if not data:
                if not d.eof:
                    on_error.append("the compressed stream ends before its end marker")
                return
            try:
                out = d.decompress(data)
            except zlib.error as exc:
                on_error.append(str(exc))
                return
            if out:
                yield out
            if d.eof:  # another gzip member may follow (logrotate appends)
                pending = d.unused_data
                if not pending:
                    rest = fh.read(1 << 20)
                    if not rest:
                        return
                    pending = rest
                d = zlib.decompressobj(16 + zlib.MAX_WBITS)


def _blocks(path: str, on_error: list[str]) -> Iterator[bytes]:
    """The file's bytes in blocks that end at a newline (the last block may not)."""
    carry = b""
    pieces: list[bytes] = []
    size = 0
    for chunk in _raw_chunks(path, on_error):
        pieces.append(chunk)
        size += len(chunk)
        if size < BLOCK:
            continue
        data = carry + b"".join(pieces)
        pieces, size = [], 0
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        carry = data[cut:]
        yield data[:cut]
    rest = carry + b"".join(pieces)
    if rest:
        cut = rest.rfind(b"\n") + 1
        if cut:
            yield rest[:cut]
        if rest[cut:]:
            yield rest[cut:]


def _is_clean_block(block: bytes, decoder: codecs.IncrementalDecoder) -> bool:
    if block.find(b"\0") >= 0 or block.find(b"\r") >= 0:
        return False
    try:
        decoder.decode(block)
    except UnicodeDecodeError:
        return False
    return True


def _count_lines(block: bytes) -> int:
    return block.count(b"\n") + (0 if block.endswith(b"\n") else 1)


def check_file(path: str) -> FileScan:
    """The pre-pass: count lines and say whether DuckDB can read the file as it is."""
    scan = FileScan(path=path, read_path=path)
    decoder = codecs.getincrementaldecoder("utf-8")()
    errors: list[str] = []
    for block in _blocks(path, errors):
        scan.lines += _count_lines(block)
        if not _is_clean_block(block, decoder):
            scan.clean = False  # the repair pass counts the lines itself
            return scan
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        scan.clean = False
    if errors:
        scan.clean = False
    return scan


def repair_line(raw: bytes) -> tuple[bytes | None, str | None, bool]:
    """One dirty line → (text to keep or ``None``, problem kind or ``None``, was CRLF).

    Examples
    --------
    >>> repair_line(b'{"a": 1}\\r')
    (b'{"a": 1}', None, True)
    >>> repair_line(b'\\x00\\x00{"a": 1}')
    (b'{"a": 1}', 'nul_prefix', False)
    >>> repair_line(b'\\x00\\x00\\x00')
    (None, 'nul_bytes', False)
    """
    crlf = raw.endswith(b"\r")
    if crlf:
        raw = raw[:-1]
    kind: str | None = None
    if b"\0" in raw:
        stripped = raw.strip(b"\0")
        if not stripped.strip() or b"\0" in stripped:
            return None, "nul_bytes", crlf
        raw, kind = stripped, "nul_prefix"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", "replace")
        if not _is_json_object(text):
            return None, "binary", crlf
        kind = kind or "invalid_utf8"
    if "\r" in text:
        if not _is_json_object(text):
            return None, "malformed_json", crlf
        text = text.replace("\r", " ")  # outside strings (JSON forbids raw CR in them)
    return text.encode("utf-8"), kind, crlf


def _is_json_object(text: str) -> bool:
    try:
        return isinstance(orjson.loads(text), dict)
    except orjson.JSONDecodeError:
        return False


def _bad_positions(block: bytes) -> list[int]:
    """Offsets of the bytes that make a block dirty: NULs, CRs not followed by LF, and the
    start of every invalid UTF-8 sequence (each found at C speed, linear in the block)."""
    bad: list[int] = []
    for byte in (b"\0", b"\r"):  # CRLF was made LF before: any CR left is a stray one
        i = block.find(byte)
        while i >= 0:
            bad.append(i)
            i = block.find(byte, i + 1)
    view = memoryview(block)
    start = 0
    while True:
        try:
            codecs.utf_8_decode(view[start:], "strict", True)
            break
        except UnicodeDecodeError as exc:
            bad.append(start + exc.start)
            start += exc.end
    return sorted(set(bad))


class _Writer:
    """Writes the repaired copy and keeps, for each line written, its original number."""

    def __init__(self, out: BinaryIO, scan: FileScan) -> None:
        self.out, self.scan = out, scan
        self.lineno = 0  # original number of the last line seen
        self.written = 0
        self.kept: list[np.ndarray] = []
        self._single: list[int] = []  # numbers of repaired lines not yet in ``kept``

    def numbers(self) -> np.ndarray:
        """The original number of every line written, in order."""
        self._flush()
        return np.concatenate(self.kept) if self.kept else np.zeros(0, dtype=np.int64)

    def _flush(self) -> None:
        if self._single:
            self.kept.append(np.asarray(self._single, dtype=np.int64))
            self._single = []

    def verbatim(self, seg: bytes) -> None:
        """Clean lines, written at C speed."""
        if not seg:
            return
        self._flush()
        n = _count_lines(seg)
        self.out.write(seg)
        self.kept.append(np.arange(self.lineno + 1, self.lineno + n + 1, dtype=np.int64))
        self.lineno += n
        self.written += n

    def line(self, raw: bytes) -> None:
        """One dirty line, repaired or left out (and counted)."""
        self.lineno += 1
        text, kind, crlf = repair_line(raw)
        self.scan.crlf += crlf
        if kind is not None:
            self.scan.add(kind, self.lineno, raw.decode("utf-8", "replace"))
        if text is None:
            return
        self.out.write(text + b"\n")
        self._single.append(self.lineno)
        self.written += 1

    def block(self, block: bytes) -> None:
        """CRLF made LF at C speed, clean stretches copied verbatim, and only the lines
        holding a bad byte (NUL, a stray CR, invalid UTF-8) through Python."""
        fixed = block.replace(b"\r\n", b"\n")
        self.scan.crlf += len(block) - len(fixed)
        block = fixed
        pos, end = 0, len(block)
        bad = _bad_positions(block)
        k = 0
        while k < len(bad):
            at = bad[k]
            start = block.rfind(b"\n", pos, at) + 1 or pos
            stop = block.find(b"\n", at)
            stop = end if stop < 0 else stop
            self.verbatim(block[pos:start])
            self.line(block[start:stop])
            pos = min(stop + 1, end)
            while k < len(bad) and bad[k] < pos:
                k += 1
        self.verbatim(block[pos:])


def repair_file(scan: FileScan, workdir: Path) -> FileScan:
    """Write a repaired copy of a dirty file into ``workdir`` and point ``scan`` at it."""
    fd, tmp = _temp_file(workdir, scan.path)
    errors: list[str] = []
    with os.fdopen(fd, "wb") as out:
        writer = _Writer(out, scan)
        for block in _blocks(scan.path, errors):
            writer.block(block)
    if errors:
        scan.add("truncated_gzip", writer.lineno + 1, f"gzip stream ends early: {errors[0]}")
    scan.lines = writer.lineno
    scan.read_lines = writer.written
    scan.read_path = tmp
    scan.line_map = writer.numbers()
    return scan


def _temp_file(workdir: Path, path: str) -> tuple[int, str]:
    import tempfile

    name = Path(path).name.removesuffix(".gz")
    stem = name if name.endswith((".jsonl", ".json", ".ndjson", ".log")) else name + ".jsonl"
    fd, tmp = tempfile.mkstemp(prefix="repaired-", suffix="-" + stem, dir=workdir)
    return fd, tmp


def scan_files(paths: list[str], workdir_factory: Callable[[], Path]) -> list[FileScan]:
    """Check every file; repair the dirty ones into the directory ``workdir_factory()``
    returns (created only when a file needs it)."""
    out: list[FileScan] = []
    workdir: Path | None = None
    for path in paths:
        scan = check_file(path)
        if scan.clean:
            scan.read_lines = scan.lines
        else:
            if workdir is None:
                workdir = workdir_factory()
            scan = repair_file(scan, workdir)
        out.append(scan)
    return out
