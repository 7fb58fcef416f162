"""``<out>/index.html``: an index that answers — each report's headline and its trend.

Built from the ledger (``runs.jsonl``) and each run's ``summary.json``:

* **index.html** — one card per report with the newest run's status and headline tiles
  (value, assessment), each tile with a sparkline of that number over the report's history
  (inline SVG: works offline, no script); per-tenant reports get one card with the latest
  batch's tenants (the first few, and a link to all of them); then the most recent runs,
  newest first (``#runs``), and links to older pages;
* **index/report-<name>.html** — one report's history, newest first, paginated; for a
  per-tenant report, every tenant's newest answer with its sparklines, paginated;
* **index/tenant-<slug>.html** — one tenant's reports and runs; **index/tenants.html** —
  every tenant, linking there.

The filters (by report, by tenant) are these pages and the links between them, so each
page stays small however many runs there are: 1,000 tenants × 30 days of daily runs give
an index of a few hundred KB, the tenants split over pages of :data:`TENANTS_PER_PAGE`.

Plain HTML, no script, autoescaped: tenant ids, error messages and finding texts are
untrusted text; the page's Content-Security-Policy forbids every script and remote load.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from tributary_analysis.ground import format as fmt
from tributary_analysis.reports import ledger
from tributary_analysis.reports.prepare import tenant_slug

__all__ = ["INDEX", "INDEX_DIR", "RUNS_PER_PAGE", "TENANTS_PER_PAGE", "sparkline_svg",
           "write_index"]

INDEX = "index.html"
#: the index's further pages (report histories, tenants, older runs)
INDEX_DIR = "index"
RUNS_PER_PAGE = 100
TENANTS_PER_PAGE = 100
#: runs a sparkline covers (the newest)
SPARK_RUNS = 30
#: tenants of the newest batch shown on the front page's per-tenant card
FRONT_TENANTS = 8
#: tiles shown per run in a table row
ROW_TILES = 3
GOOD = ("ok", "warning")


@dataclass
class Run:
    """A ledger record with its summary's answer (tiles, findings) when it has one."""

    record: ledger.RunRecord
    status: str
    tiles: list[dict[str, Any]] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)

    @property
    def started(self) -> str:
        return self.record.started_at


