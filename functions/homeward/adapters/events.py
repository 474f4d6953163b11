"""Publishing domain events to SNS, with attributes subscribers can filter on."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from homeward.adapters.dynamodb import keys
from homeward.errors import DependencyFailed


def event_attributes(image: dict) -> dict[str, str]:
    """The message attributes of one event item (a deserialized stream image).

    Deduplication downstream uses `event_id`: the subject (RMA or tracking number) plus the
    item's sequence is unique and stable across stream retries.
    """
    attributes = {
        "type": image["type"],
        "event_id": keys.event_id_from(image["pk"], image["sk"]),
        "order_id": image["order_id"],
        "status": image["status"],
    }
    # Parcel events of outbound shipments have no RMA; return events have no tracking number.
    for optional in ("rma", "tracking_number"):
        if image.get(optional):
            attributes[optional] = image[optional]
    return attributes


def publish_event(sns, topic_arn: str, image: dict) -> None:
    """Publish one event item as the event's JSON document, with `event_attributes`."""
    try:
        sns.publish(
            TopicArn=topic_arn,
            Message=image["doc"],
            Subject=image["type"][:99],
            MessageAttributes={
                name: {"DataType": "String", "StringValue": value}
                for name, value in event_attributes(image).items()
            },
        )
    except (ClientError, BotoCoreError) as exc:
        raise DependencyFailed(f"publish {image['type']}") from exc
