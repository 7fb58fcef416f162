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
    assert fig.layout.yaxis.title.text == "Latency (seconds)"
    assert fig.layout.xaxis.title.text == "Time (UTC)"


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
