"""Safe PromQL: escaping rules, the selector builder and durations (pure; the real-server
proof that hostile tenants select exactly themselves is in test_prometheus_source.py)."""

from __future__ import annotations

import re
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from prom_local import PROMTOOL

from tributary_analysis.errors import ConfigError, DataError
from tributary_analysis.ground import time as ground_time
from tributary_analysis.promql import (
    UTF8,
    Matcher,
    escape_label_value,
    escape_regex,
    format_duration,
    selector,
)
from tributary_analysis.promql import catalog as queries


@pytest.mark.parametrize("raw,escaped", [
    ('a"}or vector(1)#', 'a\\"}or vector(1)#'),
    ("\\", "\\\\"),
    ("line\nbreak", "line\\nbreak"),
    ('"}', '\\"}'),
    ("tab\there", "tab\\there"),
    ("bell\x07", "bell\\x07"),
    ("ü-ß", "ü-ß"),
])
def test_escape_label_value(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


def test_regex_escape_matches_only_the_literal() -> None:
    # RE2 and Python's re agree on QuoteMeta-escaped text; Prometheus anchors ^(?:...)$
    for value in [".*", "a|b", "x+", "(g)", "[a]", "{1}", "^$", "a\\b", "?"]:
        pattern = re.compile(f"^(?:{escape_regex(value)})$")
        assert pattern.match(value)
        assert not pattern.match(value + "x") and not pattern.match("zz")
    assert escape_regex("a b-c") == "a b-c"  # RE2 refuses escaped spaces: none added


def test_selector_builder() -> None:
    assert selector("up") == "up"
    assert selector("up", job="x", instance=None) == 'up{job="x"}'
    assert selector("m", tenant_id=[".*", "b"]) == 'm{tenant_id=~"\\\\.\\\\*|b"}'
    assert selector(None, Matcher.ne("job", "a")) == '{job!="a"}'
    with pytest.raises(DataError, match="invalid label name 'bad-name'"):
        selector("m", Matcher.eq("bad-name", "x"))
    assert selector("m", Matcher.eq("bad-name", "x"), dialect=UTF8) == 'm{"bad-name"="x"}'
    with pytest.raises(DataError, match="invalid metric name '1abc'"):
        selector("1abc")
    with pytest.raises(DataError, match="empty value list for label 'tenant_id'"):
        selector("m", tenant_id=[])


def test_hostile_selectors_parse_as_one_selector(tmp_path: Path) -> None:
    """promtool parses each hostile selector as exactly one matcher on tenant_id."""
    hostile = ['a"}or vector(1)#', ".*", "\\", "line\nbreak", '"}', "a\\\"b"]
    rules = ["groups:", "- name: g", "  rules:"]
    for i, t in enumerate(hostile):
        expr = queries.request_rate(tenant=t).replace("'", "''")
        rules += [f"  - record: r{i}", f"    expr: '{expr}'"]
    path = tmp_path / "rules.yml"
    path.write_text("\n".join(rules) + "\n")
    out = subprocess.run([PROMTOOL, "check", "rules", str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"{len(hostile)} rules found" in out.stdout


@pytest.mark.parametrize("value,text", [(5400, "1h30m"), (0.25, "250ms"),
                                        (timedelta(days=8), "1w1d"), ("90s", "1m30s")])
def test_format_duration(value: float | str | timedelta, text: str) -> None:
    # promql re-exports the one implementation (ground.time); it has no parser of its own
    assert format_duration is ground_time.format_duration
    assert not hasattr(__import__("tributary_analysis.promql").promql, "parse_duration")
    assert format_duration(value) == text
    assert ground_time.parse_duration(text) == ground_time.parse_duration(value)


def test_bad_durations_are_refused() -> None:
    with pytest.raises(ConfigError, match="'5 minutes' is not a duration"):
        ground_time.parse_duration("5 minutes")
    with pytest.raises(ConfigError, match="must be longer than zero"):
        format_duration(0)
    with pytest.raises(DataError, match=r"quantile 1\.5 must be between 0 and 1"):
        queries.latency_quantile(1.5)
