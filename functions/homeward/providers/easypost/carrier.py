"""EasyPost (API v2) as a `Carrier`.

Documented behaviour this adapter relies on (https://docs.easypost.com):

- Auth: HTTP Basic with the API key as user name and an empty password (`curl -u KEY:`).
- Return labels (docs/returns): "set the is_return parameter to true, leave the addresses the
  same as the initial Shipment's creation request and we switch the to_address and
  from_address". So the request goes out in *outbound* shape - `to_address` = the shopper,
  `from_address` = the warehouse - and the label EasyPost sells ships shopper -> warehouse.
- `POST /shipments` {shipment: {..., is_return, reference, options: {label_format}}} returns the
  shipment with `rates[]` ({id, carrier, service, rate: "7.47", currency}).
- `POST /shipments/{id}/buy` {rate: {id}} returns the shipment with `tracking_code`,
  `selected_rate` and `postage_label` {label_url, label_pdf_url, label_zpl_url, label_file_type}.
- `GET /shipments/{id}/label?file_format=PDF|ZPL|EPL2` converts a bought label (PNG is the
  format labels are born in; it cannot be converted *to*).
- `POST /shipments/{id}/refund` returns the shipment with `refund_status`
  (submitted / refunded / rejected / not_applicable).
- `GET /shipments?purchased=true&page_size=100&before_id=...` lists shipments newest first,
  with `has_more` (docs/pagination). There is no filter by `reference`, so the lookup pages
  through recent purchases and compares.
- Errors: 4xx/5xx with {"error": {"code", "message", "errors": [FieldError | str]}} (docs/errors).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from homeward.adapters.carriers._common import Offer, address, choose_offer, inches, parse_timestamp, segment
from homeward.adapters.carriers._http import HttpSettings, JsonApi
from homeward.domain.labels.ports import CarrierRejected, CarrierUnavailable
from homeward.models.labels import LabelFormat, LabelRequest, PurchasedLabel, VoidResult

BASE_URL = "https://api.easypost.com/v2"
PAGE_SIZE = 100  # the documented maximum
LOOKUP_PAGES = 5  # find_by_reference looks at the 500 most recent purchases

# Service level -> EasyPost `service` names that satisfy it (compared without case/punctuation).
# USPS names as they appear in EasyPost's own fixtures; UPS/FedEx names as EasyPost lists them.
SERVICE_LEVELS: dict[str, tuple[str, ...]] = {
    "ground": (
        "GroundAdvantage",  # USPS
        "ParcelSelect",  # USPS (older accounts)
        "Ground",  # UPS
        "UPSGroundsaver",  # UPS Ground Saver
        "FEDEX_GROUND",
        "GROUND_HOME_DELIVERY",  # FedEx Home Delivery
    ),
    "priority": (
        "Priority",  # USPS Priority Mail
        "2ndDayAir",  # UPS
        "3DaySelect",  # UPS
        "FEDEX_2_DAY",
        "FEDEX_EXPRESS_SAVER",
    ),
    "express": (
        "Express",  # USPS Priority Mail Express
        "NextDayAir",  # UPS
        "NextDayAirSaver",  # UPS
        "STANDARD_OVERNIGHT",  # FedEx
        "PRIORITY_OVERNIGHT",  # FedEx
    ),
}

REFUND_ACCEPTED = ("submitted", "refunded")


class EasyPostCarrier:
    name = "easypost"

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = BASE_URL,
        http: HttpSettings | None = None,
        service_levels: Mapping[str, Iterable[str]] | None = None,
        lookup_pages: int = LOOKUP_PAGES,
    ) -> None:
        if not api_key:
            raise ValueError("EasyPost needs an API key")
        token = base64.b64encode(f"{api_key}:".encode()).decode()
        self._api = JsonApi(
            provider="EasyPost",
            base_url=base_url,
            headers={"Authorization": f"Basic {token}"},
            message_of=error_message,
            settings=http,
        )
        self._levels = dict(service_levels or SERVICE_LEVELS)
        self._lookup_pages = lookup_pages

    def __repr__(self) -> str:
        return f"EasyPostCarrier(base_url={self._api.base_url!r})"

    # -- Carrier -----------------------------------------------------------------------------

    def buy_return_label(self, request: LabelRequest) -> PurchasedLabel:
        shipment = self._api.post("shipments", {"shipment": shipment_body(request)})
        shipment_id = segment(_required(shipment, "id"))
        offers = [offer for offer in (_offer(rate) for rate in shipment.get("rates") or []) if offer]
        offer = choose_offer(
            offers,
            request.service_level,
            self._levels,
            provider="EasyPost",
            transient_hint=_rating_timed_out(shipment.get("messages")),
        )
        bought = self._api.post(f"shipments/{shipment_id}/buy", {"rate": {"id": offer.rate_id}})
        return purchased_label(bought, reference=request.reference, requested_format=request.label_format)

    def find_by_reference(self, reference: str) -> PurchasedLabel | None:
        before_id = None
        for _ in range(self._lookup_pages):
            page = self._api.get(
                "shipments", {"purchased": True, "page_size": PAGE_SIZE, "before_id": before_id}
            )
            if not isinstance(page, dict):
                raise CarrierUnavailable("EasyPost sent an unreadable shipment list")
            shipments = [item for item in page.get("shipments") or [] if isinstance(item, dict)]
            for shipment in shipments:
                if (
                    shipment.get("reference") == reference
                    and shipment.get("is_return")
                    and shipment.get("tracking_code")
                    and shipment.get("refund_status") not in REFUND_ACCEPTED
                ):
                    return purchased_label(shipment, reference=reference, requested_format=None)
            if not page.get("has_more") or not shipments:
                return None
            before_id = shipments[-1].get("id")
        return None

    def fetch_label(self, label: PurchasedLabel, label_format: LabelFormat) -> bytes:
        shipment_id = segment(label.provider_id)
        shipment = self._api.get(f"shipments/{shipment_id}")
        url = format_url(shipment.get("postage_label"), label_format)
        if url is None:
            if label_format == "PNG":
                raise CarrierRejected(
                    "EasyPost has no PNG file for this label (it converts to PDF or ZPL only)"
                )
            converted = self._api.get(f"shipments/{shipment_id}/label", {"file_format": label_format})
            url = format_url(converted.get("postage_label"), label_format)
            if url is None:
                raise CarrierRejected(f"EasyPost did not provide a {label_format} file for this label")
        return self._api.download(url)

    def void_label(self, label: PurchasedLabel) -> VoidResult:
        shipment_id = segment(label.provider_id)
        try:
            shipment = self._api.post(f"shipments/{shipment_id}/refund")
        except CarrierRejected as refusal:
            if refusal.details.get("reason") == "credentials":
                raise
            # Asked twice (a retry after a timeout)? The shipment says whether a refund is under way.
            shipment = self._api.get(f"shipments/{shipment_id}")
            status = str(shipment.get("refund_status") or "")
            if status in REFUND_ACCEPTED:
                return VoidResult(voided=True, status=status)
            return VoidResult(voided=False, status="rejected")
        status = str(shipment.get("refund_status") or "unknown")
        return VoidResult(voided=status in REFUND_ACCEPTED, status=status)


# -- request and response shapes --------------------------------------------------------------


def shipment_body(request: LabelRequest) -> dict[str, Any]:
    """The outbound-shaped shipment EasyPost turns into a return (it swaps the addresses)."""
    parcel = request.parcel
    return {
        "to_address": address(request.from_address),  # the shopper: where the parcel went out to
        "from_address": address(request.to_address),  # the warehouse: where it came from, and returns to
        "parcel": {
            "length": inches(parcel.length_in),
            "width": inches(parcel.width_in),
            "height": inches(parcel.height_in),
            "weight": inches(parcel.weight_oz),
        },
        "is_return": True,
        "reference": request.reference,
        "options": {"label_format": request.label_format},
    }


def purchased_label(
    shipment: Mapping[str, Any], *, reference: str, requested_format: LabelFormat | None
) -> PurchasedLabel:
    rate = shipment.get("selected_rate")
    tracking = shipment.get("tracking_code")
    postage = shipment.get("postage_label")
    if not isinstance(rate, dict) or not tracking or not isinstance(postage, dict):
        raise CarrierUnavailable("EasyPost answered the purchase without a tracking code or label")
    offer = _offer(rate)
    if offer is None:
        raise CarrierUnavailable("EasyPost answered the purchase without a usable rate")
    label_format = requested_format or _format_of(shipment, postage)
    return PurchasedLabel(
        carrier="easypost",
        provider_id=_required(shipment, "id"),
        tracking_number=str(tracking),
        carrier_service=offer.service_name,
        cost=offer.cost,
        currency=offer.currency.upper(),
        label_format=label_format,
        label_url=format_url(postage, label_format) or postage.get("label_url"),
        reference=reference,
        purchased_at=parse_timestamp(
            postage.get("label_date") or postage.get("created_at") or shipment.get("updated_at")
        ),
    )


def format_url(postage: Any, label_format: LabelFormat) -> str | None:
    """The URL of the label file in `label_format`, if EasyPost has produced one."""
    if not isinstance(postage, dict):
        return None
    file_type = str(postage.get("label_file_type") or "").lower()
    main = postage.get("label_url")
    if label_format == "PDF":
        return postage.get("label_pdf_url") or (main if "pdf" in file_type else None)
    if label_format == "ZPL":
        return postage.get("label_zpl_url") or (main if "zpl" in file_type else None)
    if label_format == "PNG":
        return main if "png" in file_type else None
    return None


def error_message(body: Any) -> str | None:
    """EasyPost's error object as one line: message, then the field errors."""
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        return error
    if not isinstance(error, dict):
        return None
    message = str(error.get("message") or error.get("code") or "").strip()
    parts = []
    for item in error.get("errors") or []:
        if isinstance(item, dict):
            field, text = item.get("field"), item.get("message")
            if text and text != message:
                parts.append(f"{field}: {text}" if field else str(text))
        elif isinstance(item, str) and item != message:
            parts.append(item)
    if parts:
        return f"{message} ({'; '.join(parts)})" if message else "; ".join(parts)
    return message or None


