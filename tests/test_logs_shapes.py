"""Log files of any shape real shippers leave (issue 11): read every good event, count every
bad line by kind with ``file:line``, never a crash, never a silent skip.

The truth is computed here from the bytes, independently of the reader: which events were
written, which lines are blank, which lines were spoiled and how.
"""

from __future__ import annotations

import gzip
import os
import random
import subprocess
import sys
import zlib
from pathlib import Path

import pandas as pd
import pytest
from _log_events import envelope_lines, make_events, truth_requests

from tributary_analysis.frames.meta import meta_of
from tributary_analysis.sources.logs.files import FileLogs

START, END = "2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z"
DONE = "HTTP request processed"
NUL_LINE = b"\0" * 64
GARBAGE = bytes(random.Random(3).randrange(128, 256) for _ in range(300))  # never UTF-8


def _events(seed: int, n: int = 40) -> tuple[list[dict], list[bytes]]:
    events = make_events(n, seed=seed)
    return events, [line.encode() for line in envelope_lines(events)]


def _nonblank_lines(data: bytes) -> tuple[int, int]:
    """(lines, blank lines) of a file's bytes, as a person would count them."""
    parts = data.split(b"\n")
    if data.endswith(b"\n"):
        parts.pop()
    blank = sum(1 for p in parts if not p.strip(b" \t\r\f\v"))
    return len(parts), blank


