"""Template variables: their values, and how they enter PromQL without becoming syntax.

A variable's value is untrusted text (a tenant id picked from a list, typed into a text box,
or passed as a report parameter), so :func:`interpolate` looks at *where* each reference
stands in the expression:

* inside a double- or single-quoted string after ``=``/``!=`` (or anywhere else in a string)
  the value is escaped as a PromQL string, so ``"}`` stays two characters of a label value;
* inside a string after ``=~``/``!~`` every value is first regex-escaped (RE2, as Go's
  ``QuoteMeta``) and several values are joined as ``(a|b)`` — the value matches literally.
  This is stricter than Grafana, whose ``:pipe``/``:raw`` formats let a value act as a
  regular expression; only the dashboard's own ``allValue`` (written by its author) stays
  a regular expression;
* outside any string (``[$interval]``, ``by ($label)``, ``topk($n, …)``) only durations,
  numbers and names are accepted; anything else is refused with the variable named.

Reference forms are Grafana's: ``$var``, ``${var}``, ``${var:format}``, ``[[var]]``,
``[[var:format]]``. Multi-value and ``All`` behave as in Grafana: ``All`` without a custom
``allValue`` is every option's value. The built-ins ``$__interval``, ``$__interval_ms``,
``$__rate_interval``, ``$__rate_interval_ms``, ``$__range``, ``$__range_s``,
``$__range_ms``, ``$__from`` and ``$__to`` come from :mod:`.plan`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote as urlquote

from tributary_analysis.dashboards.model import Dashboard, Variable, _js_regex
from tributary_analysis.errors import DataError
from tributary_analysis.promql import escape_label_value, escape_regex

__all__ = ["Binding", "interpolate", "parse_overrides", "references", "resolve_variables"]

#: Grafana's reference syntax: $var | [[var:fmt]] | ${var.field:fmt}
_REF = re.compile(r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:}]+))?(?::([^}]+))?\}")
_SAFE_BARE = re.compile(r"(?:\d+(?:ms|[smhdwy]))+|[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|"
                        r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_ALL = "$__all"
FORMATS = ("regex", "pipe", "csv", "raw", "text", "glob", "json", "doublequote",
           "singlequote", "percentencode", "queryparam", "date")


@dataclass(frozen=True)
class Binding:
    """A variable's resolved value(s)."""

    name: str
    values: tuple[str, ...]
    texts: tuple[str, ...] = ()
    is_all: bool = False
    all_value: str | None = None  # the author's custom All value (a regex), used raw
    multi: bool = False
    include_all: bool = False
    notes: tuple[str, ...] = ()

    @property
    def display(self) -> str:
        if self.is_all:
            return "All"
        return ", ".join(self.texts or self.values) or "(empty)"


def references(expr: str) -> list[str]:
    """Names of the variables ``expr`` refers to, in order (built-ins included)."""
    return list(dict.fromkeys(next(g for g in (m.group(1), m.group(2), m.group(4)) if g)
                              for m in _REF.finditer(expr)))


def parse_overrides(raw: Mapping[str, Any] | Sequence[str] | str | None
                    ) -> dict[str, tuple[str, ...]]:
    """Report parameters for variables: ``{"tenant": "acme"}``, ``{"tenant": ["a", "b"]}``
    or ``["tenant=a", "tenant=b"]`` (what ``-p variables=[...]`` and ``--var`` give).

    Examples
    --------
    >>> parse_overrides(["tenant=a", "tenant=b", "job=api"])
    {'tenant': ('a', 'b'), 'job': ('api',)}
    """
    if raw in (None, "", [], {}):
        return {}
    out: dict[str, list[str]] = {}
    if isinstance(raw, Mapping):
        for k, v in raw.items():
            vals = v if isinstance(v, list | tuple) else [v]
            out[str(k)] = [str(x) for x in vals]
    else:
        items = [raw] if isinstance(raw, str) else list(raw)
        for item in items:
            name, sep, value = str(item).partition("=")
            if not sep or not re.fullmatch(r"\w+", name.strip()):
                raise DataError(f"variable value {item!r}: write NAME=VALUE, e.g. "
                                "tenant=acme (repeat the name for several values)")
            out.setdefault(name.strip(), []).append(value)
    return {k: tuple(v) for k, v in out.items()}


# ---------------------------------------------------------------------- resolution

LabelValues = Callable[[str, str | None], list[str]]
"""``(label, match_selector_or_None) -> values``: the safe client's label values API."""


@dataclass
class _Resolver:
    board: Dashboard
    overrides: Mapping[str, tuple[str, ...]]
    label_values: LabelValues | None
    builtins: Mapping[str, str]
    notes: list[str] = field(default_factory=list)


