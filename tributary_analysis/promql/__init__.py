"""Safe PromQL construction: label values are data, never syntax.

Tenant ids come from an HTTP header, so any label value may be hostile
(``a"}or vector(1)#``, ``.*``, a lone backslash, a newline). Every value that goes into a
query passes through :func:`escape_label_value` (PromQL double-quoted string literal,
Go ``strconv.Unquote`` rules) and, for regex matchers, :func:`escape_regex` first (RE2 meta
characters, like Go's ``regexp.QuoteMeta``), so the value is matched literally.

Examples
--------
>>> selector("http_requests_total", tenant_id='a"}or vector(1)#')
'http_requests_total{tenant_id="a\\\\"}or vector(1)#"}'
>>> selector("up", job=["deeplake-api", "node"])
'up{job=~"deeplake-api|node"}'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from tributary_analysis.errors import DataError

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
    """Return ``name`` if it is a valid label name, else raise :class:`DataError`."""
    if not isinstance(name, str) or not _LABEL_NAME.match(name):
        raise DataError(f"invalid label name {name!r}: use letters, digits and underscores, "
                        "not starting with a digit")
    return name


def check_metric_name(name: str) -> str:
    """Return ``name`` if it is a valid metric name, else raise :class:`DataError`."""
    if not isinstance(name, str) or not _METRIC_NAME.match(name):
        raise DataError(f"invalid metric name {name!r}: use letters, digits, underscores and "
                        "colons, not starting with a digit")
    return name


@dataclass(frozen=True)
class Matcher:
    """One label matcher; ``str(m)`` is safe PromQL whatever the value holds.

    For ``=~``/``!~`` the ``value`` is a regular expression *you* wrote; use
    :meth:`any_of` to match a set of untrusted literal values.
    """

    name: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        check_label_name(self.name)
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

    def __str__(self) -> str:
        return f"{self.name}{self.op}{quote(self.value)}"


LabelSpec = str | Iterable[str] | Matcher


def selector(metric: str | None = None, *matchers: Matcher, **labels: LabelSpec | None) -> str:
    """A vector selector with every label value escaped.

    Parameters
    ----------
    metric : str, optional
        Metric name; omit for a name-less selector (then give at least one matcher).
    *matchers : Matcher
        Prebuilt matchers.
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
    parts = [str(m) for m in matchers]
    for name, spec in labels.items():
        if spec is None:
            continue
        if isinstance(spec, Matcher):
            parts.append(str(spec))
        elif isinstance(spec, str):
            parts.append(str(Matcher.eq(name, spec)))
        else:
            parts.append(str(Matcher.any_of(name, spec)))
    if metric is None:
        if not parts:
            raise DataError("a selector needs a metric name or at least one matcher")
        return "{" + ",".join(parts) + "}"
    check_metric_name(metric)
    return metric + ("{" + ",".join(parts) + "}" if parts else "")


_DURATION_UNITS = (("y", 365 * 86400.0), ("w", 7 * 86400.0), ("d", 86400.0), ("h", 3600.0),
                   ("m", 60.0), ("s", 1.0), ("ms", 0.001))
_DURATION_RE = re.compile(r"(\d+)(ms|y|w|d|h|m|s)")


def format_duration(value: float | timedelta | str) -> str:
    """A PromQL duration (``1h30m``, ``250ms``) for seconds, a timedelta or a duration string.

    Examples
    --------
    >>> format_duration(5400)
    '1h30m'
    >>> format_duration(timedelta(milliseconds=250))
    '250ms'
    """
    if isinstance(value, str):
        return format_duration(parse_duration(value))
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise DataError(f"duration {value!r} must be positive and finite")
    ms = round(seconds * 1000)
    if ms == 0 or abs(ms - seconds * 1000) > 1e-6 * max(1.0, seconds * 1000):
        raise DataError(f"duration {value!r} is not a whole number of milliseconds")
    out = []
    for unit, size in _DURATION_UNITS:
        size_ms = round(size * 1000)
        n, ms = divmod(ms, size_ms)
        if n:
            out.append(f"{n}{unit}")
    return "".join(out)


def parse_duration(text: str | float | timedelta) -> float:
    """Seconds in a PromQL duration (``"5m"``, ``"1h30m"``), a number or a timedelta."""
    if isinstance(text, timedelta):
        return text.total_seconds()
    if isinstance(text, int | float):
        return float(text)
    s = str(text).strip()
    try:
        return float(s)
    except ValueError:
        pass
    pos, total = 0, 0.0
    for m in _DURATION_RE.finditer(s):
        if m.start() != pos:
            break
        total += int(m.group(1)) * dict(_DURATION_UNITS)[m.group(2)]
        pos = m.end()
    if pos != len(s) or not s:
        raise DataError(f"invalid duration {text!r}: use e.g. 30s, 5m, 1h30m or a number of "
                        "seconds")
    return total