def _read_summary(out_dir: Path, record: ledger.RunRecord) -> dict[str, Any] | None:
    rel = (record.artifacts or {}).get("summary")
    if not rel:
        return None
    try:
        doc = json.loads((out_dir / rel).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _run(out_dir: Path, record: ledger.RunRecord) -> Run:
    doc = _read_summary(out_dir, record)
    if doc is None:
        return Run(record, record.status)
    tiles = [t for t in doc.get("headline") or [] if isinstance(t, dict) and t.get("name")]
    findings = [str(f) for f in doc.get("findings") or [] if f]
    status = record.status
    if status == "ok" and doc.get("status") in ("warning", "failed"):
        status = str(doc["status"])
    return Run(record, status, tiles, findings)


# ---------------------------------------------------------------------- sparklines

def _number(v: Any) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def sparkline_svg(values: Sequence[float | None], *, label: str = "", width: int = 110,
                  height: int = 26) -> Markup:
    """An inline SVG line of ``values`` (oldest first; ``None`` gaps are skipped), the last
    point marked; empty with fewer than two numbers. ``label`` becomes its ``<title>``
    (escaped)."""
    pts = [(i, v) for i, v in enumerate(values) if v is not None]
    if len(pts) < 2:
        return Markup("")
    lo = min(v for _, v in pts)
    hi = max(v for _, v in pts)
    span = hi - lo or 1.0
    n = max(len(values) - 1, 1)
    pad = 3

    def xy(i: int, v: float) -> tuple[float, float]:
        x = pad + (width - 2 * pad) * i / n
        y = pad + (height - 2 * pad) * (1 - (v - lo) / span) if hi > lo else height / 2
        return round(x, 1), round(y, 1)

    coords = [xy(i, v) for i, v in pts]
    path = " ".join(f"{x},{y}" for x, y in coords)
    lx, ly = coords[-1]
    title = Markup("<title>{}</title>").format(label) if label else Markup("")
    return Markup(
        '<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img">{t}'
        '<polyline fill="none" stroke="#0072B2" stroke-width="1.5" points="{p}"/>'
        '<circle cx="{x}" cy="{y}" r="2.2" fill="#0072B2"/></svg>').format(
        w=width, h=height, t=title, p=path, x=lx, y=ly)


def _history(runs: Sequence[Run], key: str) -> list[float | None]:
    """The tile ``key``'s values over ``runs`` (oldest first)."""
    out: list[float | None] = []
    for r in runs:
        tile = next((t for t in r.tiles if (t.get("key") or t.get("name")) == key), None)
        out.append(_number(tile.get("value")) if tile else None)
    return out


def _tiles_with_trend(newest: Run, history: Sequence[Run]) -> list[dict[str, Any]]:
    """The newest run's tiles, each with the sparkline of its value over ``history``."""
    out = []
    for t in newest.tiles:
        key = str(t.get("key") or t.get("name"))
        values = _history(history, key)
        numbers = [v for v in values if v is not None]
        label = (f"{t.get('name')}: {len(numbers)} runs" if numbers else "")
        out.append({"name": str(t.get("name", "")), "text": str(t.get("text") or "—"),
                    "assessment": str(t.get("assessment") or "info").replace(" ", "-"),
                    "spark": sparkline_svg(values, label=label)})
    return out


# ---------------------------------------------------------------------- the model

@dataclass
class ReportGroup:
    """One report's runs (newest first) and, for a per-tenant report, its tenants."""

    name: str
    title: str
    runs: list[Run]
    per_tenant: bool
    by_tenant: dict[str | None, list[Run]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for r in self.runs:  # newest first, as the runs
            self.by_tenant.setdefault(r.record.tenant, []).append(r)

    @property
    def newest(self) -> Run:
        return self.runs[0]

    def of(self, tenant: str | None) -> list[Run]:
        """The runs for ``tenant`` (``None``: runs without one), newest first."""
        return self.by_tenant.get(tenant, [])

    def chronological(self, tenant: str | None) -> list[Run]:
        """The newest :data:`SPARK_RUNS` runs for ``tenant``, oldest first (a trend)."""
        return list(reversed(self.of(tenant)[:SPARK_RUNS]))


def _groups(runs: Sequence[Run]) -> list[ReportGroup]:
    by: dict[str, list[Run]] = {}
    for r in runs:  # newest first already
        by.setdefault(r.record.report, []).append(r)
    groups = []
    for name, rs in by.items():
        per_tenant = any(r.record.tenant is not None for r in rs)
        groups.append(ReportGroup(name, rs[0].record.title or name, rs, per_tenant))
    return groups


def _when(text: str) -> str:
    """``2026-01-31 12:00 UTC`` (the formatting layer's instants), or the text itself."""
    return fmt.timestamp(text) if text else fmt.MISSING


def _window(start: str, end: str) -> str:
    """``2026-01-30 12:00 → 2026-01-31 12:00 UTC``."""
    a, b = _when(start), _when(end)
    return f"{a.removesuffix(' UTC')} → {b}" if a.endswith(" UTC") else f"{a} → {b}"


def _row(r: Run, prefix: str) -> dict[str, Any]:
    rec = r.record
    return {"started_at": _when(rec.started_at), "title": rec.title,
            "schedule": rec.schedule, "tenant": rec.tenant, "status": r.status,
            "error": rec.error, "window": _window(rec.window_start, rec.window_end),
            "duration_s": rec.duration_s, "warnings": rec.warnings,
            "html": prefix + rec.html,
            "notebook": prefix + rec.notebook if rec.notebook else "",
            "notebook_exists": bool(rec.notebook),
            "answer": [{"name": str(t.get("name", "")), "text": str(t.get("text") or "—"),
                        "assessment": str(t.get("assessment") or "info").replace(" ", "-")}
                       for t in r.tiles[:ROW_TILES]],
            "tenant_href": (f"{prefix}{INDEX_DIR}/tenant-{tenant_slug(rec.tenant)}.html"
                            if rec.tenant is not None else "")}


def _card(group: ReportGroup, prefix: str, *, tenant: str | None = None) -> dict[str, Any]:
    runs = group.of(tenant) if tenant is not None else group.runs
    newest = runs[0]
    return {"name": group.name, "title": group.title, "status": newest.status,
            "started_at": _when(newest.started),
            "window": _window(newest.record.window_start, newest.record.window_end),
            "html": prefix + newest.record.html,
            "tenant": tenant, "runs": len(runs),
            "tiles": _tiles_with_trend(newest, group.chronological(newest.record.tenant)),
            "findings": newest.findings[:2],
            "history_href": f"{prefix}{INDEX_DIR}/report-{group.name}.html"}


def _tenant_card(group: ReportGroup, prefix: str, *, limit: int | None) -> dict[str, Any]:
    newest = group.newest
    batch = [r for r in group.runs if r.record.batch == newest.record.batch] \
        if newest.record.batch else [newest]
    latest = {t: rs[0] for t, rs in group.by_tenant.items() if t is not None and rs}
    counts: dict[str, int] = {}
    for r in latest.values():  # each tenant's newest run
        counts[r.status] = counts.get(r.status, 0) + 1
    shown = [t for t in dict.fromkeys(r.record.tenant for r in batch) if t is not None]
    shown += [t for t in latest if t not in shown]
    if limit is not None:
        shown = shown[:limit]
    rows = []
    for t in shown:
        r = latest[t]
        rows.append({**_row(r, prefix), "tiles": _tiles_with_trend(
            r, group.chronological(t))[:ROW_TILES + 1]})
    return {"name": group.name, "title": group.title, "tenants": len(latest),
            "batch_runs": len(batch), "counts": sorted(counts.items()),
            "started_at": _when(newest.started), "rows": rows,
            "history_href": f"{prefix}{INDEX_DIR}/report-{group.name}.html"}


# ---------------------------------------------------------------------- pages

_BASE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{{ page_title }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#222;max-width:1500px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.2em;margin:1.2em 0 .4em}
a{color:#0b57a8}
nav.filters{margin:.6em 0 1em;font-size:.92em;line-height:1.9}
nav.filters a,nav.filters span.here{margin-right:.35em;padding:.1em .45em;border:1px solid #ccd;
 border-radius:4px;text-decoration:none;white-space:nowrap}
nav.filters span.here{background:#0b57a8;color:#fff;border-color:#0b57a8}
table{border-collapse:collapse;width:100%;font-size:.9em}
th,td{border-bottom:1px solid #ddd;padding:.3em .5em;text-align:left;vertical-align:top}
th{background:#f0f2f7}
.ok{color:#176d2b;font-weight:bold}.warning{color:#8a5a00;font-weight:bold}
.failed,.timeout{color:#b00020;font-weight:bold}
.err{color:#6b0012;font-size:.85em;max-width:40em;overflow-wrap:anywhere}
.summary span{margin-right:1.5em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(430px,1fr));gap:12px}
.card{border:1px solid #d5d8e0;border-radius:6px;padding:.6em .8em;background:#fff}
.card h3{margin:0 0 .2em;font-size:1.05em}.card .meta{font-size:.82em;color:#555}
.tiles{display:flex;flex-wrap:wrap;gap:6px;margin:.5em 0}
.tile{border:1px solid #e0e3ea;border-left:4px solid #9aa3b5;border-radius:4px;padding:.2em .45em;
 min-width:120px;font-size:.82em}
.tile .v{font-size:1.25em;font-weight:700;overflow-wrap:anywhere}
.t-worse,.t-critical,.t-failed{border-left-color:#c62828}.t-warning{border-left-color:#e0a000}
.t-ok,.t-better{border-left-color:#2e7d32}.t-withheld .v{font-size:.95em;color:#555;font-weight:600}
.mini{font-size:.85em}.mini .tile{min-width:0;padding:.1em .35em}.mini .tile .v{font-size:1.05em}
.findings{font-size:.85em;margin:.3em 0 0 1.1em;padding:0}
svg.spark{display:block;margin-top:2px}
.pages{margin:.8em 0;font-size:.9em}
code{overflow-wrap:anywhere}
td.when,#runs td:first-child{white-space:nowrap}
</style></head>
<body>
<h1>{{ heading }}</h1>
<p class="summary"><span>{{ n_runs }} run{{ 's' if n_runs != 1 }}</span>
<span class="ok">{{ n_ok }} ok</span>{% if n_warning %}<span class="warning">{{ n_warning }}
 warning</span>{% endif %}<span class="failed">{{ n_failed }} failed</span>
<span>updated {{ updated }}</span>{% if up %}<span><a href="{{ up }}">all reports</a>
</span>{% endif %}</p>
{% if bad %}<p class="failed">{{ bad }} ledger line(s) could not be read and are not listed;
 see runs.jsonl.</p>{% endif %}
<nav class="filters" aria-label="Filters">Report:
{% for f in report_filters %}{% if f.here %}<span class="here">{{ f.title }}</span>{% else %}
<a href="{{ f.href }}">{{ f.title }}</a>{% endif %}
{% endfor %}{% if tenants_href %}· Tenant: <a href="{{ tenants_href }}">{{ n_tenants }}
 tenant{{ 's' if n_tenants != 1 }}</a>{% endif %}</nav>
{{ body }}
</body></html>
"""

_TILES = """{%- macro tiles(ts, cls='') -%}<div class="tiles {{ cls }}">{% for t in ts %}
<div class="tile t-{{ t.assessment }}"><div>{{ t.name }}</div><div class="v">{{ t.text }}</div>
{{ t.spark if t.spark }}</div>{% endfor %}</div>{%- endmacro -%}
{%- macro runs_table(rows, table_id='runs') -%}
<table id="{{ table_id }}">
<thead><tr><th>Started (UTC)</th><th>Report</th><th>Tenant</th><th>Status</th><th>Answer</th>
<th>Window</th><th>Duration</th><th>Warnings</th><th>Links</th></tr></thead>
<tbody>
{% for r in rows %}
<tr class="run run-{{ r.status }}">
<td>{{ r.started_at }}</td>
<td>{{ r.title }}{% if r.schedule %}<br><small>schedule {{ r.schedule }}</small>{% endif %}</td>
<td>{% if r.tenant is not none %}<a href="{{ r.tenant_href }}"><code>{{ r.tenant }}</code>
</a>{% endif %}</td>
<td class="{{ r.status }}">{{ r.status }}{% if r.error %}<div class="err">{{ r.error
 }}</div>{% endif %}</td>
<td>{% if r.answer %}<div class="tiles mini">{% for t in r.answer %}<div class="tile t-{{
 t.assessment }}">{{ t.name }}<div class="v">{{ t.text }}</div></div>{% endfor %}</div>{% endif %}
</td>
<td class="when">{{ r.window }}</td>
<td>{{ '%.1f' % r.duration_s }} s</td>
<td>{{ r.warnings }}</td>
<td><a href="{{ r.html }}">report</a>{% if r.notebook_exists %} · <a href="{{ r.notebook
 }}">notebook</a>{% endif %}</td>
</tr>
{% endfor %}
</tbody></table>{%- endmacro -%}
{%- macro pages(links) -%}{% if links|length > 1 %}<p class="pages">Pages: {% for p in links %}
{% if p.here %}<b>{{ p.n }}</b>{% else %}<a href="{{ p.href }}">{{ p.n }}</a>{% endif %}
{% endfor %}</p>{% endif %}{%- endmacro -%}
{%- macro card(c) -%}<div class="card"><h3><a href="{{ c.history_href }}">{{ c.title }}</a>
{% if c.tenant is not none %}· <code>{{ c.tenant }}</code>{% endif %}</h3>
<div class="meta"><span class="{{ c.status }}">{{ c.status }}</span> · {{ c.started_at }} ·
 window {{ c.window }} · <a href="{{ c.html }}">newest report</a> ·
 {{ c.runs }} run{{ 's' if c.runs != 1 }}</div>
{% if c.tiles %}{{ tiles(c.tiles) }}{% else %}<p class="meta">No headline in its summary.
</p>{% endif %}
{% if c.findings %}<ul class="findings">{% for f in c.findings %}<li>{{ f }}</li>{% endfor %}
</ul>{% endif %}
</div>{%- endmacro -%}
{%- macro tenant_card(c, more) -%}<div class="card" style="grid-column:1/-1">
<h3><a href="{{ c.history_href }}">{{ c.title }}
</a> · {{ c.tenants }} tenant{{ 's' if c.tenants != 1 }}</h3>
<div class="meta">newest run {{ c.started_at }} · each tenant's newest run:
 {% for s, n in c.counts %}
<span class="{{ s }}">{{ n }} {{ s }}</span>{{ ', ' if not loop.last }}{% endfor %}</div>
<table class="tenants"><thead><tr><th>Tenant</th><th>Status</th>
<th>Newest answer (trend over its runs)</th><th>Links</th></tr></thead><tbody>
{% for r in c.rows %}<tr class="tenant-row run-{{ r.status }}"><td><a href="{{ r.tenant_href }}">
<code>{{ r.tenant }}</code></a></td>
<td class="{{ r.status }}">{{ r.status }}</td><td>{{ tiles(r.tiles, 'mini') }}</td>
<td><a href="{{ r.html }}">report</a></td></tr>{% endfor %}</tbody></table>
{% if more %}<p class="meta"><a href="{{ c.history_href }}">All {{ c.tenants }} tenants →</a>
</p>{% endif %}
</div>{%- endmacro -%}"""

_FRONT = _TILES + """
{% if not groups %}<p>No runs yet: <code>tributary report run</code>.</p>{% else %}
<h2>Latest answers</h2>
<div class="cards">{% for c in cards %}{{ card(c) }}{% endfor %}
{% for c in tenant_cards %}{{ tenant_card(c, c.tenants > c.rows|length) }}{% endfor %}</div>
<h2>Recent runs</h2>
{{ runs_table(rows) }}
{% if older %}<p class="pages">{{ older }} older run{{ 's' if older != 1 }}: on each report's
 page (filters above) and each tenant's page.</p>{% endif %}{% endif %}"""

_REPORT = _TILES + """
{% if tenant_card_ %}{{ tenant_card(tenant_card_, false) }}{{ pages(page_links) }}
<p class="meta">Each tenant's runs are on its page (the tenant's link).</p>
{% else %}<div class="cards">{{ card(card_) }}</div>
<h2>Runs, newest first</h2>
{{ runs_table(rows) }}
{{ pages(page_links) }}{% endif %}"""

_TENANT = _TILES + """
<div class="cards">{% for c in cards %}{{ card(c) }}{% endfor %}</div>
<h2>Runs, newest first</h2>
{{ runs_table(rows) }}"""

_TENANTS = """<table id="tenants"><thead><tr><th>Tenant</th><th>Reports</th><th>Newest run</th>
<th>Status</th></tr></thead><tbody>
{% for t in tenants %}<tr><td><a href="{{ t.href }}"><code>{{ t.tenant }}</code></a></td>
<td>{{ t.reports }}</td><td>{{ t.started_at }}</td><td class="{{ t.status }}">{{ t.status }}</td>
</tr>
{% endfor %}</tbody></table>
{% if page_links|length > 1 %}<p class="pages">Pages: {% for p in page_links %}
{% if p.here %}<b>{{ p.n }}</b>{% else %}<a href="{{ p.href }}">{{ p.n }}</a>{% endif %}
{% endfor %}</p>{% endif %}"""


_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_base = _env.from_string(_BASE)
_templates = {name: _env.from_string(src) for name, src in (
    ("front", _FRONT), ("report", _REPORT), ("tenant", _TENANT), ("tenants", _TENANTS))}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _pages(n_items: int, per_page: int, href: Any, here: int) -> list[dict[str, Any]]:
    count = max(1, math.ceil(n_items / per_page))
    return [{"n": i, "href": href(i), "here": i == here} for i in range(1, count + 1)]


@dataclass
class _Site:
    out_dir: Path
    runs: list[Run]
    bad: int
    groups: list[ReportGroup]
    updated: str

    @cached_property
    def counts(self) -> dict[str, int]:
        return {"n_runs": len(self.runs),
                "n_ok": sum(r.status == "ok" for r in self.runs),
                "n_warning": sum(r.status == "warning" for r in self.runs),
                "n_failed": sum(r.status not in GOOD for r in self.runs)}

    @cached_property
    def tenants(self) -> list[str]:
        return sorted({r.record.tenant for r in self.runs if r.record.tenant is not None})

    def page(self, template: str, *, heading: str, prefix: str, here: str = "",
             up: str = "", **context: Any) -> str:
        body = _templates[template].render(**context)
        filters = [{"title": "All", "href": f"{prefix}{INDEX}", "here": here == ""}]
        filters += [{"title": g.title, "href": f"{prefix}{INDEX_DIR}/report-{g.name}.html",
                     "here": here == g.name} for g in self.groups]
        n_tenants = len(self.tenants)
        return _base.render(
            page_title=heading, heading=heading, body=Markup(body), bad=self.bad,
            updated=self.updated, report_filters=filters, up=up,
            tenants_href=f"{prefix}{INDEX_DIR}/tenants.html" if n_tenants else "",
            n_tenants=n_tenants, **self.counts)


def _load(out_dir: Path) -> tuple[list[Run], int]:
    records, bad = ledger.read(out_dir)
    ordered = sorted(records, key=lambda r: (r.started_at, r.run_id), reverse=True)
    return [_run(out_dir, r) for r in ordered], bad


def write_index(out_dir: Path) -> Path:
    """Regenerate ``out_dir/index.html`` and the pages under ``out_dir/index/`` from the
    ledger and the runs' summaries; returns the front page's path."""
    out_dir = Path(out_dir)
    runs, bad = _load(out_dir)
    site = _Site(out_dir, runs, bad, _groups(runs),
                 fmt.timestamp(datetime.now(UTC)))
    sub = out_dir / INDEX_DIR
    _front_and_runs(site, sub)
    written = {p.name for p in _report_pages(site, sub)}
    written |= {p.name for p in _tenant_pages(site, sub)}
    _remove_stale(sub, written)
    return out_dir / INDEX


def _front_and_runs(site: _Site, sub: Path) -> None:
    runs = site.runs
    cards = [_card(g, "") for g in site.groups if not g.per_tenant]
    tenant_cards = [_tenant_card(g, "", limit=FRONT_TENANTS) for g in site.groups
                    if g.per_tenant]
    _write(site.out_dir / INDEX, site.page(
        "front", heading="Tributary reports", prefix="", groups=site.groups, cards=cards,
        tenant_cards=tenant_cards, rows=[_row(r, "") for r in runs[:RUNS_PER_PAGE]],
        older=max(len(runs) - RUNS_PER_PAGE, 0)))


def _report_pages(site: _Site, sub: Path) -> list[Path]:
    """One report's pages: its runs, newest first (a per-tenant report: every tenant's
    newest answer instead; each tenant's runs are on the tenant's page)."""
    written = []
    for g in site.groups:
        if g.per_tenant:
            card = _tenant_card(g, "../", limit=None)
            items, per = len(card["rows"]), TENANTS_PER_PAGE
        else:
            card, items, per = _card(g, "../"), len(g.runs), RUNS_PER_PAGE
        n_pages = max(1, math.ceil(items / per))

        def href(k: int, g: ReportGroup = g) -> str:
            return f"report-{g.name}.html" if k == 1 else f"report-{g.name}-{k}.html"

        for i in range(1, n_pages + 1):
            links = _pages(items, per, href, i)
            if g.per_tenant:
                context: dict[str, Any] = {
                    "tenant_card_": {**card, "rows": card["rows"][(i - 1) * per:i * per]},
                    "card_": None, "rows": [], "page_links": links}
            else:
                context = {"tenant_card_": None, "card_": card, "page_links": links,
                           "rows": [_row(r, "../") for r in g.runs[(i - 1) * per:i * per]]}
            path = sub / href(i)
            _write(path, site.page("report", heading=g.title, prefix="../", here=g.name,
                                   up="../" + INDEX, **context))
            written.append(path)
    return written


def _tenant_pages(site: _Site, sub: Path) -> list[Path]:
    by: dict[str, list[Run]] = {}
    for r in site.runs:
        if r.record.tenant is not None:
            by.setdefault(r.record.tenant, []).append(r)
    written = []
    listing = []
    for tenant in sorted(by):
        runs = by[tenant]
        slug = tenant_slug(tenant)
        cards = [_card(g, "../", tenant=tenant) for g in site.groups if g.of(tenant)]
        path = sub / f"tenant-{slug}.html"
        _write(path, site.page("tenant", heading=f"Tenant {tenant}", prefix="../",
                               up="../" + INDEX, cards=cards,
                               rows=[_row(r, "../") for r in runs[:RUNS_PER_PAGE]]))
        written.append(path)
        listing.append({"tenant": tenant, "href": f"tenant-{slug}.html",
                        "reports": ", ".join(sorted({r.record.title for r in runs})),
                        "started_at": _when(runs[0].started), "status": runs[0].status})
    n_pages = max(1, math.ceil(len(listing) / (TENANTS_PER_PAGE * 5)))
    per = TENANTS_PER_PAGE * 5
    for i in range(1, n_pages + 1):
        name = "tenants.html" if i == 1 else f"tenants-{i}.html"
        path = sub / name
        _write(path, site.page(
            "tenants", heading="Tenants", prefix="../", up="../" + INDEX,
            tenants=listing[(i - 1) * per:i * per],
            page_links=_pages(len(listing), per, lambda k: "tenants.html" if k == 1
                              else f"tenants-{k}.html", i)))
        written.append(path)
    return written


def _remove_stale(sub: Path, keep: Iterable[str]) -> None:
    """Pages of reports, tenants or run pages that no longer exist (retention pruned them)."""
    keep = set(keep)
    if not sub.is_dir():
        return
    for p in sub.glob("*.html"):
        if p.name not in keep:
            p.unlink(missing_ok=True)


def summaries(out_dir: Path) -> Mapping[str, dict[str, Any]]:
    """Every run's summary document by run id (for tools and tests)."""
    runs, _ = _load(Path(out_dir))
    out = {}
    for r in runs:
        doc = _read_summary(Path(out_dir), r.record)
        if doc is not None:
            out[r.record.run_id] = doc
    return out
