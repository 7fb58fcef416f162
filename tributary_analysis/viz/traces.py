"""Trace figures: one trace's waterfall, the operation profile, trace durations over time,
and links to a trace in Jaeger. Span names, tenant ids and attribute values are untrusted
text: escaped before they become labels, passed as ``customdata`` to hover templates."""

from __future__ import annotations

import html
from urllib.parse import quote

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tributary_analysis.analysis.traces import critical_path, self_time
from tributary_analysis.errors import DataError
from tributary_analysis.ground.format import human_seconds
from tributary_analysis.sources.traces.frames import require_span_columns, span_depth
from tributary_analysis.viz._safe import safe_list, safe_text
from tributary_analysis.viz.theme import BAD, NEUTRAL, PALETTE, THEME

__all__ = ["operation_profile_chart", "trace_duration_chart", "trace_link", "trace_links_html",
           "trace_url", "waterfall"]


def _title(title: str, subtitle: str = "") -> dict[str, str]:
    sub = f"<br><sup>{safe_text(subtitle, 300)}</sup>" if subtitle else ""
    return {"text": safe_text(title, 200) + sub}


def waterfall(spans: pd.DataFrame, *, title: str = "Trace") -> go.Figure:
    """One trace as a waterfall: a bar per span (indented by depth, in start order), its
    time on the critical path drawn solid and the rest pale; failed spans in red."""
    require_span_columns(spans, ["trace_id", "span_id", "parent_span_id", "operation",
                                 "start", "end", "duration_s", "status"])
    if spans["trace_id"].nunique() > 1:
        raise DataError("waterfall() draws one trace; select it with spans[spans.trace_id == "
                        "...] or TraceSource.trace(id)")
    df = spans.reset_index(drop=True)
    depth = span_depth(df)
    t0 = pd.to_datetime(df["start"], utc=True).min()
    off = (pd.to_datetime(df["start"], utc=True) - t0).dt.total_seconds().to_numpy() * 1000
    dur = df["duration_s"].to_numpy(dtype=float) * 1000
    crit = critical_path(df).to_numpy() * 1000
    own = self_time(df).to_numpy() * 1000
    order = np.lexsort((depth, off))
    labels = [("\u2003" * int(depth[i])) + safe_text(df.at[i, "operation"], 50)
              for i in order]
    failed = (df["status"].astype(str) == "error").to_numpy()[order]
    colors = [BAD if f else PALETTE[0] for f in failed]
    custom = np.column_stack([
        safe_list(df["operation"].iloc[order], 120),
        [human_seconds(d / 1000) for d in dur[order]],
        [human_seconds(c / 1000) for c in crit[order]],
        [human_seconds(s / 1000) for s in own[order]],
        ["failed" if f else "ok" for f in failed]])
    y = [f"{k:02d} {lab}" for k, lab in enumerate(labels)]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=y, x=dur[order], base=off[order], orientation="h",
                         marker={"color": colors, "opacity": 0.3}, name="span",
                         customdata=custom,
                         hovertemplate="%{customdata[0]}<br>duration %{customdata[1]} · "
                                       "critical path %{customdata[2]} · self "
                                       "%{customdata[3]} · %{customdata[4]}<extra></extra>"))
    fig.add_trace(go.Bar(y=y, x=np.maximum(crit[order], 0), base=off[order], orientation="h",
                         marker={"color": colors}, name="on the critical path",
                         hoverinfo="skip"))
    total = float(np.nanmax(off + dur)) if len(df) else 0.0
    fig.update_layout(template=THEME, barmode="overlay", showlegend=True,
                      title=_title(title, f"{len(df)} spans · {human_seconds(total / 1000)}; "
                                          "solid: time on the critical path"),
                      height=max(260, 24 * len(df) + 120), hovermode="closest")
    fig.update_yaxes(autorange="reversed", tickfont={"family": "monospace", "size": 11},
                     ticktext=labels, tickvals=y, title_text="")
    fig.update_xaxes(title_text="Milliseconds since the trace began", rangemode="tozero")
    return fig