def resolve_variables(board: Dashboard, overrides: Mapping[str, tuple[str, ...]] | None = None,
                      *, label_values: LabelValues | None = None,
                      builtins: Mapping[str, str] | None = None,
                      auto_interval: Callable[[Variable], str] | None = None
                      ) -> tuple[dict[str, Binding], list[str]]:
    """Every variable's value, in declaration order (later ones may use earlier ones).

    Parameters
    ----------
    board : Dashboard
    overrides : mapping
        Values the report was given (:func:`parse_overrides`); ``All`` or ``$__all`` picks
        every option. Values are not checked against the options: they are escaped anyway,
        and the page says when one is not among them.
    label_values : callable, optional
        Fetches ``label_values(...)`` options (the Prometheus source's label values API).
    builtins : mapping
        ``__interval``, ``__range`` … for variable queries that use them.
    auto_interval : callable, optional
        The value of an interval variable's ``auto`` option.

    Returns
    -------
    (bindings, notes)
        ``notes`` are sentences for the page (unknown override names, values outside the
        options, ad-hoc filters not applied).
    """
    overrides = dict(overrides or {})
    notes: list[str] = []
    known = {v.name for v in board.variables}
    for name in sorted(set(overrides) - known):
        raise DataError(f"dashboard {board.title!r} has no variable {name!r}; its variables: "
                        f"{', '.join(sorted(known)) or '(none)'}")
    out: dict[str, Binding] = {}
    for var in board.variables:
        binding = _resolve_one(var, overrides.get(var.name), out, label_values,
                               dict(builtins or {}), auto_interval)
        out[var.name] = binding
        notes.extend(binding.notes)
    return out, notes


def _options(var: Variable, bound: Mapping[str, Binding], label_values: LabelValues | None,
             builtins: Mapping[str, str]) -> tuple[list[tuple[str, str]], list[str]]:
    notes: list[str] = []
    if var.type == "custom":
        if var.options:
            return list(var.options), notes
        pairs = []
        for part in _split_custom(var.query):
            text, sep, value = part.partition(" : ")
            pairs.append((text.strip(), value.strip()) if sep else (part, part))
        return pairs, notes
    if var.type == "interval":
        return [(v, v) for v in (x.strip() for x in var.query.split(",")) if v], notes
    if var.type == "query":
        values = _query_options(var, bound, label_values, builtins)
        if var.regex:
            values = _apply_regex(var, values)
        values = _sorted(values, var.sort)
        return values, notes
    return list(var.options), notes


def _resolve_one(var: Variable, given: tuple[str, ...] | None, bound: Mapping[str, Binding],
                 label_values: LabelValues | None, builtins: Mapping[str, str],
                 auto_interval: Callable[[Variable], str] | None) -> Binding:
    def make(values: tuple[str, ...], **kw: Any) -> Binding:
        return Binding(var.name, values, multi=var.multi, include_all=var.include_all,
                       all_value=var.all_value, **kw)

    if var.type == "constant":
        return make((var.query,))
    if var.type == "textbox":
        value = given[0] if given else (var.current[0] if var.current else var.query)
        return make((value,))
    if var.type == "datasource":
        return make(("prometheus",), texts=("the configured Prometheus",))
    if var.type == "adhoc":
        adhoc = (f"ad-hoc filter variable ${var.name} ({len(var.filters)} filter(s)) is not "
                 "applied: the panels show unfiltered data",) if var.filters else ()
        return make((), notes=adhoc)
    options, _n = _options(var, bound, label_values, builtins)
    values_of = [v for _t, v in options]
    text_of = dict((v, t) for t, v in options)
    notes: list[str] = []
    if given:
        if len(given) == 1 and given[0] in ("All", _ALL) and (var.include_all or var.multi):
            chosen, is_all = values_of, True
        else:
            chosen, is_all = list(given), False
            if len(given) > 1 and not var.multi:
                raise DataError(f"variable ${var.name} takes one value (it is not "
                                f"multi-value); got {len(given)}: {', '.join(given)}")
            outside = [g for g in given if values_of and g not in values_of]
            if outside:
                notes.append(f"${var.name}: {len(outside)} value(s) not among the "
                             f"dashboard's options ({', '.join(outside[:3])}); they are "
                             "queried as given (matched literally)")
    elif var.current_all:
        chosen, is_all = values_of, True
    elif var.current:
        chosen, is_all = list(var.current), False
    else:
        chosen, is_all = values_of[:1], False  # Grafana's default: the first option
    if var.type == "interval" and var.auto and chosen in (["$__auto_interval"], ["auto"]) \
            and auto_interval is not None:
        chosen = [auto_interval(var)]
    if not chosen and not (is_all and var.all_value):
        notes.append(f"${var.name} has no value (its query found no options)")
    return make(tuple(chosen), texts=tuple(text_of.get(c, c) for c in chosen),
                is_all=is_all, notes=tuple(notes))


