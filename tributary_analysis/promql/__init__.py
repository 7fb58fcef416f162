"""Safe PromQL construction: label values are data, never syntax.

Tenant ids come from an HTTP header, so any label value may be hostile
(``a"}or vector(1)#``, ``.*``, a lone backslash, a newline). Every value that goes into a
query passes through :func:`escape_label_value` (PromQL double-quoted string literal,
Go ``strconv.Unquote`` rules) and, for regex matchers, :func:`escape_regex` first (RE2 meta
characters, like Go's ``regexp.QuoteMeta``), so the value is matched literally.

Names: classic metric and label names (``[a-zA-Z_:][a-zA-Z0-9_:]*``) are written as they
are. Prometheus 3 also accepts any UTF-8 name in its quoted syntax (``{"a.b", "l.x"="v"}``);
the builders write that only for a :class:`Dialect` that allows it (``UTF8``, or
``PrometheusSource.dialect`` of a 3.x server) and refuse such names for 2.x with the server
named, instead of sending a query that would fail or match something else.

Bucket bounds: Prometheus 3 stores ``le``/``quantile`` values as float text (``le="1"``
becomes ``"1.0"``), so a filter on a bound uses :func:`bound_matcher`, which matches every
spelling of the number.

Examples
--------
>>> selector("http_requests_total", tenant_id='a"}or vector(1)#')
'http_requests_total{tenant_id="a\\\\"}or vector(1)#"}'
>>> selector("up", job=["deeplake-api", "node"])
'up{job=~"deeplake-api|node"}'
>>> selector("http.server.duration", dialect=UTF8, **{"service.name": "api"})
'{"http.server.duration","service.name"="api"}'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

from tributary_analysis.errors import DataError
from tributary_analysis.ground.time import format_duration

__all__ = [
    "CLASSIC", "UTF8", "Dialect", "LabelSpec", "MatchOp", "Matcher", "bound_matcher",
    "bound_spellings", "check_label_name", "check_metric_name", "escape_label_value",
    "escape_regex", "format_duration", "format_om_float", "label_name", "quote", "restrict",
    "selector", "series_count",
]

MatchOp = Literal["=", "!=", "=~", "!~"]

_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_METRIC_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
#: characters Go's regexp.QuoteMeta escapes; RE2 rejects escapes of anything else but
#: punctuation, so Python's re.escape (which escapes spaces and newlines) is not usable.
_RE2_META = frozenset("\\.+*?()|[]{}^$")
_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_label_value(value: str) -> str:
    """Escape ``value`` for a PromQL double-quoted string literal (without the quotes).

    Backslash, double quote and newline are escaped as the PromQL lexer requires; other
    control characters become ``\\xNN`` so the literal stays on one line.

    Examples
    --------
    >>> escape_label_value('a"b\\\\c\\nd')
    'a\\\\"b\\\\\\\\c\\\\nd'
    """
    if not isinstance(value, str):
        raise DataError(f"label value {value!r} must be a str, got {type(value).__name__}; "
                        "convert it with str() first")
    out = []
    for ch in value:
        esc = _STRING_ESCAPES.get(ch)
        if esc is not None:
            out.append(esc)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return "".join(out)


def quote(value: str) -> str:
    """``value`` as a complete PromQL string literal, quotes included."""
    return f'"{escape_label_value(value)}"'


def escape_regex(value: str) -> str:
    """Escape RE2 metacharacters so ``=~`` matches ``value`` literally (Go ``QuoteMeta``).

    Examples
    --------
    >>> escape_regex(".*")
    '\\\\.\\\\*'
    """
    return "".join("\\" + ch if ch in _RE2_META else ch for ch in value)


def check_label_name(name: str) -> str:
    """Return ``name`` if it is a valid classic label name, else raise :class:`DataError`."""
    if not isinstance(name, str) or not _LABEL_NAME.match(name):
        raise DataError(f"invalid label name {name!r}: use letters, digits and underscores, "
                        "not starting with a digit")
    return name


def check_metric_name(name: str) -> str:
    """Return ``name`` if it is a valid classic metric name, else raise :class:`DataError`."""
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise DataError(f"invalid metric name {name!r}: use letters, digits, underscores and "
                        "colons, not starting with a digit")
    return name


def _check_utf8_name(name: object, kind: str) -> str:
    if not isinstance(name, str) or not name or "\x00" in name:
        raise DataError(f"invalid {kind} name {name!r}: a name is a non-empty string without "
                        "NUL characters")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise DataError(f"invalid {kind} name {name!r}: not valid UTF-8") from None
    return name


@dataclass(frozen=True)
class Dialect:
    """What names a server's PromQL accepts: classic only (2.x) or UTF-8 quoted (3.x).

    ``server`` names the server in refusals (``Prometheus 2.42.0``).
    """

    utf8_names: bool = False
    server: str = ""

    def check_name(self, name: str, kind: str = "label") -> str:
        """``name`` if this dialect can write it, else :class:`DataError` saying why."""
        classic = _METRIC_NAME if kind == "metric" else _LABEL_NAME
        if isinstance(name, str) and classic.match(name):
            return name
        _check_utf8_name(name, kind)
        if not self.utf8_names:
            who = self.server or "Prometheus 2.x"
            raise DataError(
                f"invalid {kind} name {name!r} for {who}: only letters, digits"
                f"{', colons' if kind == 'metric' else ''} and underscores, not starting with "
                "a digit; Prometheus 3.0+ accepts UTF-8 names in its quoted syntax "
                "(pass dialect=UTF8 or use PrometheusSource.dialect of a 3.x server)")
        return name

    def name(self, name: str, kind: str = "label") -> str:
        """``name`` as written in PromQL: bare when classic, else a quoted string."""
        self.check_name(name, kind)
        classic = _METRIC_NAME if kind == "metric" else _LABEL_NAME
        return name if classic.match(name) else quote(name)


#: Prometheus 2.x: classic names only (the default of every builder)
CLASSIC = Dialect(utf8_names=False)
#: Prometheus 3.x: UTF-8 names in the quoted syntax
UTF8 = Dialect(utf8_names=True, server="Prometheus 3")


def label_name(name: str, dialect: Dialect = CLASSIC) -> str:
    """A label name for ``by (...)``, ``on (...)`` or a matcher, in ``dialect``.

    Examples
    --------
    >>> label_name("tenant_id"), label_name("service.name", UTF8)
    ('tenant_id', '"service.name"')
    """
    return dialect.name(name, "label")


@dataclass(frozen=True)
class Matcher:
    """One label matcher; ``str(m)`` is safe PromQL whatever the value holds.

    For ``=~``/``!~`` the ``value`` is a regular expression *you* wrote; use
    :meth:`any_of` to match a set of untrusted literal values. A UTF-8 ``name`` is
    written quoted; :func:`selector` refuses it unless its dialect allows it.
    """

    name: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        _check_utf8_name(self.name, "label")
        if self.op not in ("=", "!=", "=~", "!~"):
            raise DataError(f"invalid matcher operator {self.op!r}; use =, !=, =~ or !~")
        if not isinstance(self.value, str):
            raise DataError(f"value of label {self.name!r} must be a str, got "
                            f"{type(self.value).__name__}")

    @classmethod
    def eq(cls, name: str, value: str) -> Matcher:
        """``name="value"``, matched literally."""
        return cls(name, "=", value)

    @classmethod
    def ne(cls, name: str, value: str) -> Matcher:
        """``name!="value"``, matched literally."""
        return cls(name, "!=", value)

    @classmethod
    def any_of(cls, name: str, values: Iterable[str], negate: bool = False) -> Matcher:
        """``name=~"v1|v2"`` where every ``v`` is matched literally (regex-escaped)."""
        vals = [str(v) for v in values]
        if not vals:
            raise DataError(f"empty value list for label {name!r}: give at least one value")
        return cls(name, "!~" if negate else "=~", "|".join(escape_regex(v) for v in vals))

    def render(self, dialect: Dialect = UTF8) -> str:
        """The matcher in ``dialect`` (raises for a UTF-8 name in :data:`CLASSIC`)."""
        return f"{dialect.name(self.name)}{self.op}{quote(self.value)}"

    def __str__(self) -> str:
        return self.render(UTF8)


LabelSpec = str | Iterable[str] | Matcher


def selector(metric: str | None = None, *matchers: Matcher, dialect: Dialect = CLASSIC,
             **labels: LabelSpec | None) -> str:
    """A vector selector with every label value escaped.

    Parameters
    ----------
    metric : str, optional
        Metric name; omit for a name-less selector (then give at least one matcher).
    *matchers : Matcher
        Prebuilt matchers.
    dialect : Dialect
        :data:`CLASSIC` (default, Prometheus 2.x) refuses UTF-8 names; :data:`UTF8` (or a
        3.x source's ``dialect``) writes them quoted: ``{"a.b", "l.x"="v"}``.
    **labels : str, iterable of str, Matcher or None
        ``label=value`` matches literally; an iterable matches any of its values literally;
        ``None`` is skipped (convenient for optional filters).

    Examples
    --------
    >>> selector("http_requests_total", tenant_id=".*")
    'http_requests_total{tenant_id=".*"}'
    >>> selector("up", Matcher.ne("job", "x"))
    'up{job!="x"}'
    """
    ms = list(matchers)
    for name, spec in labels.items():
        if spec is None:
            continue
        if isinstance(spec, Matcher):
            ms.append(spec)
        elif isinstance(spec, str):
            ms.append(Matcher.eq(name, spec))
        else:
            ms.append(Matcher.any_of(name, spec))
    parts = [m.render(dialect) for m in ms]
    if metric is None:
        if not parts:
            raise DataError("a selector needs a metric name or at least one matcher")
        return "{" + ",".join(parts) + "}"
    if isinstance(metric, str) and _METRIC_NAME.match(metric):
        return metric + ("{" + ",".join(parts) + "}" if parts else "")
    if not dialect.utf8_names:
        check_metric_name(metric) if not isinstance(metric, str) or not metric else None
        dialect.check_name(metric, "metric")
    return "{" + ",".join([quote(_check_utf8_name(metric, "metric")), *parts]) + "}"


def _go_float_g(f: float) -> str:
    """Go's ``strconv.FormatFloat(f, 'g', -1, 64)``: the shortest round-trip digits, in
    ``e`` notation when the decimal exponent is below -4 or at least 6 (Go's rule for the
    shortest precision), with a two-digit exponent (``1e+06``, ``1e-05``)."""
    _, digits, exp = Decimal(repr(abs(f))).normalize().as_tuple()
    ds = "".join(map(str, digits)) or "0"
    nd = len(ds)
    dp = nd + int(exp)  # value = 0.<ds> × 10**dp
    x = dp - 1
    neg = "-" if f < 0 else ""
    if x < -4 or x >= 6:
        mant = ds[0] + ("." + ds[1:] if nd > 1 else "")
        return f"{neg}{mant}e{'-' if x < 0 else '+'}{abs(x):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{ds}"
    if dp >= nd:
        return f"{neg}{ds}{'0' * (dp - nd)}"
    return f"{neg}{ds[:dp]}.{ds[dp:]}"


def format_om_float(value: float) -> str:
    """A float as Prometheus 3 stores ``le``/``quantile`` (``labels.FormatOpenMetricsFloat``):
    Go's shortest ``%g`` with ``.0`` added when there is neither a point nor an exponent.

    Examples
    --------
    >>> [format_om_float(x) for x in (1, 0.25, 1e-05, 1e6, 100000, float("inf"))]
    ['1.0', '0.25', '1e-05', '1e+06', '100000.0', '+Inf']
    """
    f = float(value)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "0.0"
    text = _go_float_g(f)
    return text if ("." in text or "e" in text) else text + ".0"


def bound_spellings(value: float | str) -> list[str]:
    """Every common spelling of a bucket bound or quantile: the 2.x exposition forms (Go's
    ``%g``, Python's ``repr``) and 3.x's normalised float text, plus ``value`` as given."""
    f = float(value)
    spellings = {format_om_float(f)}
    if math.isfinite(f):
        spellings.add(_go_float_g(f))
        spellings.add(repr(f))
        if f == int(f) and abs(f) < 1e15:
            spellings.add(str(int(f)))
    else:
        spellings.update({"+Inf", "Inf", "inf", "+inf"} if f > 0 else {"-Inf", "-inf"})
    if isinstance(value, str):
        spellings.add(value.strip())
    return sorted(spellings)


def bound_matcher(value: float | str, name: str = "le") -> Matcher:
    """A matcher for one bucket bound (``le``) or quantile that matches it however the
    server spells it (``"1"`` on 2.x, ``"1.0"`` on 3.x).

    Examples
    --------
    >>> print(bound_matcher(1))
    le=~"1|1\\\\.0"
    """
    return Matcher.any_of(name, bound_spellings(value))


def restrict(expr: str, label: str, values: str | Iterable[str], *,
             dialect: Dialect = CLASSIC) -> str:
    """``expr`` restricted, on the server, to series whose ``label`` is one of ``values``
    (matched literally) — for any expression whose result keeps ``label``.

    Written as ``(expr) and on (label) (label_replace(vector(1), …) or …)``: the right side
    is one tiny constant series per value, so the filter costs nothing, and values pass
    through :func:`quote` and ``$``-escaping (``label_replace`` expands ``$1``).

    Examples
    --------
    >>> print(restrict("sum by (tenant_id) (rate(x[5m]))", "tenant_id", "acme"))
    (sum by (tenant_id) (rate(x[5m]))) and on (tenant_id) (label_replace(vector(1), \
"tenant_id", "acme", "", ""))
    """
    vals = [values] if isinstance(values, str) else [str(v) for v in values]
    if not vals:
        raise DataError(f"empty value list for label {label!r}: give at least one value")
    if any(v == "" for v in vals):
        raise DataError(f"an empty value for {label!r} would match series without the label; "
                        "give a real value")
    name = dialect.name(label)
    consts = " or ".join(
        f"label_replace(vector(1), {quote(label)}, {quote(v.replace('$', '$$'))}, \"\", \"\")"
        for v in dict.fromkeys(vals))
    return f"({expr}) and on ({name}) ({consts})"


def series_count(expr: str) -> str:
    """How many series ``expr`` returns, as one instant query (the budget's probe).

    Examples
    --------
    >>> series_count("up")
    'count((up))'
    """
    return f"count(({expr}))"
