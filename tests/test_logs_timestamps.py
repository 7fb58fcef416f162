"""Other projects' log lines, written by the real libraries (issue 10 §9).

- structlog's default ``TimeStamper()`` writes UNIX seconds as a float; they were read as
  milliseconds (1970) with nothing counted. The unit is now told by magnitude (s, ms, µs,
  ns) and a number that is no plausible time is counted as ``bad_timestamp``.
- python-json-logger lines with ``asctime`` (``2025-03-01 12:00:00,123``: logging's comma
  before the milliseconds) were all dropped, even with ``asctime`` mapped.

Both the SQL path (FileLogs) and the Python path (Elasticsearch hits) are checked.
"""

from __future__ import annotations

import io
import json
import logging
import time
from pathlib import Path

import orjson
import pandas as pd
import pytest
import structlog
from pythonjsonlogger.json import JsonFormatter

from tributary_analysis.frames.meta import meta_of
from tributary_analysis.sources.logs.files import FileLogs
from tributary_analysis.sources.logs.normalize import normalize_records

#: the instants the events are logged at (the clock is pinned so the truth is known)
WHEN = pd.date_range("2025-03-01T10:00:00.123456Z", periods=6, freq="17min")
WIDE = ("2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z")


def _structlog_lines(processor: structlog.types.Processor) -> list[str]:
    """Lines from structlog's own ``JSONRenderer`` with the given time stamper."""
    buf = io.StringIO()
    logger = structlog.wrap_logger(
        structlog.PrintLogger(buf),
        processors=[structlog.processors.add_log_level, processor,
                    structlog.processors.JSONRenderer()])
    for i, ts in enumerate(WHEN):
        with _clock(ts):
            logger.info("HTTP request processed", status_code=200 + i, duration=0.01 * (i + 1),
                        tenant_id=f"t{i}", request_id=f"r{i}")
    return buf.getvalue().splitlines()


class _clock:
    """Pin ``time.time`` (structlog's ``TimeStamper`` reads it) to one instant."""

    def __init__(self, ts: pd.Timestamp) -> None:
        self.value = ts.value / 1e9

    def __enter__(self) -> None:
        self.saved = time.time
        time.time = lambda: self.value  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        time.time = self.saved  # type: ignore[assignment]


def _read_both(lines: list[str], tmp_path: Path) -> tuple[pd.DataFrame, pd.DataFrame, FileLogs]:
    path = tmp_path / "x.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    files = FileLogs(path)
    a = files.search(*WIDE).sort_values("request_id", kind="stable").reset_index(drop=True)
    b = normalize_records([orjson.loads(line) for line in lines]).sort_values(
        "request_id", kind="stable").reset_index(drop=True)
    return a, b, files


def test_structlog_default_timestamper_is_unix_seconds(tmp_path: Path) -> None:
    lines = _structlog_lines(structlog.processors.TimeStamper())
    assert isinstance(json.loads(lines[0])["timestamp"], float)  # what structlog writes
    files_frame, python_frame, files = _read_both(lines, tmp_path)
    assert not files.problems
    for df in (files_frame, python_frame):
        got = df["timestamp"].dt.floor("us")
        assert (abs(got - pd.Series(WHEN)) <= pd.Timedelta(microseconds=1)).all(), got
        assert df["event"].astype(str).eq("HTTP request processed").all()
        assert df["status_code"].tolist() == [200, 201, 202, 203, 204, 205]
    assert (files_frame["timestamp"] == python_frame["timestamp"]).all()
    assert meta_of(files.search(*WIDE)).details["timestamp_formats"] == {"epoch_s": 6}


def test_structlog_iso_timestamper_still_reads(tmp_path: Path) -> None:
    """``fmt="iso"`` reads the wall clock (not ``time.time``): compare with the text."""
    lines = _structlog_lines(structlog.processors.TimeStamper(fmt="iso"))
    written = pd.to_datetime(pd.Series([json.loads(line)["timestamp"] for line in lines]),
                             utc=True)
    path = tmp_path / "x.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    files = FileLogs(path)
    got = files.search("2000-01-01", "2100-01-01")["timestamp"]
    python = normalize_records([orjson.loads(line) for line in lines])["timestamp"]
    assert not files.problems
    assert (got == written).all() and (python == written).all()


