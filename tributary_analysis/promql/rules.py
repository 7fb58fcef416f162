"""Prometheus rule files: load them, and read or rewrite their PromQL safely.

The alert review evaluates the rules a team really runs, so this loader accepts any
Prometheus rule file (``groups`` → ``name``, ``interval``, ``limit``, ``rules`` with
``alert``/``record``, ``expr``, ``for``, ``keep_firing_for``, ``labels``, ``annotations``)
and is as strict as Prometheus itself: an unknown key, a missing ``expr`` or a bad duration
is a :class:`~tributary_analysis.errors.DataError` that names the file, the group and the
rule, instead of a rule that silently never fires.

PromQL is handled with a small lexer (strings, comments, durations, label matchers), not
with regular expressions over the raw text, so that a tenant id such as ``"a > 0.05"`` inside
a label matcher is never mistaken for a threshold and a metric name inside ``by (...)`` is
never mistaken for a metric.

Examples
--------
>>> rf = seed_rules()
>>> [g.name for g in rf.groups]
['deeplake-api-alerts', 'deeplake-infrastructure-alerts']
>>> rule = rf.rule("HighErrorRate")
>>> rule.for_, rule.group_interval
(Timedelta('0 days 00:05:00'), Timedelta('0 days 00:00:15'))
>>> metric_names(rule.expr)
['http_requests_total']
>>> rewrite_threshold("sum(rate(x[5m])) > 0.05", 0.02)
'sum(rate(x[5m])) > 0.02'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import pandas as pd
import yaml

from tributary_analysis.errors import ConfigError, DataError
from tributary_analysis.ground.time import parse_duration

#: The seed's ``prometheus.yml`` sets ``global.evaluation_interval: 15s``.
SEED_EVALUATION_INTERVAL = pd.Timedelta(seconds=15)

_GROUP_KEYS = {"name", "interval", "limit", "rules", "query_offset"}
_ALERT_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
_RECORD_KEYS = {"record", "expr", "labels"}
_YAML_INT = re.compile(r"[-+]?(?:[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)\Z")


class RuleFileLoader(yaml.SafeLoader):
    """YAML as Prometheus reads a rule file: every plain scalar stays the string written.

    PyYAML's ``safe_load`` follows YAML 1.1, so an unquoted label value ``no``, ``on``,
    ``1.10``, ``0x1F`` or ``012`` would come back as ``False``, ``True``, ``1.1``, ``31``
    or ``10``. Prometheus decodes rule files with go-yaml v3 into string fields, which
    keeps the text as written; so does this loader (only ``~``/``null``/empty resolve, to
    ``None``, and ``<<`` merge keys work). A key given twice in one mapping is refused, as
    go-yaml refuses it ("mapping key already defined").
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if first is not key_node:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"mapping key {key!r} already defined at line "
                    f"{first.start_mark.line + 1}", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


RuleFileLoader.yaml_implicit_resolvers = {}  # none of SafeLoader's YAML 1.1 typing
RuleFileLoader.add_implicit_resolver(
    "tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
RuleFileLoader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"),
                                     ["<"])


def load_rule_yaml(text: str) -> Any:
    """Parse rule-file YAML with :class:`RuleFileLoader` (strings stay strings)."""
    return yaml.load(text, Loader=RuleFileLoader)


