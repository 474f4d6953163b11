"""WebhooksFunction: carriers and aggregators post tracking events (`POST /webhooks/{provider}`).

Verify the signature on the raw bytes, read the body into a normalized update, store it once
(a conditional PutItem keyed by the provider's event id) and answer 200. Applying the
update happens in TrackingFunction from the table's stream, so a slow dependency never makes
a carrier time out and retry, and an event is either stored (and will be applied) or
refused with a status the provider retries on. Nothing here raises a 5xx for bad input:
a bad signature is 401, unreadable JSON 400, a wrong shape 422.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.tracking import TrackingTable
from homeward.config import WebhooksSettings, load_settings
from homeward.domain.tracking.ports import Ignored
from homeward.errors import NotFound, WebhookSignatureInvalid
from homeward.handlers.api import ERROR_RESPONSES, create_app, error_docs, raw_body
from homeward.models.tracking import WebhookAck
from homeward.observability import logger, metrics
from homeward.providers.registry import TRACKING_SOURCES
from homeward.providers.tracking_sources import parse_webhook, verify

settings = load_settings(WebhooksSettings)
table = TrackingTable(client("dynamodb"), settings.table_name)
app = create_app(max_body_bytes=settings.max_body_bytes)

# Per tracking source: EASYPOST_WEBHOOK_SECRET, ... (config.WebhooksSettings, from the registry).
_ENV_SECRETS: dict[str, str | None] = {name: settings.webhook_secrets.get(name) for name in TRACKING_SOURCES}


def webhook_secrets(provider: str) -> list[str]:
    """The provider's active secrets: the environment's list, else the JSON secret's entry."""
    configured = _ENV_SECRETS.get(provider)
    if not configured and settings.webhook_secrets_secret:
        from homeward.adapters.secrets import secret_json

        value = secret_json(settings.webhook_secrets_secret).get(provider)
        configured = ",".join(value) if isinstance(value, list) else value
    return [part.strip() for part in str(configured or "").split(",") if part.strip()]


ProviderPath = Annotated[
    str,
    Path(
        description=", ".join(TRACKING_SOURCES[:-1]) + " or " + TRACKING_SOURCES[-1],
        examples=[TRACKING_SOURCES[0]],
    ),
]


@app.post(
    "/webhooks/<provider>",
    summary="Receive a carrier tracking webhook",
    description=(
        "EasyPost (`X-Hmac-Signature`), Shippo (`Shippo-Auth-Signature` or `?token=`), AfterShip "
        "(`aftership-hmac-sha256`) and the generic Standard-Webhooks format (`webhook-id`, "
        "`webhook-timestamp`, `webhook-signature`). Bodies are the providers' own; see docs/webhooks.md. "
        "A re-delivered event answers 200 `duplicate` and changes nothing."
    ),
    tags=["Webhooks"],
    responses={
        200: {
            "description": "Stored, duplicate or ignored",
            "content": {"application/json": {"model": WebhookAck}},
        },
        **error_docs(
            {
                400: "Body is not JSON",
                401: "Missing, malformed, stale or wrong signature",
                404: "Unknown provider",
                422: "Not the provider's documented shape",
            }
        ),
        **ERROR_RESPONSES,
    },
)
def receive(provider: ProviderPath) -> Response[WebhookAck]:
    if provider not in TRACKING_SOURCES:
        raise NotFound(f"No webhook endpoint for {provider!r}", details={"providers": list(TRACKING_SOURCES)})
    now = datetime.now(UTC)
    body = raw_body(app)
    headers = app.current_event.headers
    _verify(provider, body, headers, now)
    parsed = parse_webhook(
        provider, body, headers, received_at=now, accept_test_events=settings.shippo_accept_test_events
    )
    if isinstance(parsed, Ignored):
        logger.info("webhook ignored", extra={"provider": provider, "event_type": parsed.event_type})
        return Response(200, "application/json", WebhookAck(status="ignored"))
    wid, new = table.store_webhook(parsed, body.decode(), now=now)
    metrics.add_metric(name="WebhooksAccepted" if new else "WebhookDuplicates", unit="Count", value=1)
    logger.info(
        "webhook stored" if new else "webhook duplicate",
        extra={"provider": provider, "webhook_id": wid, "status": parsed.status.value},
    )
    return Response(
        200, "application/json", WebhookAck(status="accepted" if new else "duplicate", webhook_id=wid)
    )


def _verify(provider: str, body: bytes, headers: dict[str, str], now: datetime) -> None:
    """401 unless the body is signed with one of the provider's active secrets."""
    secrets = webhook_secrets(provider)
    if not secrets:
        logger.error("webhook secret not configured", extra={"provider": provider})
        raise WebhookSignatureInvalid(
            provider, "not_configured", "Webhooks from this provider are not enabled"
        )
    query = (app.current_event.query_string_parameters or {}) if settings.shippo_url_token else None
    try:
        verify(provider, body, headers, secrets, now=now, query=query)
    except WebhookSignatureInvalid as rejected:
        metrics.add_metric(name="WebhooksRejected", unit="Count", value=1)
        logger.warning("webhook signature rejected", extra={"provider": provider, "reason": rejected.reason})
        raise


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
