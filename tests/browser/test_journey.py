"""The whole shopper journey on a 360-px phone, against the local stack with its demo data.

Maya (demo order #1001) signs in, starts a return of two lines - the sweater too large for a
refund, with a photo resized and uploaded in the browser; both tees not as described (colour)
for store credit - watching the server's preview change, submits, and opens her label (the PDF
link answers a PDF, the PNG view loads, the QR code shows). Then the back end moves on over
HTTP: signed carrier webhooks deliver the parcel, the refund settles, the warehouse receives it
and the return closes. She reloads her return and sees it delivered and refunded; finally the
survey link and the unsubscribe link, taken from her emails in the local outbox, open their
pages, which she completes. axe-core runs on every page on the way.
"""

from __future__ import annotations

import urllib.request

import pytest

from infra.bench.portal_driver import (
    MAYA,
    MAYA_RETURN,
    LineChoice,
    choose,
    open_url,
    photo_jpeg,
    preview_text,
    sign_in,
    submit_return,
    wait_page,
    wait_preview_change,
)
from tests.browser.helpers import axe_check, close_return, shoot, wait_for_email
from tests.e2e.test_returns_e2e import call
from tests.e2e.test_returns_e2e import sign_in as api_sign_in

pytestmark = pytest.mark.browser


def test_the_whole_journey_on_a_phone(stack, portal, phone, shots, guard):
    page = phone
    # ---- sign in, the order ----
    order_id = sign_in(page, portal, MAYA["number"], MAYA["email"])
    assert order_id == MAYA["order_id"]
    items = page.get_by_test_id("order-items").inner_text()
    assert "Merino crew sweater" in items and "Linen tote bag" in items
    axe_check(page, where="the order")

    # ---- start a return: two lines, a photo, the preview follows ----
    page.locator("#start-return").click()
    wait_page(page, "start-return")
    blocked = page.get_by_test_id("blocked-lines").inner_text()
    assert "Linen tote bag" in blocked  # final sale, with the policy's reason in words
    axe_check(page, where="start a return (empty)")
    first, second = MAYA_RETURN
    photo = photo_jpeg()
    choose(page, LineChoice(**{**first.__dict__, "photo": photo}))
    one_line = wait_preview_change(page, preview_text(page))
    # The photo went straight to the photos bucket, resized in the browser (well under the original).
    uploads = [r for r in guard.requests if r.startswith("POST ") and stack.moto_url in r]
    assert uploads, "no presigned upload to the photos bucket"
    assert page.locator('[data-line-id="L1"] [data-testid="line-photo"] img').count() == 1
    choose(page, second)
    two_lines = wait_preview_change(page, one_line)
    assert "store credit" in two_lines.lower()
    axe_check(page, where="start a return (filled, with the preview)")
    shoot(page, shots, "05-start-return-filled")

    rma = submit_return(page)
    assert page.get_by_test_id("confirmation-rma").inner_text() == rma
    assert page.get_by_test_id("next-steps").locator("li").count() >= 2
    axe_check(page, where="the confirmation")

    # ---- the label: issued by the approval (sandbox carrier), PDF, PNG, QR ----
    stack.settle()
    page.reload()
    wait_page(page, "return")
    label = page.get_by_test_id("label-section")
    label.locator("#download-pdf").wait_for(timeout=30_000)
    with (
        page.expect_response(lambda r: "/label?format=PDF" in r.url) as link,
        page.expect_download() as download,
    ):
        label.locator("#download-pdf").click()
    pdf_url = link.value.json()["url"]
    with open(download.value.path(), "rb") as fh:
        assert fh.read(5) == b"%PDF-", "the PDF link does not give a PDF"
    with urllib.request.urlopen(pdf_url, timeout=30) as response:
        assert response.read(5) == b"%PDF-"
    label.locator("#show-png").click()
    png = page.get_by_test_id("label-png")
    png.wait_for()
    page.wait_for_function("() => document.querySelector('#label-png').naturalWidth > 100")
    page.get_by_test_id("label-qr").wait_for()
    assert page.evaluate("() => document.querySelector('#label-qr').naturalWidth") > 0
    tracking_number = page.get_by_test_id("label-tracking-number").inner_text().strip()
    axe_check(page, where="the return with its label")

    # ---- the back end moves on: webhooks, refund, warehouse; the page shows it ----
    auth = api_sign_in(stack, MAYA["number"], MAYA["email"])
    view = close_return(stack, order_id, rma, auth)
    assert view["label"]["tracking_number"] == tracking_number
    page.reload()
    wait_page(page, "return")
    assert page.locator("#return-status").get_attribute("data-status") == "closed"
    assert page.locator("#refund-status").get_attribute("data-money-status") in ("refunded", "credited")
    movements = page.get_by_test_id("refund-movement")
    assert movements.count() == 2  # the card refund and the store credit
    assert {movements.nth(i).get_attribute("data-status") for i in range(2)} == {"succeeded"}
    assert page.get_by_test_id("credit-code").count() == 1
    parcels = page.get_by_test_id("return-parcels").inner_text()
    assert tracking_number in parcels
    axe_check(page, where="the closed return")

    # ---- the survey from the email ----
    _, survey = wait_for_email(stack, MAYA["email"], "/#/feedback/")
    assert survey.startswith(portal + "/#/feedback/")
    open_url(page, survey)
    wait_page(page, "feedback")
    axe_check(page, where="the survey")
    page.get_by_test_id("rating-5").check()
    page.get_by_test_id("feedback-comment").fill("Quick and easy, thank you!")
    with page.expect_response(lambda r: r.url.endswith("/portal/feedback")) as sent:
        page.locator("#feedback-submit").click()
    assert sent.value.status == 201
    page.get_by_test_id("feedback-thanks").wait_for()
    axe_check(page, where="the survey, sent")

    # ---- unsubscribe from the email ----
    mail, unsubscribe = wait_for_email(stack, MAYA["email"], "/#/unsubscribe/")
    open_url(page, unsubscribe)
    wait_page(page, "unsubscribe")
    axe_check(page, where="unsubscribe")
    with page.expect_response(
        lambda r: "/portal/unsubscribe" in r.url and r.request.method == "POST"
    ) as done:
        page.locator("#unsubscribe-submit").click()
    assert done.value.status == 200
    assert page.get_by_test_id("unsubscribed").get_attribute("data-channel") == "email"
    axe_check(page, where="unsubscribed")

    # Every API call went to this origin with the Bearer header; no page of the journey reached
    # for another host (the guard fails the test otherwise).
    api_calls = guard.api_calls(portal)
    assert len(api_calls) >= 10 and all("/portal/" in c for c in api_calls), api_calls
    assert call(stack, "GET", f"/portal/orders/{order_id}/returns/{rma}", headers=auth).status == 200
