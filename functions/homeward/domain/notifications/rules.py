"""Which domain event tells the shopper what, by which channel, and when. Pure.

The consumer (NotificationsFunction) reads each domain event, asks `message_for`
which message it is (if any), `channels_for` where it may go for this shopper and their
preferences, and `sms_send_at` when an SMS may go out (quiet hours in the shopper's time
zone); the message is then rendered (`homeward.notifications.render`) and sent once per
(event id, channel).

Unsubscribe and survey links are signed (`LinkTokens`): an unsubscribe link names one
customer fingerprint and nothing else, never an order, and never expires (one-click
unsubscribe must keep working); a survey link names one return and expires after 30 days.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

from homeward.errors import Unauthorized
from homeward.notifications.catalog import SPECS

Channel = Literal["email", "sms"]

# Return events -> message kind. `return.approved` is told with the label (`return.label_issued`)
# unless no label will come (every line keep-the-item): see `message_for`.
RETURN_MESSAGES: dict[str, str] = {
    "return.requested": "return_requested",
    "return.needs_review": "return_needs_review",
    "return.label_issued": "return_approved",
    "return.rejected": "return_rejected",
    "return.cancelled": "return_cancelled",
    "return.label_expiring": "label_expiring",
    "return.expired": "label_expired",
    "return.in_transit": "return_in_transit",
    "return.delivered": "return_delivered",
    "return.received": "return_received",
    "refund.issued": "refund_issued",
    "credit.issued": "credit_issued",
    "refund.failed": "refund_failed",
    "return.closed": "survey",
}
# Outbound parcel events -> message kind (return parcels are told through the return's events).
SHIPMENT_MESSAGES: dict[str, str] = {
    "shipment.delivered": "shipment_delivered",
    "shipment.exception": "shipment_exception",
    "shipment.delayed": "shipment_delayed",
}
# `shipment.updated` is told only for these statuses, once each per parcel.
SHIPMENT_UPDATE_MESSAGES: dict[str, str] = {
    "in_transit": "shipment_shipped",
    "out_for_delivery": "shipment_out_for_delivery",
}
# Portal events -> message kind: asked for by the shopper, email only.
PORTAL_MESSAGES: dict[str, str] = {"portal.sign_in_link": "sign_in_link"}
# Sent even to an unsubscribed address: the shopper has just asked for this very email.
REQUESTED_KINDS: frozenset[str] = frozenset(PORTAL_MESSAGES.values())
# Messages worth an SMS (to shoppers who opted in): the catalog's, which have SMS texts.
SMS_KINDS: frozenset[str] = frozenset(str(kind) for kind, spec in SPECS.items() if spec.sms)
# Told once per parcel, whatever the event: `shipment.updated` repeats for every new ETA, and a
# parcel can bounce between statuses (out for delivery, a failed attempt, out again).
ONCE_PER_PARCEL: frozenset[str] = frozenset(
    {"shipment_shipped", "shipment_out_for_delivery", "shipment_delivered"}
)
QUIET_START = time(21, 0)
QUIET_END = time(8, 0)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def message_for(event: dict, *, keeps_every_item: bool = False) -> str | None:
    """The message kind a domain event document is told as, or None.

    `keeps_every_item`: the return's lines are all keep-the-item (no label will be bought, so
    its approval is told at `return.approved` instead of with the label).
    """
    event_type = event.get("type", "")
    if event_type == "return.approved":
        return "return_approved" if keeps_every_item else None
    if event_type in RETURN_MESSAGES:
        return RETURN_MESSAGES[event_type]
    if event_type in PORTAL_MESSAGES:
        return PORTAL_MESSAGES[event_type]
    if event.get("direction") != "outbound":
        return None
    if event_type == "shipment.updated":
        return SHIPMENT_UPDATE_MESSAGES.get(event.get("status", ""))
    return SHIPMENT_MESSAGES.get(event_type)


def dedupe_key(kind: str, event: dict, event_id: str) -> str:
    """What "sent once" is counted by: the event, or for parcel milestones the parcel."""
    if kind in ONCE_PER_PARCEL and event.get("tracking_number"):
        return f"{event['tracking_number']}:{kind}"
    return event_id


@dataclass(frozen=True)
class Recipient:
    """Who a message goes to, from the order's customer."""

    email: str | None
    phone: str | None
    locale: str
    time_zone: str | None
    name: str | None


@dataclass(frozen=True)
class Preferences:
    """A customer's choices, keyed by their email fingerprint."""

    email_opt_out: bool = False
    sms_opt_in: bool = False  # from the order (the shop's checkout) or the portal
    sms_opt_out: bool = False  # STOP: wins over any opt-in


@dataclass(frozen=True)
class ChannelDecision:
    channel: Channel
    send: bool
    reason: str  # why not, or "ok"


