"""Publishing domain events to SNS, with attributes subscribers can filter on."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from homeward.errors import DependencyFailed


def publish_event(sns, topic_arn: str, image: dict) -> None:
    """Publish one event item (a deserialized stream image) as the event's JSON document.

    Deduplication downstream uses the `event_id` attribute: rma + sequence number is unique
    and stable across stream retries.
    """
    event_id = f"{image['rma']}:{image['sk'].removeprefix('EVENT#')}"
    try:
        sns.publish(
            TopicArn=topic_arn,
            Message=image["doc"],
            Subject=image["type"][:99],
            MessageAttributes={
                "type": {"DataType": "String", "StringValue": image["type"]},
                "event_id": {"DataType": "String", "StringValue": event_id},
                "rma": {"DataType": "String", "StringValue": image["rma"]},
                "order_id": {"DataType": "String", "StringValue": image["order_id"]},
                "status": {"DataType": "String", "StringValue": image["status"]},
            },
        )
    except (ClientError, BotoCoreError) as exc:
        raise DependencyFailed(f"publish {image['type']}") from exc