def _split_custom(query: str) -> list[str]:
    """Grafana's custom variable list: comma-separated, ``\\,`` escapes a comma."""
    parts = re.split(r"(?<!\\),", query)
    return [p.replace("\\,", ",").strip() for p in parts if p.strip()]


_LABEL_VALUES = re.compile(r"^\s*label_values\(\s*(?:(.*?)\s*,\s*)?([a-zA-Z_]\w*)\s*\)\s*$",
                           re.S)


def _query_options(var: Variable, bound: Mapping[str, Binding],
                   label_values: LabelValues | None, builtins: Mapping[str, str]
                   ) -> list[tuple[str, str]]:
    m = _LABEL_VALUES.match(var.query)
    if not m:
        raise DataError(f"variable ${var.name}: query {var.query!r} is not supported; the "
                        "report reads label_values(label) and label_values(selector, label) "
                        "— or pass its value with --var "
                        f"{var.name}=VALUE")
    if label_values is None:
        raise DataError(f"variable ${var.name} needs the Prometheus source to list its "
                        "options; pass its value with --var")
    match = m.group(1)
    if match:
        match = interpolate(match, bound, builtins, where=f"variable ${var.name}")
    values = label_values(m.group(2), match or None)
    return [(v, v) for v in values]


def _apply_regex(var: Variable, options: list[tuple[str, str]]) -> list[tuple[str, str]]:
    try:
        rx = re.compile(_js_regex(var.regex))
    except re.error as exc:
        raise DataError(f"variable ${var.name}: regex {var.regex!r} is invalid ({exc})"
                        ) from exc
    out = []
    for text, value in options:
        m = rx.search(value)
        if not m:
            continue
        groups = m.groupdict()
        if groups.get("value") is not None or groups.get("text") is not None:
            v = groups.get("value") or groups.get("text") or value
            out.append((groups.get("text") or v, v))
        elif m.groups():
            out.append((m.group(1), m.group(1)))
        else:
            out.append((text, value))
    return list(dict.fromkeys(out))


def _sorted(options: list[tuple[str, str]], mode: int) -> list[tuple[str, str]]:
    if mode in (1, 2):
        return sorted(options, key=lambda o: o[0], reverse=mode == 2)
    if mode in (3, 4):
        def num(o: tuple[str, str]) -> float:
            m = re.search(r"-?\d+(\.\d+)?", o[0])
            return float(m.group()) if m else float("inf")
        return sorted(options, key=num, reverse=mode == 4)
    if mode in (5, 6):
        return sorted(options, key=lambda o: o[0].lower(), reverse=mode == 6)
    return options


# ---------------------------------------------------------------------- interpolation


def _contexts(expr: str) -> list[tuple[int, int, str, str]]:
    """String literals of ``expr``: ``(start, end, quote, matcher_op)`` (``end`` exclusive,
    quotes included); ``matcher_op`` is the ``=``/``!=``/``=~``/``!~`` before it, or ``""``."""
    out = []
    i, n = 0, len(expr)
    while i < n:
        ch = expr[i]
        if ch == "#":  # a comment runs to the end of the line
            j = expr.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch in "\"'`":
            j = i + 1
            while j < n and expr[j] != ch:
                j += 2 if (expr[j] == "\\" and ch != "`") else 1
            end = min(j + 1, n)
            k = i - 1
            while k >= 0 and expr[k].isspace():
                k -= 1
            op = ""
            if k >= 0 and expr[k] in "=~":
                op = expr[max(0, k - 1):k + 1] if k >= 1 and expr[k - 1] in "=!" else expr[k]
                op = {"==": "="}.get(op, op)
            out.append((i, end, ch, op))
            i = end
            continue
        i += 1
    return out


def _escape_single(value: str) -> str:
    return escape_label_value(value).replace('\\"', '"').replace("'", "\\'")


