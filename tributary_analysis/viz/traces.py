"""Trace figures: one trace's waterfall, the operation profile, trace durations over time,
and links to a trace in Jaeger. Span names, tenant ids and attribute values are untrusted
text: escaped before they become labels, passed as ``customdata`` to hover templates."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from tributary_analysis.analysis.traces import critical_path, self_time
from tributary_analysis.errors import DataError
from tributary_analysis.frames.traces import require_span_columns, span_depth
from tributary_analysis.ground.claims import Insufficient
from tributary_analysis.ground.format import human_seconds, percent
from tributary_analysis.viz._safe import safe_list, safe_text
from tributary_analysis.viz.axes import set_log_axis
from tributary_analysis.viz.theme import BAD, NEUTRAL, PALETTE, THEME

__all__ = [
    "errors_table",
    "log_lines_table",
    "md_text",
    "operation_profile_chart",
    "profile_table",
    "slow_table",
    "trace_duration_chart",
    "trace_id_label",
    "trace_link",
    "trace_links_html",
    "trace_url",
    "waterfall",
]


def _title(title: str, subtitle: str = "") -> dict[str, str]:
    sub = f"<br><sup>{safe_text(subtitle, 300)}</sup>" if subtitle else ""
    return {"text": safe_text(title, 200) + sub}


def waterfall(spans: pd.DataFrame, *, title: str = "Trace") -> go.Figure:
    """One trace as a waterfall: a bar per span (indented by depth, in start order), the
    darker the more of it lies on the critical path (pale: off it); failed spans in red."""
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
    share = np.where(dur > 0, np.clip(crit / np.where(dur > 0, dur, 1), 0, 1), 0)[order]
    fig = go.Figure()
    fig.add_trace(go.Bar(y=y, x=dur[order], base=off[order], orientation="h",
                         marker={"color": colors, "opacity": list(0.25 + 0.75 * share),
                                 "line": {"width": 0}},
                         name="span", customdata=custom, showlegend=False,
                         hovertemplate="%{customdata[0]}<br>duration %{customdata[1]} · "
                                       "critical path %{customdata[2]} · self "
                                       "%{customdata[3]} · %{customdata[4]}<extra></extra>"))
    total = float(np.nanmax(off + dur)) if len(df) else 0.0
    fig.update_layout(template=THEME, barmode="overlay", showlegend=False,
                      title=_title(title, f"{len(df)} spans · {human_seconds(total / 1000)}; "
                                          "the darker a bar, the more of it is on the "
                                          "critical path"),
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


#: points a trace-duration chart draws at most (each carries its hover text: ~150 bytes)
MAX_TRACE_POINTS = 2500


def _points_to_draw(traces: pd.DataFrame, max_points: int) -> tuple[pd.DataFrame, str]:
    """Every failed trace and the slowest, the rest sampled by trace id, with the sentence
    that says so: a day of traces as points would make a page of megabytes."""
    if len(traces) <= max_points:
        return traces, f"{len(traces):,} traces"
    failed = traces[traces["error"].astype(bool)]
    ok = traces[~traces["error"].astype(bool)]
    room = max(max_points - len(failed), 0)
    slowest = ok.nlargest(room // 5, "duration_s")
    rest = ok.drop(slowest.index)
    k = room - len(slowest)
    stride = max(1, -(-len(rest) // k)) if k > 0 else len(rest) + 1
    sampled = rest.sort_values("trace_id").iloc[::stride]
    shown = pd.concat([failed, slowest, sampled]).sort_values("start")
    return shown, (f"{len(traces):,} traces; drawn: all {len(failed):,} failed, the "
                   f"{len(slowest):,} slowest and {len(sampled):,} of the other "
                   f"{len(rest):,} (every {stride:,}th by trace id)")


def trace_duration_chart(traces: pd.DataFrame, *, title: str = "Trace durations",
                         max_points: int = MAX_TRACE_POINTS) -> go.Figure:
    """Each trace as a point (start time, duration, log scale); failed traces in red.

    Beyond ``max_points`` traces, every failed trace and the slowest fifth of the room are
    drawn and the others sampled by trace id; the subtitle says how many of each.
    """
    for c in ("start", "duration_s", "error", "trace_id"):
        if c not in traces.columns:
            raise DataError(f"trace frame lacks {c!r}; build it with trace_frame()")
    drawn, sub = _points_to_draw(traces, max_points)
    fig = go.Figure()
    for failed, color, name in ((False, PALETTE[0], "ok"), (True, BAD, "failed")):
        part = drawn[drawn["error"].astype(bool) == failed]
        if part.empty:
            continue
        custom = np.column_stack([safe_list(part["root_operation"], 80),
                                  safe_list(part["tenant_id"].astype(object).fillna("—"), 60),
                                  [human_seconds(d) for d in part["duration_s"]],
                                  part["trace_id"].astype(str)])
        fig.add_trace(go.Scatter(x=part["start"], y=part["duration_s"], mode="markers",
                                   name=name, marker={"color": color, "size": 4,
                                                      "opacity": 0.6},
                                   customdata=custom,
                                   hovertemplate="%{customdata[0]} · %{customdata[1]}<br>"
                                                 "%{customdata[2]} · trace %{customdata[3]}"
                                                 "<extra></extra>"))
    fig.update_layout(template=THEME, title=_title(title, sub),
                      hovermode="closest")
    set_log_axis(fig)
    fig.update_yaxes(title_text="Duration (log scale)")
    fig.update_xaxes(title_text="")
    if traces.empty:
        fig.add_annotation(text="No traces in this window", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper", font={"size": 16, "color": NEUTRAL})
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    return fig


def trace_id_label(trace_id: str) -> str:
    """``trace 3d9c988d1c8f900b…`` for a title (escaped)."""
    return "trace " + html.escape(str(trace_id)[:16]) + "…"


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


def md_text(text: object) -> str:
    """Untrusted text for Markdown: Markdown's own characters backslash-escaped, then
    HTML-escaped (so ``<``, ``&`` and quotes become entities).

    Examples
    --------
    >>> print(md_text("<b>x_y</b> #1"))
    &lt;b&gt;x\\_y&lt;/b&gt; \\#1
    """
    out = str(text)
    for ch in "\\`*_[]|#":
        out = out.replace(ch, "\\" + ch)
    return html.escape(out, quote=True)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)) or \
            value is pd.NA or value is pd.NaT:
        return "—"
    return html.escape(str(value))


def _table(headers: list[str], rows: list[list[str]], caption: str = "") -> str:
    """An HTML table of already-escaped cells (no index column)."""
    head = "".join(f"<th style='text-align:left;padding:2px 10px'>{html.escape(h)}</th>"
                   for h in headers)
    body = "".join("<tr>" + "".join(f"<td style='padding:2px 10px'>{c}</td>" for c in r)
                   + "</tr>" for r in rows)
    cap = f"<caption style='text-align:left'>{html.escape(caption)}</caption>" if caption else ""
    return (f"<table class='tributary-table' style='border-collapse:collapse'>{cap}"
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def profile_table(profile: pd.DataFrame | Insufficient, *, top: int = 12) -> str:
    """The operation profile as a table: share of the critical path and of self time,
    spans, median and p95 durations."""
    if isinstance(profile, Insufficient):
        return f"<p>{html.escape(profile.message())}</p>"
    rows = [[_cell(r["rank"]), _cell(r["operation"]), percent(float(r["critical_share"])),
             percent(float(r["self_share"])), f"{int(r['spans']):,}",
             _cell(human_seconds(float(r["p50_s"]))), _cell(human_seconds(float(r["p95_s"])))]
            for r in _records(profile.head(top))]
    return _table(["#", "Operation", "Critical path", "Self time", "Spans", "Median", "p95"],
                  rows, "Share of the traces' total duration")


def slow_table(ranking: pd.DataFrame | Insufficient, *, top: int = 8) -> str:
    """What the slow traces have more often: the top of the attribution ranking."""
    if isinstance(ranking, Insufficient):
        return f"<p>{html.escape(ranking.message())}</p>"
    rows = []
    for r in _records(ranking.head(top)):
        rr, qv = float(r["risk_ratio"]), float(r["q_value"])
        rows.append([_feature_html(str(r["attribute"]), r["value"]), percent(float(r["support"])),
                     percent(float(r["baseline_share"])),
                     "∞" if np.isinf(rr) else ("—" if np.isnan(rr) else f"{rr:.1f}×"),
                     f"{qv:.1g}" if qv >= 1e-4 else "< 0.0001",
                     "yes" if r["significant"] else "no"])
    return _table(["Feature", "Slow traces", "Other traces", "Risk ratio", "q value",
                   "Significant"], rows, f"{ranking.attrs.get('slow_traces', 0):,} slow against "
                                         f"{ranking.attrs.get('normal_traces', 0):,} other traces")


def _feature_html(attribute: str, value: object) -> str:
    if attribute.startswith("has:"):
        op = html.escape(attribute[4:])
        return f"has a <b>{op}</b> span" if str(value) == "yes" else f"no <b>{op}</b> span"
    if attribute == "bottleneck":
        return f"bottleneck: <b>{html.escape(str(value))}</b>"
    return f"{html.escape(attribute)} = <b>{html.escape(str(value))}</b>"


def errors_table(groups: pd.DataFrame, jaeger_url: str | None = None) -> str:
    """Failed traces by exception, with an example trace each."""
    if groups.empty:
        return "<p>No failed traces in this window.</p>"
    rows = [[f"<code>{_cell(r['exception_type'])}</code>", f"{int(r['traces']):,}",
             percent(float(r["share"])), _cell(r["message"]), _cell(r["top_route"]),
             trace_link(str(r["example_trace_id"]), jaeger_url)]
            for r in _records(groups)]
    return _table(["Exception", "Traces", "Share", "Message", "Mostly on", "Example"], rows,
                  "Failed traces (root span ERROR) by the exception where it was raised")


def log_lines_table(lines: pd.DataFrame, *, limit: int = 40) -> str:
    """Log lines of example traces: time, trace, level, event, status, duration."""
    if lines.empty:
        return "<p>No log lines found for these traces.</p>"
    rows = []
    for r in _records(lines.head(limit)):
        ts = r.get("timestamp")
        when = pd.Timestamp(ts).strftime("%H:%M:%S.%f")[:-3] if ts is not None and \
            not pd.isna(ts) else "—"
        status = r.get("status_code")
        dur = r.get("duration_s")
        rows.append([when, f"<code>{_cell(str(r['trace_id'])[:12])}…</code>",
                     _cell(r.get("level")), _cell(r.get("event")),
                     "—" if status is None or pd.isna(status) else str(int(status)),
                     "—" if dur is None or pd.isna(dur) else _cell(human_seconds(float(dur))),
                     _cell(r.get("error_code"))])
    more = f"; first {limit} of {len(lines):,}" if len(lines) > limit else ""
    return _table(["Time (UTC)", "Trace", "Level", "Event", "Status", "Duration", "Error"],
                  rows, f"joined on {lines.attrs.get('joined_on', 'trace_id')}{more}")


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts with missing values as None."""
    return [{str(k): (None if v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v))
                 else v) for k, v in row.items()} for row in df.to_dict("records")]
