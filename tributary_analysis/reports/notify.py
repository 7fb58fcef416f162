"""Tell a chat channel that a report failed: Slack-style incoming-webhook JSON.

The webhook URL is a secret (whoever has it can post): it comes from
``$TRIBUTARY_REPORT_WEBHOOK_URL`` or ``[reports] webhook_url`` in the config file, and is
never logged, printed or written into a report. A notification that cannot be delivered is
logged (without the URL) and does not turn a report result into a crash.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import requests

from tributary_analysis.config import Secret, Settings, load_settings
from tributary_analysis.reports.ledger import RunRecord

log = logging.getLogger(__name__)

ENV_VAR = "TRIBUTARY_REPORT_WEBHOOK_URL"


def webhook_url(env: Mapping[str, str] | None = None) -> Secret | None:
    """The configured webhook (:attr:`Settings.webhook_url
    <tributary_analysis.config.Settings.webhook_url>`), or ``None`` when notifications are
    off."""
    return load_settings(env=env).webhook_url


def build_message(failed: Sequence[RunRecord], out_dir: Path) -> dict[str, Any]:
    """Slack-compatible payload: ``text`` for plain receivers, ``blocks`` for Slack."""
    lines = []
    for r in failed:
        who = f" tenant `{r.tenant}`" if r.tenant is not None else ""
        lines.append(f"• *{r.title}*{who}: {r.status} — {r.error or 'see report'}\n"
                     f"  window {r.window_start} → {r.window_end}; page {out_dir / r.html}")
    head = f"{len(failed)} Tributary report run(s) failed"
    return {
        "text": head + "\n" + "\n".join(lines),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": head}},
            *({"type": "section", "text": {"type": "mrkdwn", "text": line[:2900]}}
              for line in lines[:40]),
        ],
    }


class _Redact(logging.Filter):
    """urllib3 logs request lines (``POST /services/T0/B0/secret``) at debug level."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        from urllib.parse import urlsplit

        parts = urlsplit(secret)
        self.needles = [n for n in (secret, parts.path, parts.query) if len(n) > 1]

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.getMessage()
        if any(n in msg for n in self.needles):
            for n in self.needles:
                msg = msg.replace(n, "[webhook]")
            record.msg, record.args = msg, None
        return True


def post(url: Secret, payload: dict[str, Any], *, timeout: float = 10.0) -> bool:
    """POST ``payload``; True when the receiver answered 2xx. Never logs the URL."""
    redact = _Redact(url.get())
    pool_log = logging.getLogger("urllib3.connectionpool")
    pool_log.addFilter(redact)
    try:
        resp = requests.post(url.get(), json=payload, timeout=timeout)
    except requests.RequestException as exc:
        log.warning("failure notification not delivered: %s", type(exc).__name__)
        return False
    finally:
        pool_log.removeFilter(redact)
    if not resp.ok:
        log.warning("failure notification refused by the webhook: HTTP %s", resp.status_code)
        return False
    return True


def notify_failures(
    failed: Sequence[RunRecord], out_dir: Path, env: Mapping[str, str] | None = None,
    *, settings: Settings | None = None,
) -> bool | None:
    """Post one message for ``failed`` runs if a webhook is configured.

    Returns ``None`` when there was nothing to send or no webhook, else delivery success.
    ``settings`` (default: read from ``env``) says where the webhook is.
    """
    if not failed:
        return None
    url = settings.webhook_url if settings is not None else webhook_url(env)
    if url is None:
        return None
    return post(url, build_message(failed, out_dir))
