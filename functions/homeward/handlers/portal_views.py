"""What the shopper portal shows of a return: records and timelines as the portal's models."""

from __future__ import annotations

from datetime import datetime

from homeward.domain.refunds import shopper_view as refunds
from homeward.domain.returns import service as return_service
from homeward.models.returns import (
    PreviewLine,
    ReturnPreview,
    ReturnRecord,
    ShopperLabel,
    ShopperReturn,
    TimelineEntry,
)


def shopper_return(
    record: ReturnRecord,
    timeline: list[TimelineEntry],
    *,
    policy,
    now: datetime,
    parcel_eta: datetime | None = None,
) -> ShopperReturn:
    """A return as its shopper sees it: their lines, label, refund and timeline."""
    return ShopperReturn(
        rma=record.rma,
        order_id=record.order_id,
        status=record.status,
        money_status=record.money_status,
        created_at=record.created_at,
        updated_at=record.updated_at,
        lines=return_service.shopper_lines(record),
        preview=record.preview,
        destination=record.destination,
        can_cancel=return_service.can_shopper_cancel(record),
        rejection_reason=record.rejection_reason,
        label=shopper_label(record),
        label_status=return_service.label_status(record),
        label_error=record.label_error,
        refund=refunds.shopper_refund(record, policy, parcel_eta=parcel_eta, now=now),
        timeline=return_service.shopper_timeline(timeline),
    )


def shopper_label(record: ReturnRecord) -> ShopperLabel | None:
    """The label the shopper may use; none once voided."""
    label = record.label
    if not label or label.voided:
        return None
    return ShopperLabel(
        tracking_number=label.tracking_number,
        carrier_service=label.carrier_service,
        expires_at=label.expires_at,
        formats=sorted(label.files),
        qr_payload=label.qr_payload,
        qr_code_url=label.qr_code_url,
    )


def return_preview(record: ReturnRecord) -> ReturnPreview:
    """What a submit would refund, per line, and the decision it would get."""
    return ReturnPreview(
        currency=record.currency,
        preview=record.preview,
        decision=record.decision.outcome,
        lines=[
            PreviewLine(line_id=line.line_id, quantity=line.quantity, refund=line.refund)
            for line in record.lines
        ],
    )
