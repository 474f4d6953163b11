"""How much: what a return finally refunds, per line and per resolution.

Pure: no I/O. The server computes every amount from the stored return (and, when given, the
order); nothing comes from the client. Each line is priced by `pricing.price_units`, the same
function that priced the preview when the return was created.

The final amount re-prices each line for the units actually accepted with the SAME
telescoping proration used at creation (units `previously_returned+1 ..
previously_returned+accepted`). Because that band is a prefix of the band priced in the
preview, and every deduction only ever rounds in the shopper's favour, a partial acceptance
can never refund more than the preview promised.
"""

from __future__ import annotations

from dataclasses import dataclass

from homeward.domain.refunds.pricing import (
    LineAmounts,
    LineTerms,
    PreviewedFee,
    PricedUnits,
    RefundRules,
    order_discount_shares,
    price_return,
    price_units,
    waives_fees,
)
from homeward.models.orders import Order, OrderLine
from homeward.models.policy import ReturnPolicy
from homeward.models.refunds import RefundAmounts, RefundLine
from homeward.models.returns import LineRefund, ReturnLine, ReturnRecord


@dataclass(frozen=True)
class RefundBreakdown:
    """The final refund of a return, per line and per resolution (same meaning as `RefundPreview`)."""

    currency: str
    lines: tuple[RefundLine, ...]
    return_shipping_fee: int
    refund_total: int  # to the original payment(s), after the return-shipping fee; includes keep_item
    store_credit_total: int  # including the bonus
    store_credit_bonus: int
    exchange_value: int
    keep_item_total: int
    restocking_fees: int
    grade_deductions: int


def accepted_units(line: ReturnLine, *, inspected: bool = True) -> int:
    """Units of a line the refund is for.

    After inspection, the received quantity of every line the warehouse graded. A line with
    no grade was not inspected (not part of the inspection, or kept by the shopper), so the
    requested quantity stands; `inspected=False` (refund triggered before inspection) always
    uses the requested quantity.
    """
    if not inspected or line.resolution == "keep_item" or line.grade is None:
        return line.quantity
    # min(): inspection already refuses more than returned, but money code must not trust that.
    return max(0, min(line.received_quantity, line.quantity))


def was_inspected(record: ReturnRecord) -> bool:
    """Whether inspection results apply: the warehouse graded at least one line."""
    return any(line.grade is not None for line in record.lines)


def _order_terms(
    line: ReturnLine, order: Order | None, shares: dict[str, int], policy: ReturnPolicy
) -> LineTerms | None:
    """The order line's terms if re-pricing the whole return line over them reproduces the
    stored preview. Otherwise (no order, or it changed since the return was made) None: the
    stored record, what the shopper was shown, is the contract."""
    if order is None:
        return None
    order_line: OrderLine | None = next((li for li in order.lines if li.line_id == line.line_id), None)
    if order_line is None or line.previously_returned + line.quantity > order_line.quantity:
        return None
    terms = LineTerms.of_order_line(
        order_line, order_discount_share=shares.get(line.line_id, 0), policy=policy
    )
    whole = price_units(terms, previous=line.previously_returned, units=line.quantity, waives_fees=False)
    stored = line.refund
    shown = LineAmounts(
        merchandise=stored.merchandise,
        discount=stored.discount,
        order_discount=stored.order_discount,
        tax=stored.tax,
    )
    if whole.amounts != shown:
        return None
    return terms


def _price_accepted(
    line: ReturnLine,
    *,
    units: int,
    inspected: bool,
    policy: ReturnPolicy,
    rules: RefundRules,
    terms: LineTerms | None,
) -> PricedUnits:
    """The accepted units, over the order line when it still prices the preview (see
    `_order_terms`), else telescoped within the stored line refund."""
    previous = line.previously_returned if terms is not None else 0
    return price_units(
        terms or LineTerms.of_stored_line(line),
        previous=previous,
        units=units,
        waives_fees=waives_fees(policy, line.reason),
        rules=rules,
        grade=line.grade if inspected else None,
        previewed=PreviewedFee(fee=line.refund.restocking_fee, units=line.quantity),
    )


