"""What can be returned, until when, why not, and what one more unit would refund (priced by
`domain.refunds.pricing.price_units`, like every refund amount)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from homeward.domain.refunds.pricing import (
    LineTerms,
    order_discount_shares,
    price_units,
    restocking_percent,
    return_shipping_fee,
)
from homeward.models.orders import Order, OrderLine
from homeward.models.policy import Resolution, ReturnPolicy
from homeward.models.returns import Eligibility, FeePreview, LineEligibility

# Reason codes a line can carry; each one is documented in docs/policy.md.
FINAL_SALE = "final_sale"
CATEGORY_EXCLUDED = "category_excluded"
SKU_EXCLUDED = "sku_excluded"
WINDOW_EXPIRED = "window_expired"
NOT_SHIPPED = "not_shipped"
FULLY_RETURNED = "fully_returned"


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


def _exclusions(line: OrderLine, policy: ReturnPolicy) -> list[str]:
    """Why the policy never takes this line back, if it does not."""
    codes = []
    if {t.lower() for t in line.tags} & {t.lower() for t in policy.non_returnable_tags}:
        codes.append(FINAL_SALE)
    if line.category and line.category in policy.non_returnable_categories:
        codes.append(CATEGORY_EXCLUDED)
    if line.sku in policy.non_returnable_skus:
        codes.append(SKU_EXCLUDED)
    return codes


def _deadline(
    order: Order, line: OrderLine, policy: ReturnPolicy, today: date
) -> tuple[date | None, list[str]]:
    """The last day to return the line, and why it cannot be returned now (not shipped, too late)."""
    start = window_start(order, line, policy)
    if start is None:
        return None, [NOT_SHIPPED]
    deadline = start + timedelta(days=policy.window_days)
    return deadline, [WINDOW_EXPIRED] if today > deadline else []


def _resolutions(order: Order, line: OrderLine, policy: ReturnPolicy, unit_refund: int) -> list[Resolution]:
    """What the shopper may ask for: the category's resolutions, keep-the-item only for cheap units."""
    resolutions = list(policy.resolutions_for(line.category))
    keep_limit = policy.keep_item_max_unit_value.get(order.currency)
    if "keep_item" in resolutions and (keep_limit is None or unit_refund > keep_limit):
        resolutions.remove("keep_item")
    return resolutions


def line_eligibility(
    order: Order,
    line: OrderLine,
    *,
    reserved: int,
    policy: ReturnPolicy,
    order_discount_share: int,
    today: date,
) -> LineEligibility:
    deadline, late = _deadline(order, line, policy, today)
    remaining = max(0, line.quantity - reserved)
    codes = [*_exclusions(line, policy), *late, *([] if remaining else [FULLY_RETURNED])]
    unit_refund = 0
    if remaining:
        # What the next unit was paid: before fees, which the preview shows apart.
        terms = LineTerms.of_order_line(line, order_discount_share=order_discount_share, policy=policy)
        unit_refund = price_units(terms, previous=reserved, units=1, waives_fees=False).amounts.paid
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
        allowed_resolutions=_resolutions(order, line, policy, unit_refund) if returnable else [],
        fees=FeePreview(
            restocking_fee_percent=restocking_percent(policy, line.category),
            return_shipping_fee=return_shipping_fee(policy, order.currency),
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
