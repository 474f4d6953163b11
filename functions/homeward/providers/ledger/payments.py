"""The `ledger` payment provider: the local default, and a stand-in for shops that refund
through their own books.

It behaves like a card processor where it matters for exactly-once: a refund is created once
per idempotency key (a conditional PutItem keyed by a hash of the key; a repeat with the same
parameters gets the same refund, with other parameters `idempotency_error`), it starts
`pending` and settles asynchronously (`succeeded` once `settle_seconds` have passed, read
from the stored creation time, so no background process is needed), and it can be found by
key after the fact. A payment reference starting with `fail_` settles as `failed`
(`declined`), to exercise the failure path.

Items: pk `PSP#ledger#<refund id>`, sk `REFUND` in the Homeward table (TTL one year).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from homeward.adapters.dynamodb import keys, n_attr, s_attr, utc_iso
from homeward.domain.refunds.ports import (
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
    RefundStatus,
)

_KEEP = timedelta(days=365)
FAILING_REFERENCE_PREFIX = "fail_"


def refund_id_for(idempotency_key: str) -> str:
    return "lr_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]


class LedgerProvider:
    name = "ledger"

    def __init__(
        self,
        client,
        table_name: str,
        *,
        settle_seconds: float,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._ddb = client
        self._table = table_name
        self._settle = timedelta(seconds=settle_seconds)
        self._clock = clock

    def create_refund(self, request: RefundRequest) -> ProviderRefund:
        refund_id = refund_id_for(request.idempotency_key)
        now = self._clock()
        item = {
            **_key(refund_id),
            "entity": s_attr("ledger_refund"),
            "refund_id": s_attr(refund_id),
            "idempotency_key": s_attr(request.idempotency_key),
            "payment_reference": s_attr(request.payment_reference),
            "amount": n_attr(request.amount),
            "currency": s_attr(request.currency),
            "metadata": s_attr(json.dumps(dict(request.metadata), sort_keys=True)),
            "created_at": s_attr(utc_iso(now)),
            "settles_at": s_attr(utc_iso(now + self._settle)),
            "expires_at": n_attr(int((now + _KEEP).timestamp())),
        }
        try:
            self._ddb.put_item(
                TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise ProviderUnavailable(
                    self.name, f"DynamoDB {exc.response.get('Error', {}).get('Code')}"
                ) from exc
            stored = self._get(refund_id)
            if stored is None:
                raise ProviderUnavailable(self.name, "refund vanished after a conflicting create") from exc
            same = (
                stored["payment_reference"]["S"] == request.payment_reference
                and int(stored["amount"]["N"]) == request.amount
                and stored["currency"]["S"] == request.currency
            )
            if not same:
                raise ProviderRejected(
                    self.name, "idempotency_error", "key reused with different parameters"
                ) from exc
            return self._view(stored)
        except BotoCoreError as exc:
            raise ProviderUnavailable(self.name, type(exc).__name__) from exc
        return self._view(item)

    def retrieve_refund(self, refund_id: str) -> ProviderRefund:
        stored = self._get(refund_id)
        if stored is None:
            raise ProviderRejected(self.name, "resource_missing", f"no refund {refund_id}")
        return self._view(stored)

    def find_refund(self, payment_reference: str, idempotency_key: str) -> ProviderRefund | None:
        stored = self._get(refund_id_for(idempotency_key))
        if stored is None or stored["payment_reference"]["S"] != payment_reference:
            return None
        return self._view(stored)

    def _get(self, refund_id: str) -> dict | None:
        try:
            return self._ddb.get_item(TableName=self._table, Key=_key(refund_id), ConsistentRead=True).get(
                "Item"
            )
        except (ClientError, BotoCoreError) as exc:
            raise ProviderUnavailable(self.name, f"read failed: {type(exc).__name__}") from exc

    def _view(self, item: dict) -> ProviderRefund:
        settles_at = datetime.fromisoformat(item["settles_at"]["S"].replace("Z", "+00:00"))
        fails = item["payment_reference"]["S"].startswith(FAILING_REFERENCE_PREFIX)
        status: RefundStatus
        reason: str | None
        if self._clock() < settles_at:
            status, reason = "pending", None
        else:
            status, reason = ("failed", "declined") if fails else ("succeeded", None)
        return ProviderRefund(
            refund_id=item["refund_id"]["S"],
            status=status,
            amount=int(item["amount"]["N"]),
            currency=item["currency"]["S"],
            failure_reason=reason,
            metadata=json.loads(item["metadata"]["S"]),
        )


def _key(refund_id: str) -> dict:
    return keys.psp_ledger_refund(refund_id)


def make_provider(settings: Any, api_key: str | None = None) -> LedgerProvider:
    """The registry's factory: the ledger lives in the function's own table (no key)."""
    from homeward.adapters.aws import client

    return LedgerProvider(
        client("dynamodb"), settings.table_name, settle_seconds=settings.ledger_settle_seconds
    )
