"""Grafana dashboards, without a server: the model, variable escaping, Grafana's interval
built-ins (cases from Grafana's own pkg/promlib/models/query_test.go), units, the review's
PromQL reading."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from tributary_analysis.dashboards import load_dashboard
from tributary_analysis.dashboards.model import BUILTIN, DATA_DIR, parse_dashboard
from tributary_analysis.dashboards.plan import grafana_interval, plan_panel
from tributary_analysis.dashboards.review import find_sums_of_selectors
from tributary_analysis.dashboards.units import format_value, scale_for
from tributary_analysis.dashboards.variables import (
    Binding,
    interpolate,
    parse_overrides,
    resolve_variables,
)
from tributary_analysis.errors import DataError
from tributary_analysis.ground.time import Window

SEED = Path("/work/shared/seed/monitoring-guide.md")


def _seed_blocks() -> list[str]:
    candidates = [SEED, Path(__file__).resolve().parents[2] / "shared" / "seed" /
                  "monitoring-guide.md"]
    guide = next((p for p in candidates if p.is_file()), None)
    if guide is None:
        pytest.fail("the seed guide (shared/seed/monitoring-guide.md) is not beside the clone")
    text = guide.read_text()
    part = text[text.index("## 📊 Grafana Dashboards"):text.index("## 🔧 Health Checks")]
    return re.findall(r"```json\n(.*?)```", part, re.S)


def test_builtin_dashboards_are_the_seed_guide_verbatim() -> None:
    blocks = _seed_blocks()
    assert len(blocks) == 2
    for name, block in zip(("overview", "business"), blocks, strict=True):
        assert (DATA_DIR / BUILTIN[name]).read_text() == block


def test_overview_model() -> None:
    board = load_dashboard("overview")
    assert board.title == "Tributary AI Service for DeepLake Overview"
    assert [p.title for p in board.panels][:4] == [
        "Request Rate", "Error Rate", "Response Time (95th percentile)", "Active Connections"]
    assert [p.type for p in board.panels] == ["stat"] * 4 + ["timeseries"] * 2 + [
        "heatmap"] + ["timeseries"] * 4
    assert {p.raw_type for p in board.panels} == {"stat", "graph", "heatmap"}
    err = board.panels[1]
    assert err.field_config.defaults.unit == "percent"
    steps = err.field_config.defaults.thresholds.steps
    assert [(s.value, s.color) for s in steps] == [(-math.inf, "green"), (1.0, "yellow"),
                                                   (5.0, "red")]
    assert err.field_config.defaults.thresholds.step_for(3.2).color == "yellow"
    assert board.panels[9].field_config.defaults.unit == "bytes"
    assert board.time_from == "now-1h" and board.refresh == "5s"


def test_business_model_without_grid_keeps_file_order() -> None:
    board = load_dashboard("business")
    assert [p.title for p in board.panels] == [
        "Total Datasets", "Total Vectors", "Datasets by Tenant", "Search Operations by Type",
        "Top Datasets by Usage"]
    assert [p.type for p in board.panels] == ["stat", "stat", "piechart", "timeseries",
                                              "table"]


def test_rows_old_rows_and_unsupported_types() -> None:
    board = parse_dashboard({"title": "t", "panels": [
        {"type": "stat", "title": "top", "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4}},
        {"type": "row", "title": "Latency", "gridPos": {"x": 0, "y": 4, "w": 24, "h": 1}},
        {"type": "text", "title": "notes", "gridPos": {"x": 12, "y": 5, "w": 12, "h": 4}},
        {"type": "timeseries", "title": "p95", "gridPos": {"x": 0, "y": 5, "w": 12, "h": 4}},
        {"type": "row", "title": "Folded", "collapsed": True,
         "gridPos": {"x": 0, "y": 9, "w": 24, "h": 1},
         "panels": [{"type": "logs", "title": "logs"}]},
    ]})
    assert [(s.title, [p.title for p in s.panels]) for s in board.sections] == [
        (None, ["top"]), ("Latency", ["p95", "notes"]), ("Folded", ["logs"])]
    old = parse_dashboard({"title": "old", "rows": [
        {"title": "R1", "showTitle": True, "panels": [
            {"type": "graph", "title": "g", "span": 6, "yaxes": [{"format": "ms"}, {}]}]}]})
    (sec,) = old.sections
    assert sec.title == "R1" and sec.panels[0].type == "timeseries"
    assert sec.panels[0].field_config.defaults.unit == "ms"
    w = Window.of("2026-01-01", "2026-01-02")
    plan = plan_panel(board.sections[1].panels[1], board, {}, w, pd.Timedelta("2min"))
    assert "text panel" in plan.unsupported
    with pytest.raises(DataError, match="no 'panels'"):
        parse_dashboard({"title": "x"})


def test_bad_file_names_the_fix(tmp_path: Path) -> None:
    bad = tmp_path / "d.json"
    bad.write_text("{not json")
    with pytest.raises(DataError, match=r"d.json is not JSON.*Export"):
        load_dashboard(bad)
    with pytest.raises(DataError, match="does not exist"):
        load_dashboard(tmp_path / "missing.json")


# ---------------------------------------------------------------- interpolation

EVIL = '"}or vector(1)#'


@pytest.mark.parametrize(("expr", "want"), [
    ('up{tenant_id="$t"}', 'up{tenant_id="\\"}or vector(1)#"}'),
    ('up{tenant_id!="${t}"}', 'up{tenant_id!="\\"}or vector(1)#"}'),
    ('up{tenant_id="[[t]]"}', 'up{tenant_id="\\"}or vector(1)#"}'),
    ("up{tenant_id='$t'}", "up{tenant_id='\"}or vector(1)#'}"),
])
def test_hostile_value_stays_inside_its_string(expr: str, want: str) -> None:
    from tributary_analysis.promql.rules import metric_names, tokenize

    out = interpolate(expr, {"t": Binding("t", (EVIL,))}, {})
    assert out == want
    assert metric_names(out) == ["up"]  # no second selector, no vector() call
    strings = [t for t in tokenize(out) if t.kind == "string"]
    assert len(strings) == 1


def test_regex_context_escapes_meta_and_joins_multi_values() -> None:
    b = {"t": Binding("t", ("a.b", "c|d", EVIL), multi=True)}
    out = interpolate('up{tenant_id=~"$t"}', b, {})
    assert out == r'up{tenant_id=~"(a\\.b|c\\|d|\"\\}or vector\\(1\\)#)"}'
    # All with the author's custom allValue stays that regex; without it, every option
    all_custom = {"t": Binding("t", ("x", "y"), is_all=True, all_value=".*", include_all=True)}
    assert interpolate('up{t=~"$t"}', all_custom, {}) == 'up{t=~".*"}'
    all_opts = {"t": Binding("t", ("x", "y.z"), is_all=True, include_all=True)}
    assert interpolate('up{t=~"$t"}', all_opts, {}) == 'up{t=~"(x|y\\\\.z)"}'


def test_multi_value_in_equality_matcher_is_flagged() -> None:
    notes: list[str] = []
    out = interpolate('up{t="$t"}', {"t": Binding("t", ("a", "b"), multi=True)}, {},
                      notes=notes)
    assert out == 'up{t="(a|b)"}'  # what Grafana sends: matches nothing
    assert notes and "use =~" in notes[0]


def test_bare_references_accept_only_names_numbers_durations() -> None:
    b = {"w": Binding("w", ("5m",)), "by": Binding("by", ("endpoint",)),
         "k": Binding("k", ("10",)), "bad": Binding("bad", ("5m]) or vector(1",))}
    assert interpolate("topk($k, sum by ($by) (rate(x[$w])))", b, {}) == \
        "topk(10, sum by (endpoint) (rate(x[5m])))"
    with pytest.raises(DataError, match=r"\$bad=.*outside a quoted string"):
        interpolate("rate(x[$bad])", b, {})
    with pytest.raises(DataError, match="does not define"):
        interpolate('up{a="$nope"}', b, {})


def test_formats() -> None:
    b = {"t": Binding("t", ("a", "b"), multi=True)}
    assert interpolate('x{t=~"${t:pipe}"}', b, {}) == 'x{t=~"a|b"}'
    assert interpolate('x{t="${t:csv}"}', b, {}) == 'x{t="a,b"}'
    with pytest.raises(DataError, match="format 'sqlstring'"):
        interpolate('x{t="${t:sqlstring}"}', b, {})


def test_overrides_and_resolution() -> None:
    assert parse_overrides(["t=a", "t=b"]) == {"t": ("a", "b")}
    assert parse_overrides({"t": "a"}) == {"t": ("a",)}
    with pytest.raises(DataError, match="NAME=VALUE"):
        parse_overrides(["oops"])
    board = parse_dashboard({"title": "v", "panels": [], "templating": {"list": [
        {"name": "env", "type": "custom", "query": "prod,staging",
         "current": {"value": "staging"}},
        {"name": "t", "type": "custom", "query": "a,b,c", "multi": True, "includeAll": True,
         "current": {"value": ["$__all"]}},
        {"name": "c", "type": "constant", "query": "deeplake-api"},
    ]}})
    got, notes = resolve_variables(board)
    assert got["env"].values == ("staging",) and got["t"].is_all
    assert got["t"].values == ("a", "b", "c") and got["c"].values == ("deeplake-api",)
    got, notes = resolve_variables(board, {"env": ('"}',)})
    assert got["env"].values == ('"}',) and "not among the dashboard's options" in notes[0]
    with pytest.raises(DataError, match="has no variable 'nope'"):
        resolve_variables(board, {"nope": ("x",)})
    with pytest.raises(DataError, match="takes one value"):
        resolve_variables(board, {"env": ("prod", "staging")})


def test_label_values_query_uses_earlier_variables() -> None:
    board = parse_dashboard({"title": "v", "panels": [], "templating": {"list": [
        {"name": "job", "type": "constant", "query": 'a"b'},
        {"name": "inst", "type": "query", "query": 'label_values(up{job="$job"}, instance)',
         "regex": "/(.*):9090/"},
    ]}})
    calls = []

    def lv(label: str, match: str | None) -> list[str]:
        calls.append((label, match))
        return ["api-1:9090", "api-0:9090", "other"]

    got, _ = resolve_variables(board, label_values=lv)
    assert calls == [("instance", 'up{job="a\\"b"}')]
    assert got["inst"].values == ("api-1",)  # first option, regex capture group


# ---------------------------------------------------------------- interval built-ins


def _builtins(window_h: float, step: str, scrape: str = "15s", **target) -> dict[str, str]:
    board = parse_dashboard({"title": "b", "panels": [{
        "type": "timeseries", "title": "p",
        "targets": [{"expr": "rate(x[$__rate_interval])", "refId": "A", **target}]}]})
    w = Window.of("2026-01-01T00:00:00Z", pd.Timestamp("2026-01-01T00:00:00Z")
                  + pd.Timedelta(hours=window_h))
    plan = plan_panel(board.panels[0], board, {}, w, pd.Timedelta(step),
                      pd.Timedelta(scrape))
    (q,) = plan.queries
    from tributary_analysis.dashboards.plan import builtins_for, rate_interval

    base = max(pd.Timedelta(step), pd.Timedelta(scrape))
    return {"expr": q.expr, "step": str(q.step),
            **builtins_for(w, q.step, rate_interval(base, pd.Timedelta(scrape)))}


def test_grafana_published_interval_cases() -> None:
    # Grafana query_test.go: 48 h, interval 2m, scrape 15s → $__rate_interval 2m15s (135 s)
    b = _builtins(48, "2min")
    assert b["expr"] == "rate(x[2m15s])"
    assert (b["__rate_interval_s"], b["__rate_interval_ms"]) == ("135", "135000")
    # ... $__range 172800s / 172800 / 172800000; $__interval 2m, _ms 120000, _s 120
    assert (b["__range"], b["__range_s"], b["__range_ms"]) == ("172800s", "172800",
                                                               "172800000")
    assert (b["__interval"], b["__interval_ms"], b["__interval_s"]) == ("2m", "120000", "120")
    # min step 5m on a 5-minute range with a 1m interval → $__rate_interval 20m
    assert _builtins(5 / 60, "1min", interval="5m")["expr"] == "rate(x[20m])"
    # interval "$__rate_interval" → step = rate interval = 1m (15s scrape)
    b = _builtins(5 / 60, "15s", interval="$__rate_interval")
    assert b["expr"] == "rate(x[1m])" and b["step"] == "0 days 00:01:00"
    # a 240 s scrape interval floors the step at 4m
    assert _builtins(48, "2min", scrape="240s")["step"] == "0 days 00:04:00"
    # intervalFactor 10 multiplies the step (Grafana: 48 h at 2m → 20m)
    assert _builtins(48, "2min", intervalFactor=10)["step"] == "0 days 00:20:00"
    assert grafana_interval(pd.Timedelta(seconds=90)) == "1m"


# ---------------------------------------------------------------- units, review


@pytest.mark.parametrize(("value", "unit", "decimals", "want"), [
    (0.25, "s", None, "250 ms"), (0.17333, "s", 3, "173 ms"), (90, "s", None, "1.5 min"),
    (3.5 * 2**30, "bytes", None, "3.5 GiB"), (1.5e9, "decbytes", None, "1.5 GB"),
    (0.0119, "percentunit", 2, "1.19 %"), (1.19, "percent", 2, "1.19 %"),
    (14380, "short", None, "14.4 K"), (14380, None, None, "14,380"),
    (3200, "reqps", None, "3.2 K req/s"), (0.5, "reqps", 2, "0.50 req/s"),
    (float("nan"), "s", None, "—"), (-3.5, "none", None, "−3.5"),
])
def test_units(value: float, unit: str | None, decimals: int | None, want: str) -> None:
    assert format_value(value, unit, decimals) == want
    assert "e+" not in want and "nan" not in want.lower()


def test_axis_scale_chooses_one_unit() -> None:
    assert scale_for("bytes", 3.5 * 2**30).suffix == " GiB"
    assert scale_for("ms", 2500).suffix == " s"


def test_review_finds_sums_of_plain_selectors_only() -> None:
    found = find_sums_of_selectors(
        'sum(datasets_total) + sum by (tenant_id) (vectors_total{tenant_id="a"}) '
        "+ sum(rate(x_total[5m])) + sum(max by (tenant_id) (datasets_total))")
    assert [(f.metric, f.grouping, f.selector) for f in found] == [
        ("datasets_total", (), "datasets_total"),
        ("vectors_total", ("tenant_id",), 'vectors_total{tenant_id="a"}')]


def test_seed_dashboards_as_json_stay_parseable() -> None:
    for name in BUILTIN:
        doc = json.loads((DATA_DIR / BUILTIN[name]).read_text())
        assert "dashboard" in doc
