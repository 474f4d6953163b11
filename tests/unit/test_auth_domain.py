"""Sign-in rules with in-memory fakes: identical failures, attempt windows, API keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from homeward.domain import auth
from homeward.domain.orders import email_fingerprint
from homeward.domain.tokens import PortalTokens
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
        self.expiries: list[int] = []

    def failures(self, keys, window_start):
        return {k: self.counts[(k, window_start)] for k in keys if (k, window_start) in self.counts}

    def record_failure(self, keys, window_start, expires_at):
        self.expiries.append(expires_at)
        for k in keys:
            self.counts[(k, window_start)] = self.counts.get((k, window_start), 0) + 1


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


def test_failures_count_against_order_number_and_ip_and_expire_after_two_windows(directory):
    attempts = FakeAttempts()
    with pytest.raises(Unauthorized):
        attempt("1001", "x@example.com", directory=directory, attempts=attempts)
    window = int(NOW.timestamp()) - int(NOW.timestamp()) % 900
    assert attempts.counts == {("order:1001", window): 1, ("ip:203.0.113.1", window): 1}
    assert attempts.expiries == [window + 1800]


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


def test_lockout_after_limit_blocks_even_the_right_email_until_the_window_ends(directory):
    attempts = FakeAttempts()
    limits = auth.SignInLimits(per_order=3, per_ip=100, window_seconds=900)
    for i in range(3):
        with pytest.raises(Unauthorized):
            attempt("1001", f"guess{i}@example.com", directory=directory, attempts=attempts, limits=limits)
    with pytest.raises(TooManyRequests) as caught:
        attempt("1001", "jane@example.com", directory=directory, attempts=attempts, limits=limits)
    window_end = int(NOW.timestamp()) - int(NOW.timestamp()) % 900 + 900
    assert caught.value.retry_after_seconds == window_end - int(NOW.timestamp())
    # The next window starts clean.
    later = NOW + timedelta(seconds=caught.value.retry_after_seconds)
    assert attempt(
        "1001", "jane@example.com", directory=directory, attempts=attempts, now=later, limits=limits
    )


def test_ip_limit_spans_order_numbers(directory):
    attempts = FakeAttempts()
    limits = auth.SignInLimits(per_order=100, per_ip=2, window_seconds=900)
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
