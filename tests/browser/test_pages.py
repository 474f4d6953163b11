"""Every page of the portal at 360 px and at 1440 px: axe-core finds 0 violations; a screenshot each.

One order is prepared over HTTP for both widths (module fixture): a return that went all the
way (label, carrier webhooks, refund, warehouse: closed, so the survey email went out) and one
waiting with its label. Each width then signs in through the form and opens every page by its
URL, as an email link would. The screenshots go to docs/portal/screenshots/ with
`make screenshots` (see conftest.py).
"""

from __future__ import annotations

import pytest

from infra.bench.portal_driver import goto, open_url, sign_in, wait_page
from tests.browser.helpers import (
    DESKTOP,
    PHONE,
    axe_check,
    close_return,
    emails_to,
    links,
    return_view,
    shoot,
    wait_for_email,
)
from tests.e2e.test_returns_e2e import push_order, start_return
from tests.e2e.test_returns_e2e import sign_in as api_sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def prepared(stack):
    order = push_order(stack, "bpages")
    auth = api_sign_in(stack, order.number, order.email)
    done = start_return(
        stack,
        order,
        auth,
        [{"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}],
        key=None,
    )
    assert done.status == 201, done.content
    waiting = start_return(
        stack,
        order,
        auth,
        [{"line_id": "L2", "quantity": 1, "reason": "too_large", "resolution": "store_credit"}],
        key=None,
    )
    assert waiting.status == 201, waiting.content
    closed = close_return(stack, order.order_id, done.json["rma"], auth)
    open_ = return_view(stack, order.order_id, waiting.json["rma"], auth)
    assert open_["label_status"] == "issued", open_
    _, survey = wait_for_email(stack, order.email, "/#/feedback/")
    _, unsubscribe = wait_for_email(stack, order.email, "/#/unsubscribe/")
    return {
        "order": order,
        "closed": closed["rma"],
        "open": open_["rma"],
        "survey": survey,
        "unsubscribe": unsubscribe,
    }


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_every_page_passes_axe_and_is_photographed(stack, portal, new_page, shots, prepared, viewport):
    page = new_page(viewport)
    order = prepared["order"]

    def check(route: str, name: str, shot: str, *, lang: str | None = None) -> None:
        if route:
            goto(page, portal, route, lang=lang)
        wait_page(page, name)
        page.wait_for_load_state("networkidle")
        axe_check(page, where=f"{shot} at {viewport['width']} px")
        shoot(page, shots, shot)
        # Nothing wider than the screen: no sideways scrolling on a phone.
        width = page.evaluate("() => document.documentElement.scrollWidth")
        assert width <= viewport["width"], f"{shot}: {width} px wide at {viewport['width']} px"

    check("/", "signin", "01-sign-in")
    check("/link", "link", "02-sign-in-link")
    check("/gift", "gift", "03-gift")
    sign_in(page, portal, order.number, order.email)
    check("", "order", "04-order")
    base = f"/orders/{order.order_id}"
    check(f"{base}/return", "start-return", "05-start-return")
    check(f"{base}/returns/{prepared['open']}?confirmed=1", "return", "06-return-confirmation")
    check(f"{base}/returns/{prepared['open']}/label", "return", "07-return-label")
    page.wait_for_function("() => document.activeElement?.id === 'label-heading'")  # the label, focused
    check(f"{base}/returns/{prepared['closed']}", "return", "08-return-closed")
    open_url(page, prepared["survey"])
    check("", "feedback", "09-feedback")
    open_url(page, prepared["unsubscribe"])
    check("", "unsubscribe", "10-unsubscribe")
    check("/no/such/page", "not-found", "11-not-found")


def test_touch_targets_are_at_least_44_px_on_a_phone(stack, portal, phone, prepared):
    order = prepared["order"]
    sign_in(phone, portal, order.number, order.email)
    for route, name in (("/", "signin"), (f"/orders/{order.order_id}/return", "start-return")):
        goto(phone, portal, route)
        wait_page(phone, name)
        small = phone.evaluate(
            """() => [...document.querySelectorAll('button, input[type=submit], select, .button')]
                .filter((el) => el.getClientRects().length)
                .map((el) => [el.id || el.textContent.trim().slice(0, 30), el.getBoundingClientRect()])
                .filter(([, r]) => r.height < 44 || r.width < 44)
                .map(([name, r]) => `${name}: ${Math.round(r.width)}x${Math.round(r.height)}`)"""
        )
        assert small == [], f"touch targets under 44 px on {name}: {small}"


def test_every_link_in_the_emails_opens_a_working_page(stack, portal, phone, prepared):
    order = prepared["order"]
    mails = emails_to(stack, order.email)
    assert len(mails) >= 6, [m["subject"] for m in mails]  # requested ... refunded, checked, survey
    found = sorted({link for mail in mails for link in links(mail) if link.startswith(portal + "/#/")})
    assert any("/label" in link for link in found) and any("/feedback/" in link for link in found)
    sign_in(phone, portal, order.number, order.email)  # the same tab keeps the session
    opened = {}
    for link in found:
        open_url(phone, link)
        phone.wait_for_function(
            "() => [...document.querySelectorAll('[data-page]')].some((el) => !el.__hwStale)"
        )
        opened[link] = phone.locator("[data-page]").first.get_attribute("data-page")
    wrong = {
        link: name for link, name in opened.items() if name in ("not-found", "failed", "signin", "redeem")
    }
    assert not wrong, f"email links that do not open their page: {wrong}"
