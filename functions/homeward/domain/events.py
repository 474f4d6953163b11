"""The domain event catalogue: every event type Homeward publishes, declared once.

An event is an item the domain writes to the table in the same transaction as the change it
announces (`entity = event`); DomainEventsFunction publishes each one from the table's stream to
the DomainEvents SNS topic (handlers/domain_events.py, adapters/events.py): the message body is
the item's JSON document, and the message attributes (`EventAttributes`) are what the SQS
subscriptions of template.yaml filter on (`FilterPolicy: type: [...]`).

Three bodies, by subject:
- a return's timeline entry (`TimelineEvent`: return.*, refund.*, credit.*, exchange.*,
  notification.failed), whose `data` is the per-type payload below;
- a parcel's state (`ShipmentEvent`: shipment.*), the same body for every type;
- a sign-in link request (`SignInLinkEvent`: portal.sign_in_link).

Pure (pydantic and the standard library): nothing on a hot handler path imports it. The tests
check it against the code and the template (tests/unit/test_event_catalogue.py), and
`make docs` writes docs/events.md and docs/events/<type>.schema.json from it (infra/event_docs.py).
Add an event here (and its constant in event_types.py, which hot paths import instead of this)
first, then emit it (docs/contributing.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from homeward.domain import event_types as T

# Every event type: `<subject>.<what_happened>`, lower case (tests scan the code for these).
EVENT_TYPE_PATTERN = re.compile(
    r"^(return|refund|credit|exchange|label|shipment|portal|notification)\.[a-z_]+$"
)


# ---- consumers: the SQS subscriptions of the DomainEvents topic (template.yaml) ------------------


@dataclass(frozen=True)
class Consumer:
    function: str  # the Lambda function's logical id
    queue: str  # the SQS queue its subscription delivers to
    subscription: str  # the AWS::SNS::Subscription (its FilterPolicy names the types)
    does: str


LABELS = Consumer(
    "LabelsFunction",
    "LabelRequestsQueue",
    "LabelRequestsSubscription",
    "buys the return label (or voids it on cancel)",
)
REFUNDS = Consumer(
    "RefundsFunction",
    "RefundRequestsQueue",
    "RefundRequestsSubscription",
    "plans and sends refunds at the policy's trigger",
)
NOTIFICATIONS = Consumer(
    "NotificationsFunction",
    "NotificationsQueue",
    "NotificationsSubscription",
    "emails / texts the shopper (domain/notifications/rules.py)",
)
CONSUMERS: tuple[Consumer, ...] = (LABELS, REFUNDS, NOTIFICATIONS)


# ---- envelope --------------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventAttributes(_Model):
    """The SNS message attributes of every event (adapters/events.event_attributes)."""

    type: str = Field(description="the event type; what subscriptions filter on")
    event_id: str = Field(
        description="`<rma or tracking number>:<item sequence>`: unique, stable across retries"
    )
    order_id: str
    status: str = Field(description="the return's (or parcel's) status after the event")
    rma: str | None = Field(default=None, description="absent on parcel events of outbound shipments")
    tracking_number: str | None = Field(default=None, description="parcel events only")


class TimelineEvent(_Model):
    """The body of a return's event: one entry of its audit timeline (models.returns.TimelineEntry)."""

    seq: int = Field(description="the return's version this entry made")
    at: str = Field(description="ISO 8601")
    type: str
    actor: Literal["shopper", "ops", "carrier", "system"]
    actor_id: str | None = None
    from_status: str | None = None
    to_status: str | None = None
    note: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="the per-type payload")
    shopper_visible: bool = True


class Location(_Model):
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None


class ShipmentEvent(_Model):
    """The body of a parcel's event (domain/tracking/updates.shipment_event_doc)."""

    type: str
    at: str
    tracking_number: str
    carrier: str
    direction: Literal["outbound", "return"]
    order_id: str
    rma: str | None
    status: str = Field(description="the normalized tracking status")
    detail: str | None
    status_at: str | None
    location: Location | None
    eta: str | None
    needs_review: bool


class SignInLinkEvent(_Model):
    """The body of `portal.sign_in_link` (adapters/dynamodb/orders.request_sign_in_link): the
    nonce, never the token or the email address."""

    type: str
    order_id: str
    nonce: str
    expires_at: str
    locale: str | None
    at: str


# ---- per-type payloads of timeline events (their `data`) ---------------------------------------


class NoData(_Model):
    """No payload (`data` is `{}`); the note, if any, says why."""


class ReturnedLine(_Model):
    line_id: str
    quantity: int
    reason: str


class ReturnRequested(_Model):
    lines: list[ReturnedLine]


class Decision(_Model):
    reason_codes: list[str] | None = Field(
        default=None, description="the policy's reasons; absent when ops approved"
    )


