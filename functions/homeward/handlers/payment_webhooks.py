"""PaymentWebhooksFunction: payment providers report refund outcomes
(`POST /webhooks/payments/{provider}`; Stripe today).

Verify `Stripe-Signature` on the raw bytes (5-minute tolerance, any active secret), read the
refund out of the event and apply it to the movement named by its metadata
(`homeward_rma`, `homeward_key`). Applying is idempotent and ordered by the movement state
machine, so Stripe's duplicates and out-of-order deliveries change nothing twice, while a
late `refund.failed` after `succeeded` gives the money back to the payment's ledger and
marks the return `failed` for ops. Refunds made outside Homeward are acknowledged and ignored.
A failure to write answers 503 so Stripe retries (for up to three days).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.logging import correlation_paths
from pydantic import BaseModel

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.refunds import RefundsTable
from homeward.adapters.payments.providers import stripe_webhook_secrets
from homeward.adapters.policy import load_policy
from homeward.config import PaymentsSettings, load_settings
from homeward.domain.refunds import service as refund_service
from homeward.domain.refunds.payment_webhooks import IgnoredEvent, parse_stripe_event
from homeward.domain.refunds.reports import Report
from homeward.domain.shared.webhook_signatures import verify_stripe
from homeward.errors import NotFound, WebhookSignatureInvalid
from homeward.handlers.api import ERROR_RESPONSES, create_app, error_docs, raw_body
from homeward.observability import logger, metrics

settings = load_settings(PaymentsSettings)
store = RefundsTable(client("dynamodb"), settings.table_name)
app = create_app(max_body_bytes=settings.max_body_bytes)


class PaymentWebhookAck(BaseModel):
    status: Literal["applied", "unchanged", "unknown", "ignored"]
    event_id: str


ProviderPath = Annotated[str, Path(description="stripe", examples=["stripe"])]


@app.post(
    "/webhooks/payments/<provider>",
    summary="Receive a payment provider's refund webhook",
    description=(
        "Stripe events `refund.created`, `refund.updated`, `refund.failed` and `charge.refund.updated`, "
        "signed with `Stripe-Signature`. Other event types are acknowledged as `ignored`; refunds "
        "not made by Homeward as `unknown`; a repeated or older report as `unchanged`."
    ),
    tags=["Webhooks"],
    responses={
        200: {"description": "Handled", "content": {"application/json": {"model": PaymentWebhookAck}}},
        **error_docs(
            {
                400: "Body is not JSON",
                401: "Missing, malformed, stale or wrong signature",
                404: "Unknown provider",
                422: "Not a Stripe event",
            }
        ),
        **ERROR_RESPONSES,
    },
)
def receive(provider: ProviderPath) -> Response[PaymentWebhookAck]:
    if provider != "stripe":
        raise NotFound(f"No payment webhook endpoint for {provider!r}", details={"providers": ["stripe"]})
    now = datetime.now(UTC)
    body = raw_body(app)
    secrets = stripe_webhook_secrets(settings)
    if not secrets:
        logger.error("stripe webhook secret not configured")
        raise WebhookSignatureInvalid(
            "stripe", "not_configured", "Webhooks from this provider are not enabled"
        )
    try:
        verify_stripe(body, app.current_event.headers, secrets, now=now)
    except WebhookSignatureInvalid as rejected:
        metrics.add_metric(name="PaymentWebhooksRejected", unit="Count", value=1)
        logger.warning("payment webhook signature rejected", extra={"reason": rejected.reason})
        raise
    parsed = parse_stripe_event(body)
    if isinstance(parsed, IgnoredEvent):
        return Response(
            200, "application/json", PaymentWebhookAck(status="ignored", event_id=parsed.event_id)
        )
    rma = parsed.metadata.get("homeward_rma", "")
    key = parsed.metadata.get("homeward_key", "")
    if not (rma and key) and parsed.refund_id:
        # Stripe sends some events of our refunds without our metadata: find the movement by
        # the refund id stored when Homeward created the refund.
        rma, key = store.movement_for_provider_refund("stripe", parsed.refund_id) or ("", "")
    status = "unknown"
    if rma and key:
        status = refund_service.apply_provider_update(
            rma,
            key,
            Report(status=parsed.status, refund_id=parsed.refund_id, failure_reason=parsed.failure_reason),
            store=store,
            policy=load_policy(settings.return_policy_parameter),
            now=now,
        )
    metrics.add_metric(
        name="PaymentWebhooksApplied" if status == "applied" else "PaymentWebhooksSkipped",
        unit="Count",
        value=1,
    )
    if status == "applied" and parsed.status in ("failed", "canceled"):
        metrics.add_metric(name="RefundsFailed", unit="Count", value=1)
    logger.info(
        "payment webhook handled",
        extra={"event_id": parsed.event_id, "type": parsed.event_type, "rma": rma, "outcome": status},
    )
    return Response(200, "application/json", PaymentWebhookAck(status=status, event_id=parsed.event_id))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
