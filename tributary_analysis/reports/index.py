"""``<out>/index.html``: every run of every report, newest first, from the ledger.

Plain HTML, no script, autoescaped: tenant ids and error messages are untrusted text.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import jinja2

from tributary_analysis.reports import ledger

INDEX = "index.html"

_TEMPLATE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>Tributary reports</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f0f2f7}
.ok{color:#176d2b;font-weight:bold}.failed,.timeout{color:#b00020;font-weight:bold}
.err{color:#6b0012;font-size:.85em;max-width:40em}
.summary span{margin-right:1.5em}
</style></head>
<body>
<h1>Tributary reports</h1>
<p class="summary"><span>{{ records|length }} run{{ 's' if records|length != 1 }}</span>
<span class="ok">{{ n_ok }} ok</span><span class="failed">{{ n_failed }} failed</span>
<span>updated {{ updated }}</span></p>
{% if bad %}<p class="failed">{{ bad }} ledger line(s) could not be read and are not listed;
 see runs.jsonl.</p>{% endif %}
{% if not records %}<p>No runs yet: <code>tributary report run</code>.</p>{% else %}
<table id="runs">
<thead><tr><th>Started (UTC)</th><th>Report</th><th>Tenant</th><th>Status</th><th>Window</th>
<th>Duration</th><th>Warnings</th><th>Links</th></tr></thead>
<tbody>
{% for r in records %}
<tr class="run run-{{ r.status }}">
<td>{{ r.started_at }}</td>
<td>{{ r.title }}{% if r.schedule %}<br><small>schedule {{ r.schedule }}</small>{% endif %}</td>
<td>{% if r.tenant is not none %}<code>{{ r.tenant }}</code>{% endif %}</td>
<td class="{{ r.status }}">{{ r.status }}{% if r.error %}<div class="err">{{ r.error
 }}</div>{% endif %}</td>
<td>{{ r.window_start }}<br>{{ r.window_end }}</td>
<td>{{ '%.1f' % r.duration_s }} s</td>
<td>{{ r.warnings }}</td>
<td><a href="{{ r.html }}">report</a>{% if r.notebook_exists %} · <a href="{{ r.notebook
 }}">notebook</a>{% endif %}</td>
</tr>
{% endfor %}
</tbody></table>{% endif %}
</body></html>
"""

_env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_template = _env.from_string(_TEMPLATE)


def write_index(out_dir: Path) -> Path:
    """Regenerate ``out_dir/index.html`` from the ledger; returns its path."""
    records, bad = ledger.read(out_dir)
    rows = []
    for r in sorted(records, key=lambda r: r.started_at, reverse=True):
        row = dict(r.__dict__)
        row["notebook_exists"] = bool(r.notebook) and (out_dir / r.notebook).exists()
        rows.append(row)
    html = _template.render(
        records=rows,
        n_ok=sum(r.ok for r in records),
        n_failed=sum(not r.ok for r in records),
        bad=bad,
        updated=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    path = out_dir / INDEX
    tmp = path.with_suffix(".tmp")
    tmp.write_text(html, encoding="utf-8")
    os.replace(tmp, path)
    return path
