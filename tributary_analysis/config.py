"""Settings: one object, read from the environment and an optional TOML file.

Precedence, highest first:

1. environment variables ``TRIBUTARY_*`` (see :data:`ENV_VARS`);
2. the config file: ``$TRIBUTARY_CONFIG``, else ``$TRIBUTARY_HOME/config.toml``;
3. the local demo stack's state file (``$TRIBUTARY_HOME/stack.json``: URLs only);
4. built-in defaults.

Secrets (tokens, passwords, API keys, the failure webhook's URL, the SMTP password) are
accepted only from 1 and 2, never from notebook parameters, and are held in :class:`Secret`
so that printing settings never shows them. Two more kinds of secret hide in ordinary
values, and are handled here once for every caller:

- **URL userinfo** (``http://user:PASSWORD@host:9090``): :class:`Settings` moves it into
  the username/password fields when it is built, so ``prometheus_url`` and ``es_url`` never
  carry a password into a message, a frame's metadata or a report header;
  :func:`redact_url` strips userinfo and credential query parameters from any other URL
  before it is shown.
- **Credential headers** (``Authorization``, ``X-Api-Key``, cookies, and the headers the
  config names in ``[secrets] headers``): :func:`is_credential_header` knows them; header
  mappings in settings print them masked, and :meth:`Settings.secret_values` hands their
  values to the report scrubber.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from tributary_analysis.errors import ConfigError

__all__ = [
    "CREDENTIAL_HEADERS", "ENV_VARS", "Headers", "Secret", "Settings", "default_home",
    "is_credential_header", "is_credential_param", "load_settings", "read_stack_state",
    "redact_headers", "redact_url",
]

REDACTED = "[redacted]"


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


# -- credential headers and URLs -------------------------------------------------------------

#: header names (lower case) that always carry credentials
CREDENTIAL_HEADERS: frozenset[str] = frozenset({
    "authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie",
})
#: header names that look like credentials even when nobody listed them
#: (``X-Auth-Token``, ``Private-Token``, ``X-Vault-Token``, ``X-Amz-Security-Token``…)
_CREDENTIAL_HEADER_NAME = re.compile(
    r"(token|secret|passw|api[-_]?key|apikey|credential|session|cookie|^x-auth)", re.I)
#: query parameter names that carry credentials (``?access_token=…``, ``?X-Amz-Signature=…``)
_CREDENTIAL_PARAM = re.compile(
    r"^(key|sig|code|auth)$|token|secret|passw|pwd|api[-_]?key|apikey|signature|credential"
    r"|session|auth", re.I)


def is_credential_header(name: str, extra: Iterable[str] = ()) -> bool:
    """Whether header ``name`` carries a credential: one of :data:`CREDENTIAL_HEADERS`, a
    name listed in ``extra`` (``[secrets] headers`` of the config), or a name that says so
    (``*-Token``, ``*-Api-Key``, ``*Secret*``, ``*Session*``).

    Examples
    --------
    >>> is_credential_header("Authorization"), is_credential_header("X-Scope-OrgID")
    (True, False)
    >>> is_credential_header("X-Tenant-Key", extra=["x-tenant-key"])
    True
    """
    low = name.strip().lower()
    return (low in CREDENTIAL_HEADERS or low in {e.strip().lower() for e in extra}
            or bool(_CREDENTIAL_HEADER_NAME.search(low)))


def is_credential_param(name: str) -> bool:
    """Whether URL query parameter ``name`` carries a credential (``token``, ``api_key``,
    ``sig``, ``X-Amz-Signature``, ``password``…)."""
    return bool(_CREDENTIAL_PARAM.search(name.strip()))


def redact_headers(headers: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """A copy of ``headers`` fit to print: credential headers show only ``(set)``.

    Examples
    --------
    >>> redact_headers({"Authorization": "Bearer abc", "X-Scope-OrgID": "acme"})
    {'Authorization': '(set)', 'X-Scope-OrgID': 'acme'}
    """
    extra = list(extra)
    return {k: ("(set)" if is_credential_header(k, extra) else str(v))
            for k, v in headers.items()}


def _netloc(host: str | None, port: int | None) -> str:
    host = host or ""
    if ":" in host:  # IPv6 literal: urlsplit dropped its brackets
        host = f"[{host}]"
    return host + (f":{port}" if port else "")


def _split(url: str) -> Any:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    return parts, port


def redact_url(url: str, *, path: bool = True) -> str:
    """``url`` fit to show: no ``user:password@``, credential query parameters replaced by
    ``[redacted]``, and with ``path=False`` no path or query at all (a Slack-style webhook
    carries its token in the path).

    Examples
    --------
    >>> redact_url("https://user:pw@prom.example:9090/api?token=abc&x=1")
    'https://prom.example:9090/api?token=%5Bredacted%5D&x=1'
    >>> redact_url("https://hooks.example/services/T0/B0/XYZ", path=False)
    'https://hooks.example/…'
    """
    if not url:
        return url
    parts, port = _split(url)
    if not parts.scheme and not parts.netloc:
        return url  # not a URL (a file glob, a bare host): nothing to strip
    netloc = _netloc(parts.hostname, port) if "@" in parts.netloc else parts.netloc
    if not path:
        return urlunsplit((parts.scheme, netloc, "", "", "")) + ("/…" if parts.path.strip("/")
                                                                 or parts.query else "")
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_credential_param(k) for k, _ in pairs):
            query = urlencode([(k, REDACTED if is_credential_param(k) else v)
                               for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""
                       if "token" in parts.fragment.lower() else parts.fragment))


def _userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without userinfo, and the (decoded) username and password it carried."""
    parts, port = _split(url)
    if "@" not in parts.netloc:
        return url, None, None
    user = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    clean = urlunsplit((parts.scheme, _netloc(parts.hostname, port), parts.path,
                        parts.query, parts.fragment))
    return clean, user or None, password


