"""EasyPost's side of a webhook, for tests and the local walkthrough (infra/webhook_signing.py).

Never imported by the Lambda code: it signs bodies the way EasyPost does and rewrites its
samples (events/webhooks/easypost.*.json) for another parcel, event id or time.
"""

from __future__ import annotations

import hashlib
import hmac
import unicodedata
from datetime import datetime

# The local stack's documented secret: public, never configure it anywhere else.
LOCAL_SECRET = "hw_local_easypost_webhook_secret"
# The body fields that hold times: retarget() shifts all of them together.
TIME_KEYS = frozenset({"datetime", "created_at", "updated_at", "est_delivery_date"})
EVENT_ID_IN_BODY = True


def sign(body: bytes, secret: str, *, now: datetime, webhook_id: str | None = None) -> dict[str, str]:
    # EasyPost NFKD-normalizes the secret before keying the HMAC (CR 2.1).
    key = unicodedata.normalize("NFKD", secret).encode()
    return {"X-Hmac-Signature": "hmac-sha256-hex=" + hmac.new(key, body, hashlib.sha256).hexdigest()}


def derived_id(digest: bytes) -> str:
    return "evt_" + digest.hex()[:32]


def set_tracking_number(data: dict, number: str) -> None:
    data["result"]["tracking_code"] = number


def set_event_id(data: dict, old: str, new: str) -> None:
    data["id"] = new


def set_ignored_event_id(data: dict, new: str) -> None:
    """The id of an event that is not a tracking event (retarget of an Ignored sample)."""
    data["id"] = new


def shift_extra(data: dict, seconds: float) -> None:
    """Times outside TIME_KEYS: none."""