def _format(b: Binding, fmt: str | None, regex_ctx: bool, where: str) -> str:
    """The Grafana-formatted text of a binding (before string escaping)."""
    if b.is_all and b.all_value is not None and fmt in (None, "regex", "pipe", "raw"):
        return b.all_value  # the author's own regex
    values = list(b.texts if fmt == "text" else b.values)
    if regex_ctx or fmt == "regex":
        values = [escape_regex(v) for v in values]
        if fmt == "pipe":
            return "|".join(values)
        return values[0] if len(values) == 1 else "(" + "|".join(values) + ")"
    if fmt is None and len(values) > 1:
        return "(" + "|".join(values) + ")"  # Grafana's shape; only =~ can use it
    if fmt in (None, "raw", "text"):
        return ",".join(values) if len(values) > 1 else (values[0] if values else "")
    if fmt == "pipe":
        return "|".join(values)
    if fmt == "csv":
        return ",".join(values)
    if fmt == "glob":
        return values[0] if len(values) == 1 else "{" + ",".join(values) + "}"
    if fmt == "json":
        return json.dumps(values if len(values) != 1 else values[0])
    if fmt == "doublequote":
        return ",".join(f'"{v}"' for v in values)
    if fmt == "singlequote":
        return ",".join(f"'{v}'" for v in values)
    if fmt in ("percentencode", "queryparam"):
        if fmt == "queryparam":
            return "&".join(f"var-{b.name}={urlquote(v, safe='')}" for v in values)
        return urlquote(",".join(values), safe="")
    raise DataError(f"{where}: format {fmt!r} of ${{{b.name}:{fmt}}} is not supported; use "
                    f"one of {', '.join(FORMATS)}")


def interpolate(expr: str, bindings: Mapping[str, Binding], builtins: Mapping[str, str],
                *, where: str = "query", notes: list[str] | None = None) -> str:
    """``expr`` with every variable reference replaced safely for where it stands.

    Examples
    --------
    >>> b = {"tenant": Binding("tenant", ('a"}or vector(1)#',))}
    >>> interpolate('up{tenant_id="$tenant"}', b, {})
    'up{tenant_id="a\\\\"}or vector(1)#"}'
    >>> m = {"t": Binding("t", ("a.b", "c"), multi=True)}
    >>> interpolate('up{tenant_id=~"$t"}', m, {})
    'up{tenant_id=~"(a\\\\\\\\.b|c)"}'
    >>> interpolate('rate(x[$__rate_interval])', {}, {"__rate_interval": "1m"})
    'rate(x[1m])'
    """
    literals = _contexts(expr)

    def context(pos: int) -> tuple[str, str] | None:
        for s, e, q, op in literals:
            if s < pos < e:
                return q, op
        return None

    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        fmt = m.group(3) or m.group(6)
        if name.startswith("__") and name not in bindings:
            key = name if not fmt else f"{name}:{fmt}"
            if key in builtins:
                return builtins[key]
            if name in builtins:
                return builtins[name]
            raise DataError(f"{where}: built-in ${name}{':' + fmt if fmt else ''} is not "
                            "known to the report")
        b = bindings.get(name)
        if b is None:
            raise DataError(f"{where} uses ${name}, which the dashboard does not define; "
                            "add the variable or fix the reference")
        ctx = context(m.start())
        if ctx is None:
            text = _format(b, fmt, False, where)
            parts = [p.strip() for p in text.split(",")]
            if not text or not all(_SAFE_BARE.fullmatch(p) for p in parts):
                raise DataError(
                    f"{where}: ${name}={text!r} stands outside a quoted string, where only "
                    "durations (5m), numbers and label or metric names are allowed; quote "
                    "the reference inside a label matcher or pick another value")
            return text
        quote, op = ctx
        text = _format(b, fmt, op in ("=~", "!~"), where)
        if notes is not None and op in ("=", "!=") and (len(b.values) > 1 or (
                b.is_all and b.all_value is not None)):
            notes.append(f"{where}: ${name} ({b.display}) stands in an {op!r} matcher, which "
                         f"compares with the literal text {text!r} and matches nothing (as "
                         "in Grafana); the dashboard should use =~ there")
        if quote == '"':
            return escape_label_value(text)
        if quote == "'":
            return _escape_single(text)
        if "`" in text:
            raise DataError(f"{where}: ${name} contains a backtick and is used inside a "
                            "`raw string`; use a double-quoted string there")
        return text

    return _REF.sub(replace, expr)


def title_text(text: str, bindings: Mapping[str, Binding]) -> str:
    """A panel or row title with ``$var`` / ``${var}`` / ``[[var]]`` replaced by the shown
    value (display text, escaped later like any title), as Grafana titles read."""
    def replace(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2) or m.group(4)
        b = bindings.get(name)
        return b.display if b is not None else m.group(0)
    return _REF.sub(replace, text)


def display_values(bindings: Iterable[Binding]) -> list[tuple[str, str]]:
    """``(name, shown value)`` pairs for the report header."""
    return [(b.name, b.display) for b in bindings]
