"""The layers stay layers: who may import whom, who may call a server, where PromQL lives.

Read from the source (``ast``), so a lazy import inside a function counts as much as one at
the top, and a notebook's code cells are checked like modules:

* ``ground/`` (time, claims, formatting) and ``frames/`` import nothing above them;
  ``promql/`` only those and ``seed``;
* ``analysis/`` is pure: no sources, fetch, reports, notebook, CLI, stack or viz;
* ``viz/`` draws what it is given: no sources, fetch, reports, notebook, CLI or stack;
* ``fetch/`` and ``sources/`` know nothing of notebooks, reports, the CLI or viz;
* only ``sources/`` and ``fetch/`` call a source's query methods (plus the CLI commands
  whose job is to run a user's query against a source: ``prom``, ``logs``, ``traces``);
  the notebooks call none;
* no PromQL outside ``promql/``: not in code, not in a notebook's code cells.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "tributary_analysis"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))

#: layer -> tributary_analysis subpackages/modules it must not import
FORBIDDEN = {
    "ground": {"frames", "promql", "fetch", "sources", "analysis", "viz", "notebook",
               "reports", "cli", "stack", "demo", "config", "seed"},
    "frames": {"promql", "fetch", "sources", "analysis", "viz", "notebook", "reports", "cli",
               "stack", "demo", "config"},
    "promql": {"frames", "fetch", "sources", "analysis", "viz", "notebook", "reports", "cli",
               "stack", "demo", "config"},
    "analysis": {"sources", "fetch", "reports", "notebook", "cli", "stack", "viz", "demo",
                 "config"},
    "viz": {"sources", "fetch", "reports", "notebook", "cli", "stack", "demo"},
    "fetch": {"notebook", "reports", "cli", "viz", "stack", "demo"},
    "sources": {"analysis", "fetch", "notebook", "reports", "cli", "viz", "demo"},
}

#: methods of PrometheusSource / LogSource / trace sources that ask a server: names no
#: other object uses, and common names counted only on a receiver named like a source
SERVER_ONLY_METHODS = {"query_range", "label_names", "label_values", "iter_batches",
                       "top_errors", "exact_percentiles", "find_traces", "get_trace"}
SERVER_METHODS = {"query", "series", "metadata", "targets", "search", "summary", "count",
                  "ping", "spans", "services", "operations"}
SOURCE_NAME = re.compile(r"(?i)prom|source|\bsrc\b|logs|\bes\b|client|jaeger|tempo|trace")
#: modules that are the source access layer, or a CLI command that is one by design
SOURCE_CALLERS = ("sources/", "fetch/", "cli/prom.py", "cli/logs.py", "cli/traces.py")

#: what PromQL looks like: a function or aggregation applied to a selector (or to a
#: number first, for the functions that take one), an aggregation with ``by``/``without``,
#: a range vector, a selector with a matcher, a metric-name matcher
_FUNCS = (r"rate|irate|increase|delta|deriv|histogram_quantile|timestamp|absent|sum|max|min|"
          r"avg|count|topk|bottomk|quantile|stddev|group")
PROMQL = re.compile(
    rf"\b(?:{_FUNCS})\s+(?:by|without)\s*\([^)]*\)\s*\("
    rf"|\b(?:{_FUNCS})\((?!s\))(?=[a-zA-Z_{{:]|$)"
    r"|\b(?:histogram_quantile|topk|bottomk|quantile)\(\s*[\d.]+\s*,"
    r"|\[\s*\d+(?:ms|[smhdwy])\s*\]"
    r"|\b[a-zA-Z_:][\w:]*\{\s*\w+\s*(?:=~|!~|!=|=)\s*\""
    r"|\{__name__\s*=")

def _modules() -> Iterator[tuple[str, ast.Module]]:
    for path in sorted(PKG.rglob("*.py")):
        yield path.relative_to(PKG).as_posix(), ast.parse(path.read_text(encoding="utf-8"))


def _cells() -> Iterator[tuple[str, ast.Module]]:
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        for i, cell in enumerate(book.cells):
            if cell.cell_type == "code":
                yield f"{path.name}#cell{i}", ast.parse(cell.source)


def _imports(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
            for alias in node.names:  # from tributary_analysis import fetch
                yield node.lineno, f"{node.module}.{alias.name}"


def _layer_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "tributary_analysis" else None


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_nothing_above_it(layer: str) -> None:
    bad = []
    for rel, tree in _modules():
        if not rel.startswith(f"{layer}/"):
            continue
        for line, name in _imports(tree):
            target = _layer_of(name)
            if target is not None and target.removesuffix(".py") in FORBIDDEN[layer]:
                bad.append(f"{rel}:{line} imports {name}")
    assert bad == []


def _source_calls(tree: ast.Module) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            receiver, method = ast.unparse(node.func.value), node.func.attr
            if method in SERVER_ONLY_METHODS or (method in SERVER_METHODS
                                                 and SOURCE_NAME.search(receiver)):
                yield node.lineno, f"{receiver}.{method}"

def test_only_sources_and_fetch_call_a_server() -> None:
    assert list(_source_calls(ast.parse("prom.query_range(q); logs.search(a); x.count(1)")))\
        == [(1, "prom.query_range"), (1, "logs.search")]  # the scan sees calls
    bad = []
    for rel, tree in _modules():
        if rel.startswith(SOURCE_CALLERS):
            continue
        bad += [f"{rel}:{line} calls {call}(...)" for line, call in _source_calls(tree)]
    assert bad == []


def test_notebooks_fetch_through_the_fetch_layer() -> None:
    opened = {"open_prometheus", "open_logs", "PrometheusSource", "FileLogs",
              "ElasticsearchLogs"}
    sources: set[str] = set()
    cells = list(_cells())
    for _, tree in cells:  # the names notebooks bind to a source
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
                func = node.value.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in opened:
                    sources |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    assert {"prom", "logs"} <= sources
    bad = [f"{where}:{node.lineno} calls {ast.unparse(node.func)}(...)"
           for where, tree in cells for node in ast.walk(tree)
           if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
           and isinstance(node.func.value, ast.Name) and node.func.value.id in sources]
    assert bad == []

def _docstrings(tree: ast.Module) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) \
                and node.body and isinstance(node.body[0], ast.Expr) \
                and isinstance(node.body[0].value, ast.Constant):
            out.add(id(node.body[0].value))
    return out


def _help_texts(tree: ast.Module) -> set[int]:
    """String constants passed as ``help=`` (click option help is documentation)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "help":
            out |= {id(c) for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
    return out


#: SQL (DuckDB over logs and spans) has min(x), count(...) too: not PromQL
SQL = re.compile(r"\b(?:SELECT|FROM|WHERE|GROUP BY|CREATE|DELETE|INSERT|FILTER)\b")


def looks_like_promql(text: str) -> bool:
    return bool(PROMQL.search(text)) and not SQL.search(text)


def _promql_strings(tree: ast.Module) -> Iterator[tuple[int, str]]:
    skip = _docstrings(tree) | _help_texts(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in skip and looks_like_promql(node.value):
            yield node.lineno, node.value


def test_promql_lives_in_promql_only() -> None:
    bad = [f"{rel}:{line} {text!r}" for rel, tree in _modules()
           if not rel.startswith("promql/") for line, text in _promql_strings(tree)]
    bad += [f"{where}:{line} {text!r}" for where, tree in _cells()
            for line, text in _promql_strings(tree)]
    assert bad == []


@pytest.mark.parametrize("text", [
    "sum(http_requests_total)", "timestamp(deeplake_api_info)",
    'max by (instance) (memory_usage_bytes{memory_type="used"})',
    "sum by (tenant_id, status_code) (increase(http_requests_total[", "[5m]",
    '{__name__="up"}', "histogram_quantile(0.95, x)", "count(", "topk(5, x)",
])
def test_the_promql_detector_sees_promql(text: str) -> None:
    assert looks_like_promql(text)


@pytest.mark.parametrize("text", [
    "sum of the requests", "the 5m window", "rate limit hits", "count: 3 series",
    "window end is not after start", "bins of 2 min", "{tenant} at {time}",
    "request rate (req/s)", "3 timestamp(s) could not be parsed", "count(*) FROM logs",
    "max(0, t - start)", "Burn rate (× budget pace)",
    "SELECT count(DISTINCT page) FROM raw", "SELECT min(start_ns), max(start_ns) FROM spans",
])
def test_the_promql_detector_leaves_prose_alone(text: str) -> None:
    assert not looks_like_promql(text)
