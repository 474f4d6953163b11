"""The tracking sources by name: verify a webhook's signature and read its body.

The webhook handler and the tracking consumer call these with the provider named in the URL
(or stored with the event); the provider's own module (homeward/providers/<name>/tracking.py,
found through the registry) is imported only then, so a webhook from EasyPost loads EasyPost's
code and nothing of the others. The domain never looks providers up itself: the tracking use
cases receive `parse_webhook` as their `WebhookParser` port (domain/tracking/ports.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from homeward.domain.tracking.payloads import field_error, utc
from homeward.domain.tracking.ports import Ignored
from homeward.errors import Unprocessable, WebhookSignatureInvalid
from homeward.models.tracking import CarrierUpdate
from homeward.providers import registry


def verify(
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime,
    query: Mapping[str, str] | None = None,
) -> None:
    """The tracking source's own verifier (homeward/providers/registry.py); `query` only
    matters where a URL token is allowed (Shippo's `?token=`)."""
    if not registry.is_a(provider, registry.TRACKING_SOURCE):
        raise WebhookSignatureInvalid(provider, "unknown_provider", f"No webhook verifier for {provider!r}")
    source = registry.load(provider, registry.TRACKING_SOURCE).SOURCE
    source.verify(body, headers, secrets, now=now, query=query)


def parse_webhook(
    provider: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    received_at: datetime,
    accept_test_events: bool = False,
) -> CarrierUpdate | Ignored:
    """Read a signature-verified webhook body into a CarrierUpdate, or Ignored for other events.

    Raises MalformedRequest (400) for bytes that are not a UTF-8 JSON object and Unprocessable
    (422, field errors in details["errors"]) for a body without the provider's documented
    shape, or for a provider that is not a registered tracking source; nothing else for any
    body or headers. `received_at` is the last resort for event_at when the body carries no
    carrier time. Test events (Shippo's `"test": true`) are Ignored unless `accept_test_events`.
    """
    if not isinstance(body, bytes | bytearray | memoryview):
        # A str body means someone decoded (or re-serialized) it: a bug, not bad input.
        raise TypeError("webhook body must be the raw request bytes")
    if not registry.is_a(provider, registry.TRACKING_SOURCE):
        sources = ", ".join(registry.TRACKING_SOURCES)
        raise Unprocessable(
            f"Unknown webhook provider {provider!r}",
            details={"errors": [field_error(["provider"], f"must be one of {sources}")]},
        )
    source = registry.load(provider, registry.TRACKING_SOURCE).SOURCE
    return source.parse(body, headers, received_at=utc(received_at), accept_test_events=accept_test_events)


__all__ = ["parse_webhook", "verify"]
