"""Mail a rendered report: SMTP with STARTTLS and login, headline tiles in the body, the PDF
(or a link) attached.

The body is built from the run's ``summary.json`` when it has a ``headline`` (a list of
``{name, value, unit, baseline, assessment}``; ``text`` when the notebook formatted the value
itself), else from the ledger record (status, window, figures, warnings). It has a plain
text and an HTML part; every value from the report is escaped in the HTML. The password
is read from a :class:`~tributary_analysis.config.Secret` at login and appears nowhere
else: not in the message, not in a log line, not in an error (smtplib's debug output stays
off). Failures are typed, each with the fix::

    MailError (ReportError)
    ├── MailConnectionError   refused / unreachable / timed out
    ├── MailTLSError          STARTTLS not offered, or the certificate did not verify
    └── MailAuthError         the server refused the login (or login needs STARTTLS)
"""

from __future__ import annotations

import html
import json
import logging
import mimetypes
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from tributary_analysis.config import Secret
from tributary_analysis.errors import (
    ConfigError,
    MailAuthError,
    MailConnectionError,
    MailError,
    MailTLSError,
)

__all__ = ["MailAuthError", "MailConfig", "MailConnectionError", "MailError", "MailTLSError",
           "build_message", "send_report"]

log = logging.getLogger(__name__)
ASSESSMENT_COLORS = {"ok": "#176d2b", "good": "#176d2b", "warning": "#8a6100",
                     "critical": "#b00020", "bad": "#b00020"}






@dataclass(frozen=True)
class MailConfig:
    """Where and how to send (until the settings carry SMTP fields, build it yourself).

    Parameters
    ----------
    host, port : str, int
        The SMTP submission server (port 587 with STARTTLS).
    sender : str
        The ``From`` address.
    to : sequence of str
        Recipients.
    username : str, optional
        Login name; no login without it.
    password : Secret, optional
        Only ever read when logging in.
    starttls : bool
        Upgrade to TLS before anything else (default; refused if the server does not
        offer it). ``False`` only for a local relay on loopback.
    ca_file : str, optional
        CA bundle to verify the server (default: the system's).
    timeout : float
        Seconds for connecting and each SMTP command.
    """

    host: str
    port: int = 587
    sender: str = ""
    to: tuple[str, ...] = ()
    username: str | None = None
    password: Secret | None = None
    starttls: bool = True
    ca_file: str | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if not self.host:
            raise ConfigError("mail: no SMTP host; set the SMTP host in the settings")
        if not self.sender or "@" not in self.sender:
            raise ConfigError(f"mail: the sender address {self.sender!r} is not an address; "
                              "set the SMTP from address in the settings")
        if not self.to or any("@" not in t for t in self.to):
            raise ConfigError(f"mail: recipients {list(self.to)!r} must be addresses; set "
                              "the SMTP to address(es) in the settings")
        if isinstance(self.password, str):
            object.__setattr__(self, "password", Secret(self.password))
        if self.username and not self.starttls and self.host not in ("127.0.0.1", "localhost",
                                                                     "::1"):
            raise ConfigError(f"mail: logging in to {self.host} without STARTTLS would send "
                              "the password in clear; enable STARTTLS")

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> MailConfig:
        """From the settings' SMTP fields (``smtp_host``, ``smtp_port``, ``smtp_username``,
        ``smtp_password``, ``smtp_from``, ``smtp_to``, ``smtp_starttls``,
        ``smtp_ca_bundle``), when they exist; ``overrides`` win."""
        def get(name: str, default: Any = None) -> Any:
            return overrides.get(name, getattr(settings, f"smtp_{name}", default))

        to = get("to", ())
        if isinstance(to, str):
            to = tuple(t.strip() for t in to.split(",") if t.strip())
        return cls(host=get("host", ""), port=int(get("port", 587) or 587),
                   sender=get("from", overrides.get("sender", "")) or "",
                   to=tuple(to), username=get("username"), password=get("password"),
                   starttls=bool(get("starttls", True)), ca_file=get("ca_bundle"),
                   timeout=float(get("timeout", 30.0)))


# ------------------------------------------------------------------------ the message


def _record_dict(record: Any) -> dict[str, Any]:
    if record is None:
        return {}
    if isinstance(record, Mapping):
        return dict(record)
    from dataclasses import asdict, is_dataclass

    return asdict(record) if is_dataclass(record) and not isinstance(record, type) else {}


