"""Sign-in rules with in-memory fakes: identical failures, attempt windows, API keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from homeward.domain.access import auth
from homeward.domain.access.tokens import PortalTokens
from homeward.domain.orders.rules import email_fingerprint
from homeward.errors import TooManyRequests, Unauthorized
from homeward.models.orders import SignInRequest

NOW = datetime(2026, 11, 22, 12, 0, 7, tzinfo=UTC)
KEY = "k" * 40


class FakeDirectory:
    def __init__(self, orders: dict[str, list[tuple[str, str]]]):
        self.orders = orders

    def find_by_order_number(self, normalized_number):
        return [(oid, email_fingerprint(email)) for oid, email in self.orders.get(normalized_number, [])]


class FakeAttempts:
    def __init__(self):
        self.counts: dict[tuple[str, int], int] = {}
        self.last: dict[tuple[str, int], int] = {}
        self.expiries: list[int] = []

    def failures(self, keys, window_start):
        return {
            k: auth.Failures(self.counts[(k, window_start)], self.last[(k, window_start)])
            for k in keys
            if (k, window_start) in self.counts
        }

    def record_failure(self, keys, window_start, expires_at, *, now):
        self.expiries.append(expires_at)
        for k in keys:
            self.counts[(k, window_start)] = self.counts.get((k, window_start), 0) + 1
            self.last[(k, window_start)] = now


DEFAULT_LIMITS = auth.SignInLimits()


def attempt(number, email, *, directory, attempts, now=NOW, ip="203.0.113.1", limits=DEFAULT_LIMITS):
    return auth.sign_in(
        SignInRequest(order_number=number, email=email),
        ip,
        directory=directory,
        attempts=attempts,
        issue_token=PortalTokens([KEY], 1800).issue,
        limits=limits,
        now=now,
    )


@pytest.fixture
def directory():
    return FakeDirectory(
        {"1001": [("ord_1001", "jane@example.com")], "2002": [("ord_a", "a@x.io"), ("ord_b", "b@x.io")]}
    )


def test_success_returns_a_token_for_that_order(directory):
    session = attempt("#1001", " JANE@example.COM ", directory=directory, attempts=FakeAttempts())
    assert session.order_id == "ord_1001"
    assert session.expires_at == NOW + timedelta(seconds=1800)
    assert PortalTokens([KEY], 1800).verify(session.token).order_id == "ord_1001"


def test_duplicate_order_numbers_pick_the_one_whose_email_matches(directory):
    assert attempt("2002", "b@x.io", directory=directory, attempts=FakeAttempts()).order_id == "ord_b"


def test_unknown_order_and_wrong_email_raise_the_same_error(directory):
    errors = []
    for number, email in [("9999", "jane@example.com"), ("1001", "john@example.com")]:
        with pytest.raises(Unauthorized) as caught:
            attempt(number, email, directory=directory, attempts=FakeAttempts())
        errors.append((caught.value.message, caught.value.details))
    assert errors[0] == errors[1] == (auth.SIGN_IN_FAILED, {"reason": "sign_in_failed"})


def test_failures_count_per_order_and_client_and_per_client_and_expire_after_two_windows(directory):
    attempts = FakeAttempts()
    with pytest.raises(Unauthorized):
        attempt("1001", "x@example.com", directory=directory, attempts=attempts)
    window = int(NOW.timestamp()) - int(NOW.timestamp()) % 900
    # Nothing per order number alone: no stranger's failures can hold the shopper back.
    assert attempts.counts == {
        ("order-client:1001:203.0.113.1", window): 1,
        ("client:203.0.113.1", window): 1,
    }
    assert attempts.expiries == [window + 1800]


def test_ipv6_clients_are_counted_per_64_network():
    assert (
        auth.client_key("2001:db8:1:2:aaaa::1")
        == auth.client_key("2001:db8:1:2:ffff::9")
        == "2001:db8:1:2::/64"
    )
    assert auth.client_key("2001:db8:1:3::1") != auth.client_key("2001:db8:1:2::1")
    assert auth.client_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert auth.client_key("203.0.113.7") == "203.0.113.7"


def test_a_failed_attempt_never_needs_the_signing_key(directory):
    def no_key(*_args):
        raise AssertionError("the token issuer was called for a failed sign-in")

    with pytest.raises(Unauthorized):
        auth.sign_in(
            SignInRequest(order_number="1001", email="x@example.com"),
            "203.0.113.1",
            directory=directory,
            attempts=FakeAttempts(),
            issue_token=no_key,
            limits=DEFAULT_LIMITS,
            now=NOW,
        )


def test_successes_are_not_counted(directory):
    attempts = FakeAttempts()
    attempt("1001", "jane@example.com", directory=directory, attempts=attempts)
    assert attempts.counts == {}


def test_a_client_is_slowed_then_stopped_on_one_order_but_never_anyone_else(directory):
    attempts = FakeAttempts()
    limits = auth.SignInLimits(per_order=3, per_ip=100, window_seconds=900)
    at = NOW.replace(minute=0, second=0, microsecond=0)

    def go(email, *, ip="203.0.113.1"):
        return attempt("1001", email, directory=directory, attempts=attempts, limits=limits, now=at, ip=ip)

    waits = []
    for i in range(2):
        with pytest.raises(Unauthorized):
            go(f"guess{i}@example.com")
        # Straight away: a growing delay before this client's next try on this order.
        with pytest.raises(TooManyRequests) as slowed:
            go("jane@example.com")
        waits.append(slowed.value.retry_after_seconds)
        at += timedelta(seconds=slowed.value.retry_after_seconds)
    assert waits == [1, 2]
    with pytest.raises(Unauthorized):
        go("guess2@example.com")
    # Three failures: this client is stopped on this order until the window ends...
    at += timedelta(seconds=10)
    with pytest.raises(TooManyRequests) as caught:
        go("jane@example.com")
    assert (
        caught.value.retry_after_seconds
        == 900 - (at - NOW.replace(minute=0, second=0, microsecond=0)).seconds
    )
    # ...while the shopper, from anywhere else, signs in at once.
    assert go("jane@example.com", ip="198.51.100.20").order_id == "ord_1001"
    # The next window starts clean for that client too.
    at += timedelta(seconds=caught.value.retry_after_seconds)
    assert go("jane@example.com").order_id == "ord_1001"


def test_many_strangers_cannot_lock_the_shopper_out(directory):
    attempts = FakeAttempts()
    for i in range(200):  # a botnet's worth of wrong emails for one order number
        with pytest.raises((Unauthorized, TooManyRequests)):
            attempt(
                "1001", f"guess{i}@example.com", directory=directory, attempts=attempts, ip=f"198.51.{i}.1"
            )
    assert attempt("1001", "jane@example.com", directory=directory, attempts=attempts).order_id == "ord_1001"


def test_the_delay_is_capped(directory):
    attempts = FakeAttempts()
    limits = auth.SignInLimits(per_order=100, per_ip=100, window_seconds=900, max_delay_seconds=5)
    at = NOW.replace(minute=0, second=0, microsecond=0)
    for i in range(8):
        with pytest.raises(Unauthorized):
            attempt(
                "1001", f"g{i}@example.com", directory=directory, attempts=attempts, limits=limits, now=at
            )
        at += timedelta(seconds=5)
    with pytest.raises(TooManyRequests) as slowed:
        attempt(
            "1001",
            "jane@example.com",
            directory=directory,
            attempts=attempts,
            limits=limits,
            now=at - timedelta(seconds=4),
        )
    assert slowed.value.retry_after_seconds == 4


def test_ip_limit_spans_order_numbers(directory):
    attempts = FakeAttempts()
    limits = auth.SignInLimits(per_order=100, per_ip=2, window_seconds=900, max_delay_seconds=0)
    for number in ("5001", "5002"):
        with pytest.raises(Unauthorized):
            attempt(number, "x@example.com", directory=directory, attempts=attempts, limits=limits)
    with pytest.raises(TooManyRequests):
        attempt("1001", "jane@example.com", directory=directory, attempts=attempts, limits=limits)
    assert attempt(
        "1001", "jane@example.com", directory=directory, attempts=attempts, limits=limits, ip="198.51.100.9"
    )


@pytest.mark.parametrize(
    ("presented", "reason"),
    [(None, "missing_credentials"), ("", "missing_credentials"), ("nope", "invalid_credentials")],
)
def test_api_key_rejections(presented, reason):
    with pytest.raises(Unauthorized) as caught:
        auth.check_api_key(presented, ["key-one", "key-two"])
    assert caught.value.details["reason"] == reason


def test_every_active_api_key_is_accepted():
    auth.check_api_key("key-two", ["key-one", "key-two"])
    auth.check_api_key("key-one", ["key-one", "key-two"])