def channels_for(kind: str, recipient: Recipient, prefs: Preferences) -> list[ChannelDecision]:
    """Every channel the message could use, each with whether it goes and why not.

    A message with nowhere to go is recorded as not deliverable (the reasons say why), never
    an error: a customer without a valid address simply gets nothing.
    """
    decisions = []
    if not recipient.email or not _EMAIL.match(recipient.email):
        decisions.append(ChannelDecision("email", False, "no_valid_email"))
    elif prefs.email_opt_out and kind not in REQUESTED_KINDS:
        decisions.append(ChannelDecision("email", False, "unsubscribed"))
    else:
        decisions.append(ChannelDecision("email", True, "ok"))
    if kind in SMS_KINDS:
        # Consent first: most shoppers never opted in, and that is no fault worth recording.
        if not prefs.sms_opt_in:
            decisions.append(ChannelDecision("sms", False, "sms_not_opted_in"))
        elif prefs.sms_opt_out:
            decisions.append(ChannelDecision("sms", False, "sms_opted_out"))
        elif not recipient.phone or not _E164.match(recipient.phone):
            decisions.append(ChannelDecision("sms", False, "no_valid_phone"))
        else:
            decisions.append(ChannelDecision("sms", True, "ok"))
    return decisions


def shopper_zone(time_zone: str | None) -> ZoneInfo | None:
    if not time_zone:
        return None
    try:
        return ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def sms_send_at(now: datetime, time_zone: str | None) -> datetime:
    """When an SMS may go out: now, unless it is quiet hours (21:00-08:00) where the shopper
    is; then 08:00 their time. Without a known time zone, now (the shop sends by day anyway)."""
    zone = shopper_zone(time_zone)
    if zone is None:
        return now
    local = now.astimezone(zone)
    if QUIET_END <= local.time() < QUIET_START:
        return now
    morning = local.replace(hour=QUIET_END.hour, minute=0, second=0, microsecond=0)
    if local.time() >= QUIET_START:
        morning = (local + timedelta(days=1)).replace(hour=QUIET_END.hour, minute=0, second=0, microsecond=0)
    # Built from the local date: across a DST change `replace` keeps the wall time, as wanted.
    return morning.astimezone(now.tzinfo)


# ---- signed links ---------------------------------------------------------------------------

UNSUBSCRIBE_SALT = "homeward.unsubscribe.v1"
SURVEY_SALT = "homeward.survey.v1"
SURVEY_TTL = timedelta(days=30)
SIGN_IN_SALT = "homeward.sign-in-link.v1"


class LinkTokens:
    """Sign and check the unsubscribe and survey links. `keys`: the last signs, all verify."""

    def __init__(self, keys: list[str]) -> None:
        if not keys or any(len(k) < 32 for k in keys):
            raise ValueError("link signing keys must be at least 32 characters")
        signer_kwargs: dict[str, Any] = {"digest_method": hashlib.sha256}
        self._unsubscribe = URLSafeSerializer(keys, salt=UNSUBSCRIBE_SALT, signer_kwargs=signer_kwargs)
        self._survey = URLSafeTimedSerializer(keys, salt=SURVEY_SALT, signer_kwargs=signer_kwargs)
        self._sign_in = URLSafeSerializer(keys, salt=SIGN_IN_SALT, signer_kwargs=signer_kwargs)

    def unsubscribe(self, customer_fp: str, channel: Channel = "email") -> str:
        return self._unsubscribe.dumps({"c": customer_fp, "ch": channel})

    def check_unsubscribe(self, token: str) -> tuple[str, Channel]:
        try:
            payload = self._unsubscribe.loads(token)
        except BadSignature as exc:
            raise Unauthorized("This link is not valid", details={"reason": "link_invalid"}) from exc
        if not isinstance(payload, dict) or payload.get("ch") not in ("email", "sms"):
            raise Unauthorized("This link is not valid", details={"reason": "link_invalid"})
        return str(payload["c"]), payload["ch"]

    def survey(self, rma: str) -> str:
        return self._survey.dumps({"r": rma})

    def check_survey(self, token: str) -> str:
        try:
            payload = self._survey.loads(token, max_age=int(SURVEY_TTL.total_seconds()))
        except SignatureExpired as exc:
            raise Unauthorized("This survey has closed", details={"reason": "link_expired"}) from exc
        except BadSignature as exc:
            raise Unauthorized("This link is not valid", details={"reason": "link_invalid"}) from exc
        if not isinstance(payload, dict) or not isinstance(payload.get("r"), str):
            raise Unauthorized("This link is not valid", details={"reason": "link_invalid"})
        return payload["r"]

    def sign_in(self, order_id: str, nonce: str, expires_epoch: int) -> str:
        """A sign-in link for one order; one-time by its nonce (the redeemer records it)."""
        return self._sign_in.dumps({"o": order_id, "n": nonce, "e": expires_epoch})

    def check_sign_in(self, token: str, now: datetime) -> tuple[str, str, int]:
        """(order_id, nonce, expires_epoch) of a valid, unexpired sign-in link, or 401."""
        try:
            payload = self._sign_in.loads(token)
        except BadSignature as exc:
            raise Unauthorized("This sign-in link is not valid", details={"reason": "link_invalid"}) from exc
        if not (
            isinstance(payload, dict)
            and isinstance(payload.get("o"), str)
            and isinstance(payload.get("n"), str)
            and isinstance(payload.get("e"), int)
        ):
            raise Unauthorized("This sign-in link is not valid", details={"reason": "link_invalid"})
        if now.timestamp() >= payload["e"]:
            raise Unauthorized(
                "This sign-in link has expired; ask for a new one", details={"reason": "link_expired"}
            )
        return payload["o"], payload["n"], payload["e"]
