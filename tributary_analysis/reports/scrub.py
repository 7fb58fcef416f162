"""Keep credentials out of everything a report run writes.

Notebooks run with the credentials in their environment (sources need them). A notebook
that prints one — deliberately or through a traceback — must not leak it into the ``.ipynb``,
the HTML, the run log, the ledger or an error message. :class:`Scrubber` knows every secret
value in effect — everything :meth:`~tributary_analysis.config.Settings.secret_values`
lists (tokens, passwords, API keys, credential headers, URL userinfo, the webhook URL, the
SMTP password), plus the values of secret-looking environment variables and the passwords
in any URL an environment variable holds — and replaces each occurrence, counting them so
the report can say that something was redacted.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import unquote, urlsplit

from tributary_analysis.config import REDACTED, Settings

__all__ = ["REDACTED", "Scrubber"]

_SECRET_ENV = re.compile(
    r"(TOKEN|PASSWORD|PASSWD|SECRET|API_KEY|APIKEY|CREDENTIAL|WEBHOOK|PRIVATE_KEY|"
    r"ACCESS_KEY|COOKIE|SESSION)", re.I)
#: shorter values would redact ordinary words; such secrets are too weak to matter here
_MIN_LEN = 6


def _url_passwords(value: str) -> list[str]:
    """Passwords in the userinfo of a URL-looking value (``http://u:pw@host``)."""
    if "@" not in value or "://" not in value:
        return []
    try:
        parts = urlsplit(value.strip())
        password = parts.password
    except ValueError:
        return []
    return [password, unquote(password)] if password else []


class Scrubber:
    """Replace known secret values in strings and nested JSON-like structures."""

    def __init__(self, secrets: Iterable[str]) -> None:
        values = {s for s in secrets if s and len(s) >= _MIN_LEN}
        # longest first so a secret containing another is replaced whole
        self._values = sorted(values, key=len, reverse=True)
        self._pattern = (
            re.compile("|".join(re.escape(v) for v in self._values)) if self._values else None
        )
        self.count = 0

    @classmethod
    def from_environment(
        cls, settings: Settings | None = None, env: Mapping[str, str] | None = None
    ) -> Scrubber:
        """Every secret the run could see: the settings' secrets in all their written
        forms, the values of environment variables whose names look like credentials,
        and passwords in URLs held by any environment variable."""
        env = os.environ if env is None else env
        values: list[str] = list(settings.secret_values()) if settings is not None else []
        for key, value in env.items():
            if _SECRET_ENV.search(key):
                values.append(value)
            values.extend(_url_passwords(value))
        return cls(values)

    def __bool__(self) -> bool:
        return bool(self._values)

    @property
    def values(self) -> tuple[str, ...]:
        """The secret values this scrubber replaces (for a second scrubber, never a print)."""
        return tuple(self._values)

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by ``[redacted]``."""
        if self._pattern is None or not value:
            return value
        new, n = self._pattern.subn(REDACTED, value)
        self.count += n
        return new

    def data(self, value: bytes) -> bytes:
        """Bytes (a log file as written) with every secret replaced."""
        return self.text(value.decode("utf-8", errors="replace")).encode("utf-8")

    def tree(self, obj: Any) -> Any:
        """Scrub strings anywhere in a JSON-like structure (a notebook node), in place
        for dicts and lists; returns the scrubbed object."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            for k in list(obj):
                obj[k] = self.tree(obj[k])
            return obj
        if isinstance(obj, list):
            for i, v in enumerate(obj):
                obj[i] = self.tree(v)
            return obj
        return obj
