"""One table of durations and windows, read by every entry point the same way.

Every place a user writes a time — CLI options (``report run``, ``prom range``,
``logs search``, ``schedule fire``), notebook parameters, schedule files, rule files,
PromQL builders, the log and Prometheus sources — must turn the same text into the same
duration or window, or refuse it with a message that names it. The reference is
:mod:`tributary_analysis.ground.time`; each entry point is exercised for real (the CLI
in-process through ``tributary_analysis.cli.main``, against a throwaway real Prometheus and
a real, empty log file) and its answer read back from what it produced: the window a
report run recorded in the ledger, the grid a range query evaluated, the window a log
search reported, the range a PromQL builder wrote, the ``for:`` of a loaded rule.

Rule files are strict, as Prometheus is (``1.5h`` and ``30m1h`` refused, ``for: 0s``
allowed); a notebook's ``since`` is a default that an injected ``start`` overrides. Those
are the only differences, and they are rows of the table, not exceptions in the code.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from prom_local import LocalPrometheus, start_prometheus

from tributary_analysis.errors import TributaryError
from tributary_analysis.ground.time import Window, parse_duration, parse_time, parse_window

END = "2026-01-31T12:00:00Z"
#: runs relative to "now" are compared within this (entry points run one after the other)
NOW_TOLERANCE = pd.Timedelta(minutes=2)


# ------------------------------------------------------------------ the table

@dataclass(frozen=True)
class Duration:
    text: str
    seconds: float | None  # lenient reading (None: refused)
    strict: float | None  # rule files / Prometheus's model.ParseDuration (None: refused)


DURATIONS = [
    Duration("30m", 1800, 1800),
    Duration("1h30m", 5400, 5400),
    Duration("1.5h", 5400, None),
    Duration("250ms", 0.25, 0.25),
    Duration("7d", 7 * 86400, 7 * 86400),
    Duration("90s", 90, 90),
    Duration("30m1h", 5400, None),  # lenient sums the parts; Prometheus wants largest first
    Duration("0s", None, 0),  # a window cannot be empty; "for: 0s" is a rule firing at once
    Duration("yesterday", None, None),
    Duration("5 minutes", None, None),
    Duration("-5m", None, None),
    Duration("1x", None, None),
]


@dataclass(frozen=True)
class Span:
    label: str
    since: str | None = None
    start: str | None = None
    end: str | None = None
    expect: tuple[str, str] | None = None  # (start, end) in UTC; None: refused
    relative: pd.Timedelta | None = None  # ends now, this long
    refusal: str = ""  # text every refusal must contain (the input, named)
    notebook: tuple[str, str] | None = None  # where a notebook deliberately differs


WINDOWS = [
    Span("since+end", since="1h30m", end=END, expect=("2026-01-31T10:30:00Z", END)),
    Span("since decimal, end with offset", since="1.5h", end="2026-01-31T13:00:00+01:00",
         expect=("2026-01-31T10:30:00Z", END)),
    Span("start with offset", start="2026-01-31T11:00:00+01:00", end=END,
         expect=("2026-01-31T10:00:00Z", END)),
    Span("naive start is UTC", start="2026-01-31 10:00", end="2026-01-31T07:00:00-05:00",
         expect=("2026-01-31T10:00:00Z", END)),
    Span("UNIX seconds", start="1769853600", end=END, expect=("2026-01-31T10:00:00Z", END)),
    Span("a week", since="7d", end="2026-01-31T00:00:00Z",
         expect=("2026-01-24T00:00:00Z", "2026-01-31T00:00:00Z")),
    Span("now-2h", start="now-2h", relative=pd.Timedelta(hours=2)),
    Span("since, ends now", since="90m", relative=pd.Timedelta(minutes=90)),
    Span("since and start", since="1h", start="2026-01-31T10:00:00Z", end=END,
         refusal="not both", notebook=("2026-01-31T10:00:00Z", END)),
    Span("start yesterday", start="yesterday", refusal="'yesterday'"),
    Span("end tomorrow", since="1h", end="tomorrow", refusal="'tomorrow'"),
    Span("start after end", start=END, end="2026-01-31T11:00:00Z", refusal=END),
    Span("milliseconds", start="1769853600000", end=END, refusal="'1769853600000'"),
    Span("since zero", since="0s", end=END, refusal="'0s'"),
]


# ------------------------------------------------------------------ fixtures

@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPrometheus]:
    prom = start_prometheus(tmp_path_factory.mktemp("entry-prom"))
    try:
        yield prom
    finally:
        prom.stop()


@pytest.fixture()
def env(prometheus: LocalPrometheus, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> dict[str, Any]:
    monkeypatch.setenv("TRIBUTARY_PROMETHEUS_URL", prometheus.url)
    monkeypatch.delenv("TRIBUTARY_REPORT_WEBHOOK_URL", raising=False)
    logs = tmp_path / "empty.jsonl"
    logs.write_text("")
    return {"prom": prometheus.url, "logs": str(logs), "tmp": tmp_path}


class Refused(Exception):
    """The entry point refused the input; ``str()`` is its message."""


def cli(args: list[str]) -> str:
    """``tributary ARGS`` in-process; stderr+stdout, or :class:`Refused` with the error line."""
    from tributary_analysis.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    text = err.getvalue() + out.getvalue()
    errors = [line for line in err.getvalue().splitlines() if line.startswith("error:")]
    if code == 2 and errors and "report run(s) failed" not in errors[-1]:
        raise Refused(errors[-1])
    return text


def library(call: Callable[[], Any]) -> Any:
    try:
        return call()
    except TributaryError as exc:
        raise Refused(str(exc)) from exc


def described(text: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The window of a ``Window.describe()`` line (``S → E (D)``)."""
    m = re.search(r"(\S+Z) → (\S+Z) \(", text)
    assert m, text
    return pd.Timestamp(m.group(1)), pd.Timestamp(m.group(2))


