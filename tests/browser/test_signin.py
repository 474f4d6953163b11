"""The sign-in page in Chromium: the form works, the token stays in sessionStorage, the CSP holds.

Each test pushes its own order through the merchant API (tests/e2e's `push_order`), so the
tests share nothing but the stack. No test here makes a failed sign-in except the one that
checks the error's words (the portal allows 20 per IP per 15 minutes for the whole session).
"""

from __future__ import annotations

import urllib.request

import pytest

from infra.bench.portal_driver import goto, sign_in, wait_page
from tests.browser.helpers import axe_check
from tests.e2e.test_returns_e2e import push_order

pytestmark = pytest.mark.browser


def test_sign_in_with_order_number_and_email_lands_on_the_order(stack, portal, phone):
    order = push_order(stack, "bsignin")
    goto(phone, portal, "/")
    wait_page(phone, "signin")
    axe_check(phone, where="sign in")
    # The number as a shopper types it: without the '#', in lower case, the email padded.
    phone.get_by_label("Order number").fill(order.number.lstrip("#").lower())
    phone.get_by_label("Email").fill(f"  {order.email.upper()} ")
    phone.get_by_role("button", name="Sign in").click()
    wait_page(phone, "order")
    assert phone.url.endswith(f"#/orders/{order.order_id}")
    axe_check(phone, where="the order")


def test_a_wrong_email_is_refused_in_plain_words_and_announced(stack, portal, phone, guard):
    order = push_order(stack, "bwrong")
    guard.allow(r"/portal/session.*|status of 401")  # Chromium logs the refused sign-in (401)
    goto(phone, portal, "/")
    wait_page(phone, "signin")
    phone.locator("#order-number").fill(order.number)
    phone.locator("#email").fill("someone.else@example.com")
    phone.locator("#signin-submit").click()
    summary = phone.get_by_test_id("error-summary")
    summary.wait_for()
    assert "could not find" in summary.inner_text().lower()
    # The field says it too, and assistive technology is told.
    assert phone.locator("#order-number").get_attribute("aria-invalid") == "true"
    assert phone.locator("#order-number-error").is_visible()
    assert "signin" in phone.locator("[data-page]").first.get_attribute("data-page")
    axe_check(phone, where="sign in with an error")


def test_the_token_lives_in_session_storage_never_local_storage(stack, portal, phone):
    order = push_order(stack, "bstorage")
    sign_in(phone, portal, order.number, order.email)
    session = phone.evaluate("() => Object.fromEntries(Object.entries(sessionStorage))")
    local = phone.evaluate("() => Object.fromEntries(Object.entries(localStorage))")
    tokens = [v for k, v in session.items() if order.order_id in k and '"token"' in v]
    assert tokens, f"no session token in sessionStorage: {list(session)}"
    token = tokens[0].split('"token":"', 1)[1].split('"', 1)[0]
    assert len(token) > 20
    assert not any(token in v for v in local.values()), "the token is in localStorage"
    assert not any("token" in k.lower() or "session" in k.lower() for k in local), local
    # Cookies neither: the token goes as a Bearer header only.
    assert all(token not in c["value"] for c in phone.context.cookies())
    # A new tab of the same browser (another session) is signed out.
    other = phone.context.new_page()
    goto(other, portal, f"/orders/{order.order_id}")
    wait_page(other, "signin")


def test_csp_blocks_inline_script_and_inline_style_in_the_browser(stack, portal, phone, guard):
    with urllib.request.urlopen(portal + "/", timeout=30) as response:
        csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp and "default-src 'none'" in csp
    goto(phone, portal, "/")
    wait_page(phone, "signin")
    guard.allow("Content Security Policy")  # the violations provoked below are reported as errors
    result = phone.evaluate(
        """() => new Promise((resolve) => {
            const violations = [];
            document.addEventListener("securitypolicyviolation", (e) =>
                violations.push(e.violatedDirective));
            const script = document.createElement("script");
            script.textContent = "window.__injected = true;";
            document.body.appendChild(script);
            const div = document.createElement("div");
            div.id = "styled";
            div.setAttribute("style", "color: rgb(255, 0, 0)");
            document.body.appendChild(div);
            setTimeout(() => resolve({
                ran: window.__injected === true,
                color: getComputedStyle(div).color,
                violations,
            }), 200);
        })"""
    )
    assert result["ran"] is False, "an injected inline script ran"
    assert result["color"] != "rgb(255, 0, 0)", "an inline style attribute applied"
    assert "script-src-elem" in result["violations"], result
    assert "style-src-attr" in result["violations"], result
