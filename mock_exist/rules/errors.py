"""One exception class per error the emulated API puts on the wire.

Whole-request errors (``ApiError`` subclasses) become a status code and ``{"detail": "..."}``, as
Django REST Framework (which exist.io runs on) renders them. Per-item errors (``ItemError``
subclasses) become an entry in a write response's ``failed`` list with ``error_code`` and ``error``.
OAuth2 token-endpoint errors (``OAuthError``) use RFC 6749's ``{"error": "..."}`` shape.
"""

from __future__ import annotations


class ApiError(Exception):
    """A whole-request error: the request is refused with ``status`` and ``{"detail": ...}``."""

    status = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.headers = dict(headers or {})

    def body(self) -> dict:
        return {"detail": self.detail}


class BadRequest(ApiError):
    status = 400


class MalformedJson(BadRequest):
    """The body claimed to be JSON and was not (DRF: "JSON parse error - ...")."""


class TooManyItems(BadRequest):
    """A write body with more objects than the per-request cap (35 on exist.io)."""


class NotAuthenticated(ApiError):
    """Missing, unknown, revoked or expired token."""

    status = 401

    def __init__(self, detail: str):
        super().__init__(detail, {"WWW-Authenticate": 'Bearer realm="api"'})


class PermissionDenied(ApiError):
    """Authenticated, but this credential may not do this (a read-only simple token writing)."""

    status = 403


class NotFound(ApiError):
    status = 404


class PayloadTooLarge(ApiError):
    """A request body over the mock's size limit (``MockConfig.max_body_bytes``; assumed)."""

    status = 413

    def __init__(self, limit: int):
        super().__init__(f"Request body too large: at most {limit} bytes are accepted.")


class UnsupportedMediaType(ApiError):
    status = 415


class Throttled(ApiError):
    """More requests than the per-token hourly budget allows."""

    status = 429

    def __init__(self, retry_after: int):
        super().__init__(
            f"Request was throttled. Expected available in {retry_after} seconds.",
            {"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class ItemError(Exception):
    """A per-item failure of a write request: ``error_code`` plus a human ``error`` message."""

    code = "validation"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MissingField(ItemError):
    code = "missing_field"

    def __init__(self, index: int, fields: list[str]):
        names = ", ".join(f"'{f}'" for f in fields)
        super().__init__(f"Object at index {index} missing field(s) {names}")


class ValidationFailed(ItemError):
    code = "validation"


class Unauthorised(ItemError):
    """The attribute exists but another service (or none) owns it."""

    code = "unauthorised"

    def __init__(self, name: str):
        super().__init__(f"Attribute '{name}' does not belong to this service")


class ItemNotFound(ItemError):
    code = "not_found"


class NotAllowed(ItemError):
    """The token lacks the write scope for the attribute's group."""

    code = "not_allowed"

    def __init__(self, group: str):
        super().__init__(f"No permission to write to attributes in group '{group}'")


class OAuthError(Exception):
    """An RFC 6749 error from ``/oauth2/access_token``."""

    def __init__(self, error: str, description: str = "", status: int = 400):
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body
