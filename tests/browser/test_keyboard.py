"""The keyboard alone: sign in and start a return with Tab, Space, Enter and the arrow keys.

Nothing is clicked. Each focused control shows a visible focus indicator.
"""

from __future__ import annotations

import pytest

from infra.bench.portal_driver import goto, wait_page
from tests.e2e.test_returns_e2e import push_order

pytestmark = pytest.mark.browser


def tab_to(page, selector: str, *, presses: int = 80) -> None:
    """Press Tab until the focused element matches `selector`; it must show a visible focus."""
    for _ in range(presses):
        page.keyboard.press("Tab")
        if page.evaluate("(s) => document.activeElement && document.activeElement.matches(s)", selector):
            break
    else:
        pytest.fail(f"Tab never reached {selector}")
    style = page.evaluate(
        """() => {
            const s = getComputedStyle(document.activeElement);
            return {outline: s.outlineStyle, width: parseFloat(s.outlineWidth), shadow: s.boxShadow};
        }"""
    )
    visible = (style["outline"] != "none" and style["width"] > 0) or style["shadow"] != "none"
    assert visible, f"no visible focus on {selector}: {style}"


def test_sign_in_and_start_a_return_by_keyboard_alone(stack, portal, phone):
    order = push_order(stack, "bkeys")
    page = phone
    goto(page, portal, "/")
    wait_page(page, "signin")
    tab_to(page, "#order-number")
    page.keyboard.type(order.number)
    tab_to(page, "#email", presses=3)
    page.keyboard.type(order.email)
    page.keyboard.press("Enter")
    wait_page(page, "order")
    assert page.url.endswith(f"#/orders/{order.order_id}")

    tab_to(page, "#start-return")
    page.keyboard.press("Enter")
    wait_page(page, "start-return")
    line = '[data-testid="return-line"][data-line-id="L1"]'
    tab_to(page, f'{line} [data-testid="line-select"]')
    page.keyboard.press("Space")
    assert page.locator(f'{line} [data-testid="line-select"]').is_checked()
    tab_to(page, f'{line} [data-testid="line-reason"]', presses=5)
    page.keyboard.press("ArrowDown")  # the first reason of the policy
    assert page.locator(f'{line} [data-testid="line-reason"]').input_value() != ""
    tab_to(page, f'{line} input[type="radio"]', presses=10)
    page.keyboard.press("Space")
    assert page.locator(f'{line} input[type="radio"]:checked').count() == 1
    page.locator("#preview-totals").wait_for()  # the preview answered
    tab_to(page, "#submit-return")
    page.keyboard.press("Enter")
    wait_page(page, "return")
    assert "confirmed=1" in page.url
    assert page.get_by_test_id("confirmation-rma").inner_text().strip()
