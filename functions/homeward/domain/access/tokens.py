"""Shopper portal tokens: short-lived, signed, scoped to exactly one order.

itsdangerous signs `{"o": order_id}` with HMAC-SHA256 and a timestamp; the salt binds the
token to its purpose so a token minted for another use (e.g. an unsubscribe link) never
opens an order.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from homeward.errors import Unauthorized

PORTAL_SALT = "homeward.portal-session.v1"


@dataclass(frozen=True)
class GiftClaim:
    """A gift recipient's session: their own email and language, never the buyer's."""

    email: str
    locale: str | None = None


@dataclass(frozen=True)
class PortalClaims:
    order_id: str
    issued_at: datetime
    gift: GiftClaim | None = None


class PortalTokens:
    """Issue and verify portal tokens. `keys` may hold several secrets: the last signs, all verify.

    HMAC-SHA256 rather than itsdangerous' default SHA-1.
    """

    def __init__(self, keys: list[str], ttl_seconds: int) -> None:
        if not keys or any(len(k) < 32 for k in keys):
            raise ValueError("portal signing keys must be at least 32 characters")
        self._serializer = URLSafeTimedSerializer(
            keys, salt=PORTAL_SALT, signer_kwargs={"digest_method": hashlib.sha256}
        )
        self.ttl_seconds = ttl_seconds

    def issue(self, order_id: str, now: datetime, gift: GiftClaim | None = None) -> tuple[str, datetime]:
        payload: dict = {"o": order_id}
        if gift is not None:
            payload["g"] = {"e": gift.email, "l": gift.locale}
        return self._serializer.dumps(payload), now + timedelta(seconds=self.ttl_seconds)

    def verify(self, token: str) -> PortalClaims:
        try:
            payload, issued = self._serializer.loads(token, max_age=self.ttl_seconds, return_timestamp=True)
        except SignatureExpired as exc:
            raise Unauthorized(
                "Your session has expired; sign in again", details={"reason": "token_expired"}
            ) from exc
        except BadSignature as exc:
            raise Unauthorized("Invalid session token", details={"reason": "token_invalid"}) from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("o"), str):
            raise Unauthorized("Invalid session token", details={"reason": "token_invalid"})
        gift = payload.get("g")
        return PortalClaims(
            order_id=payload["o"],
            issued_at=issued.astimezone(UTC),
            gift=GiftClaim(email=str(gift["e"]), locale=gift.get("l")) if isinstance(gift, dict) else None,
        )
