"""Every provider Homeward talks to, registered once: one line each.

A line names the provider, what it is for (its kinds) and its package. Everything that needs
a provider list derives it from here: the webhook routes and their id pattern, the webhook
secret names, the carrier API key names, the settings, infra/webhook_signing.py, and the
template test that checks template.yaml names the same providers (tests/infra).

The package is imported only when that provider is used, by convention-named modules:

* label carrier    -> `<package>.carrier`, `make_carrier(api_key, **options) -> Carrier`
* tracking source  -> `<package>.tracking`, `SOURCE: TrackingSource`
* payment provider -> `<package>.payments`, `make_provider(settings) -> PaymentProvider`
* payment webhooks -> `<package>.webhooks`, `SOURCE: PaymentWebhookSource`
* shop webhooks    -> `<package>.shop`, `SOURCE: ShopSource` (orders from a commerce platform)

so a webhook from EasyPost loads EasyPost's tracking module and nothing of the others.
This module imports nothing of Homeward: it is safe to import from anywhere, at cold start.
See docs/adding-a-provider.md.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Final

LABEL_CARRIER: Final = "label_carrier"
TRACKING_SOURCE: Final = "tracking_source"
PAYMENT_PROVIDER: Final = "payment_provider"
PAYMENT_WEBHOOKS: Final = "payment_webhooks"
SHOP_WEBHOOKS: Final = "shop_webhooks"

_MODULE_OF_KIND = {
    LABEL_CARRIER: "carrier",
    TRACKING_SOURCE: "tracking",
    PAYMENT_PROVIDER: "payments",
    PAYMENT_WEBHOOKS: "webhooks",
    SHOP_WEBHOOKS: "shop",
}


@dataclass(frozen=True)
class Provider:
    name: str  # lower case: the URL segment, the secret key, the stored `provider`
    kinds: tuple[str, ...]
    package: str
    api_key: bool = True  # a label carrier or payment provider that needs an API key


# fmt: off
PROVIDERS: Final = (
    Provider("sandbox", (LABEL_CARRIER,), "homeward.providers.sandbox", api_key=False),
    Provider("easypost", (LABEL_CARRIER, TRACKING_SOURCE), "homeward.providers.easypost"),
    Provider("shippo", (LABEL_CARRIER, TRACKING_SOURCE), "homeward.providers.shippo"),
    Provider("aftership", (TRACKING_SOURCE,), "homeward.providers.aftership"),
    Provider("generic", (TRACKING_SOURCE,), "homeward.providers.generic"),
    Provider("ledger", (PAYMENT_PROVIDER,), "homeward.providers.ledger", api_key=False),
    Provider("stripe", (PAYMENT_PROVIDER, PAYMENT_WEBHOOKS), "homeward.providers.stripe"),
    Provider("adyen", (PAYMENT_PROVIDER, PAYMENT_WEBHOOKS), "homeward.providers.adyen"),
    Provider("shopify", (SHOP_WEBHOOKS,), "homeward.providers.shopify"),
    Provider("manual", (PAYMENT_PROVIDER,), "homeward.providers.manual", api_key=False),
    Provider("paypal", (PAYMENT_PROVIDER, PAYMENT_WEBHOOKS), "homeward.providers.paypal"),
)
# fmt: on

_BY_NAME: Final = {provider.name: provider for provider in PROVIDERS}


def names(kind: str) -> tuple[str, ...]:
    """The providers of one kind, in registry order."""
    return tuple(provider.name for provider in PROVIDERS if kind in provider.kinds)


LABEL_CARRIERS: Final = names(LABEL_CARRIER)
TRACKING_SOURCES: Final = names(TRACKING_SOURCE)
PAYMENT_PROVIDERS: Final = names(PAYMENT_PROVIDER)
PAYMENT_WEBHOOK_PROVIDERS: Final = names(PAYMENT_WEBHOOKS)
SHOP_SOURCES: Final = names(SHOP_WEBHOOKS)


def is_a(name: str, kind: str) -> bool:
    provider = _BY_NAME.get(name)
    return provider is not None and kind in provider.kinds


def needs_api_key(name: str) -> bool:
    return _BY_NAME[name].api_key


def pattern(kind: str) -> str:
    """A regex alternation of the provider names of one kind: "easypost|shippo|..."."""
    return "|".join(names(kind))


# Homeward's id of a stored tracking webhook: "<source>-<32 hex>" (the ops API's path pattern).
WEBHOOK_ID_PATTERN: Final = rf"^({pattern(TRACKING_SOURCE)})-[0-9a-f]{{32}}$"


def webhook_secret_env(name: str) -> str:
    """The variable holding a tracking source's webhook secrets locally: EASYPOST_WEBHOOK_SECRET."""
    return f"{name.upper()}_WEBHOOK_SECRET"


def api_key_env(name: str) -> str:
    """The variable holding a provider's API key locally: EASYPOST_API_KEY."""
    return f"{name.upper()}_API_KEY"


def api_key_field(name: str) -> str:
    """The provider's API key field in its JSON secret: "easypost_api_key"."""
    return f"{name}_api_key"


def base_url_env(name: str) -> str:
    """The variable that points a label carrier at another API root (tests, stubs)."""
    return f"{name.upper()}_BASE_URL"


def api_base_env(name: str) -> str:
    """The variable that points a payment provider at another API root: STRIPE_API_BASE."""
    return f"{name.upper()}_API_BASE"


def load(name: str, kind: str) -> Any:
    """The provider's module for one kind, imported now (and only now). KeyError when the
    provider is not registered for that kind."""
    if not is_a(name, kind):
        raise KeyError(f"no {kind.replace('_', ' ')} called {name!r}")
    return importlib.import_module(f"{_BY_NAME[name].package}.{_MODULE_OF_KIND[kind]}")


def load_testkit(name: str) -> Any:
    """A tracking source's sender side (`<package>.testkit`: sign, sample rewriting), for
    tests and infra/webhook_signing.py only; never loaded by the Lambda code."""
    if not is_a(name, TRACKING_SOURCE):
        raise KeyError(f"no tracking source called {name!r}")
    return importlib.import_module(f"{_BY_NAME[name].package}.testkit")


__all__ = [
    "LABEL_CARRIER",
    "LABEL_CARRIERS",
    "PAYMENT_PROVIDER",
    "PAYMENT_PROVIDERS",
    "PAYMENT_WEBHOOKS",
    "PAYMENT_WEBHOOK_PROVIDERS",
    "PROVIDERS",
    "SHOP_SOURCES",
    "SHOP_WEBHOOKS",
    "TRACKING_SOURCE",
    "TRACKING_SOURCES",
    "WEBHOOK_ID_PATTERN",
    "Provider",
    "api_base_env",
    "api_key_env",
    "api_key_field",
    "base_url_env",
    "is_a",
    "load",
    "load_testkit",
    "names",
    "needs_api_key",
    "pattern",
    "webhook_secret_env",
]
