"""Settings: one object, read from the environment and an optional TOML file.

Precedence, highest first:

1. environment variables ``TRIBUTARY_*`` (see :data:`ENV_VARS`);
2. the config file: ``$TRIBUTARY_CONFIG``, else ``$TRIBUTARY_HOME/config.toml``;
3. the local demo stack's state file (``$TRIBUTARY_HOME/stack.json``: URLs only);
4. built-in defaults.

Secrets (tokens, passwords, API keys) are accepted only from 1 and 2, never from notebook
parameters, and are held in :class:`Secret` so that printing settings never shows them.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from tributary_analysis.errors import ConfigError


class Secret:
    """A string that never shows itself in ``repr``/``str`` (notebooks, logs, tracebacks)."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """The real value: pass it to a client, never to a print."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def default_home(env: Mapping[str, str] | None = None) -> Path:
    """Where the suite keeps state: ``$TRIBUTARY_HOME`` or ``~/.local/state/tributary``."""
    env = os.environ if env is None else env
    home = env.get("TRIBUTARY_HOME")
    if home:
        return Path(home).expanduser()
    base = env.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tributary"


@dataclass(frozen=True)
class Settings:
    """Connection settings for every source; build with :func:`load_settings`."""

    home: Path = field(default_factory=default_home)
    prometheus_url: str = "http://127.0.0.1:9090"
    prometheus_token: Secret | None = None
    prometheus_username: str | None = None
    prometheus_password: Secret | None = None
    prometheus_headers: dict[str, str] = field(default_factory=dict)
    prometheus_ca_bundle: str | None = None
    prometheus_verify: bool = True
    prometheus_timeout: float = 60.0
    es_url: str = "http://127.0.0.1:9200"
    es_username: str | None = None
    es_password: Secret | None = None
    es_api_key: Secret | None = None
    es_ca_bundle: str | None = None
    es_verify: bool = True
    es_index: str = "tributary-logs-*"
    log_files: str | None = None
    cache_dir: Path | None = None

    @property
    def stack_state_file(self) -> Path:
        return self.home / "stack.json"

    def describe(self) -> dict[str, str]:
        """A printable summary: secrets show only whether they are set."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                out[f.name] = "(set)" if value else "(empty)"
            elif value is None:
                out[f.name] = "(not set)"
            else:
                out[f.name] = str(value)
        return out


#: environment variable → settings field
ENV_VARS: dict[str, str] = {
    "TRIBUTARY_PROMETHEUS_URL": "prometheus_url",
    "TRIBUTARY_PROMETHEUS_TOKEN": "prometheus_token",
    "TRIBUTARY_PROMETHEUS_USERNAME": "prometheus_username",
    "TRIBUTARY_PROMETHEUS_PASSWORD": "prometheus_password",
    "TRIBUTARY_PROMETHEUS_HEADERS": "prometheus_headers",
    "TRIBUTARY_PROMETHEUS_CA_BUNDLE": "prometheus_ca_bundle",
    "TRIBUTARY_PROMETHEUS_VERIFY": "prometheus_verify",
    "TRIBUTARY_PROMETHEUS_TIMEOUT": "prometheus_timeout",
    "TRIBUTARY_ES_URL": "es_url",
    "TRIBUTARY_ES_USERNAME": "es_username",
    "TRIBUTARY_ES_PASSWORD": "es_password",
    "TRIBUTARY_ES_API_KEY": "es_api_key",
    "TRIBUTARY_ES_CA_BUNDLE": "es_ca_bundle",
    "TRIBUTARY_ES_VERIFY": "es_verify",
    "TRIBUTARY_ES_INDEX": "es_index",
    "TRIBUTARY_LOG_FILES": "log_files",
    "TRIBUTARY_CACHE_DIR": "cache_dir",
}

_SECRET_FIELDS = {"prometheus_token", "prometheus_password", "es_password", "es_api_key"}
#: keys of the stack state file that may set defaults (never secrets)
_STATE_KEYS = {("prometheus", "url"): "prometheus_url", ("elasticsearch", "url"): "es_url",
               ("logs", "files"): "log_files"}


def _coerce(name: str, raw: Any, origin: str) -> Any:
    """Turn a raw env/file value into the field's type, or say which input is wrong."""
    try:
        if name in _SECRET_FIELDS:
            return Secret(str(raw))
        if name == "prometheus_headers":
            value = json.loads(raw) if isinstance(raw, str) else dict(raw)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object")
            return {str(k): str(v) for k, v in value.items()}
        if name in {"prometheus_verify", "es_verify"}:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected true or false")
        if name == "prometheus_timeout":
            value = float(raw)
            if value <= 0:
                raise ValueError("must be positive")
            return value
        if name in {"home", "cache_dir"}:
            return Path(str(raw)).expanduser()
        return str(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"invalid value for {name} from {origin}: {exc}; fix or unset it"
        ) from exc


def read_stack_state(home: Path) -> dict[str, Any]:
    """The local stack's state file, or ``{}`` when no stack was started."""
    path = home / "stack.json"
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"cannot read the stack state file {path}: {exc}; run 'tributary demo down' "
            "and 'tributary demo up' to recreate it"
        ) from exc
    return data if isinstance(data, dict) else {}


def load_settings(
    env: Mapping[str, str] | None = None, config_file: str | Path | None = None
) -> Settings:
    """Build :class:`Settings` from environment, config file and stack state.

    Examples
    --------
    >>> s = load_settings(env={"TRIBUTARY_PROMETHEUS_URL": "http://127.0.0.1:9999"})
    >>> s.prometheus_url
    'http://127.0.0.1:9999'
    """
    env = os.environ if env is None else env
    home = default_home(env)
    values: dict[str, Any] = {"home": home}

    state = read_stack_state(home)
    for (section, key), name in _STATE_KEYS.items():
        sect = state.get(section)
        if isinstance(sect, dict) and sect.get(key):
            values[name] = _coerce(name, sect[key], f"stack state {home / 'stack.json'}")

    path = Path(config_file) if config_file else (
        Path(env["TRIBUTARY_CONFIG"]) if env.get("TRIBUTARY_CONFIG") else home / "config.toml"
    )
    if config_file is not None or env.get("TRIBUTARY_CONFIG") or path.exists():
        values.update(_read_config_file(path))

    for var, name in ENV_VARS.items():
        if env.get(var) not in (None, ""):
            values[name] = _coerce(name, env[var], f"environment variable {var}")
    return Settings(**values)


def _read_config_file(path: Path) -> dict[str, Any]:
    """Flatten ``[prometheus]``/``[elasticsearch]``/``[logs]`` tables into field names."""
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist; create it or unset "
                          "TRIBUTARY_CONFIG") from exc
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot parse config file {path}: {exc}") from exc
    prefixes = {"prometheus": "prometheus_", "elasticsearch": "es_", "logs": "", "cache": "cache_"}
    valid = {f.name for f in fields(Settings)}
    out: dict[str, Any] = {}
    for table, prefix in prefixes.items():
        section = data.get(table, {})
        if not isinstance(section, dict):
            raise ConfigError(f"[{table}] in {path} must be a table")
        for key, raw in section.items():
            name = key if table == "logs" and key == "log_files" else f"{prefix}{key}"
            if table == "logs" and key == "files":
                name = "log_files"
            if name not in valid:
                raise ConfigError(f"unknown setting {table}.{key} in {path}; known: "
                                  + ", ".join(sorted(valid)))
            out[name] = _coerce(name, raw, f"config file {path}")
    return out
