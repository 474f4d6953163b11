"""Strict input (#13): JSON integers and booleans only, no control characters, no dot-only ids.

Through the real handlers: each case is a 422 with the field's location, and nothing is stored.
"""

from __future__ import annotations

import json

import pytest
from homeward.models.common import ExternalId, Strict

from tests.conftest import load_event
from tests.integration.test_orders_slice import SAMPLE_ORDER, put_order, sign_in
from tests.integration.test_returns_flow import recent_order, reserved, start

LINE = {"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}


@pytest.fixture
def token(aws):
    assert put_order(recent_order()).status == 201
    return sign_in().body["token"]


@pytest.mark.parametrize("quantity", ["1", True, 1.0, "1e0", None])
def test_a_return_quantity_is_a_json_integer(token, quantity):
    result = start(token, [{**LINE, "quantity": quantity}], key=None)
    assert result.status == 422, result.raw
    assert ["body", "lines", 0, "quantity"] in [e["loc"] for e in result.body["details"]]
    assert reserved() == 0


@pytest.mark.parametrize(
    "change",
    [
        lambda o: o["lines"][0].update(quantity="2"),
        lambda o: o["lines"][0].update(unit_price="2500"),
        lambda o: o["lines"][0].update(unit_price=True),
        lambda o: o.update(shipping=False),
        lambda o: o["customer"].update(sms_opt_in="true"),
        lambda o: o["customer"].update(sms_opt_in=1),
    ],
)
def test_order_numbers_and_flags_are_not_coerced(aws, change):
    body = json.loads(json.dumps(SAMPLE_ORDER))
    change(body)
    result = put_order(body)
    assert result.status == 422, result.raw


@pytest.mark.parametrize(
    "text",
    [
        "Tee\x00",
        "Tee\x1b[2J\x1b[H",
        "Tee\x07",
        "Tee\x7f",
        "Tee\x9b31m",
        "Tee\u0085",
        "Two\nlines",
        "Tab\there",
    ],
)
def test_control_characters_are_refused_in_titles(aws, text):
    body = json.loads(json.dumps(SAMPLE_ORDER))
    body["lines"][0]["title"] = text
    assert put_order(body).status == 422


@pytest.mark.parametrize("field", ["order_number", "email"])
@pytest.mark.parametrize("bad", ["\x00", "\x1b[31m", "\n", "\u2028"])
def test_control_characters_are_refused_in_order_numbers_and_emails(aws, field, bad):
    body = json.loads(json.dumps(SAMPLE_ORDER))
    if field == "email":
        body["customer"]["email"] = f"jane{bad}doe@example.com"
    else:
        body["order_number"] = f"#10{bad}01"
    assert put_order(body).status == 422
    event = load_event("portal_api.create_session")
    credentials = {"order_number": "#1001", "email": "jane.doe@example.com"}
    credentials[field] = credentials[field][:3] + bad + credentials[field][3:]
    event["body"] = json.dumps(credentials)
    from tests.conftest import invoke

    assert invoke("homeward.handlers.portal_api", event).status == 422


def test_notes_keep_line_breaks_but_not_escapes(token):
    assert start(token, [LINE], key=None, note="Too small.\nSecond line\twith a tab").status == 201
    refused = start(token, [LINE], key=None, note="Too small \x1b]0;pwned\x07")
    assert refused.status == 422 and "control characters" in refused.raw
    assert reserved() == 1


@pytest.mark.parametrize("order_id", [".", "..", "..."])
def test_dot_only_order_ids_are_refused(aws, order_id):
    assert put_order(recent_order(), order_id=order_id).status == 422


def test_ids_with_dots_inside_are_still_fine(aws):
    assert put_order(recent_order(), order_id="shop.1001..a").status == 201


def test_every_request_model_is_strict_about_numbers_flags_and_control_characters():
    # The rule lives in the base class: a model added later gets it without remembering to.
    class Later(Strict):
        count: int
        flag: bool = False
        maybe: int | None = None
        ref: ExternalId = "x"
        text: str = ""

    for bad in (
        {"count": "1"},
        {"count": True},
        {"count": 1, "flag": "yes"},
        {"count": 1, "maybe": "2"},
        {"count": 1, "ref": ".."},
        {"count": 1, "text": "a\x00b"},
        {"count": 1, "extra": 1},
    ):
        with pytest.raises(ValueError):
            Later.model_validate(bad)
    assert Later.model_validate({"count": 1, "flag": True, "text": "a\nb"}).count == 1
