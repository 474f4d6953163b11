"""Notifications in the table: a record per (event, channel) written before sending, customer
preferences, and survey answers (keys and indexes: docs/data-model.md). A notification's
status: sending | sent | failed | undeliverable | deferred | retry; kept 90 days (TTL).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from botocore.exceptions import BotoCoreError, ClientError

from homeward.adapters.dynamodb import keys, n_attr, refused_item, s_attr, translate_error, utc_iso
from homeward.adapters.dynamodb.orders import OrdersTable
from homeward.adapters.dynamodb.returns import ReturnsTable, read_return
from homeward.domain.notifications.rules import Preferences
from homeward.domain.notifications.service import ClaimBusy
from homeward.models.orders import Order
from homeward.models.returns import ReturnRecord, TimelineEntry

KEEP = timedelta(days=90)
# A `sending` record this old belongs to an attempt that died between the claim and the mark
# (NotificationsFunction times out after 30 s; its queue hands the message back after 180 s):
# the message may be claimed again. The price is a possible second copy if the death came
# after the send - better than never telling them. A younger one is an attempt in progress.
STALE_SENDING = timedelta(seconds=60)


class NotificationsTable:
    def __init__(self, client, table_name: str) -> None:
        self._ddb = client
        self._table = table_name

    def claim(
        self,
        event_id: str,
        channel: str,
        *,
        kind: str,
        now: datetime,
        status: str = "sending",
        detail: str | None = None,
    ) -> bool:
        """Record that this (event, channel) is being sent (or, in the same write, that it is
        `undeliverable` or `deferred`: `status`, `detail`); False if it already was.

        A `deferred` record (an SMS waiting out quiet hours), a `retry` one (throttled) or a
        stale `sending` one may be claimed again; anything else means: never send twice.
        Raises ClaimBusy for a fresh `sending` one: another attempt is sending it right now
        (or just died); the caller retries later, when it is sent or stale.
        """
        item = {
            **keys.notification(event_id, channel),
            "entity": s_attr("notification"),
            "kind": s_attr(kind),
            "status": s_attr(status),
            "at": s_attr(utc_iso(now)),
            "expires_at": n_attr(int((now + KEEP).timestamp())),
        }
        if detail:
            item["detail"] = s_attr(detail[:500])
        try:
            self._ddb.put_item(
                TableName=self._table,
                Item=item,
                ConditionExpression=(
                    "attribute_not_exists(pk) OR #s IN (:deferred, :retry)"
                    " OR (#s = :sending AND #at < :stale)"
                ),
                ExpressionAttributeNames={"#s": "status", "#at": "at"},
                ExpressionAttributeValues={
                    ":deferred": s_attr("deferred"),
                    ":retry": s_attr("retry"),
                    ":sending": s_attr("sending"),
                    ":stale": s_attr(utc_iso(now - STALE_SENDING)),
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                if refused_item(exc).get("status", {}).get("S") == "sending":
                    raise ClaimBusy(f"{event_id} {channel} is being sent") from exc
                return False
            raise translate_error(exc, "claim notification") from exc
        except BotoCoreError as exc:
            raise translate_error(exc, "claim notification") from exc
        return True

    def mark(
        self, event_id: str, channel: str, status: str, *, detail: str | None = None, now: datetime
    ) -> None:
        names = {"#s": "status"}
        values = {":s": s_attr(status), ":at": s_attr(utc_iso(now))}
        expression = "SET #s = :s, updated_at = :at"
        if detail:
            expression += ", detail = :d"
            values[":d"] = s_attr(detail[:500])
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=keys.notification(event_id, channel),
                UpdateExpression=expression,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "record notification") from exc

    def status(self, event_id: str, channel: str) -> str | None:
        try:
            item = self._ddb.get_item(
                TableName=self._table, Key=keys.notification(event_id, channel), ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read notification") from exc
        return item["status"]["S"] if item else None

    def preferences(self, customer_fp: str) -> Preferences:
        try:
            item = (
                self._ddb.get_item(TableName=self._table, Key=keys.preferences(customer_fp)).get("Item") or {}
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read preferences") from exc
        return Preferences(
            email_opt_out=item.get("email_opt_out", {}).get("BOOL", False),
            sms_opt_in=item.get("sms_opt_in", {}).get("BOOL", False),
            sms_opt_out=item.get("sms_opt_out", {}).get("BOOL", False),
        )

    def set_preference(self, customer_fp: str, name: str, value: bool, *, now: datetime) -> None:
        if name not in ("email_opt_out", "sms_opt_in", "sms_opt_out"):
            raise ValueError(f"unknown preference {name!r}")
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=keys.preferences(customer_fp),
                UpdateExpression="SET #n = :v, entity = :e, updated_at = :at",
                ExpressionAttributeNames={"#n": name},
                ExpressionAttributeValues={
                    ":v": {"BOOL": value},
                    ":e": s_attr("preferences"),
                    ":at": s_attr(utc_iso(now)),
                },
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "save preferences") from exc

    def save_feedback(
        self, rma: str, order_id: str, rating: int, comment: str | None, *, now: datetime
    ) -> None:
        """One answer per return; a second answer replaces the first (the shopper changed their mind)."""
        values = {
            ":e": s_attr("feedback"),
            ":rma": s_attr(rma),
            ":o": s_attr(order_id),
            ":r": n_attr(rating),
            ":at": s_attr(utc_iso(now)),
            ":g1": s_attr(keys.feedback_gsi1pk(utc_iso(now)[:7])),
            ":g1s": s_attr(keys.feedback_gsi1sk(utc_iso(now), rma)),
        }
        expression = (
            "SET entity = :e, rma = :rma, order_id = :o, rating = :r, #at = :at, gsi1pk = :g1, gsi1sk = :g1s"
        )
        if comment:
            expression += ", #c = :c"
            values[":c"] = s_attr(comment)
        else:
            expression += " REMOVE #c"
        try:
            # UpdateItem (not PutItem): the portal function writes nothing else whole.
            self._ddb.update_item(
                TableName=self._table,
                Key=keys.feedback(rma),
                UpdateExpression=expression,
                ExpressionAttributeNames={"#at": "at", "#c": "comment"},
                ExpressionAttributeValues=values,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "save feedback") from exc

    def feedback(self, rma: str) -> dict | None:
        try:
            item = self._ddb.get_item(TableName=self._table, Key=keys.feedback(rma)).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read feedback") from exc
        if not item:
            return None
        return {
            "rating": int(item["rating"]["N"]),
            "comment": item.get("comment", {}).get("S"),
            "at": item["at"]["S"],
        }


class NotificationLookup:
    """What a notification reads (the return, the order) and the one thing it may write to a
    return: a staff-only timeline note when a message could not be delivered."""

    def __init__(self, client, table_name: str) -> None:
        self._ddb = client
        self._table = table_name
        self._returns = ReturnsTable(client, table_name)
        self._orders = OrdersTable(client, table_name)

    def get_return(self, rma: str) -> ReturnRecord | None:
        return read_return(self._ddb, self._table, rma)

    def get_order(self, order_id: str) -> Order | None:
        return self._orders.get_order(order_id)

    def save_note(self, record: ReturnRecord, event: TimelineEntry, *, expected_version: int) -> None:
        self._returns.save_change(record, [event], expected_version=expected_version, release={})
