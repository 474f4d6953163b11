"""DomainEventsFunction: the table's stream -> the DomainEvents SNS topic.

Every state change writes its events (the audit timeline items) in the same transaction
as the change, so publishing from the stream can never announce a change that did not
happen, nor miss one. The template's FilterCriteria passes only new event items here.
Failed records are reported per item so Lambda retries only those; after the retries the
batch goes to the stream's failure queue for replay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from homeward.adapters.aws import client
from homeward.adapters.events import publish_event
from homeward.config import DomainEventsSettings, load_settings
from homeward.observability import logger, metrics

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

settings = load_settings(DomainEventsSettings)
sns = client("sns")
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def publish(record: DynamoDBRecord) -> None:
    image = record.dynamodb.new_image if record.dynamodb else None
    if not image or image.get("entity") != "event":
        return  # not an event item (the template's filter normally keeps these away)
    publish_event(sns, settings.domain_events_topic_arn, image)
    metrics.add_metric(name="DomainEventsPublished", unit="Count", value=1)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=publish, processor=processor, context=context)
