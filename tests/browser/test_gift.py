"""A gift return: the recipient signs in with the order number and the gift receipt's code, without
the buyer's email, and returns an item for store credit in their own name. The buyer hears nothing.

The order is the demo data's gift (#1004, euros, a German buyer), as `make run` lists it.
"""

from __future__ import annotations

import pytest

from infra.bench.portal_driver import LineChoice, choose, goto, submit_return, wait_page
from infra.local.demo import demo_orders
from tests.browser.helpers import PHONE, axe_check, emails_to, shoot

pytestmark = pytest.mark.browser


def demo_gift():
    """Demo order #1004 (infra/local/demo.py): a gift in euros, bought by a German customer."""
    return next(o for o in demo_orders() if o.body.get("gift_receipt_code"))


def test_a_gift_recipient_returns_for_store_credit_without_the_buyers_email(stack, portal, new_page, shots):
    order = demo_gift()
    code = order.body["gift_receipt_code"]
    recipient = "lena.fischer@example.com"
    page = new_page(PHONE)
    goto(page, portal, "/")
    wait_page(page, "signin")
    page.get_by_test_id("gift-link").click()
    wait_page(page, "gift")
    assert page.get_by_test_id("gift-credit-note").is_visible()
    page.locator("#order-number").fill(order.number)
    page.locator("#gift-code").fill(code.lower())
    page.locator("#email").fill(recipient)
    page.locator("#gift-submit").click()
    wait_page(page, "order")
    assert page.url.endswith(f"#/orders/{order.order_id}")
    main = page.locator("main").inner_text()
    assert order.email not in main and "Jonas" not in main, "the buyer is shown to the gift's recipient"
    # The recipient's language (their browser's), not the German buyer's; what the gift cost is hidden.
    assert page.evaluate("document.documentElement.lang") == "en"
    assert "Wollschal" in main and "€" not in main, main
    axe_check(page, where="the order, gift")

    page.locator("#start-return").click()
    wait_page(page, "start-return")
    assert page.get_by_test_id("gift-return-note").is_visible()
    line = page.locator('[data-testid="return-line"][data-line-id="L1"]')
    line.get_by_test_id("line-select").check()
    resolutions = line.locator('input[type="radio"]')
    assert [resolutions.nth(i).get_attribute("value") for i in range(resolutions.count())] == ["store_credit"]
    choose(page, LineChoice("L1", reason="changed_mind", resolution="store_credit"))
    page.locator("#preview-totals").wait_for()
    axe_check(page, where="start a return, gift")
    shoot(page, shots, "05-start-return-gift")
    before = {m["id"] for m in emails_to(stack, order.email)}
    rma = submit_return(page)
    axe_check(page, where="the confirmation, gift")
    stack.settle()
    to_buyer = [m for m in emails_to(stack, order.email) if m["id"] not in before]
    assert to_buyer == [], f"the buyer was told: {[m['subject'] for m in to_buyer]}"
    told = [m for m in emails_to(stack, recipient) if rma in (m["text"] or "") + (m["html"] or "")]
    assert told, "the recipient got no email about the return"
