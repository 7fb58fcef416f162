"""Prometheus's own ``histograms.test`` and ``native_histograms.test`` through the client-side
``histogram_quantile`` / ``histogram_quantiles`` / ``histogram_fraction``.

The test files are read at test time from the Go module the Prometheus 3 build downloaded
(``$(go env GOMODCACHE)/github.com/prometheus/prometheus@v0.316.0/promql/promqltest/
testdata/``; fetched with ``go mod download`` when missing, never copied into this
repository). Their ``load`` blocks (the promqltest series notation, native histograms and
``load_with_nhcb`` included) are remote-written into a real Prometheus 3.16, one ``clear``
segment per 10-day slot. Every ``eval`` whose expression is one of those functions applied
to literal numbers and an inner expression is *expressed*: the inner expression is
evaluated by that server through :class:`PrometheusSource` (instant or range, as the case
says), the function is computed client-side with the algorithm of the detected server, and
the result must equal the file's expectation within promqltest's own tolerance (relative
1e-6, NaN equal to NaN), including ``expect fail`` (a refused duplicate label set).

The counts are printed (``-s``) and pinned: how many cases the files have, how many are
expressed, how many pass.
"""

from __future__ import annotations

import math
import os
import re
import struct
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from prom_local import LocalPrometheus, start_prometheus

from tributary_analysis.analysis.histograms import (
    histogram_fraction,
    histogram_quantile,
    histogram_quantiles,
)
from tributary_analysis.errors import DataError, SourceError
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.ground.time import parse_duration
from tributary_analysis.sources.prometheus import PrometheusSource

pytestmark = pytest.mark.prometheus

MODULE, VERSION = "github.com/prometheus/prometheus", "v0.316.0"
FILES = ("histograms.test", "native_histograms.test")
FUNCS = ("histogram_quantile", "histogram_quantiles", "histogram_fraction")
SEGMENT_MS = 10 * 86_400_000
EPSILON = 1e-6
STALE_NAN = struct.unpack("<d", struct.pack("<Q", 0x7FF0000000000002))[0]


# -- where the files are ------------------------------------------------------------------

def promqltest_dir() -> Path:
    """The module's testdata directory; ``go mod download`` it first when it is missing."""
    from tributary_analysis.stack.gobuild import find_go

    go = str(find_go())
    env = {**os.environ, "GOTOOLCHAIN": "local", "GOFLAGS": "-mod=mod"}
    cache = subprocess.run([go, "env", "GOMODCACHE"], capture_output=True, text=True,
                           check=True, env=env).stdout.strip()
    path = Path(cache) / f"{MODULE}@{VERSION}" / "promql" / "promqltest" / "testdata"
    if not path.is_dir():
        subprocess.run([go, "mod", "download", f"{MODULE}@{VERSION}"], check=False,
                       capture_output=True, text=True, env=env, cwd="/tmp", timeout=900)
    return path


# -- the series notation ------------------------------------------------------------------

def go_number(text: str) -> float:
    """A number as the PromQL lexer reads one (``strconv.ParseInt(s, 0, 64)``, then
    ``ParseFloat``: ``0x1F``, ``1e3``, ``Inf``, ``NaN``)."""
    t = text.strip()
    try:
        return float(int(t, 0))
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        return float.fromhex(t)


