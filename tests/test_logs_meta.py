"""The log sources' contracts: FrameMeta on every frame, the legacy attrs derived from it,
the suite's one time vocabulary, and FileLogs never importing the Elasticsearch client."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from _log_events import envelope_lines, make_events, truth_requests, write_jsonl

from tributary_analysis.errors import QueryError
from tributary_analysis.frames.meta import FrameMeta, meta_of, reader_notes
from tributary_analysis.ground.time import Window
from tributary_analysis.sources.logs.files import FileLogs

START, END = "2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z"


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return make_events(400, seed=31)


@pytest.fixture(scope="module")
def logdir(events: list[dict], tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("meta")
    lines = envelope_lines(events)
    lines.insert(5, "not json at all")  # line 6
    write_jsonl(d / "a.jsonl", lines)
    return d


@pytest.fixture(scope="module")
def logs(logdir: Path) -> FileLogs:
    return FileLogs(logdir / "*.jsonl")


def test_every_frame_carries_frame_meta(logs: FileLogs, logdir: Path) -> None:
    window = Window.of(START, END)
    frames = {
        "search": logs.search(START, END),
        "iter_batches": next(iter(logs.iter_batches(START, END, batch_size=100))),
        "summary": logs.summary(START, END, interval="30m"),
        "top_errors": logs.top_errors(START, END),
        "exact_percentiles": logs.exact_percentiles(START, END, interval="30m"),
    }
    for name, df in frames.items():
        meta = meta_of(df)
        assert isinstance(df.attrs["meta"], FrameMeta), name
        assert meta.source == "files" and meta.location == str(logdir / "*.jsonl"), name
        assert meta.window == window, name
        assert meta.queries and "FROM logs WHERE" in meta.queries[0], name
        assert meta.requests >= 1, name
        (bad,) = meta.problems
        assert (bad.kind, bad.count, bad.dropped) == ("malformed_json", 1, True), name
        assert bad.samples == (f"{logdir / 'a.jsonl'}:6: not json at all",), name
        assert "1 input record(s) left out: malformed_json" in " ".join(reader_notes(df))
    assert meta_of(frames["summary"]).step == pd.Timedelta("30m")
    assert "percentiles are exact (DuckDB quantile_cont)" in meta_of(frames["summary"]).notes
    assert meta_of(frames["exact_percentiles"]).notes[-1] == (
        "percentiles are exact (from raw rows, linear interpolation)")
    assert meta_of(frames["search"]).step is None


def test_the_meta_is_the_only_thing_in_attrs(logs: FileLogs) -> None:
    """One record: no other ``attrs`` key repeats what FrameMeta holds."""
    s = logs.summary(START, END, by=["tenant_id"], filters={"tenant_id": ["acme"]})
    assert list(s.attrs) == ["meta"]
    m = meta_of(s)
    assert m.source == "files" and m.details["interval"] == "1h"
    assert m.details["percentiles"] == "exact (DuckDB quantile_cont)"
    assert m.details["filters"] == {"tenant_id": ["acme"]} and m.details["by"] == ["tenant_id"]
    assert m.details["problems"]["counts"] == {"malformed_json": 1}
    assert [(p.kind, p.count) for p in m.problems] == [("malformed_json", 1)]
    assert m.window is not None and m.window.start == pd.Timestamp(START)


def test_meta_round_trips_to_json(logs: FileLogs) -> None:
    meta = meta_of(logs.summary(START, END))
    again = FrameMeta.from_json(meta.to_json())
    assert again.problems == meta.problems and again.window == meta.window
    assert again.step == meta.step and again.notes == meta.notes


def test_times_and_intervals_use_the_shared_vocabulary(logs: FileLogs,
                                                       events: list[dict]) -> None:
    truth = truth_requests(events)
    a = logs.summary("2025-03-01", "2025-03-01T06:00", interval="1h30m", by=None)
    b = logs.summary(1740787200, "2025-03-01T06:00:00+00:00", interval="1.5h", by=None)
    c = logs.summary(pd.Timestamp("2025-03-01", tz="UTC"), "2025-03-01T07:00+01:00",
                     interval=pd.Timedelta(minutes=90), by=None)
    a.attrs, b.attrs, c.attrs = {}, {}, {}
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(a, c)
    assert a["requests"].sum() == (truth["timestamp"] < "2025-03-01T06:00Z").sum()
    assert a["timestamp"].dt.strftime("%H:%M").tolist() == ["00:00", "01:30", "03:00",
                                                            "04:30"]
    with pytest.raises(QueryError, match=r"start='yesterday' is not a time; use ISO 8601"):
        logs.search("yesterday", END)
    with pytest.raises(QueryError, match=r"window end 2025-03-01T00:00:00Z is not after "
                                         r"its start 2025-03-02T00:00:00Z"):
        logs.search(END, START)
    with pytest.raises(QueryError, match=r"invalid interval '0s': it must be longer than "
                                         r"zero"):
        logs.summary(START, END, interval="0s")


def test_file_logs_never_import_the_elasticsearch_client(logdir: Path) -> None:
    code = textwrap.dedent(f"""
        import sys
        import tributary_analysis
        from tributary_analysis import FileLogs as Top
        from tributary_analysis.sources.logs import FileLogs
        assert Top is FileLogs
        logs = FileLogs({str(logdir / '*.jsonl')!r})
        logs.search("2025-03-01", "2025-03-02")
        logs.summary("2025-03-01", "2025-03-02")
        logs.top_errors("2025-03-01", "2025-03-02")
        loaded = sorted(m for m in sys.modules
                        if m.split(".")[0] in ("elasticsearch", "elastic_transport"))
        assert not loaded, loaded
        from tributary_analysis.sources.logs import ElasticsearchLogs
        assert "elasticsearch" in sys.modules
        print("ok")
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
