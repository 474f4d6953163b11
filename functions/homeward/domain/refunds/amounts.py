"""What a return finally refunds, and how that refund is split across the order's payments.

Pure: no I/O. The server computes every amount from the stored return (and, when given, the
order); nothing comes from the client.

The final amount re-prices each line for the units actually accepted with the SAME
telescoping proration used at creation (units `previously_returned+1 ..
previously_returned+accepted`, see `money.line_amounts`). Because that band is a prefix of
the band priced in the preview, and every deduction only ever rounds in the shopper's
favour, a partial acceptance can never refund more than the preview promised.

Policy knobs that `ReturnPolicy` does not have yet (grade deductions, split rule) live in
`RefundRules` with safe defaults until the policy document grows them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from homeward.domain.refunds.money import LineAmounts, allocate, floor_share, line_amounts, percent_of
from homeward.domain.returns.eligibility import order_discount_shares
from homeward.domain.returns.rules import price
from homeward.errors import Conflict, Unprocessable
from homeward.models.orders import Order, Payment
from homeward.models.policy import ReturnPolicy
from homeward.models.refunds import RefundLine
from homeward.models.returns import LineRefund, ReturnLine, ReturnRecord

SplitRule = Literal["proportional", "sequential"]

DEFAULT_GRADE_DEDUCTIONS: Mapping[str, int] = MappingProxyType({"a": 0, "b": 10, "c": 25, "d": 50})


@dataclass(frozen=True)
class RefundRules:
    """Refund knobs not (yet) in `ReturnPolicy`.

    grade_deduction_percent: percent of a line's merchandise-after-discounts kept back per
        inspection grade; grades not listed deduct nothing.
    deduct_for_grade: master switch ("where the policy says so").
    waive_grade_deduction_with_fees: a reason that waives fees (merchant at fault, e.g.
        "arrived damaged") also waives the grade deduction, since the damage is not the
        shopper's doing.
    split_rule: how one refund is spread over several payments.
    """

    grade_deduction_percent: Mapping[str, int] = field(default_factory=lambda: DEFAULT_GRADE_DEDUCTIONS)
    deduct_for_grade: bool = True
    waive_grade_deduction_with_fees: bool = True
    split_rule: SplitRule = "proportional"

    def __post_init__(self) -> None:
        if any(not 0 <= p <= 100 for p in self.grade_deduction_percent.values()):
            raise ValueError("grade deduction percents must be between 0 and 100")
        if self.split_rule not in ("proportional", "sequential"):
            raise ValueError(f"unknown split rule {self.split_rule!r}")


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


@dataclass(frozen=True)
class Allocation:
    """The part of a refund sent back to one payment."""

    payment_id: str
    provider: str
    reference: str
    amount: int


# ---- final amount ---------------------------------------------------------------------------


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


def _stored_amounts(line: ReturnLine) -> LineAmounts:
    return LineAmounts(
        merchandise=line.refund.merchandise,
        discount=line.refund.discount,
        order_discount=line.refund.order_discount,
        tax=line.refund.tax,
    )


def _amounts_for(
    line: ReturnLine, units: int, order: Order | None, shares: dict[str, int]
) -> tuple[LineAmounts, bool]:
    """Value of the first `units` units of the return line.

    With the order: exactly as at creation, over the order line. The result is used only if
    re-pricing the whole return line reproduces the stored preview; otherwise the order
    changed since the return was made and the stored record (what the shopper was shown) is
    the contract, so we telescope within the stored line refund instead. The flag says
    whether the order was used (True) or the stored record (False).
    """
    if order is not None:
        order_line = next((li for li in order.lines if li.line_id == line.line_id), None)
        if order_line is not None and line.previously_returned + line.quantity <= order_line.quantity:

            def band(n: int) -> LineAmounts:
                return line_amounts(
                    unit_price=order_line.unit_price,
                    quantity=order_line.quantity,
                    line_discount=order_line.discount,
                    line_order_discount=shares.get(line.line_id, 0),
                    line_tax=order_line.tax,
                    previous=line.previously_returned,
                    units=n,
                )

            if band(line.quantity) == _stored_amounts(line):
                return band(units), True
    stored = line.refund
    prorated = line_amounts(
        unit_price=stored.merchandise // line.quantity if line.quantity else 0,
        quantity=line.quantity,
        line_discount=stored.discount,
        line_order_discount=stored.order_discount,
        line_tax=stored.tax,
        previous=0,
        units=units,
    )
    return prorated, False


def _line_breakdown(
    line: ReturnLine,
    *,
    units: int,
    inspected: bool,
    policy: ReturnPolicy,
    rules: RefundRules,
    order: Order | None,
    shares: dict[str, int],
) -> RefundLine:
    amounts, from_order = _amounts_for(line, units, order, shares)
    reason = policy.reason(line.reason)
    waives = bool(reason and reason.waives_fees)
    if from_order and order is not None:
        category = next((li.category for li in order.lines if li.line_id == line.line_id), None)
        rate = 0 if waives else policy.restocking_percent(category)
        # Never more than the fee shown in the preview: a policy change after the return was
        # made may lower the fee (shopper's favour) but not raise it.
        restocking = min(percent_of(amounts.net_of_tax, rate), line.refund.restocking_fee)
    else:
        # Without the order line we do not know the category (hence the rate): prorate the
        # previewed fee, rounding down. Still never above the preview for a partial band.
        restocking = floor_share(line.refund.restocking_fee, units, line.quantity) if line.quantity else 0
    grade_deduction = 0
    if (
        inspected
        and rules.deduct_for_grade
        and line.grade is not None
        and not (waives and rules.waive_grade_deduction_with_fees)
    ):
        # percent_of rounds down: the shopper's favour.
        grade_deduction = percent_of(amounts.net_of_tax, rules.grade_deduction_percent.get(line.grade, 0))
    # Fees and deductions together can never make a line negative.
    grade_deduction = min(grade_deduction, max(0, amounts.paid - restocking))
    return RefundLine(
        line_id=line.line_id,
        resolution=line.resolution,
        accepted_units=units,
        merchandise=amounts.merchandise,
        discount=amounts.discount,
        order_discount=amounts.order_discount,
        tax=amounts.tax,
        restocking_fee=restocking,
        grade_deduction=grade_deduction,
        amount=max(0, amounts.paid - restocking - grade_deduction),
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

    `inspected`: whether inspection results (received quantity, grade) apply. `order`: the
    order the return belongs to, for exact re-pricing over the order line (see `_amounts_for`);
    without it the stored line refunds are prorated, which agrees on full acceptance.
    `shipping_fee`: the return-shipping fee to charge; defaults to the one in the preview
    (already zero when a reason waived it), so the final fee never exceeds what was shown.
    """
    rules = rules or RefundRules()
    shares = order_discount_shares(order) if order is not None else {}
    breakdowns = tuple(
        _line_breakdown(
            line,
            units=accepted_units(line, inspected=inspected),
            inspected=inspected,
            policy=policy,
            rules=rules,
            order=order,
            shares=shares,
        )
        for line in record.lines
    )
    fee = record.preview.return_shipping_fee if shipping_fee is None else shipping_fee
    # Reuse the creation-time totalling so the fee and the store-credit bonus come off exactly
    # as in the preview; only the line amounts differ.
    priced = [
        line.model_copy(
            update={
                "refund": LineRefund(
                    merchandise=b.merchandise,
                    discount=b.discount,
                    order_discount=b.order_discount,
                    tax=b.tax,
                    restocking_fee=b.restocking_fee,
                    amount=b.amount,
                )
            }
        )
        for line, b in zip(record.lines, breakdowns, strict=True)
    ]
    totals = price(priced, currency=record.currency, policy=policy, waive_shipping=False, shipping_fee=fee)
    return RefundBreakdown(
        currency=record.currency,
        lines=breakdowns,
        return_shipping_fee=totals.return_shipping_fee,
        refund_total=totals.refund_total,
        store_credit_total=totals.store_credit_total,
        store_credit_bonus=totals.store_credit_bonus,
        exchange_value=totals.exchange_value,
        keep_item_total=totals.keep_item_total,
        restocking_fees=totals.restocking_fees,
        grade_deductions=sum(b.grade_deduction for b in breakdowns),
    )