def _tiles(summary: Mapping[str, Any] | None, record: Mapping[str, Any]
           ) -> list[dict[str, str]]:
    """Headline tiles as text: from ``summary.json``, else from the ledger record."""
    items = summary.get("headline") if isinstance(summary, Mapping) else None
    out = []
    if isinstance(items, list) and items:
        for h in items:
            if not isinstance(h, Mapping):
                continue
            value = h.get("text")
            if value in (None, ""):
                v = h.get("value")
                value = "—" if v is None else (f"{v:,.4g}" if isinstance(v, float) else str(v))
                unit = str(h.get("unit") or "")
                value = f"{value} {unit}".strip() if v is not None else value
            base = h.get("baseline")
            out.append({"name": str(h.get("name", "")), "value": str(value),
                        "baseline": "" if base in (None, "") else str(base),
                        "assessment": str(h.get("assessment") or "")})
        return out
    if record:
        out.append({"name": "Status", "value": str(record.get("status", "")),
                    "baseline": "", "assessment": "ok" if record.get("status") == "ok"
                    else "critical"})
        if record.get("figures") is not None:
            out.append({"name": "Figures", "value": str(record.get("figures")),
                        "baseline": "", "assessment": ""})
        out.append({"name": "Warnings", "value": str(record.get("warnings", 0)),
                    "baseline": "", "assessment": "warning" if record.get("warnings")
                    else ""})
    return out


def _findings(summary: Mapping[str, Any] | None) -> list[str]:
    items = summary.get("findings") if isinstance(summary, Mapping) else None
    out = []
    for f in items or []:
        if isinstance(f, Mapping):
            text = str(f.get("message") or f.get("text") or "")
            panel = f.get("panel")
            out.append(f"{panel}: {text}" if panel else text)
        elif isinstance(f, str):
            out.append(f)
    return out[:5]


def build_message(config: MailConfig, *, title: str, record: Any = None,
                  summary: Mapping[str, Any] | None = None, pdf: Path | None = None,
                  link: str | None = None) -> EmailMessage:
    """The mail for one report: subject, text + HTML parts, the PDF attached (or a link)."""
    rec = _record_dict(record)
    tiles = _tiles(summary, rec)
    findings = _findings(summary)
    status = str(rec.get("status") or (summary or {}).get("status") or "ok")
    window = ""
    if rec.get("window_start"):
        window = f"{rec.get('window_start')} → {rec.get('window_end')}"
    msg = EmailMessage()
    flag = "" if status == "ok" else f"[{status.upper()}] "
    msg["Subject"] = f"{flag}{title}" + (f" ({window})" if window else "")
    msg["From"] = config.sender
    msg["To"] = ", ".join(config.to)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=config.sender.rsplit("@", 1)[-1] or "localhost")
    lines = [title, "=" * len(title), ""]
    if window:
        lines += [f"Window: {window}", ""]
    for t in tiles:
        extra = f" (baseline {t['baseline']})" if t["baseline"] else ""
        mark = f" [{t['assessment']}]" if t["assessment"] else ""
        lines.append(f"  {t['name']}: {t['value']}{extra}{mark}")
    if findings:
        lines += ["", "Findings:"] + [f"  - {f}" for f in findings]
    lines.append("")
    if pdf is not None:
        lines.append(f"The report is attached as {pdf.name}.")
    if link:
        lines.append(f"Open the report: {link}")
    msg.set_content("\n".join(lines) + "\n")
    msg.add_alternative(_html_body(title, window, tiles, findings, pdf, link), subtype="html")
    if pdf is not None:
        if not pdf.is_file():
            raise MailError(f"cannot attach {pdf}: the file does not exist; render the report "
                            "with --format html,pdf first, or send a link")
        ctype = mimetypes.guess_type(pdf.name)[0] or "application/pdf"
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(pdf.read_bytes(), maintype=maintype, subtype=subtype,
                           filename=pdf.name)
    return msg


def _html_body(title: str, window: str, tiles: Sequence[Mapping[str, str]],
               findings: Sequence[str], pdf: Path | None, link: str | None) -> str:
    e = html.escape
    cells = []
    for t in tiles:
        color = ASSESSMENT_COLORS.get(t["assessment"].lower(), "#222")
        base = (f"<div style='font-size:12px;color:#666'>baseline {e(t['baseline'])}</div>"
                if t["baseline"] else "")
        cells.append(
            "<td style='border:1px solid #dde;padding:10px 14px;vertical-align:top'>"
            f"<div style='font-size:12px;color:#555'>{e(t['name'])}</div>"
            f"<div style='font-size:22px;font-weight:600;color:{color}'>{e(t['value'])}</div>"
            f"{base}</td>")
    rows = "".join(f"<tr>{''.join(cells[i:i + 4])}</tr>" for i in range(0, len(cells), 4))
    items = "".join(f"<li>{e(f)}</li>" for f in findings)
    after = []
    if pdf is not None:
        after.append(f"<p>The report is attached as <b>{e(pdf.name)}</b>.</p>")
    if link:
        after.append(f"<p><a href='{e(link, quote=True)}'>Open the report</a></p>")
    return (f"<html><body style='font-family:system-ui,sans-serif;color:#222'>"
            f"<h2 style='margin:0 0 4px 0'>{e(title)}</h2>"
            + (f"<p style='color:#555;margin:0 0 12px 0'>{e(window)}</p>" if window else "")
            + (f"<table style='border-collapse:collapse'>{rows}</table>" if rows else "")
            + (f"<h3>Findings</h3><ul>{items}</ul>" if items else "")
            + "".join(after) + "</body></html>")


