"""The one exception tree of crmsync.

Errors are grouped by what the engine does next, and every message names what went wrong and where
(file and key, connection and deal id, HTTP method and path). No message ever contains a secret.

```
CrmsyncError
├── ConfigError                 stop before anything is fetched (exit code 2)
│   └── MappingError            a mapping file is invalid, or does not fit the CRM's reference data
├── ConnectorError              something about one connection; it carries the connection name
│   ├── ConnectorLoadError      a connector plugin failed to import or is not installed
│   ├── AuthError               the CRM refused our credentials (exit code 3)
│   ├── TransportError          the CRM could not be reached (retried, then exit code 3)
│   ├── ApiError                the CRM answered with an error; stop this connection
│   │   ├── RetriableApiError   429 or a 5xx worth retrying with backoff
│   │   └── PaginationError     the CRM's paging went round in a loop or broke its own contract
│   └── WriteError              one deal could not be written (reported per deal, the run goes on)
├── RecordError                 one fetched record cannot be mapped: quarantine it and go on
├── WebhookRejected             a webhook's signature or credentials did not check out: answer 401, queue nothing
└── StoreError                  the state store failed
    └── LockedError             another run or scheduler holds the lock
```
"""

from __future__ import annotations

from crmsync.redact import redact


class CrmsyncError(Exception):
    """Base of every error crmsync raises on purpose. Its message is always redacted."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class ConfigError(CrmsyncError):
    """A configuration problem; raised before anything is fetched.

    Args:
        message: What is wrong and what is allowed.
        file: The file the problem is in, when there is one.
        key: The dotted key inside that file.
    """

    exit_code = 2

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        where = ", ".join(part for part in (file, f"key '{key}'" if key else None) if part)
        super().__init__(f"{where}: {message}" if where else message)


class MappingError(ConfigError):
    """A mapping file is invalid, or names stages/fields the CRM does not have."""


class ConnectorError(CrmsyncError):
    """An error that belongs to one connection."""

    def __init__(self, message: str, *, connection: str | None = None) -> None:
        self.connection = connection
        super().__init__(f"[{connection}] {message}" if connection else message)


class ConnectorLoadError(ConnectorError):
    """A connector plugin could not be found or imported."""


class AuthError(ConnectorError):
    """The CRM rejected the credentials (401), or they may not do this (403: `status` says which)."""

    exit_code = 3

    def __init__(self, message: str, *, connection: str | None = None, status: int | None = None) -> None:
        self.status = status
        super().__init__(message, connection=connection)


class TransportError(ConnectorError):
    """The CRM could not be reached: connection refused or dropped, timeout."""

    exit_code = 3


class ApiError(ConnectorError):
    """The CRM answered with an error status.

    Attributes:
        status: The HTTP status code.
        method: The HTTP method of the request.
        path: The request path (never the query string, which may hold a token).
        detail: The CRM's own error message, when the body carried one.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
        detail: str | None = None,
        connection: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.path = path
        self.detail = redact(detail) if detail else detail
        super().__init__(message, connection=connection)


class RetriableApiError(ApiError):
    """A 429 or 5xx answer that is worth another try after a wait.

    Attributes:
        retry_after: Seconds the CRM asked us to wait, when it said so.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class PaginationError(ApiError):
    """The CRM's paging broke its contract, for example by handing back a cursor it already gave."""


class WriteError(ConnectorError):
    """One deal could not be written back."""

    def __init__(self, message: str, *, deal_id: str, connection: str | None = None) -> None:
        self.deal_id = deal_id
        super().__init__(f"deal {deal_id}: {message}", connection=connection)


class RecordError(CrmsyncError):
    """A fetched record cannot be mapped to the canonical model.

    Args:
        message: What is wrong with the record.
        source_id: The record's id in the CRM, when it could be read.
        field: The remote field at fault, when there is one.
        kind: What the record is, as the message names it ('record', or 'stage' for an entry of a stage list).
    """

    def __init__(
        self, message: str, *, source_id: str | None = None, field: str | None = None, kind: str = "record"
    ) -> None:
        self.source_id = source_id
        self.field = field
        self.reason = f"{field}: {message}" if field else message
        where = f"{kind} {source_id}" if source_id else f"{kind} without id"
        super().__init__(f"{where}: {self.reason}")


class WebhookRejected(CrmsyncError):
    """A webhook whose signature, credentials or timestamp did not check out; nothing is queued for it."""


class StoreError(CrmsyncError):
    """The state store failed."""


class LockedError(StoreError):
    """Another process holds the lock asked for."""
