"""Typed errors of the Exist client.

Everything raised because of Exist (or the network on the way to it) is an ``ExistError``:

- ``AuthError``: 401 (bad, expired or revoked token; a refresh that failed) and its subclass
  ``PermissionDenied`` for 403. ``CredentialsError`` is a missing/corrupt token file.
- ``RateLimited``: Exist answered 429; ``retry_after`` is how many seconds to wait. Its subclass
  ``BudgetExhausted`` means *our own* budget refused to send (no request was made).
- ``ServerError``: a 5xx that kept failing after the retries.
- ``ConnectionFailed``: no answer (refused, timed out, reset) after the retries.
- ``ClientError``: any other 4xx (400, 404, 405, 415...); never retried, because it would fail
  again. ``ValidationError`` is its 400 subclass.
- ``OutcomeUnknown``: a non-idempotent write (``increment``) was sent and then failed in a way that
  doesn't tell whether Exist applied it (5xx, read timeout, connection reset). It is never retried
  automatically: retrying could count the same increment twice. The caller decides (see the
  ``items`` of the request in doubt).

Errors raised in the middle of a chunked write carry ``completed`` (the merged ``WriteResult`` of
the chunks that succeeded before) and ``unsent`` (items never sent).

``InvalidValue`` (a ``ValueError``, not an ``ExistError``) is raised before any request when a
value can't be valid for its attribute (NaN, None, a bool, 1.5 for an integer type...).

Messages never contain tokens: the client redacts them before raising.
"""

from __future__ import annotations

from typing import Any


class ExistError(Exception):
    """Base of every error caused by talking to Exist: ``status``, the HTTP status when Exist
    answered; ``detail``, what its answer said (its JSON ``detail``; a 401's as redacted text)."""

    def __init__(self, message: str, status: int | None = None, detail: Any = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.detail = detail
        # filled in by chunked writes that fail part-way
        self.completed: Any = None
        self.unsent: list[dict[str, Any]] = []

    def __str__(self) -> str:
        return self.message


class AuthError(ExistError):
    """Exist refused the credentials (401), or they could not be refreshed."""


class CredentialsError(AuthError):
    """No usable credentials: token file missing, unreadable or malformed."""


class PermissionDenied(AuthError):
    """Authenticated but not allowed (403), e.g. a read-only token writing."""


class AuthorizationFailed(AuthError):
    """The OAuth2 authorisation flow failed: the user denied it, or the code exchange failed."""


class RateLimited(ExistError):
    """Too many requests: Exist answered 429. Wait ``retry_after`` seconds."""

    def __init__(self, message: str, retry_after: float, status: int | None = 429):
        super().__init__(message, status)
        self.retry_after = float(retry_after)


class BudgetExhausted(RateLimited):
    """Our own request budget is spent for now; nothing was sent. Wait ``retry_after``."""

    def __init__(self, message: str, retry_after: float):
        super().__init__(message, retry_after, status=None)


class ServerError(ExistError):
    """Exist kept answering 5xx."""


class ConnectionFailed(ExistError):
    """Exist could not be reached (connection refused, timeout, reset)."""


class ClientError(ExistError):
    """A 4xx other than 401/403/429: the request itself is wrong and would fail again."""


class ValidationError(ClientError):
    """400 Bad Request (malformed body, too many items, bad parameters)."""


class OutcomeUnknown(ExistError):
    """A non-idempotent write may or may not have been applied; it was NOT retried.

    ``items`` are the objects of the request in doubt. Check the day's value (for example with
    ``attributes_with_values``) before sending them again, or drop them.
    """

    def __init__(self, message: str, items: list[dict[str, Any]], status: int | None = None):
        super().__init__(message, status)
        self.items = list(items)


class InvalidValue(ValueError):
    """A value that can't be valid for its attribute; raised before wasting a request."""

    def __init__(self, attribute: str, value: object, reason: str):
        super().__init__(f"invalid value {value!r} for attribute '{attribute}': {reason}")
        self.attribute = attribute
        self.value = value
        self.reason = reason
