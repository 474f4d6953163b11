"""Which adapter refunds which payment.

`live` (deployed default): each payment through its own provider (homeward/providers/registry.py
lists the payment providers; Stripe payments through Stripe, `ledger` payments through the
ledger provider); a provider with no adapter fails permanently (`provider_not_supported`) and
waits for ops (the money state says `failed`, an alarm fires).
`ledger` (the local stack's default): every payment is refunded through the ledger provider,
so `make run` needs no Stripe account.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, Literal

from homeward.domain.refunds.ports import PaymentProvider, ProviderRejected
from homeward.providers import registry

ProviderMode = Literal["live", "ledger"]
LEDGER = "ledger"


class Providers:
    """`factories` by provider name (e.g. `stripe=lambda: StripeProvider(...)`): each is called
    on the first payment of that provider, so a provider's SDK is imported only when used."""

    def __init__(
        self,
        *,
        mode: ProviderMode,
        ledger: PaymentProvider,
        **factories: Callable[[], PaymentProvider] | None,
    ) -> None:
        self._mode = mode
        self._ledger = ledger
        self._factories = {name: factory for name, factory in factories.items() if factory is not None}
        self._made: dict[str, PaymentProvider] = {}

    def for_payment(self, provider: str) -> PaymentProvider:
        """The adapter for a payment's provider; ProviderRejected if there is none."""
        if self._mode == "ledger" or provider == LEDGER:
            return self._ledger
        if provider not in self._made and provider in self._factories:
            self._made[provider] = self._factories[provider]()  # the SDK is imported here, on first use
        if provider in self._made:
            return self._made[provider]
        raise ProviderRejected(
            provider, "provider_not_supported", f"no refund adapter for {provider} payments"
        )


def _secret_field(settings: Any, field: str) -> str | None:
    if not settings.payment_secrets_secret:
        return None
    from homeward.adapters.secrets import secret_json

    return secret_json(settings.payment_secrets_secret).get(field)


def _make(name: str, settings: Any) -> PaymentProvider:
    """A registered payment provider, its API key read now (first use), never at import."""
    module = registry.load(name, registry.PAYMENT_PROVIDER)
    key = None
    if registry.needs_api_key(name):
        key = settings.api_keys.get(name) or _secret_field(settings, registry.api_key_field(name))
    return module.make_provider(settings, key)


def configured_providers(settings: Any) -> Providers:
    """The providers for a function's `PaymentsSettings`; keys are read on first use."""
    factories = {
        name: partial(_make, name, settings) for name in registry.PAYMENT_PROVIDERS if name != LEDGER
    }
    return Providers(mode=settings.refund_provider_mode, ledger=_make(LEDGER, settings), **factories)


def payment_webhook_secrets(settings: Any, provider: str) -> list[str]:
    """A provider's active webhook signing secrets: the environment's list (STRIPE_WEBHOOK_SECRET),
    else the payment secret's `stripe_webhook_secret`."""
    configured = settings.webhook_secrets.get(provider) or _secret_field(
        settings, f"{provider}_webhook_secret"
    )
    return [part.strip() for part in str(configured or "").split(",") if part.strip()]


def stripe_webhook_secrets(settings: Any) -> list[str]:
    """Active Stripe webhook signing secrets (see `payment_webhook_secrets`)."""
    return payment_webhook_secrets(settings, "stripe")
