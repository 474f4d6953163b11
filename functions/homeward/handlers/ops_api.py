"""OpsApiFunction: the merchant's team reviews, inspects and manages returns.

Authenticated like the merchant API (the merchant API key). `X-Actor` names the person
acting (e.g. their email); it goes on the audit timeline.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.returns import ReturnsTable
from homeward.adapters.policy import load_policy
from homeward.config import OpsApiSettings, load_settings
from homeward.domain import return_service
from homeward.domain.states import Actor, ParcelState
from homeward.errors import Conflict, Unprocessable
from homeward.handlers.api import (
    ERROR_RESPONSES,
    IdempotencyKey,
    OrderIdPath,
    RmaPath,
    api_key_gate,
    create_app,
    error_docs,
)
from homeward.models.returns import (
    CancelRequest,
    NoteRequest,
    OpsReturn,
    ReceiveRequest,
    RejectRequest,
    ReturnPage,
    ReturnRequest,
    ReturnSummary,
)
from homeward.models.tracking import WebhookEntry, WebhookPage
from homeward.observability import logger, metrics

settings = load_settings(OpsApiSettings)
store = ReturnsTable(client("dynamodb"), settings.table_name)
app = create_app(
    max_body_bytes=settings.max_body_bytes, before_validation=[api_key_gate(settings.merchant_api_key_secret)]
)

ActorHeader = Annotated[
    str | None, Header(alias="x-actor", max_length=200, description="Who is acting, for the audit timeline")
]
StatusQuery = Annotated[ParcelState, Query(description="Which status to list")]
ERRORS = {
    **error_docs({401: "Missing or invalid API key", 404: "No such return", 409: "Illegal now"}),
    **ERROR_RESPONSES,
}
TAGS = ["Ops"]


def _now() -> datetime:
    return datetime.now(UTC)


def _view(record, timeline) -> OpsReturn:
    return OpsReturn(record=record, timeline=timeline)


def _decode_cursor(cursor: str | None) -> dict | None:
    if not cursor:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError) as exc:
        raise Unprocessable("Invalid cursor", details={"reason": "invalid_cursor"}) from exc


@app.get(
    "/ops/returns", summary="List returns by status and date (newest first)", tags=TAGS, responses=ERRORS
)
def list_returns(
    status: StatusQuery,
    since: Annotated[datetime | None, Query(alias="from", description="Created at or after")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="Created at or before")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> ReturnPage:
    rows, last = store.returns_by_status(
        status.value, since=since, until=until, limit=limit, cursor=_decode_cursor(cursor)
    )
    next_cursor = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
    return ReturnPage(returns=[ReturnSummary.model_validate(r) for r in rows], next_cursor=next_cursor)


@app.get(
    "/ops/returns/<rma>", summary="A return in full, with its audit timeline", tags=TAGS, responses=ERRORS
)
def get_return(rma: RmaPath) -> OpsReturn:
    return _view(*return_service.get_return(rma, store=store))


def _act(rma: str, action: str, actor: str | None, note: str | None = None) -> OpsReturn:
    record, timeline = return_service.act(
        rma, action, store=store, actor=Actor.OPS, actor_id=actor, now=_now(), note=note
    )
    metrics.add_metric(name="ReturnTransitions", unit="Count", value=1)
    metrics.add_metadata(key="action", value=action)
    logger.info("ops action", extra={"rma": rma, "action": action, "status": record.status})
    return _view(record, timeline)


@app.post(
    "/ops/returns/<rma>/approve", summary="Approve a return waiting for review", tags=TAGS, responses=ERRORS
)
def approve(rma: RmaPath, x_actor: ActorHeader = None) -> OpsReturn:
    return _act(rma, "approve", x_actor)


@app.post("/ops/returns/<rma>/reject", summary="Reject a return, with a reason", tags=TAGS, responses=ERRORS)
def reject(rma: RmaPath, request: RejectRequest, x_actor: ActorHeader = None) -> OpsReturn:
    return _act(rma, "reject", x_actor, note=request.reason)


@app.post("/ops/returns/<rma>/cancel", summary="Cancel a return", tags=TAGS, responses=ERRORS)
def cancel(rma: RmaPath, request: CancelRequest, x_actor: ActorHeader = None) -> OpsReturn:
    return _act(rma, "cancel", x_actor, note=request.reason)


@app.post(
    "/ops/returns/<rma>/retry-label",
    summary="Ask for the label again after the carrier refused it (needs_attention -> approved)",
    tags=TAGS,
    responses=ERRORS,
)
def retry_label(rma: RmaPath, x_actor: ActorHeader = None) -> OpsReturn:
    return _act(rma, "retry_label", x_actor)


@app.post(
    "/ops/returns/<rma>/receive",
    summary="Receive and inspect: quantity, grade (a-d) and disposition per line",
    tags=TAGS,
    responses=ERRORS,
)
def receive(rma: RmaPath, inspection: ReceiveRequest, x_actor: ActorHeader = None) -> OpsReturn:
    record, timeline = return_service.receive(rma, inspection, store=store, actor_id=x_actor, now=_now())
    metrics.add_metric(name="ReturnTransitions", unit="Count", value=1)
    metrics.add_metadata(key="action", value="receive")
    return _view(record, timeline)


@app.post("/ops/returns/<rma>/notes", summary="Add a note to the timeline", tags=TAGS, responses=ERRORS)
def add_note(rma: RmaPath, request: NoteRequest, x_actor: ActorHeader = None) -> OpsReturn:
    record, timeline = return_service.add_note(
        rma, request.note, shopper_visible=request.shopper_visible, store=store, actor_id=x_actor, now=_now()
    )
    return _view(record, timeline)


@app.post(
    "/ops/orders/<orderId>/returns",
    summary="File a return on a shopper's behalf",
    description="Same rules as the portal, without automatic review (staff already reviewed it).",
    tags=TAGS,
    responses={201: {"description": "Created"}, 200: {"description": "Idempotent replay"}, **ERRORS},
)
def file_return(
    order_id: OrderIdPath,
    request: ReturnRequest,
    idempotency_key: IdempotencyKey = None,
    x_actor: ActorHeader = None,
) -> Response[OpsReturn]:
    record, timeline, created = return_service.start_return(
        order_id,
        request,
        idempotency_key=idempotency_key,
        store=store,
        policy=load_policy(settings.return_policy_parameter),
        filed_by=Actor.OPS,
        actor_id=x_actor,
        now=_now(),
    )
    return Response(
        status_code=201 if created else 200, content_type="application/json", body=_view(record, timeline)
    )


# ---- webhook inbox: parked, failed and stuck events, and their replay ------------------------

WebhookIdPath = Annotated[
    str,
    Path(
        alias="webhookId",
        pattern=r"^(easypost|shippo|aftership|generic)-[0-9a-f]{32}$",
        description="From the webhook list",
    ),
]
WEBHOOK_TAGS = ["Ops: webhooks"]
WEBHOOK_ERRORS = {
    **error_docs({401: "Missing or invalid API key", 404: "No such webhook event", 409: "Already applied"}),
    **ERROR_RESPONSES,
}


@cache
def _tracking_store():
    # Imported on first use: most ops calls are about returns.
    from homeward.adapters.dynamodb.tracking import TrackingTable

    return TrackingTable(client("dynamodb"), settings.table_name)


def _entry(entry) -> WebhookEntry:
    return WebhookEntry.model_validate({k: v for k, v in asdict(entry).items() if k != "body"})


@app.get(
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
    before = _now() - timedelta(minutes=older_than_minutes) if older_than_minutes is not None else None
    rows, last = _tracking_store().list_webhooks(
        status, limit=limit, cursor=_decode_cursor(cursor), received_before=before
    )
    next_cursor = base64.urlsafe_b64encode(json.dumps(last).encode()).decode() if last else None
    return WebhookPage(items=[_entry(r) for r in rows], next_cursor=next_cursor)


@app.get(
    "/ops/webhooks/<webhookId>",
    summary="One stored webhook event",
    tags=WEBHOOK_TAGS,
    responses=WEBHOOK_ERRORS,
)
def get_webhook(webhook_id: WebhookIdPath) -> WebhookEntry:
    return _entry(_tracking_store().get_webhook(webhook_id))


@app.post(
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
    store_ = _tracking_store()
    entry = store_.get_webhook(webhook_id)
    if not store_.redrive(webhook_id, now=_now(), actor=f"ops:{x_actor or 'unknown'}"):
        raise Conflict(
            f"The event is {entry.status}; only parked, failed or received events can be replayed",
            details={"reason": "not_replayable", "current_status": entry.status},
        )
    logger.info("webhook replayed", extra={"webhook_id": webhook_id, "was": entry.status})
    return Response(202, "application/json", _entry(store_.get_webhook(webhook_id)))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
