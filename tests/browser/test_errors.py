"""Errors in plain words and the ways out: the lockout says how long to wait, an expired session
keeps the draft, an over-return names the line and what is left; a return is cancelled from its page."""

from __future__ import annotations

import json
import re

import pytest

from infra.bench.portal_driver import LineChoice, choose, goto, sign_in, wait_page
from tests.browser.helpers import PHONE, axe_check, put_order
from tests.e2e.test_returns_e2e import call
from tests.e2e.test_returns_e2e import sign_in as api_sign_in

pytestmark = pytest.mark.browser


def test_too_many_wrong_emails_lock_the_order_and_say_how_long_to_wait(stack, portal, new_page, guard):
    # 4-6 of the session's 20 failed sign-ins per IP (see tests/e2e/conftest.py): the order number
    # locks after the policy's few failures (5 by default), whatever the IP.
    guard.allow(r"status of 40[19]|status of 429")
    order = put_order(stack, "lockout")
    page = new_page(PHONE)
    goto(page, portal, "/")
    wait_page(page, "signin")
    summary = page.get_by_test_id("error-summary")
    for attempt in range(7):
        page.locator("#order-number").fill(order.number)
        page.locator("#email").fill(f"guess{attempt}@example.com")
        with page.expect_response(lambda r: r.url.endswith("/portal/session")) as answer:
            page.locator("#signin-submit").click()
        if answer.value.status == 429:
            break
        assert answer.value.status == 401
    else:
        pytest.fail("seven wrong emails never locked the order")
    page.wait_for_function(
        "() => /wait/i.test(document.querySelector('[data-testid=error-summary]')?.innerText || '')"
    )
    text = summary.inner_text()
    assert re.search(r"wait \d+ (minute|second)s?", text), text
    assert page.evaluate("() => document.activeElement.closest('[data-testid=error-summary]') !== null")
    axe_check(page, where="sign in, locked out")


def test_an_expired_session_sends_to_sign_in_and_keeps_the_draft(stack, portal, new_page, guard):
    guard.allow(r"status of 401")  # the refused (tampered) token
    order = put_order(stack, "expired")
    page = new_page(PHONE)
    order_id = sign_in(page, portal, order.number, order.email)
    goto(page, portal, f"/orders/{order_id}/return")
    wait_page(page, "start-return")
    choose(page, LineChoice("L1", reason="too_small", resolution="refund"))
    page.locator("#preview-totals").wait_for()

    # The token stops working (as at its expiry): the next API call is refused with 401.
    key = f"hw.session.{order_id}"
    stored = json.loads(page.evaluate("(k) => sessionStorage.getItem(k)", key))
    stored["token"] = stored["token"][:-6] + "AAAAAA"
    page.evaluate("([k, v]) => sessionStorage.setItem(k, v)", [key, json.dumps(stored)])
    page.locator('[data-line-id="L1"] [data-testid="line-quantity"]').select_option("2")
    wait_page(page, "signin")
    assert "reason=expired" in page.url
    assert "kept the return" in page.locator("#session-expired").inner_text()
    axe_check(page, where="sign in after the session expired")

    page.locator("#order-number").fill(order.number)
    page.locator("#email").fill(order.email)
    page.locator("#signin-submit").click()
    wait_page(page, "start-return")
    assert page.locator("#draft-restored").is_visible()
    line = page.locator('[data-testid="return-line"][data-line-id="L1"]')
    assert line.get_by_test_id("line-select").is_checked()
    assert line.get_by_test_id("line-reason").input_value() == "too_small"
    assert line.get_by_test_id("line-quantity").input_value() == "2"
    assert line.get_by_test_id("line-resolution-refund").is_checked()


def test_returning_more_than_is_left_is_refused_in_plain_words(stack, portal, new_page, guard):
    guard.allow(r"status of 409")  # the refused submit
    order = put_order(stack, "overreturn")  # two pairs of socks
    page = new_page(PHONE)
    order_id = sign_in(page, portal, order.number, order.email)
    goto(page, portal, f"/orders/{order_id}/return")
    wait_page(page, "start-return")
    choose(page, LineChoice("L1", reason="too_small", resolution="refund", quantity=2))
    page.locator("#preview-totals").wait_for()
    # Meanwhile the same shopper returns one pair from another tab.
    auth = api_sign_in(stack, order.number, order.email)
    body = {"lines": [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}]}
    other = call(stack, "POST", f"/portal/orders/{order_id}/returns", body, headers=auth)
    assert other.status == 201, other.content
    with page.expect_response(lambda r: r.url.endswith("/returns") and r.request.method == "POST") as answer:
        page.locator("#submit-return").click()
    assert answer.value.status == 409
    summary = page.get_by_test_id("error-summary")
    summary.wait_for()
    assert "You can return only 1 of Wool socks" in summary.inner_text()
    axe_check(page, where="start a return, over-return")


def test_a_return_is_cancelled_from_its_page(stack, portal, new_page):
    order = put_order(stack, "cancel")
    auth = api_sign_in(stack, order.number, order.email)
    body = {"lines": [{"line_id": "L1", "quantity": 1, "reason": "changed_mind", "resolution": "refund"}]}
    created = call(stack, "POST", f"/portal/orders/{order.order_id}/returns", body, headers=auth)
    assert created.status == 201, created.content
    rma = created.json["rma"]
    page = new_page(PHONE)
    sign_in(page, portal, order.number, order.email)
    goto(page, portal, f"/orders/{order.order_id}/returns/{rma}")
    wait_page(page, "return")
    page.locator("#cancel-return").click()
    page.locator("#cancel-confirm-no").click()  # changed her mind: nothing happens
    assert page.locator("#return-status").get_attribute("data-status") != "cancelled"
    page.locator("#cancel-return").click()
    axe_check(page, where="cancel, confirming")
    page.locator("#cancel-confirm-yes").click()
    page.wait_for_function("() => document.querySelector('#return-status')?.dataset.status === 'cancelled'")
    assert page.locator("#cancel-return").count() == 0
    view = call(stack, "GET", f"/portal/orders/{order.order_id}/returns/{rma}", headers=auth)
    assert view.json["status"] == "cancelled"
