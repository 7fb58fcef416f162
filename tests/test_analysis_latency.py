"""Latency analyses on constructed histograms with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tributary_analysis.analysis import latency
from tributary_analysis.errors import ConfigError, DataError
from tributary_analysis.ground.time import Window
from tributary_analysis.seed import FAMILIES_BY_NAME

BOUNDS = FAMILIES_BY_NAME["http_request_duration_seconds"].buckets
LE = FAMILIES_BY_NAME["http_request_duration_seconds"].le_values
T0 = pd.Timestamp("2026-01-01T00:00:00Z")
DEPLOY = T0 + pd.Timedelta(hours=2)


def bucket_frame(seed: int = 1, slow_factor: float = 3.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """4 h of 5-minute bucket increases for /a and /b; /a gets ``slow_factor`` slower at
    DEPLOY. Also returns the raw durations (the 'logs')."""
    rng = np.random.default_rng(seed)
    rows, raw = [], []
    for ts in pd.date_range(T0, periods=48, freq="5min"):
        for ep in ("/a", "/b"):
            d = rng.lognormal(np.log(0.08), 0.6, size=300)
            if ep == "/a" and ts >= DEPLOY:
                d = d * slow_factor
            raw.append(pd.DataFrame({"timestamp": ts, "endpoint": ep, "duration_s": d}))
            cum = [(d <= b).sum() for b in BOUNDS] + [len(d)]
            rows += [{"timestamp": ts, "endpoint": ep, "le": le, "value": float(c)}
                     for le, c in zip(LE, cum, strict=True)]
    return pd.DataFrame(rows), pd.concat(raw, ignore_index=True)


def test_quantiles_have_bounds_containing_the_true_value():
    buckets, raw = bucket_frame()
    q = latency.quantiles_over_time(buckets, (0.5, 0.95), by="endpoint")
    assert set(q.columns) >= {"timestamp", "endpoint", "quantile", "value", "lower", "upper"}
    first = raw[(raw.timestamp == T0) & (raw.endpoint == "/b")]["duration_s"]
    row = q[(q.timestamp == T0) & (q.endpoint == "/b") & (q["quantile"] == 0.95)].iloc[0]
    true = float(np.quantile(first, 0.95))
    assert row["lower"] <= true <= row["upper"]
    assert row["lower"] <= row["value"] <= row["upper"]


def test_heatmap_counts_sum_to_requests_and_bucket_labels_are_readable():
    buckets, _ = bucket_frame()
    h = latency.heatmap_data(buckets)
    per_ts = h.groupby("timestamp")["count"].sum()
    assert (per_ts == 600).all()  # 300 requests × 2 endpoints, de-cumulated exactly
    assert "0.05–0.1 s" in set(h["bucket"]) and "> 10 s" in set(h["bucket"])


def test_slo_attainment_exact_on_a_bucket_bound():
    buckets, raw = bucket_frame()
    att = latency.slo_attainment(buckets, 0.5, by="endpoint").set_index("endpoint")
    for ep in ("/a", "/b"):
        truth = float((raw[raw.endpoint == ep]["duration_s"] <= 0.5).mean())
        assert att.loc[ep, "attainment"] == pytest.approx(truth)
    assert att["exact"].all()
    off = latency.slo_attainment(buckets, 0.3, by="endpoint")
    assert not off["exact"].any()


def test_compare_windows_flags_only_the_slowed_endpoint():
    buckets, raw = bucket_frame()
    before = Window(T0, DEPLOY)
    after = Window(DEPLOY, T0 + pd.Timedelta(hours=4))
    cmp = latency.compare_windows(buckets, before, after, by="endpoint").set_index("endpoint")
    assert cmp.loc["/a", "regression"] and not cmp.loc["/b", "regression"]
    assert cmp.loc["/a", "test"] == "chi2-buckets"
    assert cmp.loc["/a", "effect"] > 0.8 and abs(cmp.loc["/b", "effect"] - 0.5) < 0.03
    # 3× slower; coarse buckets (0.1, 0.5, 1) blur the estimate, but it must move up
    assert cmp.loc["/a", "p95_change"] > 0.5
    logs = latency.compare_windows_logs(raw, before, after, by="endpoint").set_index(
        "endpoint")
    assert logs.loc["/a", "regression"] and not logs.loc["/b", "regression"]
    assert logs.loc["/a", "p50_change"] == pytest.approx(2.0, rel=0.15)


def test_slowest_requests_and_bad_input():
    _, raw = bucket_frame()
    top = latency.slowest_requests(raw, n=5)
    assert len(top) == 5 and top["duration_s"].is_monotonic_decreasing
    assert top["duration_s"].iloc[0] == raw["duration_s"].max()
    with pytest.raises(DataError, match="bucket frame lacks column"):
        latency.heatmap_data(raw)
    with pytest.raises(ConfigError, match="threshold"):
        latency.slo_attainment(bucket_frame()[0], -1)