class Review(_Model):
    reason_codes: list[str] = Field(description="why the policy wants a person to look")


class LabelIssued(_Model):
    tracking_number: str
    carrier_service: str | None
    cost: int = Field(description="minor units")


class LabelVoided(_Model):
    voided: bool
    carrier_status: str | None


class LabelExpiring(_Model):
    expires_at: str
    tracking_number: str


class Expired(_Model):
    tracking_number: str
    voided: bool


class CarrierScan(_Model):
    """A carrier's scan of the return parcel (domain/tracking/service._return_change)."""

    tracking_number: str
    tracking_status: str
    detail: str | None
    carrier_event_at: str
    provider: str


class InspectedLine(_Model):
    line_id: str
    received_quantity: int
    grade: str
    disposition: str
    note: str | None = None


class Received(_Model):
    lines: list[InspectedLine]


class NoteAdded(_Model):
    """An ops note (no data), a refund capped by what the payments can give back, or a carrier
    problem with the return parcel (the scan's fields)."""

    model_config = ConfigDict(extra="allow")
    reason: str | None = None
    capped_by: int | None = None


class NotificationFailed(_Model):
    kind: str
    channel: Literal["email", "sms"]
    reason: str | None


class Movement(_Model):
    seq: int
    kind: Literal["refund", "store_credit"]
    amount: int
    currency: str
    status: str
    credit_code: str | None = None


class RefundRequested(_Model):
    trigger: str
    currency: str
    refund_total: int
    movements: list[Movement]
    store_credit_total: int | None = Field(default=None, description="automatic refunds only")
    exchange_value: int | None = Field(default=None, description="automatic refunds only")
    capped_by: int | None = Field(default=None, description="automatic refunds only")


class RefundRetryRequested(_Model):
    retried: list[int] = Field(description="the failed movements' seqs")
    movements: list[Movement]


class RefundReport(_Model):
    """A payment provider's answer about one refund movement (domain/refunds/reports.apply_report)."""

    seq: int
    amount: int
    currency: str
    provider: str
    provider_refund_id: str | None


class RefundFailed(RefundReport):
    reason: str | None = Field(default=None, description="present when the movement just failed")
    after_success: bool | None = Field(default=None, description="present when the movement just failed")


class RefundRecordedOutside(_Model):
    """A refund made outside Homeward (a provider's dashboard, the shop's admin, a bank transfer),
    recorded on the return so the per-payment cap counts it (domain/refunds/outside.py)."""

    seq: int = Field(description="its movement on the return (`source: outside`)")
    amount: int
    currency: str
    provider: str = Field(description="the refunded payment's provider")
    payment_id: str
    reference: str = Field(description="the refund's id where it was made; recorded once per order")
    status: Literal["pending", "succeeded"]
    source: str = Field(description="`ops` (recorded by hand) or the provider whose webhook reported it")
    refunded_at: str = Field(description="when the money moved (ISO 8601)")


class CreditIssued(_Model):
    code: str
    amount: int
    currency: str


class ExchangeLine(_Model):
    line_id: str
    sku: str
    quantity: int
    exchange_variant: str | None
    value: int


class ExchangeRequested(_Model):
    order_id: str
    currency: str
    exchange_value: int
    lines: list[ExchangeLine]


class ExchangeSettlement(_Model):
    replacement_order_id: str
    replacement_value: int
    exchange_value: int
    currency: str


class ExchangePaymentDue(ExchangeSettlement):
    owed: int


class ExchangeSettled(ExchangeSettlement):
    refund_total: int
    movements: list[Movement]


# ---- the catalogue ---------------------------------------------------------------------------

Body = type[TimelineEvent] | type[ShipmentEvent] | type[SignInLinkEvent]
Payload = type[BaseModel]  # (EventSpec's `type` field would shadow the builtin in its annotations)


@dataclass(frozen=True)
class EventSpec:
    type: str
    when: str
    emitters: tuple[str, ...]  # where the event item is written (modules under homeward/)
    consumers: tuple[Consumer, ...]
    body: Body
    payload: Payload  # the `data` of a timeline event; the body itself otherwise

    def validate(self, document: dict) -> BaseModel:
        """The document (an SNS message body) validated against this type; ValueError if not."""
        if document.get("type") != self.type:
            raise ValueError(f"not a {self.type} event: {document.get('type')!r}")
        body = self.body.model_validate(document)
        if isinstance(body, TimelineEvent):
            self.payload.model_validate(body.data)
        return body

    def json_schema(self) -> dict:
        """The JSON Schema of the message body, with the message attributes alongside."""
        if self.body is TimelineEvent:
            fields: dict[str, Any] = {"type": (Literal[self.type], ...), "data": (self.payload, ...)}
        else:
            fields = {"type": (Literal[self.type], ...)}
        model = create_model(_title(self.type), __base__=self.body, **fields)
        schema = _open(model.model_json_schema())
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["description"] = self.when
        schema["x-message-attributes"] = _open(EventAttributes.model_json_schema())
        return schema


