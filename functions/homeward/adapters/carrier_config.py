"""The configured carrier adapter: API keys from the carrier secret (deploy) or the environment (local)."""

from __future__ import annotations

import os
from functools import cache

from homeward.adapters.carriers import carrier_for
from homeward.adapters.secrets import secret_json
from homeward.config import LabelsSettings
from homeward.domain.labels.ports import Carrier
from homeward.errors import DependencyFailed


@cache
def configured_carrier(name: str, settings: LabelsSettings) -> Carrier:
    """One adapter per carrier per process, so its HTTP connection pool is reused."""
    keys = secret_json(settings.carrier_secret) if settings.carrier_secret and name != "sandbox" else {}
    try:
        return carrier_for(
            name,
            api_key=keys.get(f"{name}_api_key") or os.environ.get(f"{name.upper()}_API_KEY"),
            base_url={"easypost": settings.easypost_base_url, "shippo": settings.shippo_base_url}.get(name),
        )
    except ValueError as exc:
        # A configuration problem for ops (unknown carrier, missing key), not the shopper's:
        # the message is retried and dead-lettered, and the return stays `label pending`.
        raise DependencyFailed(f"Carrier not configured: {exc}") from exc
