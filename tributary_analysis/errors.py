"""One exception hierarchy for the whole suite.

Every error says what failed, with which input (query, URL, index, file) and what to do::

    TributaryError
    ├── ConfigError              bad settings, missing credentials, unknown profile
    ├── DataError                malformed input data (files, frames, rule files)
    ├── StackError               the local demo stack could not start/stop
    ├── ReportError              a report failed to render (carries the failing cell)
    │   └── OutputError          the reports directory cannot be written (read-only, full, a file)
    └── SourceError              a data source refused or failed a request
        ├── SourceUnreachable    connection refused / DNS / TLS; retried, then raised
        ├── AuthenticationError  401/403: wrong or missing credentials, or not allowed
        ├── QueryError           the server rejected the query (PromQL bad_data, ES 400)
        ├── QueryTimeout         the server gave up (Prometheus ``timeout``, ES timed out)
        ├── TooManySamples       the query would load too many samples or points
        ├── ServerUnavailable    503/429/502 after the retry budget was spent
        ├── NotFoundError        a missing index, field, metric or endpoint
        └── UnexpectedResponse   a body that is not what the API documents (a proxy page)

Library code raises these; the CLI turns any of them into one readable line and exit code 2.
"""

from __future__ import annotations


class TributaryError(Exception):
    """Base class: catch this to handle every error the suite raises on purpose."""


class ConfigError(TributaryError):
    """Settings are missing or invalid."""


class DataError(TributaryError):
    """Input data is malformed: names the input and what to fix."""


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
