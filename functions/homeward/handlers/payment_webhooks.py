"""PaymentWebhooksFunction: payment providers report refund outcomes
(`POST /webhooks/payments/{provider}`: Stripe, Adyen).

Verify `Stripe-Signature` on the raw bytes (5-minute tolerance, any active secret), read the
refund out of the event and apply it to the movement named by its metadata
(`homeward_rma`, `homeward_key`). Applying is idempotent and ordered by the movement state
machine, so Stripe's duplicates and out-of-order deliveries change nothing twice, while a
late `refund.failed` after `succeeded` gives the money back to the payment's ledger and
marks the return `failed` for ops. A refund made outside Homeward (e.g. in Stripe's dashboard)
is matched to its order by the payment it refunds and recorded as an outside refund, once
(docs/refunds.md, "Refunds made outside Homeward"); an unknown payment is acknowledged.
A failure to write answers 503 so Stripe retries (for up to three days).

Adyen (providers/adyen/webhooks.py) signs each item of a batch inside the body and expects the
answer `[accepted]`: the source says so (`acknowledgement`), and every item of a delivery is
applied once, in order; a 503 halfway makes Adyen resend the batch, whose applied items are
then `unchanged`.
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
from homeward.adapters.policy import load_policy
from homeward.config import PaymentsSettings, load_settings
from homeward.domain.refunds import service as refund_service
from homeward.domain.refunds.ports import IgnoredEvent, PaymentWebhookSource, RefundUpdate
from homeward.domain.refunds.reports import Report
from homeward.errors import NotFound, Unprocessable, WebhookSignatureInvalid
from homeward.handlers.api import ERROR_RESPONSES, create_app, error_docs, raw_body
from homeward.observability import logger, metrics
from homeward.providers import registry
from homeward.providers.payments import payment_webhook_secrets

settings = load_settings(PaymentsSettings)
store = RefundsTable(client("dynamodb"), settings.table_name)
app = create_app(max_body_bytes=settings.max_body_bytes)


class PaymentWebhookAck(BaseModel):
    status: Literal["applied", "recorded", "unchanged", "unknown", "ignored"]
    event_id: str


ProviderPath = Annotated[
    str,
    Path(
        description=", ".join(registry.PAYMENT_WEBHOOK_PROVIDERS),
        examples=[registry.PAYMENT_WEBHOOK_PROVIDERS[0]],
    ),
]


@app.post(
    "/webhooks/payments/<provider>",
    summary="Receive a payment provider's refund webhook",
    description=(
        "Stripe events `refund.created`, `refund.updated`, `refund.failed` and `charge.refund.updated`, "
        "signed with `Stripe-Signature`. Adyen standard notifications `REFUND`, `REFUND_FAILED`, "
        "`REFUNDED_REVERSED` (each item signed with `additionalData.hmacSignature`; answered with the "
        "text `[accepted]`). PayPal events `PAYMENT.CAPTURE.REFUNDED`, `PAYMENT.CAPTURE.REVERSED` and "
        "`PAYMENT.REFUND.*`, signed with `PAYPAL-TRANSMISSION-SIG` (RSA-SHA256, PayPal's certificate). "
        "Other event types are acknowledged as `ignored`; a refund made outside Homeward (e.g. in the "
        "dashboard) is recorded on its order's payment (`recorded`), or `unknown` if no order has that "
        "payment; a repeated or older report as `unchanged`."
    ),
    tags=["Webhooks"],
    responses={
        200: {
            "description": "Handled (Adyen: the text `[accepted]`)",
            "content": {
                "application/json": {"model": PaymentWebhookAck},
                "text/plain": {"schema": {"type": "string", "examples": ["[accepted]"]}},
            },
        },
        **error_docs(
            {
                400: "Body is not JSON",
                401: "Missing, malformed, stale or wrong signature",
                404: "Unknown provider",
                422: "Not a Stripe event or Adyen notification",
            }
        ),
        **ERROR_RESPONSES,
    },
)
def receive(provider: ProviderPath) -> Response[PaymentWebhookAck | str]:
    if provider not in registry.PAYMENT_WEBHOOK_PROVIDERS:
        raise NotFound(
            f"No payment webhook endpoint for {provider!r}",
            details={"providers": list(registry.PAYMENT_WEBHOOK_PROVIDERS)},
        )
    now = datetime.now(UTC)
    body = raw_body(app)
    source: PaymentWebhookSource = registry.load(provider, registry.PAYMENT_WEBHOOKS).SOURCE
    _verify(source, body, now)
    # Every event of the delivery (Adyen batches; Stripe sends one), each applied once and in order.
    acks = [_handle(provider, parsed, now) for parsed in source.parse_all(body)]
    if source.acknowledgement is not None:
        # The provider's own acknowledgement text (Adyen: "[accepted]").
        return Response(200, "text/plain", source.acknowledgement)
    return Response(200, "application/json", acks[-1])


def _handle(provider: str, parsed: RefundUpdate | IgnoredEvent, now: datetime) -> PaymentWebhookAck:
    if isinstance(parsed, IgnoredEvent):
        return PaymentWebhookAck(status="ignored", event_id=parsed.event_id)
    rma, key = _movement(provider, parsed)
    status = _apply(rma, key, parsed, now) if rma and key else _record_outside(provider, parsed, now)
    _count(status, parsed)
    logger.info(
        "payment webhook handled",
        extra={"event_id": parsed.event_id, "type": parsed.event_type, "rma": rma, "outcome": status},
    )
    return PaymentWebhookAck(status=status, event_id=parsed.event_id)


def _apply(rma: str, key: str, parsed: RefundUpdate, now: datetime) -> str:
    return refund_service.apply_provider_update(
        rma,
        key,
        Report(status=parsed.status, refund_id=parsed.refund_id, failure_reason=parsed.failure_reason),
        store=store,
        policy=load_policy(settings.return_policy_parameter),
        now=now,
    )


def _record_outside(provider: str, parsed: RefundUpdate, now: datetime) -> str:
    """A refund Homeward did not make: recorded on its order's payment so the cap counts it."""
    try:
        status = refund_service.record_provider_refund(
            provider, parsed, store=store, policy=load_policy(settings.return_policy_parameter), now=now
        )
    except Unprocessable as refused:  # e.g. not in the payment's currency: for ops, not a retry loop
        logger.error(
            "outside refund not recorded", extra={"event_id": parsed.event_id, "error": str(refused)}
        )
        return "unknown"
    if status == "unchanged":
        # Recorded meanwhile (another event of the same refund): this one may move it on.
        rma, key = _movement(provider, parsed)
        status = _apply(rma, key, parsed, now) if rma and key else status
    if status == "unknown":
        logger.info(
            "refund of an unknown payment",
            extra={"event_id": parsed.event_id, "payment_reference": parsed.payment_reference},
        )
    return status