def _open(schema: Any) -> Any:
    """The schema without `additionalProperties: false`: the code refuses fields the catalogue
    does not declare (so it stays exact), but subscribers must accept fields added later."""
    if isinstance(schema, dict):
        return {k: _open(v) for k, v in schema.items() if not (k == "additionalProperties" and v is False)}
    if isinstance(schema, list):
        return [_open(v) for v in schema]
    return schema


def _title(event_type: str) -> str:
    return "".join(part.title() for part in re.split(r"[._]", event_type)) + "Event"


_STATES = "domain/returns/rules.py (apply_action, the state machine in domain/returns/states.py)"
_REFUNDS = "domain/refunds/plans.py"
_REPORT = "domain/refunds/reports.py (apply_report)"
_OUTSIDE = "domain/refunds/outside.py (plan_outside)"
_LABELS = "domain/labels/service.py"
_SCAN = "domain/tracking/service.py (a carrier scan of the return parcel)"
_SHIPMENT = "domain/tracking/updates.py (a carrier update) -> adapters/dynamodb/tracking.py"
_WATCH = "domain/tracking/service.py (watch: a silent parcel) -> adapters/dynamodb/tracking.py"


def _return(type_: str, when: str, emitters: tuple[str, ...], payload: type[BaseModel], *consumers: Consumer):
    return EventSpec(type_, when, emitters, consumers, TimelineEvent, payload)


def _shipment(type_: str, when: str, emitters: tuple[str, ...], *consumers: Consumer) -> EventSpec:
    return EventSpec(type_, when, emitters, consumers, ShipmentEvent, ShipmentEvent)


def _refund_report(type_: str) -> EventSpec:
    status = type_.removeprefix("refund.")
    return _return(
        type_,
        f"The provider reports the refund `{status}` without a move to succeeded/failed, or only its "
        "refund id is learnt (staff-only)",
        (_REPORT,),
        RefundReport,
    )


