"""Portal tokens: scoped to one order, expiring, signed with rotating keys."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from homeward.domain.access.tokens import PortalTokens
from homeward.errors import Unauthorized
from hypothesis import given
from hypothesis import strategies as st

OLD, NEW = "o" * 40, "n" * 40
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def test_round_trip_carries_the_order_id():
    token, _ = PortalTokens([NEW], 600).issue("ord_42", NOW)
    assert PortalTokens([NEW], 600).verify(token).order_id == "ord_42"


def test_rotation_last_key_signs_and_all_verify():
    token_old, _ = PortalTokens([OLD], 600).issue("ord_1", NOW)
    rotated = PortalTokens([OLD, NEW], 600)
    assert rotated.verify(token_old).order_id == "ord_1"
    token_new, _ = rotated.issue("ord_1", NOW)
    assert PortalTokens([NEW], 600).verify(token_new).order_id == "ord_1"
    with pytest.raises(Unauthorized):
        PortalTokens([OLD], 600).verify(token_new)


def test_expired_token(monkeypatch):
    import itsdangerous.timed

    token, _ = PortalTokens([NEW], 60).issue("ord_1", NOW)
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: real(self) + 61)
    with pytest.raises(Unauthorized) as caught:
        PortalTokens([NEW], 60).verify(token)
    assert caught.value.details == {"reason": "token_expired"}


def test_a_token_signed_for_another_purpose_is_refused():
    from itsdangerous import URLSafeTimedSerializer

    other = URLSafeTimedSerializer(NEW, salt="homeward.unsubscribe.v1").dumps({"o": "ord_1"})
    with pytest.raises(Unauthorized):
        PortalTokens([NEW], 600).verify(other)


def test_short_keys_are_refused():
    with pytest.raises(ValueError):
        PortalTokens(["short"], 600)


@given(order_id=st.from_regex(r"[A-Za-z0-9._:\-]{1,64}", fullmatch=True), flip=st.integers(min_value=0))
def test_any_single_character_change_invalidates_the_token(order_id, flip):
    token, _ = PortalTokens([NEW], 600).issue(order_id, NOW)
    i = flip % len(token)
    replacement = "A" if token[i] != "A" else "B"
    tampered = token[:i] + replacement + token[i + 1 :]
    try:
        claims = PortalTokens([NEW], 600).verify(tampered)
    except Unauthorized:
        return
    # base64 padding bits can absorb a change without altering the decoded bytes
    assert claims.order_id == order_id