def parse_prometheus_duration(text: object, *, where: str = "duration",
                              allow_zero: bool = True) -> pd.Timedelta:
    """A rule-file duration (``15s``, ``5m``, ``1h30m``, ``100ms``, ``1y``, ``0``), read with
    :func:`tributary_analysis.ground.time.parse_duration` in its strict mode, which is
    Prometheus's ``model.ParseDuration``: whole numbers, each unit once, largest first.

    Parameters
    ----------
    text : object
        The raw YAML value.
    where : str
        The file, group, rule and key, for the error message.
    allow_zero : bool
        ``for: 0`` is valid; a group ``interval`` is not.

    Raises
    ------
    DataError
        Naming ``where``, the value, and how to write it.

    Examples
    --------
    >>> parse_prometheus_duration("1h30m")
    Timedelta('0 days 01:30:00')
    """
    if isinstance(text, pd.Timedelta):
        return text
    if not isinstance(text, str):
        raise DataError(f"{where}: {text!r} is not a Prometheus duration; write e.g. "
                        "'30s', '5m', '1h30m'")
    try:
        return parse_duration(text, name="duration", strict=True, allow_zero=allow_zero)
    except ConfigError as exc:
        # the shared message, with the rule-file location instead of the parameter name
        reason = str(exc)
        for prefix in (f"duration={text.strip()!r} ", f"duration={text!r} ", "duration "):
            if reason.startswith(prefix):
                reason = reason[len(prefix):]
                break
        raise DataError(f"{where}: {text!r} {reason}") from None


@dataclass(frozen=True)
class Rule:
    """One alerting or recording rule, with the group facts its evaluation depends on."""

    name: str
    kind: Literal["alert", "record"]
    expr: str
    group: str
    group_interval: pd.Timedelta
    for_: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(0))
    keep_firing_for: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(0))
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    source: str = ""

    @property
    def is_alert(self) -> bool:
        return self.kind == "alert"

    def with_expr(self, expr: str, *, name: str | None = None) -> Rule:
        """A variant of this rule with another expression (and optionally another name)."""
        if not isinstance(expr, str) or not expr.strip():
            raise DataError(f"variant of rule {self.name!r}: expr must be a non-empty string")
        return replace(self, expr=expr, name=name or self.name)

    def with_threshold(self, value: float, *, op: str | None = None,
                       name: str | None = None) -> Rule:
        """A variant with the top-level comparison threshold replaced (see
        :func:`rewrite_threshold`)."""
        try:
            expr = rewrite_threshold(self.expr, value, op=op)
        except DataError as exc:
            raise DataError(f"rule {self.name!r} in {self.source or 'rules'}: {exc}") from exc
        label = name or f"{self.name} {op or comparison(self.expr)[0]} {_fmt_number(value)}"
        return replace(self, expr=expr, name=label)


@dataclass(frozen=True)
class RuleGroup:
    """A rule group: its rules are evaluated together every ``interval``."""

    name: str
    interval: pd.Timedelta | None
    rules: tuple[Rule, ...]
    limit: int = 0


@dataclass(frozen=True)
class RuleFile:
    """A parsed Prometheus rule file."""

    source: str
    groups: tuple[RuleGroup, ...]

    @property
    def rules(self) -> tuple[Rule, ...]:
        return tuple(r for g in self.groups for r in g.rules)

    @property
    def alerts(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.is_alert)

    def rule(self, name: str) -> Rule:
        """The first rule called ``name``; :class:`DataError` listing the names if absent."""
        for r in self.rules:
            if r.name == name:
                return r
        raise DataError(f"no rule named {name!r} in {self.source}; rules: "
                        + ", ".join(r.name for r in self.rules))

    def to_frame(self) -> pd.DataFrame:
        """One row per rule: group, name, kind, expr, for, keep_firing_for, interval, labels."""
        return pd.DataFrame([{
            "group": r.group, "rule": r.name, "kind": r.kind, "expr": r.expr,
            "for": r.for_, "keep_firing_for": r.keep_firing_for,
            "interval": r.group_interval, "labels": dict(r.labels),
            "metrics": metric_names(r.expr),
        } for r in self.rules])


