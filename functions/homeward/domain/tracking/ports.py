"""The tracking source port: what Homeward needs from any provider that posts tracking webhooks.

Implementations live in homeward/providers/<name>/tracking.py (one `SOURCE` each), listed in
homeward/providers/registry.py. All methods are pure: raw bytes and headers in, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from homeward.domain.tracking.status import NormalizedStatus
from homeward.models.tracking import CarrierUpdate

NOT_TRACKING = "not a tracking event"
TEST_EVENT = "a provider's test event"


@dataclass(frozen=True)
class Ignored:
    """A well-formed webhook that is not a tracking event: acknowledge it, store nothing."""

    provider: str
    event_type: str  # e.g. "batch.created", "transaction_created"
    reason: str = NOT_TRACKING


class TrackingSource(Protocol):
    name: str

    def verify(
        self,
        body: bytes,
        headers: Mapping[str, str],
        secrets: Sequence[str],
        *,
        now: datetime,
        query: Mapping[str, str] | None = None,
    ) -> None:
        """Accept a signature made with any active secret (rotation), else raise
        `WebhookSignatureInvalid`. `query` is only passed where a URL token is allowed."""
        ...

    def parse(
        self,
        body: bytes,
        headers: Mapping[str, str],
        *,
        received_at: datetime,
        accept_test_events: bool = False,
    ) -> CarrierUpdate | Ignored:
        """The verified raw body as an update, or Ignored; MalformedRequest / Unprocessable."""
        ...

    def normalize_status(self, status: str | None, detail: str | None = None) -> NormalizedStatus:
        """The provider's status codes in Homeward's vocabulary; never raises."""
        ...


class WebhookParser(Protocol):
    """Reads a stored webhook's body with its provider's reader (homeward/providers/
    tracking_sources.parse_webhook, wired in by the handler)."""

    def __call__(
        self,
        provider: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        received_at: datetime,
        accept_test_events: bool = False,
    ) -> CarrierUpdate | Ignored: ...
