"""The alert backtest agrees with Prometheus's own rule manager, as ``promtool`` runs it.

For generated input series (flapping values, staleness markers, gaps shorter and longer
than the 5-minute lookback) and rules with ``for:``, ``keep_firing_for:``, an aggregation
and rule labels, we

1. evaluate each expression at every evaluation time with Prometheus's instant-query rules
   (a staleness marker ends the series; the 5m lookback is closed ``[t-5m, t]`` on 2.x and
   left-open ``(t-5m, t]`` on 3.x, so a sample exactly 5m old counts only on 2.x) — the
   frame a real ``query_range`` of that version would return;
2. replay the rule manager with :func:`replay_alert`;
3. write a ``promtool test rules`` file from the same data (input series in expanding
   notation) whose ``alert_rule_test`` expects, at *every* evaluation time and for every
   rule, exactly the alerts our replay says are firing — and run promtool on it.

promtool passing means our firing intervals equal Prometheus's at every evaluation. A copy
with one expectation deliberately changed must fail, so the test can fail. Everything runs
against both promtools: Debian's 2.42 and the project's Go build of 3.16 (``promtool``
fixture), each with its own lookback; the generated data hold samples exactly 5m before an
evaluation with nothing newer, so evaluating with the other version's lookback makes promtool
fail (checked too).

The rule loader reads YAML as Prometheus does (go-yaml v3 into string fields): unquoted
label values such as ``no``, ``on``, ``1.10``, ``0x1F``, ``012`` stay the strings written,
a ``~`` label is dropped, a ``~`` annotation is empty — pinned by ``promtool test rules``
expecting exactly the labels we loaded, and failing on what YAML 1.1 would have made of them.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from prom_local import prometheus3_binary

from tributary_analysis.analysis.alerts import evaluation_times, replay_alert
from tributary_analysis.errors import DataError
from tributary_analysis.promql.rules import load_rules

#: Debian's promtool 2.42 (the system package ``.ci/system-deps.sh`` installs)
PROMTOOL2 = shutil.which("promtool") or "/usr/bin/promtool"

STALE = "stale"
MINUTES = 75  # evaluations at 0m, 1m, ..., 74m
LOOKBACK = 5  # minutes
#: does the lookback include a sample exactly LOOKBACK old? 2.x: closed, 3.x: left-open
LOOKBACK_CLOSED = {"2": True, "3": False}

RULES = {
    "groups": [{
        "name": "backtest-agreement",
        "interval": "1m",
        "rules": [
            {"alert": "Now", "expr": "sig > 0.5"},
            {"alert": "For3", "expr": "sig > 0.5", "for": "3m"},
            {"alert": "ForKeep", "expr": "sig > 0.5", "for": "2m", "keep_firing_for": "3m"},
            {"alert": "LowKeep", "expr": "sig < 0.5", "keep_firing_for": "2m",
             "labels": {"severity": "page", "team": "search"}},
            {"alert": "SumHigh", "expr": "sum(sig) > 1", "for": "1m"},
        ],
    }],
}
# how each expression is evaluated here: (aggregate?, operator, threshold)
EXPRS = {"sig > 0.5": (False, ">", 0.5), "sig < 0.5": (False, "<", 0.5),
         "sum(sig) > 1": (True, ">", 1.0)}


def make_series(seed: int) -> dict[str, list[object]]:
    """Three ``sig`` series: runs of high/low values, some missing samples and stale markers."""
    rng = np.random.default_rng(seed)
    out: dict[str, list[object]] = {}
    for inst in ("a", "b", "c"):
        vals: list[object] = []
        while len(vals) < MINUTES - 5:
            kind = rng.choice(["high", "low", "flap", "gap", "longgap", "stale"],
                              p=[0.3, 0.25, 0.2, 0.1, 0.05, 0.1])
            if kind == "high":
                vals += [float(rng.choice([0.75, 1.0]))] * int(rng.integers(1, 8))
            elif kind == "low":
                vals += [0.25] * int(rng.integers(1, 6))
            elif kind == "flap":
                vals += [1.0, 0.0] * int(rng.integers(1, 4))
            elif kind == "gap":
                vals += [None] * int(rng.integers(1, 4))
            elif kind == "longgap":
                vals += [None] * int(rng.integers(6, 9))
            else:
                vals += [STALE]
        out[f'sig{{instance="{inst}"}}'] = vals[:MINUTES - 5]
    return out


def expanding(values: list[object]) -> str:
    """promtool's expanding notation: ``a+0xN`` for N+1 equal values, ``_xN`` for N gaps."""
    parts: list[str] = []
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and values[j + 1] == values[i] and values[i] != STALE:
            j += 1
        n, v = j - i + 1, values[i]
        if v is None:
            parts.append("_" if n == 1 else f"_x{n}")
        elif v == STALE:
            parts.append("stale")
        else:
            parts.append(repr(v) if n == 1 else f"{v!r}+0x{n - 1}")
        i = j + 1
    return " ".join(parts)