def ledger_window(out: Path) -> tuple[pd.Timestamp, pd.Timestamp]:
    [line] = (out / "runs.jsonl").read_text().splitlines()
    rec = json.loads(line)
    return pd.Timestamp(rec["window_start"]), pd.Timestamp(rec["window_end"])


# ------------------------------------------------------------------ entry points: windows

def _win_args(s: Span) -> list[str]:
    args = []
    for opt, value in (("--since", s.since), ("--start", s.start), ("--end", s.end)):
        if value is not None:
            args += [opt, value]
    return args


def w_ground(s: Span, env: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    w = library(lambda: parse_window(s.since, s.start, s.end))
    return w.start, w.end


def w_report_run(s: Span, env: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    out = env["tmp"] / "reports"
    cli(["report", "run", "latency", *_win_args(s), "--timeout", "1ms", "--out", str(out)])
    return ledger_window(out)


def w_prom_range(s: Span, env: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    out = env["tmp"] / "range.csv"
    cli(["prom", "range", "vector(1)", *_win_args(s), "--step", "1m", "--url", env["prom"],
         "--out", str(out)])
    ts = pd.to_datetime(pd.read_csv(out)["timestamp"], utc=True)
    return ts.min(), ts.max() + pd.Timedelta(minutes=1)  # the grid of [start, end) every 1m


def w_logs_search(s: Span, env: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    return described(cli(["logs", "search", "--files", env["logs"], *_win_args(s)]))


def w_notebook(s: Span, env: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    from tributary_analysis import notebook as nb

    p = library(lambda: nb.check_parameters(since=s.since, start=s.start, end=s.end))
    return p.window.start, p.window.end


def _instants(s: Span) -> tuple[str, str]:
    assert s.since is None  # the sources take instants only
    return (s.start or "", s.end or "now")


def w_log_source(s: Span, env: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    from tributary_analysis.frames.meta import meta_of
    from tributary_analysis.sources.logs.files import FileLogs

    start, end = _instants(s)
    frame = library(lambda: FileLogs([env["logs"]]).search(start, end))
    w = meta_of(frame).window
    assert w is not None
    return w.start, w.end


def w_prometheus_source(s: Span, env: dict[str, Any]) -> tuple[pd.Timestamp, pd.Timestamp]:
    from tributary_analysis.sources.prometheus import PrometheusSource

    start, end = _instants(s)
    with PrometheusSource(env["prom"]) as src:
        frame = library(lambda: src.query_range("vector(1)", start, end, "1m"))
    # instants, as Prometheus's API takes them: the grid includes ``end`` (on the minute)
    return frame["timestamp"].min(), frame["timestamp"].max()


WINDOW_ENTRY_POINTS: dict[str, Callable[[Span, dict[str, Any]], tuple[Any, Any]]] = {
    "ground.time.parse_window": w_ground,
    "cli report run": w_report_run,
    "cli prom range": w_prom_range,
    "cli logs search": w_logs_search,
    "notebook check_parameters": w_notebook,
    "FileLogs.search": w_log_source,
    "PrometheusSource.query_range": w_prometheus_source,
}
INSTANTS_ONLY = {"FileLogs.search", "PrometheusSource.query_range"}


def _window_cases() -> Iterator[Any]:
    for s in WINDOWS:
        for name in WINDOW_ENTRY_POINTS:
            if name in INSTANTS_ONLY and s.since is not None:
                continue  # a source is given instants; "since" is a caller's word
            yield pytest.param(s, name, id=f"{name}: {s.label}")


@pytest.mark.parametrize(("span", "entry"), list(_window_cases()))
def test_every_entry_point_reads_a_window_the_same_way(span: Span, entry: str,
                                                       env: dict[str, Any]) -> None:
    read = WINDOW_ENTRY_POINTS[entry]
    expect = span.notebook if entry == "notebook check_parameters" and span.notebook \
        else span.expect
    if expect is None and span.relative is None:
        with pytest.raises(Refused) as info:
            read(span, env)
        assert span.refusal in str(info.value)
        return
    start, end = read(span, env)
    if span.relative is not None:
        now = pd.Timestamp.now(tz="UTC")
        assert abs(end - now) <= NOW_TOLERANCE and end - start == span.relative
        return
    assert expect is not None
    assert (start, end) == (parse_time(expect[0]), parse_time(expect[1]))


# ------------------------------------------------------------------ entry points: durations

def d_ground(text: str, env: dict[str, Any]) -> pd.Timedelta:
    return library(lambda: parse_duration(text, name="since"))


def _length(w: tuple[pd.Timestamp, pd.Timestamp]) -> pd.Timedelta:
    assert w[1] == parse_time(END), w
    return w[1] - w[0]


def d_report_run(text: str, env: dict[str, Any]) -> pd.Timedelta:
    return _length(w_report_run(Span("", since=text, end=END), env))


def d_prom_range(text: str, env: dict[str, Any]) -> pd.Timedelta:
    out = env["tmp"] / "one.csv"
    cli(["prom", "range", "vector(1)", "--since", text, "--end", END, "--step", text,
         "--url", env["prom"], "--out", str(out)])
    [first] = pd.to_datetime(pd.read_csv(out)["timestamp"], utc=True)  # one step: one point
    return parse_time(END) - first


def d_logs_search(text: str, env: dict[str, Any]) -> pd.Timedelta:
    return _length(described(cli(["logs", "search", "--files", env["logs"], "--since", text,
                                  "--end", END])))


def d_schedule(text: str, env: dict[str, Any]) -> pd.Timedelta:
    path = env["tmp"] / "schedules.yaml"
    path.write_text(yaml.safe_dump({"out": "out", "schedules": [{
        "name": "entry", "cron": "0 6 * * *", "reports": ["latency"], "since": text,
        "timeout": "1ms"}]}))
    cli(["schedule", "fire", "entry", "-f", str(path)])
    start, end = ledger_window(env["tmp"] / "out")
    assert abs(end - pd.Timestamp.now(tz="UTC")) <= NOW_TOLERANCE
    return end - start


def d_notebook(text: str, env: dict[str, Any]) -> pd.Timedelta:
    from tributary_analysis import notebook as nb

    return library(lambda: nb.check_parameters(since=text, end=END)).window.duration


def d_promql(text: str, env: dict[str, Any]) -> pd.Timedelta:
    from tributary_analysis.promql import catalog

    expr = library(lambda: catalog.request_rate(window=text))
    m = re.search(r"\[(\w+)\]", expr)
    assert m, expr
    return parse_duration(m.group(1), strict=True)  # the builder writes Prometheus notation


def d_log_source_step(text: str, env: dict[str, Any]) -> pd.Timedelta:
    from tributary_analysis.frames.meta import meta_of
    from tributary_analysis.sources.logs.files import FileLogs

    frame = library(lambda: FileLogs([env["logs"]]).summary("2026-01-31T11:00:00Z", END,
                                                             interval=text))
    step = meta_of(frame).step
    assert step is not None
    return step


def d_prometheus_step(text: str, env: dict[str, Any]) -> pd.Timedelta:
    from tributary_analysis.frames.meta import meta_of
    from tributary_analysis.sources.prometheus import PrometheusSource

    with PrometheusSource(env["prom"]) as src:
        frame = library(lambda: src.query_range("vector(1)", "2026-01-31T11:00:00Z", END,
                                                text))
    step = meta_of(frame).step
    assert step is not None
    return step


def d_rule_file(text: str, env: dict[str, Any]) -> pd.Timedelta:
    from tributary_analysis.promql.rules import load_rules

    path = env["tmp"] / "rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"alert": "A", "expr": "up == 0", "for": text}]}]}))
    return library(lambda: load_rules(path)).rule("A").for_


DURATION_ENTRY_POINTS: dict[str, Callable[[str, dict[str, Any]], pd.Timedelta]] = {
    "ground.time.parse_duration": d_ground,
    "cli report run --since": d_report_run,
    "cli prom range --since/--step": d_prom_range,
    "cli logs search --since": d_logs_search,
    "cli schedule fire (since:)": d_schedule,
    "notebook check_parameters(since=)": d_notebook,
    "PromQL builder (range)": d_promql,
    "FileLogs.summary(interval=)": d_log_source_step,
    "PrometheusSource.query_range(step=)": d_prometheus_step,
    "rule file (for:)": d_rule_file,
}
STRICT = {"rule file (for:)"}


@pytest.mark.parametrize("entry", list(DURATION_ENTRY_POINTS))
@pytest.mark.parametrize("row", DURATIONS, ids=[d.text for d in DURATIONS])
def test_every_entry_point_reads_a_duration_the_same_way(row: Duration, entry: str,
                                                         env: dict[str, Any]) -> None:
    expect = row.strict if entry in STRICT else row.seconds
    read = DURATION_ENTRY_POINTS[entry]
    if expect is None:
        with pytest.raises(Refused) as info:
            read(row.text, env)
        assert repr(row.text) in str(info.value)
        return
    assert read(row.text, env) == pd.Timedelta(seconds=expect)


def test_the_reference_agrees_with_the_table() -> None:
    """The table itself is what ground.time says (so a row cannot drift from it)."""
    for row in DURATIONS:
        for strict, expect in ((False, row.seconds), (True, row.strict)):
            try:
                got: float | None = parse_duration(row.text, strict=strict,
                                                   allow_zero=strict).total_seconds()
            except TributaryError:
                got = None
            assert got == expect, (row.text, strict)
    w = Window.of(*WINDOWS[0].expect)  # type: ignore[misc]
    assert w.duration == pd.Timedelta(minutes=90)