# ------------------------------------------------------------------------ sending


def _connect(config: MailConfig) -> smtplib.SMTP:
    where = f"{config.host}:{config.port}"
    try:
        smtp = smtplib.SMTP(config.host, config.port, timeout=config.timeout)
    except ConnectionRefusedError:
        raise MailConnectionError(f"SMTP server {where} refused the connection; check the "
                                  "host and port (submission is usually 587)") from None
    except TimeoutError:
        raise MailConnectionError(f"SMTP server {where} did not answer within "
                                  f"{config.timeout:g} s; check the host, port and firewall"
                                  ) from None
    except (OSError, smtplib.SMTPException) as exc:
        raise MailConnectionError(f"cannot reach SMTP server {where}: {exc}; check the host "
                                  "and port") from None
    smtp.set_debuglevel(0)  # smtplib's debug output would print the AUTH exchange
    return smtp


def _tls(smtp: smtplib.SMTP, config: MailConfig) -> None:
    where = f"{config.host}:{config.port}"
    smtp.ehlo()
    if not smtp.has_extn("starttls"):
        raise MailTLSError(f"SMTP server {where} does not offer STARTTLS, so the password "
                           "and the report would travel in clear; use the submission port "
                           "(587) of a server with TLS")
    context = ssl.create_default_context(cafile=config.ca_file)
    try:
        smtp.starttls(context=context)
    except ssl.SSLCertVerificationError as exc:
        raise MailTLSError(f"the certificate of SMTP server {where} did not verify "
                           f"({exc.verify_message}); give its CA bundle as the SMTP CA "
                           "bundle setting") from None
    except (ssl.SSLError, smtplib.SMTPException) as exc:
        raise MailTLSError(f"STARTTLS with SMTP server {where} failed: {exc}") from None
    smtp.ehlo()


def send_message(msg: EmailMessage, config: MailConfig) -> None:
    """Send a built message (STARTTLS, then login, then the message)."""
    where = f"{config.host}:{config.port}"
    smtp = _connect(config)
    try:
        if config.starttls:
            _tls(smtp, config)
        if config.username:
            password = config.password.get() if config.password is not None else ""
            try:
                smtp.login(config.username, password)
            except smtplib.SMTPAuthenticationError as exc:
                raise MailAuthError(f"SMTP server {where} refused the login of "
                                    f"{config.username!r} ({exc.smtp_code}); check the SMTP "
                                    "username and password in the settings") from None
            except smtplib.SMTPNotSupportedError:
                raise MailAuthError(f"SMTP server {where} offers no login (AUTH); it may "
                                    "require STARTTLS first, or none at all: unset the "
                                    "SMTP username") from None
        try:
            refused = smtp.send_message(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            raise MailError(f"SMTP server {where} refused every recipient "
                            f"({', '.join(exc.recipients)}); check the SMTP to addresses"
                            ) from None
        except smtplib.SMTPSenderRefused as exc:
            raise MailError(f"SMTP server {where} refused the sender {exc.sender!r} "
                            f"({exc.smtp_code}); check the SMTP from address") from None
        except smtplib.SMTPDataError as exc:
            raise MailError(f"SMTP server {where} refused the message ({exc.smtp_code}: "
                            f"{exc.smtp_error!r}); a size limit? send a link instead of "
                            "the PDF") from None
        if refused:
            log.warning("SMTP server %s refused %d recipient(s): %s", where, len(refused),
                        ", ".join(refused))
    except (smtplib.SMTPServerDisconnected, ConnectionError) as exc:
        raise MailConnectionError(f"SMTP server {where} closed the connection: {exc}"
                                  ) from None
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            smtp.close()


def send_report(run_dir: str | Path, config: MailConfig, *, title: str | None = None,
                record: Any = None, attach_pdf: bool = True, link: str | None = None
                ) -> EmailMessage:
    """Mail the report rendered in ``run_dir``: tiles from its ``summary.json`` (else from
    ``record``), ``report.pdf`` attached when it exists and ``attach_pdf``, else ``link``.

    Returns the message sent (for logs and tests; it holds no credential).
    """
    run = Path(run_dir)
    summary = None
    summary_path = run / "summary.json"
    if summary_path.is_file():
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MailError(f"{summary_path} is not JSON ({exc}); re-render the report"
                            ) from None
    pdf = run / "report.pdf"
    use_pdf = pdf if attach_pdf and pdf.is_file() else None
    if use_pdf is None and not link:
        link = (run / "report.html").resolve().as_uri()
    rec = _record_dict(record)
    name = title or str(rec.get("title") or (summary or {}).get("dashboard") or run.parent.name)
    msg = build_message(config, title=name, record=rec, summary=summary, pdf=use_pdf,
                        link=link)
    send_message(msg, config)
    log.info("mailed %s to %d recipient(s) via %s:%s", name, len(config.to), config.host,
             config.port)
    return msg
