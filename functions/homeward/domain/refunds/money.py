"""Integer arithmetic in minor units: shares, percents, proportional splits. No floats anywhere.

What a line's units are worth (the telescoping proration of discounts and tax) is priced in
`domain.refunds.pricing` with these.
"""

from __future__ import annotations


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
