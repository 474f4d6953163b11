"""Shippo as a `Carrier`.

Documented behaviour this adapter relies on (https://docs.goshippo.com):

- Auth: header `Authorization: ShippoToken <API token>`; `SHIPPO-API-VERSION: 2018-02-08`
  pins the response shapes the API reference describes.
- Return labels (docs/shipments/returns): create a Shipment with `extra.is_return = true` and
  "do not swap the addresses yourself ... the original address_to of the outbound transaction
  becomes the address_from for the return label". So the request goes out in *outbound*
  shape - `address_from` = the warehouse, `address_to` = the shopper - and the label ships
  shopper -> warehouse. Shippo return labels are scan-based (USPS, FedEx, UPS only).
- `POST /shipments` {address_from, address_to, parcels, extra, metadata, async: false} returns
  `rates[]` ({object_id, amount: "5.50", currency, provider, servicelevel: {name, token}}) and
  `messages[]` ({source, code, text}; e.g. code `carrier_timeout`).
- `POST /transactions` {rate, label_file_type, metadata, async: false} returns {object_id,
  status: SUCCESS | ERROR | QUEUED | WAITING, tracking_number, label_url, qr_code_url,
  label_file_type, rate, messages}. Tokens: PDF_4x6, PNG, ZPLII (docs/shipments/shippinglabelsizes).
- `extra.qr_code_requested` (USPS domestic and Evri UK) adds `qr_code_url` (PNG).
- `metadata` (<= 100 chars) is stored on the transaction and listed back by
  `GET /transactions?results=100&page=N` ({next, previous, results}); there is no filter by
  metadata, so the lookup pages through recent transactions and compares.
- `POST /refunds` {transaction, async: false} returns {status: QUEUED | PENDING | SUCCESS | ERROR}.
- `label_url` is a signed, expiring S3 URL: `fetch_label` re-reads the transaction for a fresh one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from homeward.adapters.carriers._common import Offer, address, choose_offer, inches, parse_timestamp, segment
from homeward.adapters.carriers._http import HttpSettings, JsonApi
from homeward.domain.labels.ports import CarrierRejected, CarrierUnavailable
from homeward.models.labels import LabelFormat, LabelRequest, PurchasedLabel, VoidResult

BASE_URL = "https://api.goshippo.com"
API_VERSION = "2018-02-08"
PAGE_SIZE = 100  # the documented maximum
LOOKUP_PAGES = 5
REFERENCE_1_MAX = 20  # the shortest documented limit (Evri); USPS 30-50, UPS 35, FedEx 50

LABEL_FILE_TYPES: dict[str, str] = {"PDF": "PDF_4x6", "PNG": "PNG", "ZPL": "ZPLII"}

# Service level -> Shippo `servicelevel.token`s that satisfy it
# (docs.goshippo.com/estimate/supported-service-levels).
SERVICE_LEVELS: dict[str, tuple[str, ...]] = {
    "ground": (
        "usps_ground_advantage",
        "ups_ground",
        "ups_ground_saver",
        "fedex_ground",
        "fedex_home_delivery",
    ),
    "priority": (
        "usps_priority",
        "ups_second_day_air",
        "ups_3_day_select",
        "fedex_2_day",
        "fedex_express_saver",
    ),
    "express": (
        "usps_priority_express",
        "ups_next_day_air",
        "ups_next_day_air_saver",
        "fedex_standard_overnight",
        "fedex_priority_overnight",
    ),
}

PENDING = ("QUEUED", "WAITING")
LABEL_VALID = ("SUCCESS", "REFUNDREJECTED")  # a refused refund leaves the label valid
REFUND_STATUS = {"QUEUED": "submitted", "PENDING": "submitted", "SUCCESS": "refunded", "ERROR": "rejected"}


class ShippoCarrier:
    name = "shippo"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = BASE_URL,
        http: HttpSettings | None = None,
        service_levels: Mapping[str, Iterable[str]] | None = None,
        lookup_pages: int = LOOKUP_PAGES,
        poll_attempts: int = 3,
        poll_interval_seconds: float = 1.0,
    ) -> None:
        if not api_key:
            raise ValueError("Shippo needs an API token")
        self._api = JsonApi(
            provider="Shippo",
            base_url=base_url,
            headers={"Authorization": f"ShippoToken {api_key}", "SHIPPO-API-VERSION": API_VERSION},
            message_of=error_message,
            settings=http,
        )
        self._levels = dict(service_levels or SERVICE_LEVELS)
        self._lookup_pages = lookup_pages
        self._poll_attempts = poll_attempts
        self._poll_interval = poll_interval_seconds

    def __repr__(self) -> str:
        return f"ShippoCarrier(base_url={self._api.base_url!r})"

    # -- Carrier -----------------------------------------------------------------------------

    def buy_return_label(self, request: LabelRequest) -> PurchasedLabel:
        shipment = self._api.post("shipments", shipment_body(request))
        if not isinstance(shipment, dict):
            raise CarrierUnavailable("Shippo sent an unreadable shipment")
        if str(shipment.get("status") or "").upper() == "ERROR":
            _raise_messages(shipment.get("messages"), "Shippo could not rate the return shipment")
        offers = [offer for offer in (_offer(rate) for rate in shipment.get("rates") or []) if offer]
        offer = choose_offer(
            offers,
            request.service_level,
            self._levels,
            provider="Shippo",
            transient_hint=_timed_out(shipment.get("messages")),
        )
        transaction = self._api.post(
            "transactions",
            {
                "rate": offer.rate_id,
                "label_file_type": LABEL_FILE_TYPES[request.label_format],
                "metadata": request.reference,
                "async": False,
            },
        )
        transaction = self._settle(transaction)
        return self._label(transaction, reference=request.reference, offer=offer)

    def find_by_reference(self, reference: str) -> PurchasedLabel | None:
        for page_number in range(1, self._lookup_pages + 1):
            page = self._api.get("transactions", {"results": PAGE_SIZE, "page": page_number})
            if not isinstance(page, dict):
                raise CarrierUnavailable("Shippo sent an unreadable transaction list")
            results = [item for item in page.get("results") or [] if isinstance(item, dict)]
            for transaction in results:
                if transaction.get("metadata") != reference:
                    continue
                status = str(transaction.get("status") or "").upper()
                if status in PENDING:
                    # Bought but not settled: buying again now could pay twice. Come back later.
                    raise CarrierUnavailable(
                        "Shippo is still processing a label bought with this reference",
                        details={"provider": "shippo", "reason": "purchase_pending"},
                    )
                if status in LABEL_VALID and transaction.get("tracking_number"):
                    return self._label(transaction, reference=reference, offer=None)
            if not page.get("next") or not results:
                return None
        return None

    def fetch_label(self, label: PurchasedLabel, label_format: LabelFormat) -> bytes:
        transaction = self._transaction(label.provider_id)
        sold_as = format_of(transaction.get("label_file_type")) or label.label_format
        if label_format != sold_as:
            raise CarrierRejected(f"Shippo serves this label only as {sold_as}, not {label_format}")
        url = transaction.get("label_url")
        if not url:
            raise CarrierRejected("Shippo has no label file for this transaction")
        return self._api.download(str(url))

    def void_label(self, label: PurchasedLabel) -> VoidResult:
        try:
            refund = self._api.post("refunds", {"transaction": label.provider_id, "async": False})
        except CarrierRejected as refusal:
            if refusal.details.get("reason") == "credentials":
                raise
            # Asked twice (a retry after a timeout)? The transaction says whether a refund is under way.
            status = str(self._transaction(label.provider_id).get("status") or "").upper()
            if status == "REFUNDED":
                return VoidResult(voided=True, status="refunded")
            if status == "REFUNDPENDING":
                return VoidResult(voided=True, status="submitted")
            return VoidResult(voided=False, status="rejected")
        status = REFUND_STATUS.get(str(refund.get("status") or "").upper(), "unknown")
        return VoidResult(voided=status in ("submitted", "refunded"), status=status)

    # -- helpers -----------------------------------------------------------------------------

    def _transaction(self, transaction_id: str) -> dict[str, Any]:
        transaction = self._api.get(f"transactions/{segment(transaction_id)}")
        if not isinstance(transaction, dict):
            raise CarrierUnavailable("Shippo sent an unreadable transaction")
        return transaction

    def _settle(self, transaction: Any) -> dict[str, Any]:
        """A synchronous purchase normally answers SUCCESS or ERROR; wait briefly if it did not."""
        if not isinstance(transaction, dict) or not transaction.get("object_id"):
            raise CarrierUnavailable("Shippo answered the purchase without a transaction id")
        for _ in range(self._poll_attempts):
            if str(transaction.get("status") or "").upper() not in PENDING:
                break
            time.sleep(self._poll_interval)
            transaction = self._transaction(str(transaction["object_id"]))
        status = str(transaction.get("status") or "").upper()
        if status == "SUCCESS":
            return transaction
        if status in PENDING:
            raise CarrierUnavailable(
                "Shippo is still processing the label purchase",
                details={"provider": "shippo", "reason": "purchase_pending"},
            )
        _raise_messages(
            transaction.get("messages"), f"Shippo could not buy the label ({status or 'no status'})"
        )
        raise AssertionError("unreachable")

    def _label(
        self, transaction: Mapping[str, Any], *, reference: str, offer: Offer | None
    ) -> PurchasedLabel:
        tracking = transaction.get("tracking_number")
        if not tracking:
            raise CarrierUnavailable("Shippo answered the purchase without a tracking number")
        offer = offer or self._offer_of(transaction.get("rate"))
        label_format = format_of(transaction.get("label_file_type")) or "PDF"
        return PurchasedLabel(
            carrier="shippo",
            provider_id=str(transaction["object_id"]),
            tracking_number=str(tracking),
            carrier_service=offer.service_name,
            cost=offer.cost,
            currency=offer.currency.upper(),
            label_format=label_format,
            label_url=transaction.get("label_url") or None,
            qr_code_url=transaction.get("qr_code_url") or None,
            reference=reference,
            purchased_at=parse_timestamp(transaction.get("object_created")),
        )

    def _offer_of(self, rate: Any) -> Offer:
        """The rate a listed transaction was bought at: inline, or `GET /rates/{id}` for a bare id."""
        if isinstance(rate, dict):
            offer = _offer(rate)
        elif isinstance(rate, str) and rate:
            offer = _offer(self._api.get(f"rates/{segment(rate)}"))
        else:
            offer = None
        if offer is None:
            raise CarrierUnavailable("Shippo did not say what the label cost")
        return offer


# -- request and response shapes --------------------------------------------------------------


def shipment_body(request: LabelRequest) -> dict[str, Any]:
    """The outbound-shaped shipment Shippo turns into a return (it swaps the addresses)."""
    parcel = request.parcel
    extra: dict[str, Any] = {"is_return": True, "reference_1": request.rma[:REFERENCE_1_MAX]}
    if request.qr_code:
        extra["qr_code_requested"] = True
    return {
        "address_from": address(request.to_address),  # the warehouse: the outbound origin
        "address_to": address(request.from_address),  # the shopper: the outbound destination
        "parcels": [
            {
                "length": inches(parcel.length_in),
                "width": inches(parcel.width_in),
                "height": inches(parcel.height_in),
                "distance_unit": "in",
                "weight": inches(parcel.weight_oz),
                "mass_unit": "oz",
            }
        ],
        "extra": extra,
        "metadata": request.reference,
        "async": False,
    }


def format_of(label_file_type: Any) -> LabelFormat | None:
    token = str(label_file_type or "").upper()
    if token.startswith("PDF"):
        return "PDF"
    if token.startswith("PNG"):
        return "PNG"
    if token.startswith("ZPL"):
        return "ZPL"
    return None


def error_message(body: Any) -> str | None:
    """Shippo 4xx bodies: {"detail": "..."}, {"field": ["..."]} or {"messages": [...]}, as one line."""
    if isinstance(body, str):
        return body or None
    if isinstance(body, list):
        return "; ".join(str(item) for item in body if item) or None
    if not isinstance(body, dict):
        return None
    if body.get("detail"):
        return str(body["detail"])
    if body.get("messages"):
        return _messages_text(body["messages"])
    parts = []
    for key, value in body.items():
        texts = value if isinstance(value, list) else [value]
        said = "; ".join(error_message(text) or "" for text in texts if text)
        if said:
            parts.append(f"{key}: {said}")
    return "; ".join(parts) or None


def _offer(rate: Any) -> Offer | None:
    if not isinstance(rate, dict) or not rate.get("object_id") or rate.get("amount") in (None, ""):
        return None
    provider = str(rate.get("provider") or "")
    level = rate.get("servicelevel")
    if not isinstance(level, dict):
        level = {}
    token = str(level.get("token") or rate.get("servicelevel_token") or "")
    name = str(level.get("name") or rate.get("servicelevel_name") or token)
    return Offer(
        rate_id=str(rate["object_id"]),
        carrier=provider,
        service=token,
        service_name=f"{provider} {name}".strip(),
        amount=str(rate["amount"]),
        currency=str(rate.get("currency") or "USD"),
    )


def _messages_text(messages: Any) -> str:
    texts = []
    for message in messages if isinstance(messages, list) else [messages]:
        if isinstance(message, dict):
            text = message.get("text") or message.get("message") or message.get("code")
            source = message.get("source")
            if text:
                texts.append(f"{source}: {text}" if source else str(text))
        elif message:
            texts.append(str(message))
    return "; ".join(texts)


def _timed_out(messages: Any) -> bool:
    items = [m for m in messages or [] if isinstance(m, dict)] if isinstance(messages, list) else []
    if not items:
        return False
    return all(
        "timeout" in str(m.get("code") or "").lower() or "did not respond" in str(m.get("text") or "").lower()
        for m in items
    )


def _raise_messages(messages: Any, fallback: str) -> None:
    text = _messages_text(messages) or fallback
    details = {"provider": "shippo", "reason": "refused"}
    if _timed_out(messages):
        raise CarrierUnavailable(text, details={**details, "reason": "carrier_timeout"})
    raise CarrierRejected(text, details=details)


def make_carrier(api_key: str | None, **options: Any) -> ShippoCarrier:
    """The registry's factory (homeward.providers.carriers.carrier_for): options are base_url,
    http, service_levels, lookup_pages."""
    return ShippoCarrier(api_key or "", **options)
