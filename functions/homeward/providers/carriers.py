"""Label carriers by name: `carrier_for` builds one, `configured_carrier` the deployed one.

    carrier = carrier_for("easypost", api_key=key)           # production
    carrier = carrier_for("shippo", api_key=key, base_url=stub_url, read_timeout=0.5)  # tests
    carrier = carrier_for("sandbox")                         # local: no network, no key

The carriers are the registry's label carriers (homeward/providers/registry.py), each in its
package's carrier.py (homeward/providers/easypost/carrier.py, ...), imported only when asked
for. What they share lives in homeward/adapters/carriers/: the HTTP client (_http.py) and
money, rates and addresses (_common.py).

API keys come from the carrier secret (deploy); for local runs a missing key falls back to the
EASYPOST_API_KEY / SHIPPO_API_KEY (`<NAME>_API_KEY`) environment variables. Keys are never
logged or put in error messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

from homeward.adapters.carriers._http import CONNECT_TIMEOUT, READ_TIMEOUT, HttpSettings
from homeward.adapters.secrets import secret_json
from homeward.config import LabelsSettings
from homeward.domain.labels.ports import Carrier
from homeward.errors import DependencyFailed
from homeward.providers import registry

CARRIERS = registry.LABEL_CARRIERS


def carrier_for(
    name: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    connect_timeout: float = CONNECT_TIMEOUT,
    read_timeout: float = READ_TIMEOUT,
    service_levels: Mapping[str, Iterable[str]] | None = None,
    lookup_pages: int | None = None,
) -> Carrier:
    """The `Carrier` called `name`.

    `base_url` overrides the provider's API root (EasyPost "https://api.easypost.com/v2",
    Shippo "https://api.goshippo.com"), e.g. to point tests at a local stub.
    `service_levels` maps a policy's service level ("ground", "priority", "express", ...) to the
    provider's service names; the defaults are in each adapter module. `lookup_pages` bounds how
    many pages of 100 recent purchases `find_by_reference` reads.
    """
    key = name.strip().lower()
    if not registry.is_a(key, registry.LABEL_CARRIER):
        raise ValueError(f"unknown carrier {name!r}: one of {', '.join(CARRIERS)}")
    module = registry.load(key, registry.LABEL_CARRIER)
    if not registry.needs_api_key(key):
        return module.make_carrier(None)
    env = registry.api_key_env(key)
    secret = api_key or os.environ.get(env, "")
    if not secret:
        raise ValueError(f"the {key} carrier needs an API key (or {env} in the environment)")
    options: dict[str, Any] = {
        "http": HttpSettings(connect_timeout=connect_timeout, read_timeout=read_timeout)
    }
    if base_url:
        options["base_url"] = base_url
    if service_levels is not None:
        options["service_levels"] = service_levels
    if lookup_pages is not None:
        options["lookup_pages"] = lookup_pages
    return module.make_carrier(secret, **options)


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


__all__ = ["CARRIERS", "carrier_for", "configured_carrier"]
