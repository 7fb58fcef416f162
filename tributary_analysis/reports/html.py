"""Executed notebook → one self-explaining HTML page that works offline.

* code hidden (``exclude_input``); a header with the window, the sources, the generation
  time and every warning the sources reported (lifted from the notebook's
  :mod:`~tributary_analysis.reports.outputs` bundles);
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
from nbconvert import HTMLExporter
from nbformat import NotebookNode

from tributary_analysis.reports.failure import Failure
from tributary_analysis.reports.outputs import (
    SOURCES_MIMETYPE,
    WARNINGS_MIMETYPE,
    normalize_sources,
    normalize_warnings,
)

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
# them would reach for a CDN), plus our CSP, header and the two shared scripts.
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
{%- block extra_css -%}
<style type="text/css">{{ resources.tributary.css }}</style>
{%- endblock -%}
{%- block notebook_css -%}
<link rel="stylesheet" href="{{ resources.tributary.assets_href }}/notebook.css">
<style type="text/css">
a.anchor-link{display:none}.jp-InputArea{overflow:hidden}.jp-Collapser{display:none}
.jp-OutputArea-output pre{line-height:inherit;font-family:inherit}
.jp-RenderedText pre{color:var(--jp-content-font-color1);font-size:var(--jp-code-font-size)}
*{-webkit-print-color-adjust:exact}
@media print{.jp-Cell-inputWrapper,.jp-Cell-outputWrapper{display:block}}
</style>
{%- endblock notebook_css -%}
{%- block body_header -%}
{{ super() }}
{{ resources.tributary.header_html }}
{%- endblock body_header -%}
"""

_CSS = """
.tr-header{font-family:system-ui,sans-serif;border-bottom:2px solid #ccd;padding:1em 2em;
  margin-bottom:1em;background:#f7f8fb}
.tr-header h1{margin:0 0 .3em 0;font-size:1.6em}
.tr-header table{border-collapse:collapse;font-size:.92em}
.tr-header td{padding:.1em 1em .1em 0;vertical-align:top}
.tr-header td.k{color:#555;white-space:nowrap}
.tr-status-ok{color:#176d2b;font-weight:bold}
.tr-status-failed,.tr-status-timeout{color:#b00020;font-weight:bold}
.tr-warnings{background:#fff6db;border:1px solid #e0c060;padding:.5em 1em;margin-top:.7em}
.tr-warnings li{margin:.2em 0}
.tr-failure{background:#fdecee;border:2px solid #b00020;padding:.7em 1em;margin-top:.7em}
.tr-failure pre{white-space:pre-wrap;font-size:.85em;max-height:30em;overflow:auto;
  background:#fff;padding:.5em}
.tr-notes{color:#555;font-size:.85em;margin:.5em 0 0 0}
.tributary-figure{width:100%;min-height:420px}
.tributary-figure-error{color:#b00020;min-height:0}
"""

_HEADER = """
<header class="tr-header" id="tributary-header">
<h1>{{ ctx.title }}{% if ctx.tenant is not none %} — tenant <code class="tr-tenant">{{
  ctx.tenant }}</code>{% endif %}</h1>
<table>
<tr><td class="k">Status</td><td class="tr-status-{{ ctx.status }}">{{ ctx.status }}</td></tr>
<tr><td class="k">Window</td><td>{{ ctx.window_start }} → {{ ctx.window_end }}</td></tr>
<tr><td class="k">Sources</td><td>{% for s in ctx.sources %}{{ s.kind }} <code>{{ s.url
  }}</code>{% if not loop.last %}; {% endif %}{% else %}(none reported){% endfor %}</td></tr>
<tr><td class="k">Generated</td><td>{{ ctx.generated_at }}{% if ctx.duration_s is not none
  %} in {{ '%.1f' % ctx.duration_s }} s{% endif %}</td></tr>
{% if ctx.parameters %}<tr><td class="k">Parameters</td><td>{% for k, v in
  ctx.parameters.items() %}<code>{{ k }}={{ v }}</code>{% if not loop.last %}, {% endif
  %}{% endfor %}</td></tr>{% endif %}
<tr><td class="k">Index</td><td><a href="{{ ctx.index_href }}">all reports</a></td></tr>
</table>
{% if ctx.notes %}<p class="tr-notes">{% for n in ctx.notes %}{{ n }}{% if not loop.last
  %} {% endif %}{% endfor %}</p>{% endif %}
{% if ctx.warnings %}
<div class="tr-warnings" id="tributary-warnings"><strong>{{ ctx.warnings|length }}
 warning{{ 's' if ctx.warnings|length != 1 }} from the sources</strong><ul>
{% for w in ctx.warnings %}<li>{% if w.source %}<strong>{{ w.source }}</strong>: {% endif
 %}{{ w.message }}{% if w.query %} <small>(query <code>{{ w.query }}</code>)</small>{% endif
 %}</li>{% endfor %}</ul></div>
{% endif %}
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
</header>
"""