def load_rules(path: str | Path, *,
               default_interval: pd.Timedelta | str = SEED_EVALUATION_INTERVAL) -> RuleFile:
    """Load a Prometheus rule file.

    Parameters
    ----------
    path : str or Path
        The YAML rule file.
    default_interval : Timedelta or str
        The global ``evaluation_interval`` used for groups without ``interval``; the seed's
        ``prometheus.yml`` sets 15s (Prometheus's own default is 1m).

    Returns
    -------
    RuleFile

    Raises
    ------
    DataError
        The file is missing, is not YAML, or does not follow the rule-file format; the
        message names the file, the group and the rule.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"cannot read rule file {p}: {exc}; check the path") from exc
    return parse_rules(text, source=str(p), default_interval=default_interval)


def seed_rules() -> RuleFile:
    """The seed's ``alert_rules.yml``, shipped verbatim with the package."""
    ref = resources.files("tributary_analysis").joinpath("data", "alert_rules.yml")
    return parse_rules(ref.read_text(encoding="utf-8"), source="alert_rules.yml (seed)")


def seed_rules_path() -> Path:
    """Filesystem path of the packaged seed rule file (for ``promtool``)."""
    return Path(str(resources.files("tributary_analysis").joinpath("data", "alert_rules.yml")))


def parse_rules(text: str, *, source: str = "<string>",
                default_interval: pd.Timedelta | str = SEED_EVALUATION_INTERVAL) -> RuleFile:
    """Parse rule-file YAML text; see :func:`load_rules`."""
    default = (default_interval if isinstance(default_interval, pd.Timedelta)
               else parse_prometheus_duration(default_interval, where="default_interval",
                                              allow_zero=False))
    try:
        doc = load_rule_yaml(text)
    except yaml.YAMLError as exc:
        raise DataError(f"rule file {source} is not valid YAML: {exc}") from exc
    if doc is None:
        return RuleFile(source=source, groups=())
    if not isinstance(doc, dict) or set(doc) - {"groups"}:
        raise DataError(f"rule file {source}: the top level must be a mapping with only "
                        "'groups'")
    raw_groups = doc.get("groups") or []
    if not isinstance(raw_groups, list):
        raise DataError(f"rule file {source}: 'groups' must be a list")
    groups: list[RuleGroup] = []
    seen: set[str] = set()
    for gi, g in enumerate(raw_groups):
        groups.append(_parse_group(g, gi, source, default, seen))
    return RuleFile(source=source, groups=tuple(groups))


def _parse_group(g: Any, gi: int, source: str, default: pd.Timedelta,
                 seen: set[str]) -> RuleGroup:
    where = f"rule file {source}, group #{gi + 1}"
    if not isinstance(g, dict):
        raise DataError(f"{where}: a group must be a mapping with 'name' and 'rules'")
    name = g.get("name")
    if not isinstance(name, str) or not name:
        raise DataError(f"{where}: missing group 'name'")
    where = f"rule file {source}, group {name!r}"
    if name in seen:
        raise DataError(f"{where}: group name is used twice; group names must be unique")
    seen.add(name)
    unknown = set(g) - _GROUP_KEYS
    if unknown:
        raise DataError(f"{where}: unknown key(s) {sorted(unknown)}; allowed: "
                        f"{sorted(_GROUP_KEYS)}")
    interval = (parse_prometheus_duration(g["interval"], where=f"{where}: interval")
                if g.get("interval") is not None else None)
    if interval is not None and interval <= pd.Timedelta(0):
        raise DataError(f"{where}: interval must be positive")
    limit = _yaml_int(g.get("limit"), f"{where}: limit")
    raw_rules = g.get("rules") or []
    if not isinstance(raw_rules, list):
        raise DataError(f"{where}: 'rules' must be a list")
    effective = interval or default
    rules = tuple(_parse_rule(r, ri, where, name, effective, source)
                  for ri, r in enumerate(raw_rules))
    return RuleGroup(name=name, interval=interval, rules=rules, limit=limit)


