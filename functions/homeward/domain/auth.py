"""Shopper sign-in (order number + email) with attempt limits, and merchant API keys."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from homeward.domain.orders import email_fingerprint, normalize_order_number
from homeward.errors import TooManyRequests, Unauthorized
from homeward.models.orders import PortalSession, SignInRequest

# One message for "no such order" and "wrong email": the answer must not reveal which.
SIGN_IN_FAILED = "We could not find an order with that order number and email address."


@dataclass(frozen=True)
class SignInLimits:
    """Failed attempts allowed per fixed window, per order number and per client IP."""

    per_order: int = 5
    per_ip: int = 20
    window_seconds: int = 900


class OrderDirectory(Protocol):
    def find_by_order_number(self, normalized_number: str) -> list[tuple[str, str]]:
        """(order_id, email_fingerprint) for every order with this number."""
        ...


class AttemptCounter(Protocol):
    def failures(self, keys: list[str], window_start: int) -> dict[str, int]: ...

    def record_failure(self, keys: list[str], window_start: int, expires_at: int) -> None: ...


def sign_in(
    request: SignInRequest,
    client_ip: str,
    *,
    directory: OrderDirectory,
    attempts: AttemptCounter,
    issue_token: Callable[[str, datetime], tuple[str, datetime]],
    limits: SignInLimits,
    now: datetime,
) -> PortalSession:
    """Open a portal session for one order, or fail identically whatever was wrong.

    `issue_token(order_id, now)` is only called on success, so a failed attempt never
    needs the signing key.
    """
    number = normalize_order_number(request.order_number)
    epoch = int(now.timestamp())
    window_start = epoch - epoch % limits.window_seconds
    retry_after = window_start + limits.window_seconds - epoch
    keys = {f"order:{number}": limits.per_order, f"ip:{client_ip}": limits.per_ip}

    counts = attempts.failures(list(keys), window_start)
    if any(counts.get(key, 0) >= limit for key, limit in keys.items()):
        raise TooManyRequests("Too many attempts; try again later", retry_after_seconds=retry_after)

    wanted = email_fingerprint(request.email)
    match = None
    for order_id, fingerprint in directory.find_by_order_number(number):
        # compare_digest on every candidate keeps the timing independent of which one matched.
        if hmac.compare_digest(fingerprint, wanted) and match is None:
            match = order_id
    if match is None:
        attempts.record_failure(list(keys), window_start, expires_at=window_start + 2 * limits.window_seconds)
        raise Unauthorized(SIGN_IN_FAILED, details={"reason": "sign_in_failed"})

    token, expires_at = issue_token(match, now)
    return PortalSession(token=token, order_id=match, expires_at=expires_at)


def check_api_key(presented: str | None, valid_keys: list[str]) -> None:
    """Merchant API keys: constant-time comparison against every active key (rotation)."""
    if not presented:
        raise Unauthorized("Missing API key", details={"reason": "missing_credentials"})
    ok = False
    for key in valid_keys:
        ok |= hmac.compare_digest(presented.encode(), key.encode())
    if not ok:
        raise Unauthorized("Invalid API key", details={"reason": "invalid_credentials"})
