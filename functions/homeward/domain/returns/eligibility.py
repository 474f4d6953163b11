"""What can be returned, until when, why not, and what one more unit would refund."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from homeward.domain.refunds.money import allocate, line_amounts
from homeward.models.orders import Order, OrderLine
from homeward.models.policy import ReturnPolicy
from homeward.models.returns import Eligibility, FeePreview, LineEligibility

# Reason codes a line can carry; each one is documented in docs/policy.md.
FINAL_SALE = "final_sale"
CATEGORY_EXCLUDED = "category_excluded"
SKU_EXCLUDED = "sku_excluded"
WINDOW_EXPIRED = "window_expired"
NOT_SHIPPED = "not_shipped"
FULLY_RETURNED = "fully_returned"


def order_discount_shares(order: Order) -> dict[str, int]:
    """The order-level discount split over lines in proportion to what each line cost."""
    shares = allocate(order.order_discount, [line.subtotal - line.discount for line in order.lines])
    return {line.line_id: share for line, share in zip(order.lines, shares, strict=True)}


def window_start(order: Order, line: OrderLine, policy: ReturnPolicy) -> date | None:
    """Delivery date of the line's parcel; else ship date + buffer; else order date + buffer.

    None when the shop reports shipments but none carries this line (not shipped yet).
    """
    if not order.shipments:
        return (order.placed_at + timedelta(days=policy.transit_buffer_days)).date()
    carrying = [s for s in order.shipments if not s.lines or any(i.line_id == line.line_id for i in s.lines)]
    if not carrying:
        return None
    delivered = [s.delivered_at for s in carrying if s.delivered_at]
    if delivered:
        return max(delivered).date()
    shipped = [s.shipped_at for s in carrying if s.shipped_at]
    if shipped:
        return (max(shipped) + timedelta(days=policy.transit_buffer_days)).date()
    return (order.placed_at + timedelta(days=policy.transit_buffer_days)).date()


def line_eligibility(
    order: Order,
    line: OrderLine,
    *,
    reserved: int,
    policy: ReturnPolicy,
    order_discount_share: int,
    today: date,
) -> LineEligibility:
    codes: list[str] = []
    tags = {t.lower() for t in line.tags}
    if tags & {t.lower() for t in policy.non_returnable_tags}:
        codes.append(FINAL_SALE)
    if line.category and line.category in policy.non_returnable_categories:
        codes.append(CATEGORY_EXCLUDED)
    if line.sku in policy.non_returnable_skus:
        codes.append(SKU_EXCLUDED)
    start = window_start(order, line, policy)
    deadline = start + timedelta(days=policy.window_days) if start else None
    if start is None:
        codes.append(NOT_SHIPPED)
    elif today > deadline:
        codes.append(WINDOW_EXPIRED)
    remaining = max(0, line.quantity - reserved)
    if remaining == 0:
        codes.append(FULLY_RETURNED)
    unit_refund = 0
    if remaining:
        unit_refund = line_amounts(
            unit_price=line.unit_price,
            quantity=line.quantity,
            line_discount=line.discount,
            line_order_discount=order_discount_share,
            line_tax=line.tax,
            previous=reserved,
            units=1,
        ).paid
    resolutions = list(policy.resolutions_for(line.category))
    keep_limit = policy.keep_item_max_unit_value.get(order.currency)
    if "keep_item" in resolutions and (keep_limit is None or unit_refund > keep_limit):
        resolutions.remove("keep_item")
    returnable = not codes
    return LineEligibility(
        line_id=line.line_id,
        sku=line.sku,
        title=line.title,
        variant=line.variant,
        ordered_quantity=line.quantity,
        returnable_quantity=remaining if returnable else 0,
        returnable=returnable,
        reason_codes=codes,
        deadline=deadline,
        unit_refund=unit_refund,
        allowed_reasons=[r.code for r in policy.reasons] if returnable else [],
        allowed_resolutions=resolutions if returnable else [],
        fees=FeePreview(
            restocking_fee_percent=policy.restocking_percent(line.category),
            return_shipping_fee=policy.return_shipping_fee.get(order.currency, 0),
        ),
    )


def eligibility(
    order: Order, *, reserved: dict[str, int], policy: ReturnPolicy, now: datetime
) -> Eligibility:
    """Per line: returnable quantity, deadline, reasons, resolutions and fees, or why not."""
    shares = order_discount_shares(order)
    today = now.date()
    return Eligibility(
        order_id=order.order_id,
        currency=order.currency,
        policy_version=policy.version,
        store_credit_bonus_percent=policy.store_credit_bonus_percent,
        reasons=policy.reasons,
        lines=[
            line_eligibility(
                order,
                line,
                reserved=reserved.get(line.line_id, 0),
                policy=policy,
                order_discount_share=shares[line.line_id],
                today=today,
            )
            for line in order.lines
        ],
    )


GIFT_RESOLUTION = "store_credit"


def for_gift_recipient(result: Eligibility) -> Eligibility:
    """What a gift's recipient may return: store credit only (never money to the buyer's card)."""
    lines = []
    for line in result.lines:
        if line.returnable and GIFT_RESOLUTION not in line.allowed_resolutions:
            line = line.model_copy(
                update={
                    "returnable": False,
                    "returnable_quantity": 0,
                    "reason_codes": [*line.reason_codes, "gift_store_credit_unavailable"],
                    "allowed_resolutions": [],
                }
            )
        elif line.returnable:
            line = line.model_copy(update={"allowed_resolutions": [GIFT_RESOLUTION]})
        lines.append(line)
    return result.model_copy(update={"lines": lines, "gift": True})
