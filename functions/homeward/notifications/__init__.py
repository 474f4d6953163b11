"""Shopper notifications: the message catalog (catalog.py) and their rendering (render.py).

    from homeward.notifications import MessageKind, SPECS, resolve_locale   # cheap
    from homeward.notifications.render import Brand, render                 # loads Jinja2

Only the catalog is imported here: the renderer (Jinja2, ~50 ms on a cold start) is for the
function that sends notifications, not for code that only needs the kinds.
"""

from __future__ import annotations

from homeward.notifications.catalog import (
    LOCALES,
    SPECS,
    MessageKind,
    MessageSpec,
    resolve_locale,
    spec,
)

__all__ = ["LOCALES", "SPECS", "MessageKind", "MessageSpec", "resolve_locale", "spec"]