_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_header_template = _env.from_string(_HEADER)


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


@dataclass
class Rendered:
    """An HTML page and what it contained."""

    html: str
    figures: int
    warnings: list[dict[str, str]]
    sources: list[dict[str, str]]


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


def prepare(nb: NotebookNode) -> tuple[int, list[dict[str, str]], list[dict[str, str]]]:
    """Rewrite outputs for the page, in place: figures, markdown escaping, header bundles.

    Returns the figure count, the warnings and the sources the notebook reported.
    """
    figures = 0
    warnings: list[dict[str, str]] = []
    sources: list[dict[str, str]] = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        kept = []
        for out in cell.get("outputs", []):
            data = out.get("data")
            if data is None:
                kept.append(out)
                continue
            if WARNINGS_MIMETYPE in data:
                warnings.extend(normalize_warnings(data[WARNINGS_MIMETYPE]))
            if SOURCES_MIMETYPE in data:
                sources.extend(normalize_sources(data[SOURCES_MIMETYPE]))
            if WARNINGS_MIMETYPE in data or SOURCES_MIMETYPE in data:
                data.pop(WARNINGS_MIMETYPE, None)
                data.pop(SOURCES_MIMETYPE, None)
                if "text/html" not in data:
                    continue  # plain-text echo: the header shows it already
                # a rendered warnings box stays in place: it is context for what follows
            if PLOTLY_MIMETYPE in data:
                out["data"] = {"text/html": _figure_html(data[PLOTLY_MIMETYPE], figures)}
                figures += 1
            elif "text/markdown" in data and "text/html" not in data:
                md = data["text/markdown"]
                md = "".join(md) if isinstance(md, list) else md
                data["text/markdown"] = _MD_RAW_HTML.sub(
                    lambda m: "&lt;" if m.group() == "<" else "&amp;", md)
            kept.append(out)
        cell["outputs"] = kept
    # de-duplicate sources, keep order
    seen: set[tuple[str, str]] = set()
    unique = []
    for s in sources:
        key = (s["kind"], s["url"])
        if key not in seen:
            seen.add(key)
            unique.append(s)
    return figures, warnings, unique


def render_page(nb: NotebookNode | None, ctx: PageContext) -> Rendered:
    """Render ``nb`` (already executed and scrubbed; may be partial or ``None``) as a page.

    ``ctx.warnings``/``ctx.sources`` are extended with what the notebook reported.
    """
    nb = nbformat.v4.new_notebook() if nb is None else nb
    figures, warnings, sources = prepare(nb)
    ctx.warnings = [*ctx.warnings, *warnings]
    ctx.sources = sources or ctx.sources
    nb.metadata["title"] = ctx.title + (f" — {ctx.tenant}" if ctx.tenant is not None else "")
    header = _header_template.render(ctx=ctx)
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
            "figures": figures,
            "assets_href": ctx.assets_href,
            "header_html": header,
            "css": _CSS,
        }
    }
    html, _ = exporter.from_notebook_node(nb, resources=resources)
    return Rendered(html=html, figures=figures, warnings=ctx.warnings, sources=ctx.sources)