@dataclass(frozen=True)
class Promtool:
    """One promtool and the lookback semantics of its Prometheus version."""

    version: str
    path: str


@pytest.fixture(scope="module", params=["2", "3"], ids=["promtool2", "promtool3"])
def promtool(request: pytest.FixtureRequest) -> Promtool:
    """Debian's promtool 2.42, then the Go build of promtool 3.16 (built if not cached)."""
    path = PROMTOOL2 if request.param == "2" else prometheus3_binary("promtool")
    assert Path(path).exists(), f"promtool {request.param} not found at {path}"
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=True)
    assert f"version {request.param}." in out.stdout, out.stdout
    return Promtool(request.param, path)


def instant_value(values: list[object], minute: int, version: str) -> float | None:
    """The value an instant selector sees at ``minute``: lookback and staleness applied."""
    oldest = minute - LOOKBACK if LOOKBACK_CLOSED[version] else minute - LOOKBACK + 1
    for k in range(min(minute, len(values) - 1), oldest - 1, -1):
        if k < 0:
            break
        v = values[k]
        if v is None:
            continue
        return None if v == STALE else float(v)  # type: ignore[arg-type]
    return None


def evaluate(expr: str, series: dict[str, list[object]],
             times: pd.DatetimeIndex, version: str) -> pd.DataFrame:
    """What ``query_range(expr)`` returns on ``times`` for the supported expression shapes,
    on a server of ``version``."""
    aggregate, op, thr = EXPRS[expr]
    cmp = {">": lambda x: x > thr, "<": lambda x: x < thr}[op]
    rows: list[dict[str, object]] = []
    for m, t in enumerate(times):
        seen = {name: instant_value(vals, m, version) for name, vals in series.items()}
        present = {k: v for k, v in seen.items() if v is not None}
        if aggregate:
            if present and cmp(sum(present.values())):
                rows.append({"timestamp": t, "value": sum(present.values())})
        else:
            for name, v in present.items():
                if cmp(v):
                    rows.append({"timestamp": t, "value": v,
                                 "instance": name.split('"')[1]})
    df = pd.DataFrame(rows, columns=["timestamp", "value"] + ([] if aggregate else ["instance"]))
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df


def expected_alerts(seed: int, rules_path: Path, version: str
                    ) -> tuple[dict[str, list[object]], list[dict]]:
    """Replay every rule on ``version``'s evaluation and turn the firing sets into promtool
    ``alert_rule_test`` entries."""
    series = make_series(seed)
    rules = load_rules(rules_path)
    times = evaluation_times(pd.Timestamp(0, tz="UTC"),
                             pd.Timestamp(0, tz="UTC") + pd.Timedelta(minutes=MINUTES - 1), "1m")
    tests: list[dict] = []
    for rule in rules.alerts:
        bt = replay_alert(evaluate(rule.expr, series, times, version), times, for_=rule.for_,
                          keep_firing_for=rule.keep_firing_for, name=rule.name,
                          rule_labels=rule.labels)
        assert not bt.notes, bt.notes
        meta = {"series", "pending_at", "start", "end", "ongoing", "duration", "alertname"}
        for m, t in enumerate(times):
            firing = bt.firing_at(t)
            exp = []
            for _, row in firing.iterrows():
                labels = {c: str(row[c]) for c in firing.columns if c not in meta
                          and row[c] is not None and not (isinstance(row[c], float)
                                                          and math.isnan(row[c]))}
                exp.append({"exp_labels": labels})
            tests.append({"eval_time": f"{m}m", "alertname": rule.name, "exp_alerts": exp})
    return series, tests