class Headers(dict[str, str]):
    """Request headers that print their credential values masked (``repr`` in a notebook,
    a traceback's locals, ``print(settings)``); the values themselves pass to clients."""

    secret_names: tuple[str, ...] = ()

    def masked(self) -> dict[str, str]:
        return redact_headers(self, self.secret_names)

    def __repr__(self) -> str:
        return repr(self.masked())

    __str__ = __repr__


# -- settings ----------------------------------------------------------------------------------

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
    """Connection settings for every source, the failure webhook and mail; build with
    :func:`load_settings`.

    URL userinfo is moved into the username/password fields: by :func:`load_settings` at
    the precedence of the source that gave the URL (an environment URL's user wins over the
    config file's username), and on construction (also through :func:`dataclasses.replace`),
    so no URL field ever holds a password.
    """

    home: Path = field(default_factory=default_home)
    prometheus_url: str = "http://127.0.0.1:9090"
    prometheus_token: Secret | None = None
    prometheus_username: str | None = None
    prometheus_password: Secret | None = None
    prometheus_headers: dict[str, str] = field(default_factory=dict)
    prometheus_ca_bundle: str | None = None
    prometheus_verify: bool = True
    prometheus_timeout: float = 60.0
    #: response encoding asked of Prometheus: ``auto`` (identity on loopback and private
    #: networks, where gzip costs the server more than it saves; gzip elsewhere), or force one
    prometheus_compression: str = "auto"
    es_url: str = "http://127.0.0.1:9200"
    es_username: str | None = None
    es_password: Secret | None = None
    es_api_key: Secret | None = None
    es_ca_bundle: str | None = None
    es_verify: bool = True
    es_index: str = "tributary-logs-*"
    log_files: str | None = None
    #: Jaeger's query server (``/api/v3``), e.g. ``http://127.0.0.1:16686``; no userinfo
    jaeger_url: str | None = None
    #: OTLP JSON-lines trace files (a glob), read with DuckDB when no Jaeger is asked for
    trace_files: str | None = None
    cache_dir: Path | None = None
    #: extra header names whose values are credentials (``[secrets] headers``)
    secret_headers: tuple[str, ...] = ()
    #: Slack-style incoming webhook for failed runs; the URL is the credential
    webhook_url: Secret | None = None
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: Secret | None = None
    smtp_from: str | None = None
    smtp_to: tuple[str, ...] = ()
    smtp_starttls: bool = True
    #: CA bundle that verifies the SMTP server's certificate (default: the system's)
    smtp_ca_bundle: str | None = None

    def __post_init__(self) -> None:
        values = {name: getattr(self, name) for name, _, _ in _USERINFO_FIELDS}
        values.update({n: getattr(self, n) for _, u, p in _USERINFO_FIELDS for n in (u, p)})
        for name, value in _expand_userinfo(values, "settings").items():
            object.__setattr__(self, name, value)
        headers = Headers(self.prometheus_headers)
        headers.secret_names = tuple(self.secret_headers)
        object.__setattr__(self, "prometheus_headers", headers)

    @property
    def stack_state_file(self) -> Path:
        return self.home / "stack.json"

    @property
    def work_dir(self) -> Path:
        """Private scratch space for unscrubbed report work (``$TRIBUTARY_HOME/work``):
        never under a reports directory, which is served as static files."""
        return self.home / "work"

    def credential_header(self, name: str) -> bool:
        """Whether header ``name`` is a credential under these settings."""
        return is_credential_header(name, self.secret_headers)

    def describe(self) -> dict[str, str]:
        """A printable summary: secrets show only whether they are set, URLs carry no
        credentials, credential headers show ``(set)``."""
        out: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret):
                out[f.name] = "(set)" if value else "(empty)"
            elif value is None:
                out[f.name] = "(not set)"
            elif isinstance(value, Mapping):
                out[f.name] = json.dumps(redact_headers(value, self.secret_headers))
            elif isinstance(value, tuple):
                out[f.name] = ", ".join(value) if value else "(none)"
            elif f.name.endswith("_url"):
                out[f.name] = redact_url(str(value))
            else:
                out[f.name] = str(value)
        return out

    def secret_values(self) -> list[str]:
        """Every secret string these settings hold, in each form it may be written.

        For the report scrubber: the :class:`Secret` fields, credential header values (and
        the token after ``Bearer``), ``user:password`` pairs as HTTP Basic sends them, and
        the webhook URL with its path and query (the token part of a Slack-style hook).
        Each also HTML-escaped, percent-encoded and JSON-escaped, since pages, URLs and
        notebooks write it so.
        """
        raw: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Secret) and value:
                raw.append(value.get())
        for name, value in self.prometheus_headers.items():
            if self.credential_header(name) and value:
                raw.append(value)
                scheme, _, token = value.partition(" ")
                if token and scheme.lower() in {"bearer", "basic", "token", "apikey"}:
                    raw.append(token.strip())
        for user, password in ((self.prometheus_username, self.prometheus_password),
                               (self.es_username, self.es_password),
                               (self.smtp_username, self.smtp_password)):
            if user and password:
                raw.append(base64.b64encode(f"{user}:{password.get()}".encode()).decode())
        if self.es_api_key:
            key = self.es_api_key.get()
            raw.append(base64.b64encode(key.encode()).decode())
        if self.webhook_url:
            parts = urlsplit(self.webhook_url.get())
            tail = parts.path + (f"?{parts.query}" if parts.query else "")
            raw.extend([parts.netloc + tail, tail, parts.query])
            raw.extend(seg for seg in parts.path.split("/") if len(seg) >= 16)
        out: list[str] = []
        for value in raw:
            if not value:
                continue
            out.extend([value, html.escape(value), quote(value, safe=""),
                        json.dumps(value)[1:-1]])
        return list(dict.fromkeys(out))


