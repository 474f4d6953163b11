"""Shared constrained types: ids, emails, phones, currency, money in integer minor units."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

# Identifiers the merchant chooses (order ids, line ids): URL-safe, bounded.
ExternalId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:\-]{1,64}$")]

# ISO 4217 alphabetic code, upper case.
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]

# Money is always an integer number of minor units (cents); never a float.
MinorUnits = Annotated[int, Field(ge=0, le=10_000_000_000)]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def normalize_email(value: str) -> str:
    """Emails compare trimmed and case-insensitively everywhere in Homeward."""
    return value.strip().lower()


def _check_email(value: str) -> str:
    value = normalize_email(value)
    if len(value) > 254 or not _EMAIL.match(value):
        raise ValueError("must be an email address like name@example.com")
    return value


def _check_e164(value: str) -> str:
    value = re.sub(r"[\s()\-.]", "", value)
    if not _E164.match(value):
        raise ValueError("must be a phone number in E.164 form, like +14155550123")
    return value


Email = Annotated[str, StringConstraints(max_length=320), AfterValidator(_check_email)]
PhoneE164 = Annotated[str, StringConstraints(max_length=32), AfterValidator(_check_e164)]
# BCP 47 language tag, e.g. "en", "en-US", "de-DE".
Locale = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]


def _check_time_zone(value: str) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as Europe/Berlin") from None
    return value


TimeZone = Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_check_time_zone)]


class Strict(BaseModel):
    """Request models reject unknown fields so typos surface as 422s, not silent drops."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ErrorBody(BaseModel):
    """The one error body every API returns."""

    error: str = Field(description="Machine-readable error code, e.g. not_found, conflict")
    message: str = Field(description="Human-readable explanation")
    details: dict | list | None = Field(default=None, description="Field errors or reason codes")
    request_id: str | None = None