# ---- payments -----------------------------------------------------------------------------


def _capacity(payment: Payment, already_refunded: Mapping[str, int]) -> int:
    return max(0, payment.captured - already_refunded.get(payment.payment_id, 0))


def remaining(payments: list[Payment], already_refunded: Mapping[str, int]) -> int:
    """What can still be refunded: captured minus already refunded, summed over payments."""
    return sum(_capacity(p, already_refunded) for p in payments)


def split_across_payments(
    amount: int,
    payments: list[Payment],
    already_refunded: Mapping[str, int],
    *,
    currency: str,
    rule: SplitRule = "proportional",
) -> list[Allocation]:
    """Spread `amount` over the order's payments; zero-amount parts are left out.

    proportional: in proportion to each payment's remaining capacity (largest remainder, ties
    by position, so deterministic); sequential: fill payments in the order given. Either way
    no payment gets more than captured minus already refunded.

    Raises Unprocessable (422) if a payment is in another currency, Conflict (409) with the
    remaining amount if `amount` is more than can still be refunded.
    """
    if amount < 0:
        raise ValueError("refund amount must not be negative")
    if amount == 0:
        return []
    foreign = [p.payment_id for p in payments if p.currency not in (None, currency)]
    if foreign:
        raise Unprocessable(
            f"Payments are not in {currency}",
            details={"reason_codes": ["currency_mismatch"], "payments": foreign, "currency": currency},
        )
    capacities = [_capacity(p, already_refunded) for p in payments]
    left = sum(capacities)
    if amount > left:
        raise Conflict(
            "The refund is more than remains to be refunded",
            details={"reason": "exceeds_remaining", "remaining": left, "currency": currency},
        )
    if rule == "proportional":
        # amount <= sum(capacities), so largest remainder never pushes a part past its weight.
        parts = allocate(amount, capacities)
    elif rule == "sequential":
        parts = []
        rest = amount
        for cap in capacities:
            take = min(cap, rest)
            parts.append(take)
            rest -= take
    else:
        raise ValueError(f"unknown split rule {rule!r}")
    return [
        Allocation(payment_id=p.payment_id, provider=p.provider, reference=p.reference, amount=part)
        for p, part in zip(payments, parts, strict=True)
        if part > 0
    ]


__all__ = [
    "DEFAULT_GRADE_DEDUCTIONS",
    "Allocation",
    "RefundBreakdown",
    "RefundRules",
    "accepted_units",
    "final_amount",
    "remaining",
    "split_across_payments",
]
