"""Session fixtures for PDF, mail and dashboard reports: real local SMTP servers
(reports-output area).

Star-imported by ``conftest.py`` so every test module shares them.

- ``smtp_server``: a real SMTP server (aiosmtpd) on 127.0.0.1 and a free port, STARTTLS
  with a throwaway certificate (trustme's CA, verified by the client through ``.ca_file``),
  AUTH required after STARTTLS for ``.username`` / ``.password``; ``.messages`` collects
  every accepted message (``email.message.EmailMessage``) with its envelope.
- ``smtp_plain_server``: the same without TLS (a server that offers no STARTTLS).
"""

from __future__ import annotations

import email
import email.policy
import secrets
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = ["SmtpServer", "smtp_plain_server", "smtp_server"]


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: email.message.EmailMessage
    raw: bytes
    authenticated_as: str | None


@dataclass
class SmtpServer:
    host: str
    port: int
    ca_file: str | None
    username: str
    password: str
    messages: list[Received] = field(default_factory=list)
    auth_failures: list[str] = field(default_factory=list)
    controller: Any = None

    def by_subject(self, subject: str) -> list[Received]:
        return [m for m in self.messages if subject in str(m.message["Subject"])]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(tmp: Path, *, tls: bool) -> SmtpServer:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    username, password = "reporter", "pw-" + secrets.token_urlsafe(12)
    server = SmtpServer("127.0.0.1", 0, None, username, password)
    lock = threading.Lock()

    class Handler:
        async def handle_DATA(self, smtp: Any, session: Any, envelope: Any) -> str:
            raw = bytes(envelope.original_content or envelope.content)
            msg = email.message_from_bytes(raw, policy=email.policy.default)
            who = getattr(session, "auth_data", None) if getattr(
                session, "authenticated", False) else None
            with lock:
                server.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos),
                                                msg, raw,  # type: ignore[arg-type]
                                                str(who) if who is not None else None))
            return "250 OK"

    def authenticator(smtp: Any, session: Any, envelope: Any, mechanism: str,
                      auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and \
                auth_data.login.decode() == username and \
                secrets.compare_digest(auth_data.password.decode(), password):
            return AuthResult(success=True, auth_data=username)
        server.auth_failures.append(mechanism)
        return AuthResult(success=False, handled=False)

    kwargs: dict[str, Any] = {"authenticator": authenticator, "auth_require_tls": tls,
                              "auth_required": tls}
    if tls:
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(ctx)
        ca_file = tmp / "smtp-ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        server.ca_file = str(ca_file)
        kwargs.update(tls_context=ctx, require_starttls=True)
    last: Exception | None = None
    for _ in range(5):  # a free port can be taken between the probe and the bind: retry
        port = _free_port()
        controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                                server_hostname="localhost", ready_timeout=20, **kwargs)
        try:
            controller.start()
        except (OSError, RuntimeError) as exc:
            last = exc
            continue
        server.port, server.controller = port, controller
        return server
    raise RuntimeError(f"could not start the local SMTP server: {last}")


@pytest.fixture(scope="session")
def smtp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """A real SMTP server with STARTTLS (throwaway CA) and AUTH, on a free loopback port."""
    server = _start(tmp_path_factory.mktemp("smtp-tls"), tls=True)
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture(scope="session")
def smtp_plain_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """A real SMTP server that offers no STARTTLS (to test the refusal)."""
    server = _start(tmp_path_factory.mktemp("smtp-plain"), tls=False)
    try:
        yield server
    finally:
        server.controller.stop()
