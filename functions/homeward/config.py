"""Settings models, one per function, read from the environment once at cold start.

The template sets every variable; a missing or malformed one fails the cold start loudly
instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from homeward.providers import registry


class CommonSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    stage: str = Field(default="local", alias="STAGE")
    max_body_bytes: int = Field(default=256 * 1024, alias="MAX_BODY_BYTES", ge=1024)


class MerchantApiSettings(CommonSettings):
    merchant_api_key_secret: str = Field(alias="MERCHANT_API_KEY_SECRET", min_length=1)


class PortalApiSettings(CommonSettings):
    portal_signing_key_secret: str = Field(alias="PORTAL_SIGNING_KEY_SECRET", min_length=1)
    portal_token_ttl_seconds: int = Field(default=1800, alias="PORTAL_TOKEN_TTL_SECONDS", ge=60, le=86400)
    # Per order number *and* client (IPv4 address or IPv6 /64): never per order number alone.
    sign_in_max_failures_per_order: int = Field(default=5, alias="SIGN_IN_MAX_FAILURES_PER_ORDER", ge=1)
    sign_in_max_failures_per_ip: int = Field(default=20, alias="SIGN_IN_MAX_FAILURES_PER_IP", ge=1)
    sign_in_window_seconds: int = Field(default=900, alias="SIGN_IN_WINDOW_SECONDS", ge=60)
    sign_in_links_per_order: int = Field(default=3, alias="SIGN_IN_LINKS_PER_ORDER", ge=1)
    sign_in_link_requests_per_ip: int = Field(default=20, alias="SIGN_IN_LINK_REQUESTS_PER_IP", ge=1)
    return_policy_parameter: str | None = Field(default=None, alias="RETURN_POLICY_PARAMETER")
    return_policy_url: str | None = Field(default=None, alias="RETURN_POLICY_URL")
    # The portal distribution's origin header value: requests carrying it come through CloudFront.
    edge_origin_token: str | None = Field(default=None, alias="EDGE_ORIGIN_TOKEN")


def _per_provider(data: Any, field: str, kind: str, variable: Callable[[str], str]) -> Any:
    """`field` = {provider: value} from each registered provider's variable that is set
    (e.g. EASYPOST_WEBHOOK_SECRET): adding a provider to the registry adds its variable."""
    if isinstance(data, dict) and field not in data:
        values = {name: data[variable(name)] for name in registry.names(kind) if data.get(variable(name))}
        data = {**data, field: values}
    return data


SettingsT = TypeVar("SettingsT", bound=BaseModel)


def load_settings(model: type[SettingsT]) -> SettingsT:
    """Validate the process environment against a settings model."""
    return model.model_validate(dict(os.environ))


class PortalReturnsSettings(CommonSettings):
    portal_signing_key_secret: str = Field(alias="PORTAL_SIGNING_KEY_SECRET", min_length=1)
    labels_bucket: str = Field(alias="LABELS_BUCKET", min_length=3)
    portal_token_ttl_seconds: int = Field(default=1800, alias="PORTAL_TOKEN_TTL_SECONDS", ge=60, le=86400)
    photos_bucket: str = Field(alias="PHOTOS_BUCKET", min_length=3)
    photo_max_bytes: int = Field(default=10 * 1024 * 1024, alias="PHOTO_MAX_BYTES", ge=1024)
    return_policy_parameter: str | None = Field(default=None, alias="RETURN_POLICY_PARAMETER")


class LabelsSettings(CommonSettings):
    labels_bucket: str = Field(alias="LABELS_BUCKET", min_length=3)
    label_queue_url: str | None = Field(default=None, alias="LABEL_QUEUE_URL")
    carrier_secret: str | None = Field(default=None, alias="CARRIER_SECRET")
    return_policy_parameter: str | None = Field(default=None, alias="RETURN_POLICY_PARAMETER")
    # Label carriers' API roots from EASYPOST_BASE_URL, ... (tests point them at a stub), as
    # (name, url) pairs: the settings are hashable (configured_carrier caches on them).
    carrier_base_urls: tuple[tuple[str, str], ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _provider_variables(cls, data: Any) -> Any:
        data = _per_provider(data, "carrier_base_urls", registry.LABEL_CARRIER, registry.base_url_env)
        if isinstance(data, dict) and isinstance(data["carrier_base_urls"], dict):
            data["carrier_base_urls"] = tuple(data["carrier_base_urls"].items())
        return data

    def carrier_base_url(self, name: str) -> str | None:
        return dict(self.carrier_base_urls).get(name)


class OpsApiSettings(CommonSettings):
    merchant_api_key_secret: str = Field(alias="MERCHANT_API_KEY_SECRET", min_length=1)
    return_policy_parameter: str | None = Field(default=None, alias="RETURN_POLICY_PARAMETER")
    # Powertools idempotency records of the ops refund routes expire after this.
    idempotency_ttl_seconds: int = Field(default=86400, alias="IDEMPOTENCY_TTL_SECONDS", ge=60)


class DomainEventsSettings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    domain_events_topic_arn: str = Field(alias="DOMAIN_EVENTS_TOPIC_ARN", min_length=20)


class WebhooksSettings(CommonSettings):
    """Webhook secrets: comma-separated lists per provider (several during a rotation).

    Locally they come from `*_WEBHOOK_SECRET`; deployed, from the JSON secret named by
    `WEBHOOK_SECRETS_SECRET` ({"easypost": "s1,s2", ...}). A variable that is set wins.
    The variables are one per registered tracking source (homeward/providers/registry.py):
    EASYPOST_WEBHOOK_SECRET, SHIPPO_WEBHOOK_SECRET, ...
    """

    webhook_secrets_secret: str | None = Field(default=None, alias="WEBHOOK_SECRETS_SECRET")
    webhook_secrets: dict[str, str] = Field(default_factory=dict)
    # Shippo's self-service alternative to its HMAC header: a secret ?token= in the URL.
    shippo_url_token: bool = Field(default=True, alias="SHIPPO_ALLOW_URL_TOKEN")
    # Shippo's test events ("test": true: the dashboard's test button, test-mode tokens) are
    # acknowledged and ignored; a staging stack on Shippo test keys sets this to apply them.
    shippo_accept_test_events: bool = Field(default=False, alias="SHIPPO_ACCEPT_TEST_EVENTS")

    @model_validator(mode="before")
    @classmethod
    def _provider_variables(cls, data: Any) -> Any:
        return _per_provider(data, "webhook_secrets", registry.TRACKING_SOURCE, registry.webhook_secret_env)


class ShopWebhooksSettings(CommonSettings):
    """Shop connectors' webhook secrets (Shopify's app client secret), comma-separated during a
    rotation: SHOPIFY_WEBHOOK_SECRET locally, else the JSON secret named by
    SHOP_WEBHOOK_SECRETS_SECRET ({"shopify": "s1,s2"}); one per registered shop connector."""

    shop_webhook_secrets_secret: str | None = Field(default=None, alias="SHOP_WEBHOOK_SECRETS_SECRET")
    webhook_secrets: dict[str, str] = Field(default_factory=dict)
    # Stored whole in one item (DynamoDB: 400 KB an item): a 250-line order is ~150 KB.
    max_shop_body_bytes: int = Field(default=350_000, alias="MAX_SHOP_WEBHOOK_BYTES", ge=1024, le=380_000)

    @model_validator(mode="before")
    @classmethod
    def _provider_variables(cls, data: Any) -> Any:
        return _per_provider(data, "webhook_secrets", registry.SHOP_WEBHOOKS, registry.webhook_secret_env)


class TrackingSettings(CommonSettings):
    return_policy_parameter: str | None = Field(default=None, alias="RETURN_POLICY_PARAMETER")


class PaymentsSettings(CommonSettings):
    """Refunds and payment webhooks.

    Provider keys, one set per registered payment provider (homeward/providers/registry.py):
    locally `STRIPE_API_KEY` / `STRIPE_WEBHOOK_SECRET` (comma list during a rotation) /
    `STRIPE_API_BASE` (a stub); deployed, the JSON secret named by `PAYMENT_SECRETS_SECRET`
    ({"stripe_api_key": "...", "stripe_webhook_secret": "whsec_..."}). A variable that is set wins.
    """

    return_policy_parameter: str | None = Field(default=None, alias="RETURN_POLICY_PARAMETER")
    payment_secrets_secret: str | None = Field(default=None, alias="PAYMENT_SECRETS_SECRET")
    api_keys: dict[str, str] = Field(default_factory=dict)
    webhook_secrets: dict[str, str] = Field(default_factory=dict)
    api_bases: dict[str, str] = Field(default_factory=dict)
    refund_provider_mode: Literal["live", "ledger"] = Field(default="live", alias="REFUND_PROVIDER_MODE")
    ledger_settle_seconds: float = Field(default=30, alias="LEDGER_SETTLE_SECONDS", ge=0, le=86400)
    refund_queue_url: str | None = Field(default=None, alias="REFUND_QUEUE_URL")
    sweep_quiet_seconds: int = Field(default=120, alias="REFUND_SWEEP_QUIET_SECONDS", ge=0, le=86400)

    @model_validator(mode="before")
    @classmethod
    def _provider_variables(cls, data: Any) -> Any:
        kind = registry.PAYMENT_PROVIDER
        data = _per_provider(data, "api_keys", kind, registry.api_key_env)
        data = _per_provider(data, "webhook_secrets", registry.PAYMENT_WEBHOOKS, registry.webhook_secret_env)
        return _per_provider(data, "api_bases", kind, registry.api_base_env)


class NotificationsSettings(CommonSettings):
    """The shopper notifications. Brand and portal settings are read by `Brand.from_env`
    (BRAND_NAME, BRAND_PRIMARY_COLOR, BRAND_ACCENT_COLOR, BRAND_LOGO_URL, SUPPORT_EMAIL, PORTAL_URL)."""

    portal_signing_key_secret: str = Field(alias="PORTAL_SIGNING_KEY_SECRET", min_length=1)
    sender_email: str = Field(alias="SENDER_EMAIL", pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    api_url: str = Field(alias="API_URL", pattern=r"^https?://\S+$")  # unsubscribe links point here
    notification_queue_url: str | None = Field(default=None, alias="NOTIFICATION_QUEUE_URL")
    sms_sender_id: str | None = Field(default=None, alias="SMS_SENDER_ID")
