"""Carrier adapters: the sandbox (local default), EasyPost and Shippo behind one `Carrier` port.

    carrier = carrier_for("easypost", api_key=key)           # production
    carrier = carrier_for("shippo", api_key=key, base_url=stub_url, read_timeout=0.5)  # tests
    carrier = carrier_for("sandbox")                         # local: no network, no key

API keys are passed in (the caller reads them from Secrets Manager); for local runs a missing
key falls back to the EASYPOST_API_KEY / SHIPPO_API_KEY environment variables. Keys are never
logged or put in error messages.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from homeward.adapters.carriers._http import CONNECT_TIMEOUT, READ_TIMEOUT, HttpSettings
from homeward.domain.labels.ports import Carrier

CARRIERS = ("sandbox", "easypost", "shippo")
API_KEY_ENV = {"easypost": "EASYPOST_API_KEY", "shippo": "SHIPPO_API_KEY"}


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
    if key == "sandbox":
        from homeward.adapters.carriers.sandbox import SandboxCarrier

        return SandboxCarrier()
    if key not in API_KEY_ENV:
        raise ValueError(f"unknown carrier {name!r}: one of {', '.join(CARRIERS)}")
    secret = api_key or os.environ.get(API_KEY_ENV[key], "")
    if not secret:
        raise ValueError(f"the {key} carrier needs an API key (or {API_KEY_ENV[key]} in the environment)")
    options: dict = {"http": HttpSettings(connect_timeout=connect_timeout, read_timeout=read_timeout)}
    if base_url:
        options["base_url"] = base_url
    if service_levels is not None:
        options["service_levels"] = service_levels
    if lookup_pages is not None:
        options["lookup_pages"] = lookup_pages
    if key == "easypost":
        from homeward.adapters.carriers.easypost import EasyPostCarrier

        return EasyPostCarrier(secret, **options)
    from homeward.adapters.carriers.shippo import ShippoCarrier

    return ShippoCarrier(secret, **options)


__all__ = ["CARRIERS", "carrier_for"]