@dataclass
class Hist:
    """A native histogram of the notation ``{{schema:0 sum:5 count:4 buckets:[1 2 1]}}``."""

    schema: int = 0
    count: float = 0.0
    sum: float = 0.0
    zero_threshold: float = 0.0
    zero_count: float = 0.0
    pos: dict[int, float] = field(default_factory=dict)
    neg: dict[int, float] = field(default_factory=dict)
    custom_values: tuple[float, ...] = ()
    reset_hint: str = ""

    @classmethod
    def parse(cls, body: str) -> Hist:
        fields: dict[str, Any] = {}
        for key, value in re.findall(r"(\w+):\s*(\[[^\]]*\]|\S+)", body):
            if value.startswith("["):
                fields[key] = [go_number(v) for v in value[1:-1].split()]
            else:
                fields[key] = value
        h = cls(schema=int(go_number(fields.get("schema", "0"))),
                count=go_number(fields.get("count", "0")), sum=go_number(fields.get("sum", "0")),
                zero_threshold=go_number(fields.get("z_bucket_w", "0")),
                zero_count=go_number(fields.get("z_bucket", "0")),
                custom_values=tuple(fields.get("custom_values", ())),
                reset_hint=str(fields.get("counter_reset_hint", "")))
        off = int(go_number(fields.get("offset", "0")))
        h.pos = {off + i: c for i, c in enumerate(fields.get("buckets", []))}
        noff = int(go_number(fields.get("n_offset", "0")))
        h.neg = {noff + i: c for i, c in enumerate(fields.get("n_buckets", []))}
        return h

    def reduced(self, schema: int) -> Hist:
        if schema == self.schema or self.schema == -53:
            return self
        d = self.schema - schema

        def move(b: dict[int, float]) -> dict[int, float]:
            out: dict[int, float] = {}
            for i, c in b.items():
                j = ((i - 1) >> d) + 1
                out[j] = out.get(j, 0.0) + c
            return out

        return Hist(schema, self.count, self.sum, self.zero_threshold, self.zero_count,
                    move(self.pos), move(self.neg), self.custom_values, self.reset_hint)

    def combine(self, other: Hist, sign: float) -> Hist:
        a, b = self, other
        if a.schema != b.schema:
            low = min(a.schema, b.schema)
            a, b = a.reduced(low), b.reduced(low)

        def merge(x: dict[int, float], y: dict[int, float]) -> dict[int, float]:
            out = dict(x)
            for i, c in y.items():
                out[i] = out.get(i, 0.0) + sign * c
            return out

        return Hist(a.schema, a.count + sign * b.count, a.sum + sign * b.sum,
                    max(a.zero_threshold, b.zero_threshold), a.zero_count + sign * b.zero_count,
                    merge(a.pos, b.pos), merge(a.neg, b.neg), a.custom_values or b.custom_values,
                    self.reset_hint)

    def remote(self, ts_ms: int) -> Any:
        from tributary_analysis.demo import remote_write as rw

        hints = {"": rw.RESET_UNKNOWN, "unknown": rw.RESET_UNKNOWN, "reset": rw.RESET_YES,
                 "not_reset": rw.RESET_NO, "gauge": rw.RESET_GAUGE}
        pos = sorted(self.pos)
        neg = sorted(self.neg)
        return rw.Histogram(
            timestamp_ms=ts_ms, count=self.count, sum=self.sum, schema=self.schema,
            zero_threshold=self.zero_threshold, zero_count=self.zero_count,
            positive_spans=rw.spans_of(pos), positive_buckets=tuple(self.pos[i] for i in pos),
            negative_spans=rw.spans_of(neg), negative_buckets=tuple(self.neg[i] for i in neg),
            custom_values=self.custom_values, reset_hint=hints.get(self.reset_hint, 0),
            is_float=True)


Value = float | Hist | None  # None: no sample at that step

_SEQ = re.compile(r"(?P<a>[^x]+?)(?:(?P<op>(?<![eE])[+-])(?P<b>[^x+]+))?x(?P<n>\d+)")


