"""ShopOrdersFunction: the table's stream -> orders from shop connectors (Shopify).

Only new shop webhook inbox items reach it (the template's FilterCriteria). Each is read by
its connector (`registry` kind `shop_webhooks`) into an order change and applied
(`domain/orders/intake.py`): orders are upserted on `source_updated_at`, so an older delivery
arriving late never regresses the order (`stale`); fulfillments merge into the stored order.
A delivery that cannot be mapped (a refused amount, discounts that do not add up) is marked
`failed` on its inbox item with the reason and logged; a storage failure is retried by the
stream (partial batch response), then lands in ShopOrdersDLQ.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.orders import OrdersTable
from homeward.adapters.dynamodb.shop_inbox import ShopInbox
from homeward.config import CommonSettings, load_settings
from homeward.domain.orders.intake import apply_change
from homeward.observability import logger, metrics
from homeward.providers import registry

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

settings = load_settings(CommonSettings)
orders = OrdersTable(client("dynamodb"), settings.table_name)
inbox = ShopInbox(client("dynamodb"), settings.table_name)
processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def handle(record: DynamoDBRecord) -> None:
    image = (record.dynamodb.new_image if record.dynamodb else None) or {}
    if image.get("entity") != "shop_webhook" or image.get("status") != "received":
        return
    provider, delivery_id, topic = image["provider"], image["delivery_id"], image["topic"]
    now = datetime.now(UTC)
    source = registry.load(provider, registry.SHOP_WEBHOOKS).SOURCE
    try:
        outcome = apply_change(source.read(topic, image["body"].encode()), store=orders, now=now)
    except ValueError as refused:  # pydantic's ValidationError included
        metrics.add_metric(name="ShopWebhooksFailed", unit="Count", value=1)
        logger.warning(
            "shop webhook not mapped", extra={"provider": provider, "topic": topic, "error": str(refused)}
        )
        inbox.mark(provider, delivery_id, status="failed", detail=str(refused), now=now)
        return
    inbox.mark(provider, delivery_id, status="applied", detail=outcome, now=now)
    metrics.add_metric(name="ShopWebhooksApplied", unit="Count", value=1)
    logger.info("shop webhook applied", extra={"provider": provider, "topic": topic, "outcome": outcome})


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=handle, processor=processor, context=context)