@pytest.fixture(scope="module")
def shipped(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A directory of files as shippers leave them, with what each holds."""
    d = tmp_path_factory.mktemp("shipped")
    truth: dict = {"events": [], "bad": {}, "bytes": {}}

    def write(name: str, lines: list[bytes], end: bytes = b"\n", gz: bool = False) -> Path:
        data = b"".join(line + end for line in lines)
        truth["bytes"][name] = data
        path = d / name
        path.write_bytes(gzip.compress(data) if gz else data)
        return path

    ev, lines = _events(1)
    truth["events"] += ev
    write("good.jsonl", lines)

    ev, lines = _events(2)
    truth["events"] += ev
    write("crlf-all.jsonl", lines, end=b"\r\n")

    ev, lines = _events(3)
    truth["events"] += ev
    lines[5] = lines[5] + b"\r"  # one CRLF line in an LF file
    write("crlf-one.jsonl", lines)

    ev, lines = _events(4)
    truth["events"] += ev
    lines.insert(7, NUL_LINE)  # line 8: a line of NULs (a crash mid-write)
    truth["bad"]["nul_bytes"] = [("nul.jsonl", 8)]
    write("nul.jsonl", lines)

    ev, lines = _events(5)
    truth["events"] += ev
    lines[0] = b"\0" * 4096 + lines[0]  # line 1: copytruncate padding before a record
    truth["bad"]["nul_prefix"] = [("nul-prefix.jsonl", 1)]
    write("nul-prefix.jsonl", lines)

    ev, lines = _events(6)
    truth["events"] += ev
    lines.insert(12, GARBAGE)  # line 13: binary garbage
    truth["bad"]["binary"] = [("garbage.jsonl", 13)]
    write("garbage.jsonl", lines)

    ev, lines = _events(7)
    truth["events"] += ev
    for i, blank in ((3, b""), (9, b"   "), (15, b"\t\t"), (20, b" \t \r")):
        lines.insert(i, blank)
    write("blanks.jsonl", lines)

    ev, lines = _events(8)
    truth["events"] += ev
    write("good.jsonl.gz", lines, gz=True)

    ev, lines = _events(9)
    truth["events"] += ev
    lines.insert(2, NUL_LINE)  # line 3, inside a gzip file with CRLF endings
    truth["bad"]["nul_bytes"].append(("dirty.jsonl.gz", 3))
    write("dirty.jsonl.gz", lines, end=b"\r\n", gz=True)

    # a gzip stream cut short (the shipper was killed): what came before the break counts
    ev, lines = _events(10, n=300)
    data = b"".join(line + b"\n" for line in lines)
    cut = gzip.compress(data)[: len(gzip.compress(data)) * 2 // 3]
    (d / "cut.jsonl.gz").write_bytes(cut)
    prefix = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut)
    whole = prefix.count(b"\n")
    truth["bytes"]["cut.jsonl.gz"] = prefix
    truth["cut_events"] = whole
    truth["cut_partial"] = int(not prefix.endswith(b"\n"))
    truth["events"] += ev[:whole]
    truth["dir"] = d
    return truth


@pytest.fixture(scope="module")
def logs(shipped: dict) -> FileLogs:
    return FileLogs(shipped["dir"] / "*")


def test_every_good_event_is_read(logs: FileLogs, shipped: dict) -> None:
    df = logs.search(START, END)
    want = truth_requests(shipped["events"])
    done = df[df["event"] == DONE]
    assert sorted(done["request_id"]) == sorted(want["request_id"])
    assert len(df) == len(shipped["events"])


def test_each_bad_line_is_counted_by_kind_with_file_and_line(logs: FileLogs,
                                                             shipped: dict) -> None:
    probs = logs.problems
    want = {kind: len(where) for kind, where in shipped["bad"].items()}
    want["truncated_gzip"] = 1
    if shipped["cut_partial"]:
        want["malformed_json"] = 1  # the line the break cut in two
    assert probs.counts == want
    d = shipped["dir"]
    for kind, where in shipped["bad"].items():
        got = {s["where"] for s in probs.samples if s["kind"] == kind}
        assert got == {f"{d / name}:{line}" for name, line in where}, kind
    cut = next(s for s in probs.samples if s["kind"] == "truncated_gzip")
    after = shipped["cut_events"] + shipped["cut_partial"] + 1  # the line after the break
    assert cut["where"] == f"{d / 'cut.jsonl.gz'}:{after}"
    assert "ends before its end marker" in cut["text"]
    garbage = next(s for s in probs.samples if s["kind"] == "binary")
    assert "\ufffd" in garbage["text"]
    nul = next(s for s in probs.samples if s["kind"] == "nul_bytes")
    assert "\0" not in nul["text"] and "\\x00" in nul["text"]  # printable samples


def test_records_seen_equal_the_non_blank_lines(logs: FileLogs, shipped: dict) -> None:
    lines = blank = 0
    for data in shipped["bytes"].values():
        n, b = _nonblank_lines(data)
        lines, blank = lines + n, blank + b
    probs = logs.problems
    assert probs.blank == blank == 4
    assert probs.lines == lines
    assert probs.records == lines - blank
    assert probs.dropped == sum(n for k, n in probs.counts.items()
                                if k not in ("nul_prefix",))


def test_problems_reach_the_frame_metadata(logs: FileLogs, shipped: dict) -> None:
    meta = meta_of(logs.summary(START, END))
    kinds = {p.kind: p for p in meta.problems}
    assert kinds["nul_bytes"].dropped and kinds["binary"].dropped
    assert not kinds["nul_prefix"].dropped  # repaired and kept
    assert kinds["nul_bytes"].count == 2
    assert any(s.startswith(str(logs.files[0].rsplit("/", 1)[0])) and ".jsonl.gz:3:" in s
               for s in kinds["nul_bytes"].samples)
    assert "4 blank line(s) in the input are not records" in meta.notes
    # every file with a CR, NUL, non-UTF-8 byte or a broken stream; the others as they are
    assert meta.details["repaired_files"] == 8
    assert meta.details["crlf_lines"] == sum(
        data.count(b"\r\n") for data in shipped["bytes"].values())


def test_clean_files_take_the_fast_path_and_copies_are_removed(shipped: dict,
                                                               tmp_path: Path) -> None:
    clean = FileLogs([shipped["dir"] / "good.jsonl", shipped["dir"] / "good.jsonl.gz"])
    assert not clean.problems
    assert all(scan.clean and scan.read_path == scan.path for scan in clean._scans)
    assert "repaired_files" not in meta_of(clean.search(START, END)).details
    before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("tributary-logs-*"))
    FileLogs(shipped["dir"] / "garbage.jsonl").search(START, END)
    after = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("tributary-logs-*"))
    assert after <= before  # the repaired copy lived only for the load


def test_cli_reads_the_mixed_glob_and_reports_every_kind(shipped: dict) -> None:
    env = {**os.environ, "TRIBUTARY_HOME": str(shipped["dir"] / "home")}
    for cmd in ("search", "summary"):
        proc = subprocess.run(
            [sys.executable, "-m", "tributary_analysis.cli", "logs", cmd, "--files",
             str(shipped["dir"] / "*"), "--start", START, "--end", END, "--out",
             str(shipped["dir"] / f"out-{cmd}.csv")],
            capture_output=True, text=True, env=env, timeout=300)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        for kind in ("nul_bytes", "nul_prefix", "binary", "truncated_gzip"):
            assert f"record(s) {kind} (" in proc.stderr, (kind, proc.stderr)
        assert f"{shipped['dir'] / 'garbage.jsonl'}:13" in proc.stderr
        assert "note: 4 blank line(s) in the input are not records" in proc.stderr
        out = pd.read_csv(shipped["dir"] / f"out-{cmd}.csv")
        want = truth_requests(shipped["events"])
        if cmd == "search":
            assert len(out) == len(shipped["events"])
        else:
            assert out["requests"].sum() == len(want)


def test_stray_carriage_returns(tmp_path: Path) -> None:
    """A CR that is JSON whitespace is read; one inside a string (invalid JSON) is counted;
    a file ending in a lone CR without a newline loses nothing."""
    lines = [b'{"timestamp": "2025-03-01T01:00:00",\r"event": "cr-outside"}',
             b'{"timestamp": "2025-03-01T01:00:01", "event": "cr\rinside"}',
             b'{"timestamp": "2025-03-01T01:00:02", "event": "ok"}\r\n'
             b'{"timestamp": "2025-03-01T01:00:03", "event": "last"}\r']
    path = tmp_path / "cr.jsonl"
    path.write_bytes(b"\n".join(lines))
    logs = FileLogs(path)
    got = logs.search(START, END)["event"].astype(str).tolist()
    assert got == ["cr-outside", "ok", "last"]
    assert logs.problems.counts == {"malformed_json": 1}
    assert logs.problems.samples[0]["where"] == f"{path}:2"
    assert logs.problems.samples[0]["text"].endswith('"cr\\x0dinside"}')
    assert (logs.problems.records, logs.problems.lines) == (4, 4)
