"""Drive the shopper portal in a Playwright page through the hooks web/portal/README.md documents.

Shared by the browser tests (tests/browser) and the portal benchmark (sections/portal.py), so
both walk the same pages the same way. Pages are hash routes; each rendered page carries
`data-page="<name>"` on its root, so `wait_page(page, "order")` waits for the page, not for a
fixed time.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

# The demo shopper (infra/local/demo.py): order #1001, delivered 5 days ago, three lines.
MAYA = {"order_id": "ord_1001", "number": "#1001", "email": "maya.chen@example.com"}
JOURNEY_STEPS = "sign in, order, start a return (2 lines, a photo), preview, submit, confirmation, label"


def mark_stale(page) -> None:
    """Mark the page now shown, so `wait_page` waits for the next one (a hash change re-renders)."""
    if page.url.startswith("http"):
        page.evaluate(
            "() => document.querySelectorAll('[data-page]').forEach((el) => { el.__hwStale = true; })"
        )


def goto(page, base: str, route: str = "/", *, lang: str | None = None) -> None:
    """Open `{base}/#{route}` (route starts with "/"), optionally with ?lang= in the fragment."""
    query = f"{'&' if '?' in route else '?'}lang={lang}" if lang else ""
    mark_stale(page)
    page.goto(f"{base}/#{route}{query}")


def open_url(page, url: str) -> None:
    """Open a link (e.g. from an email) in this page."""
    mark_stale(page)
    page.goto(url)


def wait_page(page, name: str, *, timeout: float = 15_000):
    """The page `name` rendered since the last `goto` (its root has data-page=name); its locator."""
    page.wait_for_function(
        """(name) => {
            const el = document.querySelector(`[data-page="${name}"]`);
            return Boolean(el && !el.__hwStale && el.checkVisibility());
        }""",
        arg=name,
        timeout=timeout,
    )
    return page.locator(f'[data-page="{name}"]')


def sign_in(page, base: str, number: str, email: str) -> str:
    """Sign in on #/ with order number + email; the order id from the landing URL."""
    goto(page, base, "/")
    wait_page(page, "signin")
    page.locator("#order-number").fill(number)
    page.locator("#email").fill(email)
    page.locator("#signin-submit").click()
    wait_page(page, "order")
    match = re.search(r"#/orders/([^/?]+)", page.url)
    assert match, page.url
    return match.group(1)


# ---- start a return -----------------------------------------------------------------------------


def photo_jpeg(width: int = 1600, height: int = 1200) -> bytes:
    """A phone-camera-sized JPEG (a gradient with a square), made with Pillow."""
    from PIL import Image, ImageDraw

    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    ImageDraw.Draw(image).rectangle((width // 4, height // 4, width // 2, height // 2), fill=(200, 40, 40))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


@dataclass
class LineChoice:
    line_id: str
    reason: str
    resolution: str
    quantity: int | None = None
    sub_reason: str | None = None
    exchange_variant: str | None = None
    photo: bytes | None = None  # a JPEG to upload for this line


def return_line(page, line_id: str):
    return page.locator(f'[data-testid="return-line"][data-line-id="{line_id}"]')


def preview_text(page) -> str:
    return page.locator("#preview-body").inner_text()


def wait_preview_change(page, before: str, *, timeout: float = 15_000) -> str:
    """The preview once it shows totals different from `before` (the server answered)."""
    page.wait_for_function(
        """(before) => {
            const body = document.querySelector('#preview-body');
            return body && body.innerText.trim() && body.innerText !== before;
        }""",
        arg=before,
        timeout=timeout,
    )
    return preview_text(page)


def choose(page, choice: LineChoice) -> None:
    """Tick the line and fill its quantity, reason, sub-reason, photo and resolution."""
    card = return_line(page, choice.line_id)
    card.get_by_test_id("line-select").check()
    if choice.quantity is not None:
        card.get_by_test_id("line-quantity").select_option(str(choice.quantity))
    card.get_by_test_id("line-reason").select_option(choice.reason)
    if choice.sub_reason:
        card.get_by_test_id("line-sub-reason").select_option(choice.sub_reason)
    if choice.photo:
        card.get_by_test_id("line-photos").set_input_files(
            files=[{"name": f"{choice.line_id}-photo.jpg", "mimeType": "image/jpeg", "buffer": choice.photo}]
        )
        card.get_by_test_id("line-photo").first.wait_for(timeout=30_000)
    card.get_by_test_id(f"line-resolution-{choice.resolution}").check()
    if choice.exchange_variant:
        card.get_by_test_id("line-exchange").fill(choice.exchange_variant)


def submit_return(page) -> str:
    """Submit the return form; the RMA from the confirmation page's URL."""
    page.locator("#submit-return").click()
    page.wait_for_url(re.compile(r"#/orders/[^/]+/returns/[^/?]+\?confirmed=1"), timeout=30_000)
    wait_page(page, "return")
    return re.search(r"/returns/([^/?]+)", page.url).group(1)


def open_label(page, *, timeout: float = 30_000) -> bytes:
    """On a return's page with its label issued: show the PNG, then download the PDF (its bytes)."""
    label = page.get_by_test_id("label-section")
    label.locator("#download-pdf").wait_for(timeout=timeout)
    label.locator("#show-png").click()
    page.get_by_test_id("label-png").wait_for()
    page.wait_for_function("() => document.querySelector('#label-png').naturalWidth > 100")
    with page.expect_download() as download:
        label.locator("#download-pdf").click()
    with open(download.value.path(), "rb") as fh:
        return fh.read()


MAYA_RETURN = (
    LineChoice("L1", reason="too_large", resolution="refund"),
    LineChoice("L2", reason="not_as_described", sub_reason="color", resolution="store_credit", quantity=2),
)


def maya_journey(page, base: str, settle=None) -> str:
    """The benchmark's journey for the demo shopper: the RMA of the return she starts.

    `settle()` lets the stack's events run (the approval buys the label) before the label."""
    order_id = sign_in(page, base, MAYA["number"], MAYA["email"])
    page.locator("#start-return").click()
    wait_page(page, "start-return")
    first, second = MAYA_RETURN
    choose(page, LineChoice(**{**first.__dict__, "photo": photo_jpeg()}))
    shown = wait_preview_change(page, preview_text(page))
    choose(page, second)
    wait_preview_change(page, shown)
    rma = submit_return(page)
    assert order_id == MAYA["order_id"]
    if settle:
        settle()
    pdf = open_label(page)
    assert pdf.startswith(b"%PDF-")
    return rma
