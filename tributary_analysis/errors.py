"""One exception hierarchy for the whole suite.

Every error says what failed, with which input (query, URL, index, file) and what to do::

    TributaryError
    ├── ConfigError              bad settings, missing credentials, unknown profile
    │   └── ScheduleBusy         the schedule is already running (another process holds its lock)
    ├── DataError                malformed input data (files, frames, rule files)
    │   └── SummaryError         a summary.json that does not follow its schema
    ├── StackError               the local demo stack could not start/stop
    ├── ReportError              a report failed to render (carries the failing cell)
    │   ├── OutputError          the reports directory cannot be written (read-only, full, a file)
    │   ├── PdfError             a page could not be printed to PDF
    │   │   ├── ChromiumError    Chromium exited, answered with an error or timed out
    │   │   └── ChromiumNotFound no Chromium binary on this machine
    │   └── MailError            a report could not be mailed
    │       ├── MailConnectionError  the SMTP server could not be reached
    │       ├── MailTLSError     STARTTLS not offered, or the certificate did not verify
    │       └── MailAuthError    the SMTP server refused the credentials
    └── SourceError              a data source refused or failed a request
        ├── SourceUnreachable    connection refused / DNS / TLS; retried, then raised
        │   └── ResponseTruncated  the connection dropped mid-body (fewer bytes than
        │                        Content-Length); retried on read requests, then raised
        ├── AuthenticationError  401/403: wrong or missing credentials, or not allowed
        ├── QueryError           the server rejected the query (PromQL bad_data, ES 400)
        ├── QueryTimeout         the server gave up (Prometheus ``timeout``, ES timed out)
        ├── TooManySamples       the query would load too many samples or points
        │   └── BudgetExceeded   refused *before sending*: the estimated requests or samples
        │                        exceed the budget (``estimate`` holds the figures)
        ├── ServerUnavailable    503/429/502 after the retry budget was spent
        ├── NotFoundError        a missing index, field, metric or endpoint
        └── UnexpectedResponse   a body that is not what the API documents (a proxy page)

Library code raises these; the CLI turns any of them into one readable line and exit code 2.
"""

from __future__ import annotations

from typing import Any


class TributaryError(Exception):
    """Base class: catch this to handle every error the suite raises on purpose."""


class ConfigError(TributaryError):
    """Settings are missing or invalid."""


class ScheduleBusy(ConfigError):
    """The schedule is already running (another process holds its lock)."""


class DataError(TributaryError):
    """Input data is malformed: names the input and what to fix."""


class SummaryError(DataError):
    """A summary that does not follow the schema (each problem named)."""


class StackError(TributaryError):
    """The local demo stack (Prometheus, Elasticsearch) could not be managed."""


class ReportError(TributaryError):
    """A report failed to render."""

    def __init__(self, message: str, *, report: str = "", cell: int | None = None) -> None:
        super().__init__(message)
        self.report = report
        self.cell = cell


class OutputError(ReportError):
    """The reports directory (``--out``) cannot be written: it is a file, read-only, or full.

    ``path`` is what could not be written; ``errno`` the operating system's reason.
    """

    def __init__(self, message: str, *, path: str = "", errno: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.errno = errno


class SourceError(TributaryError):
    """A request to a data source failed.

    Attributes carry the structured context so callers need not parse the message.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str = "",
        url: str = "",
        query: str = "",
        status: int | None = None,
        error_type: str = "",
    ) -> None:
        super().__init__(message)
        self.source = source
        self.url = url
        self.query = query
        self.status = status
        self.error_type = error_type


class SourceUnreachable(SourceError):
    """The server could not be reached at all."""


class AuthenticationError(SourceError):
    """The server refused the credentials, or the user may not do this."""


class QueryError(SourceError):
    """The server rejected the query as invalid."""


class QueryTimeout(SourceError):
    """The server timed the query out; narrow the window or raise the timeout."""


class TooManySamples(SourceError):
    """The query needs more samples or points than the server allows."""


class ServerUnavailable(SourceError):
    """The server is overloaded or down and retries did not help."""


class NotFoundError(SourceError):
    """A missing index, field, metric or API endpoint."""


class UnexpectedResponse(SourceError):
    """The server answered with something that is not the documented API (e.g. a proxy)."""


class ResponseTruncated(SourceUnreachable):
    """The server (or a proxy) closed the connection before the whole body arrived."""


class BudgetExceeded(TooManySamples):
    """A range query would need more requests or samples than the budget allows.

    ``estimate`` holds the figures (``requests``, ``points``, ``series``, ``samples``).
    """

    def __init__(self, message: str, *, estimate: dict[str, Any] | None = None,
                 **ctx: Any) -> None:
        super().__init__(message, **ctx)
        self.estimate = dict(estimate or {})


class PdfError(ReportError):
    """The page could not be printed (Chromium failed, timed out or drew no figures)."""


class ChromiumError(PdfError):
    """Chromium exited, answered with an error or did not answer in time."""


class ChromiumNotFound(PdfError):
    """No Chromium binary on this machine."""


class MailError(ReportError):
    """A report could not be mailed."""


class MailConnectionError(MailError):
    """The SMTP server could not be reached."""


class MailTLSError(MailError):
    """STARTTLS was not offered, or the server's certificate did not verify."""


class MailAuthError(MailError):
    """The SMTP server refused the credentials."""