def _refund_line(line: ReturnLine, units: int, priced: PricedUnits) -> RefundLine:
    return RefundLine(
        line_id=line.line_id,
        resolution=line.resolution,
        accepted_units=units,
        merchandise=priced.amounts.merchandise,
        discount=priced.amounts.discount,
        order_discount=priced.amounts.order_discount,
        tax=priced.amounts.tax,
        restocking_fee=priced.restocking_fee,
        grade_deduction=priced.grade_deduction,
        amount=priced.refund,
    )


def _line_breakdown(
    line: ReturnLine,
    *,
    inspected: bool,
    policy: ReturnPolicy,
    rules: RefundRules,
    order: Order | None,
    shares: dict[str, int],
) -> RefundLine:
    units = accepted_units(line, inspected=inspected)
    terms = _order_terms(line, order, shares, policy)
    priced = _price_accepted(line, units=units, inspected=inspected, policy=policy, rules=rules, terms=terms)
    return _refund_line(line, units, priced)


def _as_priced_line(line: ReturnLine, final: RefundLine) -> ReturnLine:
    return line.model_copy(
        update={
            "refund": LineRefund(
                merchandise=final.merchandise,
                discount=final.discount,
                order_discount=final.order_discount,
                tax=final.tax,
                restocking_fee=final.restocking_fee,
                amount=final.amount,
            )
        }
    )


def final_amount(
    record: ReturnRecord,
    policy: ReturnPolicy,
    rules: RefundRules | None = None,
    *,
    inspected: bool,
    order: Order | None = None,
    shipping_fee: int | None = None,
) -> RefundBreakdown:
    """The refund a return finally pays, per line and per resolution.

    `rules`: the policy's refund rules unless given. `inspected`: whether inspection results
    (received quantity, grade) apply. `order`: the order the return belongs to, for exact
    re-pricing over the order line (see `_order_terms`); without it the stored line refunds are
    prorated, which agrees on full acceptance. `shipping_fee`: the return-shipping fee to
    charge; defaults to the one in the preview (already zero when a reason waived it), so the
    final fee never exceeds what was shown.
    """
    rules = rules or RefundRules.from_policy(policy)
    shares = order_discount_shares(order) if order is not None else {}
    lines = tuple(
        _line_breakdown(line, inspected=inspected, policy=policy, rules=rules, order=order, shares=shares)
        for line in record.lines
    )
    fee = record.preview.return_shipping_fee if shipping_fee is None else shipping_fee
    # The creation-time totalling, so the fee and the store-credit bonus come off exactly as in
    # the preview; only the line amounts differ.
    priced = [_as_priced_line(line, final) for line, final in zip(record.lines, lines, strict=True)]
    totals = price_return(
        priced, currency=record.currency, policy=policy, waive_shipping=False, shipping_fee=fee
    )
    return RefundBreakdown(
        currency=record.currency,
        lines=lines,
        return_shipping_fee=totals.return_shipping_fee,
        refund_total=totals.refund_total,
        store_credit_total=totals.store_credit_total,
        store_credit_bonus=totals.store_credit_bonus,
        exchange_value=totals.exchange_value,
        keep_item_total=totals.keep_item_total,
        restocking_fees=totals.restocking_fees,
        grade_deductions=sum(line.grade_deduction for line in lines),
    )


def amounts_model(
    record: ReturnRecord, policy: ReturnPolicy, order: Order | None, *, inspected: bool
) -> RefundAmounts:
    """The final amount as stored on the return's refund (and shown to its shopper)."""
    breakdown = final_amount(
        record, policy, RefundRules.from_policy(policy), inspected=inspected, order=order
    )
    return RefundAmounts(
        currency=breakdown.currency,
        inspected=inspected,
        lines=list(breakdown.lines),
        return_shipping_fee=breakdown.return_shipping_fee,
        refund_total=breakdown.refund_total,
        store_credit_total=breakdown.store_credit_total,
        store_credit_bonus=breakdown.store_credit_bonus,
        exchange_value=breakdown.exchange_value,
        keep_item_total=breakdown.keep_item_total,
        restocking_fees=breakdown.restocking_fees,
        grade_deductions=breakdown.grade_deductions,
    )


__all__ = [
    "RefundBreakdown",
    "RefundRules",
    "accepted_units",
    "amounts_model",
    "final_amount",
    "was_inspected",
]
