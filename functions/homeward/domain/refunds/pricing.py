"""What returned units refund: the one home of refund money.

Every amount a shopper sees or gets is priced here, the same way each time:

* `price_units` - what `units` units of one line refund: the prorated discounts and tax, the
  restocking fee and, after inspection, the grade deduction. Eligibility's unit refund, the
  preview made when a return is created and the final amount all call it.
* `price_return` - the return's totals per resolution: the return-shipping fee comes off the
  refund, then off store credit, and store credit gets its bonus.
* the policy's money knobs (restocking percent, fee-waiving reasons, return-shipping fee,
  store-credit bonus, grade deductions, split rule) are read in the functions below and
  nowhere else.

Proration is *telescoping*: the share of a line's discount (or tax) that goes with units
`prev+1 .. prev+n` is `share(prev+n) - share(prev)`, where `share(k)` rounds the proportional
amount for the first `k` units. Returning a line in any number of partial returns therefore
adds up to exactly the line's discount and tax, never a cent more. Deductions (discounts)
round up and additions (tax) round down, so a band of units is never worth more than its
proportional part of what was paid; fees and deductions round down (the shopper's favour).

Pure: no I/O, integer minor units only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from homeward.domain.refunds.money import allocate, ceil_share, floor_share, percent_of
from homeward.models.orders import Order, OrderLine
from homeward.models.policy import DEFAULT_GRADE_DEDUCTION_PERCENT, Grade, ReturnPolicy
from homeward.models.returns import RefundPreview, ReturnLine

SplitRule = Literal["proportional", "sequential"]
SPLIT_RULES: tuple[SplitRule, ...] = ("proportional", "sequential")

# ---- the policy's money knobs -------------------------------------------------------------


@dataclass(frozen=True)
class RefundRules:
    """The policy's refund knobs (`ReturnPolicy.refund`), as pricing and splitting use them.

    grade_deduction_percent: percent of a line's merchandise-after-discounts kept back per
        inspection grade; grades not listed deduct nothing.
    deduct_for_grade: master switch ("where the policy says so").
    waive_grade_deduction_with_fees: a reason that waives fees (merchant at fault, e.g.
        "arrived damaged") also waives the grade deduction, since the damage is not the
        shopper's doing.
    split_rule: how one refund is spread over several payments.
    """

    grade_deduction_percent: Mapping[str, int] = field(
        default_factory=lambda: _by_grade(DEFAULT_GRADE_DEDUCTION_PERCENT)
    )
    deduct_for_grade: bool = True
    waive_grade_deduction_with_fees: bool = True
    split_rule: SplitRule = "proportional"

    def __post_init__(self) -> None:
        if any(not 0 <= p <= 100 for p in self.grade_deduction_percent.values()):
            raise ValueError("grade deduction percents must be between 0 and 100")
        if self.split_rule not in SPLIT_RULES:
            raise ValueError(f"unknown split rule {self.split_rule!r}")

    @classmethod
    def from_policy(cls, policy: ReturnPolicy) -> RefundRules:
        return cls(
            grade_deduction_percent=_by_grade(policy.refund.grade_deduction_percent),
            deduct_for_grade=policy.refund.deduct_for_grade,
            split_rule=policy.refund.split_rule,
        )


def _by_grade(percents: Mapping[Grade, int]) -> Mapping[str, int]:
    return {str(grade): percent for grade, percent in percents.items()}


def restocking_percent(policy: ReturnPolicy, category: str | None) -> int:
    """The restocking fee of a line's category, in percent of its merchandise after discounts."""
    return policy.restocking_percent(category)


def waives_fees(policy: ReturnPolicy, reason_code: str) -> bool:
    """Whether a return reason puts the fault with the merchant: no restocking or shipping fee."""
    reason = policy.reason(reason_code)
    return bool(reason and reason.waives_fees)


def return_shipping_fee(policy: ReturnPolicy, currency: str) -> int:
    """The flat return-shipping fee in a currency (zero when the policy names none)."""
    return policy.return_shipping_fee.get(currency, 0)


# ---- proration ------------------------------------------------------------------------------


def order_discount_shares(order: Order) -> dict[str, int]:
    """The order-level discount split over lines in proportion to what each line cost."""
    shares = allocate(order.order_discount, [line.subtotal - line.discount for line in order.lines])
    return {line.line_id: share for line, share in zip(order.lines, shares, strict=True)}


@dataclass(frozen=True)
class LineAmounts:
    """What `units` units of a line are worth, from units `previous+1` to `previous+units`."""

    merchandise: int
    discount: int
    order_discount: int
    tax: int

    @property
    def paid(self) -> int:
        """What the shopper paid for these units."""
        return self.merchandise - self.discount - self.order_discount + self.tax

    @property
    def net_of_tax(self) -> int:
        return self.merchandise - self.discount - self.order_discount


def line_amounts(
    *,
    unit_price: int,
    quantity: int,
    line_discount: int,
    line_order_discount: int,
    line_tax: int,
    previous: int,
    units: int,
) -> LineAmounts:
    """Value of `units` units after `previous` units of the same line were already returned."""
    if units < 0 or previous < 0 or previous + units > quantity:
        raise ValueError("units out of range for the line")
    upto = previous + units
    # Both discounts telescope as ONE amount, so the deduction for any band of units never
    # exceeds that band's merchandise (two separately rounded shares could, by a cent).
    deductions = line_discount + line_order_discount
    deduction = ceil_share(deductions, upto, quantity) - ceil_share(deductions, previous, quantity)
    discount = min(
        deduction, ceil_share(line_discount, upto, quantity) - ceil_share(line_discount, previous, quantity)
    )
    return LineAmounts(
        merchandise=unit_price * units,
        discount=discount,
        order_discount=deduction - discount,
        tax=floor_share(line_tax, upto, quantity) - floor_share(line_tax, previous, quantity),
    )