def parse_values(text: str) -> list[Value]:
    """Expand a promqltest value sequence (``0+5x10``, ``_x3``, ``stale``, ``{{…}}+{{…}}x5``)."""
    out: list[Value] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text.startswith("{{", i):
            j = text.index("}}", i) + 2
            base = Hist.parse(text[i + 2:j - 2])
            if j < n and text[j] in "+-" and text.startswith("{{", j + 1):
                k = text.index("}}", j + 1) + 2
                inc = Hist.parse(text[j + 3:k - 2])
                sign = 1.0 if text[j] == "+" else -1.0
                m = re.match(r"x(\d+)", text[k:])
                assert m, text[k:k + 20]
                cur = base
                out.append(cur)
                for _ in range(int(m.group(1))):
                    cur = cur.combine(inc, sign)
                    out.append(cur)
                i = k + m.end()
                continue
            m = re.match(r"x(\d+)", text[j:])
            if m:
                out.extend([base] * (int(m.group(1)) + 1))
                i = j + m.end()
            else:
                out.append(base)
                i = j
            continue
        j = i
        while j < n and not text[j].isspace():
            j += 1
        out.extend(_expand(text[i:j]))
        i = j
    return out


def _expand(tok: str) -> list[Value]:
    if tok == "_":
        return [None]
    if tok.startswith("_x"):
        return [None] * int(tok[2:])
    if tok == "stale":
        return [STALE_NAN]
    m = _SEQ.fullmatch(tok)
    if m:
        a = go_number(m.group("a"))
        step = 0.0 if m.group("op") is None else go_number(m.group("b")) * (
            1 if m.group("op") == "+" else -1)
        vals: list[Value] = []
        for _ in range(int(m.group("n")) + 1):
            vals.append(a)
            a += step
        return vals
    return [go_number(tok)]


def parse_series(line: str) -> tuple[dict[str, str], str]:
    """``name{l="v", …} values`` → (labels with ``__name__``, the values text)."""
    line = line.strip()
    labels: dict[str, str] = {}
    m = re.match(r"[A-Za-z_:][\w:]*", line)
    i = 0
    if m:
        labels["__name__"] = m.group(0)
        i = m.end()
    if i < len(line) and line[i] == "{":
        i += 1
        while True:
            while line[i] in " ,":
                i += 1
            if line[i] == "}":
                i += 1
                break
            if line[i] in "\"'`":
                name, i = _string(line, i)
            else:
                mm = re.compile(r"[A-Za-z_][\w]*").match(line, i)
                assert mm, line
                name, i = mm.group(0), mm.end()
            while line[i] == " ":
                i += 1
            if line[i] != "=":  # a quoted metric name inside the braces
                labels["__name__"] = name
                continue
            i += 1
            while line[i] == " ":
                i += 1
            value, i = _string(line, i)
            labels[name] = value
    return labels, line[i:]