def _parse_rule(r: Any, ri: int, where: str, group: str, interval: pd.Timedelta,
                source: str) -> Rule:
    rwhere = f"{where}, rule #{ri + 1}"
    if not isinstance(r, dict):
        raise DataError(f"{rwhere}: a rule must be a mapping with 'alert' or 'record' "
                        "and 'expr'")
    if ("alert" in r) == ("record" in r):
        raise DataError(f"{rwhere}: a rule needs exactly one of 'alert' or 'record'")
    kind: Literal["alert", "record"] = "alert" if "alert" in r else "record"
    name = r[kind]
    if not isinstance(name, str) or not name.strip():
        raise DataError(f"{rwhere}: '{kind}' must be a non-empty name")
    rwhere = f"{where}, rule {name!r}"
    allowed = _ALERT_KEYS if kind == "alert" else _RECORD_KEYS
    unknown = set(r) - allowed
    if unknown:
        raise DataError(f"{rwhere}: key(s) {sorted(unknown)} are not allowed in "
                        f"{'an alerting' if kind == 'alert' else 'a recording'} rule; "
                        f"allowed: {sorted(allowed)}")
    expr = r.get("expr")
    if isinstance(expr, int | float) and not isinstance(expr, bool):
        expr = str(expr)  # an explicitly tagged number (``!!int 1``)
    if not isinstance(expr, str) or not expr.strip():
        raise DataError(f"{rwhere}: missing 'expr'; every rule needs a PromQL expression")
    try:
        tokenize(expr)
    except DataError as exc:
        raise DataError(f"{rwhere}: {exc}") from exc
    for_ = (parse_prometheus_duration(r["for"], where=f"{rwhere}: for")
            if r.get("for") is not None else pd.Timedelta(0))
    kff = (parse_prometheus_duration(r["keep_firing_for"], where=f"{rwhere}: keep_firing_for")
           if r.get("keep_firing_for") is not None else pd.Timedelta(0))
    labels = _str_map(r.get("labels"), f"{rwhere}: labels", null="drop")
    annotations = _str_map(r.get("annotations"), f"{rwhere}: annotations", null="empty")
    return Rule(name=name, kind=kind, expr=expr.strip(), group=group, group_interval=interval,
                for_=for_, keep_firing_for=kff, labels=labels, annotations=annotations,
                source=source)


def _yaml_int(value: Any, where: str) -> int:
    """A YAML 1.2 integer (``10``, ``0x1F``, ``0o17``) from the string the loader kept."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _YAML_INT.match(value.strip()):
        text = value.strip()
        sign = -1 if text.startswith("-") else 1
        body = text.lstrip("+-")
        base = 16 if body.startswith("0x") else 8 if body.startswith("0o") else 10
        return sign * int(body[2:] if base != 10 else body, base)
    raise DataError(f"{where}: {value!r} must be an integer, e.g. 'limit: 10'")


def _str_map(value: Any, where: str, *, null: Literal["drop", "empty"]) -> dict[str, str]:
    """Label or annotation values as Prometheus keeps them: the text written.

    A null value (``~``, ``null`` or nothing) is the empty string to Prometheus, and a
    label with an empty value does not exist: labels drop it, annotations keep ``""``
    (what ``promtool test rules`` shows for both).
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DataError(f"{where} must be a mapping of names to strings")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", k):
            raise DataError(f"{where}: {k!r} is not a valid label name")
        if isinstance(v, dict | list):
            raise DataError(f"{where}: value of {k!r} must be a string, not a "
                            f"{'mapping' if isinstance(v, dict) else 'list'}")
        if v is None or v == "":
            if null == "empty":
                out[k] = ""
            continue
        out[k] = str(v)
    return out


# --------------------------------------------------------------------------- PromQL lexer

@dataclass(frozen=True)
class Token:
    """One PromQL token with its position in the expression text."""

    kind: str  # ident, number, duration, string, op, punct
    text: str
    start: int
    end: int


