"""The configured carrier adapter: API keys from the carrier secret (deploy) or the environment (local)."""

from __future__ import annotations

import os
from functools import cache

from homeward.adapters.carriers import carrier_for
from homeward.adapters.secrets import secret_json
from homeward.config import LabelsSettings
from homeward.domain.labels.ports import Carrier
from homeward.errors import DependencyFailed
from homeward.providers import registry


@cache
def configured_carrier(name: str, settings: LabelsSettings) -> Carrier:
    """One adapter per carrier per process, so its HTTP connection pool is reused."""
    keyless = registry.is_a(name, registry.LABEL_CARRIER) and not registry.needs_api_key(name)
    needs_key = not keyless
    keys = secret_json(settings.carrier_secret) if settings.carrier_secret and needs_key else {}
    try:
        return carrier_for(
            name,
            api_key=keys.get(registry.api_key_field(name)) or os.environ.get(registry.api_key_env(name)),
            base_url=settings.carrier_base_url(name),
        )
    except ValueError as exc:
        # A configuration problem for ops (unknown carrier, missing key), not the shopper's:
        # the message is retried and dead-lettered, and the return stays `label pending`.
        raise DependencyFailed(f"Carrier not configured: {exc}") from exc
