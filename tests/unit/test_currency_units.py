"""Decimal strings <-> minor units by ISO 4217 exponent (domain/shared/money.py)."""

from __future__ import annotations

import pytest
from homeward.domain.shared.money import EXPONENTS, MoneyError, exponent, to_decimal, to_minor
from hypothesis import given
from hypothesis import strategies as st

CURRENCIES = sorted(EXPONENTS)


@pytest.mark.parametrize(
    ("amount", "currency", "units"),
    [
        ("404.95", "USD", 40495),
        ("61.1", "USD", 6110),
        ("0.00", "EUR", 0),
        ("1500", "JPY", 1500),
        ("1500.000", "JPY", 1500),
        ("1.250", "KWD", 1250),
        ("0.001", "BHD", 1),
        ("12", "KWD", 12000),
        ("-3.20", "GBP", -320),
        ("0.0001", "CLF", 1),
    ],
)
def test_examples(amount, currency, units):
    assert to_minor(amount, currency) == units


@pytest.mark.parametrize(
    ("amount", "currency"),
    [
        ("1.5", "JPY"),
        ("0.001", "USD"),
        ("1.2345", "KWD"),
        ("1e3", "USD"),
        ("1,00", "EUR"),
        (" 1.00", "USD"),
        ("+1.00", "USD"),
        ("", "USD"),
        (".5", "USD"),
        ("NaN", "USD"),
        ("Infinity", "USD"),
        ("1.00", "XXX"),
        ("1.00", "usd"),
        ("9" * 40, "USD"),
    ],
)
def test_refused(amount, currency):
    with pytest.raises(MoneyError):
        to_minor(amount, currency)


def test_never_a_float():
    with pytest.raises(MoneyError):
        to_minor(1.1, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        to_decimal(1.0, "USD")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        to_decimal(True, "USD")  # type: ignore[arg-type]


def test_exponents():
    assert (exponent("USD"), exponent("JPY"), exponent("KWD"), exponent("BHD"), exponent("CLF")) == (
        2,
        0,
        3,
        3,
        4,
    )
    assert {exponent(code) for code in CURRENCIES} == {0, 2, 3, 4}
    assert to_decimal(1, "KWD") == "0.001"
    assert to_decimal(1500, "JPY") == "1500"
    assert to_decimal(-5, "USD") == "-0.05"


@given(units=st.integers(-(10**15), 10**15), currency=st.sampled_from(CURRENCIES))
def test_round_trip_from_units(units, currency):
    text = to_decimal(units, currency)
    assert to_minor(text, currency) == units
    places = exponent(currency)
    assert ("." in text) == (places > 0)
    if places:
        assert len(text.split(".")[1]) == places


@given(
    whole=st.integers(0, 10**12),
    fraction=st.text("0123456789", min_size=0, max_size=6),
    currency=st.sampled_from(CURRENCIES),
)
def test_every_exponent_exact_or_refused(whole, fraction, currency):
    """A decimal string converts exactly when its significant decimals fit the exponent, else is
    refused; trailing zeros never matter."""
    text = f"{whole}.{fraction}" if fraction else str(whole)
    places = exponent(currency)
    significant = fraction.rstrip("0")
    if len(significant) > places:
        with pytest.raises(MoneyError):
            to_minor(text, currency)
        return
    units = to_minor(text, currency)
    assert units == whole * 10**places + int((significant or "0").ljust(places, "0")[:places] or "0")
    assert to_minor(to_decimal(units, currency), currency) == units