#: URL fields whose userinfo moves into (username, password) fields
_USERINFO_FIELDS = (("prometheus_url", "prometheus_username", "prometheus_password"),
                    ("es_url", "es_username", "es_password"))


def _expand_userinfo(values: dict[str, Any], origin: str) -> dict[str, Any]:
    """``values`` with ``user:password@`` moved out of its URLs into the username/password
    fields; the same layer giving another username or password as well is refused."""
    out = dict(values)
    for url_field, user_field, pw_field in _USERINFO_FIELDS:
        url = out.get(url_field)
        if not isinstance(url, str):
            continue
        clean, user, password = _userinfo(url)
        if clean == url:
            continue
        for name, value in ((user_field, user), (pw_field, password)):
            if value is None:
                continue
            have = out.get(name)
            have_text = have.get() if isinstance(have, Secret) else have
            if have_text not in (None, "", value):
                raise ConfigError(
                    f"{url_field} carries a {name.rsplit('_', 1)[1]} in its userinfo "
                    f"({redact_url(clean)}) and {name} is also set to another value in "
                    f"{origin}; give it once: drop 'user:password@' from the URL or unset "
                    f"{name}")
            out[name] = Secret(value) if name == pw_field else value
        out[url_field] = clean
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
    "TRIBUTARY_PROMETHEUS_COMPRESSION": "prometheus_compression",
    "TRIBUTARY_ES_URL": "es_url",
    "TRIBUTARY_ES_USERNAME": "es_username",
    "TRIBUTARY_ES_PASSWORD": "es_password",
    "TRIBUTARY_ES_API_KEY": "es_api_key",
    "TRIBUTARY_ES_CA_BUNDLE": "es_ca_bundle",
    "TRIBUTARY_ES_VERIFY": "es_verify",
    "TRIBUTARY_ES_INDEX": "es_index",
    "TRIBUTARY_LOG_FILES": "log_files",
    "TRIBUTARY_JAEGER_URL": "jaeger_url",
    "TRIBUTARY_TRACE_FILES": "trace_files",
    "TRIBUTARY_CACHE_DIR": "cache_dir",
    "TRIBUTARY_SECRET_HEADERS": "secret_headers",
    "TRIBUTARY_REPORT_WEBHOOK_URL": "webhook_url",
    "TRIBUTARY_SMTP_HOST": "smtp_host",
    "TRIBUTARY_SMTP_PORT": "smtp_port",
    "TRIBUTARY_SMTP_USERNAME": "smtp_username",
    "TRIBUTARY_SMTP_PASSWORD": "smtp_password",
    "TRIBUTARY_SMTP_FROM": "smtp_from",
    "TRIBUTARY_SMTP_TO": "smtp_to",
    "TRIBUTARY_SMTP_STARTTLS": "smtp_starttls",
    "TRIBUTARY_SMTP_CA_BUNDLE": "smtp_ca_bundle",
}