def operation_profile_chart(profile: pd.DataFrame, *, top: int = 12,
                            title: str = "Where the time goes: share of the critical path"
                            ) -> go.Figure:
    """Horizontal bars: each operation's share of the critical path (and of self time)."""
    if not isinstance(profile, pd.DataFrame):
        raise DataError("operation_profile_chart() needs the DataFrame of operation_profile() "
                        "(it returned 'not enough data' for this selection)")
    head = profile.head(top).iloc[::-1]
    names = safe_list(head["operation"], 50)
    fig = go.Figure()
    fig.add_trace(go.Bar(y=names, x=head["critical_share"] * 100, orientation="h",
                         name="critical path", marker_color=PALETTE[0],
                         customdata=np.column_stack([safe_list(head["operation"], 120),
                                                     head["spans"]]),
                         hovertemplate="%{customdata[0]}: %{x:.1f} % of the waiting "
                                       "(%{customdata[1]:,} spans)<extra></extra>"))
    fig.add_trace(go.Bar(y=names, x=head["self_share"] * 100, orientation="h",
                         name="self time", marker_color=NEUTRAL, opacity=0.5,
                         hovertemplate="%{x:.1f} % self time<extra></extra>"))
    n = profile.attrs.get("traces")
    sub = f"{n:,} traces; {min(top, len(profile))} of {len(profile)} operations" if n else ""
    fig.update_layout(template=THEME, barmode="group", title=_title(title, sub),
                      height=max(300, 28 * len(head) + 140), hovermode="closest")
    fig.update_xaxes(title_text="Share of the traces' total duration (%)", rangemode="tozero")
    return fig


def trace_duration_chart(traces: pd.DataFrame, *, title: str = "Trace durations") -> go.Figure:
    """Each trace as a point (start time, duration, log scale); failed traces in red."""
    for c in ("start", "duration_s", "error", "trace_id"):
        if c not in traces.columns:
            raise DataError(f"trace frame lacks {c!r}; build it with trace_frame()")
    fig = go.Figure()
    for failed, color, name in ((False, PALETTE[0], "ok"), (True, BAD, "failed")):
        part = traces[traces["error"].astype(bool) == failed]
        if part.empty:
            continue
        custom = np.column_stack([safe_list(part["root_operation"], 80),
                                  safe_list(part["tenant_id"].astype(object).fillna("—"), 60),
                                  [human_seconds(d) for d in part["duration_s"]],
                                  part["trace_id"].astype(str)])
        fig.add_trace(go.Scattergl(x=part["start"], y=part["duration_s"] * 1000, mode="markers",
                                   name=name, marker={"color": color, "size": 4,
                                                      "opacity": 0.6},
                                   customdata=custom,
                                   hovertemplate="%{customdata[0]} · %{customdata[1]}<br>"
                                                 "%{customdata[2]} · trace %{customdata[3]}"
                                                 "<extra></extra>"))
    fig.update_layout(template=THEME, title=_title(title, f"{len(traces):,} traces"),
                      hovermode="closest")
    fig.update_yaxes(type="log", title_text="Duration (ms, log scale)")
    fig.update_xaxes(title_text="")
    return fig


def trace_url(trace_id: str, jaeger_url: str) -> str:
    """Jaeger UI's page of a trace (``<jaeger>/trace/<id>``), the id percent-encoded."""
    return f"{jaeger_url.rstrip('/')}/trace/{quote(str(trace_id), safe='')}"


def trace_link(trace_id: str, jaeger_url: str | None = None, label: str | None = None) -> str:
    """An HTML link to a trace (escaped); plain escaped text when there is no Jaeger URL."""
    text = html.escape(label if label is not None else str(trace_id)[:16] + "…")
    if not jaeger_url:
        return f"<code>{html.escape(str(trace_id))}</code>"
    href = html.escape(trace_url(trace_id, jaeger_url), quote=True)
    return f'<a href="{href}" target="_blank" rel="noopener">{text}</a>'


def trace_links_html(examples: pd.DataFrame, jaeger_url: str | None = None, *,
                     limit: int = 10) -> str:
    """A short HTML list of example traces (a trace frame's rows): link, route, tenant,
    duration, exception. Every value escaped."""
    items = []
    for row in examples.head(limit).itertuples(index=False):
        exc = getattr(row, "exception_type", None)
        parts = [trace_link(str(row.trace_id), jaeger_url),
                 html.escape(str(getattr(row, "route", "") or "")),
                 html.escape(str(getattr(row, "tenant_id", "") or "")),
                 html.escape(human_seconds(float(row.duration_s)))]  # type: ignore[arg-type]
        if isinstance(exc, str) and exc:
            parts.append(f"<code>{html.escape(exc)}</code>")
        items.append("<li>" + " · ".join(parts) + "</li>")
    return "<ul class='tributary-traces'>" + "".join(items) + "</ul>" if items else \
        "<p>No example traces in the sample.</p>"
