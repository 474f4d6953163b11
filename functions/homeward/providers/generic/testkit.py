"""The generic format's sender side, for tests and the local walkthrough (infra/webhook_signing.py).

Never imported by the Lambda code. Generic events carry their id in the `webhook-id` header,
not in the body: `sign` derives it from the body (`msg_` + the first 24 hex digits of its
SHA-256) unless `webhook_id` is given, so a re-sent body is a duplicate and a changed body a
new event.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

LOCAL_SECRET = "whsec_" + base64.b64encode(b"hw_local_generic_webhook_secret_32b").decode()
TIME_KEYS = frozenset({"occurred_at", "estimated_delivery"})
EVENT_ID_IN_BODY = False  # the webhook-id header: pass webhook_id to sign()


def webhook_id_for(body: bytes) -> str:
    """The default `webhook-id` for a body: stable for the same bytes."""
    return "msg_" + hashlib.sha256(body).hexdigest()[:24]


def sign(body: bytes, secret: str, *, now: datetime, webhook_id: str | None = None) -> dict[str, str]:
    from homeward.providers.generic.tracking import generic_secret_key

    timestamp = str(int(now.timestamp()))
    msg_id = webhook_id or webhook_id_for(body)
    message = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    signature = base64.b64encode(hmac.new(generic_secret_key(secret), message, hashlib.sha256).digest())
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": f"v1,{signature.decode()}",
    }


def derived_id(digest: bytes) -> str:
    return digest.hex()[:32]


def set_tracking_number(data: dict, number: str) -> None:
    data["tracking_number"] = number


def set_event_id(data: dict, old: str, new: str) -> None:
    raise ValueError("generic event ids are the webhook-id header: pass webhook_id to signed_headers()")


def set_ignored_event_id(data: dict, new: str) -> None:
    """The id of an event that is not a tracking event (retarget of an Ignored sample)."""
    # Not kept: the id is the webhook-id header.


def shift_extra(data: dict, seconds: float) -> None:
    """Times outside TIME_KEYS: none."""
