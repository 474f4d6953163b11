"""OpsApiFunction: the merchant's team reviews, inspects and manages returns.

Authenticated like the merchant API (the merchant API key). `X-Actor` names the person
acting (e.g. their email); it goes on the audit timeline.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.returns import ReturnsTable
from homeward.adapters.policy import load_policy
from homeward.config import OpsApiSettings, load_settings
from homeward.domain.returns import service as return_service
from homeward.domain.returns.states import Actor, ReturnStatus
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
from homeward.models.refunds import ExchangeRequest, ManualRefundRequest, MoneyMovementAccepted, RetryRequest
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
from homeward.providers.registry import WEBHOOK_ID_PATTERN

settings = load_settings(OpsApiSettings)
store = ReturnsTable(client("dynamodb"), settings.table_name)
app = create_app(
    max_body_bytes=settings.max_body_bytes, before_validation=[api_key_gate(settings.merchant_api_key_secret)]
)

ActorHeader = Annotated[
    str | None, Header(alias="x-actor", max_length=200, description="Who is acting, for the audit timeline")
]
StatusQuery = Annotated[ReturnStatus, Query(description="Which return status to list (a return's `status`)")]
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


# ---- refunds: by hand, retries and the export ---------------------------------------------

REFUND_TAGS = ["Ops: refunds"]
REFUND_ERRORS = {
    **error_docs(
        {
            401: "Missing or invalid API key",
            404: "No such return",
            409: "More than remains to be refunded (details.remaining), nothing to retry, or in progress",
            422: "Another currency, or the Idempotency-Key was used with another body",
        }
    ),
    **ERROR_RESPONSES,
}
RequiredIdempotencyKey = Annotated[
    str,
    Header(
        alias="idempotency-key",
        pattern=r"^[A-Za-z0-9._:\-]{8,128}$",
        description="Required: a retried request returns the first result instead of refunding twice",
    ),
]


@cache
def _refund_store():
    # Imported on first use: most ops calls are about returns.
    from homeward.adapters.dynamodb.refunds import RefundsTable

    return RefundsTable(client("dynamodb"), settings.table_name)


@cache
def _idempotent_refund():
    """(config, the refund-by-hand operation under Powertools idempotency). Only that route
    needs it: the import costs ~25 ms, which retry, exchange and export do not pay."""
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    config = IdempotencyConfig(
        event_key_jmespath="[rma, key]",
        payload_validation_jmespath="request",
        expires_after_seconds=settings.idempotency_ttl_seconds,
    )
    persistence = DynamoDBPersistenceLayer(
        table_name=settings.table_name,
        key_attr="pk",
        sort_key_attr="sk",
        static_pk_value="IDEMPOTENCY#ops-refunds",
        expiry_attr="expires_at",
        boto3_client=client("dynamodb"),
    )

    @idempotent_function(data_keyword_argument="command", config=config, persistence_store=persistence)
    def refund_by_hand(command: dict) -> dict:
        from homeward.domain.refunds import service as refund_service
        from homeward.models.refunds import ManualRefundRequest

        record, left = refund_service.refund_by_hand(
            command["rma"],
            ManualRefundRequest.model_validate(command["request"]),
            intent_key=command["key"],
            actor_id=command["actor"],
            store=_refund_store(),
            policy=load_policy(settings.return_policy_parameter),
            now=_now(),
        )
        return _accepted(record, left).model_dump(mode="json")

    return config, refund_by_hand


def _accepted(record, left: int):
    from homeward.models.refunds import MoneyMovementAccepted

    return MoneyMovementAccepted(
        rma=record.rma,
        money_status=record.money_status,
        movements=record.refund.movements if record.refund else [],
        remaining=left,
    )


@app.post(
    "/ops/returns/<rma>/refunds",
    summary="Refund or credit by hand, with a reason",
    description=(
        "`kind` refund: reserved on the order's payments now and sent to the provider by "
        "RefundsFunction; store_credit: issued at once. At most what remains refundable "
        "(409 with `remaining`); the return's currency only (422). Requires `Idempotency-Key`."
    ),
    tags=REFUND_TAGS,
    responses={202: {"description": "Planned"}, **REFUND_ERRORS},
)
def refund_by_hand(
    rma: RmaPath,
    request: ManualRefundRequest,
    idempotency_key: RequiredIdempotencyKey,
    x_actor: ActorHeader = None,
) -> Response[MoneyMovementAccepted]:
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    config, refund = _idempotent_refund()
    config.register_lambda_context(app.lambda_context)
    command = {
        "rma": rma,
        "key": idempotency_key,
        "actor": x_actor,
        "request": request.model_dump(mode="json"),
    }
    try:
        body = refund(command=command)
    except IdempotencyValidationError:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request",
            details={"reason": "idempotency_key_reused"},
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            "The same request is being handled right now", details={"reason": "in_progress"}
        ) from None
    metrics.add_metric(name="ManualRefunds", unit="Count", value=1)
    logger.info("manual refund planned", extra={"rma": rma, "kind": request.kind, "amount": request.amount})
    return Response(202, "application/json", MoneyMovementAccepted.model_validate(body))


@app.post(
    "/ops/returns/<rma>/refunds/retry",
    summary="Retry failed refunds (new provider keys), or give store credit instead",
    tags=REFUND_TAGS,
    responses={202: {"description": "Planned"}, **REFUND_ERRORS},
)
def retry_refunds(
    rma: RmaPath, request: RetryRequest, x_actor: ActorHeader = None
) -> Response[MoneyMovementAccepted]:
    from homeward.domain.refunds import service as refund_service

    refunds_store = _refund_store()
    record, left = refund_service.retry_failed(
        rma,
        as_store_credit=request.as_store_credit,
        note=request.reason,
        actor_id=x_actor,
        store=refunds_store,
        now=_now(),
    )
    metrics.add_metric(name="RefundRetries", unit="Count", value=1)
    return Response(202, "application/json", _accepted(record, left))


@app.post(
    "/ops/returns/<rma>/exchange",
    summary="Settle an exchange: the replacement order's price difference refunded or owed",
    description=(
        "After the refund trigger valued the exchanged items: a cheaper replacement refunds the "
        "difference to the order's payments (sent by RefundsFunction), a dearer one emits "
        "`exchange.payment_due` with what the shopper owes. Once per return."
    ),
    tags=REFUND_TAGS,
    responses={202: {"description": "Settled"}, **REFUND_ERRORS},
)
def settle_exchange(
    rma: RmaPath, request: ExchangeRequest, x_actor: ActorHeader = None
) -> Response[MoneyMovementAccepted]:
    from homeward.domain.refunds import service as refund_service

    refunds_store = _refund_store()
    record, left = refund_service.settle_exchange(
        rma,
        request,
        actor_id=x_actor,
        store=refunds_store,
        policy=load_policy(settings.return_policy_parameter),
        now=_now(),
    )
    return Response(202, "application/json", _accepted(record, left))


CSV_COLUMNS = [
    "created_at",
    "updated_at",
    "settled_at",
    "rma",
    "order_id",
    "seq",
    "kind",
    "trigger",
    "status",
    "amount_minor",
    "currency",
    "provider",
    "payment_id",
    "provider_refund_id",
    "credit_code",
    "failure_reason",
    "reason",
    "actor",
    "actor_id",
    "idempotency_key",
]
MAX_EXPORT_DAYS = 366


@app.get(
    "/ops/refunds/export",
    summary="Refunds and store credits created in a date range, as CSV",
    description=(
        "Every money movement created from `from` (inclusive) to `to` (inclusive), oldest first, "
        f"at most {MAX_EXPORT_DAYS} days. Amounts in minor units with their currency."
    ),
    tags=REFUND_TAGS,
    responses={200: {"description": "text/csv", "content": {"text/csv": {}}}, **REFUND_ERRORS},
)
def export_refunds(
    since: Annotated[date, Query(alias="from", description="First day (UTC)")],
    until: Annotated[date, Query(alias="to", description="Last day (UTC)")],
) -> Response[str]:
    import csv
    import io

    if until < since or (until - since).days >= MAX_EXPORT_DAYS:
        raise Unprocessable(
            f"`to` must be on or after `from` and the range at most {MAX_EXPORT_DAYS} days",
            details={"reason_codes": ["bad_range"]},
        )
    refunds_store = _refund_store()
    start = datetime.combine(since, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    rows = refunds_store.movements_between(start, end)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        m = row["movement"]
        writer.writerow(
            [
                m.created_at.isoformat(),
                m.updated_at.isoformat(),
                m.settled_at.isoformat() if m.settled_at else "",
                row["rma"],
                row["order_id"],
                m.seq,
                m.kind,
                m.trigger,
                m.status,
                m.amount,
                m.currency,
                m.provider,
                m.payment_id or "",
                m.provider_refund_id or "",
                m.credit_code or "",
                m.failure_reason or "",
                _csv_safe(m.reason or ""),
                m.actor,
                _csv_safe(m.actor_id or ""),
                m.idempotency_key,
            ]
        )
    filename = f"homeward-refunds-{since.isoformat()}-{until.isoformat()}.csv"
    return Response(
        200,
        "text/csv; charset=utf-8",
        out.getvalue(),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _csv_safe(text: str) -> str:
    """Free text opened in a spreadsheet must not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


# ---- webhook inbox: parked, failed and stuck events, and their replay ------------------------

WebhookIdPath = Annotated[
    str,
    Path(
        alias="webhookId",
        pattern=WEBHOOK_ID_PATTERN,
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
