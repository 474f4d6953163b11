"""The emailed sign-in link: asked for on #/link, taken from the local outbox, used once.

The answer on the page is the same whether or not the email matches an order; only a match
gets an email. The link opens the order in any browser; a second use is refused in plain words.
"""

from __future__ import annotations

import pytest

from infra.bench.portal_driver import goto, wait_page
from tests.browser.helpers import PHONE, axe_check, emails_to, shoot, wait_for_email
from tests.e2e.test_returns_e2e import push_order

pytestmark = pytest.mark.browser


def ask_for_link(page, portal: str, number: str, email: str) -> str:
    goto(page, portal, "/")
    wait_page(page, "signin")
    page.get_by_test_id("magic-link-link").click()
    wait_page(page, "link")
    page.locator("#order-number").fill(number)
    page.locator("#email").fill(email)
    page.locator("#link-submit").click()
    sent = page.get_by_test_id("link-sent")
    sent.wait_for()
    return sent.inner_text()


def test_a_sign_in_link_from_the_email_opens_the_order_once(stack, portal, new_page, shots, guard):
    order = push_order(stack, "bmagic")
    page = new_page(PHONE)
    matched = ask_for_link(page, portal, order.number, order.email)
    axe_check(page, where="link sent")
    shoot(page, shots, "02-sign-in-link-sent")

    stranger = "not.the.buyer@example.com"
    unmatched = ask_for_link(new_page(PHONE), portal, order.number, stranger)
    assert unmatched == matched, "the answer tells whether the email matches"

    mail, link = wait_for_email(stack, order.email, "/#/signin/")
    assert link.startswith(portal + "/#/signin/"), link
    assert order.number in (mail["subject"] or "") + (mail["text"] or "") + (mail["html"] or "")

    # Another browser (the shopper's mail app opens a new one) follows the link.
    landing = new_page(PHONE)
    landing.goto(link)
    wait_page(landing, "order")
    assert landing.url.endswith(f"#/orders/{order.order_id}"), landing.url
    assert "/signin/" not in landing.url  # the token left the address bar (and the history entry)

    guard.allow(r"status of 401")  # Chromium logs the refused redemption (401)
    again = new_page(PHONE)
    again.goto(link)
    wait_page(again, "redeem")
    refused = again.get_by_test_id("redeem-error").inner_text()
    assert "already been used" in refused or "used" in refused.lower(), refused
    axe_check(again, where="a used sign-in link")
    shoot(again, shots, "12-sign-in-link-used")
    assert emails_to(stack, stranger) == [], "an email went to an address that does not match"
