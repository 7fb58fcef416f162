"""The daily operations analyses: baseline choice, golden signals, top tenants — known
answers on small frames."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tributary_analysis.analysis import daily
from tributary_analysis.ground.time import Window

H = pd.Timedelta("1h")
DAY = Window(pd.Timestamp("2026-01-15", tz="UTC"), pd.Timestamp("2026-01-16", tz="UTC"))


def hours(start: str, end: str) -> pd.DatetimeIndex:
    return pd.date_range(start, end, freq="1h", tz="UTC", inclusive="left")


def test_baseline_previous_week_then_fewer_days_then_partial_then_none() -> None:
    b = daily.choose_baseline(DAY, hours("2026-01-01", "2026-01-16"), H)
    assert (b.kind, b.window.start, b.coverage) == (
        "previous_week", pd.Timestamp("2026-01-08", tz="UTC"), 1.0)
    b = daily.choose_baseline(DAY, hours("2026-01-12", "2026-01-16"), H)
    assert (b.kind, b.window.start) == ("days_earlier", pd.Timestamp("2026-01-12", tz="UTC"))
    assert "3 day(s) earlier" in b.note and "0% covered" in b.note
    b = daily.choose_baseline(DAY, hours("2026-01-14T18:00", "2026-01-16"), H)
    assert b.kind == "partial" and b.window == Window(
        pd.Timestamp("2026-01-14T18:00", tz="UTC"), DAY.start)
    assert "6 h of history" in b.note
    b = daily.choose_baseline(DAY, hours("2026-01-15", "2026-01-16"), H)
    assert (b.kind, b.window) == ("none", None)
    # a gap in last week's data: below 90 % coverage is not accepted
    gappy = hours("2026-01-01", "2026-01-16").delete(range(7 * 24, 7 * 24 + 4))
    assert daily.choose_baseline(DAY, gappy, H).kind == "days_earlier"


def test_signal_values_and_assessment() -> None:
    ts = pd.date_range("2026-01-15", periods=4, freq="1h", tz="UTC")
    req = pd.DataFrame({"timestamp": np.repeat(ts, 2), "status_code": ["200", "503"] * 4,
                        "value": [3590.0, 10.0] * 3 + [7190.0, np.nan]})
    q = pd.DataFrame({"quantile": [0.95, 0.99], "value": [0.3, 0.9]})
    mem = pd.DataFrame({"value": [0.5, 0.8]})
    cur = daily.signal_values(req, q, mem, None, step=H)
    assert cur["requests"] == 3 * 3600 + 7190 and cur["covered_s"] == 4 * 3600
    assert cur["traffic_rps"] == pytest.approx(cur["requests"] / 14400)
    assert cur["peak_rps"] == pytest.approx(7190 / 3600)
    assert cur["error_ratio"] == pytest.approx(30 / cur["requests"])
    assert (cur["p95_s"], cur["p99_s"], cur["memory_peak"]) == (0.3, 0.9, 0.8)
    assert np.isnan(cur["connections_peak"])
    base = {**cur, "p95_s": 0.2, "error_ratio": 0.0, "memory_peak": 0.79}
    t = daily.golden_signals(cur, base).set_index("key")
    assert t.loc["p95_s", "assessment"] == "worse"
    assert t.loc["p95_s", "change"] == pytest.approx(0.5)
    assert t.loc["error_ratio", "assessment"] == "worse"     # from zero errors
    assert t.loc["memory_peak", "assessment"] == "similar"
    assert t.loc["traffic_rps", "assessment"] == "info"
    assert t.loc["connections_peak", "assessment"] == "no baseline"
    lines = daily.headline(t.reset_index(), alerts=2, episodes=1, budget_remaining=-0.1)
    assert "p95 latency (+50%)" in lines[0] and "5xx ratio (baseline was 0)" in lines[0]
    assert "exhausted" in lines[-1]
    assert (daily.golden_signals(cur)["assessment"] == "no baseline").all()


def test_top_tenants_ranks_shares_and_leaves_out_unknown() -> None:
    now = pd.DataFrame({"tenant_id": ["a", "a", "b", "unknown", "<c>"],
                        "status_code": ["200", "500", "200", "200", "200"],
                        "value": [90.0, 10.0, 50.0, 40.0, 10.0]})
    base = pd.DataFrame({"tenant_id": ["a", "b"], "status_code": ["200", "200"],
                         "value": [30.0, 70.0]})
    top = daily.top_tenants(now, base, n=2)
    assert top["tenant_id"].tolist() == ["a", "b"]
    assert top["share"].tolist() == pytest.approx([100 / 200, 50 / 200])
    assert top["error_ratio"].tolist() == pytest.approx([0.1, 0.0])
    assert top["share_change"].tolist() == pytest.approx([0.5 - 0.3, 0.25 - 0.7])
    assert top.attrs["tenants"] == 3 and top.attrs["excluded_requests"] == 40.0


def test_daily_notebook_is_committed_clean_thin_and_without_secrets() -> None:
    from pathlib import Path

    import nbformat

    book = nbformat.read(Path(__file__).resolve().parents[1] / "notebooks"
                         / "daily_operations.ipynb", as_version=4)
    nbformat.validate(book)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    [params] = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    names = [line.split("=")[0].strip() for line in params.source.splitlines()
             if "=" in line and not line.lstrip().startswith("#")]
    assert {"since", "start", "end", "prometheus_url", "summary_path"} <= set(names)
    assert not [n for n in names if any(w in n.lower() for w in
                                        ("token", "password", "secret", "api_key"))]
    defs = sum(line.lstrip().startswith(("def ", "class ")) for c in code
               for line in c.source.splitlines())
    assert defs <= 2  # fetch() and per_second(): the work lives in analysis/daily.py
