"""The exceptions the sync engine raises and catches, named for what the caller should do about them."""

from __future__ import annotations


class SyncConfigError(ValueError):
    """A sync file (or the environment it names) is wrong: says which file, which key and why."""

    def __init__(self, reason: str, *, file: str | None = None, key: str | None = None) -> None:
        self.file = file
        self.key = key
        self.reason = reason
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {reason}" if where else reason)


class InvalidRecord(ValueError):
    """One record cannot be expressed in the destination's format (e.g. no usable identifier)."""


class DestinationError(RuntimeError):
    """Base class for errors talking to a destination."""


class RetryableError(DestinationError):
    """The request may succeed if repeated: 429, 5xx, a timeout or a dropped connection.

    `retry_after` is the server's own instruction in seconds (from `Retry-After`), when it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BatchRejected(DestinationError):
    """The destination refused the whole batch as invalid (typically 400): split it to find the bad record."""


class DestinationFatalError(DestinationError):
    """Retrying cannot help (bad credentials, missing list, endpoint gone): stop the run."""


class DestinationUnavailable(DestinationError):
    """Retries were exhausted; the batch's outcome is unknown and it stays in the journal for the next run."""


class SyncAborted(RuntimeError):
    """A safety guard stopped the run before anything was sent."""
