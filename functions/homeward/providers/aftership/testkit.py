"""AfterShip's side of a webhook, for tests and the local walkthrough (infra/webhook_signing.py).

Never imported by the Lambda code: it signs bodies the way AfterShip does and rewrites its
samples (events/webhooks/aftership.*.json) for another parcel, event id or time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from datetime import datetime

LOCAL_SECRET = "hw_local_aftership_webhook_secret"
TIME_KEYS = frozenset(
    {
        "checkpoint_time",
        "created_at",
        "updated_at",
        "shipment_pickup_date",
        "shipment_delivery_date",
        "expected_delivery",
        "estimated_delivery_date",
        "estimated_delivery_date_min",
        "estimated_delivery_date_max",
        "datetime",
        "datetime_min",
        "datetime_max",
    }
)
EVENT_ID_IN_BODY = True


def sign(body: bytes, secret: str, *, now: datetime, webhook_id: str | None = None) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {"aftership-hmac-sha256": base64.b64encode(digest).decode()}


def derived_id(digest: bytes) -> str:
    return str(uuid.UUID(bytes=digest[:16], version=4))


def set_tracking_number(data: dict, number: str) -> None:
    data["msg"]["tracking_number"] = number


def set_event_id(data: dict, old: str, new: str) -> None:
    data["event_id"] = new


def set_ignored_event_id(data: dict, new: str) -> None:
    """The id of an event that is not a tracking event (retarget of an Ignored sample)."""
    # Not kept: AfterShip's other events are not rewritten.


def shift_extra(data: dict, seconds: float) -> None:
    """Unix `ts` moves with the other times."""
    if isinstance(data.get("ts"), int | float):
        data["ts"] = int(data["ts"] + seconds)
