"""The small pure pieces the handlers lean on: pagination cursors (adapters/dynamodb/pages),
S3 object keys (adapters/storage) and the refund export's CSV (handlers/ops/refunds_csv)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from homeward.adapters.dynamodb.pages import decode_cursor, encode_cursor
from homeward.adapters.storage import label_key, photo_key
from homeward.errors import Unprocessable
from homeward.handlers.ops.refunds_csv import COLUMNS, csv_safe, refunds_csv
from homeward.models.returns import is_photo_of

PHOTO_KEY = re.compile(r"^photos/[A-Za-z0-9._:\-]{1,64}/[0-9a-f]{32}\.(jpg|png|webp|heic)$")  # models.returns


def test_a_cursor_round_trips_and_the_last_page_has_none():
    last = {"pk": {"S": "RETURN#R-1"}, "sk": {"S": "RETURN"}, "gsi2pk": {"S": "RETURNS#approved"}}
    assert decode_cursor(encode_cursor(last)) == last
    assert encode_cursor(None) is None and encode_cursor({}) is None
    assert decode_cursor(None) is None and decode_cursor("") is None


@pytest.mark.parametrize("cursor", ["not base64!", "bm90IGpzb24="])
def test_a_cursor_that_is_not_ours_is_unprocessable(cursor):
    with pytest.raises(Unprocessable) as refused:
        decode_cursor(cursor)
    assert refused.value.details == {"reason": "invalid_cursor"}


@pytest.mark.parametrize("content_type", ["image/jpeg", "image/png", "image/webp", "image/heic"])
def test_photo_keys_are_per_order_unguessable_and_accepted_by_the_model(content_type):
    key = photo_key("A-1001", content_type)
    assert PHOTO_KEY.match(key) and is_photo_of(key, "A-1001") and not is_photo_of(key, "A-100")
    assert key != photo_key("A-1001", content_type)
    assert photo_key("A-1", "image/jpeg").endswith(".jpg")


def test_label_keys():
    assert label_key("R-7K3M-9QXA", "PDF") == "labels/R-7K3M-9QXA/label.pdf"


def test_free_text_never_runs_as_a_formula():
    assert [csv_safe(t) for t in ("=SUM(A1)", "+1", "-1", "@x", "\tx", "\rx")] == [
        "'=SUM(A1)",
        "'+1",
        "'-1",
        "'@x",
        "'\tx",
        "'\rx",
    ]
    assert csv_safe("damaged") == "damaged" and csv_safe("") == ""


def test_the_export_has_a_header_and_one_row_per_movement():
    at = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    movement = SimpleNamespace(
        created_at=at,
        updated_at=at,
        settled_at=None,
        seq=1,
        kind="refund",
        trigger="manual",
        status="pending",
        amount=1299,
        currency="EUR",
        provider="stripe",
        payment_id="pi_1",
        provider_refund_id=None,
        credit_code=None,
        failure_reason=None,
        reason="=cmd",
        actor="ops",
        actor_id="ann@example.com",
        idempotency_key="refund:R-1:1",
    )
    text = refunds_csv([{"rma": "R-1", "order_id": "A-1", "movement": movement}])
    assert text.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == COLUMNS and len(rows) == 1
    assert rows[0]["amount_minor"] == "1299" and rows[0]["settled_at"] == "" and rows[0]["reason"] == "'=cmd"
