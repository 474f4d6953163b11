"""The refund export as CSV: one row per money movement (pure: rows in, text out)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

COLUMNS = [
    "created_at",
    "updated_at",
    "settled_at",
    "rma",
    "order_id",
    "seq",
    "kind",
    "trigger",
    "status",
    "amount_minor",
    "currency",
    "provider",
    "payment_id",
    "provider_refund_id",
    "credit_code",
    "failure_reason",
    "reason",
    "actor",
    "actor_id",
    "idempotency_key",
]


def refunds_csv(rows: Iterable[dict]) -> str:
    """The CSV of `movements_between` rows (each with `rma`, `order_id` and its `movement`)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows(_row(row) for row in rows)
    return out.getvalue()


def _row(row: dict) -> list:
    m = row["movement"]
    return [
        m.created_at.isoformat(),
        m.updated_at.isoformat(),
        m.settled_at.isoformat() if m.settled_at else "",
        row["rma"],
        row["order_id"],
        m.seq,
        m.kind,
        m.trigger,
        m.status,
        m.amount,
        m.currency,
        m.provider,
        m.payment_id or "",
        m.provider_refund_id or "",
        m.credit_code or "",
        m.failure_reason or "",
        csv_safe(m.reason or ""),
        m.actor,
        csv_safe(m.actor_id or ""),
        m.idempotency_key,
    ]


def csv_safe(text: str) -> str:
    """Free text opened in a spreadsheet must not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
