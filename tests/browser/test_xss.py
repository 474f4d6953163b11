"""Data is never HTML: an order whose item title is markup shows that markup as text.

The shop's back end pushes the order through the merchant API (`PUT /orders/{id}` with the local
merchant key), as in the README walkthrough; the shopper signs in and opens the order and the
start-a-return page. No dialog opens, no <img> element is created, the text is shown literally.
"""

from __future__ import annotations

import pytest

from infra.bench.portal_driver import goto, sign_in, wait_page
from tests.browser.helpers import put_order

pytestmark = pytest.mark.browser

PAYLOAD = "<img src=x onerror=alert(1)>"
VARIANT = '"><svg onload=alert(2)>'


def push_xss_order(stack):
    line = {
        "line_id": "L1",
        "sku": "XSS-1",
        "title": PAYLOAD,
        "variant": VARIANT,
        "quantity": 1,
        "unit_price": 1500,
        "category": "apparel",
    }
    return put_order(stack, "xss", lines=[line])


def assert_shown_as_text(page) -> None:
    assert page.get_by_text(PAYLOAD, exact=False).count() >= 1, "the title is not shown as text"
    assert page.locator('img[src="x"]').count() == 0, "the title became an <img>"
    assert page.locator("svg[onload]").count() == 0, "the variant became an <svg>"
    assert page.evaluate("() => document.querySelectorAll('[onerror],[onload]').length") == 0


def test_an_item_title_with_markup_is_shown_as_text(stack, portal, phone):
    dialogs = []
    phone.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    order = push_xss_order(stack)
    order_id = sign_in(phone, portal, order.number, order.email)
    assert order_id == order.order_id
    assert_shown_as_text(phone)
    title = phone.locator('[data-testid="order-line"][data-line-id="L1"] [data-testid="line-title"]')
    assert title.inner_text() == PAYLOAD
    goto(phone, portal, f"/orders/{order_id}/return")
    wait_page(phone, "start-return")
    assert_shown_as_text(phone)
    phone.wait_for_timeout(300)  # an onerror handler would have fired by now
    assert dialogs == [], f"a dialog opened: {dialogs}"
