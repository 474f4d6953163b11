"""LabelsFunction: buys, stores and voids return labels, from the domain events queue.

The queue is subscribed to the DomainEvents topic for `return.approved`,
`return.label_requested` (ops retry) and `return.cancelled` (void an unused label).
Each message is handled on its own (partial batch response); a transient failure gets an
exponential visibility backoff, and after the queue's receive limit the message goes to
the dead-letter queue for replay.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.returns import LabelClaims
from homeward.adapters.policy import load_policy
from homeward.adapters.queues import back_off
from homeward.adapters.storage import LabelFiles
from homeward.config import LabelsSettings, load_settings
from homeward.domain.labels import service as labels
from homeward.domain.labels.ports import Carrier, CarrierUnavailable
from homeward.errors import DependencyFailed
from homeward.observability import logger, metrics
from homeward.providers.carriers import configured_carrier

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

settings = load_settings(LabelsSettings)
store = LabelClaims(client("dynamodb"), settings.table_name)
files = LabelFiles(settings.labels_bucket)
processor = BatchProcessor(event_type=EventType.SQS)

BUY = {"return.approved", "return.label_requested"}


def carrier(name: str) -> Carrier:
    return configured_carrier(name, settings)


def _attribute(record: SQSRecord, name: str) -> str:
    """A string attribute every domain event message carries; a message without it fails."""
    attribute = record.message_attributes[name]
    if attribute is None or attribute.string_value is None:
        raise ValueError(f"the message has no {name!r} attribute")
    return attribute.string_value


def handle(record: SQSRecord) -> None:
    event_type = _attribute(record, "type")
    rma = _attribute(record, "rma")
    policy = load_policy(settings.return_policy_parameter)
    now = datetime.now(UTC)
    try:
        if event_type in BUY:
            outcome = labels.issue_label(
                rma, store=store, carrier=carrier(policy.label.carrier), files=files, policy=policy, now=now
            )
        elif event_type == "return.cancelled":
            outcome = labels.void_cancelled(rma, store=store, carrier_for=carrier, now=now)
        else:
            outcome = "ignored"
    except (CarrierUnavailable, DependencyFailed) as exc:
        back_off(record, settings.label_queue_url)
        logger.warning("label attempt failed; will retry", extra={"rma": rma, "error": exc.message})
        raise
    metrics.add_metric(name="LabelOutcomes", unit="Count", value=1)
    metrics.add_metadata(key="outcome", value=outcome)
    logger.info("label event handled", extra={"rma": rma, "type": event_type, "outcome": outcome})


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