def _string(line: str, i: int) -> tuple[str, int]:
    quote = line[i]
    j = i + 1
    out = []
    while line[j] != quote:
        if line[j] == "\\" and quote != "`":
            nxt = line[j + 1]
            out.append({"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}.get(nxt, nxt))
            j += 2
            continue
        out.append(line[j])
        j += 1
    return "".join(out), j + 1


def _ms(text: str) -> int:
    return int(parse_duration(text, name="time", allow_zero=True,
                              allow_negative=True).total_seconds() * 1000)


# -- the test files -------------------------------------------------------------------------

@dataclass
class Load:
    gap_ms: int
    nhcb: bool
    series: list[tuple[dict[str, str], list[Value]]]


@dataclass
class Case:
    file: str
    line: int
    segment: int
    expr: str
    instant: bool
    start_ms: int
    end_ms: int
    step_ms: int
    expect_fail: bool
    expects: list[str]
    expected: list[tuple[dict[str, str], list[Value]]]

    @property
    def name(self) -> str:
        return f"{self.file}:{self.line}"


def parse_file(path: Path, first_segment: int) -> tuple[dict[int, list[Load]], list[Case], int]:
    lines = path.read_text().splitlines()
    loads: dict[int, list[Load]] = {}
    cases: list[Case] = []
    seg = first_segment
    i = 0
    ev_instant = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+instant\s+(?:at\s+(\S+)\s+)"
                            r"?(.+)$")
    ev_range = re.compile(r"^eval(?:_(fail|warn|ordered|info))?\s+range\s+from\s+(\S+)\s+to\s+"
                          r"(\S+)\s+step\s+(\S+)\s+(.+)$")
    while i < len(lines):
        raw = lines[i]
        s = raw.strip()
        if not s or s.startswith("#"):
            i += 1
            continue
        body: list[tuple[int, str]] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() and (lines[j][:1].isspace()
                                                       or lines[j].startswith(("{", "expect"))):
            if not lines[j].strip().startswith("#"):
                body.append((j + 1, lines[j].strip()))
            j += 1
        if s == "clear":
            seg += 1
        elif s.startswith("load"):
            m = re.match(r"load(_with_nhcb)?\s+(\S+)", s)
            assert m, s
            loads.setdefault(seg, []).append(Load(
                _ms(m.group(2)), bool(m.group(1)),
                [(lab, parse_values(rest)) for lab, rest in (parse_series(b) for _, b in body)]))
        elif s.startswith("eval"):
            mi, mr = ev_instant.match(s), ev_range.match(s)
            kind = (mi or mr).group(1) if (mi or mr) else None  # type: ignore[union-attr]
            expects = [b for _, b in body if b.startswith("expect")]
            expected = [parse_series(b) for _, b in body if not b.startswith("expect")]
            exp_values = [(lab, parse_values(rest)) for lab, rest in expected]
            fail = kind == "fail" or any(e.split()[1:2] == ["fail"] for e in expects)
            if mr:
                cases.append(Case(path.name, i + 1, seg, mr.group(5), False, _ms(mr.group(2)),
                                  _ms(mr.group(3)), _ms(mr.group(4)), fail, expects,
                                  exp_values))
            elif mi:
                at = _ms(mi.group(2) or "0")
                cases.append(Case(path.name, i + 1, seg, mi.group(3), True, at, at, 0, fail,
                                  expects, exp_values))
        i = j
    return loads, cases, seg + 1


# -- loading into a real Prometheus 3 ------------------------------------------------------

def _nhcb(series: list[tuple[dict[str, str], list[Value]]], gap: int
          ) -> list[tuple[dict[str, str], list[tuple[int, Hist]]]]:
    """``load_with_nhcb``: classic series also as native histograms with custom buckets
    (``util/convertnhcb``: cumulative counts → bucket counts, +Inf added, sum from _sum)."""
    groups: dict[tuple[tuple[str, str], ...], dict[int, dict[str, Any]]] = {}
    for labels, values in series:
        name = labels.get("__name__", "")
        for suffix in ("_bucket", "_count", "_sum"):
            if name.endswith(suffix):
                break
        else:
            continue
        if suffix == "_bucket" and "le" not in labels:
            continue
        base = {k: v for k, v in labels.items() if k != "le"}
        base["__name__"] = name[: -len(suffix)]
        key = tuple(sorted(base.items()))
        if suffix == "_bucket":
            le = go_number(labels["le"]) if labels["le"].lower() not in ("+inf", "inf") \
                else math.inf
            if math.isnan(le):
                continue
        for k, v in enumerate(values):
            if v is None or isinstance(v, Hist) or (isinstance(v, float) and v != v):
                continue
            slot = groups.setdefault(key, {}).setdefault(k * gap, {"buckets": {}})
            if suffix == "_bucket":
                slot["buckets"].setdefault(le, v)
            elif suffix == "_count":
                slot["count"] = v
            else:
                slot["sum"] = v
    out = []
    for key, by_ts in groups.items():
        samples = []
        for ts in sorted(by_ts):
            slot = by_ts[ts]
            bks = sorted(slot["buckets"].items())
            if "count" not in slot and not bks:
                continue
            count = slot.get("count", bks[-1][1] if bks else 0.0)
            if not bks or bks[-1][0] != math.inf:
                bks.append((math.inf, count))
            prev = 0.0
            pos = {}
            for idx, (_, cum) in enumerate(bks):
                pos[idx] = cum - prev
                prev = cum
            samples.append((ts, Hist(schema=-53, count=count, sum=slot.get("sum", 0.0),
                                     pos=pos, custom_values=tuple(b for b, _ in bks[:-1]))))
        out.append((dict(key), samples))
    return out


def load_all(url: str, loads: dict[int, list[Load]]) -> int:
    from tributary_analysis.demo import remote_write as rw

    series: list[rw.TimeSeries] = []
    for seg, blocks in sorted(loads.items()):
        base = seg * SEGMENT_MS
        for block in blocks:
            for labels, values in block.series:
                floats = [(base + k * block.gap_ms, v) for k, v in enumerate(values)
                          if isinstance(v, float)]
                hists = [v.remote(base + k * block.gap_ms) for k, v in enumerate(values)
                         if isinstance(v, Hist)]
                series.append(rw.TimeSeries(labels, samples=floats, histograms=hists))
            if block.nhcb:
                for labels, samples in _nhcb(block.series, block.gap_ms):
                    series.append(rw.TimeSeries(labels, histograms=[
                        h.remote(base + ts) for ts, h in samples]))
    report = rw.write(url, series, max_samples_per_request=5000)
    return report.samples + report.histograms


# -- running one case -----------------------------------------------------------------------

def _split_args(text: str) -> list[str]:
    args, depth, cur, quote = [], 0, [], ""
    for ch in text:
        if quote:
            cur.append(ch)
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'`":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    args.append("".join(cur).strip())
    return args


def _call(expr: str) -> tuple[str, list[str]] | None:
    m = re.match(r"\s*(histogram_quantiles?|histogram_fraction)\s*\(", expr)
    if not m:
        return None
    depth = 0
    for pos in range(m.end() - 1, len(expr)):
        if expr[pos] == "(":
            depth += 1
        elif expr[pos] == ")":
            depth -= 1
            if depth == 0:
                if expr[pos + 1:].strip():
                    return None  # more after the call (`… * histogram_count(…)`)
                return m.group(1), _split_args(expr[m.end():pos])
    return None


def _literal(text: str) -> float | None:
    try:
        return go_number(text)
    except ValueError:
        return None


@dataclass
class Plan:
    func: str
    inner: str
    numbers: list[float]
    label: str = ""


def plan_of(case: Case) -> Plan | None:
    """How a case is expressed client-side, or None (not one of the functions on literals)."""
    call = _call(case.expr)
    if call is None:
        return None
    func, args = call
    if func == "histogram_quantile" and len(args) == 2:
        q = _literal(args[0])
        return None if q is None else Plan(func, args[1], [q])
    if func == "histogram_fraction" and len(args) == 3:
        lo, hi = _literal(args[0]), _literal(args[1])
        return None if lo is None or hi is None else Plan(func, args[2], [lo, hi])
    if func == "histogram_quantiles" and len(args) >= 3:
        qs = [_literal(a) for a in args[2:]]
        label = args[1].strip().strip("\"'`")
        if any(q is None for q in qs):
            return None
        return Plan(func, args[0], [q for q in qs if q is not None], label)
    return None


def _rows(df: pd.DataFrame) -> dict[frozenset[tuple[str, str]], dict[int, float]]:
    labels = [c for c in df.columns if c not in ("timestamp", "value", "lower", "upper")]
    out: dict[frozenset[tuple[str, str]], dict[int, float]] = {}
    for rec in df.to_dict("records"):
        key = frozenset((c, str(rec[c])) for c in labels if not pd.isna(rec[c]))
        ts = int(pd.Timestamp(rec["timestamp"]).value // 1_000_000)
        out.setdefault(key, {})[ts] = float(rec["value"])
    return out


def _equal(a: float, b: float) -> bool:
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    abs_sum = abs(a) + abs(b)
    if a == 0 or b == 0 or abs_sum < 2.2250738585072014e-308:
        return abs(a - b) < EPSILON * 2.2250738585072014e-308
    return abs(a - b) / min(abs_sum, 1.7976931348623157e308) < EPSILON


#: cases the JSON of the API cannot carry: the answer names each non-empty bucket but not
#: the schema, and a custom-bucket (NHCB) histogram whose only non-empty buckets are
#: (1, 2] and (2, 4] looks exactly like an exponential one of schema 0; its quantile is
#: then interpolated exponentially. Each of these passes once the schema is given
#: (test_known_cases_pass_with_the_schema_given).
KNOWN = {
    "native_histograms.test:1766": "NHCB with power-of-two bounds reads as schema 0",
    "native_histograms.test:1774": "NHCB with power-of-two bounds reads as schema 0",
}


def _annotations(case: Case, parts: list[pd.DataFrame]) -> tuple[bool, bool]:
    """Whether the client's warnings / infos agree with the case's expect lines."""
    warns = any(meta_of(p).warnings for p in parts)
    infos = any(meta_of(p).infos for p in parts)
    kinds = {e.split()[1] for e in case.expects if len(e.split()) > 1}
    ok_w = ("warn" not in kinds or warns) and ("no_warn" not in kinds or not warns)
    ok_i = ("info" not in kinds or infos) and ("no_info" not in kinds or not infos)
    return ok_w, ok_i


def run_case(src: PrometheusSource, case: Case, plan: Plan, *, custom: bool = False
             ) -> tuple[bool, str]:
    base = case.segment * SEGMENT_MS
    ts = lambda ms: pd.Timestamp(base + ms, unit="ms", tz="UTC")  # noqa: E731
    try:
        if case.instant:
            frame = src.query(plan.inner, time=ts(case.start_ms))
        else:
            frame = src.query_range(plan.inner, ts(case.start_ms), ts(case.end_ms),
                                    pd.Timedelta(milliseconds=case.step_ms), align=False)
    except SourceError as exc:
        return case.expect_fail, "" if case.expect_fail else f"inner refused by the server: {exc}"
    if custom and "schema" in frame.columns:
        frame.loc[frame["buckets"].notna(), "schema"] = -53
    try:
        if plan.func == "histogram_fraction":
            parts = [histogram_fraction(plan.numbers[0], plan.numbers[1], frame)]
        elif plan.func == "histogram_quantiles":
            parts = [histogram_quantiles(frame, plan.label, plan.numbers)]
        else:
            parts = [histogram_quantile(plan.numbers[0], frame)]
    except DataError as exc:
        return case.expect_fail, "" if case.expect_fail else f"client refused: {exc}"
    if case.expect_fail:
        return False, "expected a failure, got a result"
    got: dict[frozenset[tuple[str, str]], dict[int, float]] = {}
    for part in parts:
        for key, vals in _rows(part).items():
            got.setdefault(key, {}).update(vals)
    steps = ([case.start_ms] if case.instant else
             list(range(case.start_ms, case.end_ms + 1, case.step_ms)))
    want: dict[frozenset[tuple[str, str]], dict[int, float]] = {}
    for labels, values in case.expected:
        key = frozenset((k, v) for k, v in labels.items() if k != "__name__")
        for k, v in enumerate(values):
            if isinstance(v, Hist):
                return False, "expects a histogram result"
            if v is not None and k < len(steps):
                want.setdefault(key, {})[base + steps[k]] = v
    got = {k: v for k, v in got.items() if v}
    if set(got) != set(want):
        return False, f"series differ: got {sorted(map(sorted, got))}, want " \
                      f"{sorted(map(sorted, want))}"
    for key, vals in want.items():
        if set(vals) != set(got[key]):
            return False, f"timestamps differ for {sorted(key)}"
        for t, v in vals.items():
            if not _equal(v, got[key][t]):
                return False, f"{sorted(key)} at {t}: got {got[key][t]!r}, want {v!r}"
    ok_w, ok_i = _annotations(case, parts)
    if not ok_w:
        return True, "annotation: warn"
    if not ok_i:
        return True, "annotation: info"
    return True, ""


# -- the test -------------------------------------------------------------------------------

@dataclass
class Outcome:
    total: int = 0
    expressed: int = 0
    passed: int = 0
    failures: dict[str, str] = field(default_factory=dict)
    per_file: dict[str, tuple[int, int, int]] = field(default_factory=dict)
    annotation_mismatch: dict[str, str] = field(default_factory=dict)
    with_schema: dict[str, bool] = field(default_factory=dict)


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outcome]:
    data = promqltest_dir()
    missing = [f for f in FILES if not (data / f).is_file()]
    if missing:
        msg = (f"{missing} not found under {data}: the Prometheus {VERSION} module could not "
               "be downloaded (go mod download needs the Go module proxy)")
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    loads: dict[int, list[Load]] = {}
    cases: list[Case] = []
    seg = 0
    for name in FILES:
        file_loads, file_cases, seg = parse_file(data / name, seg)
        loads.update(file_loads)
        cases.extend(file_cases)
    prom: LocalPrometheus = start_prometheus(
        tmp_path_factory.mktemp("promqltest"), version="3", self_scrape=False,
        remote_write=True, out_of_order_window="36500d")
    try:
        written = load_all(prom.url, loads)
        assert written > 1000
        src = PrometheusSource(prom.url, max_samples=None, max_requests=None)
        out = Outcome(total=len(cases))
        for name in FILES:
            mine = [c for c in cases if c.file == name]
            expressed = passed = 0
            for case in mine:
                plan = plan_of(case)
                if plan is None:
                    continue
                expressed += 1
                ok, why = run_case(src, case, plan)
                passed += ok
                if not ok:
                    out.failures[case.name] = f"{case.expr}: {why}"
                elif why:
                    out.annotation_mismatch[case.name] = f"{case.expr}: {why}"
                if case.name in KNOWN:
                    out.with_schema[case.name] = run_case(src, case, plan, custom=True)[0]
            out.per_file[name] = (len(mine), expressed, passed)
            out.expressed += expressed
            out.passed += passed
        report = [f"promqltest cases of Prometheus {VERSION} through the client-side "
                  f"functions: {out.total} evals, {out.expressed} expressed, {out.passed} pass"]
        for name, (n, e, p) in out.per_file.items():
            report.append(f"  {name}: {n} evals, {e} expressed, {p} pass")
        report.append(f"  warn/info expectations met by the client's own annotations: "
                      f"{out.passed - len(out.annotation_mismatch)} of {out.passed}")
        for where, why in out.failures.items():
            report.append(f"  FAIL {where}: {why[:300]}")
        for where, why in out.annotation_mismatch.items():
            report.append(f"  annotation differs {where}: {why[:200]}")
        print("\n".join(report))
        yield out
    finally:
        prom.stop()


def test_the_files_have_the_expected_cases(outcome: Outcome) -> None:
    assert outcome.per_file["histograms.test"][0] == 195
    assert outcome.per_file["native_histograms.test"][0] == 557
    assert outcome.expressed >= 300


def test_every_expressed_case_equals_prometheus(outcome: Outcome) -> None:
    unexpected = {k: v for k, v in outcome.failures.items() if k not in KNOWN}
    assert unexpected == {}, "\n".join(f"{k}: {v}" for k, v in unexpected.items())
    assert set(outcome.failures) == set(KNOWN)  # a known case that passes: update KNOWN
    assert outcome.passed == outcome.expressed - len(KNOWN)


def test_warn_and_info_expectations_are_met_by_the_client(outcome: Outcome) -> None:
    assert outcome.annotation_mismatch == {}


def test_known_cases_pass_with_the_schema_given(outcome: Outcome) -> None:
    assert outcome.with_schema == dict.fromkeys(KNOWN, True)
