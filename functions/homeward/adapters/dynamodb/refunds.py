"""Refunds in the table: per-payment ledger items, money movement items and store credits
(their keys and indexes: docs/data-model.md).

The ledger item holds `captured`, `available`, `reserved` and `refunded` (minor units) with
`available + reserved + refunded = captured` at all times. DynamoDB conditions cannot add, so
the cap `refunded + reserved + amount <= captured` is kept as `available >= amount`. The
order and its ledger items share a partition: one Query reads both.

Every money change is one TransactWriteItems: the return (version condition), its timeline
events, the changed movement items, the ledger updates and new credits.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError

from homeward.adapters.dynamodb import (
    GSI1,
    GSI2,
    batch_get_all,
    keys,
    n_attr,
    query_all,
    s_attr,
    transact,
    translate_error,
    utc_iso,
)
from homeward.adapters.dynamodb.returns import ReturnsTable, order_from_item, read_return
from homeward.domain.refunds.changes import CreditIssue, LedgerOp, MoneyChange, OutsideRecord
from homeward.domain.refunds.ports import BY_HAND
from homeward.domain.refunds.reports import LATE_FAILURE_RECHECK
from homeward.domain.returns.states import OPEN_MOVEMENT
from homeward.errors import Conflict, NotFound, Unprocessable
from homeward.models.orders import Order
from homeward.models.refunds import LedgerBalance, MoneyMovement, StoreCredit
from homeward.models.returns import ReturnRecord, TimelineEntry

OPEN_INDEX_PK = keys.MONEY_OPEN_GSI2PK
RECHECK_INDEX_PK = keys.MONEY_RECHECK_GSI2PK

# Ledger updates by kind: (update expression, condition). :cap, :zero only used by reserve.
_LEDGER_UPDATES = {
    "reserve": (
        "SET available = if_not_exists(available, :cap) - :amt, "
        "reserved = if_not_exists(reserved, :zero) + :amt, "
        "refunded = if_not_exists(refunded, :zero), captured = if_not_exists(captured, :cap), "
        "currency = :cur, entity = :entity, payment_id = :pid",
        # A new item starts with available = captured; the domain never allocates more than that.
        "attribute_not_exists(pk) OR available >= :amt",
    ),
    "settle": ("SET reserved = reserved - :amt, refunded = refunded + :amt", "reserved >= :amt"),
    "release": ("SET reserved = reserved - :amt, available = available + :amt", "reserved >= :amt"),
    "unsettle": ("SET refunded = refunded - :amt, available = available + :amt", "refunded >= :amt"),
    # A refund made outside Homeward, already done: straight to refunded.
    "record": (
        "SET available = if_not_exists(available, :cap) - :amt, "
        "refunded = if_not_exists(refunded, :zero) + :amt, "
        "reserved = if_not_exists(reserved, :zero), captured = if_not_exists(captured, :cap), "
        "currency = :cur, entity = :entity, payment_id = :pid",
        "attribute_not_exists(pk) OR available >= :amt",
    ),
}
_CREATES_LEDGER = ("reserve", "record")


class RefundsTable:
    """Reads and writes of the money side of returns."""

    def __init__(self, client, table_name: str) -> None:
        self._ddb = client
        self._table = table_name
        self._returns = ReturnsTable(client, table_name)

    # ---- reads -------------------------------------------------------------------------------

    def get_return(self, rma: str) -> ReturnRecord | None:
        return read_return(self._ddb, self._table, rma)

    def order_and_ledger(self, order_id: str) -> tuple[Order, dict[str, LedgerBalance]] | None:
        """The order and its payments' ledger items, from one Query of the order's partition."""
        items = query_all(
            self._ddb,
            "read order",
            TableName=self._table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": s_attr(keys.order_pk(order_id))},
            ConsistentRead=True,
        )
        order_item = next((i for i in items if i["sk"]["S"] == keys.ORDER_SK), None)
        if order_item is None:
            return None
        ledger = {
            i["payment_id"]["S"]: LedgerBalance(
                payment_id=i["payment_id"]["S"],
                captured=int(i["captured"]["N"]),
                available=int(i["available"]["N"]),
                reserved=int(i["reserved"]["N"]),
                refunded=int(i["refunded"]["N"]),
                currency=i["currency"]["S"],
            )
            for i in items
            if keys.is_ledger_sk(i["sk"]["S"])
        }
        return order_from_item(order_id, order_item), ledger

    def open_movements(self, *, updated_before: datetime, limit: int) -> list[tuple[str, int]]:
        """(rma, seq) of movements still open and untouched since `updated_before`, oldest first."""
        return self._indexed(OPEN_INDEX_PK, updated_before, limit, "list open refunds")

    def rechecks_due(self, *, now: datetime, limit: int) -> list[tuple[str, int]]:
        """(rma, seq) of succeeded refunds due for their late-failure read-back, oldest first."""
        return self._indexed(RECHECK_INDEX_PK, now, limit, "list refunds to recheck")

    def mark_rechecked(self, rma: str, seq: int, *, now: datetime) -> None:
        """The movement leaves the recheck index (if it is still there)."""
        try:
            self._ddb.update_item(
                TableName=self._table,
                Key=keys.movement(rma, seq),
                UpdateExpression="SET rechecked_at = :now REMOVE gsi2pk, gsi2sk",
                ConditionExpression="gsi2pk = :recheck",
                ExpressionAttributeValues={
                    ":now": s_attr(utc_iso(now)),
                    ":recheck": s_attr(RECHECK_INDEX_PK),
                },
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate_error(exc, "mark refund rechecked") from exc
        except BotoCoreError as exc:
            raise translate_error(exc, "mark refund rechecked") from exc

    def _indexed(self, partition: str, before: datetime, limit: int, action: str) -> list[tuple[str, int]]:
        """(rma, seq) from a gsi2 partition of movements, keys before `before`, oldest first."""
        try:
            page = self._ddb.query(
                TableName=self._table,
                IndexName=GSI2,
                KeyConditionExpression="gsi2pk = :pk AND gsi2sk < :before",
                ExpressionAttributeValues={":pk": s_attr(partition), ":before": s_attr(utc_iso(before))},
                Limit=limit,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, action) from exc
        items = page.get("Items", [])
        return [(i["rma"]["S"], keys.seq_from_movement_index_sk(i["gsi2sk"]["S"])) for i in items]

    def movements_between(self, since: datetime, until: datetime) -> list[dict]:
        """Every movement created in [since, until), oldest first: Query gsi1 per month, then
        BatchGetItem for the full items (gsi1 projects keys only)."""
        wanted: list[dict] = []
        lo, hi = utc_iso(since), utc_iso(until)
        for month in _months(since, until):
            wanted += [
                {"pk": i["pk"], "sk": i["sk"]}
                for i in query_all(
                    self._ddb,
                    "list refunds",
                    TableName=self._table,
                    IndexName=GSI1,
                    KeyConditionExpression="gsi1pk = :pk AND gsi1sk BETWEEN :lo AND :hi",
                    ExpressionAttributeValues={
                        ":pk": s_attr(keys.money_log_gsi1pk(month)),
                        ":lo": s_attr(lo),
                        ":hi": s_attr(hi),
                    },
                )
            ]
        items = batch_get_all(self._ddb, self._table, wanted, "list refunds")
        rows = [_movement_row(i) for i in items if i["created_at"]["S"] < hi]
        return sorted(rows, key=lambda r: (r["created_at"], r["rma"], r["seq"]))

    def get_credit(self, code: str) -> StoreCredit | None:
        try:
            item = self._ddb.get_item(TableName=self._table, Key=keys.credit(code), ConsistentRead=True).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read store credit") from exc
        return _credit(item) if item else None

    # ---- writes ------------------------------------------------------------------------------

    def save(self, change: MoneyChange) -> None:
        """The whole change in one transaction. Conflict(version_changed) if the return moved
        meanwhile, Conflict(exceeds_remaining) if a payment has less left than reserved."""
        record = change.record
        items = self._returns.change_items(record, change.events, expected_version=change.expected_version)
        items += [self._movement_put(record, m) for m in change.movements]
        # The provider's refund id -> our movement, once, when the movement learns it: for
        # webhooks without our metadata (a refund's failure event, dashboard edits).
        items += [
            self._provider_refund_put(record, m) for m in change.learnt_refund_ids if m.provider_refund_id
        ]
        reasons = {0: "version_changed"}
        for outside in change.outside:
            reasons[len(items)] = "outside_recorded"
            items.append(self._outside_put(outside, record.updated_at))
        for op in _merged(change.ledger):
            reasons[len(items)] = "exceeds_remaining" if op.op in _CREATES_LEDGER else "ledger_changed"
            items.append(self._ledger_update(record.order_id, op))
        items += [self._credit_put(issue) for issue in change.credits]
        transact(self._ddb, items, reasons, "save refund")

    def record_outside_ledger(self, outside: OutsideRecord, op: LedgerOp) -> None:
        """An outside refund of an order with no return to show it on: its record and the
        payment's ledger count, in one transaction. Conflict(outside_recorded) for a second one."""
        items = [self._outside_put(outside, outside.at), self._ledger_update(outside.order_id, op)]
        transact(self._ddb, items, {0: "outside_recorded", 1: "exceeds_remaining"}, "record outside refund")

    def move_outside_ledger(self, outside: OutsideRecord, status: str, op: LedgerOp) -> None:
        """A ledger-only outside refund leaves `pending`: its record and the ledger, in one
        transaction. Conflict if it is no longer pending (another event moved it)."""
        move = {
            "Update": {
                "TableName": self._table,
                "Key": keys.outside_refund(outside.order_id, outside.reference),
                "UpdateExpression": "SET #status = :new",
                "ConditionExpression": "#status = :pending",
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": {":new": s_attr(status), ":pending": s_attr("pending")},
            }
        }
        items = [move, self._ledger_update(outside.order_id, op)]
        transact(self._ddb, items, {0: "outside_changed", 1: "ledger_changed"}, "move outside refund")

    def outside_refund(self, order_id: str, reference: str) -> OutsideRecord | None:
        try:
            item = self._ddb.get_item(
                TableName=self._table, Key=keys.outside_refund(order_id, reference), ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read outside refund") from exc
        return _outside(order_id, item) if item else None

    def order_for_payment(self, provider: str, reference: str) -> str | None:
        """The order whose (largest) payment this is, from one Query of gsi2."""
        try:
            page = self._ddb.query(
                TableName=self._table,
                IndexName=GSI2,
                KeyConditionExpression="gsi2pk = :pk",
                ExpressionAttributeValues={":pk": s_attr(keys.payment_reference_gsi2pk(provider, reference))},
                Limit=1,
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "find order of payment") from exc
        items = page.get("Items", [])
        return keys.order_id_from(items[0]["pk"]["S"]) if items else None

    def returns_for_order(self, order_id: str) -> list[ReturnRecord]:
        return self._returns.returns_for_order(order_id)

    def _outside_put(self, outside: OutsideRecord, now: datetime) -> dict:
        item = {
            **keys.outside_refund(outside.order_id, outside.reference),
            "entity": s_attr("outside_refund"),
            "reference": s_attr(outside.reference),
            "payment_id": s_attr(outside.payment_id),
            "provider": s_attr(outside.provider),
            "amount": n_attr(outside.amount),
            "currency": s_attr(outside.currency),
            "source": s_attr(outside.source),
            "status": s_attr(outside.status),
            "refunded_at": s_attr(utc_iso(outside.at)),
            "recorded_at": s_attr(utc_iso(now)),
        }
        if outside.rma is not None and outside.seq is not None:
            item.update({"rma": s_attr(outside.rma), "seq": n_attr(outside.seq)})
        return {
            "Put": {"TableName": self._table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}
        }

    def save_return_change(self, record: ReturnRecord, events: list[TimelineEntry], *, expected_version: int):
        self._returns.save_change(record, events, expected_version=expected_version, release={})

    def redeem_credit(
        self, code: str, *, amount: int, currency: str, order_reference: str, key: str, now: datetime
    ) -> tuple[StoreCredit, bool]:
        """Take `amount` off a credit's balance once per idempotency key: (credit, applied now)."""
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        # The redemption record first: a replay must be recognised even if the balance is now low.
        items = [
            {
                "Put": {
                    "TableName": self._table,
                    "Item": {
                        **keys.credit_redemption(code, digest),
                        "entity": s_attr("credit_redemption"),
                        "amount": n_attr(amount),
                        "currency": s_attr(currency),
                        "order_reference": s_attr(order_reference),
                        "at": s_attr(utc_iso(now)),
                    },
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            self._balance_update(code, amount, currency, now),
        ]
        try:
            transact(
                self._ddb, items, {0: "already_redeemed", 1: "insufficient_balance"}, "redeem store credit"
            )
        except Conflict as exc:
            return self._refused_redemption(code, currency, exc), False
        credit = self.get_credit(code)
        assert credit is not None
        return credit, True

    def _balance_update(self, code: str, amount: int, currency: str, now: datetime) -> dict:
        return {
            "Update": {
                "TableName": self._table,
                "Key": keys.credit(code),
                "UpdateExpression": "SET balance = balance - :amt, updated_at = :now",
                "ConditionExpression": "attribute_exists(pk) AND balance >= :amt AND currency = :cur",
                "ExpressionAttributeValues": {
                    ":amt": n_attr(amount),
                    ":cur": s_attr(currency),
                    ":now": s_attr(utc_iso(now)),
                },
            }
        }

    def _refused_redemption(self, code: str, currency: str, exc: Conflict) -> StoreCredit:
        """The credit when this key already redeemed it; otherwise why it refused (raised)."""
        credit = self.get_credit(code)
        if credit is None:
            raise NotFound("No such store credit") from exc
        if exc.details.get("reason") == "already_redeemed":
            return credit
        if credit.currency != currency:
            raise Unprocessable(
                f"This credit is in {credit.currency}",
                details={"reason_codes": ["currency_mismatch"], "currency": credit.currency},
            ) from exc
        raise Conflict(
            "The credit's balance is lower than the amount",
            details={
                "reason": "insufficient_balance",
                "balance": credit.balance,
                "currency": credit.currency,
            },
        ) from exc

    # ---- items ---------------------------------------------------------------------------------

    def movement_for_provider_refund(self, provider: str, refund_id: str) -> tuple[str, str] | None:
        """(rma, idempotency key) of the movement that created this provider refund, if ours."""
        try:
            item = self._ddb.get_item(
                TableName=self._table, Key=keys.provider_refund(provider, refund_id), ConsistentRead=True
            ).get("Item")
        except (ClientError, BotoCoreError) as exc:
            raise translate_error(exc, "read provider refund") from exc
        return (item["rma"]["S"], item["idempotency_key"]["S"]) if item else None

    def _provider_refund_put(self, record: ReturnRecord, movement: MoneyMovement) -> dict:
        item = {
            **keys.provider_refund(movement.provider, movement.provider_refund_id or ""),
            "entity": s_attr("provider_refund"),
            "rma": s_attr(record.rma),
            "seq": n_attr(movement.seq),
            "idempotency_key": s_attr(movement.idempotency_key),
        }
        return {"Put": {"TableName": self._table, "Item": item}}

    def _movement_put(self, record: ReturnRecord, movement: MoneyMovement) -> dict:
        created, updated = utc_iso(movement.created_at), utc_iso(movement.updated_at)
        item = {
            **keys.movement(record.rma, movement.seq),
            "entity": s_attr("money"),
            "rma": s_attr(record.rma),
            "order_id": s_attr(record.order_id),
            "seq": n_attr(movement.seq),
            "doc": s_attr(movement.model_dump_json()),
            "kind": s_attr(movement.kind),
            "amount": n_attr(movement.amount),
            "currency": s_attr(movement.currency),
            "status": s_attr(movement.status),
            "provider": s_attr(movement.provider),
            "created_at": s_attr(created),
            "updated_at": s_attr(updated),
            "gsi1pk": s_attr(keys.money_log_gsi1pk(created[:7])),
            "gsi1sk": s_attr(keys.movement_index_sk(created, record.rma, movement.seq)),
        }
        if movement.status == "requires_action" and movement.provider in BY_HAND:
            # Waits for ops, not for the sweep (which would otherwise re-read it every time).
            item["gsi2pk"] = s_attr(keys.MONEY_BY_HAND_GSI2PK)
            item["gsi2sk"] = s_attr(keys.movement_index_sk(updated, record.rma, movement.seq))
        elif movement.status in OPEN_MOVEMENT and movement.source == "homeward":
            item["gsi2pk"] = s_attr(OPEN_INDEX_PK)
            item["gsi2sk"] = s_attr(keys.movement_index_sk(updated, record.rma, movement.seq))
        elif (
            movement.status == "succeeded"
            and movement.kind == "refund"
            and movement.source == "homeward"
            and movement.provider not in BY_HAND
            and movement.settled_at
        ):
            # Read back once more when the provider's late-failure webhooks stop (the sweep).
            due = utc_iso(movement.settled_at + LATE_FAILURE_RECHECK)
            item["gsi2pk"] = s_attr(RECHECK_INDEX_PK)
            item["gsi2sk"] = s_attr(keys.movement_index_sk(due, record.rma, movement.seq))
        return {"Put": {"TableName": self._table, "Item": item}}

    def _ledger_update(self, order_id: str, op: LedgerOp) -> dict:
        expression, condition = _LEDGER_UPDATES[op.op]
        values = {":amt": n_attr(op.amount)}
        if op.op in _CREATES_LEDGER:
            values.update(
                {
                    ":cap": n_attr(op.captured),
                    ":zero": n_attr(0),
                    ":cur": s_attr(op.currency),
                    ":entity": s_attr("payment_ledger"),
                    ":pid": s_attr(op.payment_id),
                }
            )
        update = {
            "TableName": self._table,
            "Key": keys.ledger(order_id, op.payment_id),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
        }
        if op.checked or op.op not in _CREATES_LEDGER:
            update["ConditionExpression"] = condition
        return {"Update": update}

    def _credit_put(self, issue: CreditIssue) -> dict:
        at = utc_iso(issue.issued_at)
        return {
            "Put": {
                "TableName": self._table,
                "Item": {
                    **keys.credit(issue.code),
                    "entity": s_attr("store_credit"),
                    "code": s_attr(issue.code),
                    "issued": n_attr(issue.amount),
                    "balance": n_attr(issue.amount),
                    "currency": s_attr(issue.currency),
                    "rma": s_attr(issue.rma),
                    "order_id": s_attr(issue.order_id),
                    "customer_fp": s_attr(issue.customer_fp),
                    "issued_at": s_attr(at),
                    "updated_at": s_attr(at),
                },
                "ConditionExpression": "attribute_not_exists(pk)",
            }
        }


def _merged(ops: list[LedgerOp]) -> list[LedgerOp]:
    """One update per payment: a transaction may not touch an item twice."""
    merged: dict[str, LedgerOp] = {}
    for op in ops:
        seen = merged.get(op.payment_id)
        if seen is None:
            merged[op.payment_id] = op
        elif seen.op != op.op:
            raise ValueError(f"two different ledger operations on payment {op.payment_id} in one change")
        else:
            merged[op.payment_id] = LedgerOp(
                payment_id=op.payment_id,
                op=op.op,
                amount=seen.amount + op.amount,
                captured=op.captured,
                currency=op.currency,
                checked=seen.checked and op.checked,
            )
    return list(merged.values())


def _months(since: datetime, until: datetime) -> list[str]:
    start, end = since.astimezone(UTC), until.astimezone(UTC)
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _movement_row(item: dict) -> dict:
    movement = MoneyMovement.model_validate_json(item["doc"]["S"])
    return {
        "created_at": item["created_at"]["S"],
        "rma": item["rma"]["S"],
        "order_id": item["order_id"]["S"],
        "seq": movement.seq,
        "movement": movement,
    }


def _outside(order_id: str, item: dict) -> OutsideRecord:
    return OutsideRecord(
        order_id=order_id,
        reference=item["reference"]["S"],
        payment_id=item["payment_id"]["S"],
        provider=item["provider"]["S"],
        amount=int(item["amount"]["N"]),
        currency=item["currency"]["S"],
        source=item["source"]["S"],
        at=datetime.fromisoformat(item["refunded_at"]["S"]),
        rma=item["rma"]["S"] if "rma" in item else None,
        seq=int(item["seq"]["N"]) if "seq" in item else None,
        status=item.get("status", {}).get("S", "succeeded"),
    )


def _credit(item: dict) -> StoreCredit:
    return StoreCredit(
        code=item["code"]["S"],
        currency=item["currency"]["S"],
        issued=int(item["issued"]["N"]),
        balance=int(item["balance"]["N"]),
        rma=item["rma"]["S"],
        order_id=item["order_id"]["S"],
        issued_at=item["issued_at"]["S"],
    )