_TOKEN_RE = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`[^`]*`)
  | (?P<duration>(?:\d+(?:ms|[smhdwy]))+(?![\w.]))
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<op>==|!=|>=|<=|=~|!~|[-+*/%^<>=@])
  | (?P<punct>[(){}\[\],])
""", re.VERBOSE)

_COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
             "or", "unless", "offset", "atan2"}
_AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                 "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"}
_GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}


def tokenize(expr: str) -> list[Token]:
    """Split a PromQL expression into tokens (whitespace and comments dropped).

    Raises
    ------
    DataError
        A character that cannot start any PromQL token (e.g. an unterminated string).
    """
    out: list[Token] = []
    pos = 0
    while pos < len(expr):
        m = _TOKEN_RE.match(expr, pos)
        if not m:
            raise DataError(f"cannot read PromQL at position {pos}: {expr[pos:pos + 20]!r} "
                            "(unterminated string or stray character?)")
        kind = m.lastgroup or ""
        if kind not in {"ws", "comment"}:
            text = m.group()
            if kind == "ident" and text.lower() in {"inf", "nan"}:
                kind = "number"
            out.append(Token(kind, text, m.start(), m.end()))
        pos = m.end()
    return out


def metric_names(expr: str) -> list[str]:
    """Metric names an expression selects, in order of first use.

    Function and aggregation names, keywords, label names inside ``{...}`` and inside
    ``by/without/on/ignoring/group_left/group_right (...)`` are not metrics; a
    ``{__name__="x"}`` matcher is.

    Examples
    --------
    >>> metric_names('sum by (instance) (rate(errors_total{tenant_id="up"}[5m])) / on() up')
    ['errors_total', 'up']
    """
    toks = tokenize(expr)
    names: list[str] = []
    brace = bracket = 0
    i = 0
    while i < len(toks):
        t = toks[i]
        nxt = toks[i + 1] if i + 1 < len(toks) else None
        if t.text == "{":
            brace += 1
        elif t.text == "}":
            brace -= 1
        elif t.text == "[":
            bracket += 1
        elif t.text == "]":
            bracket -= 1
        elif brace and t.kind == "ident" and t.text == "__name__" and nxt is not None \
                and nxt.text == "=" and i + 2 < len(toks) and toks[i + 2].kind == "string":
            names.append(_unquote(toks[i + 2].text))
        elif not brace and not bracket and t.kind == "ident":
            low = t.text.lower()
            if low in _GROUPING and nxt is not None and nxt.text == "(":
                depth, i = 0, i + 1  # skip the label list
                while i < len(toks):
                    depth += {"(": 1, ")": -1}.get(toks[i].text, 0)
                    if depth == 0:
                        break
                    i += 1
            elif _is_selector(toks, i):
                names.append(t.text)
        i += 1
    return list(dict.fromkeys(names))


def _is_selector(toks: list[Token], i: int) -> bool:
    """Whether the identifier at ``i`` (outside braces/brackets) names a metric."""
    low = toks[i].text.lower()
    nxt = toks[i + 1].text.lower() if i + 1 < len(toks) else ""
    if low in _KEYWORDS or nxt == "(":
        return False  # keyword, function call or aggregation with its argument next
    if low in _AGGREGATIONS and nxt in {"by", "without"}:
        return False
    return not (i and toks[i - 1].text == "@")


def _unquote(text: str) -> str:
    body = text[1:-1]
    if text[0] == "`":
        return body
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), body)


def _top_level(toks: list[Token]) -> Iterator[tuple[int, Token]]:
    depth = 0
    for i, t in enumerate(toks):
        if t.text in "([{" and t.kind == "punct":
            depth += 1
        elif t.text in ")]}" and t.kind == "punct":
            depth -= 1
        elif depth == 0:
            yield i, t


def _strip_outer_parens(toks: list[Token]) -> list[Token]:
    while len(toks) >= 2 and toks[0].text == "(" and toks[-1].text == ")":
        depth = 0
        for i, t in enumerate(toks):
            depth += {"(": 1, ")": -1}.get(t.text, 0) if t.kind == "punct" else 0
            if depth == 0 and i < len(toks) - 1:
                return toks
        toks = toks[1:-1]
    return toks


