"""Every domain event type as a constant: the names, nothing else (cheap to import on a hot path).

The catalogue (homeward/domain/events.py) says what each one means, who emits and who consumes
it, and its payload; tests/unit/test_event_catalogue.py keeps the two in step. Emit and compare
with these rather than string literals.
"""

from __future__ import annotations

RETURN_REQUESTED = "return.requested"
RETURN_NEEDS_REVIEW = "return.needs_review"
RETURN_APPROVED = "return.approved"
RETURN_REJECTED = "return.rejected"
RETURN_NEEDS_ATTENTION = "return.needs_attention"
RETURN_LABEL_REQUESTED = "return.label_requested"
RETURN_LABEL_ISSUED = "return.label_issued"
RETURN_LABEL_VOIDED = "return.label_voided"
RETURN_LABEL_EXPIRING = "return.label_expiring"
RETURN_EXPIRED = "return.expired"
RETURN_IN_TRANSIT = "return.in_transit"
RETURN_DELIVERED = "return.delivered"
RETURN_RECEIVED = "return.received"
RETURN_CLOSED = "return.closed"
RETURN_CANCELLED = "return.cancelled"
RETURN_NOTE_ADDED = "return.note_added"

NOTIFICATION_FAILED = "notification.failed"

REFUND_REQUESTED = "refund.requested"
REFUND_RETRY_REQUESTED = "refund.retry_requested"
REFUND_ISSUED = "refund.issued"
REFUND_FAILED = "refund.failed"
REFUND_RESERVED = "refund.reserved"
REFUND_PENDING = "refund.pending"
REFUND_REQUIRES_ACTION = "refund.requires_action"
REFUND_SUCCEEDED = "refund.succeeded"
REFUND_CANCELED = "refund.canceled"
REFUND_RECORDED_OUTSIDE = "refund.recorded_outside"

CREDIT_ISSUED = "credit.issued"

EXCHANGE_REQUESTED = "exchange.requested"
EXCHANGE_PAYMENT_DUE = "exchange.payment_due"
EXCHANGE_SETTLED = "exchange.settled"

SHIPMENT_UPDATED = "shipment.updated"
SHIPMENT_EXCEPTION = "shipment.exception"
SHIPMENT_DELIVERED = "shipment.delivered"
SHIPMENT_DELAYED = "shipment.delayed"

PORTAL_SIGN_IN_LINK = "portal.sign_in_link"
