"""The carrier port: what Homeward needs from any label provider (EasyPost, Shippo, sandbox).

Implementations live in homeward/providers/<name>/carrier.py (built by homeward.providers.carriers).
Errors are split so the label flow can decide:
a permanent refusal (the address is undeliverable) parks the return for a person, a
transient failure (5xx, timeout, rate limit) is retried and finally dead-lettered.
"""

from __future__ import annotations

from typing import Protocol

from homeward.errors import HomewardError
from homeward.models.labels import LabelFormat, LabelRequest, PurchasedLabel, VoidResult


class CarrierRejected(HomewardError):
    """The carrier refused the request for a reason a retry will not fix (e.g. bad address)."""

    code = "carrier_rejected"


class CarrierUnavailable(HomewardError):
    """The carrier could not answer now (5xx, timeout, throttling): retry later."""

    code = "carrier_unavailable"


class Carrier(Protocol):
    name: str

    def buy_return_label(self, request: LabelRequest) -> PurchasedLabel:
        """Buy one return label. Must send `request.reference` so `find_by_reference` can find it."""
        ...

    def find_by_reference(self, reference: str) -> PurchasedLabel | None:
        """A label bought earlier with this reference, if the carrier has one (crash recovery)."""
        ...

    def fetch_label(self, label: PurchasedLabel, label_format: LabelFormat) -> bytes:
        """The label file in a format (PDF, PNG or ZPL)."""
        ...

    def void_label(self, label: PurchasedLabel) -> VoidResult:
        """Ask the carrier to void / refund an unused label."""
        ...