def comparison(expr: str) -> tuple[str, float, Token]:
    """The top-level comparison of an alert expression: operator, threshold, number token.

    The threshold must be a single number literal on one side of the only top-level
    comparison (``(a / b) > 0.05``, ``0.5 > cache_hit_ratio``); anything else raises
    :class:`DataError` so a variant is never built by guessing.
    """
    toks = _strip_outer_parens(tokenize(expr))
    comps = [(i, t) for i, t in _top_level(toks) if t.kind == "op" and t.text in _COMPARISONS]
    sets = [t for _, t in _top_level(toks) if t.kind == "ident"
            and t.text.lower() in {"and", "or", "unless"}]
    if len(comps) != 1 or sets:
        raise DataError(f"cannot find a single top-level comparison in {expr!r}; pass the "
                        "variant as a full expression instead")
    i, op = comps[0]
    right = toks[i + 1:]
    if right and right[0].text == "bool":
        right = right[1:]
    left = toks[:i]

    def lone_number(side: list[Token]) -> Token | None:
        side = _strip_outer_parens(side)
        if len(side) == 1 and side[0].kind == "number":
            return side[0]
        if len(side) == 2 and side[0].text in {"-", "+"} and side[1].kind == "number":
            return Token("number", side[0].text + side[1].text, side[0].start, side[1].end)
        return None

    num = lone_number(right) or lone_number(left)
    if num is None:
        raise DataError(f"the comparison in {expr!r} has no plain number on either side; "
                        "pass the variant as a full expression instead")
    return op.text, float(num.text) if not num.text.lower().startswith("0x") else float(
        int(num.text, 16)), num


def rewrite_threshold(expr: str, value: float, *, op: str | None = None) -> str:
    """Replace the threshold (and optionally the operator) of an alert expression.

    Only the number literal of the single top-level comparison changes; label matchers,
    strings, range durations and comments are left exactly as they were.

    Parameters
    ----------
    expr : str
        The rule's expression.
    value : float
        The new threshold.
    op : str, optional
        A new comparison operator (``>``, ``>=``, ``<``, ``<=``, ``==``, ``!=``).

    Examples
    --------
    >>> rewrite_threshold('(a{x="> 0.05"} / b) > 0.05', 0.02)
    '(a{x="> 0.05"} / b) > 0.02'
    >>> rewrite_threshold("cache_hit_ratio < 0.5", 0.3, op="<=")
    'cache_hit_ratio <= 0.3'
    """
    if not isinstance(value, int | float) or isinstance(value, bool) or math.isnan(value):
        raise DataError(f"threshold {value!r} must be a number")
    if op is not None and op not in _COMPARISONS:
        raise DataError(f"operator {op!r} is not a PromQL comparison; use one of "
                        f"{sorted(_COMPARISONS)}")
    old_op, _, num = comparison(expr)
    out = expr[:num.start] + _fmt_number(value) + expr[num.end:]
    if op is not None and op != old_op:
        toks = _strip_outer_parens(tokenize(out))
        optok = next(t for _, t in _top_level(toks) if t.kind == "op" and t.text == old_op)
        out = out[:optok.start] + op + out[optok.end:]
    return out


def _fmt_number(value: float) -> str:
    if math.isinf(value):
        return "Inf" if value > 0 else "-Inf"
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def signal_expr(expr: str) -> str | None:
    """The side of the top-level comparison that is not the threshold, or ``None``.

    Evaluating it tells "never above the threshold" apart from "matches no series at all"
    (e.g. a division whose operands never share a label set).

    Examples
    --------
    >>> signal_expr("(a / b) > 0.05")
    '(a / b)'
    """
    try:
        _, _, num = comparison(expr)
    except DataError:
        return None
    toks = _strip_outer_parens(tokenize(expr))
    optok = next(t for _, t in _top_level(toks) if t.kind == "op" and t.text in _COMPARISONS)
    if num.start > optok.start:  # threshold on the right
        return expr[toks[0].start:optok.start].strip()
    return expr[optok.end:toks[-1].end].strip().removeprefix("bool").strip()
