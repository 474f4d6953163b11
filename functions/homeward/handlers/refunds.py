"""RefundsFunction: moves a return's money when its domain events say so.

The queue is subscribed to the DomainEvents topic for the events that can reach a refund
trigger (`return.approved`, `return.in_transit`, `return.delivered`, `return.received`) and
for planned refunds (`refund.requested`, `refund.retry_requested`). Every message runs the
same idempotent `refund_service.process(rma)`, wrapped in Powertools idempotency on the
event id, so a duplicated delivery does no work at all. A provider or table that is
unavailable fails only that message (partial batch response) with an exponential
visibility backoff; after the queue's receive limit it goes to the dead-letter queue, and
RefundSweepFunction re-drives its return's open movements anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.idempotency import Idempotency
from homeward.adapters.dynamodb.refunds import RefundsTable
from homeward.adapters.policy import load_policy
from homeward.adapters.queues import back_off
from homeward.config import PaymentsSettings, load_settings
from homeward.domain.refunds import service as refund_service
from homeward.errors import DependencyFailed
from homeward.handlers.refund_metrics import emit
from homeward.observability import logger, metrics
from homeward.providers.payments import configured_providers

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

settings = load_settings(PaymentsSettings)
store = RefundsTable(client("dynamodb"), settings.table_name)
providers = configured_providers(settings)
processor = BatchProcessor(event_type=EventType.SQS)
once = Idempotency(
    settings.table_name, "refunds", event_key_jmespath="event_id", expires_after_seconds=24 * 3600
)
idempotency = once.config


@once.function(data_keyword_argument="event")
def handle_event(event: dict) -> dict:
    outcome = refund_service.process(
        event["rma"],
        store=store,
        providers=providers,
        policy=load_policy(settings.return_policy_parameter),
        now=datetime.now(UTC),
    )
    emit(outcome)
    return dict(outcome)


def _attribute(record: SQSRecord, name: str) -> str | None:
    attribute = record.message_attributes[name]
    if attribute is None:
        raise KeyError(name)  # not one of our domain events: the record fails, like any bad input
    return attribute.string_value


def handle(record: SQSRecord) -> None:
    event = {name: _attribute(record, name) for name in ("event_id", "type", "rma")}
    try:
        outcome = handle_event(event=event)
    except DependencyFailed as exc:
        back_off(record, settings.refund_queue_url)
        logger.warning("refund attempt incomplete; will retry", extra={**event, "error": exc.message})
        raise
    logger.info("refund event handled", extra={**event, "outcome": outcome})


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context) -> PartialItemFailureResponse:
    idempotency.register_lambda_context(context)
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