# ---- one line ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineTerms:
    """What a line was sold for, as pricing needs it.

    `restocking_percent` None: the category (hence the rate) is unknown, because the line is
    priced from the stored preview instead of the order; the previewed fee is prorated then.
    """

    unit_price: int
    quantity: int
    discount: int
    order_discount: int
    tax: int
    restocking_percent: int | None

    @classmethod
    def of_order_line(cls, line: OrderLine, *, order_discount_share: int, policy: ReturnPolicy) -> LineTerms:
        return cls(
            unit_price=line.unit_price,
            quantity=line.quantity,
            discount=line.discount,
            order_discount=order_discount_share,
            tax=line.tax,
            restocking_percent=restocking_percent(policy, line.category),
        )

    @classmethod
    def of_stored_line(cls, line: ReturnLine) -> LineTerms:
        """The return line's stored preview as if it were the whole order line."""
        stored = line.refund
        return cls(
            unit_price=stored.merchandise // line.quantity if line.quantity else 0,
            quantity=line.quantity,
            discount=stored.discount,
            order_discount=stored.order_discount,
            tax=stored.tax,
            restocking_percent=None,
        )


@dataclass(frozen=True)
class PreviewedFee:
    """The restocking fee the shopper was shown for `units` units: never exceeded later."""

    fee: int
    units: int


@dataclass(frozen=True)
class PricedUnits:
    """What some units of one line refund."""

    amounts: LineAmounts
    restocking_fee: int
    grade_deduction: int

    @property
    def refund(self) -> int:
        """What goes back: what was paid less the fee and the deduction, never negative."""
        return max(0, self.amounts.paid - self.restocking_fee - self.grade_deduction)


def price_units(
    terms: LineTerms,
    *,
    previous: int,
    units: int,
    waives_fees: bool,
    rules: RefundRules | None = None,
    grade: str | None = None,
    previewed: PreviewedFee | None = None,
) -> PricedUnits:
    """What units `previous+1 .. previous+units` of a line refund.

    `waives_fees`: the reason puts the fault with the merchant. `grade`: the inspection grade
    when inspection results apply (None before). `previewed`: the fee shown when the return was
    made; the fee charged now is never above it (a policy change may lower it, never raise it).
    """
    amounts = line_amounts(
        unit_price=terms.unit_price,
        quantity=terms.quantity,
        line_discount=terms.discount,
        line_order_discount=terms.order_discount,
        line_tax=terms.tax,
        previous=previous,
        units=units,
    )
    restocking = _restocking_fee(amounts, terms, units=units, waives_fees=waives_fees, previewed=previewed)
    deduction = _grade_deduction(amounts, grade, rules or RefundRules(), waives_fees=waives_fees)
    # Fees and deductions together can never make a line negative.
    deduction = min(deduction, max(0, amounts.paid - restocking))
    return PricedUnits(amounts=amounts, restocking_fee=restocking, grade_deduction=deduction)


def _restocking_fee(
    amounts: LineAmounts, terms: LineTerms, *, units: int, waives_fees: bool, previewed: PreviewedFee | None
) -> int:
    if terms.restocking_percent is None:
        # Without the order line the rate is unknown: prorate the previewed fee, rounding down.
        # Still never above the preview for a partial band.
        if previewed is None or not previewed.units:
            return 0
        return floor_share(previewed.fee, units, previewed.units)
    fee = percent_of(amounts.net_of_tax, 0 if waives_fees else terms.restocking_percent)
    return fee if previewed is None else min(fee, previewed.fee)


def _grade_deduction(
    amounts: LineAmounts, grade: str | None, rules: RefundRules, *, waives_fees: bool
) -> int:
    if grade is None or not rules.deduct_for_grade:
        return 0
    if waives_fees and rules.waive_grade_deduction_with_fees:
        return 0
    # percent_of rounds down: the shopper's favour.
    return percent_of(amounts.net_of_tax, rules.grade_deduction_percent.get(grade, 0))


# ---- the whole return -----------------------------------------------------------------------


def price_return(
    lines: list[ReturnLine],
    *,
    currency: str,
    policy: ReturnPolicy,
    waive_shipping: bool,
    shipping_fee: int | None = None,
) -> RefundPreview:
    """Totals per resolution from the lines' refunds. The return-shipping fee (the policy's flat
    fee, or `shipping_fee` such as the label's real cost) comes off the refund, then off store
    credit; store credit then gets the policy's bonus."""
    by = {"refund": 0, "store_credit": 0, "exchange": 0, "keep_item": 0}
    for line in lines:
        by[line.resolution] += line.refund.amount
    ships_back = any(line.resolution != "keep_item" for line in lines)
    flat = return_shipping_fee(policy, currency) if shipping_fee is None else shipping_fee
    fee = 0 if waive_shipping or not ships_back else flat
    from_refund = min(fee, by["refund"])
    from_credit = min(fee - from_refund, by["store_credit"])
    credit_base = by["store_credit"] - from_credit
    bonus = percent_of(credit_base, policy.store_credit_bonus_percent)
    return RefundPreview(
        currency=currency,
        refund_total=by["refund"] - from_refund + by["keep_item"],
        store_credit_total=credit_base + bonus,
        store_credit_bonus=bonus,
        exchange_value=by["exchange"],
        keep_item_total=by["keep_item"],
        return_shipping_fee=from_refund + from_credit,
        restocking_fees=sum(line.refund.restocking_fee for line in lines),
    )
