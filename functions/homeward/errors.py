"""Typed domain errors. `handlers/api.py` maps each one to an HTTP status in one place."""

from __future__ import annotations


class HomewardError(Exception):
    """Base class: every error carries a machine-readable code and a human message."""

    code = "error"

    def __init__(self, message: str, *, details: dict | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class MalformedRequest(HomewardError):
    """The body cannot be read at all, e.g. it is not JSON (400)."""

    code = "malformed_json"


class NotFound(HomewardError):
    code = "not_found"


class Unauthorized(HomewardError):
    """Missing or invalid credentials (401)."""

    code = "unauthorized"


class WebhookSignatureInvalid(HomewardError):
    """A webhook that is not provably from its provider (401, without a Bearer challenge)."""

    code = "invalid_signature"

    def __init__(self, provider: str, reason: str, message: str) -> None:
        super().__init__(message, details={"provider": provider, "reason": reason})
        self.provider = provider
        self.reason = reason


class Forbidden(HomewardError):
    """Valid credentials that do not open this resource (403)."""

    code = "forbidden"


class Conflict(HomewardError):
    """The request conflicts with the current state (409): stale version, illegal transition."""

    code = "conflict"


class Unprocessable(HomewardError):
    """Well-formed but violates a domain rule (422), with reason codes in details."""

    code = "unprocessable"


class TooManyRequests(HomewardError):
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after_seconds: int) -> None:
        super().__init__(message, details={"retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds


class PayloadTooLarge(HomewardError):
    code = "payload_too_large"


class UnsupportedMediaType(HomewardError):
    """A body in a Content-Type the route does not read, e.g. not JSON on a JSON route (415)."""

    code = "unsupported_media_type"


class DependencyFailed(HomewardError):
    """An AWS service or provider failed in a way the caller may retry (503)."""

    code = "dependency_failed"
