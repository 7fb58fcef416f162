"""Figure builders: one template, units in axis titles, untrusted text escaped."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.io as pio
import pytest

from tributary_analysis import viz
from tributary_analysis.analysis import attribution, latency, slo, tenants
from tributary_analysis.errors import DataError

T0 = pd.Timestamp("2026-01-01T00:00:00Z")
HOSTILE = "<img src=x onerror=alert(1)>\"'%{y}"


def _buckets() -> pd.DataFrame:
    rows = []
    for i, ts in enumerate(pd.date_range(T0, periods=6, freq="5min")):
        for ep in ("/a", HOSTILE):
            cum = np.array([10, 40, 60, 90, 95, 99, 100, 100, 100]) * (1 + i)
            les = ["0.01", "0.05", "0.1", "0.5", "1.0", "2.5", "5.0", "10.0", "+Inf"]
            rows += [{"timestamp": ts, "endpoint": ep, "le": le, "value": float(c)}
                     for le, c in zip(les, cum, strict=True)]
    return pd.DataFrame(rows)


def _all_text(fig) -> str:  # type: ignore[no-untyped-def]
    return pio.to_json(fig)


def test_template_is_registered_and_used():
    assert viz.THEME in pio.templates
    fig = viz.quantile_chart(latency.quantiles_over_time(_buckets(), by="endpoint"))
    assert fig.layout.template.layout.font.family.startswith("Inter")
    assert fig.layout.yaxis.title.text == "Latency (log scale)"  # units in each tick label
    assert fig.layout.xaxis.title.text == "Time (UTC)"
    linear = viz.quantile_chart(latency.quantiles_over_time(_buckets(), by="endpoint"),
                                log_y=False)
    assert linear.layout.yaxis.title.text == "Latency (seconds)"


def test_hostile_tenant_and_endpoint_text_is_escaped_everywhere():
    b = _buckets()
    figs = [
        viz.quantile_chart(latency.quantiles_over_time(b, by="endpoint")),
        viz.attainment_chart(latency.slo_attainment(b, 0.5, by="endpoint")),
        viz.line_chart(b.assign(tenant_id=b["endpoint"]), by="tenant_id", title=HOSTILE,
                       y_title="Requests per second"),
    ]
    usage = pd.DataFrame({"requests": [10.0, 5.0]}, index=pd.Index([HOSTILE, "b"],
                                                                   name="tenant_id"))
    figs.append(viz.pareto_chart(tenants.pareto(usage)))
    df = pd.DataFrame({"tenant_id": [HOSTILE] * 50 + ["b"] * 50,
                       "bad": [True] * 30 + [False] * 70})
    figs.append(viz.attribution_chart(attribution.attribute(df, df["bad"].to_numpy(),
                                                            attributes=["tenant_id"])))
    for fig in figs:
        text = _all_text(fig)
        assert "<img" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
        for trace in fig.data:
            assert "%{y}\"" not in str(getattr(trace, "hovertemplate", "") or "")


def test_heatmap_rows_are_buckets_in_order_with_counts():
    heat = latency.heatmap_data(_buckets()[lambda d: d.endpoint == "/a"])
    fig = viz.latency_heatmap(heat)
    assert list(fig.data[0].y)[:2] == ["0–0.01 s", "0.01–0.05 s"]
    assert fig.layout.yaxis.title.text == "Latency bucket (seconds)"
    assert np.nansum(np.asarray(fig.data[0].z, dtype=float)) == heat["count"].sum()


def test_slo_figures_and_bad_input():
    ts = pd.date_range(T0, periods=120, freq="1min")
    c = pd.DataFrame({"timestamp": ts, "errors": [0.0] * 100 + [50.0] * 20, "total": 1000.0})
    rates = slo.burn_rates(c, 0.999)
    fig = viz.burn_rate_chart(rates, slo.SRE_WORKBOOK_WINDOWS)
    assert fig.layout.yaxis.title.text == "Burn rate (× budget pace)"
    assert any("14.4×" in (a.text or "") for a in fig.layout.annotations)
    curve = slo.budget_consumption(c, 0.999, "2h")
    assert viz.budget_chart(curve).layout.yaxis.title.text == "Error budget consumed (%)"
    with pytest.raises(DataError, match="budget curve lacks column"):
        viz.budget_chart(c)


def test_no_plotly_js_in_figures():
    fig = viz.quantile_chart(latency.quantiles_over_time(_buckets(), by="endpoint"))
    assert "plotly.js v" not in pio.to_json(fig)


def test_log_latency_axis_labels_decades_with_units():
    fig = viz.quantile_chart(latency.quantiles_over_time(_buckets(), by="endpoint"))
    y = fig.layout.yaxis
    assert y.type == "log" and y.title.text == "Latency (log scale)"
    text = list(y.ticktext)
    # every label carries a unit; decades 1 ms … 10 s with nothing bare like "5" or "2"
    assert all(t.endswith((" ms", " s", " µs")) for t in text), text
    assert {"10 ms", "100 ms", "1 s", "10 s"} <= set(text)
    for value, label in zip(y.tickvals, text, strict=True):
        if label.endswith(" ms"):
            assert float(label.removesuffix(" ms")) == pytest.approx(value * 1000)
        elif label.endswith(" s"):
            assert float(label.removesuffix(" s")) == pytest.approx(value)
    # the range is whole decades around every plotted value
    lo, hi = y.range
    assert lo == int(lo) and hi == int(hi)
    plotted = np.concatenate([np.asarray(t.y, dtype=float) for t in fig.data])
    plotted = plotted[np.isfinite(plotted) & (plotted > 0)]
    assert 10 ** lo <= plotted.min() and plotted.max() <= 10 ** hi


def test_log_ticks_label_two_and_five_only_over_few_decades():
    from tributary_analysis.viz.axes import log_ticks, times_label

    _, text, minor, span = log_ticks(0.004, 0.3)
    assert span == (-3, 0) and "2 ms" not in text and minor  # 3 decades: 2/5 minor only
    _, text, minor, _ = log_ticks(0.02, 0.8)
    assert text == ["10 ms", "20 ms", "50 ms", "100 ms", "200 ms", "500 ms", "1 s"]
    assert not minor
    _, text, _, _ = log_ticks(0.05, 200, times_label)
    assert text[:2] == ["0.01×", "0.1×"] and text[-1] == "1000×"


def test_burn_rate_log_axis_reads_as_multiples_and_keeps_factors_in_range():
    ts = pd.date_range(T0, periods=120, freq="1min")
    c = pd.DataFrame({"timestamp": ts, "errors": [0.0] * 100 + [50.0] * 20, "total": 1000.0})
    fig = viz.burn_rate_chart(slo.burn_rates(c, 0.999), slo.SRE_WORKBOOK_WINDOWS)
    y = fig.layout.yaxis
    assert y.type == "log" and all(t.endswith("×") for t in y.ticktext)
    assert 10 ** y.range[0] <= 1.0 and 10 ** y.range[1] >= 14.4


def test_quantile_chart_states_its_bin_size():
    q = latency.quantiles_over_time(_buckets(), qs=(0.95,), by="endpoint")
    fig = viz.quantile_chart(q, band_quantile=None, bin_size=pd.Timedelta("15min"))
    assert "15 min bins" in fig.layout.title.text
    assert "15 min" not in viz.quantile_chart(q).layout.title.text


def test_durations_read_humanely():
    from tributary_analysis import notebook as nb
    from tributary_analysis.ground.format import human_duration, human_seconds

    assert human_duration(pd.Timedelta("2min")) == "2 min"
    assert human_duration(pd.Timedelta("1h")) == "1 h"
    assert human_duration(pd.Timedelta("30s")) == "30 s"
    assert human_duration("1h30m") == "1 h 30 min"
    assert human_duration(pd.Timedelta("0 days 00:06:02")) == "6 min 2 s"
    assert human_duration(pd.Timedelta(days=30)) == "30 d"
    assert human_duration(pd.NaT) == "n/a" and human_duration(pd.Timedelta(0)) == "0 s"
    assert human_seconds(0.1) == "100 ms" and human_seconds(0.0005) == "500 µs"
    p = nb.check_parameters(since="24h", now="2026-01-02T00:00:00Z")
    line = p.describe(nb.counts_step(p.window))
    assert line.endswith("· bins of 2 min") and "days" not in line
    assert nb.quantile_step(p.window) == pd.Timedelta("15min")
    week = nb.check_parameters(since="7d", now="2026-01-08T00:00:00Z").window
    assert 100 <= week.duration / nb.quantile_step(week) <= 200
    slo_line = slo.ErrorBudget(objective=0.999, period=pd.Timedelta(days=30), start=T0,
                               end=T0 + pd.Timedelta(days=30), requests=1000.0, errors=0.0,
                               attainment=1.0, budget_requests=1.0, consumed=0.0,
                               remaining=1.0, coverage=1.0, extrapolated=False).summary()
    assert "over 30 d:" in slo_line


def test_tables_show_timedeltas_humanely():
    from tributary_analysis.notebook.setup import _humane_table

    df = pd.DataFrame({"pair": ["1h/5m"], "time_firing": [pd.Timedelta("35min")],
                       "rule_for": pd.Series([pd.Timedelta("15s")], dtype=object),
                       "peak": [1.5]})
    shown = _humane_table(df)
    assert shown["time_firing"].tolist() == ["35 min"] and shown["rule_for"].tolist() == ["15 s"]
    assert shown["peak"].tolist() == [1.5] and df["time_firing"].dtype.kind == "m"
    assert "0 days" not in shown.to_html()
