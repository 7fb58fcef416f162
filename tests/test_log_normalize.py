"""The envelope, flat and ECS shapes all map to the same normalized frame."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pandas as pd
import pytest
from _log_events import ecs_docs, envelope_lines, flat_docs, make_events, write_jsonl

from tributary_analysis.errors import ConfigError
from tributary_analysis.frames.meta import meta_of
from tributary_analysis.sources.logs.files import FileLogs
from tributary_analysis.sources.logs.normalize import (
    DEFAULT_MAPPING,
    FieldMap,
    LogMapping,
    detect_shape,
    normalize_records,
)
from tributary_analysis.sources.logs.schema import LOG_COLUMNS, LOG_SCHEMA, sort_frame

START, END = "2025-03-01T00:00:00Z", "2025-03-02T00:00:00Z"


@pytest.fixture(scope="module")
def events() -> list[dict]:
    return make_events(300, seed=11)


def _records(events: list[dict], shape: str) -> list[dict]:
    if shape == "envelope":
        return [orjson.loads(line) for line in envelope_lines(events)]
    if shape == "flat":
        return flat_docs(events)
    if shape == "ecs":
        return ecs_docs(events)
    return ecs_docs(events, nested=True)


def test_envelope_lines_are_the_seed_format(events: list[dict]) -> None:
    outer = orjson.loads(envelope_lines(events[:1])[0])
    assert set(outer) == {"asctime", "name", "levelname", "message", "pathname", "lineno"}
    inner = orjson.loads(outer["message"])
    assert inner["service"] == "deeplake-api" and "timestamp" in inner


@pytest.mark.parametrize("shape", ["envelope", "flat", "ecs", "ecs-nested"])
def test_detect_shape(events: list[dict], shape: str) -> None:
    rec = _records(events[:1], shape)[0]
    assert detect_shape(rec) == shape.split("-")[0]


def test_all_shapes_give_the_same_frame(events: list[dict]) -> None:
    frames = {s: sort_frame(normalize_records(_records(events, s)))
              for s in ("envelope", "flat", "ecs", "ecs-nested")}
    base = frames["envelope"]
    assert list(base.columns) == list(LOG_COLUMNS)
    assert {c: str(t) for c, t in base.dtypes.items()} == LOG_SCHEMA
    assert len(base) == len(events)
    for shape, df in frames.items():
        pd.testing.assert_frame_equal(df, base, check_exact=False, rtol=1e-9, obj=shape)
    req = base[base["event"] == "HTTP request processed"]
    assert req["status_code"].notna().all() and req["duration_s"].gt(0).all()
    assert req["tenant_id"].notna().all()


def test_mixed_shapes_in_one_stream_are_detected_per_record(events: list[dict]) -> None:
    mixed = [_records([e], ("envelope", "flat", "ecs")[i % 3])[0] for i, e in enumerate(events)]
    pd.testing.assert_frame_equal(sort_frame(normalize_records(mixed)),
                                  sort_frame(normalize_records(_records(events, "flat"))))


@pytest.mark.parametrize("shape", ["envelope", "flat", "ecs", "ecs-nested"])
def test_files_map_every_shape_to_the_same_frame(events: list[dict], shape: str,
                                                 tmp_path: Path) -> None:
    if shape == "envelope":
        lines = envelope_lines(events)
    else:
        lines = [orjson.dumps(r).decode() for r in _records(events, shape)]
    logs = FileLogs(write_jsonl(tmp_path / f"{shape}.jsonl", lines))
    got = sort_frame(logs.search(START, END))
    want = sort_frame(normalize_records(_records(events, "envelope")))
    got.attrs, want.attrs = {}, {}
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-9)
    assert not logs.problems


def test_parquet_of_a_normalized_frame_round_trips(events: list[dict], tmp_path: Path) -> None:
    src = FileLogs(write_jsonl(tmp_path / "e.jsonl", envelope_lines(events)))
    pq = src.to_parquet(tmp_path / "logs.parquet")
    again = FileLogs(pq)
    a, b = sort_frame(src.search(START, END)), sort_frame(again.search(START, END))
    a.attrs, b.attrs = {}, {}
    pd.testing.assert_frame_equal(a, b)


def test_endpoint_normalized_like_the_middleware() -> None:
    df = normalize_records([{"timestamp": "2025-03-01T00:00:00", "path": p, "message": "x"}
                            for p in ("/api/v1/datasets/d1/vectors/v9", "/api/v1/datasets",
                                      "/api/v1/backups/b-1")])
    assert list(df["endpoint"].astype(str)) == [
        "/api/v1/datasets/{id}/vectors/{id}", "/api/v1/datasets", "/api/v1/backups/{id}"]


def test_naive_timestamps_are_utc_and_ecs_duration_is_nanoseconds() -> None:
    df = normalize_records([
        {"@timestamp": "2025-03-01T01:00:00+01:00", "event.duration": 1_500_000_000,
         "log.level": "INFO", "message": "HTTP request processed"},
        {"timestamp": "2025-03-01T00:00:00", "duration": 1.5, "message": "m"},
    ])
    assert (df["timestamp"] == pd.Timestamp("2025-03-01T00:00:00Z")).all()
    assert df["duration_s"].tolist() == [1.5, 1.5]


def test_mapping_is_user_overridable(tmp_path: Path) -> None:
    mapping = LogMapping(flat=dataclasses.replace(FieldMap(), tenant_id=("customer",),
                                                  duration=("took_ms",), duration_scale=1e-3))
    rec = {"timestamp": "2025-03-01T00:00:00", "customer": "acme", "took_ms": 250,
           "status_code": 200, "message": "HTTP request processed"}
    df = normalize_records([rec], mapping=mapping)
    assert df.loc[0, "tenant_id"] == "acme" and df.loc[0, "duration_s"] == 0.25
    files = FileLogs(write_jsonl(tmp_path / "c.jsonl", [orjson.dumps(rec).decode()]),
                     mapping=mapping, shape="flat")
    got = files.search(START, END)
    assert got.loc[0, "tenant_id"] == "acme" and got.loc[0, "duration_s"] == 0.25


def test_bad_mapping_and_shape_are_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"invalid field path.*tenant_id"):
        FieldMap(tenant_id=("x'; DROP TABLE logs; --",))
    with pytest.raises(ConfigError, match=r"unknown log shape 'gelf'"):
        normalize_records([], shape="gelf")
    assert DEFAULT_MAPPING.for_shape("envelope") is DEFAULT_MAPPING.flat


def test_records_with_problems_are_counted_not_dropped_silently() -> None:
    recs = [{"message": "{not json", "levelname": "INFO"},  # envelope whose inner is broken
            {"message": "no time at all"},
            {"timestamp": "2025-03-01T00:00:00", "status_code": "two hundred",
             "duration": [1], "message": "HTTP request processed"}]
    df = normalize_records(recs)
    probs = meta_of(df).details["problems"]
    assert probs["counts"] == {"bad_envelope": 1, "bad_timestamp": 1,
                               "wrong_type:status_code": 1, "wrong_type:duration_s": 1}
    assert probs["dropped"] == 2 and len(df) == 1
    assert pd.isna(df.loc[0, "status_code"]) and pd.isna(df.loc[0, "duration_s"])
    assert {s["where"] for s in probs["samples"]} == {"record 0", "record 1", "record 2"}


@pytest.mark.parametrize("shape", ["flat", "ecs"])
def test_arrow_fast_path_equals_the_checked_path(events: list[dict], shape: str) -> None:
    """Clean Elasticsearch pages take the Arrow path; it must give the checked path's frame."""
    import numpy as np

    from tributary_analysis.sources.logs.elasticsearch.export import extract as _extract
    from tributary_analysis.sources.logs.normalize import Problems, _finish, fast_frame
    from tributary_analysis.sources.logs.schema import concat_frames

    docs = _records(events, shape)
    fmap = DEFAULT_MAPPING.for_shape(shape)
    raw = _extract(docs, fmap)
    fast = fast_frame(raw, fmap.duration_scale, LOG_COLUMNS)
    assert fast is not None
    checked = _finish(raw, np.full(len(docs), fmap.duration_scale), range(len(docs)),
                      Problems(), LOG_COLUMNS)
    got = concat_frames([fast])
    got.attrs, checked.attrs = {}, {}
    pd.testing.assert_frame_equal(got, checked)
    docs[3] = {**docs[3], fmap.status_code[0]: "two hundred"}
    assert fast_frame(_extract(docs, fmap), fmap.duration_scale, LOG_COLUMNS) is None


def test_concat_pages_with_an_all_null_categorical_column() -> None:
    """An export page where a column is all null has empty *object* categories; joining it
    to pages with ``str`` categories failed in CI ("dtype of categories must be the same")."""
    import pandas as pd

    from tributary_analysis.sources.logs.schema import concat_frames

    empty_page = pd.DataFrame({"tenant_id": pd.Categorical(
        [None, None], categories=pd.Index([], dtype=object))})
    page = pd.DataFrame({"tenant_id": pd.Categorical(["t-b", "t-a"])})
    out = concat_frames([empty_page, page])
    assert out["tenant_id"].isna().tolist() == [True, True, False, False]
    assert out["tenant_id"].tolist()[2:] == ["t-b", "t-a"]
    assert list(out["tenant_id"].cat.categories) == ["t-a", "t-b"]
