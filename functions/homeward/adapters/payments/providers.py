"""Which adapter refunds which payment.

`live` (deployed default): Stripe payments through Stripe, `ledger` payments through the
ledger provider; other providers have no adapter yet, so their refunds fail permanently
(`provider_not_supported`) and wait for ops (the money state says `failed`, an alarm fires).
`ledger` (the local stack's default): every payment is refunded through the ledger provider,
so `make run` needs no Stripe account.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

from homeward.adapters.payments import PaymentProvider, ProviderRejected

ProviderMode = Literal["live", "ledger"]


class Providers:
    def __init__(
        self,
        *,
        mode: ProviderMode,
        ledger: PaymentProvider,
        stripe: Callable[[], PaymentProvider] | None = None,
    ) -> None:
        self._mode = mode
        self._ledger = ledger
        self._stripe_factory = stripe
        self._stripe: PaymentProvider | None = None

    def for_payment(self, provider: str) -> PaymentProvider:
        """The adapter for a payment's provider; ProviderRejected if there is none."""
        if self._mode == "ledger" or provider == "ledger":
            return self._ledger
        if provider == "stripe" and self._stripe_factory is not None:
            if self._stripe is None:
                self._stripe = self._stripe_factory()  # the SDK is imported here, on first use
            return self._stripe
        raise ProviderRejected(
            provider, "provider_not_supported", f"no refund adapter for {provider} payments"
        )


def configured_providers(settings) -> Providers:
    """The providers for a function's `PaymentsSettings`; Stripe's key is read on first use."""
    from homeward.adapters.aws import client
    from homeward.adapters.payments.ledger import LedgerProvider

    def stripe() -> PaymentProvider:
        from homeward.adapters.payments.stripe import StripeProvider

        key = settings.stripe_api_key
        if not key and settings.payment_secrets_secret:
            from homeward.adapters.secrets import secret_json

            key = secret_json(settings.payment_secrets_secret).get("stripe_api_key")
        if not key:
            raise ProviderRejected("stripe", "not_configured", "no Stripe API key is configured")
        return StripeProvider(key, api_base=settings.stripe_api_base)

    ledger = LedgerProvider(
        client("dynamodb"), settings.table_name, settle_seconds=settings.ledger_settle_seconds
    )
    return Providers(mode=settings.refund_provider_mode, ledger=ledger, stripe=stripe)


def stripe_webhook_secrets(settings) -> list[str]:
    """Active Stripe webhook signing secrets: the environment's list, else the JSON secret's."""
    configured = settings.stripe_webhook_secret
    if not configured and settings.payment_secrets_secret:
        from homeward.adapters.secrets import secret_json

        configured = secret_json(settings.payment_secrets_secret).get("stripe_webhook_secret")
    return [part.strip() for part in str(configured or "").split(",") if part.strip()]