def write_test_file(tmp: Path, series: dict[str, list[object]], tests: list[dict]) -> Path:
    doc = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{
            "interval": "1m",
            "input_series": [{"series": name, "values": expanding(vals)}
                             for name, vals in series.items()],
            "alert_rule_test": tests,
        }],
    }
    path = tmp / "rules_test.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_promtool(path: Path, promtool: str = PROMTOOL2) -> subprocess.CompletedProcess[str]:
    return subprocess.run([promtool, "test", "rules", path.name], cwd=path.parent,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture()
def rules_file(tmp_path: Path, promtool: Promtool) -> Path:
    p = tmp_path / "rules.yml"
    p.write_text(yaml.safe_dump(RULES, sort_keys=False))
    check = subprocess.run([promtool.path, "check", "rules", str(p)], capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    return p


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_replay_matches_promtool_at_every_evaluation(tmp_path: Path, rules_file: Path,
                                                      promtool: Promtool, seed: int) -> None:
    series, tests = expected_alerts(seed, rules_file, promtool.version)
    firing = sum(len(t["exp_alerts"]) for t in tests)
    # the generated data must exercise the interesting cases, or the test proves little
    assert firing > 50
    assert any(t["exp_alerts"] and t["alertname"] == "ForKeep" for t in tests)
    assert any(t["exp_alerts"] and t["alertname"] == "SumHigh" for t in tests)
    assert any(v == STALE for vals in series.values() for v in vals)
    proc = run_promtool(write_test_file(tmp_path, series, tests), promtool.path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "SUCCESS" in proc.stdout


def test_a_wrong_expectation_makes_promtool_fail(tmp_path: Path, rules_file: Path,
                                                 promtool: Promtool) -> None:
    series, tests = expected_alerts(1, rules_file, promtool.version)
    # drop the alerts of the first evaluation where ForKeep fires: the test must now fail
    victim = next(t for t in tests if t["alertname"] == "ForKeep" and t["exp_alerts"])
    victim["exp_alerts"] = []
    proc = run_promtool(write_test_file(tmp_path, series, tests), promtool.path)
    assert proc.returncode != 0
    assert f"alertname: ForKeep, time: {victim['eval_time']}" in proc.stdout + proc.stderr


def test_the_other_versions_lookback_is_caught(tmp_path: Path, rules_file: Path,
                                               promtool: Promtool) -> None:
    """Expectations evaluated with the other line's lookback disagree with this promtool:
    the closed/left-open switch is what makes each version pass."""
    other = "3" if promtool.version == "2" else "2"
    series, own = expected_alerts(1, rules_file, promtool.version)
    _, wrong = expected_alerts(1, rules_file, other)
    differ = [w for o, w in zip(own, wrong, strict=True) if o != w]
    assert differ  # a sample exactly 5m old decides some evaluation in this data
    proc = run_promtool(write_test_file(tmp_path, series, wrong), promtool.path)
    assert proc.returncode != 0
    assert f"alertname: {differ[0]['alertname']}, time: {differ[0]['eval_time']}" \
        in proc.stdout + proc.stderr


def test_ignoring_keep_firing_for_is_caught(tmp_path: Path, rules_file: Path,
                                            promtool: Promtool) -> None:
    """Expectations from a replay that ignores keep_firing_for disagree with promtool."""
    series, tests = expected_alerts(1, rules_file, promtool.version)
    times = evaluation_times(pd.Timestamp(0, tz="UTC"),
                             pd.Timestamp(0, tz="UTC") + pd.Timedelta(minutes=MINUTES - 1), "1m")
    naive = replay_alert(evaluate("sig > 0.5", series, times, promtool.version), times,
                         for_="2m", name="ForKeep")
    changed = 0
    for t in tests:
        if t["alertname"] != "ForKeep":
            continue
        firing = naive.firing_at(pd.Timestamp(0, tz="UTC") + pd.Timedelta(t["eval_time"]))
        exp = [{"exp_labels": {"instance": str(i)}} for i in firing["instance"]]
        changed += exp != t["exp_alerts"]
        t["exp_alerts"] = exp
    assert changed > 0  # keep_firing_for made a difference somewhere in this data
    proc = run_promtool(write_test_file(tmp_path, series, tests), promtool.path)
    assert proc.returncode != 0
    assert "alertname: ForKeep" in proc.stdout + proc.stderr


def test_keep_firing_for_is_exercised_across_a_gap() -> None:
    """A hand-made case: keep_firing_for bridges a short stop but not a long one."""
    times = evaluation_times("2024-01-01", "2024-01-01 00:20", "1m")
    present = [*range(0, 5), *range(6, 8), *range(12, 14)]  # stops at 5 and 8..11
    r = pd.DataFrame({"timestamp": times[present], "value": 1.0, "instance": "x"})
    bt = replay_alert(r, times, for_="2m", keep_firing_for="3m", name="K")
    got = bt.intervals[["start", "end"]].apply(lambda c: c.dt.strftime("%M")).values.tolist()
    # fires at 2 (for 2m), bridged over 5, stops at 8: kept firing 8, 9, 10, resolved at 11;
    # comes back at 12 as a new pending alert (for 2m → would fire at 14, but gone at 14)
    assert got == [["02", "11"]]


# ------------------------------------------------------------------ YAML as Prometheus reads it

#: unquoted values YAML 1.1 would turn into booleans and numbers (and a null, and an empty)
TYPED_LABELS = ("      a: no\n      b: on\n      c: 1.10\n      d: 0x1F\n      e: 012\n"
                "      g: true\n      h: 1e3\n      i: 2026-01-31\n      f: ~\n      j:\n")
TYPED_RULES = ("groups:\n- name: typed\n  interval: 1m\n  rules:\n  - alert: Typed\n"
               "    expr: vector(1)\n    labels:\n" + TYPED_LABELS
               + "    annotations:\n      s: ~\n      t: 1.10\n      u: yes\n")


def _typed_test(labels: dict[str, str], annotations: dict[str, str]) -> str:
    return yaml.safe_dump({
        "rule_files": ["rules.yml"], "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": [], "alert_rule_test": [{
            "eval_time": "1m", "alertname": "Typed",
            "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}]}]}]})


def test_label_values_stay_the_strings_written_as_promtool_keeps_them(
        tmp_path: Path, promtool: Promtool) -> None:
    (tmp_path / "rules.yml").write_text(TYPED_RULES)
    check = subprocess.run([promtool.path, "check", "rules", "rules.yml"], cwd=tmp_path,
                           capture_output=True, text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    rule = load_rules(tmp_path / "rules.yml").rule("Typed")
    # a null label (f: ~, j:) does not exist; a null annotation is the empty string
    assert dict(rule.labels) == {"a": "no", "b": "on", "c": "1.10", "d": "0x1F", "e": "012",
                                 "g": "true", "h": "1e3", "i": "2026-01-31"}
    assert dict(rule.annotations) == {"s": "", "t": "1.10", "u": "yes"}
    # promtool's own rule manager agrees with what we loaded, label for label
    test = tmp_path / "t.yml"
    test.write_text(_typed_test(dict(rule.labels), dict(rule.annotations)))
    proc = run_promtool(test, promtool.path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # ... and refuses what YAML 1.1 would have made of them (the old loader's reading)
    old = {k: str(v) for k, v in yaml.safe_load(TYPED_RULES)["groups"][0]["rules"][0]
           ["labels"].items() if v is not None}
    assert old["a"] == "False" and old["c"] == "1.1" and old["d"] == "31" and old["e"] == "10"
    test.write_text(_typed_test(old, dict(rule.annotations)))
    proc = run_promtool(test, promtool.path)
    assert proc.returncode != 0 and "alertname: Typed" in proc.stdout + proc.stderr


@pytest.mark.parametrize(("body", "match"), [
    ("    expr: up\n    labels:\n      a: x\n      a: y\n", "mapping key 'a' already defined"),
    ("    expr: up\n    for: 1.5h\n", r"for: '1\.5h' is not a Prometheus duration"),
    ("    expr: up\n    for: 30m1h\n", "largest first"),
    ("    expr: up\n    for: 300\n", r"for: '300' is not a Prometheus duration"),
])
def test_what_promtool_refuses_the_loader_refuses(tmp_path: Path, promtool: Promtool, body: str,
                                                  match: str) -> None:
    p = tmp_path / "bad.yml"
    p.write_text("groups:\n- name: g\n  rules:\n  - alert: A\n" + body)
    check = subprocess.run([promtool.path, "check", "rules", str(p)], capture_output=True,
                           text=True, check=False)
    assert check.returncode != 0, check.stdout
    with pytest.raises(DataError, match=match):
        load_rules(p)


def test_numbers_where_prometheus_takes_numbers(tmp_path: Path, promtool: Promtool) -> None:
    p = tmp_path / "ok.yml"
    p.write_text("groups:\n- name: g\n  limit: 0x1F\n  interval: 1m30s\n  rules:\n"
                 "  - alert: 012\n    expr: 1.10\n    for: 0\n")
    check = subprocess.run([promtool.path, "check", "rules", str(p)], capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    rf = load_rules(p)
    group, rule = rf.groups[0], rf.rules[0]
    assert (group.limit, group.interval) == (31, pd.Timedelta(seconds=90))
    assert (rule.name, rule.expr, rule.for_) == ("012", "1.10", pd.Timedelta(0))