def _count(status: str, parsed: RefundUpdate) -> None:
    metrics.add_metric(
        name="PaymentWebhooksApplied" if status in ("applied", "recorded") else "PaymentWebhooksSkipped",
        unit="Count",
        value=1,
    )
    if status == "applied" and parsed.status in ("failed", "canceled"):
        metrics.add_metric(name="RefundsFailed", unit="Count", value=1)


def _verify(source: PaymentWebhookSource, body: bytes, now: datetime) -> None:
    """401 unless the body is signed with one of the provider's active secrets."""
    secrets = payment_webhook_secrets(settings, source.name)
    if not secrets:
        logger.error(f"{source.name} webhook secret not configured")
        raise WebhookSignatureInvalid(
            source.name, "not_configured", "Webhooks from this provider are not enabled"
        )
    try:
        source.verify(body, app.current_event.headers, secrets, now=now)
    except WebhookSignatureInvalid as rejected:
        metrics.add_metric(name="PaymentWebhooksRejected", unit="Count", value=1)
        logger.warning("payment webhook signature rejected", extra={"reason": rejected.reason})
        raise


def _movement(provider: str, parsed: RefundUpdate) -> tuple[str, str]:
    """(rma, movement key) the refund belongs to, ("", "") for a refund Homeward did not make."""
    rma = parsed.metadata.get("homeward_rma", "")
    key = parsed.metadata.get("homeward_key", "")
    if not (rma and key) and parsed.refund_id:
        # Stripe sends some events of our refunds without our metadata: find the movement by
        # the refund id stored when Homeward created the refund.
        rma, key = store.movement_for_provider_refund(provider, parsed.refund_id) or ("", "")
    return rma, key


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
