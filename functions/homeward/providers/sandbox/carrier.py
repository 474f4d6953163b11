"""The sandbox carrier: Homeward's local default. No network, no account, no cost.

Idempotent by construction: everything that identifies a label is derived from the request's
`reference` - the provider id is a hash of it and the tracking number is
`sandbox_tracking_number(reference)` - so buying twice with one reference can only ever
produce the same label, never a second one. The price comes from a fixed table by service
level. The files are drawn locally by `homeward.domain.labels.render` from the request's data,
which travels with the label in `PurchasedLabel.content` (addresses, weight, RMA - nothing
secret).

`find_by_reference` answers from the labels this process sold (a bounded memory): after a
cold start it answers None, and buying again then returns the identical label - the same
provider id, tracking number and cost; only `purchased_at` is the new time.

To exercise the refusal path locally, the sandbox refuses a shopper address whose postal code
is "00000" (as a real carrier refuses an address it cannot find).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from homeward.domain.labels.ports import CarrierRejected
from homeward.models.labels import LabelContent, LabelFormat, LabelRequest, PurchasedLabel, VoidResult

DISPLAY_NAME = "Homeward Sandbox"
CURRENCY = "USD"
# Cents by service level; what `buy_return_label` charges (nothing is really charged).
RATES: dict[str, int] = {"ground": 795, "priority": 1095, "express": 1495}
UNDELIVERABLE_POSTAL_CODE = "00000"
MEMORY = 1000  # labels remembered for find_by_reference


def provider_id_for(reference: str) -> str:
    digest = hashlib.sha256(f"homeward:sandbox-label:{reference}".encode()).hexdigest()
    return f"sbx_{digest[:32]}"


def qr_payload_for(tracking_number: str, rma: str) -> str:
    """What the label's QR code encodes (the same fallback the label flow uses for real carriers)."""
    return f"HOMEWARD-DROPOFF:{tracking_number}:{rma}"


class SandboxCarrier:
    name = "sandbox"

    def __init__(
        self,
        *,
        rates: Mapping[str, int] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._rates = {level.lower(): cents for level, cents in (rates or RATES).items()}
        self._now = now or (lambda: datetime.now(UTC))
        self._sold: OrderedDict[str, PurchasedLabel] = OrderedDict()
        self._lock = threading.Lock()

    def buy_return_label(self, request: LabelRequest) -> PurchasedLabel:
        with self._lock:
            known = self._sold.get(request.reference)
        if known is not None:
            return known.model_copy(deep=True)
        level = self._check(request)
        from homeward.domain.labels.render import sandbox_tracking_number

        tracking = sandbox_tracking_number(request.reference)
        service = f"{DISPLAY_NAME} {level.title()}"
        purchased_at = self._now()
        label = PurchasedLabel(
            carrier="sandbox",
            provider_id=provider_id_for(request.reference),
            tracking_number=tracking,
            carrier_service=service,
            cost=self._rates[level],
            currency=CURRENCY,
            label_format=request.label_format,
            reference=request.reference,
            purchased_at=purchased_at,
            content=LabelContent(
                sender=request.from_address,
                recipient=request.to_address,
                rma=request.rma,
                tracking_number=tracking,
                carrier_service=service,
                carrier_display_name=DISPLAY_NAME,
                qr_payload=qr_payload_for(tracking, request.rma),
                weight_oz=request.parcel.weight_oz,
                created=purchased_at.date(),
            ),
        )
        with self._lock:
            label = self._sold.setdefault(request.reference, label)  # a concurrent buy keeps the first
            self._sold.move_to_end(request.reference)
            while len(self._sold) > MEMORY:
                self._sold.popitem(last=False)
        return label.model_copy(deep=True)

    def _check(self, request: LabelRequest) -> str:
        """The request's service level, or CarrierRejected as a real carrier would refuse it."""
        level = request.service_level.lower()
        if level not in self._rates:
            offered = ", ".join(sorted(self._rates))
            raise CarrierRejected(
                f"{DISPLAY_NAME} offers no rate for service level {request.service_level!r} "
                f"(offered: {offered})",
                details={"provider": "sandbox", "reason": "no_matching_rate"},
            )
        if request.from_address.postal_code.strip() == UNDELIVERABLE_POSTAL_CODE:
            raise CarrierRejected(
                f"{DISPLAY_NAME}: the sender address could not be found "
                f"(postal code {UNDELIVERABLE_POSTAL_CODE})",
                details={"provider": "sandbox", "reason": "refused"},
            )
        return level

    def find_by_reference(self, reference: str) -> PurchasedLabel | None:
        with self._lock:
            label = self._sold.get(reference)
        return label.model_copy(deep=True) if label is not None else None

    def fetch_label(self, label: PurchasedLabel, label_format: LabelFormat) -> bytes:
        content = label.content
        if content is None:
            with self._lock:
                known = self._sold.get(label.reference)
            content = known.content if known is not None else None
        if content is None or label.provider_id != provider_id_for(label.reference):
            raise CarrierRejected(
                f"{DISPLAY_NAME} cannot draw this label again: buy it again with the same reference "
                "(it returns the same label)",
                details={"provider": "sandbox", "reason": "unknown_label"},
            )
        from homeward.domain.labels.render import render_label

        return render_label(content, label_format)

    def void_label(self, label: PurchasedLabel) -> VoidResult:
        if label.provider_id != provider_id_for(label.reference):
            return VoidResult(voided=False, status="rejected")
        return VoidResult(voided=True, status="refunded")


def make_carrier(api_key: str | None = None, **options: object) -> SandboxCarrier:
    """The registry's factory: the sandbox needs no key and no network options."""
    return SandboxCarrier()
