"""Claims only where the data hold them, and no data as a finding, on the real fixture.

The weekly reports over short windows (6 h, 24 h of the ``small`` profile's day): every
estimate the history cannot carry is listed in ``summary.json``'s ``insufficient`` and shown
as "not enough data (have X, need Y)" — no forecast chart, no growth, no MASE number. A
report for an endpoint with no data is a warning that names the closest known endpoints.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pandas as pd
import pytest

from tributary_analysis.ground.time import parse_window
from tributary_analysis.reports.registry import default_registry
from tributary_analysis.reports.runner import RunRequest, run_reports

pytestmark = [pytest.mark.prometheus, pytest.mark.slow]

WEEKLY = ("capacity", "alert_review", "errors_slo")
TYPO = "/api/v1/datasets/{id}/serch"


@pytest.fixture(scope="module")
def runs(prometheus_stack: Any, tmp_path_factory: pytest.TempPathFactory
         ) -> dict[tuple[str, str], dict[str, Any]]:
    out = tmp_path_factory.mktemp("claims")
    end = pd.Timestamp(prometheus_stack.manifest["end"])
    reg = default_registry()
    mp = pytest.MonkeyPatch()
    mp.setenv("TRIBUTARY_PROMETHEUS_URL", prometheus_stack.url)
    mp.setenv("TRIBUTARY_LOG_FILES", str(prometheus_stack.out_dir / "logs"))
    mp.delenv("TRIBUTARY_REPORT_WEBHOOK_URL", raising=False)
    reqs, keys = [], []
    for since in ("6h", "24h"):
        window = parse_window(since, end=end)
        for name in WEEKLY:
            params = {"step": "1m"} if name == "alert_review" else {}
            reqs.append(RunRequest(reg[name], window, parameters=params))
            keys.append((name, since))
    reqs.append(RunRequest(reg["latency"], parse_window("24h", end=end),
                           parameters={"endpoint": TYPO}))
    keys.append(("latency", "typo"))
    try:
        records = run_reports(reqs, out, jobs=2, timeout=900, notify=False)
    finally:
        mp.undo()
    found = {}
    for key, r in zip(keys, records, strict=True):
        assert r.status in ("ok", "warning"), (key, r.error)
        found[key] = {"record": r, "html": (out / r.html).read_text(),
                      "summary": json.loads((out / r.run_dir / "summary.json").read_text())}
    return found


def _tiles(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-key="([^"]*)">\s*<div class="tr-tile-name">[^<]*</div>\s*'
                           r'<div class="tr-tile-value[^"]*">([^<]*)</div>', html))


@pytest.mark.parametrize("since", ["6h", "24h"])
def test_capacity_withholds_every_forecast_the_history_cannot_carry(
        runs: dict[tuple[str, str], dict[str, Any]], since: str) -> None:
    run = runs[("capacity", since)]
    s, html = run["summary"], run["html"]
    withheld = {g["what"]: g for g in s["insufficient"]}
    # the request rate has a daily cycle: two are needed; 14 d ahead needs 4.7 d of history
    assert withheld["request rate (req/s) forecast"]["need"].startswith("2 d of history")
    assert "4.7 d of history for a 14 d horizon" in withheld["vectors forecast"]["need"]
    assert any(w.startswith("memory used") for w in withheld)
    assert any("per-tenant forecast" in w for w in withheld)
    assert "request rate (req/s) forecast accuracy (MASE)" in withheld
    for g in withheld.values():
        assert g["have"] and g["need"]
    tiles = _tiles(html)
    for key in ("forecast_rate", "forecast_vectors", "mase"):
        assert tiles[key].startswith("not enough data (have "), (key, tiles[key])
    # no forecast drawn, no growth or MASE number anywhere on the page
    assert "history and forecast" not in html and "prediction interval" not in html
    assert "no forecast is drawn" in html
    rows = {r["resource"]: r for r in s["details"]["resources"]}
    assert all(r.get("forecast_mean") is None for r in rows.values())
    assert all(r["mase"] is None for r in s["details"]["mase"])


def test_alert_review_withholds_flapping_under_a_day(
        runs: dict[tuple[str, str], dict[str, Any]]) -> None:
    short, day = runs[("alert_review", "6h")], runs[("alert_review", "24h")]
    assert [g["what"] for g in short["summary"]["insufficient"]] == [
        "flapping (state changes per day)"]
    assert _tiles(short["html"])["flapping"].startswith("not enough data (have 6 h")
    assert "flapping per day" not in short["html"]
    assert day["summary"]["insufficient"] == []
    assert _tiles(day["html"])["flapping"].endswith("/day")


@pytest.mark.parametrize("since", ["6h", "24h"])
def test_errors_slo_says_how_its_budget_is_extrapolated(
        runs: dict[tuple[str, str], dict[str, Any]], since: str) -> None:
    slo = runs[("errors_slo", since)]["summary"]["slo"]
    assert slo["extrapolated"] and "extrapolated from" in slo["definition"]


def test_an_endpoint_without_data_is_a_warning_naming_the_closest(
        runs: dict[tuple[str, str], dict[str, Any]]) -> None:
    run = runs[("latency", "typo")]
    s = run["summary"]
    assert run["record"].status == s["status"] == "warning"
    first = s["findings"][0]
    assert first.startswith(f"No requests for endpoint '{TYPO}'")
    assert "/api/v1/datasets/{id}/search" in first.split("Closest known endpoint values:")[1]
    assert first in run["html"].replace("&#x27;", "'").replace("&#39;", "'")
