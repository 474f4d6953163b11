"""DynamoDB: the only module that reads or writes the Homeward table.

Single-table design (documented in docs/architecture.md and above the table in template.yaml):

    entity          pk                         sk                index keys
    order           ORDER#<order_id>           ORDER             gsi1: ORDERNO#<number> / ORDER#<order_id>
    sign-in tries   ATTEMPTS#<order:N|ip:A>    W#<window start>  -
    return          RETURN#<rma>               RETURN            gsi1: CUSTOMER#<email fp> / RETURN#<created>
                                                               gsi2: RETURNS#<status> / <created>#<rma>
    return event    RETURN#<rma>               EVENT#<seq:06d>   -

The order item also carries `reserved_<line_id>` (units of that line held by open returns)
and `return_rmas` (a string set). Access patterns: get an order by id (GetItem); find
orders by the number a shopper types (Query gsi1, projecting only the email fingerprint);
count failed sign-ins per order number and client IP in a fixed window (BatchGetItem,
UpdateItem ADD; TTL removes old windows); a return with its timeline (one Query on its
partition); an order's returns (GetItem + BatchGetItem); returns by status and date for
ops (Query gsi2, paginated); a customer's returns in the last 90 days (Query gsi1, COUNT).

Every create is conditional and every change carries a version or content condition;
`ClientError` becomes a domain error in `translate_error` and nowhere else.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from homeward.errors import Conflict, DependencyFailed, HomewardError
from homeward.models.orders import Order, OrderIn, UpsertOutcome
from homeward.models.returns import ReturnRecord, TimelineEntry

GSI1 = "gsi1"
GSI2 = "gsi2"
RESERVED = "reserved_"


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


class ReturnsTable:
    """Returns, their timelines and the per-line quantities they hold on the order."""

    def __init__(self, client, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    # ---- reads -------------------------------------------------------------------------------

    def order_with_reservations(self, order_id: str) -> tuple[Order, dict[str, int]] | None:
        """The order and, per line, the units already held by returns (one consistent read)."""
        try:
            item = self._ddb.get_item(
                TableName=self._table, Key=_order_key(order_id), ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read order") from exc
        if item is None:
            return None
        document = json.loads(item["doc"]["S"])
        document.update(
            order_id=order_id, version=int(item["version"]["N"]), received_at=item["updated_at"]["S"]
        )
        reserved = {k.removeprefix(RESERVED): int(v["N"]) for k, v in item.items() if k.startswith(RESERVED)}
        return Order.model_validate(document), reserved

    def customer_returns_since(self, customer_fp: str, since: datetime) -> int:
        try:
            result = self._ddb.query(
                TableName=self._table,
                IndexName=GSI1,
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk >= :since",
                ExpressionAttributeValues={
                    ":pk": _s(f"CUSTOMER#{customer_fp}"),
                    ":since": _s(f"RETURN#{utc_iso(since)}"),
                },
                Select="COUNT",
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "count customer returns") from exc
        return int(result.get("Count", 0))

    def get_return(
        self, rma: str, *, with_timeline: bool = False
    ) -> tuple[ReturnRecord, list[TimelineEntry]] | None:
        """A return and (optionally) its timeline, from one Query of its partition."""
        values = {":pk": _s(f"RETURN#{rma}")}
        condition = "pk = :pk"
        if not with_timeline:
            condition += " AND sk = :sk"
            values[":sk"] = _s("RETURN")
        items: list[dict] = []
        kwargs = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ConsistentRead": True,
        }
        try:
            while True:
                page = self._ddb.query(**kwargs)
                items += page.get("Items", [])
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read return") from exc
        record = next((i for i in items if i["sk"]["S"] == "RETURN"), None)
        if record is None:
            return None
        timeline = [
            TimelineEntry.model_validate_json(i["doc"]["S"])
            for i in items
            if i["sk"]["S"].startswith("EVENT#")
        ]
        return _return_from_item(record), sorted(timeline, key=lambda e: e.seq)

    def returns_for_order(self, order_id: str) -> list[ReturnRecord]:
        try:
            item = (
                self._ddb.get_item(
                    TableName=self._table,
                    Key=_order_key(order_id),
                    ProjectionExpression="return_rmas",
                    ConsistentRead=True,
                ).get("Item")
                or {}
            )
            rmas = sorted(item.get("return_rmas", {}).get("SS", []))
            records: list[ReturnRecord] = []
            for start in range(0, len(rmas), 100):  # BatchGetItem takes 100 keys
                request = {
                    self._table: {
                        "Keys": [_return_key(r) for r in rmas[start : start + 100]],
                        "ConsistentRead": True,
                    }
                }
                while request:
                    result = self._ddb.batch_get_item(RequestItems=request)
                    records += [
                        _return_from_item(i) for i in result.get("Responses", {}).get(self._table, [])
                    ]
                    request = result.get("UnprocessedKeys") or None
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "list returns") from exc
        return sorted(records, key=lambda r: r.created_at)

    def returns_by_status(
        self, status: str, *, since: datetime | None, until: datetime | None, limit: int, cursor: dict | None
    ) -> tuple[list[dict], dict | None]:
        """A page of return summaries in one status, newest first, from gsi2 (no scans)."""
        condition = "gsi2pk = :pk"
        values = {":pk": _s(f"RETURNS#{status}")}
        if since or until:
            condition += " AND gsi2sk BETWEEN :lo AND :hi"
            values[":lo"] = _s(utc_iso(since) if since else "0")
            values[":hi"] = _s((utc_iso(until) if until else "9") + "~")
        kwargs = {
            "TableName": self._table,
            "IndexName": GSI2,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = cursor
        try:
            page = self._ddb.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "list returns") from exc
        rows = [
            {
                "rma": i["rma"]["S"],
                "order_id": i["order_id"]["S"],
                "order_number": i["order_number"]["S"],
                "status": i["status"]["S"],
                "money_status": i["money_status"]["S"],
                "created_at": i["created_at"]["S"],
                "updated_at": i["updated_at"]["S"],
                "currency": i["currency"]["S"],
                "refund_total": int(i["refund_total"]["N"]),
                "units": int(i["units"]["N"]),
            }
            for i in page.get("Items", [])
        ]
        return rows, page.get("LastEvaluatedKey")

    # ---- writes ------------------------------------------------------------------------------

    def create_return(
        self, record: ReturnRecord, events: list[TimelineEntry], reserved_before: dict[str, int]
    ) -> None:
        """One transaction: hold the quantities on the order, put the return and its events.

        The order update is conditioned on each line's counter still being what the caller
        read (optimistic), so two concurrent returns can never together exceed what was
        bought. Raises Conflict("quantities_changed") or Conflict("return_exists").
        """
        names, values, sets, conditions = {}, {":rma": {"SS": [record.rma]}}, [], ["attribute_exists(pk)"]
        for index, line in enumerate(record.lines):
            names[f"#r{index}"] = f"{RESERVED}{line.line_id}"
            before = reserved_before.get(line.line_id, 0)
            values[f":n{index}"] = _n(before + line.quantity)
            values[f":p{index}"] = _n(before)
            sets.append(f"#r{index} = :n{index}")
            conditions.append(
                f"(attribute_not_exists(#r{index}) OR #r{index} = :p{index})"
                if before == 0
                else f"#r{index} = :p{index}"
            )
        items = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": _order_key(record.order_id),
                    "UpdateExpression": f"SET {', '.join(sets)} ADD return_rmas :rma",
                    "ConditionExpression": " AND ".join(conditions),
                    "ExpressionAttributeNames": names,
                    "ExpressionAttributeValues": values,
                }
            },
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _return_item(record),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            *[self._event_put(record, event) for event in events],
        ]
        self._transact(items, {0: "quantities_changed", 1: "return_exists"}, "create return")

    def save_change(
        self,
        record: ReturnRecord,
        events: list[TimelineEntry],
        *,
        expected_version: int,
        release: dict[str, int],
    ) -> None:
        """One transaction: the new return state (if still at `expected_version`), its events,
        and any quantities given back to the order."""
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _return_item(record),
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": _n(expected_version)},
                }
            },
            *[self._event_put(record, event) for event in events],
        ]
        if release:
            names, values, sets, conditions = {}, {}, [], []
            for index, (line_id, quantity) in enumerate(sorted(release.items())):
                names[f"#r{index}"] = f"{RESERVED}{line_id}"
                values[f":q{index}"] = _n(quantity)
                sets.append(f"#r{index} = #r{index} - :q{index}")
                conditions.append(f"#r{index} >= :q{index}")
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": _order_key(record.order_id),
                        "UpdateExpression": "SET " + ", ".join(sets),
                        "ConditionExpression": " AND ".join(conditions),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        self._transact(items, {0: "version_changed"}, "update return")

    # ---- helpers -------------------------------------------------------------------------------

    def _event_put(self, record: ReturnRecord, event: TimelineEntry) -> dict:
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    "pk": _s(f"RETURN#{record.rma}"),
                    "sk": _s(f"EVENT#{event.seq:06d}"),
                    "entity": _s("event"),
                    "type": _s(event.type),
                    "rma": _s(record.rma),
                    "order_id": _s(record.order_id),
                    "status": _s(record.status),
                    "at": _s(utc_iso(event.at)),
                    "doc": _s(event.model_dump_json()),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _transact(self, items: list[dict], reasons_by_index: dict[int, str], action: str) -> None:
        try:
            self._ddb.transact_write_items(TransactItems=items)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise translate_error(exc, action) from exc
            codes = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
            failed = [i for i, code in enumerate(codes) if code == "ConditionalCheckFailed"]
            if any(
                code in ("TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded")
                for code in codes
            ):
                raise DependencyFailed(f"{action}: busy, retry", details={"reasons": codes}) from exc
            reason = next((reasons_by_index[i] for i in failed if i in reasons_by_index), "conflict")
            raise Conflict(f"{action}: {reason.replace('_', ' ')}", details={"reason": reason}) from exc
        except BotoCoreError as exc:
            raise translate_error(exc, action) from exc


def _order_key(order_id: str) -> dict:
    return {"pk": _s(f"ORDER#{order_id}"), "sk": _s("ORDER")}


def _return_key(rma: str) -> dict:
    return {"pk": _s(f"RETURN#{rma}"), "sk": _s("RETURN")}


def _return_item(record: ReturnRecord) -> dict:
    created = utc_iso(record.created_at)
    return {
        **_return_key(record.rma),
        "entity": _s("return"),
        "doc": _s(record.model_dump_json()),
        "version": _n(record.version),
        "rma": _s(record.rma),
        "order_id": _s(record.order_id),
        "order_number": _s(record.order_number),
        "status": _s(record.status),
        "money_status": _s(record.money_status),
        "currency": _s(record.currency),
        "refund_total": _n(record.preview.refund_total),
        "units": _n(sum(line.quantity for line in record.lines)),
        "created_at": _s(created),
        "updated_at": _s(utc_iso(record.updated_at)),
        "gsi1pk": _s(f"CUSTOMER#{record.customer_fp}"),
        "gsi1sk": _s(f"RETURN#{created}"),
        "gsi2pk": _s(f"RETURNS#{record.status}"),
        "gsi2sk": _s(f"{created}#{record.rma}"),
    }


def _return_from_item(item: dict) -> ReturnRecord:
    return ReturnRecord.model_validate_json(item["doc"]["S"])
