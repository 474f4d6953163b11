"""Orders and sign-in attempts on the Homeward table."""

from __future__ import annotations

import json
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from homeward.adapters.dynamodb import (
    GSI1,
    conditional_write,
    keys,
    n_attr,
    order_key,
    refused_item,
    s_attr,
    translate_error,
    utc_iso,
)
from homeward.domain.orders.rules import email_fingerprint, normalize_order_number
from homeward.errors import Conflict
from homeward.models.orders import Order, OrderIn, UpsertOutcome


class OrdersTable:
    """Order and sign-in persistence on the single table."""

    def __init__(self, client, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    # ---- orders ------------------------------------------------------------------------

    def upsert_order(
        self, order_id: str, order: OrderIn, *, content_hash: str, now: datetime
    ) -> UpsertOutcome:
        """One UpdateItem: create, replace when the content changed, or recognise a re-send.

        UpdateItem (not PutItem) so attributes written by other parts of Homeward on the same
        item survive the shop's updates.
        """
        update, condition, values = _order_update(order_id, order, content_hash=content_hash, now=now)
        key = order_key(order_id)
        try:
            result = self._ddb.update_item(
                TableName=self._table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="UPDATED_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate_error(exc, "store order") from exc
            return self._refused_upsert(order_id, key, exc, content_hash=content_hash)
        except BotoCoreError as exc:
            raise translate_error(exc, "store order") from exc
        old = result.get("Attributes", {})
        if "version" not in old:
            return UpsertOutcome(order_id=order_id, version=1, result="created")
        return UpsertOutcome(order_id=order_id, version=int(old["version"]["N"]) + 1, result="updated")

    def _refused_upsert(
        self, order_id: str, key: dict, exc: ClientError, *, content_hash: str
    ) -> UpsertOutcome:
        """The condition refused the write: a re-send of the stored content, or a stale update."""
        current = refused_item(exc) or self._get_item(key, "content_hash, version, source_updated_at")
        if current and current.get("content_hash", {}).get("S") == content_hash:
            return UpsertOutcome(order_id=order_id, version=int(current["version"]["N"]), result="unchanged")
        stored_at = (current or {}).get("source_updated_at", {}).get("S")
        raise Conflict(
            "A newer version of this order is already stored",
            details={"reason": "stale_update", "stored_updated_at": stored_at},
        ) from exc

    def get_order(self, order_id: str) -> Order | None:
        item = self._get_item(order_key(order_id), "doc, version, updated_at")
        if item is None:
            return None
        document = json.loads(item["doc"]["S"])
        document.update(
            order_id=order_id, version=int(item["version"]["N"]), received_at=item["updated_at"]["S"]
        )
        return Order.model_validate(document)

    def find_by_order_number(self, normalized_number: str) -> list[tuple[str, str]]:
        try:
            result = self._ddb.query(
                TableName=self._table,
                IndexName=GSI1,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": s_attr(keys.order_number_gsi1pk(normalized_number))},
                Limit=10,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "find order") from exc
        return [
            (keys.order_id_from(item["gsi1sk"]["S"]), item.get("email_fp", {}).get("S", ""))
            for item in result.get("Items", [])
        ]

    # ---- sign-in attempts ----------------------------------------------------------------

    def failures(self, subjects: list[str], window_start: int):
        from homeward.domain.access.auth import Failures

        request = {
            self._table: {
                "Keys": [keys.sign_in_attempts(k, window_start) for k in subjects],
                "ProjectionExpression": "pk, failures, last_at",
                "ConsistentRead": True,
            }
        }
        try:
            result = self._ddb.batch_get_item(RequestItems=request)
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read sign-in attempts") from exc
        return {
            keys.attempts_subject_from(item["pk"]["S"]): Failures(
                count=int(item["failures"]["N"]), last_at=int(item.get("last_at", {"N": "0"})["N"])
            )
            for item in result.get("Responses", {}).get(self._table, [])
        }

    def record_failure(self, subjects: list[str], window_start: int, expires_at: int, *, now: int) -> None:
        for subject in subjects:
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key=keys.sign_in_attempts(subject, window_start),
                    UpdateExpression="ADD failures :one SET expires_at = :exp, last_at = :now",
                    ExpressionAttributeValues={
                        ":one": n_attr(1),
                        ":exp": n_attr(expires_at),
                        ":now": n_attr(now),
                    },
                )
            except (ClientError, BotoCoreError) as exc:
                raise translate_error(exc, "record sign-in failure") from exc

    # ---- sign-in links ----------------------------------------------------------------------

    def request_sign_in_link(
        self, order_id: str, nonce: str, expires_at: datetime, locale: str | None, now: datetime
    ) -> None:
        """An event item (`portal.sign_in_link`): the stream publishes it and NotificationsFunction
        emails the link, like every other message. It names the nonce, never the token or email."""
        doc = {
            "type": "portal.sign_in_link",
            "order_id": order_id,
            "nonce": nonce,
            "expires_at": utc_iso(expires_at),
            "locale": locale,
            "at": utc_iso(now),
        }
        item = {
            **keys.sign_in_link(nonce),
            "entity": s_attr("event"),
            "type": s_attr("portal.sign_in_link"),
            "order_id": s_attr(order_id),
            "status": s_attr("requested"),
            "doc": s_attr(json.dumps(doc)),
            "expires_at": n_attr(int(expires_at.timestamp()) + 86400),
        }
        try:
            self._ddb.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "request sign-in link") from exc

    def use_sign_in_link(self, nonce: str, expires_epoch: int) -> bool:
        """Mark a link used (kept until it would have expired anyway); False if it was already."""
        item = {
            **keys.sign_in_link_used(nonce),
            "expires_at": n_attr(expires_epoch + 86400),
        }
        return conditional_write(
            lambda: self._ddb.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            ),
            "use sign-in link",
        )

    # ---- helpers ---------------------------------------------------------------------------

    def _get_item(self, key: dict, projection: str) -> dict | None:
        try:
            result = self._ddb.get_item(
                TableName=self._table, Key=key, ProjectionExpression=projection, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read item") from exc
        return result.get("Item")


def _order_update(
    order_id: str, order: OrderIn, *, content_hash: str, now: datetime
) -> tuple[str, str, dict]:
    """(update expression, condition, values) of an order's upsert."""
    values = {
        ":doc": s_attr(order.model_dump_json()),
        ":h": s_attr(content_hash),
        ":zero": n_attr(0),
        ":one": n_attr(1),
        ":no": s_attr(order.order_number),
        ":g1pk": s_attr(keys.order_number_gsi1pk(normalize_order_number(order.order_number))),
        ":g1sk": s_attr(keys.order_gsi1sk(order_id)),
        ":fp": s_attr(email_fingerprint(order.customer.email)),
        ":now": s_attr(utc_iso(now)),
        ":entity": s_attr("order"),
    }
    update = (
        "SET doc = :doc, content_hash = :h, version = if_not_exists(version, :zero) + :one, "
        "order_number = :no, gsi1pk = :g1pk, gsi1sk = :g1sk, email_fp = :fp, updated_at = :now, "
        "created_at = if_not_exists(created_at, :now), entity = :entity"
    )
    # The stream hands orders whose parcels changed to TrackingFunction, which registers them.
    # Imported here: the tracking models cost ~40 ms to import, and readers of orders (e.g.
    # NotificationsFunction) never write one.
    from homeward.models.tracking import normalize_tracking_number

    numbers = sorted({normalize_tracking_number(s.tracking_number) for s in order.shipments})
    if numbers:
        values[":ship"] = s_attr(",".join(numbers))
        update += ", shipments_key = :ship"
    condition = "attribute_not_exists(pk) OR content_hash <> :h"
    if order.updated_at is not None:
        values[":su"] = s_attr(utc_iso(order.updated_at))
        update += ", source_updated_at = :su"
        condition = (
            "attribute_not_exists(pk) OR (content_hash <> :h AND "
            "(attribute_not_exists(source_updated_at) OR source_updated_at <= :su))"
        )
    removed = [] if numbers else ["shipments_key"]
    indexed = max(order.payments, key=lambda p: p.captured, default=None)  # max keeps the first on a tie
    if indexed is not None:
        # The order of a provider's payment: a refund made in its dashboard names only the payment.
        values[":g2pk"] = s_attr(keys.payment_reference_gsi2pk(indexed.provider, indexed.reference))
        values[":g2sk"] = s_attr(keys.order_gsi1sk(order_id))
        update += ", gsi2pk = :g2pk, gsi2sk = :g2sk"
    else:
        removed += ["gsi2pk", "gsi2sk"]
    if removed:
        update += " REMOVE " + ", ".join(removed)
    return update, condition, values
