"""One correction to moto 5.2.5's DynamoDB, applied wherever Homeward runs on moto.

`TransactWriteItems` in moto deep-copies every table it touches before writing, and on a
cancelled transaction swaps the table object for that copy. Two consequences break what
Homeward relies on:

* stream readers hold the *old* table's shard, so after the first cancelled transaction
  they never see another record (DynamoDB streams, and so every stream-driven function,
  silently stop locally);
* the copy costs time proportional to the table: a 10,000-event webhook burst slows down
  quadratically.

DynamoDB itself checks every condition before writing anything. The replacement does the
same: conditions first (a cancelled transaction writes nothing and emits no stream record),
then the writes. Should a write still fail validation half-way, the touched items are put
back and their stream records removed. Transactions are serialized with a lock, as moto's
server handles requests on several threads.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

_LOCK = threading.RLock()
_MARK = "_homeward_patched"


def apply() -> None:
    """Install the replacement (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend.transact_write_items, _MARK, False):
        return
    setattr(_transact_write_items, _MARK, True)
    DynamoDBBackend.transact_write_items = _transact_write_items


def _transact_write_items(self, transact_items: list[dict[str, Any]]) -> None:
    from moto.dynamodb.comparisons import get_filter_expression
    from moto.dynamodb.exceptions import (
        ConditionalCheckFailed,
        MultipleTransactionsException,
        TooManyTransactionsException,
        TransactionCanceledException,
        TransactWriteSingleOpException,
    )

    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    with _LOCK:
        seen: set[tuple[str, str]] = set()
        plan: list[tuple[str, dict, str, dict]] = []
        errors: list[tuple[Any, Any, Any]] = []
        for entry in transact_items:
            if len(entry) > 1:
                raise TransactWriteSingleOpException
            op_type, op = next(iter(entry.items()))
            if op_type not in {"ConditionCheck", "Put", "Delete", "Update"}:
                raise ValueError("Unsupported transaction operation")
            table_name = op["TableName"]
            key = _item_key(self.get_table(table_name), op_type, op)
            marker = (str(table_name), str(dict(sorted(key.items()))))
            if marker in seen:
                raise MultipleTransactionsException()
            seen.add(marker)
            current = self.get_item(table_name, key)
            condition = op.get("ConditionExpression")
            if condition is not None and not get_filter_expression(
                condition, op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
            ).expr(current):
                errors.append(("ConditionalCheckFailed", ConditionalCheckFailed().message, _old(op, current)))
                continue
            errors.append((None, None, None))
            plan.append((op_type, op, table_name, key))
        if any(code is not None for code, _, _ in errors):
            raise TransactionCanceledException(errors)
        _write(self, plan)


def _item_key(table, op_type: str, op: dict) -> dict:
    if op_type != "Put":
        return op["Key"]
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return key


def _old(op: dict, current) -> Any:
    """The item a refused condition saw, when the operation asked for it."""
    if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
        return current.to_json()["Attributes"]
    return None


def _write(backend, plan: list[tuple[str, dict, str, dict]]) -> None:
    """Apply the planned writes; on a failure put every touched item back as it was."""
    saved = []
    stream_lengths: dict[str, int] = {}
    for _op, _, table_name, key in plan:
        table = backend.get_table(table_name)
        if table.stream_shard is not None:
            stream_lengths.setdefault(table_name, len(table.stream_shard.items))
        saved.append((table_name, key, copy.deepcopy(backend.get_item(table_name, key))))
    try:
        for op_type, op, table_name, key in plan:
            _apply(backend, op_type, op, table_name, key)
    except Exception:
        _restore(backend, saved, stream_lengths)
        raise


def _apply(backend, op_type: str, op: dict, table_name: str, key: dict) -> None:
    if op_type == "Put":
        backend.put_item(table_name, op["Item"])
    elif op_type == "Delete":
        backend.delete_item(table_name, key)
    elif op_type == "Update":
        backend.update_item(
            table_name,
            key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=op.get("ExpressionAttributeNames"),
            expression_attribute_values=op.get("ExpressionAttributeValues"),
        )


def _restore(backend, saved: list, stream_lengths: dict[str, int]) -> None:
    for table_name, key, item in reversed(saved):
        table = backend.get_table(table_name)
        hash_key, range_key = backend.get_keys_value(table, key)
        table.delete_item(hash_key, range_key)
        if item is not None:
            table.put_item(item.to_json()["Attributes"])
    for table_name, length in stream_lengths.items():
        del backend.get_table(table_name).stream_shard.items[length:]
