"""TrackingFunction: the table's stream -> parcels and returns move.

Three kinds of records reach it (the template's FilterCriteria lets nothing else through):

* a webhook inbox item in `received` (new, or re-driven by a replay): apply it;
* a new shipment item: re-drive the events parked for its tracking number;
* an order whose shipments changed: register its outbound parcels.

Failures are reported per record (partial batch response) so Lambda retries only those;
after the retries, the batch's position goes to the stream's failure queue and the inbox
item stays `received`, where ops find it (`GET /ops/webhooks?status=received`) and replay it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from homeward.adapters.aws import client
from homeward.adapters.dynamodb import keys
from homeward.adapters.dynamodb.tracking import TrackingTable
from homeward.config import TrackingSettings, load_settings
from homeward.domain.tracking import service as tracking_service
from homeward.observability import logger, metrics
from homeward.providers.tracking_sources import parse_webhook

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

settings = load_settings(TrackingSettings)
store = TrackingTable(client("dynamodb"), settings.table_name)
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)

# "history": applied to the parcel's history without moving its status (an older scan).
OUTCOME_METRICS = {
    "applied": "TrackingEventsApplied",
    "history": "TrackingEventsApplied",
    "parked": "TrackingEventsParked",
    "failed": "TrackingEventsFailed",
}


def handle(record: DynamoDBRecord) -> None:
    change = record.dynamodb
    image = (change.new_image if change else None) or {}
    entity = image.get("entity")
    now = datetime.now(UTC)
    if entity == "webhook" and image.get("status") == "received":
        _apply_webhook(image, now)
    elif entity == "shipment" and record.get("eventName") == "INSERT":
        _redrive_parked(image, now)
    elif entity == "order":
        old = (change.old_image if change else None) or {}
        _register_outbound(old, image, now)


def _apply_webhook(image: dict[str, Any], now: datetime) -> None:
    """A webhook inbox item in `received` (new, or re-driven by a replay): apply it."""
    stored = tracking_service.StoredWebhook(
        webhook_id=keys.webhook_id_from(image["pk"]),
        provider=image["provider"],
        event_id=image["event_id"],
        body=image["body"],
        received_at=image["received_at"],
    )
    outcome = tracking_service.apply_webhook(stored, store=store, parse=parse_webhook, now=now)
    metrics.add_metric(name=OUTCOME_METRICS.get(outcome, "TrackingEventsSkipped"), unit="Count", value=1)
    logger.info(
        "webhook applied",
        extra={"webhook_id": stored.webhook_id, "provider": stored.provider, "outcome": outcome},
    )


def _redrive_parked(image: dict[str, Any], now: datetime) -> None:
    """A new shipment: re-drive the events parked for its tracking number."""
    redriven = tracking_service.redrive_parked(image["tracking_number"], store=store, now=now)
    metrics.add_metric(name="TrackingEventsRedriven", unit="Count", value=redriven)
    if redriven:
        logger.info(
            "parked events re-driven",
            extra={"tracking_number": image["tracking_number"], "count": redriven},
        )


def _register_outbound(old: dict[str, Any], image: dict[str, Any], now: datetime) -> None:
    """An order whose shipments changed: register its outbound parcels."""
    if old.get("shipments_key") == image.get("shipments_key"):
        # Another part of the order changed (e.g. a return reserved units).
        metrics.add_metric(name="ParcelsRegistered", unit="Count", value=0)
        return
    shipments = [
        (s["tracking_number"], s.get("carrier")) for s in json.loads(image["doc"]).get("shipments", [])
    ]
    order_id = keys.order_id_from(image["pk"])
    counts = tracking_service.register_order_shipments(order_id, shipments, store=store, now=now)
    metrics.add_metric(name="ParcelsRegistered", unit="Count", value=counts["registered"])
    if counts["taken"]:
        logger.warning("tracking number registered to another order", extra={"order_id": order_id, **counts})
    logger.info("outbound parcels registered", extra={"order_id": order_id, **counts})


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
