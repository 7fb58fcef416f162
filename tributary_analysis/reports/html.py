"""Executed notebook → one self-explaining HTML page that works offline, answer first.

* the page opens with the header (the title once, status, window, where the data end)
  and the **answer**: headline tiles and at most five findings rendered from the run's
  :class:`~tributary_analysis.reports.summary.Summary` — the object ``summary.json`` is
  written from, so page and summary cannot disagree — then **one** warnings box, only
  when a source said something; every ``## `` section of the notebook follows as a
  ``<details>`` the reader can fold; run facts (sources, parameters, generation) close
  the header in a folded "About this run";
* code hidden (``exclude_input``); the notebook's own title line and its warning box are
  dropped (the header shows both), its summary bundle is lifted out of the body;
* plotly figures: each ``application/vnd.plotly.v1+json`` output becomes an inert JSON data
  block; one shared script (``assets/tributary-report.js``) draws them with the shared
  ``assets/plotly.min.js`` — plotly.js is never embedded per figure nor fetched from a CDN;
* the JupyterLab stylesheet (240 KB) is a shared asset too (``assets/notebook.css``), and a
  trace whose ``x`` is a regular time grid travels as ``x0``/``dx`` (plotly's own short
  form) instead of one ISO string per point: pages stay well under 1.5 MB;
* no inline script at all, so a Content-Security-Policy can forbid every script but the two
  shared assets: even an unescaped ``<script>`` from some output would not run. Everything
  we write ourselves is escaped by a jinja2 environment with autoescape on;
* raw HTML inside ``text/markdown`` outputs is escaped (tenant ids end up in markdown);
* print rules (sections on new pages, nothing split) live in the same stylesheet, so the
  PDF is the page printed;
* the failure page is the same page with a box saying what failed and where.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import nbformat
from markupsafe import Markup
from nbformat import NotebookNode

from tributary_analysis.errors import TributaryError
from tributary_analysis.ground import format as fmt
from tributary_analysis.ground.time import parse_time
from tributary_analysis.reports.failure import Failure
from tributary_analysis.reports.outputs import (
    SOURCES_MIMETYPE,
    WARNINGS_MIMETYPE,
    normalize_sources,
    normalize_warnings,
)
from tributary_analysis.reports.summary import MIMETYPE as SUMMARY_MIMETYPE
from tributary_analysis.reports.summary import Summary

PLOTLY_MIMETYPE = "application/vnd.plotly.v1+json"
FIGURE_MIMETYPE = "application/vnd.tributary.figure+json"
ASSETS_DIR = "assets"
PLOTLY_ASSET = "plotly.min.js"
SCRIPT_ASSET = "tributary-report.js"
CSS_ASSET = "notebook.css"
#: trace types whose x may be given as x0 + dx (plotly.js supports it for these)
_GRID_TRACES = {"scatter", "scattergl", "bar", "heatmap"}
_GRID_MIN_POINTS = 16

CSP = (
    "default-src 'none'; script-src 'self' file:; style-src 'self' 'unsafe-inline' file:; "
    "img-src 'self' data: file:; font-src 'self' data: file:; connect-src 'none'; "
    "base-uri 'none'; form-action 'none'"
)

#: draws every figure data block; shows a visible message if plotly.js did not load
REPORT_JS = f"""\
// Tributary reports: draw plotly figures from inert JSON blocks (no inline scripts).
(function () {{
  "use strict";
  function draw() {{
    var blocks = document.querySelectorAll('script[type="{FIGURE_MIMETYPE}"]');
    blocks.forEach(function (el) {{
      var target = document.getElementById(el.getAttribute("data-target"));
      if (!target) {{ return; }}
      if (typeof window.Plotly === "undefined") {{
        target.textContent = "Figure not drawn: plotly.js did not load from "
          + "the shared asset assets/{PLOTLY_ASSET} beside this report.";
        target.className += " tributary-figure-error";
        return;
      }}
      var fig = JSON.parse(el.textContent);
      var config = Object.assign({{responsive: true, displaylogo: false}}, fig.config || {{}});
      window.Plotly.newPlot(target, fig.data || [], fig.layout || {{}}, config);
    }});
  }}
  if (document.readyState === "loading") {{
    document.addEventListener("DOMContentLoaded", draw);
  }} else {{
    draw();
  }}
}})();
"""

# nbconvert template: the lab look without require.js, MathJax, mermaid or widgets (all of
# them would reach for a CDN), plus our CSP, header, foldable sections and the two scripts.
_NB_TEMPLATE = r"""
{%- extends 'index.html.j2' -%}
{%- block html_head_js_requirejs -%}
<meta http-equiv="Content-Security-Policy" content="{{ resources.tributary.csp }}">
<meta name="generator" content="tributary-analysis reports">
{%- if resources.tributary.figures %}
<script src="{{ resources.tributary.assets_href }}/plotly.min.js"></script>
<script src="{{ resources.tributary.assets_href }}/tributary-report.js" defer></script>
{%- endif %}
{%- endblock html_head_js_requirejs -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block extra_css -%}{%- endblock -%}
{%- block notebook_css -%}
<link rel="stylesheet" href="{{ resources.tributary.assets_href }}/notebook.css">
<style type="text/css">{{ resources.tributary.css }}</style>
{%- endblock notebook_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.tributary.header_html }}
{%- endblock body_header -%}
{%- block any_cell scoped -%}
{%- set sec = cell.metadata.get('tributary_section') -%}
{%- if sec -%}
{%- if sec.get('close') %}</div></details>{% endif %}
<details class="tr-section" open id="{{ sec.id }}"><summary><h2>{{ sec.title | e }}</h2></summary>
<div class="tr-section-body">
{%- endif -%}
{%- if not cell.metadata.get('tributary_skip') -%}{{ super() }}{%- endif -%}
{%- endblock any_cell -%}
{%- block body_footer -%}
{%- if resources.tributary.open_section %}</div></details>{% endif %}
{{ super() }}
{%- endblock body_footer -%}
"""

#: the page's own rules (the JupyterLab stylesheet is the shared asset): header, answer
#: tiles, the one warnings box, foldable sections, tables that fit, and the print rules
_CSS = """
a.anchor-link{display:none}.jp-InputArea{overflow:hidden}.jp-Collapser{display:none}
.jp-OutputArea-output pre{line-height:inherit;font-family:inherit}
.jp-RenderedText pre{color:var(--jp-content-font-color1);font-size:var(--jp-code-font-size);
  white-space:pre-wrap;overflow-wrap:anywhere}