EVENTS: tuple[EventSpec, ...] = (
    # the return's life (domain/returns/states.py)
    _return(
        T.RETURN_REQUESTED,
        "A shopper (or ops on their behalf) files a return",
        ("domain/returns/rules.py (create_return)",),
        ReturnRequested,
        NOTIFICATIONS,
    ),
    _return(
        T.RETURN_NEEDS_REVIEW,
        "Policy sends the request to a person",
        ("domain/returns/rules.py (create_return)",),
        Review,
        NOTIFICATIONS,
    ),
    _return(
        T.RETURN_APPROVED,
        "Policy or ops approves the return",
        ("domain/returns/rules.py (create_return)", _STATES),
        Decision,
        LABELS,
        REFUNDS,
        NOTIFICATIONS,
    ),
    _return(
        T.RETURN_REJECTED,
        "Ops declines the request (the note is the reason)",
        (_STATES,),
        NoData,
        NOTIFICATIONS,
    ),
    _return(
        T.RETURN_NEEDS_ATTENTION,
        "The carrier refused the label for a reason a retry cannot fix (the note says why)",
        (_LABELS,),
        NoData,
    ),
    _return(T.RETURN_LABEL_REQUESTED, "Ops asks for the label again", (_STATES,), NoData, LABELS),
    _return(T.RETURN_LABEL_ISSUED, "A carrier label was bought", (_LABELS,), LabelIssued, NOTIFICATIONS),
    _return(
        T.RETURN_LABEL_VOIDED,
        "The label of a cancelled return was voided (or the carrier refused)",
        (_LABELS,),
        LabelVoided,
    ),
    _return(
        T.RETURN_LABEL_EXPIRING,
        "The label expires soon and was never scanned (a reminder, once)",
        (_LABELS,),
        LabelExpiring,
        NOTIFICATIONS,
    ),
    _return(T.RETURN_EXPIRED, "The label expired unscanned", (_LABELS,), Expired, NOTIFICATIONS),
    _return(
        T.RETURN_IN_TRANSIT,
        "The carrier scanned the return parcel",
        (_SCAN,),
        CarrierScan,
        REFUNDS,
        NOTIFICATIONS,
    ),
    _return(
        T.RETURN_DELIVERED,
        "The carrier delivered the parcel to the warehouse",
        (_SCAN,),
        CarrierScan,
        REFUNDS,
        NOTIFICATIONS,
    ),
    _return(
        T.RETURN_RECEIVED,
        "The warehouse received and inspected the items",
        ("domain/returns/rules.py (receive)",),
        Received,
        REFUNDS,
        NOTIFICATIONS,
    ),
    _return(
        T.RETURN_CLOSED,
        "Nothing more to do (refund settled, or ops closed it)",
        (_STATES, "domain/refunds/triggers.py (close_if_settled)"),
        NoData,
        NOTIFICATIONS,
    ),
    _return(
        T.RETURN_CANCELLED,
        "The shopper or ops withdrew the return before drop-off",
        (_STATES,),
        NoData,
        LABELS,
        NOTIFICATIONS,
    ),
    _return(
        T.RETURN_NOTE_ADDED,
        "A note on the timeline: from ops, a capped refund, or a carrier problem with the parcel",
        ("domain/returns/rules.py (add_note)", _REFUNDS, _SCAN),
        NoteAdded,
    ),
    _return(
        T.NOTIFICATION_FAILED,
        "A message to the shopper could not be delivered (staff-only note)",
        ("domain/notifications/service.py (failure_note)",),
        NotificationFailed,
    ),
    # money (domain/refunds/plans.py and reports.py)
    _return(
        T.REFUND_REQUESTED,
        "Refunds were planned: at the policy's trigger, by ops, or for an exchange difference",
        (_REFUNDS,),
        RefundRequested,
        REFUNDS,
    ),
    _return(
        T.REFUND_RETRY_REQUESTED, "Ops retries failed refunds", (_REFUNDS,), RefundRetryRequested, REFUNDS
    ),
    _return(
        T.REFUND_ISSUED, "The provider reports a refund succeeded", (_REPORT,), RefundReport, NOTIFICATIONS
    ),
    _return(
        T.REFUND_FAILED,
        "The provider reports a refund failed or was canceled",
        (_REPORT,),
        RefundFailed,
        NOTIFICATIONS,
    ),
    *(
        _refund_report(type_)
        for type_ in (
            T.REFUND_RESERVED,
            T.REFUND_PENDING,
            T.REFUND_REQUIRES_ACTION,
            T.REFUND_SUCCEEDED,
            T.REFUND_CANCELED,
        )
    ),
    _return(
        T.REFUND_RECORDED_OUTSIDE,
        "A refund made outside Homeward was recorded (ops by hand, or a provider's webhook, e.g. Stripe's "
        "dashboard); staff-only on the timeline, the shopper sees the movement",
        (_OUTSIDE,),
        RefundRecordedOutside,
    ),
    _return(T.CREDIT_ISSUED, "Store credit was issued (a code)", (_REFUNDS,), CreditIssued, NOTIFICATIONS),
    _return(
        T.EXCHANGE_REQUESTED,
        "The return has exchange lines: the shop is asked for a replacement order",
        (_REFUNDS,),
        ExchangeRequested,
    ),
    _return(
        T.EXCHANGE_PAYMENT_DUE,
        "Ops settled an exchange whose replacement costs more (the shopper owes the difference)",
        (_REFUNDS,),
        ExchangePaymentDue,
    ),
    _return(
        T.EXCHANGE_SETTLED,
        "Ops settled an exchange (any difference is refunded)",
        (_REFUNDS,),
        ExchangeSettled,
    ),
    # parcels (domain/tracking)
    _shipment(T.SHIPMENT_UPDATED, "A parcel's status, detail or ETA changed", (_SHIPMENT,), NOTIFICATIONS),
    _shipment(
        T.SHIPMENT_EXCEPTION,
        "A parcel has a problem that needs action (exception, failure, return to sender)",
        (_SHIPMENT,),
        NOTIFICATIONS,
    ),
    _shipment(T.SHIPMENT_DELIVERED, "A parcel was delivered", (_SHIPMENT,), NOTIFICATIONS),
    _shipment(
        T.SHIPMENT_DELAYED, "A parcel has been silent too long (once per silence)", (_WATCH,), NOTIFICATIONS
    ),
    # the portal
    EventSpec(
        T.PORTAL_SIGN_IN_LINK,
        "A shopper asked for a sign-in link by email",
        ("adapters/dynamodb/orders.py (request_sign_in_link)",),
        (NOTIFICATIONS,),
        SignInLinkEvent,
        SignInLinkEvent,
    ),
)

CATALOGUE: dict[str, EventSpec] = {spec.type: spec for spec in EVENTS}


def event_spec(event_type: str) -> EventSpec:
    """The catalogued event; KeyError for a type nobody declared."""
    return CATALOGUE[event_type]


def consumed_by(consumer: Consumer) -> list[str]:
    """The event types a consumer's subscription must name, in catalogue order."""
    return [spec.type for spec in EVENTS if consumer in spec.consumers]


def validate_event(document: dict) -> BaseModel:
    """An SNS message body (an event item's document) validated against its catalogued type."""
    return event_spec(document.get("type", "")).validate(document)
