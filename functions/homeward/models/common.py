"""Shared constrained types: ids, emails, phones, currency, money in integer minor units."""

from __future__ import annotations

import re
import types
import typing
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator
from pydantic.types import Strict as StrictValue

# Identifiers the merchant chooses (order ids, line ids): URL-safe, bounded, and not made of
# dots only ("." and ".." are path segments to every URL and S3 tool on the way).
EXTERNAL_ID_PATTERN = r"^[A-Za-z0-9._:\-]*[A-Za-z0-9_:\-][A-Za-z0-9._:\-]*$"
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=EXTERNAL_ID_PATTERN)]

# C0 controls but tab, line feed and carriage return; DEL; C1 controls (CSI and the other
# terminal escapes); surrogates. Refused in every string of every request model (see Strict).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# Single-line text (names, titles, order numbers, emails) refuses tab and line breaks too.
_LINE_BREAK = re.compile(r"[\t\n\r\u2028\u2029]")


def _single_line(value: str) -> str:
    if _LINE_BREAK.search(value):
        raise ValueError("must be a single line (no tabs or line breaks)")
    return value


# One line of text: titles, names, address lines, order numbers.
SingleLine = Annotated[str, AfterValidator(_single_line)]

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
    if len(value) > 254 or not _EMAIL.match(value) or _CONTROL.search(value):
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


def _control_character_at(value: Any, path: str = "") -> str | None:
    """Where the first control character is in a request's raw data (keys too), or None."""
    if isinstance(value, str):
        return path or "value" if _CONTROL.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and _CONTROL.search(key):
                return here
            found = _control_character_at(item, here)
            if found:
                return found
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _control_character_at(item, f"{path}[{index}]")
            if found:
                return found
    return None


def _is_number_or_flag(annotation: Any) -> bool:
    options = (
        typing.get_args(annotation)
        if typing.get_origin(annotation) in (typing.Union, types.UnionType)
        else (annotation,)
    )
    return any(option in (int, bool) for option in options)


class Strict(BaseModel):
    """The base of every request model (and the policy document), strict about its input:

    * unknown fields are refused (422), so typos surface instead of being dropped;
    * integer and boolean fields take JSON integers and booleans only: no "1" or 1.0 for a
      quantity, no true for an amount, no "yes" for a flag (each subclass's int/bool fields are
      made strict when it is defined, so a new model cannot forget it);
    * no string anywhere in it, keys included, holds a control character (NUL, ESC and the other
      terminal escapes, C1 controls, surrogates); tab and line breaks only in multi-line text
      (single-line fields use `SingleLine`).
    """

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        loose = [
            field
            for field in cls.model_fields.values()
            if _is_number_or_flag(field.annotation)
            and not any(isinstance(m, StrictValue) for m in field.metadata)
        ]
        for field in loose:
            field.metadata.append(StrictValue())
        if loose:
            cls.model_rebuild(force=True, raise_errors=False)

    @model_validator(mode="before")
    @classmethod
    def _refuse_control_characters(cls, data: Any) -> Any:
        where = _control_character_at(data)
        if where:
            raise ValueError(f"{where}: control characters (NUL, escape sequences, ...) are not allowed")
        return data


class ErrorBody(BaseModel):
    """The one error body every API returns."""

    error: str = Field(description="Machine-readable error code, e.g. not_found, conflict")
    message: str = Field(description="Human-readable explanation")
    details: dict | list | None = Field(default=None, description="Field errors or reason codes")
    request_id: str | None = None