def _offer(rate: Any) -> Offer | None:
    if not isinstance(rate, dict) or not rate.get("id") or rate.get("rate") in (None, ""):
        return None
    carrier = str(rate.get("carrier") or "")
    service = str(rate.get("service") or "")
    return Offer(
        rate_id=str(rate["id"]),
        carrier=carrier,
        service=service,
        service_name=f"{carrier} {service}".strip(),
        amount=str(rate["rate"]),
        currency=str(rate.get("currency") or "USD"),
    )


def _format_of(shipment: Mapping[str, Any], postage: Mapping[str, Any]) -> LabelFormat:
    options = shipment.get("options")
    requested = str(options.get("label_format") or "").upper() if isinstance(options, dict) else ""
    if requested in ("PDF", "PNG", "ZPL"):
        return requested  # type: ignore[return-value]
    file_type = str(postage.get("label_file_type") or "").lower()
    if "pdf" in file_type:
        return "PDF"
    if "zpl" in file_type:
        return "ZPL"
    return "PNG"  # EasyPost's default label format


def _rating_timed_out(messages: Any) -> bool:
    """EasyPost reports per-carrier rating failures in `shipment.messages` [{carrier, type, message}]."""
    texts = [str(m.get("message") or "").lower() for m in messages or [] if isinstance(m, dict)]
    return bool(texts) and all("timeout" in t or "timed out" in t or "unavailable" in t for t in texts)


def _required(body: Mapping[str, Any], key: str) -> str:
    value = body.get(key) if isinstance(body, Mapping) else None
    if not value:
        raise CarrierUnavailable(f"EasyPost answered without {key!r}")
    return str(value)


def make_carrier(api_key: str | None, **options: Any) -> EasyPostCarrier:
    """The registry's factory (homeward.providers.carriers.carrier_for): options are base_url,
    http, service_levels, lookup_pages."""
    return EasyPostCarrier(api_key or "", **options)
