"""Ops: the webhook inbox's parked, failed and stuck events, and their replay (`Ops: webhooks`)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Response, Router
from aws_lambda_powertools.event_handler.openapi.params import Path, Query

from homeward.errors import Conflict
from homeward.handlers.api import ERROR_RESPONSES, error_docs
from homeward.handlers.ops.shared import ActorHeader, now, tracking_store
from homeward.models.tracking import WebhookEntry, WebhookPage
from homeward.observability import logger
from homeward.providers.registry import WEBHOOK_ID_PATTERN

router = Router()

WebhookIdPath = Annotated[
    str,
    Path(
        alias="webhookId",
        pattern=WEBHOOK_ID_PATTERN,  # `<tracking source>-<32 hex>`, from the provider registry
        description="From the webhook list",
    ),
]
WEBHOOK_TAGS = ["Ops: webhooks"]
WEBHOOK_ERRORS = {
    **error_docs({401: "Missing or invalid API key", 404: "No such webhook event", 409: "Already applied"}),
    **ERROR_RESPONSES,
}


def _entry(entry) -> WebhookEntry:
    return WebhookEntry.model_validate({k: v for k, v in asdict(entry).items() if k != "body"})


@router.get(
    "/ops/webhooks",
    summary="Webhook events that need a look: parked, failed or stuck in received",
    description=(
        "`parked`: no parcel with that tracking number yet (re-driven automatically when one is "
        "registered). `failed`: could not be applied as sent. `received`: not applied yet; with "
        "`older_than_minutes` these are the events whose processing gave up (the stream's retries "
        "ran out). Newest first."
    ),
    tags=WEBHOOK_TAGS,
    responses=WEBHOOK_ERRORS,
)
def list_webhooks(
    status: Annotated[Literal["parked", "failed", "received"], Query(description="Which events")],
    older_than_minutes: Annotated[int | None, Query(ge=0, le=100_000)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> WebhookPage:
    before = now() - timedelta(minutes=older_than_minutes) if older_than_minutes is not None else None
    rows, next_cursor = tracking_store().list_webhooks(
        status, limit=limit, cursor=cursor, received_before=before
    )
    return WebhookPage(items=[_entry(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/ops/webhooks/<webhookId>",
    summary="One stored webhook event",
    tags=WEBHOOK_TAGS,
    responses=WEBHOOK_ERRORS,
)
def get_webhook(webhook_id: WebhookIdPath) -> WebhookEntry:
    return _entry(tracking_store().get_webhook(webhook_id))


@router.post(
    "/ops/webhooks/<webhookId>/replay",
    summary="Re-drive a parked, failed or stuck webhook event",
    description=(
        "The event goes back to `received` and is applied again from the stream; an applied event "
        "is refused with 409, so nothing is applied twice."
    ),
    tags=WEBHOOK_TAGS,
    responses={
        202: {"description": "Queued again", "content": {"application/json": {"model": WebhookEntry}}},
        **WEBHOOK_ERRORS,
    },
)
def replay_webhook(webhook_id: WebhookIdPath, x_actor: ActorHeader = None) -> Response[WebhookEntry]:
    store_ = tracking_store()
    entry = store_.get_webhook(webhook_id)
    if not store_.redrive(webhook_id, now=now(), actor=f"ops:{x_actor or 'unknown'}"):
        raise Conflict(
            f"The event is {entry.status}; only parked, failed or received events can be replayed",
            details={"reason": "not_replayable", "current_status": entry.status},
        )
    logger.info("webhook replayed", extra={"webhook_id": webhook_id, "was": entry.status})
    return Response(202, "application/json", _entry(store_.get_webhook(webhook_id)))
