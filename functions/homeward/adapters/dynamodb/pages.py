"""Pagination cursors: a Query's LastEvaluatedKey as an opaque string for the API, and back."""

from __future__ import annotations

import base64
import binascii
import json

from homeward.errors import Unprocessable


def encode_cursor(last_evaluated_key: dict | None) -> str | None:
    """The cursor of the next page; None on the last page."""
    if not last_evaluated_key:
        return None
    return base64.urlsafe_b64encode(json.dumps(last_evaluated_key).encode()).decode()


def decode_cursor(cursor: str | None) -> dict | None:
    """The ExclusiveStartKey a cursor stands for; Unprocessable(invalid_cursor) if it is not one."""
    if not cursor:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as exc:
        raise Unprocessable("Invalid cursor", details={"reason": "invalid_cursor"}) from exc
