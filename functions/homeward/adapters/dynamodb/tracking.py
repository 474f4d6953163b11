"""Webhook inbox and tracked parcels on the Homeward table (keys and indexes: docs/data-model.md).

The inbox item is the durable acknowledgement: one conditional PutItem both de-duplicates
(the key is derived from the provider's event id) and hands the event to the stream, which
delivers it to TrackingFunction. Its status is the inbox state machine:
received -> applied | parked (no parcel with that number yet) | failed; parked, failed and
stuck received items go back to received on replay. Only unfinished items are indexed on
gsi2, so the index holds what ops may need to look at, not the history.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from homeward.adapters.dynamodb import (
    GSI1,
    GSI2,
    batch_get_all,
    conditional_write,
    keys,
    n_attr,
    query_all,
    refused_item,
    s_attr,
    transact,
    translate_error,
    utc_iso,
)
from homeward.adapters.dynamodb.pages import decode_cursor, encode_cursor
from homeward.domain.tracking.status import TERMINAL
from homeward.errors import NotFound
from homeward.models.tracking import CarrierUpdate, Direction, Shipment

if TYPE_CHECKING:
    from homeward.adapters.dynamodb.returns import ReturnsTable
    from homeward.models.returns import ReturnRecord, TimelineEntry

# Longer than any provider's retry window (AfterShip retries for ~68 hours).
APPLIED_RETENTION = timedelta(days=30)
# Parked events wait for their parcel to be registered (an order sync can lag by days).
PARKED_RETENTION = timedelta(days=90)

INBOX_STATUSES = ("received", "applied", "parked", "failed")
REPLAYABLE = ("received", "parked", "failed")


def webhook_id(provider: str, event_id: str) -> str:
    """A URL-safe key per (provider, provider event id): the same event always maps here."""
    return f"{provider}-{hashlib.sha256(event_id.encode()).hexdigest()[:32]}"


@dataclass(frozen=True)
class InboxEntry:
    webhook_id: str
    provider: str
    event_id: str
    tracking_number: str
    status: str
    received_at: str
    tracking_status: str | None = None
    event_at: str | None = None
    error: str | None = None
    replays: int = 0
    body: str | None = None


def _ttl(moment: datetime) -> dict:
    return n_attr(int(moment.timestamp()))


def shipment_item(shipment: Shipment) -> dict:
    """The shipment item; index attributes are derived so a Put keeps the indexes right."""
    item = {
        **keys.shipment(shipment.tracking_number),
        "entity": s_attr("shipment"),
        "doc": s_attr(shipment.model_dump_json(exclude_none=True)),
        "version": n_attr(shipment.version),
        "tracking_number": s_attr(shipment.tracking_number),
        "order_id": s_attr(shipment.order_id),
        "direction": s_attr(shipment.direction.value),
        "status": s_attr(shipment.status.value),
        "updated_at": s_attr(utc_iso(shipment.updated_at)),
        "gsi1pk": s_attr(keys.parcels_gsi1pk(shipment.order_id)),
        "gsi1sk": s_attr(keys.parcel_gsi1sk(shipment.direction.value, shipment.tracking_number)),
    }
    if shipment.rma:
        item["rma"] = s_attr(shipment.rma)
    baseline = _watch_baseline(shipment)
    if baseline is not None:
        item["gsi2pk"] = s_attr(keys.ACTIVE_SHIPMENTS_GSI2PK)
        item["gsi2sk"] = s_attr(keys.active_shipment_gsi2sk(utc_iso(baseline), shipment.tracking_number))
    return item


def _watch_baseline(shipment: Shipment) -> datetime | None:
    """When the stall clock started, for parcels the watch should look at; None otherwise.

    Terminal parcels are done; a return parcel is watched only after its first scan (before
    that the label expiry owns it); a parcel already flagged for this silence leaves the index
    until its next carrier event puts it back.
    """
    if shipment.status in TERMINAL:
        return None
    if shipment.last_event_at is None and shipment.direction is Direction.RETURN:
        return None
    baseline = shipment.last_event_at or shipment.registered_at
    if shipment.delayed_for is not None and shipment.delayed_for >= baseline:
        return None
    return baseline


def register_return_shipment_put(table: str, shipment: Shipment) -> dict:
    """A transaction item registering a return label's parcel (used by the label transaction)."""
    return {"Put": {"TableName": table, "Item": shipment_item(shipment)}}


