"""FileLogs on real files: known truth, bad input counted and reported, untrusted tenants."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _log_events import TENANTS, envelope_lines, make_events, truth_requests, write_jsonl

from tributary_analysis.errors import NotFoundError, QueryError, TooManySamples
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.sources.logs.base import summarize_frame
from tributary_analysis.sources.logs.files import FileLogs

START, END = "2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z"


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return make_events(1500, seed=5)


@pytest.fixture(scope="module")
def logs(events: list[dict], tmp_path_factory: pytest.TempPathFactory) -> FileLogs:
    d = tmp_path_factory.mktemp("filelogs")
    lines = envelope_lines(events)
    half = len(lines) // 2  # two daily-style files, like the service's rotation
    write_jsonl(d / "deeplake-api-2025-03-01.jsonl", lines[:half])
    write_jsonl(d / "deeplake-api-2025-03-01b.jsonl", lines[half:])
    return FileLogs(d / "*.jsonl")


def test_search_returns_every_event_once(logs: FileLogs, events: list[dict]) -> None:
    df = logs.search(START, END)
    assert len(df) == len(events)
    truth = truth_requests(events)
    done = df[df["event"] == "HTTP request processed"]
    assert sorted(done["request_id"]) == sorted(truth["request_id"])
    assert df["timestamp"].is_monotonic_increasing
    assert meta_of(df).source == "files" and meta_of(df).details["problems"]["counts"] == {}


def test_iter_batches_covers_the_window_in_batches(logs: FileLogs, events: list[dict]) -> None:
    sizes = [len(b) for b in logs.iter_batches(START, END, batch_size=700)]
    assert sum(sizes) == len(events) and max(sizes) <= 700 and len(sizes) >= 5


def test_half_open_window_and_fields(logs: FileLogs) -> None:
    a = logs.search("2025-03-01T00:00:00Z", "2025-03-01T02:00:00Z", fields=["timestamp"])
    b = logs.search("2025-03-01T02:00:00Z", "2025-03-01T04:00:00Z", fields=["timestamp"])
    whole = logs.search("2025-03-01T00:00:00Z", "2025-03-01T04:00:00Z", fields=["timestamp"])
    assert list(whole.columns) == ["timestamp"] and len(a) + len(b) == len(whole)
    assert a["timestamp"].max() < pd.Timestamp("2025-03-01T02:00:00Z") <= b["timestamp"].min()


@pytest.mark.parametrize("tenant", list(TENANTS))
def test_untrusted_tenant_ids_are_bound_parameters(logs: FileLogs, events: list[dict],
                                                   tenant: str) -> None:
    truth = truth_requests(events)
    want = truth[truth["tenant_id"] == tenant]
    df = logs.search(START, END, filters={"tenant_id": tenant, "event": "HTTP request processed"})
    assert sorted(df["request_id"]) == sorted(want["request_id"])
    s = logs.summary(START, END, by=["tenant_id"], filters={"tenant_id": [tenant]})
    assert s["requests"].sum() == len(want)
    assert set(s["tenant_id"].astype(str)) == {tenant}


def test_injection_shaped_tenant_matches_nothing(logs: FileLogs) -> None:
    evil = "x' OR '1'='1"
    assert logs.count(START, END, {"tenant_id": evil}) == 0
    assert logs.summary(START, END, filters={"tenant_id": evil}).empty


def test_summary_counts_equal_truth(logs: FileLogs, events: list[dict]) -> None:
    truth = truth_requests(events)
    s = logs.summary(START, END, interval="1h", by=["tenant_id", "status_code"])
    assert list(s.columns) == ["timestamp", "tenant_id", "status_code", "requests",
                               "errors_5xx", "errors_4xx", "latency_p50_s", "latency_p95_s",
                               "latency_p99_s"]
    assert s["requests"].sum() == len(truth)
    assert s["errors_5xx"].sum() == (truth["status_code"] >= 500).sum()
    assert s["errors_4xx"].sum() == truth["status_code"].between(400, 499).sum()
    hour = truth["timestamp"].dt.floor("h")
    want = truth.groupby([hour, "tenant_id", "status_code"]).size()
    got = s.set_index(["timestamp", s["tenant_id"].astype(str), s["status_code"].astype(int)])
    assert got["requests"].sort_index().tolist() == want.sort_index().tolist()
    assert meta_of(s).details["percentiles"].startswith("exact")


def test_summary_percentiles_are_exact(logs: FileLogs, events: list[dict]) -> None:
    truth = truth_requests(events)
    s = logs.summary(START, END, interval="1d", by=["tenant_id"], percentiles=[50, 95, 99.9])
    for tenant, rows in truth.groupby("tenant_id"):
        row = s[s["tenant_id"] == tenant].iloc[0]
        for p in (50, 95, 99.9):
            assert row[f"latency_p{p:g}_s"] == pytest.approx(
                np.percentile(rows["duration"], p), rel=1e-12)
    exact = logs.exact_percentiles(START, END, interval="1d", by=["tenant_id"],
                                   percentiles=[50, 95, 99.9])
    cols = [c for c in s.columns if c.startswith("latency")]
    np.testing.assert_allclose(exact[cols].to_numpy(), s[cols].to_numpy(), rtol=1e-12)
    assert exact["requests"].tolist() == s["requests"].tolist()


def test_summarize_frame_matches_pushed_down_summary(logs: FileLogs) -> None:
    raw = logs.search(START, END)
    local = summarize_frame(raw, interval="30m", by=["endpoint", "tenant_id"])
    pushed = logs.summary(START, END, interval="30m", by=["endpoint", "tenant_id"])
    local.attrs, pushed.attrs = {}, {}
    pd.testing.assert_frame_equal(local, pushed, check_exact=False, rtol=1e-12)


def test_top_errors_equal_truth(logs: FileLogs, events: list[dict]) -> None:
    errs = pd.DataFrame([e for e in events if e.get("error_type")])
    want = errs.groupby(["error_type", "error_code", "message"]).size().sort_values(
        ascending=False)
    top = logs.top_errors(START, END, k=2)
    assert list(top.columns) == ["error_type", "error_code", "message", "count"]
    assert len(top) == 2 and top["count"].tolist() == want.tolist()[:2]
    full = logs.top_errors(START, END)
    assert full["count"].sum() == len(errs)


def test_exact_percentiles_refuse_large_windows(logs: FileLogs) -> None:
    with pytest.raises(TooManySamples, match=r"exceed max_rows=10; narrow the window"):
        logs.exact_percentiles(START, END, max_rows=10)


def test_bad_questions_are_clear_errors(logs: FileLogs) -> None:
    with pytest.raises(QueryError, match=r"unknown log filter field \['tenant'\]"):
        logs.search(START, END, filters={"tenant": "acme"})
    with pytest.raises(QueryError, match=r"cannot summarize by \['user_agent'\]"):
        logs.summary(START, END, by=["user_agent"])
    with pytest.raises(QueryError, match=r"invalid interval '1 week'"):
        logs.summary(START, END, interval="1 week")
    with pytest.raises(QueryError, match=r"window end .* is not after its start"):
        logs.search(END, START)


def test_missing_files_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"no log files match .*nope\*\.jsonl.*TRIBUTARY_LOG"):
        FileLogs(tmp_path / "nope*.jsonl")


def test_malformed_truncated_and_wrong_types_are_counted_and_reported(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    events = make_events(50, seed=2)
    lines = envelope_lines(events)
    good = len(lines)
    lines.insert(3, "this is not json")                       # line 4: malformed
    lines.insert(10, lines[10][: len(lines[10]) // 2])        # line 11: truncated line
    lines.insert(20, '{"asctime": "x", "message": "{\\"timestamp\\": \\"2025-03-01T00:')  # 21
    lines.append('{"timestamp": "2025-03-01T01:00:00", "message": "HTTP request processed", '
                 '"status_code": "OK", "duration": "fast", "request_id": "wt-1"}')
    lines.append('{"message": "no timestamp here", "status_code": 200}')
    lines.append("")  # a blank line is not a record
    path = write_jsonl(tmp_path / "bad.jsonl", lines)
    with caplog.at_level(logging.WARNING):
        logs = FileLogs(path)
        df = logs.search(START, END)
    probs = logs.problems
    assert probs.counts == {"malformed_json": 3, "bad_timestamp": 1,
                            "wrong_type:status_code": 1, "wrong_type:duration_s": 1}
    where = {s["where"] for s in probs.samples if s["kind"] == "malformed_json"}
    assert where == {f"{path}:4", f"{path}:11", f"{path}:21"}
    assert len(df) == good + 1  # the wrong-typed record stays, its bad values null
    row = df[df["request_id"] == "wt-1"].iloc[0]
    assert pd.isna(row["status_code"]) and pd.isna(row["duration_s"])
    assert meta_of(df).details["problems"]["dropped"] == 4
    assert any(p.kind == "malformed_json" and p.count == 3 and p.dropped
               for p in meta_of(df).problems)
    assert any("malformed_json" in r.getMessage() and "bad.jsonl:4" in r.getMessage()
               for r in caplog.records)


def test_bad_envelope_inner_json_is_counted(tmp_path: Path) -> None:
    line = '{"asctime": "t", "levelname": "INFO", "message": "{\\"timestamp\\": 1"}'
    logs = FileLogs(write_jsonl(tmp_path / "e.jsonl", [line]), shape="envelope")
    assert logs.search(START, END).empty
    assert logs.problems.counts == {"bad_envelope": 1}
    assert logs.problems.samples[0]["where"].endswith("e.jsonl:1")


@pytest.mark.parametrize("cmd", ["search", "summary", "top-errors"])
def test_cli_help(cmd: str, capsys: pytest.CaptureFixture[str]) -> None:
    from tributary_analysis.cli import main

    assert main(["logs", cmd, "--help"]) == 0
    assert "--tenant" in capsys.readouterr().out


def test_cli_summary_and_errors_are_one_line(logs: FileLogs, events: list[dict], tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from tributary_analysis.cli import main

    out = tmp_path / "s.csv"
    args = ["logs", "summary", "--files", logs.files[0], "--files", logs.files[1],
            "--start", START, "--end", END, "--by", "tenant_id", "--tenant", "acme",
            "--out", str(out)]
    assert main(args) == 0
    got = pd.read_csv(out)
    truth = truth_requests(events)
    assert got["requests"].sum() == (truth["tenant_id"] == "acme").sum()
    assert "percentiles: exact" in capsys.readouterr().err
    assert main(["logs", "top-errors", "--files", str(tmp_path / "none*.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: no log files match")
