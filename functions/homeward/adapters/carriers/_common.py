"""What the carrier adapters share: money from decimal strings, rate choice, timestamps."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from urllib.parse import quote

from homeward.domain.labels.ports import CarrierRejected, CarrierUnavailable
from homeward.models.labels import LabelAddress

# ISO 4217 minor-unit exponents that are not 2. Everything else the carriers quote (USD, CAD,
# EUR, GBP, AUD, ...) has two decimals.
_EXPONENTS = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX"), 0),
    **dict.fromkeys(("UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}


def minor_units(amount: object, currency: str) -> int:
    """ "7.95" USD -> 795. Exact decimal arithmetic; a sub-minor remainder rounds half up.

    Providers send amounts as decimal strings ("7.47", EasyPost fees even "7.47000"); a float
    never enters the computation (a JSON number is converted through its `str`).
    """
    if isinstance(amount, bool) or amount is None:
        raise CarrierUnavailable(f"The carrier sent no usable amount ({amount!r})")
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation:
        raise CarrierUnavailable(f"The carrier sent an amount that is not a number ({amount!r})") from None
    if not value.is_finite() or value < 0:
        raise CarrierUnavailable(f"The carrier sent an unusable amount ({amount!r})")
    exponent = _EXPONENTS.get(currency.upper(), 2)
    return int((value.scaleb(exponent)).to_integral_value(rounding=ROUND_HALF_UP))


def segment(identifier: str) -> str:
    """A provider id as one URL path segment (an id can never reach another path or a query)."""
    return quote(str(identifier), safe="")


def normalize(name: str) -> str:
    """Service names compared without case or punctuation: "Ground Advantage" == "GroundAdvantage"."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


@dataclass(frozen=True)
class Offer:
    """One purchasable rate, as the provider quoted it."""

    rate_id: str
    carrier: str
    service: str  # EasyPost `service`, Shippo `servicelevel.token`
    service_name: str  # what a person reads, e.g. "USPS GroundAdvantage"
    amount: str
    currency: str

    @property
    def cost(self) -> int:
        return minor_units(self.amount, self.currency)


def choose_offer(
    offers: Iterable[Offer],
    service_level: str,
    levels: Mapping[str, Iterable[str]],
    *,
    provider: str,
    transient_hint: bool = False,
) -> Offer:
    """The cheapest offer whose service belongs to `service_level`.

    A service belongs to a level when its normalized name is listed under that level in
    `levels`, or equals the level itself (so a policy may name an exact service such as
    "usps_priority" or "GroundAdvantage"). Ties go to the lower (carrier, service, rate id),
    so the choice is deterministic. No match is a refusal a person must look at (a policy
    naming a service this account cannot buy), unless `transient_hint` says the provider
    itself reported timeouts while rating.
    """
    offers = list(offers)
    wanted = normalize(service_level)
    by_level = {normalize(level): names for level, names in levels.items()}
    accepted = {normalize(name) for name in by_level.get(wanted, ())} | {wanted}
    matching = [offer for offer in offers if normalize(offer.service) in accepted]
    if not matching:
        quoted = ", ".join(sorted({f"{o.carrier} {o.service}" for o in offers})) or "none"
        message = f"{provider} offered no rate for service level {service_level!r} (offered: {quoted})"
        details = {"provider": provider.lower(), "reason": "no_matching_rate", "service_level": service_level}
        if transient_hint and not offers:
            raise CarrierUnavailable(message, details=details)
        raise CarrierRejected(message, details=details)
    return min(matching, key=lambda o: (o.cost, o.carrier, o.service, o.rate_id))


def parse_timestamp(value: object) -> datetime:
    """Provider timestamps ("2023-07-10T17:30:34Z", "...+00:00", "...238Z") as aware UTC datetimes."""
    if isinstance(value, str) and value:
        text = value.strip().replace("Z", "+00:00")
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return datetime.now(UTC)


def inches(value: float) -> str:
    """Dimensions and weights as the decimal strings both providers' examples use ("20.2")."""
    return format(Decimal(str(value)).normalize(), "f")


def address(value: LabelAddress) -> dict[str, str]:
    """An address in the field names EasyPost and Shippo share (street1, zip, state, ...)."""
    fields = {
        "name": value.name,
        "street1": value.line1,
        "street2": value.line2,
        "city": value.city,
        "state": value.region,
        "zip": value.postal_code,
        "country": value.country,
        "phone": value.phone,
        "email": value.email,
    }
    return {key: item for key, item in fields.items() if item}
