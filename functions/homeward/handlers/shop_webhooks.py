"""ShopWebhooksFunction: commerce platforms post order changes (`POST /webhooks/shops/{provider}`).

Verify the signature on the raw bytes (any active secret: rotation), check the delivery
headers, store the delivery once keyed by the shop's delivery id (a conditional PutItem: a
re-delivery answers `duplicate`) and answer 200. ShopOrdersFunction applies it from the
table's stream, so the shop never waits on our processing. A topic the connector does not
handle is acknowledged (`ignored`) and not stored. Never a 5xx for bad input: a bad signature
or missing header is 401, a body that is not a JSON object 400.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.shop_inbox import ShopInbox
from homeward.config import ShopWebhooksSettings, load_settings
from homeward.domain.orders.intake import Delivery, ShopSource
from homeward.domain.tracking.payloads import load_body
from homeward.errors import NotFound, WebhookSignatureInvalid
from homeward.handlers.api import ERROR_RESPONSES, create_app, error_docs, raw_body
from homeward.models.tracking import WebhookAck
from homeward.observability import logger, metrics
from homeward.providers import registry

settings = load_settings(ShopWebhooksSettings)
inbox = ShopInbox(client("dynamodb"), settings.table_name)
app = create_app(max_body_bytes=settings.max_shop_body_bytes)

ProviderPath = Annotated[str, Path(description=" or ".join(registry.SHOP_SOURCES), examples=["shopify"])]


def webhook_secrets(provider: str) -> list[str]:
    """The connector's active secrets: the environment's list, else the JSON secret's entry."""
    configured = settings.webhook_secrets.get(provider)
    if not configured and settings.shop_webhook_secrets_secret:
        from homeward.adapters.secrets import secret_json

        value = secret_json(settings.shop_webhook_secrets_secret).get(provider)
        configured = ",".join(value) if isinstance(value, list) else value
    return [part.strip() for part in str(configured or "").split(",") if part.strip()]


@app.post(
    "/webhooks/shops/<provider>",
    summary="Receive a shop's order webhook",
    description=(
        "Shopify (`X-Shopify-Hmac-Sha256`, base64 HMAC-SHA256 of the raw body with the app's client "
        "secret; `X-Shopify-Topic`, `X-Shopify-Shop-Domain`, `X-Shopify-Webhook-Id` and "
        "`X-Shopify-API-Version` required): `orders/create`, `orders/updated`, `orders/cancelled`, "
        "`fulfillments/create`, `fulfillments/update` and `refunds/create`. Stored once per "
        "`X-Shopify-Webhook-Id` and applied asynchronously; see docs/connectors.md."
    ),
    tags=["Webhooks"],
    responses={
        200: {
            "description": "Stored, duplicate or ignored (a topic Homeward does not use)",
            "content": {"application/json": {"model": WebhookAck}},
        },
        **error_docs(
            {
                400: "Body is not a JSON object",
                401: "Missing or wrong signature, or a missing delivery header",
                404: "Unknown shop connector",
            }
        ),
        **ERROR_RESPONSES,
    },
)
def receive(provider: ProviderPath) -> Response[WebhookAck]:
    if provider not in registry.SHOP_SOURCES:
        raise NotFound(
            f"No shop webhook endpoint for {provider!r}", details={"providers": list(registry.SHOP_SOURCES)}
        )
    source = registry.load(provider, registry.SHOP_WEBHOOKS).SOURCE
    body = raw_body(app)
    delivery = _verify(source, provider, body, app.current_event.headers)
    if delivery.topic not in source.topics:
        logger.info("shop webhook ignored", extra={"provider": provider, "topic": delivery.topic})
        return Response(200, "application/json", WebhookAck(status="ignored"))
    load_body(provider, body)  # 400 unless a JSON object; read in full by ShopOrdersFunction
    new = _store(provider, delivery, body)
    wid = f"{provider}-{delivery.webhook_id}"
    return Response(
        200, "application/json", WebhookAck(status="accepted" if new else "duplicate", webhook_id=wid)
    )


def _store(provider: str, delivery: Delivery, body: bytes) -> bool:
    new = inbox.store(
        provider,
        delivery.webhook_id,
        topic=delivery.topic,
        shop=delivery.shop,
        api_version=delivery.api_version,
        body=body.decode(),
        now=datetime.now(UTC),
    )
    metrics.add_metric(name="ShopWebhooksAccepted" if new else "ShopWebhookDuplicates", unit="Count", value=1)
    logger.info(
        "shop webhook stored" if new else "shop webhook duplicate",
        extra={"provider": provider, "topic": delivery.topic, "delivery_id": delivery.webhook_id},
    )
    return new


def _verify(source: ShopSource, provider: str, body: bytes, headers: dict[str, str]) -> Delivery:
    secrets = webhook_secrets(provider)
    if not secrets:
        logger.error("shop webhook secret not configured", extra={"provider": provider})
        raise WebhookSignatureInvalid(provider, "not_configured", "Webhooks from this shop are not enabled")
    try:
        return source.verify(body, headers, secrets)
    except WebhookSignatureInvalid as rejected:
        metrics.add_metric(name="ShopWebhooksRejected", unit="Count", value=1)
        logger.warning("shop webhook rejected", extra={"provider": provider, "reason": rejected.reason})
        raise


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
