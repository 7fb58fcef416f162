"""Deliver a schedule's reports by mail, beside the failure webhook.

A schedule's ``mail:`` block (``docs/reports.md``)::

    mail:
      to: [sre@example.org]        # default: the settings' SMTP recipients
      attach: pdf                  # pdf (needs formats: [html, pdf]) or link
      when: always                 # always, or failure (only runs that did not succeed)
      base_url: https://reports.example.org/   # links point here (default: file:// paths)

One message per run (a tenant fan-out mails each tenant's report on its own), sent through
:func:`tributary_analysis.reports.mail.send_report` with the SMTP settings (host, port,
STARTTLS, login from the environment or the config file). A message that cannot be sent
does not undo the runs: the runs are recorded, every delivery is tried, and the failures
are raised together at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from tributary_analysis.config import Settings
from tributary_analysis.errors import ConfigError, ReportError, TributaryError
from tributary_analysis.reports.ledger import RunRecord

log = logging.getLogger(__name__)

_KEYS = {"to", "attach", "when", "base_url"}


@dataclass(frozen=True)
class MailAction:
    """How a schedule mails its reports."""

    to: tuple[str, ...] = ()
    attach: str = "pdf"  # pdf | link
    when: str = "always"  # always | failure
    base_url: str | None = None

    def wants(self, record: RunRecord) -> bool:
        return self.when == "always" or not record.ok


def parse_mail(raw: Any, where: str, formats: Sequence[str]) -> MailAction | None:
    """The ``mail:`` block of a schedule, checked; ``None`` when absent."""
    if raw is None or raw is False:
        return None
    if raw is True:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: 'mail' must be a mapping (to, attach, when, base_url)")
    extra = set(raw) - _KEYS
    if extra:
        raise ConfigError(f"{where}: unknown mail key(s) {', '.join(sorted(extra))}; known: "
                          f"{', '.join(sorted(_KEYS))}")
    to = raw.get("to") or ()
    to = (to,) if isinstance(to, str) else tuple(str(t) for t in to)
    attach = str(raw.get("attach", "pdf" if "pdf" in formats else "link"))
    if attach not in {"pdf", "link"}:
        raise ConfigError(f"{where}: mail attach {attach!r}: use pdf or link")
    if attach == "pdf" and "pdf" not in formats:
        raise ConfigError(f"{where}: mail attach pdf needs the PDF rendered: add "
                          "'formats: [html, pdf]' to the schedule, or attach: link")
    when = str(raw.get("when", "always"))
    if when not in {"always", "failure"}:
        raise ConfigError(f"{where}: mail when {when!r}: use always or failure")
    base = raw.get("base_url")
    if base is not None and not str(base).startswith(("http://", "https://")):
        raise ConfigError(f"{where}: mail base_url {base!r} must start with http:// or "
                          "https://")
    return MailAction(to=to, attach=attach, when=when,
                      base_url=str(base) if base is not None else None)


def deliver(records: Sequence[RunRecord], action: MailAction, out_dir: Path,
            settings: Settings) -> int:
    """Mail every record ``action`` wants; returns how many were sent.

    Raises
    ------
    ReportError
        Naming every run whose message could not be sent (after trying them all).
    """
    from tributary_analysis.reports.mail import MailConfig, send_report

    wanted = [r for r in records if action.wants(r)]
    if not wanted:
        return 0
    overrides: dict[str, Any] = {"to": action.to} if action.to else {}
    config = MailConfig.from_settings(settings, **overrides)
    failures: list[str] = []
    sent = 0
    for record in wanted:
        link = urljoin(action.base_url, record.html) if action.base_url else None
        try:
            send_report(out_dir / record.run_dir, config, record=record,
                        attach_pdf=action.attach == "pdf", link=link)
            sent += 1
        except TributaryError as exc:
            log.warning("report %s not mailed: %s", record.report, exc)
            failures.append(f"{record.report}{f' [{record.tenant!r}]' if record.tenant else ''}"
                            f": {exc}")
    if failures:
        raise ReportError(f"{len(failures)} of {len(wanted)} report mail(s) not sent: "
                          + "; ".join(failures), report=wanted[0].report)
    return sent