*{-webkit-print-color-adjust:exact}
body.jp-Notebook{padding:0 0 2em 0}
main{max-width:1320px;margin:0 auto;padding:0 16px;box-sizing:border-box}
.tr-header{font-family:system-ui,sans-serif;border-bottom:2px solid #ccd;padding:.8em 1.2em;
  margin:0 0 .8em 0;background:#f7f8fb}
.tr-header h1{margin:0 0 .25em 0;font-size:1.55em}
.tr-meta{margin:0;font-size:.95em;color:#333;display:flex;flex-wrap:wrap;gap:.3em 1.2em;
  align-items:baseline}
.tr-status{font-weight:700;padding:.05em .55em;border-radius:.8em;font-size:.9em}
.tr-status-ok{color:#176d2b;background:#e3f4e6}
.tr-status-warning{color:#7a4b00;background:#fff1cc}
.tr-status-failed,.tr-status-timeout{color:#fff;background:#b00020}
.tr-data-end-short{color:#7a4b00;font-weight:600}
.tr-run{margin-top:.5em;font-size:.9em;color:#444}
.tr-run summary{cursor:pointer;color:#555}
.tr-run table{border-collapse:collapse;margin-top:.3em}
.tr-run td{padding:.1em 1em .1em 0;vertical-align:top;overflow-wrap:anywhere}
.tr-run td.k{color:#555;white-space:nowrap}
.tr-run code{font-size:.92em}
.tr-notes{color:#555;font-size:.9em;margin:.3em 0 0 0}
.tr-answer{font-family:system-ui,sans-serif;margin:.4em 0 1em 0}
.tr-tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(205px,1fr));gap:10px;
  margin:.2em 0 .8em 0}
.tr-tile{border:1px solid #d5d8e0;border-left:6px solid #9aa3b5;border-radius:6px;
  padding:.45em .7em .5em .7em;background:#fff;break-inside:avoid}
.tr-tile-name{font-size:.86em;color:#444;font-weight:600}
.tr-tile-value{font-size:1.55em;font-weight:700;margin:.1em 0;overflow-wrap:anywhere}
.tr-tile-value.tr-long{font-size:1.05em;overflow-wrap:break-word}
.tr-tile-base{font-size:.86em;color:#333}
.tr-tile-assess{display:inline-block;font-size:.75em;font-weight:700;text-transform:uppercase;
  letter-spacing:.03em;margin-top:.2em}
.tr-tile-def{font-size:.78em;color:#666;margin-top:.25em;line-height:1.3}
.tr-a-worse,.tr-a-critical{border-left-color:#c62828}
.tr-a-worse .tr-tile-assess,.tr-a-critical .tr-tile-assess{color:#c62828}
.tr-a-warning{border-left-color:#e0a000}.tr-a-warning .tr-tile-assess{color:#8a5a00}
.tr-a-ok,.tr-a-better{border-left-color:#2e7d32}
.tr-a-ok .tr-tile-assess,.tr-a-better .tr-tile-assess{color:#2e7d32}
.tr-a-similar .tr-tile-assess,.tr-a-info .tr-tile-assess,.tr-a-no-baseline .tr-tile-assess{
  color:#555}
.tr-a-withheld{border-left-color:#bbb;border-style:dashed;background:#fafafa}
.tr-a-withheld .tr-tile-value{font-size:1em;font-weight:600;color:#555}
.tr-slo-def{margin:.1em 0 .6em 0;font-size:.92em;color:#333}
.tr-findings{margin:.2em 0 .4em 1.3em;padding:0;font-size:1.02em;line-height:1.45}
.tr-findings li{margin:.15em 0}
.tr-withheld{font-size:.9em;color:#555;margin:.3em 0}
.tr-warnings{font-family:system-ui,sans-serif;background:#fff6db;border:1px solid #e0c060;
  border-left:6px solid #e0a000;padding:.5em 1em;margin:.4em 0 1em 0;border-radius:4px}
.tr-warnings ul{margin:.3em 0 .1em 1.2em;padding:0}
.tr-warnings li{margin:.2em 0;overflow-wrap:anywhere}
.tr-failure{background:#fdecee;border:2px solid #b00020;padding:.7em 1em;margin:.7em 0}
.tr-failure pre{white-space:pre-wrap;font-size:.85em;max-height:30em;overflow:auto;
  background:#fff;padding:.5em}
details.tr-section{border-top:1px solid #dde;margin:.6em 0 0 0}
details.tr-section>summary{cursor:pointer;list-style:none;padding:.2em 0}
details.tr-section>summary::-webkit-details-marker{display:none}
details.tr-section>summary h2{display:inline;font-size:1.3em;margin:0}
details.tr-section>summary h2::before{content:"\\25BE  ";color:#889}
details.tr-section:not([open])>summary h2::before{content:"\\25B8  "}
.jp-RenderedHTMLCommon table,.tr-table{table-layout:auto;max-width:100%}
.jp-RenderedHTMLCommon td,.jp-RenderedHTMLCommon th{overflow-wrap:anywhere;
  white-space:normal;max-width:28em}
.jp-OutputArea-output{overflow-x:auto;max-width:100%}
.tr-table-wrap{max-width:100%;margin:.2em 0 .8em 0}
.jp-RenderedHTMLCommon .tr-table,.tr-table{border-collapse:collapse;font-size:.9em;
  font-family:system-ui,sans-serif;margin:0}
.jp-RenderedHTMLCommon .tr-table th,.jp-RenderedHTMLCommon .tr-table td,.tr-table th,
.tr-table td{border-bottom:1px solid #e3e3e8;padding:.25em .7em;vertical-align:top;
  max-width:26em}
.jp-RenderedHTMLCommon .tr-table .txt,.tr-table .txt{text-align:left;overflow-wrap:anywhere;
  white-space:normal}
.jp-RenderedHTMLCommon .tr-table .num,.tr-table .num{text-align:right;white-space:nowrap}
.jp-RenderedHTMLCommon .tr-table th,.tr-table th{background:#f0f2f7;font-weight:600}
.tr-caption{font-size:.85em;color:#555;margin:.3em 0 0 0}
.tributary-figure{width:100%}
.tributary-figure-error{color:#b00020}
@media print{
  .jp-Cell-inputWrapper,.jp-Cell-outputWrapper{display:block}
  details.tr-section,.jp-MarkdownCell h2,h2.td-section{break-before:page}
  details.tr-section.tr-first,.tr-print-first{break-before:auto}
  .tributary-figure,.jp-OutputArea-output table,.tr-warnings,.tr-failure,.tr-answer,
  .tr-tile,.td-note,.td-table-wrap tr,.td-answer{break-inside:avoid}
  h1,h2,h3,summary{break-after:avoid}
  .modebar-container{display:none !important}
  .tr-run{display:none}
}
"""

_HEADER = """
<header class="tr-header" id="tributary-header">
<h1>{{ ctx.title }}{% if ctx.tenant is not none %} — tenant <code class="tr-tenant">{{
  ctx.tenant }}</code>{% endif %}</h1>
<p class="tr-meta">
<span class="tr-status tr-status-{{ ctx.status }}">{{ status_label }}</span>
<span>Window <time datetime="{{ ctx.window_start }}">{{ start_text }}</time> →
 <time datetime="{{ ctx.window_end }}">{{ end_text }}</time>{% if length %} ({{ length
 }}){% endif %}</span>
{% if data_end %}<span class="{{ 'tr-data-end-short' if data_short else 'tr-data-end' }}">{{
 'data end ' if data_short else 'data until ' }}<time datetime="{{ data_end }}">{{
 data_end_text }}</time>{% if data_short %} ({{ data_short }} before the window ends){%
 endif %}</span>{% endif %}
<span><a href="{{ ctx.index_href }}">all reports</a></span>
</p>
<details class="tr-run"><summary>About this run</summary>
<table>
<tr><td class="k">Sources</td><td>{% for s in ctx.sources %}{{ s.kind }} <code>{{ s.url
  }}</code>{% if not loop.last %}; {% endif %}{% else %}(none reported){% endfor %}</td></tr>
<tr><td class="k">Generated</td><td><time datetime="{{ ctx.generated_at }}">{{ generated_text
  }}</time>{% if ctx.duration_s is not none %} in {{ duration_text }}{% endif %}</td></tr>
{% if ctx.parameters %}<tr><td class="k">Parameters</td><td>{% for k, v in
  ctx.parameters.items() %}<code>{{ k }}={{ v }}</code>{% if not loop.last %}, {% endif
  %}{% endfor %}</td></tr>{% endif %}
</table>
{% if ctx.notes %}<p class="tr-notes">{% for n in ctx.notes %}{{ n }}{% if not loop.last
  %} {% endif %}{% endfor %}</p>{% endif %}
</details>
</header>
{% if ctx.failure %}
<div class="tr-failure" id="tributary-failure">
<strong>This report failed: {{ ctx.failure.what }}</strong>
<p>{{ ctx.failure.where }}</p>
{% if ctx.failure.source %}<p>Cell source (excerpt):</p><pre>{{ ctx.failure.source
  }}</pre>{% endif %}
{% if ctx.failure.traceback %}<p>Traceback (excerpt):</p><pre>{{ ctx.failure.traceback
  }}</pre>{% endif %}
{% if ctx.failure.log %}<p>Run log (last lines):</p><pre>{{ ctx.failure.log }}</pre>{% endif %}
<p>Outputs produced before the failure follow.</p>
</div>
{% endif %}
{{ answer }}
{% if ctx.warnings %}
<div class="tr-warnings" id="tributary-warnings"><strong>⚠ {{ ctx.warnings|length }}
 note{{ 's' if ctx.warnings|length != 1 }} about the data on this page</strong><ul>
{% for w in ctx.warnings %}<li>{% if w.source %}<strong>{{ w.source }}</strong>: {% endif
 %}{{ w.message }}{% if w.query %} <small>(query <code>{{ w.query }}</code>)</small>{% endif
 %}</li>{% endfor %}</ul></div>
{% endif %}
"""

#: the answer: tiles, the SLO's definition, findings, what was withheld (from a Summary)
_ANSWER = """
<section class="tr-answer" id="tributary-answer">
{%- if tiles %}
<div class="tr-tiles">
{%- for h in tiles %}
<div class="tr-tile tr-a-{{ h.assessment|replace(' ', '-') }}" data-key="{{ h.key or h.name }}">
<div class="tr-tile-name">{{ h.name }}</div>
<div class="tr-tile-value{{ ' tr-long' if h.text|length > 13 else '' }}">{{ h.text }}</div>
{%- if h.baseline_text %}
<div class="tr-tile-base">{{ arrows.get(h.direction, '') }} {{ h.change }} · baseline {{
 h.baseline_text }}</div>
{%- endif %}
{%- if labels.get(h.assessment) %}<div class="tr-tile-assess">{{ labels[h.assessment] }}</div>
{%- endif %}
{%- if h.definition %}<div class="tr-tile-def">{{ h.definition }}</div>{% endif %}
</div>
{%- endfor %}
</div>
{%- endif %}
{%- if slo is not none and slo.definition %}
<p class="tr-slo-def"><strong>SLO:</strong> {{ slo.definition }}</p>
{%- endif %}
{%- if findings %}
<ul class="tr-findings">{% for f in findings %}<li>{{ f }}</li>{% endfor %}</ul>
{%- endif %}
{%- if insufficient %}
<p class="tr-withheld"><strong>Withheld (not enough data):</strong>
{% for g in insufficient %}{{ g.what }} (have {{ g.have }}, need {{ g.need }}){% if not
 loop.last %}; {% endif %}{% endfor %}.</p>
{%- endif %}
</section>
"""

_ARROWS = {"up": "▲", "down": "▼", "flat": "="}
_LABELS = {"worse": "worse than baseline", "better": "better than baseline",
           "similar": "similar to baseline", "ok": "ok", "warning": "warning",
           "critical": "critical", "no baseline": "no baseline", "withheld": "withheld"}
_STATUS_LABELS = {"ok": "OK", "warning": "Warning", "failed": "Failed",
                  "timeout": "Timed out"}

_TIME_ERRORS = (TributaryError, ValueError, TypeError)
_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_header_template = _env.from_string(_HEADER)
_answer_template = _env.from_string(_ANSWER)


def answer_html(summary: Summary | None, *, standalone: bool = False) -> str:
    """The answer block of a page — tiles, the SLO definition, findings and what was
    withheld — rendered from ``summary`` (every text escaped).

    ``standalone`` adds the stylesheet the block needs on its own (a notebook in
    JupyterLab shows the same block the report page opens with).
    """
    if summary is None:
        return ""
    body = _answer_template.render(tiles=list(summary.headline), slo=summary.slo,
                                   findings=list(summary.findings),
                                   insufficient=list(summary.insufficient),
                                   arrows=_ARROWS, labels=_LABELS)
    if not (summary.headline or summary.findings or summary.insufficient or summary.slo):
        return ""
    if standalone:
        rules = "\n".join(line for line in _CSS.splitlines()
                          if line.startswith((".tr-answer", ".tr-tile", ".tr-a-", ".tr-slo",
                                              ".tr-findings", ".tr-withheld", "  ")))
        return f"<style>{rules}</style>{body}"
    return body


@dataclass
class PageContext:
    """What the header says about one run."""

    title: str
    status: str
    window_start: str
    window_end: str
    generated_at: str
    index_href: str
    assets_href: str
    tenant: str | None = None
    duration_s: float | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    sources: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    failure: Failure | None = None
    #: short sentences for the operator under the header (e.g. stderr moved to run.log)
    notes: list[str] = field(default_factory=list)
    #: the run's answer; the page's tiles and findings are rendered from it
    summary: Summary | None = None


@dataclass
class Rendered:
    """An HTML page and what it contained."""

    html: str
    figures: int
    warnings: list[dict[str, str]]
    sources: list[dict[str, str]]
    #: the summary the page was rendered from (what publish writes as summary.json)
    summary: Summary | None = None


def _when(text: str | None) -> str:
    if not text:
        return fmt.MISSING
    try:
        return fmt.timestamp(parse_time(text))
    except _TIME_ERRORS:  # a header never fails over a time it cannot read
        return str(text)


def _data_short(window_end: str, data_end: str | None) -> str:
    """How long before the window's end the data end, when it is more than a few
    minutes (a report that runs past its data says so)."""
    if not data_end:
        return ""
    try:
        gap = parse_time(window_end) - parse_time(data_end)
    except _TIME_ERRORS:
        return ""
    import pandas as pd

    return fmt.human_duration(gap) if gap > pd.Timedelta(minutes=5) else ""


def header_html(ctx: PageContext) -> str:
    """The header, the failure box, the answer and the one warnings box (escaped)."""
    import pandas as pd

    try:
        length = fmt.human_duration(parse_time(ctx.window_end) - parse_time(ctx.window_start))
    except _TIME_ERRORS:
        length = ""
    data_end = ctx.summary.data_end if ctx.summary is not None else None
    duration = (fmt.human_duration(pd.Timedelta(seconds=round(ctx.duration_s, 1)))
                if ctx.duration_s is not None else "")
    return _header_template.render(
        ctx=ctx, status_label=_STATUS_LABELS.get(ctx.status, ctx.status),
        start_text=_when(ctx.window_start), end_text=_when(ctx.window_end), length=length,
        data_end=data_end, data_end_text=_when(data_end),
        data_short=_data_short(ctx.window_end, data_end),
        generated_text=_when(ctx.generated_at), duration_text=duration,
        answer=Markup(answer_html(ctx.summary)))


def install_assets(out_dir: Path) -> Path:
    """Copy plotly.js from the installed plotly package, and our figure script, into
    ``out_dir/assets`` once (refreshed when the installed plotly changes)."""
    import plotly

    assets = out_dir / ASSETS_DIR
    assets.mkdir(parents=True, exist_ok=True)
    src = Path(plotly.__file__).parent / "package_data" / PLOTLY_ASSET
    dst = assets / PLOTLY_ASSET
    if not dst.exists() or dst.stat().st_size != src.stat().st_size:
        tmp = dst.with_name(f".{PLOTLY_ASSET}.{os.getpid()}.{threading.get_ident()}")
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    for name, text in ((SCRIPT_ASSET, REPORT_JS), (CSS_ASSET, notebook_css())):
        path = assets / name
        if not path.exists() or path.read_text() != text:
            tmp = path.with_name(f".{name}.{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(text)
            tmp.replace(path)
    return assets


def notebook_css() -> str:
    """nbconvert's JupyterLab stylesheet (index.css + the light theme), read once from the
    installed ``lab`` template: shared by every page instead of inlined in each."""
    global _NOTEBOOK_CSS
    if _NOTEBOOK_CSS is None:
        from jupyter_core.paths import jupyter_path

        for base in jupyter_path("nbconvert", "templates", "lab"):
            static = Path(base) / "static"
            if (static / "index.css").is_file():
                _NOTEBOOK_CSS = "\n".join(
                    (static / n).read_text(encoding="utf-8")
                    for n in ("index.css", "theme-light.css") if (static / n).is_file())
                break
        else:
            raise FileNotFoundError("nbconvert's lab template (static/index.css) is not "
                                    "installed; reinstall nbconvert")
    return _NOTEBOOK_CSS


_NOTEBOOK_CSS: str | None = None


def _regular_grid(x: Any) -> tuple[str, float] | None:
    """``(x0, dx_ms)`` when ``x`` is a list of ISO time strings on a regular grid."""
    if not isinstance(x, list) or len(x) < _GRID_MIN_POINTS or \
            not all(isinstance(v, str) for v in x):
        return None
    import numpy as np
    import pandas as pd

    try:
        ts = pd.to_datetime(pd.Series(x), utc=True, format="ISO8601")
    except (ValueError, TypeError):
        return None
    ns = ts.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]").astype("int64")
    steps = np.diff(ns)
    if steps[0] <= 0 or not (steps == steps[0]).all():
        return None
    return x[0], float(steps[0]) / 1e6


def compact_figure(fig: dict[str, Any]) -> dict[str, Any]:
    """Replace regular time-grid ``x`` arrays by ``x0``/``dx`` (in place; returned).

    Plotly draws ``x0 + i * dx`` exactly like the explicit array; the axis is pinned to
    ``type: date`` because with no array plotly could not infer it. Irregular grids (gaps,
    bands drawn forth and back) stay as they are.
    """
    layout = fig.setdefault("layout", {})
    for trace in fig.get("data", []) or []:
        if not isinstance(trace, dict) or trace.get("type", "scatter") not in _GRID_TRACES:
            continue
        if trace.get("orientation") == "h" or "x0" in trace or "dx" in trace:
            continue
        axis = "xaxis" + str(trace.get("xaxis", "x"))[1:]
        ax = layout.get(axis) or {}
        if ax.get("type") not in (None, "-", "date"):
            continue
        grid = _regular_grid(trace.get("x"))
        if grid is None:
            continue
        trace["x0"], trace["dx"] = grid
        del trace["x"]
        layout[axis] = {**ax, "type": "date"}
    return fig


def _json_for_script(obj: Any) -> str:
    """JSON safe inside ``<script type=...>``: no ``<``, ``>`` or ``&`` survive literally."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False, default=str)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _figure_html(fig: Any, index: int) -> str:
    if isinstance(fig, str):
        fig = json.loads(fig)
    if isinstance(fig, dict):
        fig = compact_figure(fig)
    target = f"tributary-figure-{index}"
    try:
        payload = _json_for_script(fig)
    except ValueError:  # NaN/Inf: plotly's own encoder turns them into null
        import plotly.io as pio

        payload = _json_for_script(json.loads(pio.to_json(fig, validate=False)))
    return (
        f'<div class="tributary-figure" id="{target}"></div>\n'
        f'<script type="{FIGURE_MIMETYPE}" data-target="{target}">{payload}</script>'
    )


_MD_RAW_HTML = re.compile(r"[<&]")
_H1 = re.compile(r"\A\s*#\s+[^\n]*\n?")
_H2 = re.compile(r"\A\s*##\s+([^\n]+)\n?")


@dataclass
class Lifted:
    """What :func:`prepare` took out of a notebook for the header."""

    figures: int = 0
    warnings: list[dict[str, str]] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)
    #: the last summary bundle the notebook displayed (a JSON document), if any
    summary: dict[str, Any] | None = None
    #: whether the last foldable section is still open at the end of the notebook
    open_section: bool = False


def find_summary(nb: NotebookNode | None) -> dict[str, Any] | None:
    """The last summary bundle (``application/vnd.tributary.summary+json``) in ``nb``."""
    found = None
    for cell in nb.cells if nb is not None else []:
        for out in cell.get("outputs", []) if cell.cell_type == "code" else []:
            data = out.get("data") or {}
            if SUMMARY_MIMETYPE in data and isinstance(data[SUMMARY_MIMETYPE], dict):
                found = data[SUMMARY_MIMETYPE]
    return found


def _slug(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "section"
    slug, n = f"s-{base}", 2
    while slug in taken:
        slug, n = f"s-{base}-{n}", n + 1
    taken.add(slug)
    return slug


def _sections(nb: NotebookNode) -> bool:
    """Turn the notebook into foldable sections, in place: the first ``# `` title line is
    dropped (the header shows the title), each markdown cell opening with ``## `` starts a
    ``<details>`` whose summary is that heading. Returns whether a section is open."""
    first_md = True
    open_section = False
    taken: set[str] = set()
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        src = "".join(cell.source) if isinstance(cell.source, list) else cell.source
        if first_md:
            first_md = False
            src = _H1.sub("", src, count=1)
        m = _H2.match(src)
        if m:
            title = m.group(1).strip().strip("#").strip()
            cell.metadata["tributary_section"] = {"title": title, "id": _slug(title, taken),
                                                  "close": open_section}
            open_section = True
            src = src[m.end():]
        cell.source = src
        if not src.strip():
            cell.metadata["tributary_skip"] = True
    return open_section


def _is_empty_output(out: NotebookNode) -> bool:
    """An output with nothing to show (a reserved display that stayed empty)."""
    data = out.get("data")
    if out.get("output_type") not in ("display_data", "execute_result") or data is None:
        return False
    if not data or any(not k.startswith("text/") for k in data):
        return False
    return all(not ("".join(v) if isinstance(v, list) else str(v)).strip()
               for v in data.values())


def prepare(nb: NotebookNode) -> Lifted:
    """Rewrite outputs for the page, in place: figures, markdown escaping, header bundles,
    foldable sections. Returns what was lifted out for the header (figures counted,
    warnings, sources, the summary bundle).

    The notebook's own warning box and answer block are taken out of the body: the page
    shows one of each, at the top, rendered by :func:`header_html`.
    """
    lifted = Lifted()
    lifted.summary = find_summary(nb)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data is None:
                kept.append(out)
                continue
            if SUMMARY_MIMETYPE in data:
                continue  # the header renders the answer from it
            if WARNINGS_MIMETYPE in data:
                lifted.warnings.extend(normalize_warnings(data[WARNINGS_MIMETYPE]))
            if SOURCES_MIMETYPE in data:
                lifted.sources.extend(normalize_sources(data[SOURCES_MIMETYPE]))
            if WARNINGS_MIMETYPE in data or SOURCES_MIMETYPE in data:
                continue  # the header shows them: one box per page
            if _is_empty_output(out):
                continue
            if PLOTLY_MIMETYPE in data:
                out["data"] = {"text/html": _figure_html(data[PLOTLY_MIMETYPE],
                                                         lifted.figures)}
                lifted.figures += 1
            elif "text/markdown" in data and "text/html" not in data:
                md = data["text/markdown"]
                md = "".join(md) if isinstance(md, list) else md
                data["text/markdown"] = _MD_RAW_HTML.sub(
                    lambda m: "&lt;" if m.group() == "<" else "&amp;", md)
            kept.append(out)
        cell["outputs"] = kept
        if not kept:
            cell.metadata["tributary_skip"] = True  # nothing to show: no empty gap
    lifted.open_section = _sections(nb)
    # de-duplicate sources, keep order
    seen: set[tuple[str, str]] = set()
    unique = []
    for s in lifted.sources:
        key = (s["kind"], s["url"])
        if key not in seen:
            seen.add(key)
            unique.append(s)
    lifted.sources = unique
    return lifted


_ABS_PATH = re.compile(r"(?<![\w:/.~-])/(?:[^\s/:'\"()<>,;]+/)+[^\s/:'\"()<>,;]+")


def page_text(text: str) -> str:
    """``text`` without this machine's paths: the installation's directories shortened
    (:func:`~.streams.strip_local_paths`) and any other path that exists here reduced to
    its file name (``…/deeplake-api-2026-01-31.jsonl``). Paths that do not exist here —
    endpoints like ``/api/v1/datasets/{id}`` — stay as they are."""
    from tributary_analysis.reports.streams import strip_local_paths

    def short(m: re.Match[str]) -> str:
        path = m.group(0)
        return f"…/{os.path.basename(path)}" if os.path.exists(path) else path

    return _ABS_PATH.sub(short, strip_local_paths(text))


def _unique_warnings(items: list[dict[str, str]]) -> list[dict[str, str]]:
    """Each message once (the box, the header bundle and a section may repeat one), with
    no local path."""
    seen: set[str] = set()
    out = []
    for w in items:
        w = {**w, "message": page_text(w["message"])}
        if w["message"] not in seen:
            seen.add(w["message"])
            out.append(w)
    return out


def render_page(nb: NotebookNode | None, ctx: PageContext) -> Rendered:
    """Render ``nb`` (already executed and scrubbed; may be partial or ``None``) as a page.

    ``ctx.warnings``/``ctx.sources`` are extended with what the notebook reported; the
    answer block is rendered from ``ctx.summary`` (the caller's, e.g. publish's, which has
    read the notebook's bundle with :func:`find_summary`) and returned with the page.
    """
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook() if nb is None else nb
    lifted = prepare(nb)
    ctx.warnings = _unique_warnings([*ctx.warnings, *lifted.warnings])
    ctx.sources = lifted.sources or ctx.sources
    nb.metadata["title"] = ctx.title + (f" — {ctx.tenant}" if ctx.tenant is not None else "")
    header = header_html(ctx)
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[jinja2.DictLoader({"tributary.html.j2": _NB_TEMPLATE})],
        template_file="tributary.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    resources = {
        "tributary": {
            "csp": CSP,
            "figures": lifted.figures,
            "assets_href": ctx.assets_href,
            "header_html": header,
            "css": _CSS,
            "open_section": lifted.open_section,
        }
    }
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    html = html.replace('<details class="tr-section"', '<details class="tr-section tr-first"', 1)
    return Rendered(html=html, figures=lifted.figures, warnings=ctx.warnings,
                    sources=ctx.sources, summary=ctx.summary)
