"""Reading JSON from the outside world: strict UTF-8, bounded nesting, no NaN, no lone surrogates.

The one parser for request bodies (handlers/api.py) and provider webhooks, so every bad body
is a MalformedRequest (400) and never a crash: `json.loads` accepts `NaN`, escapes that decode
to lone surrogates (which no later encoder accepts) and recurses once per nesting level.
"""

from __future__ import annotations

import json
import re
from typing import Any

from homeward.errors import MalformedRequest

# Deeper than any body Homeward or its providers send (Stripe events nest ~6 levels).
MAX_DEPTH = 64

# Two linear passes (no backtracking on hostile input): drop escapes, then string literals.
_ESCAPES = re.compile(r"\\.", re.DOTALL)
_STRINGS = re.compile(r'"[^"]*"')
_BRACKETS = re.compile(r"[\[\]{}]")


def nesting_depth(text: str) -> int:
    """The deepest bracket nesting outside string literals (linear, no recursion)."""
    depth = deepest = 0
    for match in _BRACKETS.finditer(_STRINGS.sub("", _ESCAPES.sub("", text))):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(
    raw: bytes | str, *, what: str = "Body", max_depth: int = MAX_DEPTH, lone_surrogates: bool = False
) -> Any:
    """Parse `raw` (bytes must be UTF-8) or raise MalformedRequest with a reason code.

    `lone_surrogates=True` lets escapes such as "\\ud800" through for a caller that cleans every
    string it keeps (carrier webhooks: one broken character must not lose a delivery scan).
    """
    if isinstance(raw, bytes | bytearray):
        try:
            text = bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedRequest(f"{what} is not UTF-8", details={"reason": "not_utf8"}) from None
    else:
        text = raw
    if nesting_depth(text) > max_depth:
        raise MalformedRequest(
            f"{what} nests deeper than {max_depth} levels",
            details={"reason": "too_deep", "max_depth": max_depth},
        )
    try:
        value = json.loads(text, parse_constant=_no_constants)
        # Escapes such as "\ud800" decode to lone surrogates: refuse them here, not at the database.
        if not lone_surrogates:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedRequest(
            f"{what} has invalid unicode escapes", details={"reason": "not_utf8"}
        ) from None
    # JSONDecodeError, NaN/Infinity and over-long integer literals are ValueErrors.
    except (ValueError, RecursionError):
        raise MalformedRequest(f"{what} is not valid JSON", details={"reason": "invalid_json"}) from None
    return value
