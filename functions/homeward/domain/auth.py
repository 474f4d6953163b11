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
    """Failed attempts allowed per fixed window: per (order number, client) and per client.

    Nothing is counted per order number alone, so no stranger can lock a shopper out of their
    order: a client's failures only ever slow or stop that client. `per_order` (the name of
    the setting) is per order number *and* client.
    """

    per_order: int = 5
    per_ip: int = 20
    window_seconds: int = 900
    # A growing delay between one client's attempts on one order: 1, 2, 4, 8 ... seconds after
    # its last failure, up to this cap.
    max_delay_seconds: int = 60


@dataclass(frozen=True)
class Failures:
    count: int
    last_at: int  # epoch seconds of the latest failure in the window


class OrderDirectory(Protocol):
    def find_by_order_number(self, normalized_number: str) -> list[tuple[str, str]]:
        """(order_id, email_fingerprint) for every order with this number."""
        ...


class AttemptCounter(Protocol):
    def failures(self, keys: list[str], window_start: int) -> dict[str, Failures]: ...

    def record_failure(self, keys: list[str], window_start: int, expires_at: int, *, now: int) -> None: ...


def client_key(client_ip: str) -> str:
    """The client as counted: its IPv4 address, or its IPv6 /64 (one subscriber's network, whose
    addresses it can rotate at will)."""
    import ipaddress

    try:
        address = ipaddress.ip_address(client_ip)
    except ValueError:
        return client_ip[:64]
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


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

    Limits (docs/api.md): per (order number, client) `per_order` failures per window, with a
    growing delay between that client's attempts; per client `per_ip` failures per window.
    Both only hold back the client that failed: the shopper, from their own device, always gets
    to try (and the emailed sign-in link needs no order number at all).

    `issue_token(order_id, now)` is only called on success, so a failed attempt never
    needs the signing key.
    """
    number = normalize_order_number(request.order_number)
    epoch = int(now.timestamp())
    window_start = epoch - epoch % limits.window_seconds
    window_left = window_start + limits.window_seconds - epoch
    client = client_key(client_ip)
    pair, per_client = f"order-client:{number}:{client}", f"client:{client}"

    counts = attempts.failures([pair, per_client], window_start)
    mine, everywhere = counts.get(pair), counts.get(per_client)
    if (mine and mine.count >= limits.per_order) or (everywhere and everywhere.count >= limits.per_ip):
        raise TooManyRequests("Too many attempts; try again later", retry_after_seconds=window_left)
    if mine:
        delay = min(2 ** (mine.count - 1), limits.max_delay_seconds)
        wait = mine.last_at + delay - epoch
        if wait > 0:
            raise TooManyRequests(
                "Too many attempts; wait a moment", retry_after_seconds=min(wait, window_left)
            )

    wanted = email_fingerprint(request.email)
    match = None
    for order_id, fingerprint in directory.find_by_order_number(number):
        # compare_digest on every candidate keeps the timing independent of which one matched.
        if hmac.compare_digest(fingerprint, wanted) and match is None:
            match = order_id
    if match is None:
        attempts.record_failure(
            [pair, per_client], window_start, expires_at=window_start + 2 * limits.window_seconds, now=epoch
        )
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
