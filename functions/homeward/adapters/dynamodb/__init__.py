"""DynamoDB: the only package that reads or writes the Homeward table.

The single table's entities, keys, indexes and access patterns: docs/data-model.md, generated
from `keys.ENTITIES` (`make docs`). Every key is built and parsed in `keys`; no other module
spells a key prefix.

Modules: `orders` (orders, sign-in attempts and links), `returns` (returns, timelines,
reservations, label claims), `refunds` (ledger, money movements, store credit), `tracking`
(webhook inbox, parcels), `notifications` (sends, preferences, feedback), `idempotency`
(Powertools idempotency on the table), `pages` (opaque pagination cursors).

Every create is conditional and every change carries a version or content condition;
`ClientError` becomes a domain error in `translate_error` and nowhere else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from botocore.exceptions import BotoCoreError, ClientError

from homeward.adapters.dynamodb import keys
from homeward.adapters.dynamodb.keys import GSI1, GSI2
from homeward.errors import Conflict, DependencyFailed, HomewardError

__all__ = ["GSI1", "GSI2", "RESERVED", "keys"]

RESERVED = "reserved_"


def conditional_write(call, action: str) -> bool:
    """Run a conditional write: True if it was made, False if its condition refused it (another
    writer was first); any other failure becomes a domain error (`translate_error`)."""
    try:
        call()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise translate_error(exc, action) from exc
    except BotoCoreError as exc:
        raise translate_error(exc, action) from exc
    return True


def refused_item(exc: ClientError) -> dict:
    """The item a refused conditional write found (ReturnValuesOnConditionCheckFailure=ALL_OLD)."""
    return cast(dict, exc.response).get("Item") or {}


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


def query_all(ddb, action: str, **kwargs) -> list[dict]:
    """Every item a Query matches, following LastEvaluatedKey page by page."""
    items: list[dict] = []
    try:
        while True:
            page = ddb.query(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    except (ClientError, BotoCoreError) as exc:
        raise translate_error(exc, action) from exc


def batch_get_all(ddb, table: str, keys: list[dict], action: str, **options) -> list[dict]:
    """Every item of `keys` (in no particular order): BatchGetItem 100 keys at a time,
    following UnprocessedKeys. `options`: ConsistentRead, ProjectionExpression..."""
    items: list[dict] = []
    try:
        for start in range(0, len(keys), 100):
            request: dict | None = {table: {"Keys": keys[start : start + 100], **options}}
            while request:
                result = ddb.batch_get_item(RequestItems=request)
                items += result.get("Responses", {}).get(table, [])
                request = result.get("UnprocessedKeys") or None
    except (ClientError, BotoCoreError) as exc:
        raise translate_error(exc, action) from exc
    return items


def transact(ddb, items: list[dict], reasons_by_index: dict[int, str], action: str) -> None:
    """TransactWriteItems with cancellations translated: a failed condition becomes Conflict
    with the reason named for the first failing item (`reasons_by_index`), contention or
    throttling becomes DependencyFailed (retry)."""
    try:
        ddb.transact_write_items(TransactItems=items)
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


def utc_iso(moment: datetime) -> str:
    """Fixed-width UTC timestamps sort and compare correctly as strings."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def s_attr(value: str) -> dict:
    return {"S": value}


def n_attr(value: int) -> dict:
    return {"N": str(value)}


def order_key(order_id: str) -> dict:
    return keys.order(order_id)
