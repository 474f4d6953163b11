"""SQS: the retry delay of a message a queue consumer could not handle yet."""

from __future__ import annotations

from homeward.adapters.aws import client
from homeward.observability import logger

MAX_BACKOFF_SECONDS = 900


def back_off(record, queue_url: str | None) -> None:
    """Make a failed message visible again after 30 s, 60 s, 120 s, ... up to 15 minutes
    (by its receive count) instead of the queue's fixed visibility timeout."""
    if not queue_url:
        return
    attempt = int(record.attributes.approximate_receive_count or 1)
    delay = min(MAX_BACKOFF_SECONDS, 30 * 2 ** (attempt - 1))
    try:
        client("sqs").change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay
        )
    except Exception:  # noqa: BLE001 - the retry still happens, only sooner
        logger.warning("could not set the retry delay", extra={"message_id": record.message_id})


MAX_VISIBILITY_SECONDS = 12 * 3600  # SQS's limit


def come_back_in(record, queue_url: str | None, seconds: float) -> int:
    """Make a message visible again after `seconds` (at most 12 hours, SQS's limit); the
    delay actually set. Used to hold a message until a moment, e.g. the end of quiet hours."""
    delay = max(1, min(MAX_VISIBILITY_SECONDS - 60, int(seconds) + 1))
    if queue_url:
        client("sqs").change_message_visibility(
            QueueUrl=queue_url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=delay
        )
    return delay
