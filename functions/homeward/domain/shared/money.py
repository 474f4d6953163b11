"""Decimal strings <-> integer minor units, by the currency's ISO 4217 exponent.

Providers send money as decimal strings in major units ("404.95" USD, "1500" JPY, "1.250" KWD;
Shopify even "61.1"). Homeward stores integer minor units. The conversion is exact: a float
never enters it, and an amount with more decimals than the currency has ("1.5" JPY, "0.001"
USD) is refused, never rounded. Unknown currency codes are refused too: guessing an exponent
would misplace the decimal point by a factor of 10 or 100.

Exponents: ISO 4217 list one (current funds, as published by SIX, the maintenance agency).
"""

from __future__ import annotations

import re
from typing import Final


class MoneyError(ValueError):
    """An amount that cannot be expressed exactly in the currency's minor units."""


_ZERO: Final = [
    "BIF",
    "CLP",
    "DJF",
    "GNF",
    "ISK",
    "JPY",
    "KMF",
    "KRW",
    "PYG",
    "RWF",
    "UGX",
    "UYI",
    "VND",
    "VUV",
    "XAF",
    "XOF",
    "XPF",
]
_THREE: Final = ["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"]
_FOUR: Final = ["CLF", "UYW"]
_TWO: Final = [
    "AED",
    "AFN",
    "ALL",
    "AMD",
    "ANG",
    "AOA",
    "ARS",
    "AUD",
    "AWG",
    "AZN",
    "BAM",
    "BBD",
    "BDT",
    "BGN",
    "BMD",
    "BND",
    "BOB",
    "BOV",
    "BRL",
    "BSD",
    "BTN",
    "BWP",
    "BYN",
    "BZD",
    "CAD",
    "CDF",
    "CHE",
    "CHF",
    "CHW",
    "CNY",
    "COP",
    "COU",
    "CRC",
    "CUC",
    "CUP",
    "CVE",
    "CZK",
    "DKK",
    "DOP",
    "DZD",
    "EGP",
    "ERN",
    "ETB",
    "EUR",
    "FJD",
    "FKP",
    "GBP",
    "GEL",
    "GHS",
    "GIP",
    "GMD",
    "GTQ",
    "GYD",
    "HKD",
    "HNL",
    "HTG",
    "HUF",
    "IDR",
    "ILS",
    "INR",
    "IRR",
    "JMD",
    "KES",
    "KGS",
    "KHR",
    "KPW",
    "KYD",
    "KZT",
    "LAK",
    "LBP",
    "LKR",
    "LRD",
    "LSL",
    "MAD",
    "MDL",
    "MGA",
    "MKD",
    "MMK",
    "MNT",
    "MOP",
    "MRU",
    "MUR",
    "MVR",
    "MWK",
    "MXN",
    "MXV",
    "MYR",
    "MZN",
    "NAD",
    "NGN",
    "NIO",
    "NOK",
    "NPR",
    "NZD",
    "PAB",
    "PEN",
    "PGK",
    "PHP",
    "PKR",
    "PLN",
    "QAR",
    "RON",
    "RSD",
    "RUB",
    "SAR",
    "SBD",
    "SCR",
    "SDG",
    "SEK",
    "SGD",
    "SHP",
    "SLE",
    "SLL",
    "SOS",
    "SRD",
    "SSP",
    "STN",
    "SVC",
    "SYP",
    "SZL",
    "THB",
    "TJS",
    "TMT",
    "TOP",
    "TRY",
    "TTD",
    "TWD",
    "TZS",
    "UAH",
    "USD",
    "USN",
    "UYU",
    "UZS",
    "VED",
    "VES",
    "WST",
    "XCD",
    "XCG",
    "YER",
    "ZAR",
    "ZMW",
    "ZWG",
    "ZWL",
]

EXPONENTS: Final[dict[str, int]] = {
    **dict.fromkeys(_TWO, 2),
    **dict.fromkeys(_ZERO, 0),
    **dict.fromkeys(_THREE, 3),
    **dict.fromkeys(_FOUR, 4),
}

# An optional minus, digits, an optional fraction: no exponent notation, no spaces, no "+".
_DECIMAL: Final = re.compile(r"^(-?)(\d+)(?:\.(\d+))?$")
_MAX_DIGITS: Final = 30


def exponent(currency: str) -> int:
    """The number of minor-unit digits of an ISO 4217 code: USD 2, JPY 0, KWD 3."""
    try:
        return EXPONENTS[currency]
    except KeyError:
        raise MoneyError(f"unknown currency {currency!r}") from None


def to_minor(amount: str, currency: str) -> int:
    """ "404.95" USD -> 40495; "1500" JPY -> 1500; "61.1" USD -> 6110; "1.5" JPY refused."""
    places = exponent(currency)
    if not isinstance(amount, str):
        raise MoneyError(f"amount must be a decimal string, not {type(amount).__name__}")
    match = _DECIMAL.match(amount)
    if match is None or len(amount) > _MAX_DIGITS:
        raise MoneyError(f"not a decimal amount: {amount!r}")
    sign, whole, fraction = match.group(1), match.group(2), match.group(3) or ""
    extra = fraction[places:]
    if extra.strip("0"):
        raise MoneyError(f"{amount!r} has more than {places} decimals for {currency}")
    digits = int(whole + fraction[:places].ljust(places, "0"))
    return -digits if sign else digits


def to_decimal(units: int, currency: str) -> str:
    """40495 USD -> "404.95"; 1500 JPY -> "1500"; 1 KWD -> "0.001"."""
    places = exponent(currency)
    if isinstance(units, bool) or not isinstance(units, int):
        raise MoneyError(f"minor units must be an int, not {type(units).__name__}")
    if places == 0:
        return str(units)
    sign = "-" if units < 0 else ""
    whole, part = divmod(abs(units), 10**places)
    return f"{sign}{whole}.{part:0{places}d}"


__all__ = ["EXPONENTS", "MoneyError", "exponent", "to_decimal", "to_minor"]
