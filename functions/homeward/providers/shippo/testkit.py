"""Shippo's side of a webhook, for tests and the local walkthrough (infra/webhook_signing.py).

Never imported by the Lambda code: it signs bodies the way Shippo does and rewrites its
samples (events/webhooks/shippo.*.json) for another parcel, event id or time.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

LOCAL_SECRET = "hw_local_shippo_webhook_secret"
TIME_KEYS = frozenset({"status_date", "object_created", "object_updated", "eta", "original_eta"})
EVENT_ID_IN_BODY = True


def sign(body: bytes, secret: str, *, now: datetime, webhook_id: str | None = None) -> dict[str, str]:
    timestamp = str(int(now.timestamp()))
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Shippo-Auth-Signature": f"t={timestamp},v1={digest}"}


def derived_id(digest: bytes) -> str:
    return digest.hex()[:32]  # object_id style


def set_tracking_number(data: dict, number: str) -> None:
    data["data"]["tracking_number"] = number


def set_event_id(data: dict, old: str, new: str) -> None:
    # Shippo's history repeats the current status with the same object_id: keep them paired.
    track = data["data"]
    for entry in track.get("tracking_history") or []:
        if isinstance(entry, dict) and entry.get("object_id") == old:
            entry["object_id"] = new
    if isinstance(track.get("tracking_status"), dict):
        track["tracking_status"]["object_id"] = new


def set_ignored_event_id(data: dict, new: str) -> None:
    """The id of an event that is not a tracking event (retarget of an Ignored sample)."""
    # Not kept: Shippo's other events are not rewritten.


def shift_extra(data: dict, seconds: float) -> None:
    """Times outside TIME_KEYS: none."""