@pytest.mark.parametrize(("unit", "scale"), [("ms", 1e3), ("us", 1e6), ("ns", 1e9)])
def test_epoch_milli_micro_and_nanoseconds_by_magnitude(unit: str, scale: float,
                                                        tmp_path: Path) -> None:
    """pino writes milliseconds, some Go loggers micro- or nanoseconds."""
    lines = [orjson.dumps({"timestamp": round(ts.value / 1e9 * scale), "event": "m",
                           "request_id": f"r{i}"}).decode() for i, ts in enumerate(WHEN)]
    files_frame, python_frame, files = _read_both(lines, tmp_path)
    want = pd.Series(WHEN).dt.floor({"ms": "ms", "us": "us", "ns": "us"}[unit])
    assert not files.problems
    assert (files_frame["timestamp"].dt.floor("us") == want).all()
    assert (python_frame["timestamp"].dt.floor("us") == want).all()


def test_numbers_that_are_no_time_are_counted(tmp_path: Path) -> None:
    lines = [orjson.dumps({"timestamp": v, "event": "m", "request_id": f"r{i}"}).decode()
             for i, v in enumerate([12.5, -1, 1e30, 1740823200])]
    files_frame, python_frame, files = _read_both(lines, tmp_path)
    assert files.problems.counts == {"bad_timestamp": 3}
    assert {s["text"] for s in files.problems.samples} >= {
        '{"timestamp":12.5,"event":"m","request_id":"r0"}'}
    assert files_frame["request_id"].tolist() == python_frame["request_id"].tolist() == ["r3"]
    assert meta_of(python_frame).details["problems"]["counts"] == {"bad_timestamp": 3}


def _pjl_lines(fmt: str, **kwargs: object) -> list[str]:
    """python-json-logger with ``asctime`` in UTC (``converter = time.gmtime``)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    formatter = JsonFormatter(fmt, **kwargs)  # type: ignore[arg-type]
    formatter.converter = time.gmtime  # type: ignore[assignment]
    handler.setFormatter(formatter)
    logger = logging.Logger("svc")
    logger.addHandler(handler)
    for i, ts in enumerate(WHEN):
        with _clock(ts):
            logger.warning("HTTP request processed",
                           extra={"status_code": 500 + i, "tenant_id": f"t{i}",
                                  "request_id": f"r{i}", "duration": 0.5})
    return buf.getvalue().splitlines()


def test_python_json_logger_asctime_is_read(tmp_path: Path) -> None:
    lines = _pjl_lines("%(asctime)s %(levelname)s %(name)s %(message)s")
    assert "," in json.loads(lines[0])["asctime"]  # logging's '2025-03-01 10:00:00,123'
    files_frame, python_frame, files = _read_both(lines, tmp_path)
    assert not files.problems
    want = pd.Series(WHEN).dt.floor("ms")
    for df in (files_frame, python_frame):
        assert (df["timestamp"] == want).all()
        assert df["level"].astype(str).eq("WARNING").all()
        assert df["status_code"].tolist() == [500, 501, 502, 503, 504, 505]
    meta = meta_of(files.search(*WIDE))
    assert meta.details["timestamp_formats"] == {"asctime": 6}
    assert any("asctime format (no time zone) were read as UTC" in n for n in meta.notes)


def test_python_json_logger_iso_timestamp_option(tmp_path: Path) -> None:
    lines = _pjl_lines("%(levelname)s %(message)s", timestamp=True)
    files_frame, python_frame, files = _read_both(lines, tmp_path)
    assert not files.problems
    assert (files_frame["timestamp"] == pd.Series(WHEN)).all()
    assert (python_frame["timestamp"] == pd.Series(WHEN)).all()
