"""Frame metadata: one typed record that survives analysis and reaches the reader."""

from __future__ import annotations

import pandas as pd

from tributary_analysis.frames.meta import (
    FrameMeta,
    Problem,
    Shards,
    carry,
    merge_meta,
    meta_of,
    reader_notes,
    set_meta,
    update_meta,
)
from tributary_analysis.ground.claims import Insufficient, check_enough, withheld
from tributary_analysis.ground.time import Window


def _frame(**meta: object) -> pd.DataFrame:
    return set_meta(pd.DataFrame({"value": [1.0, 2.0]}), FrameMeta(**meta))  # type: ignore[arg-type]


def test_round_trip_through_json() -> None:
    m = FrameMeta(source="elasticsearch", location="http://127.0.0.1:9200/logs-*",
                  queries=("q",), window=Window.of("2026-01-01", "2026-01-02"),
                  step=pd.Timedelta("5m"), warnings=("w",), infos=("i",), partial=True,
                  problems=(Problem("nul_bytes", 3, ("a.jsonl:7: \\x00",)),),
                  shards=Shards(5, 4, 0, 1), requests=7, notes=("approximate",),
                  details={"took_ms": 12})
    assert FrameMeta.from_json(m.to_json()) == m


def test_meta_survives_pandas_operations() -> None:
    df = _frame(source="prometheus", partial=True)
    assert meta_of(df.copy()).partial
    assert meta_of(df[df["value"] > 1]).partial
    assert meta_of(df.assign(x=1)).partial
    assert meta_of(pd.concat([df, df])).partial


def test_carry_merges_every_input() -> None:
    a = _frame(source="prometheus", queries=("a",), warnings=("wa",), requests=2)
    b = _frame(source="prometheus", queries=("b",), infos=("ib",), partial=True,
               problems=(Problem("bad_timestamp", 2),), requests=3)
    out = carry(pd.DataFrame({"x": [1]}), a, b, step=pd.Timedelta("1m"))
    m = meta_of(out)
    assert (m.queries, m.warnings, m.infos, m.partial, m.requests) == \
        (("a", "b"), ("wa",), ("ib",), True, 5)
    assert m.step == pd.Timedelta("1m") and m.source == "prometheus"
    assert merge_meta(meta_of(a), FrameMeta(source="files")).source == "mixed"
    assert merge_meta() == FrameMeta()


def test_problems_add_up_by_kind() -> None:
    a = FrameMeta(problems=(Problem("crlf", 1, ("a:1",)),))
    b = FrameMeta(problems=(Problem("crlf", 2, ("b:9",)), Problem("nul", 1)))
    m = merge_meta(a, b)
    assert {p.kind: p.count for p in m.problems} == {"crlf": 3, "nul": 1}
    assert m.dropped == 4
    assert Problem("nul_prefix", 2, dropped=False, repaired=True).sentence() == \
        "2 input record(s) kept after repair: nul_prefix"


def test_reader_notes_say_everything_once() -> None:
    df = _frame(source="elasticsearch", queries=("logs",), warnings=("slow",),
                infos=("hint",), partial=True, shards=Shards(3, 2, 0, 1),
                problems=(Problem("malformed_json", 4, ("x.jsonl:3: {",)),))
    notes = reader_notes(df, df, "a plain sentence", [df], None)
    assert notes == [
        "slow", "info: hint",
        "partial response from elasticsearch for logs: some data may be missing",
        "1 of 3 shard(s) failed at elasticsearch: the results miss their documents",
        "4 input record(s) left out: malformed_json (e.g. x.jsonl:3: {)",
        "a plain sentence",
    ]
    assert reader_notes(pd.DataFrame()) == []


def test_update_meta() -> None:
    df = update_meta(_frame(source="files"), notes=("exact",))
    assert meta_of(df).notes == ("exact",) and meta_of(df).source == "files"


def test_insufficient() -> None:
    gap = check_enough("p99 latency", have=5, need=50, unit="requests")
    assert isinstance(gap, Insufficient)
    assert gap.short() == "not enough data (have 5 requests, need 50 requests)"
    assert gap.to_json() == {"what": "p99 latency", "have": "5 requests", "need": "50 requests"}
    assert withheld([1.0, gap, None]) == [gap]
