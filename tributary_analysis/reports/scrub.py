"""Keep credentials out of everything a report run writes.

Notebooks run with the credentials in their environment (sources need them). A notebook
that prints one — deliberately or through a traceback — must not leak it into the ``.ipynb``,
the HTML, the run log or the ledger. :class:`Scrubber` knows every secret value in effect
(settings plus secret-looking environment variables) and replaces each occurrence,
counting them so the report can say that something was redacted.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any

from tributary_analysis.config import Secret, Settings

REDACTED = "[redacted]"
_SECRET_ENV = re.compile(r"(TOKEN|PASSWORD|PASSWD|SECRET|API_KEY|APIKEY|CREDENTIAL)", re.I)
#: shorter values would redact ordinary words; such secrets are too weak to matter here
_MIN_LEN = 6


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
        """Every secret the run could see: settings' :class:`Secret` fields, and the values
        of environment variables whose names look like credentials."""
        env = os.environ if env is None else env
        values: list[str] = []
        if settings is not None:
            for f in fields(settings):
                v = getattr(settings, f.name)
                if isinstance(v, Secret):
                    values.append(v.get())
            user, pw = settings.prometheus_username, settings.prometheus_password
            if user and pw:
                values.append(base64.b64encode(f"{user}:{pw.get()}".encode()).decode())
            if settings.es_username and settings.es_password:
                values.append(base64.b64encode(
                    f"{settings.es_username}:{settings.es_password.get()}".encode()).decode())
        values.extend(v for k, v in env.items() if _SECRET_ENV.search(k))
        return cls(values)

    def __bool__(self) -> bool:
        return bool(self._values)

    def text(self, value: str) -> str:
        """``value`` with every secret replaced by ``[redacted]``."""
        if self._pattern is None or not value:
            return value
        new, n = self._pattern.subn(REDACTED, value)
        self.count += n
        return new

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
