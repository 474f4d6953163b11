"""Refund arithmetic in integer minor units. No floats anywhere.

Proration is *telescoping*: the share of a line's discount (or tax) that goes with units
`prev+1 .. prev+n` is `share(prev+n) - share(prev)`, where `share(k)` rounds the
proportional amount for the first `k` units. Returning a line in any number of partial
returns therefore adds up to exactly the line's discount and tax, never a cent more.
Deductions (discounts) round up and additions (tax) round down, so a band of units is
never worth more than its proportional part of what was paid.
"""

from __future__ import annotations

from dataclasses import dataclass


def floor_share(amount: int, part: int, whole: int) -> int:
    return amount * part // whole


def ceil_share(amount: int, part: int, whole: int) -> int:
    return -((-amount * part) // whole)


def percent_of(amount: int, percent: int) -> int:
    """`percent`% of `amount`, rounded down (fees round in the shopper's favour)."""
    return amount * percent // 100


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` across `weights` proportionally; parts are integers summing to `total`.

    Largest-remainder method, ties broken by position, so the result is deterministic.
    All-zero weights split evenly.
    """
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("allocate needs non-negative amounts")
    if not weights:
        return []
    if sum(weights) == 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    parts = [total * w // whole for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in remainders[: total - sum(parts)]:
        parts[i] += 1
    return parts


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
