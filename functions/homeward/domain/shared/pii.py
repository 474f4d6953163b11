"""Masking of personal data for shopper views and logs."""

from __future__ import annotations

import re

_EMAIL_IN_TEXT = re.compile(r"([A-Za-z0-9._%+\-])[A-Za-z0-9._%+\-]*@([A-Za-z0-9.\-]+\.[A-Za-z]{2,})")
_PHONE_IN_TEXT = re.compile(r"\+\d[\d \-().]{6,}\d")


def mask_email(email: str) -> str:
    """`jane.doe@example.com` -> `j***@example.com` (keeps the domain so people recognise it)."""
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(phone: str) -> str:
    """`+14155550123` -> `+1*******0123`: country code and last four digits stay readable."""
    digits = phone.lstrip("+")
    if len(digits) <= 5:
        return "*" * len(phone)
    return f"{'+' if phone.startswith('+') else ''}{digits[:1]}{'*' * (len(digits) - 5)}{digits[-4:]}"


def mask_text(text: str) -> str:
    """Mask every email address and phone-like number in free text (used on log lines)."""
    text = _EMAIL_IN_TEXT.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE_IN_TEXT.sub(lambda m: mask_phone(re.sub(r"[^\d+]", "", m.group(0))), text)
