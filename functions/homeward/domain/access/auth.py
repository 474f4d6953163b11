"""Shopper sign-in (order number + email) with attempt limits, and merchant API keys."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from homeward.domain.orders.rules import email_fingerprint, normalize_order_number
from homeward.errors import TooManyRequests, Unauthorized
from homeward.models.orders import Order, PortalSession, SignInRequest
from homeward.models.portal import GiftSignInRequest, SignInLinkRequest

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


@dataclass(frozen=True)
class _Window:
    """The fixed window a sign-in attempt counts in."""

    start: int
    left: int
    expires_at: int
    epoch: int

    @classmethod
    def at(cls, now: datetime, seconds: int) -> _Window:
        epoch = int(now.timestamp())
        start = epoch - epoch % seconds
        return cls(start=start, left=start + seconds - epoch, expires_at=start + 2 * seconds, epoch=epoch)


def _check_limits(
    counts: dict[str, Failures], pair: str, per_client: str, limits: SignInLimits, window: _Window
):
    """429 when this client spent its failures on this order or in all, or must still wait."""
    mine, everywhere = counts.get(pair), counts.get(per_client)
    if (mine and mine.count >= limits.per_order) or (everywhere and everywhere.count >= limits.per_ip):
        raise TooManyRequests("Too many attempts; try again later", retry_after_seconds=window.left)
    if mine:
        delay = min(2 ** (mine.count - 1), limits.max_delay_seconds)
        wait = mine.last_at + delay - window.epoch
        if wait > 0:
            raise TooManyRequests(
                "Too many attempts; wait a moment", retry_after_seconds=min(wait, window.left)
            )


def _guarded(
    number: str,
    client_ip: str,
    matches: Callable[[str, str], bool],
    *,
    directory: OrderDirectory,
    attempts: AttemptCounter,
    limits: SignInLimits,
    now: datetime,
) -> str:
    """The order id with this number that `matches(order_id, email_fp)` approves, under the limits.

    Limits (docs/api.md): per (order number, client) `per_order` failures per window, with a
    growing delay between that client's attempts; per client `per_ip` failures per window.
    Both only hold back the client that failed: the shopper, from their own device, always gets
    to try (and the emailed sign-in link needs no order number at all).
    """
    window = _Window.at(now, limits.window_seconds)
    client = client_key(client_ip)
    pair, per_client = f"order-client:{number}:{client}", f"client:{client}"
    _check_limits(attempts.failures([pair, per_client], window.start), pair, per_client, limits, window)
    match = None
    for order_id, fingerprint in directory.find_by_order_number(number):
        # Every candidate is checked, so the timing does not tell which one matched.
        if matches(order_id, fingerprint) and match is None:
            match = order_id
    if match is None:
        attempts.record_failure(
            [pair, per_client], window.start, expires_at=window.expires_at, now=window.epoch
        )
        raise Unauthorized(SIGN_IN_FAILED, details={"reason": "sign_in_failed"})
    return match


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
    wanted = email_fingerprint(request.email)
    match = _guarded(
        number,
        client_ip,
        lambda _order_id, fingerprint: hmac.compare_digest(fingerprint, wanted),
        directory=directory,
        attempts=attempts,
        limits=limits,
        now=now,
    )
    token, expires_at = issue_token(match, now)
    return PortalSession(token=token, order_id=match, expires_at=expires_at)


# ---- sign-in links by email ------------------------------------------------------------------

SIGN_IN_LINK_TTL = timedelta(minutes=15)


@dataclass(frozen=True)
class LinkLimits:
    """Sign-in link emails: per order (only counted when the email matched, so a stranger cannot
    use up a shopper's links) and requests per client IP, per fixed window."""

    per_order: int = 3
    per_ip: int = 20
    window_seconds: int = 900


class SignInLinkOutbox(Protocol):
    def request_sign_in_link(
        self, order_id: str, nonce: str, expires_at: datetime, locale: str | None, now: datetime
    ) -> None:
        """Record the request as a `portal.sign_in_link` event: the notifications path emails it."""
        ...


def request_sign_in_link(
    request: SignInLinkRequest,
    client_ip: str,
    *,
    directory: OrderDirectory,
    attempts: AttemptCounter,
    outbox: SignInLinkOutbox,
    limits: LinkLimits,
    now: datetime,
) -> bool:
    """Email a one-time sign-in link to the order's address if the email matches. The caller
    answers the same whatever this returns (True: a link is on its way)."""
    window = _Window.at(now, limits.window_seconds)
    ip_key = f"link-ip:{client_key(client_ip)}"
    if _count(attempts, ip_key, window) >= limits.per_ip:
        raise TooManyRequests("Too many requests; try again later", retry_after_seconds=window.left)
    attempts.record_failure([ip_key], window.start, expires_at=window.expires_at, now=window.epoch)
    number = normalize_order_number(request.order_number)
    wanted = email_fingerprint(request.email)
    match = None
    for order_id, fingerprint in directory.find_by_order_number(number):
        if hmac.compare_digest(fingerprint, wanted) and match is None:
            match = order_id
    if match is None:
        return False
    order_key = f"link-order:{match}"
    if _count(attempts, order_key, window) >= limits.per_order:
        return False  # enough links are on their way already
    attempts.record_failure([order_key], window.start, expires_at=window.expires_at, now=window.epoch)
    outbox.request_sign_in_link(match, secrets.token_urlsafe(16), now + SIGN_IN_LINK_TTL, request.locale, now)
    return True


def _count(attempts: AttemptCounter, key: str, window: _Window) -> int:
    found = attempts.failures([key], window.start).get(key)
    return found.count if found else 0


class UsedLinks(Protocol):
    def use_sign_in_link(self, nonce: str, expires_epoch: int) -> bool:
        """Mark the link used; False when it was used before."""
        ...


def redeem_sign_in_link(order_id: str, nonce: str, expires_epoch: int, *, used: UsedLinks) -> str:
    """The order a valid (already verified) link opens, once."""
    if not used.use_sign_in_link(nonce, expires_epoch):
        raise Unauthorized(
            "This sign-in link was already used; ask for a new one", details={"reason": "link_used"}
        )
    return order_id


# ---- gift recipients -------------------------------------------------------------------------


class OrderReader(Protocol):
    def get_order(self, order_id: str) -> Order | None: ...


def _normalized_code(value: str | None) -> str:
    return "".join(ch for ch in (value or "").upper() if ch.isalnum())


def gift_matcher(
    request: GiftSignInRequest, verify_by: str, orders: OrderReader
) -> Callable[[str, str], bool]:
    """Whether an order is the one the recipient's gift receipt (or postcode) proves."""
    presented = _normalized_code(request.gift_code if verify_by == "gift_code" else request.postal_code)

    def matches(order_id: str, _email_fp: str) -> bool:
        order = orders.get_order(order_id)
        if order is None:
            return False
        if verify_by == "gift_code":
            expected = order.gift_receipt_code
        else:
            expected = order.customer.address.postal_code if order.customer.address else None
        # An order without the proof never matches, but is compared all the same.
        ok = hmac.compare_digest(_normalized_code(expected) or "\0", presented or "\1")
        return ok and bool(expected)

    return matches


def gift_sign_in(
    request: GiftSignInRequest,
    client_ip: str,
    *,
    verify_by: str,
    directory: OrderDirectory,
    orders: OrderReader,
    attempts: AttemptCounter,
    issue_token: Callable[[str, datetime], tuple[str, datetime]],
    limits: SignInLimits,
    now: datetime,
) -> PortalSession:
    """A gift recipient's session: order number + gift receipt code (or postcode). Failures
    count and answer exactly like sign-in's."""
    number = normalize_order_number(request.order_number)
    match = _guarded(
        number,
        client_ip,
        gift_matcher(request, verify_by, orders),
        directory=directory,
        attempts=attempts,
        limits=limits,
        now=now,
    )
    token, expires_at = issue_token(match, now)
    return PortalSession(token=token, order_id=match, expires_at=expires_at, gift=True)


def check_api_key(presented: str | None, valid_keys: list[str]) -> None:
    """Merchant API keys: constant-time comparison against every active key (rotation)."""
    if not presented:
        raise Unauthorized("Missing API key", details={"reason": "missing_credentials"})
    ok = False
    for key in valid_keys:
        ok |= hmac.compare_digest(presented.encode(), key.encode())
    if not ok:
        raise Unauthorized("Invalid API key", details={"reason": "invalid_credentials"})
