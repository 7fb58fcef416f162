"""Report parameters: ``-p key=value``, checked before any run.

Parameters are written into the executed notebook by papermill, so they must never carry a
secret: names that look like credentials are refused with a pointer to the config. Windows
and durations are read by :mod:`tributary_analysis.ground.time`, like everywhere else.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import yaml

from tributary_analysis.errors import ConfigError
from tributary_analysis.ground.time import iso

_SECRET_NAME = re.compile(r"(token|passw|secret|api_?key|credential|bearer|auth|cookie|webhook)",
                          re.I)
#: parameters whose value is an id, kept as typed (``-p tenant=012`` is tenant "012")
TEXT_PARAMETERS = frozenset({"tenant"})


def parse_param(text: str) -> tuple[str, Any]:
    """``key=value`` → ``(key, value)``; the value is read as a YAML scalar or list.

    Ids (``tenant``) stay text: YAML would read ``012`` as 10 and ``1.10`` as 1.1.

    Examples
    --------
    >>> parse_param("top_n=5")
    ('top_n', 5)
    >>> parse_param("label=a=b")
    ('label', 'a=b')
    >>> parse_param("tenant=012")
    ('tenant', '012')
    """
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise ConfigError(
            f"cannot read parameter {text!r}: use -p name=value with a Python identifier name"
        )
    check_not_secret(key)
    if key in TEXT_PARAMETERS:
        return key, raw
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, dict) or (
        isinstance(value, list) and any(isinstance(v, dict | list) for v in value)
    ):
        raise ConfigError(f"parameter {key!r}: only scalars and flat lists are accepted")
    if isinstance(value, datetime):
        value = iso(value if value.tzinfo else value.replace(tzinfo=UTC))
    elif value is not None and not isinstance(value, str | int | float | bool | list):
        value = raw
    return key, value


def check_not_secret(name: str) -> None:
    """Refuse parameter names that look like credentials (papermill records parameters)."""
    if _SECRET_NAME.search(name):
        raise ConfigError(
            f"parameter {name!r} looks like a credential; parameters are written into the "
            "report. Put credentials in the environment (TRIBUTARY_*) or the config file"
        )
