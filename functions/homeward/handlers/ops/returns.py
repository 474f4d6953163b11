"""Ops: review, inspect and manage returns (`/ops/returns...`, `/ops/orders/{orderId}/returns`)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Response, Router
from aws_lambda_powertools.event_handler.openapi.params import Query

from homeward.adapters.policy import load_policy
from homeward.domain.returns import service as return_service
from homeward.domain.returns.states import Actor, ReturnStatus
from homeward.handlers.api import ERROR_RESPONSES, IdempotencyKey, OrderIdPath, RmaPath, error_docs
from homeward.handlers.ops.shared import ActorHeader, now, settings, store
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
from homeward.observability import logger, metrics

router = Router()

StatusQuery = Annotated[ReturnStatus, Query(description="Which return status to list (a return's `status`)")]
ERRORS = {
    **error_docs({401: "Missing or invalid API key", 404: "No such return", 409: "Illegal now"}),
    **ERROR_RESPONSES,
}
TAGS = ["Ops"]


def _view(record, timeline) -> OpsReturn:
    return OpsReturn(record=record, timeline=timeline)


@router.get(
    "/ops/returns", summary="List returns by status and date (newest first)", tags=TAGS, responses=ERRORS
)
def list_returns(
    status: StatusQuery,
    since: Annotated[datetime | None, Query(alias="from", description="Created at or after")] = None,
    until: Annotated[datetime | None, Query(alias="to", description="Created at or before")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=2000)] = None,
) -> ReturnPage:
    rows, next_cursor = store.returns_by_status(
        status.value, since=since, until=until, limit=limit, cursor=cursor
    )
    return ReturnPage(returns=[ReturnSummary.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get(
    "/ops/returns/<rma>", summary="A return in full, with its audit timeline", tags=TAGS, responses=ERRORS
)
def get_return(rma: RmaPath) -> OpsReturn:
    return _view(*return_service.get_return(rma, store=store))


def _act(rma: str, action: str, actor: str | None, note: str | None = None) -> OpsReturn:
    record, timeline = return_service.act(
        rma, action, store=store, actor=Actor.OPS, actor_id=actor, now=now(), note=note
    )
    metrics.add_metric(name="ReturnTransitions", unit="Count", value=1)
    metrics.add_metadata(key="action", value=action)
    logger.info("ops action", extra={"rma": rma, "action": action, "status": record.status})
    return _view(record, timeline)


@router.post(
    "/ops/returns/<rma>/approve", summary="Approve a return waiting for review", tags=TAGS, responses=ERRORS
)
def approve(rma: RmaPath, x_actor: ActorHeader = None) -> OpsReturn:
    return _act(rma, "approve", x_actor)


@router.post(
    "/ops/returns/<rma>/reject", summary="Reject a return, with a reason", tags=TAGS, responses=ERRORS
)
def reject(rma: RmaPath, request: RejectRequest, x_actor: ActorHeader = None) -> OpsReturn:
    return _act(rma, "reject", x_actor, note=request.reason)


@router.post("/ops/returns/<rma>/cancel", summary="Cancel a return", tags=TAGS, responses=ERRORS)
def cancel(rma: RmaPath, request: CancelRequest, x_actor: ActorHeader = None) -> OpsReturn:
    return _act(rma, "cancel", x_actor, note=request.reason)


@router.post(
    "/ops/returns/<rma>/retry-label",
    summary="Ask for the label again after the carrier refused it (needs_attention -> approved)",
    tags=TAGS,
    responses=ERRORS,
)
def retry_label(rma: RmaPath, x_actor: ActorHeader = None) -> OpsReturn:
    return _act(rma, "retry_label", x_actor)


@router.post(
    "/ops/returns/<rma>/receive",
    summary="Receive and inspect: quantity, grade (a-d) and disposition per line",
    tags=TAGS,
    responses=ERRORS,
)
def receive(rma: RmaPath, inspection: ReceiveRequest, x_actor: ActorHeader = None) -> OpsReturn:
    record, timeline = return_service.receive(rma, inspection, store=store, actor_id=x_actor, now=now())
    metrics.add_metric(name="ReturnTransitions", unit="Count", value=1)
    metrics.add_metadata(key="action", value="receive")
    return _view(record, timeline)


@router.post("/ops/returns/<rma>/notes", summary="Add a note to the timeline", tags=TAGS, responses=ERRORS)
def add_note(rma: RmaPath, request: NoteRequest, x_actor: ActorHeader = None) -> OpsReturn:
    record, timeline = return_service.add_note(
        rma, request.note, shopper_visible=request.shopper_visible, store=store, actor_id=x_actor, now=now()
    )
    return _view(record, timeline)


@router.post(
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
        now=now(),
    )
    return Response(
        status_code=201 if created else 200, content_type="application/json", body=_view(record, timeline)
    )