class TrackingTable:
    """Webhook inbox, parcels and their events."""

    def __init__(self, client, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    @cached_property
    def _returns(self) -> ReturnsTable:
        # Imported when a return parcel moves: the webhook intake never needs the return models.
        from homeward.adapters.dynamodb.returns import ReturnsTable

        return ReturnsTable(self._ddb, self._table)

    # ---- intake ----------------------------------------------------------------------------

    def store_webhook(self, update: CarrierUpdate, body: str, *, now: datetime) -> tuple[str, bool]:
        """Store a verified event once. Returns (webhook id, False when it was a duplicate)."""
        wid = webhook_id(update.provider, update.event_id)
        received = utc_iso(now)
        item = {
            **keys.webhook(wid),
            "entity": s_attr("webhook"),
            "provider": s_attr(update.provider),
            "event_id": s_attr(update.event_id),
            "tracking_number": s_attr(update.tracking_number),
            "tracking_status": s_attr(update.status.value),
            "event_at": s_attr(utc_iso(update.event_at)),
            "status": s_attr("received"),
            "received_at": s_attr(received),
            "body": s_attr(body),
            "gsi2pk": s_attr(keys.webhooks_gsi2pk("received")),
            "gsi2sk": s_attr(keys.webhook_index_sk(received, wid)),
            "expires_at": _ttl(now + APPLIED_RETENTION),
        }
        stored = conditional_write(
            lambda: self._ddb.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            ),
            "store webhook",
        )
        return wid, stored

    # ---- applying --------------------------------------------------------------------------

    def get_shipment(self, tracking_number: str) -> Shipment | None:
        try:
            item = self._ddb.get_item(
                TableName=self._table,
                Key=keys.shipment(tracking_number),
                ProjectionExpression="doc",
                ConsistentRead=True,
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read shipment") from exc
        return Shipment.model_validate_json(item["doc"]["S"]) if item else None

    def get_return(self, rma: str) -> ReturnRecord | None:
        found = self._returns.get_return(rma)
        return found[0] if found else None

    def park(self, wid: str, tracking_number: str, *, received_at: str, now: datetime) -> bool:
        """No parcel has this number yet: keep the event, findable by number. False if not received."""
        return self._move(
            wid,
            "SET #status = :parked, gsi2pk = :g2, gsi1pk = :g1, gsi1sk = :g1s, parked_at = :now, "
            "expires_at = :ttl",
            {
                ":parked": s_attr("parked"),
                ":g2": s_attr(keys.webhooks_gsi2pk("parked")),
                ":g1": s_attr(keys.parked_gsi1pk(tracking_number)),
                ":g1s": s_attr(keys.webhook_index_sk(received_at, wid)),
                ":now": s_attr(utc_iso(now)),
                ":ttl": _ttl(now + PARKED_RETENTION),
            },
            from_statuses=("received",),
        )

    def mark_failed(self, wid: str, error: str, *, now: datetime) -> bool:
        """An event that cannot be applied as it is (ops can look and replay)."""
        return self._move(
            wid,
            "SET #status = :failed, gsi2pk = :g2, #error = :error, failed_at = :now, expires_at = :ttl",
            {
                ":failed": s_attr("failed"),
                ":g2": s_attr(keys.webhooks_gsi2pk("failed")),
                ":error": s_attr(error[:500]),
                ":now": s_attr(utc_iso(now)),
                ":ttl": _ttl(now + PARKED_RETENTION),
            },
            from_statuses=("received",),
            names={"#error": "error"},
        )

    def record_update(
        self,
        wid: str,
        shipment: Shipment,
        *,
        expected_version: int,
        events: list[tuple[str, dict]],
        outcome: str,
        return_change: tuple[ReturnRecord, list[TimelineEntry], int] | None = None,
        now: datetime,
    ) -> None:
        """One transaction: the inbox item becomes applied, the parcel moves, its events and any
        return change are written. Conflict(reason=already_applied) if another delivery won."""
        items: list[dict] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": keys.webhook(wid),
                    "UpdateExpression": "SET #status = :applied, applied_at = :now, outcome = :outcome, "
                    "expires_at = :ttl REMOVE gsi2pk, gsi2sk, gsi1pk, gsi1sk",
                    "ConditionExpression": "#status = :received",
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": {
                        ":applied": s_attr("applied"),
                        ":received": s_attr("received"),
                        ":now": s_attr(utc_iso(now)),
                        ":outcome": s_attr(outcome),
                        ":ttl": _ttl(now + APPLIED_RETENTION),
                    },
                }
            },
            self._shipment_put(shipment, expected_version),
            *self._event_puts(shipment, events),
        ]
        reasons = {0: "already_applied", 1: "shipment_changed"}
        if return_change is not None:
            record, timeline, return_version = return_change
            reasons[len(items)] = "return_changed"
            items += self._returns.change_items(record, timeline, expected_version=return_version)
        self._transact(items, reasons, "apply tracking event")

    def register_shipment(self, shipment: Shipment) -> str:
        """Register a parcel: 'registered', 'exists' (same order) or 'taken' (another order's)."""
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=shipment_item(shipment),
                ConditionExpression="attribute_not_exists(pk)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate_error(exc, "register shipment") from exc
            held = refused_item(exc)
            return "exists" if held.get("order_id", {}).get("S") == shipment.order_id else "taken"
        except BotoCoreError as exc:
            raise translate_error(exc, "register shipment") from exc
        return "registered"

    def parked_for(self, tracking_number: str) -> list[str]:
        """Webhook ids parked for a tracking number (gsi1 is eventually consistent)."""
        ids = []
        for item in self._query_all(
            IndexName=GSI1,
            KeyConditionExpression="gsi1pk = :pk",
            ExpressionAttributeValues={":pk": s_attr(keys.parked_gsi1pk(tracking_number))},
        ):
            ids.append(keys.webhook_id_from(item["pk"]["S"]))
        return ids

    def redrive(self, wid: str, *, now: datetime, actor: str, from_statuses=REPLAYABLE) -> bool:
        """Back to received: the stream hands it to TrackingFunction again. False if not allowed."""
        return self._move(
            wid,
            "SET #status = :received, gsi2pk = :g2, redriven_at = :now, redriven_by = :actor, "
            "expires_at = :ttl ADD replays :one REMOVE gsi1pk, gsi1sk, #error",
            {
                ":received": s_attr("received"),
                ":g2": s_attr(keys.webhooks_gsi2pk("received")),
                ":now": s_attr(utc_iso(now)),
                ":actor": s_attr(actor),
                ":one": n_attr(1),
                ":ttl": _ttl(now + APPLIED_RETENTION),
            },
            from_statuses=from_statuses,
            names={"#error": "error"},
        )

    # ---- ops ---------------------------------------------------------------------------------

    def list_webhooks(
        self, status: str, *, limit: int, cursor: str | None = None, received_before: datetime | None = None
    ) -> tuple[list[InboxEntry], str | None]:
        """A page of inbox items in one status, newest first (gsi2), and the next page's cursor."""
        condition, values = "gsi2pk = :pk", {":pk": s_attr(keys.webhooks_gsi2pk(status))}
        if received_before is not None:
            condition += " AND gsi2sk < :before"
            values[":before"] = s_attr(utc_iso(received_before))
        kwargs = {
            "TableName": self._table,
            "IndexName": GSI2,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "Limit": limit,
            "ScanIndexForward": False,
        }
        start = decode_cursor(cursor)
        if start:
            kwargs["ExclusiveStartKey"] = start
        try:
            page = self._ddb.query(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "list webhooks") from exc
        return [_inbox_entry(i) for i in page.get("Items", [])], encode_cursor(page.get("LastEvaluatedKey"))

    def get_webhook(self, wid: str) -> InboxEntry:
        try:
            item = self._ddb.get_item(TableName=self._table, Key=keys.webhook(wid), ConsistentRead=True).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read webhook") from exc
        if not item:
            raise NotFound("No such webhook event")
        return _inbox_entry(item)

    # ---- shopper view and the watch ---------------------------------------------------------

    def order_parcels(self, order_id: str) -> list[Shipment]:
        """Every parcel of an order: keys from gsi1, then one BatchGetItem."""
        wanted = [
            {"pk": item["pk"], "sk": item["sk"]}
            for item in self._query_all(
                IndexName=GSI1,
                KeyConditionExpression="gsi1pk = :pk",
                ExpressionAttributeValues={":pk": s_attr(keys.parcels_gsi1pk(order_id))},
            )
        ]
        return self._batch_get(wanted)

    def active_since_before(self, cutoff: datetime, *, limit: int) -> list[str]:
        """Tracking numbers of watched parcels whose last carrier event is older than `cutoff`."""
        try:
            page = self._ddb.query(
                TableName=self._table,
                IndexName=GSI2,
                KeyConditionExpression="gsi2pk = :pk AND gsi2sk < :cutoff",
                ExpressionAttributeValues={
                    ":pk": s_attr(keys.ACTIVE_SHIPMENTS_GSI2PK),
                    ":cutoff": s_attr(utc_iso(cutoff)),
                },
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "list stalled parcels") from exc
        return [keys.tracking_number_from(i["pk"]["S"]) for i in page.get("Items", [])]

    def shipments(self, tracking_numbers: list[str]) -> list[Shipment]:
        return self._batch_get([keys.shipment(tn) for tn in tracking_numbers])

    def record_delay(
        self, shipment: Shipment, *, expected_version: int, events: list[tuple[str, dict]]
    ) -> None:
        """The watch flags a silent parcel: the parcel and its shipment.delayed event, together."""
        items = [self._shipment_put(shipment, expected_version), *self._event_puts(shipment, events)]
        self._transact(items, {0: "shipment_changed"}, "flag delayed parcel")

    # ---- helpers -----------------------------------------------------------------------------

    def _shipment_put(self, shipment: Shipment, expected_version: int) -> dict:
        return {
            "Put": {
                "TableName": self._table,
                "Item": shipment_item(shipment),
                "ConditionExpression": "version = :v",
                "ExpressionAttributeValues": {":v": n_attr(expected_version)},
            }
        }

    def _event_puts(self, shipment: Shipment, events: list[tuple[str, dict]]) -> list[dict]:
        puts = []
        for index, (event_type, doc) in enumerate(events):
            item = {
                **keys.shipment_event(shipment.tracking_number, shipment.version, index),
                "entity": s_attr("event"),
                "type": s_attr(event_type),
                "order_id": s_attr(shipment.order_id),
                "tracking_number": s_attr(shipment.tracking_number),
                "status": s_attr(shipment.status.value),
                "at": s_attr(doc.get("at") or utc_iso(shipment.updated_at)),
                "doc": s_attr(json.dumps(doc, separators=(",", ":"))),
            }
            if shipment.rma:
                item["rma"] = s_attr(shipment.rma)
            puts.append(
                {
                    "Put": {
                        "TableName": self._table,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                }
            )
        return puts

    def _move(
        self,
        wid: str,
        update: str,
        values: dict,
        *,
        from_statuses: tuple[str, ...],
        names: dict | None = None,
    ) -> bool:
        allowed = {f":from{i}": s_attr(s) for i, s in enumerate(from_statuses)}
        return conditional_write(
            lambda: self._ddb.update_item(
                TableName=self._table,
                Key=keys.webhook(wid),
                UpdateExpression=update,
                ConditionExpression=f"#status IN ({', '.join(allowed)})",
                ExpressionAttributeNames={"#status": "status", **(names or {})},
                ExpressionAttributeValues={**values, **allowed},
            ),
            "update webhook",
        )

    def _query_all(self, **kwargs) -> list[dict]:
        return query_all(self._ddb, "query", TableName=self._table, **kwargs)

    def _batch_get(self, keys: list[dict]) -> list[Shipment]:
        items = batch_get_all(self._ddb, self._table, keys, "read shipments", ProjectionExpression="doc")
        return [Shipment.model_validate_json(i["doc"]["S"]) for i in items]

    def _transact(self, items: list[dict], reasons_by_index: dict[int, str], action: str) -> None:
        transact(self._ddb, items, reasons_by_index, action)


def _inbox_entry(item: dict) -> InboxEntry:
    def text(name: str) -> str | None:
        return item[name]["S"] if name in item else None

    return InboxEntry(
        webhook_id=keys.webhook_id_from(item["pk"]["S"]),
        provider=text("provider") or "",
        event_id=text("event_id") or "",
        tracking_number=text("tracking_number") or "",
        status=text("status") or "",
        received_at=text("received_at") or "",
        tracking_status=text("tracking_status"),
        event_at=text("event_at"),
        error=text("error"),
        replays=int(item.get("replays", {}).get("N", "0")),
        body=text("body"),
    )
