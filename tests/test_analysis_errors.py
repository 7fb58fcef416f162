"""Error ratios and episode detection on constructed counts with a planted episode."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tributary_analysis.analysis import errors
from tributary_analysis.errors import DataError
from tributary_analysis.frames.meta import FrameMeta, meta_of, set_meta

T0 = pd.Timestamp("2026-01-01T00:00:00Z")


def metric_frame(seed: int = 0) -> pd.DataFrame:
    """6 h of 1-minute increases by endpoint, status and tenant; /search has 40 % 500s
    from 02:00 to 02:40 for every tenant, and there is a 1-request blip elsewhere."""
    rng = np.random.default_rng(seed)
    rows = []
    for ts in pd.date_range(T0, periods=360, freq="1min"):
        for ep, vol in (("/search", 60), ("/insert", 20)):
            for tenant in ("t-a", "t-b", "t-c"):
                n = int(rng.poisson(vol))
                p = 0.4 if ep == "/search" and T0 + pd.Timedelta("2h") <= ts \
                    < T0 + pd.Timedelta("2h40min") else 0.002
                bad = int(rng.binomial(n, p))
                rows += [{"timestamp": ts, "endpoint": ep, "tenant_id": tenant,
                          "status_code": "200", "value": float(n - bad)},
                         {"timestamp": ts, "endpoint": ep, "tenant_id": tenant,
                          "status_code": "500", "value": float(bad)}]
    df = pd.DataFrame(rows)
    # a lone low-volume blip: 1 of 1 requests failing on an otherwise idle endpoint
    df.loc[len(df)] = {"timestamp": T0 + pd.Timedelta("4h"), "endpoint": "/rare",
                       "tenant_id": "t-a", "status_code": "503", "value": 1.0}
    return set_meta(df, FrameMeta(source="prometheus", warnings=("server said: partial response",)))


def test_request_counts_and_ratio_keep_warnings():
    c = errors.request_counts(metric_frame(), by="endpoint")
    assert {"timestamp", "endpoint", "errors", "total", "ratio"} <= set(c.columns)
    assert "server said: partial response" in meta_of(c).warnings
    r = errors.error_ratio(c, by="endpoint", window="5m")
    peak = r[r.endpoint == "/search"]["ratio"].max()
    assert 0.3 < peak < 0.5


def test_episode_detector_finds_the_planted_episode_and_nothing_else():
    f = metric_frame()
    counts = errors.request_counts(f, by="endpoint")
    tenants = errors.request_counts(f, by=["endpoint", "tenant_id"])
    ep = errors.detect_episodes(counts, by="endpoint", tenants=tenants)
    assert len(ep) == 1, ep
    row = ep.iloc[0]
    assert row["endpoint"] == "/search"
    assert abs(row["start"] - (T0 + pd.Timedelta("2h"))) <= pd.Timedelta("2min")
    assert abs(row["end"] - (T0 + pd.Timedelta("2h40min"))) <= pd.Timedelta("2min")
    assert 0.3 < row["ratio"] < 0.5 and row["peak_ratio"] >= row["ratio"]
    assert sorted(row["tenants"]) == ["t-a", "t-b", "t-c"]


def test_gap_merging_and_minimum_duration():
    ts = pd.date_range(T0, periods=30, freq="1min")
    ratio = np.zeros(30)
    ratio[5:8] = 0.5   # 3 bad minutes
    ratio[10:13] = 0.5  # 2-minute gap, then 3 more
    ratio[20] = 0.5     # a single bad minute: too short
    c = pd.DataFrame({"timestamp": ts, "errors": ratio * 100, "total": 100.0})
    ep = errors.detect_episodes(c, by=None, rules=errors.EpisodeRules(merge_gap="3m",
                                                                       min_duration="3m"))
    assert len(ep) == 1
    assert ep.iloc[0]["start"] == ts[5] and ep.iloc[0]["end"] == ts[13]


def test_quiet_bins_do_not_split_an_episode_but_healthy_ones_do():
    ts = pd.date_range(T0, periods=40, freq="1min")
    errors_, total = np.zeros(40), np.full(40, 100.0)
    errors_[5:10] = 50
    total[10:18] = 5.0    # 8 quiet minutes: too few requests to judge
    errors_[18:23] = 50   # the outage goes on
    errors_[33:36] = 50   # after 10 healthy minutes: a second episode
    c = pd.DataFrame({"timestamp": ts, "errors": errors_, "total": total})
    ep = errors.detect_episodes(c, by=None)
    assert [(r.start, r.end) for r in ep.itertuples()] == [(ts[5], ts[23]), (ts[33], ts[36])]


def test_top_error_messages_and_errors_by_type():
    logs = pd.DataFrame({
        "timestamp": pd.date_range(T0, periods=6, freq="1min"),
        "level": ["ERROR", "ERROR", "ERROR", "INFO", "ERROR", "WARNING"],
        "event": ["Search backend error"] * 3 + ["HTTP request processed", "Bad <b>", "x"],
        "error_type": ["internal"] * 3 + [None, "validation", None],
        "error_code": ["SEARCH_BACKEND_ERROR"] * 3 + [None, "INVALID_REQUEST", None],
        "tenant_id": ["t-a", "t-a", "t-b", "t-a", "t-c", "t-c"],
    })
    top = errors.top_error_messages(logs)
    assert top.iloc[0]["event"] == "Search backend error" and top.iloc[0]["count"] == 3
    assert top.iloc[0]["tenants"] == 2 and top.iloc[0]["top_tenants"].startswith("t-a")
    assert len(top) == 2  # INFO and a plain WARNING without error_type are not errors
    e = pd.DataFrame({"error_type": ["internal", "validation", "internal"],
                      "error_code": ["E1", "E2", "E1"], "value": [5.0, 1.0, np.nan]})
    by = errors.errors_by_type(e)
    assert by.iloc[0].tolist()[:3] == ["internal", "E1", 5.0]
    assert by["share"].sum() == pytest.approx(1.0)


def test_missing_status_column_named():
    with pytest.raises(DataError, match=r"lacks column.*status_code"):
        errors.request_counts(pd.DataFrame({"timestamp": [T0], "value": [1.0]}))
