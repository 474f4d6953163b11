"""Ops: refunds by hand, retries, exchanges and the refund export (`Ops: refunds`)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Response, Router
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query

from homeward.adapters.policy import load_policy
from homeward.errors import Unprocessable
from homeward.handlers.api import ERROR_RESPONSES, IDEMPOTENCY_KEY_PATTERN, RmaPath, error_docs
from homeward.handlers.ops.shared import ActorHeader, now, refund_store, settings
from homeward.models.refunds import (
    ExchangeRequest,
    ManualRefundDecision,
    ManualRefundRequest,
    MoneyMovementAccepted,
    OutsideRefundRequest,
    RetryRequest,
)
from homeward.observability import logger, metrics

router = Router()

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
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Required: a retried request returns the first result instead of refunding twice",
    ),
]
MAX_EXPORT_DAYS = 366


@cache
def _idempotent_refund():
    """(config, the refund-by-hand operation under Powertools idempotency). Only that route
    needs it: the import costs ~25 ms, which retry, exchange and export do not pay."""
    from homeward.adapters.dynamodb.idempotency import Idempotency

    once = Idempotency(
        settings.table_name,
        "ops-refunds",
        event_key_jmespath="[rma, key]",
        payload_validation_jmespath="request",
        expires_after_seconds=settings.idempotency_ttl_seconds,
    )

    @once.function(data_keyword_argument="command")
    def refund_by_hand(command: dict) -> dict:
        from homeward.domain.refunds import service as refund_service

        record, left = refund_service.refund_by_hand(
            command["rma"],
            ManualRefundRequest.model_validate(command["request"]),
            intent_key=command["key"],
            actor_id=command["actor"],
            store=refund_store(),
            policy=load_policy(settings.return_policy_parameter),
            now=now(),
        )
        return _accepted(record, left).model_dump(mode="json")

    return once.config, refund_by_hand


def _accepted(record, left: int) -> MoneyMovementAccepted:
    return MoneyMovementAccepted(
        rma=record.rma,
        money_status=record.money_status,
        movements=record.refund.movements if record.refund else [],
        remaining=left,
    )


@router.post(
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
    from homeward.adapters.dynamodb.idempotency import call_once

    config, refund = _idempotent_refund()
    config.register_lambda_context(router.lambda_context)
    command = {
        "rma": rma,
        "key": idempotency_key,
        "actor": x_actor,
        "request": request.model_dump(mode="json"),
    }
    body = call_once(refund, command=command)
    metrics.add_metric(name="ManualRefunds", unit="Count", value=1)
    logger.info("manual refund planned", extra={"rma": rma, "kind": request.kind, "amount": request.amount})
    return Response(202, "application/json", MoneyMovementAccepted.model_validate(body))


@router.post(
    "/ops/returns/<rma>/refunds/retry",
    summary="Retry failed refunds (new provider keys), or give store credit instead",
    tags=REFUND_TAGS,
    responses={202: {"description": "Planned"}, **REFUND_ERRORS},
)
def retry_refunds(
    rma: RmaPath, request: RetryRequest, x_actor: ActorHeader = None
) -> Response[MoneyMovementAccepted]:
    from homeward.domain.refunds import service as refund_service

    record, left = refund_service.retry_failed(
        rma,
        as_store_credit=request.as_store_credit,
        note=request.reason,
        actor_id=x_actor,
        store=refund_store(),
        now=now(),
    )
    metrics.add_metric(name="RefundRetries", unit="Count", value=1)
    return Response(202, "application/json", _accepted(record, left))


@router.post(
    "/ops/returns/<rma>/refunds/outside",
    summary="Record a refund made outside Homeward (a dashboard, the shop's admin, a bank transfer)",
    description=(
        "Counted on the payment's ledger like Homeward's own refunds, so nothing is ever refunded "
        "past what was captured; shown on the timeline (`refund.recorded_outside`). Once per "
        "`reference` on the order: the same data again answers 200 with nothing recorded twice, "
        "other data under the reference 409. 422 above what the payment can still give back "
        "(`details.remaining`) or in another currency; 404 for a payment the order does not have."
    ),
    tags=REFUND_TAGS,
    responses={
        201: {"description": "Recorded"},
        200: {"description": "Already recorded with the same data"},
        **REFUND_ERRORS,
    },
)
def record_outside_refund(
    rma: RmaPath, request: OutsideRefundRequest, x_actor: ActorHeader = None
) -> Response[MoneyMovementAccepted]:
    from homeward.domain.refunds import service as refund_service
    from homeward.domain.refunds.outside import OutsideRefund

    refund = OutsideRefund(
        reference=request.reference,
        payment_id=request.payment_id,
        amount=request.amount,
        currency=request.currency,
        at=datetime.combine(request.refunded_on, datetime.min.time(), tzinfo=UTC),
        actor_id=x_actor,
        note=request.note,
    )
    record, left, created = refund_service.record_outside(
        rma, refund, store=refund_store(), policy=load_policy(settings.return_policy_parameter), now=now()
    )
    if created:
        metrics.add_metric(name="OutsideRefundsRecorded", unit="Count", value=1)
    logger.info("outside refund", extra={"rma": rma, "amount": request.amount, "recorded": created})
    return Response(201 if created else 200, "application/json", _accepted(record, left))


SeqPath = Annotated[int, Path(ge=1, le=9999, description="The refund's movement `seq` on the return")]


def _decide(
    rma: str, seq: int, *, reference: str | None, note: str | None
) -> Response[MoneyMovementAccepted]:
    from homeward.domain.refunds import service as refund_service

    record, left = refund_service.decide_by_hand(
        rma,
        seq,
        reference=reference,
        note=note,
        store=refund_store(),
        policy=load_policy(settings.return_policy_parameter),
        now=now(),
    )
    return Response(200, "application/json", _accepted(record, left))


@router.post(
    "/ops/returns/<rma>/refunds/<seq>/confirm",
    summary="Confirm a refund of a `manual` payment: the money was sent, with its reference",
    description=(
        "The refund (waiting in `requires_action`) succeeds with `reference` as its refund id; the "
        "return closes when its money is settled. The same confirmation again is a replay; 409 if it "
        "was decided otherwise or is not a `manual` refund."
    ),
    tags=REFUND_TAGS,
    responses={200: {"description": "Confirmed"}, **REFUND_ERRORS},
)
def confirm_manual_refund(
    rma: RmaPath, seq: SeqPath, request: ManualRefundDecision, x_actor: ActorHeader = None
) -> Response[MoneyMovementAccepted]:
    if not request.reference:
        raise Unprocessable(
            "A confirmation needs the transfer's `reference`", details={"reason_codes": ["reference"]}
        )
    logger.info("manual refund confirmed", extra={"rma": rma, "seq": seq, "actor": x_actor})
    return _decide(rma, seq, reference=request.reference, note=request.note)


@router.post(
    "/ops/returns/<rma>/refunds/<seq>/fail",
    summary="Fail a refund of a `manual` payment: the money was not sent",
    description=(
        "The refund fails and its reservation goes back to the payment (retry it, or give store "
        "credit, with `POST /ops/returns/{rma}/refunds/retry`). 409 if it was decided otherwise."
    ),
    tags=REFUND_TAGS,
    responses={200: {"description": "Failed"}, **REFUND_ERRORS},
)
def fail_manual_refund(
    rma: RmaPath, seq: SeqPath, request: ManualRefundDecision, x_actor: ActorHeader = None
) -> Response[MoneyMovementAccepted]:
    logger.info("manual refund failed", extra={"rma": rma, "seq": seq, "actor": x_actor})
    return _decide(rma, seq, reference=None, note=request.note)


@router.post(
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

    record, left = refund_service.settle_exchange(
        rma,
        request,
        actor_id=x_actor,
        store=refund_store(),
        policy=load_policy(settings.return_policy_parameter),
        now=now(),
    )
    return Response(202, "application/json", _accepted(record, left))


@router.get(
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
    from homeward.handlers.ops.refunds_csv import refunds_csv

    if until < since or (until - since).days >= MAX_EXPORT_DAYS:
        raise Unprocessable(
            f"`to` must be on or after `from` and the range at most {MAX_EXPORT_DAYS} days",
            details={"reason_codes": ["bad_range"]},
        )
    start = datetime.combine(since, datetime.min.time(), tzinfo=UTC)
    end = datetime.combine(until + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    filename = f"homeward-refunds-{since.isoformat()}-{until.isoformat()}.csv"
    return Response(
        200,
        "text/csv; charset=utf-8",
        refunds_csv(refund_store().movements_between(start, end)),
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
