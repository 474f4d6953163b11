"""Shop connector deliveries (Shopify webhooks) on the Homeward table: stored once, then applied.

The receiver stores a verified delivery with one conditional PutItem keyed by the shop's own
delivery id, so a re-delivery is recognised and changes nothing; the table's stream hands the
new item to ShopOrdersFunction, which applies it and records the outcome on the item.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from homeward.adapters.dynamodb import conditional_write, keys, n_attr, s_attr, translate_error, utc_iso

RETENTION = timedelta(days=30)
FAILED_RETENTION = timedelta(days=90)


class ShopInbox:
    def __init__(self, client, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def store(
        self,
        provider: str,
        delivery_id: str,
        *,
        topic: str,
        shop: str,
        api_version: str,
        body: str,
        now: datetime,
    ) -> bool:
        """Store a verified delivery once; False when it was already stored (a re-delivery)."""
        item = {
            **keys.shop_webhook(provider, delivery_id),
            "entity": s_attr("shop_webhook"),
            "provider": s_attr(provider),
            "delivery_id": s_attr(delivery_id),
            "topic": s_attr(topic),
            "shop": s_attr(shop),
            "api_version": s_attr(api_version),
            "status": s_attr("received"),
            "received_at": s_attr(utc_iso(now)),
            "body": s_attr(body),
            "expires_at": n_attr(int((now + RETENTION).timestamp())),
        }
        return conditional_write(
            lambda: self._ddb.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            ),
            "store shop webhook",
        )

    def mark(self, provider: str, delivery_id: str, *, status: str, detail: str, now: datetime) -> None:
        """Record what applying the delivery did (`applied` + outcome, or `failed` + error)."""
        retention = FAILED_RETENTION if status == "failed" else RETENTION
        field = "error" if status == "failed" else "outcome"
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=keys.shop_webhook(provider, delivery_id),
                UpdateExpression="SET #s = :s, #d = :d, applied_at = :now, expires_at = :exp",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames={"#s": "status", "#d": field},
                ExpressionAttributeValues={
                    ":s": s_attr(status),
                    ":d": s_attr(detail[:500]),
                    ":now": s_attr(utc_iso(now)),
                    ":exp": n_attr(int((now + retention).timestamp())),
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "mark shop webhook") from exc