_SECRET_FIELDS = {"prometheus_token", "prometheus_password", "es_password", "es_api_key",
                  "webhook_url", "smtp_password"}
_BOOL_FIELDS = {"prometheus_verify", "es_verify", "smtp_starttls"}
_LIST_FIELDS = {"secret_headers", "smtp_to"}
#: keys of the stack state file that may set defaults (never secrets)
_STATE_KEYS = {("prometheus", "url"): "prometheus_url", ("elasticsearch", "url"): "es_url",
               ("logs", "files"): "log_files", ("jaeger", "url"): "jaeger_url",
               ("traces", "files"): "trace_files"}
#: config-file table → prefix of its keys' field names
_TABLES = {"prometheus": "prometheus_", "elasticsearch": "es_", "logs": "", "cache": "cache_",
           "secrets": "secret_", "reports": "", "smtp": "smtp_", "traces": ""}


def _as_list(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        text = raw.strip()
        items = json.loads(text) if text.startswith("[") else text.split(",")
    else:
        items = list(raw)
    if not isinstance(items, list):
        raise ValueError("expected a list or comma-separated names")
    return tuple(str(i).strip() for i in items if str(i).strip())


def _coerce(name: str, raw: Any, origin: str) -> Any:
    """Turn a raw env/file value into the field's type, or say which input is wrong.

    The message names the field and where the value came from, never the value itself
    (it may be a credential).
    """
    try:
        if name in _SECRET_FIELDS:
            if not isinstance(raw, str):
                raise ValueError("expected a string")
            return Secret(raw)
        if name == "prometheus_headers":
            value = json.loads(raw) if isinstance(raw, str) else dict(raw)
            if not isinstance(value, dict):
                raise ValueError("expected a JSON object")
            return Headers({str(k): str(v) for k, v in value.items()})
        if name in _BOOL_FIELDS:
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
        if name == "prometheus_compression":
            mode = str(raw).strip().lower()
            if mode not in {"auto", "identity", "gzip"}:
                raise ValueError("use auto, identity or gzip")
            return mode
        if name == "smtp_port":
            port = int(raw)
            if not 0 < port < 65536:
                raise ValueError("must be a TCP port, 1-65535")
            return port
        if name in _LIST_FIELDS:
            return _as_list(raw)
        if name in {"home", "cache_dir"}:
            return Path(str(raw)).expanduser()
        if name == "jaeger_url":
            url = str(raw).strip()
            if _userinfo(url)[0] != url:
                raise ValueError("the URL carries user:password@; the Jaeger source sends no "
                                 "credentials, so give the URL without them (put an "
                                 "authenticating proxy on loopback if Jaeger needs them)")
            return url
        return str(raw)
    except (ValueError, TypeError) as exc:
        raise ConfigError(
            f"invalid value for {name} from {origin}: {exc}; fix or unset it"
        ) from None


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
    >>> s = load_settings(env={"TRIBUTARY_PROMETHEUS_URL": "http://u:pw@127.0.0.1:9999"})
    >>> s.prometheus_url, s.prometheus_username, s.prometheus_password
    ('http://127.0.0.1:9999', 'u', Secret('********'))
    """
    env = os.environ if env is None else env
    home = default_home(env)
    values: dict[str, Any] = {"home": home}

    state = read_stack_state(home)
    for (section, key), name in _STATE_KEYS.items():
        sect = state.get(section)
        if isinstance(sect, dict) and sect.get(key):
            values[name] = _coerce(name, sect[key], f"stack state {home / 'stack.json'}")
    if "trace_files" not in values and isinstance(state.get("sim_dir"), str):
        # a stack recorded before it wrote ``traces.files``: the simulation's trace files
        values["trace_files"] = str(Path(state["sim_dir"]) / "traces" / "*.jsonl")

    path = Path(config_file) if config_file else (
        Path(env["TRIBUTARY_CONFIG"]) if env.get("TRIBUTARY_CONFIG") else home / "config.toml"
    )
    if config_file is not None or env.get("TRIBUTARY_CONFIG") or path.exists():
        values.update(_expand_userinfo(_read_config_file(path), f"config file {path}"))

    layer: dict[str, Any] = {}
    for var, name in ENV_VARS.items():
        if env.get(var) not in (None, ""):
            layer[name] = _coerce(name, env[var], f"environment variable {var}")
    values.update(_expand_userinfo(layer, "the environment"))
    return Settings(**values)


def _read_config_file(path: Path) -> dict[str, Any]:
    """Flatten the config file's tables into field names.

    Tables: ``[prometheus]``, ``[elasticsearch]``, ``[logs]`` (``files``), ``[traces]``
    (``jaeger_url``, ``files``), ``[cache]`` (``dir``), ``[secrets]`` (``headers``),
    ``[reports]`` (``webhook_url``), ``[smtp]`` (``host``, ``port``, ``username``,
    ``password``, ``from``, ``to``, ``starttls``, ``ca_bundle``).
    """
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"config file {path} does not exist; create it or unset "
                          "TRIBUTARY_CONFIG") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"cannot parse config file {path}: {exc}") from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}; check its "
                          "permissions") from exc
    valid = {f.name for f in fields(Settings)} - {"home"}
    out: dict[str, Any] = {}
    for table, prefix in _TABLES.items():
        section = data.get(table, {})
        if not isinstance(section, dict):
            raise ConfigError(f"[{table}] in {path} must be a table")
        for key, raw in section.items():
            name = f"{prefix}{key}"
            if table == "logs" and key in {"files", "log_files"}:
                name = "log_files"
            elif table == "traces" and key in {"files", "trace_files"}:
                name = "trace_files"
            elif table == "reports" and key != "webhook_url":
                name = f"reports_{key}"
            if name not in valid:
                raise ConfigError(f"unknown setting {table}.{key} in {path}; known: "
                                  + ", ".join(sorted(valid)))
            out[name] = _coerce(name, raw, f"config file {path}")
    return out
