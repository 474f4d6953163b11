"""The `manual` payment provider: a person moves the money, Homeward keeps the books.

A refund of a `manual` payment is reserved on the payment's ledger like any other, then waits
in `requires_action` until ops confirm it with the transfer's reference
(`POST /ops/returns/{rma}/refunds/{seq}/confirm`: succeeded, the return closes when settled)
or fail it (`.../fail`: the reservation is released). Nothing is called: creating a refund
only answers `requires_action` under an id derived from our idempotency key (the same id
every time, so a retry changes nothing), and there is nothing to read back (the sweep leaves
these movements to ops; see `BY_HAND` in domain/refunds/ports.py).
"""

from __future__ import annotations

from typing import Any

from homeward.domain.refunds.ports import BY_HAND, ProviderRefund, ProviderRejected, RefundRequest

PROVIDER = "manual"
assert PROVIDER in BY_HAND


def refund_id_for(idempotency_key: str) -> str:
    return f"manual:{idempotency_key}"


class ManualProvider:
    name = PROVIDER

    def create_refund(self, request: RefundRequest) -> ProviderRefund:
        return ProviderRefund(
            refund_id=refund_id_for(request.idempotency_key),
            status="requires_action",
            amount=request.amount,
            currency=request.currency,
            metadata=dict(request.metadata),
        )

    def retrieve_refund(self, refund_id: str) -> ProviderRefund:
        raise ProviderRejected(
            PROVIDER, "confirmed_by_hand", "manual refunds are confirmed by ops, not read back"
        )

    def find_refund(self, payment_reference: str, idempotency_key: str) -> ProviderRefund | None:
        return None  # nothing was made anywhere: creating again answers the same id


def make_provider(settings: Any, api_key: str | None = None) -> ManualProvider:
    """The registry's factory: no key, no client."""
    return ManualProvider()
