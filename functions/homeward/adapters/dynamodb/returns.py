"""Returns, their timelines and the per-line quantities they hold on the order."""

from __future__ import annotations

import json
from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError

from homeward.adapters.dynamodb import (
    GSI1,
    GSI2,
    RESERVED,
    batch_get_all,
    keys,
    n_attr,
    order_key,
    query_all,
    refused_item,
    s_attr,
    transact,
    translate_error,
    utc_iso,
)
from homeward.adapters.dynamodb.pages import decode_cursor, encode_cursor
from homeward.models.orders import Order
from homeward.models.returns import ReturnRecord, TimelineEntry


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
                TableName=self._table, Key=order_key(order_id), ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read order") from exc
        if item is None:
            return None
        reserved = {k.removeprefix(RESERVED): int(v["N"]) for k, v in item.items() if k.startswith(RESERVED)}
        return order_from_item(order_id, item), reserved

    def customer_returns_since(self, customer_fp: str, since: datetime) -> int:
        try:
            result = self._ddb.query(
                TableName=self._table,
                IndexName=GSI1,
                KeyConditionExpression="gsi1pk = :pk AND gsi1sk >= :since",
                ExpressionAttributeValues={
                    ":pk": s_attr(keys.customer_gsi1pk(customer_fp)),
                    ":since": s_attr(keys.return_gsi1sk(utc_iso(since))),
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
        values = {":pk": s_attr(keys.return_pk(rma))}
        condition = "pk = :pk"
        if not with_timeline:
            condition += " AND sk = :sk"
            values[":sk"] = s_attr(keys.RETURN_SK)
        items = query_all(
            self._ddb,
            "read return",
            TableName=self._table,
            KeyConditionExpression=condition,
            ExpressionAttributeValues=values,
            ConsistentRead=True,
        )
        record = next((i for i in items if i["sk"]["S"] == keys.RETURN_SK), None)
        if record is None:
            return None
        timeline = [
            TimelineEntry.model_validate_json(i["doc"]["S"]) for i in items if keys.is_event_sk(i["sk"]["S"])
        ]
        return return_from_item(record), sorted(timeline, key=lambda e: e.seq)

    def returns_for_order(self, order_id: str) -> list[ReturnRecord]:
        try:
            item = (
                self._ddb.get_item(
                    TableName=self._table,
                    Key=order_key(order_id),
                    ProjectionExpression="return_rmas",
                    ConsistentRead=True,
                ).get("Item")
                or {}
            )
            rmas = sorted(item.get("return_rmas", {}).get("SS", []))
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "list returns") from exc
        wanted = [keys.return_(r) for r in rmas]
        items = batch_get_all(self._ddb, self._table, wanted, "list returns", ConsistentRead=True)
        records = [return_from_item(i) for i in items]
        return sorted(records, key=lambda r: r.created_at)

    def returns_by_status(
        self, status: str, *, since: datetime | None, until: datetime | None, limit: int, cursor: str | None
    ) -> tuple[list[dict], str | None]:
        """A page of return summaries in one status, newest first, from gsi2 (no scans), and the
        next page's cursor (opaque; Unprocessable(invalid_cursor) for one that is not ours)."""
        condition = "gsi2pk = :pk"
        values = {":pk": s_attr(keys.returns_by_status_gsi2pk(status))}
        if since or until:
            condition += " AND gsi2sk BETWEEN :lo AND :hi"
            values[":lo"] = s_attr(utc_iso(since) if since else "0")
            values[":hi"] = s_attr((utc_iso(until) if until else "9") + "~")
        kwargs = {
            "TableName": self._table,
            "IndexName": GSI2,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
            "Limit": limit,
        }
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
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
        return rows, encode_cursor(page.get("LastEvaluatedKey"))

    # ---- writes ------------------------------------------------------------------------------

    def keyed_submit(self, order_id: str, idempotency_key: str):
        """What this order's Idempotency-Key created, if anything (one consistent GetItem)."""
        from homeward.domain.returns.service import KeyedSubmit

        try:
            item = self._ddb.get_item(
                TableName=self._table, Key=keys.keyed_submit(order_id, idempotency_key), ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read idempotency key") from exc
        if item is None:
            return None
        return KeyedSubmit(
            order_id=item["order_id"]["S"],
            idempotency_key=item["idempotency_key"]["S"],
            rma=item["rma"]["S"],
            request_hash=item["request_hash"]["S"],
        )

    def create_return(
        self,
        record: ReturnRecord,
        events: list[TimelineEntry],
        reserved_before: dict[str, int],
        *,
        idempotency_key: str | None = None,
    ) -> None:
        """One transaction: hold the quantities on the order, put the return and its events
        and, with an Idempotency-Key, the key item naming this return.

        The order update is conditioned on each line's counter still being what the caller
        read (optimistic), so two concurrent returns can never together exceed what was
        bought. Raises Conflict("quantities_changed"), Conflict("return_exists") (the RMA is
        taken) or Conflict("idempotency_key_used") (this order's key already made a return).
        """
        items = [
            self._reserve_update(record, reserved_before),
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _return_item(record),
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
        ]
        if idempotency_key:
            items.append(self._keyed_submit_put(record, idempotency_key))
        items += [self._event_put(record, event) for event in events]
        reasons = {0: "quantities_changed", 1: "return_exists"}
        if idempotency_key:
            reasons[2] = "idempotency_key_used"
        self._transact(items, reasons, "create return")

    def save_change(
        self,
        record: ReturnRecord,
        events: list[TimelineEntry],
        *,
        expected_version: int,
        release: dict[str, int],
        extra: list[dict] | None = None,
    ) -> None:
        """One transaction: the new return state (if still at `expected_version`), its events,
        any quantities given back to the order, and `extra` items (e.g. a label claim)."""
        items = self.change_items(record, events, expected_version=expected_version, release=release)
        items += extra or []
        self._transact(items, {0: "version_changed"}, "update return")

    def change_items(
        self,
        record: ReturnRecord,
        events: list[TimelineEntry],
        *,
        expected_version: int,
        release: dict[str, int] | None = None,
    ) -> list[dict]:
        """The transaction items of a return change; the return's own Put comes first."""
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": _return_item(record),
                    "ConditionExpression": "version = :v",
                    "ExpressionAttributeValues": {":v": n_attr(expected_version)},
                }
            },
            *[self._event_put(record, event) for event in events],
        ]
        if release:
            names, values, sets, conditions = {}, {}, [], []
            for index, (line_id, quantity) in enumerate(sorted(release.items())):
                names[f"#r{index}"] = f"{RESERVED}{line_id}"
                values[f":q{index}"] = n_attr(quantity)
                sets.append(f"#r{index} = #r{index} - :q{index}")
                conditions.append(f"#r{index} >= :q{index}")
            items.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": order_key(record.order_id),
                        "UpdateExpression": "SET " + ", ".join(sets),
                        "ConditionExpression": " AND ".join(conditions),
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                }
            )
        return items

    # ---- helpers -------------------------------------------------------------------------------

    def _reserve_update(self, record: ReturnRecord, reserved_before: dict[str, int]) -> dict:
        """The order update holding the return's quantities, conditioned on each line's counter
        still being what the caller read; it also adds the RMA to `return_rmas`."""
        names, values, sets, conditions = {}, {":rma": {"SS": [record.rma]}}, [], ["attribute_exists(pk)"]
        for index, line in enumerate(record.lines):
            names[f"#r{index}"] = f"{RESERVED}{line.line_id}"
            before = reserved_before.get(line.line_id, 0)
            values[f":n{index}"] = n_attr(before + line.quantity)
            values[f":p{index}"] = n_attr(before)
            sets.append(f"#r{index} = :n{index}")
            conditions.append(
                f"(attribute_not_exists(#r{index}) OR #r{index} = :p{index})"
                if before == 0
                else f"#r{index} = :p{index}"
            )
        return {
            "Update": {
                "TableName": self._table,
                "Key": order_key(record.order_id),
                "UpdateExpression": f"SET {', '.join(sets)} ADD return_rmas :rma",
                "ConditionExpression": " AND ".join(conditions),
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": values,
            }
        }

    def _keyed_submit_put(self, record: ReturnRecord, idempotency_key: str) -> dict:
        """The item naming the return an order's Idempotency-Key created (once)."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **keys.keyed_submit(record.order_id, idempotency_key),
                    "entity": s_attr("idempotency_key"),
                    "order_id": s_attr(record.order_id),
                    "idempotency_key": s_attr(idempotency_key),
                    "rma": s_attr(record.rma),
                    "request_hash": s_attr(record.request_hash),
                    "created_at": s_attr(utc_iso(record.created_at)),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _event_put(self, record: ReturnRecord, event: TimelineEntry) -> dict:
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **keys.return_event(record.rma, event.seq),
                    "entity": s_attr("event"),
                    "type": s_attr(event.type),
                    "rma": s_attr(record.rma),
                    "order_id": s_attr(record.order_id),
                    "status": s_attr(event.to_status or record.status),
                    "at": s_attr(utc_iso(event.at)),
                    "doc": s_attr(event.model_dump_json()),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }

    def _transact(self, items: list[dict], reasons_by_index: dict[int, str], action: str) -> None:
        transact(self._ddb, items, reasons_by_index, action)


def order_from_item(order_id: str, item: dict) -> Order:
    """The stored order document with our bookkeeping fields."""
    document = json.loads(item["doc"]["S"])
    document.update(order_id=order_id, version=int(item["version"]["N"]), received_at=item["updated_at"]["S"])
    return Order.model_validate(document)


def _return_item(record: ReturnRecord) -> dict:
    created = utc_iso(record.created_at)
    return {
        **keys.return_(record.rma),
        "entity": s_attr("return"),
        "doc": s_attr(record.model_dump_json()),
        "version": n_attr(record.version),
        "rma": s_attr(record.rma),
        "order_id": s_attr(record.order_id),
        "order_number": s_attr(record.order_number),
        "status": s_attr(record.status),
        "money_status": s_attr(record.money_status),
        "currency": s_attr(record.currency),
        "refund_total": n_attr(record.preview.refund_total),
        "units": n_attr(sum(line.quantity for line in record.lines)),
        "created_at": s_attr(created),
        "updated_at": s_attr(utc_iso(record.updated_at)),
        "gsi1pk": s_attr(keys.customer_gsi1pk(record.customer_fp)),
        "gsi1sk": s_attr(keys.return_gsi1sk(created)),
        "gsi2pk": s_attr(keys.returns_by_status_gsi2pk(record.status)),
        "gsi2sk": s_attr(keys.return_gsi2sk(created, record.rma)),
    }


def return_from_item(item: dict) -> ReturnRecord:
    return ReturnRecord.model_validate_json(item["doc"]["S"])


def read_return(ddb, table: str, rma: str) -> ReturnRecord | None:
    """One consistent GetItem of a return (without its timeline)."""
    try:
        item = ddb.get_item(TableName=table, Key=keys.return_(rma), ConsistentRead=True).get("Item")
    except (ClientError, BotoCoreError) as exc:
        raise translate_error(exc, "read return") from exc
    return return_from_item(item) if item else None


class LabelClaims:
    """The `LABEL` item next to a return: the lease that makes a label purchase exactly-once."""

    def __init__(self, client, table_name: str) -> None:
        self._ddb = client
        self._table = table_name
        self._returns = ReturnsTable(client, table_name)

    def claim_label(self, rma: str, reference: str, *, now: datetime, lease_until: datetime):
        from homeward.domain.labels.service import Claim

        try:
            result = self._ddb.update_item(
                TableName=self._table,
                Key=keys.label_claim(rma),
                UpdateExpression=(
                    "SET label_reference = :ref, lease_until = :lease, #state = :purchasing, "
                    "entity = :entity ADD attempts :one"
                ),
                # New, or an earlier attempt's lease ran out (it crashed or timed out mid-purchase).
                ConditionExpression=(
                    "attribute_not_exists(pk) OR (#state = :purchasing AND lease_until < :now)"
                ),
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues={
                    ":ref": s_attr(reference),
                    ":lease": s_attr(utc_iso(lease_until)),
                    ":now": s_attr(utc_iso(now)),
                    ":purchasing": s_attr("purchasing"),
                    ":entity": s_attr("label_claim"),
                    ":one": n_attr(1),
                },
                ReturnValues="UPDATED_OLD",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate_error(exc, "claim label") from exc
            held = refused_item(exc)
            return Claim("purchased" if held.get("state", {}).get("S") == "purchased" else "busy")
        except BotoCoreError as exc:
            raise translate_error(exc, "claim label") from exc
        return Claim("claimed", recovered="attempts" in result.get("Attributes", {}))

    def record_label(
        self, record: ReturnRecord, events: list[TimelineEntry], *, expected_version: int, reference: str
    ) -> None:
        """One transaction: the claim becomes `purchased`, the return `label_issued`, plus events."""
        claim = {
            "Update": {
                "TableName": self._table,
                "Key": keys.label_claim(record.rma),
                "UpdateExpression": "SET #state = :purchased, tracking_number = :tracking REMOVE lease_until",
                "ConditionExpression": "#state = :purchasing AND label_reference = :ref",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {
                    ":purchased": s_attr("purchased"),
                    ":purchasing": s_attr("purchasing"),
                    ":ref": s_attr(reference),
                    ":tracking": s_attr(record.label.tracking_number if record.label else ""),
                },
            }
        }
        extra = [claim]
        if record.label is not None:
            # The parcel is tracked from the moment its label exists (webhooks may come first:
            # those wait parked and are re-driven when this item appears on the stream).
            from homeward.adapters.dynamodb.tracking import register_return_shipment_put
            from homeward.models.tracking import Direction, Shipment, normalize_tracking_number

            parcel = Shipment(
                tracking_number=normalize_tracking_number(record.label.tracking_number),
                carrier=record.label.carrier,
                direction=Direction.RETURN,
                order_id=record.order_id,
                rma=record.rma,
                registered_at=record.updated_at,
                updated_at=record.updated_at,
            )
            extra.append(register_return_shipment_put(self._table, parcel))
        self._returns.save_change(record, events, expected_version=expected_version, release={}, extra=extra)

    def release_label_claim(
        self,
        record: ReturnRecord,
        events: list[TimelineEntry],
        *,
        expected_version: int,
        release: dict[str, int],
    ) -> None:
        """One transaction: drop the claim (so a later retry can buy) and save the return's change."""
        drop = {
            "Delete": {
                "TableName": self._table,
                "Key": keys.label_claim(record.rma),
                "ConditionExpression": "#state = :purchasing",
                "ExpressionAttributeNames": {"#state": "state"},
                "ExpressionAttributeValues": {":purchasing": s_attr("purchasing")},
            }
        }
        self._returns.save_change(
            record, events, expected_version=expected_version, release=release, extra=[drop]
        )

    def label_issued_before(self, created_before: datetime) -> list[str]:
        """RMAs of returns in `label_issued` created before a time (gsi2, no scan)."""
        items = query_all(
            self._ddb,
            "list labels",
            TableName=self._table,
            IndexName=GSI2,
            KeyConditionExpression="gsi2pk = :pk AND gsi2sk < :before",
            ExpressionAttributeValues={
                ":pk": s_attr(keys.returns_by_status_gsi2pk("label_issued")),
                ":before": s_attr(utc_iso(created_before)),
            },
            ProjectionExpression="rma",
        )
        return [item["rma"]["S"] for item in items]

    # The rest of the label flow reads and writes returns like everyone else.
    def get_return(self, rma: str, *, with_timeline: bool = False):
        return self._returns.get_return(rma, with_timeline=with_timeline)

    def order_with_reservations(self, order_id: str):
        return self._returns.order_with_reservations(order_id)

    def save_change(self, record, events, *, expected_version: int, release: dict[str, int]) -> None:
        self._returns.save_change(record, events, expected_version=expected_version, release=release)
