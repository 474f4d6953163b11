"""DynamoDB: the only module that reads or writes the Homeward table.

Single-table design (documented in docs/architecture.md and above the table in template.yaml):

    entity            pk                          sk                 gsi1pk / gsi1sk
    order             ORDER#<order_id>            ORDER              ORDERNO#<number> / ORDER#<order_id>
    sign-in attempts  ATTEMPTS#<order:N | ip:A>   W#<window start>   -

Access patterns: get an order by id (GetItem); find orders by the number a shopper types
(Query GSI1, projecting only the email fingerprint); count failed sign-ins per order number
and client IP in a fixed window (BatchGetItem, UpdateItem ADD; TTL removes old windows).

Every create is conditional and every change carries a version or content condition;
`ClientError` becomes a domain error in `translate_error` and nowhere else.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from homeward.errors import Conflict, DependencyFailed, HomewardError
from homeward.models.orders import Order, OrderIn, UpsertOutcome

GSI1 = "gsi1"


def translate_error(exc: ClientError | BotoCoreError, action: str) -> HomewardError:
    """Map a boto error to the domain error a handler knows how to answer."""
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code == "ConditionalCheckFailedException":
            return Conflict(f"{action}: the record changed meanwhile", details={"aws_error": code})
        if code == "TransactionCanceledException":
            reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            return Conflict(f"{action}: transaction cancelled", details={"reasons": reasons})
        return DependencyFailed(f"{action}: DynamoDB error {code}", details={"aws_error": code})
    return DependencyFailed(f"{action}: {type(exc).__name__}")


def utc_iso(moment: datetime) -> str:
    """Fixed-width UTC timestamps sort and compare correctly as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _s(value: str) -> dict:
    return {"S": value}


def _n(value: int) -> dict:
    return {"N": str(value)}


class HomewardTable:
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
        from homeward.domain.orders import email_fingerprint, normalize_order_number

        values = {
            ":doc": _s(order.model_dump_json()),
            ":h": _s(content_hash),
            ":zero": _n(0),
            ":one": _n(1),
            ":no": _s(order.order_number),
            ":g1pk": _s(f"ORDERNO#{normalize_order_number(order.order_number)}"),
            ":g1sk": _s(f"ORDER#{order_id}"),
            ":fp": _s(email_fingerprint(order.customer.email)),
            ":now": _s(utc_iso(now)),
            ":entity": _s("order"),
        }
        update = (
            "SET doc = :doc, content_hash = :h, version = if_not_exists(version, :zero) + :one, "
            "order_number = :no, gsi1pk = :g1pk, gsi1sk = :g1sk, email_fp = :fp, updated_at = :now, "
            "created_at = if_not_exists(created_at, :now), entity = :entity"
        )
        condition = "attribute_not_exists(pk) OR content_hash <> :h"
        if order.updated_at is not None:
            values[":su"] = _s(utc_iso(order.updated_at))
            update += ", source_updated_at = :su"
            condition = (
                "attribute_not_exists(pk) OR (content_hash <> :h AND "
                "(attribute_not_exists(source_updated_at) OR source_updated_at <= :su))"
            )
        key = {"pk": _s(f"ORDER#{order_id}"), "sk": _s("ORDER")}
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
            current = exc.response.get("Item") or self._get_item(
                key, "content_hash, version, source_updated_at"
            )
            if current and current.get("content_hash", {}).get("S") == content_hash:
                return UpsertOutcome(
                    order_id=order_id, version=int(current["version"]["N"]), result="unchanged"
                )
            stored_at = (current or {}).get("source_updated_at", {}).get("S")
            raise Conflict(
                "A newer version of this order is already stored",
                details={"reason": "stale_update", "stored_updated_at": stored_at},
            ) from exc
        except BotoCoreError as exc:
            raise translate_error(exc, "store order") from exc
        old = result.get("Attributes", {})
        if "version" not in old:
            return UpsertOutcome(order_id=order_id, version=1, result="created")
        return UpsertOutcome(order_id=order_id, version=int(old["version"]["N"]) + 1, result="updated")

    def get_order(self, order_id: str) -> Order | None:
        item = self._get_item({"pk": _s(f"ORDER#{order_id}"), "sk": _s("ORDER")}, "doc, version, updated_at")
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
                ExpressionAttributeValues={":pk": _s(f"ORDERNO#{normalized_number}")},
                Limit=10,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "find order") from exc
        return [
            (item["gsi1sk"]["S"].removeprefix("ORDER#"), item.get("email_fp", {}).get("S", ""))
            for item in result.get("Items", [])
        ]

    # ---- sign-in attempts ----------------------------------------------------------------

    def failures(self, keys: list[str], window_start: int) -> dict[str, int]:
        request = {
            self._table: {
                "Keys": [{"pk": _s(f"ATTEMPTS#{k}"), "sk": _s(f"W#{window_start}")} for k in keys],
                "ProjectionExpression": "pk, failures",
                "ConsistentRead": True,
            }
        }
        try:
            result = self._ddb.batch_get_item(RequestItems=request)
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read sign-in attempts") from exc
        return {
            item["pk"]["S"].removeprefix("ATTEMPTS#"): int(item["failures"]["N"])
            for item in result.get("Responses", {}).get(self._table, [])
        }

    def record_failure(self, keys: list[str], window_start: int, expires_at: int) -> None:
        for key in keys:
            try:
                self._ddb.update_item(
                    TableName=self._table,
                    Key={"pk": _s(f"ATTEMPTS#{key}"), "sk": _s(f"W#{window_start}")},
                    UpdateExpression="ADD failures :one SET expires_at = :exp",
                    ExpressionAttributeValues={":one": _n(1), ":exp": _n(expires_at)},
                )
            except (ClientError, BotoCoreError) as exc:
                raise translate_error(exc, "record sign-in failure") from exc

    # ---- helpers ---------------------------------------------------------------------------

    def _get_item(self, key: dict, projection: str) -> dict | None:
        try:
            result = self._ddb.get_item(
                TableName=self._table, Key=key, ProjectionExpression=projection, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read item") from exc
        return result.get("Item")
