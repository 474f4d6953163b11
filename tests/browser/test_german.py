"""German: chosen by ?lang=de, by the switcher or by the browser; money and dates through Intl."""

from __future__ import annotations

import pytest

from infra.bench.portal_driver import goto, sign_in, wait_page
from tests.browser.helpers import PHONE, axe_check, put_order, shoot

pytestmark = pytest.mark.browser


def lang(page) -> str:
    return page.evaluate("document.documentElement.lang")


def title(page) -> str:
    return page.get_by_test_id("page-title").inner_text()


def test_the_switcher_and_lang_de_show_the_portal_in_german(stack, portal, phone, shots):
    goto(phone, portal, "/")
    wait_page(phone, "signin")
    english = title(phone)
    assert lang(phone) == "en"
    phone.get_by_test_id("lang-de").click()
    phone.wait_for_function("() => document.documentElement.lang === 'de'")
    wait_page(phone, "signin")
    german = title(phone)
    assert german != english
    assert phone.get_by_test_id("lang-de").get_attribute("aria-current") in ("true", "page")
    assert "lang=de" in phone.url
    axe_check(phone, where="sign in, German")
    shoot(phone, shots, "01-sign-in-de")
    phone.get_by_test_id("lang-en").click()
    phone.wait_for_function("() => document.documentElement.lang === 'en'")
    wait_page(phone, "signin")
    assert title(phone) == english

    # ?lang=de in the fragment, as the German emails link.
    goto(phone, portal, "/link", lang="de")
    wait_page(phone, "link")
    assert lang(phone) == "de"


def test_a_german_browser_gets_german_and_money_and_dates_in_german_formats(stack, portal, new_page, shots):
    order = put_order(stack, "deutsch", customer={"name": "Jonas Beispiel", "locale": "de-DE"})
    page = new_page(PHONE, locale="de-DE")
    goto(page, portal, "/")
    wait_page(page, "signin")
    assert lang(page) == "de"  # from the browser's languages, no ?lang needed
    order_id = sign_in(page, portal, order.number, order.email)
    assert lang(page) == "de"
    text = page.locator("main").inner_text()
    # The socks' 15.00 USD and the last day to return them, as Intl writes them in German.
    price = page.evaluate(
        "() => new Intl.NumberFormat('de', {style: 'currency', currency: 'USD'}).format(15)"
    )
    assert price == "15,00\xa0$"
    assert price in text, f"{price!r} not on the order page"
    deadline = page.evaluate(
        "(d) => new Intl.DateTimeFormat('de', {dateStyle: 'long', timeZone: 'UTC'})"
        ".format(new Date(d + 'T00:00:00Z'))",
        order.deadline,
    )
    assert deadline in page.get_by_test_id("return-deadline").inner_text()
    axe_check(page, where="the order, German")
    shoot(page, shots, "04-order-de")
    goto(page, portal, f"/orders/{order_id}/return")
    wait_page(page, "start-return")
    assert lang(page) == "de"
    axe_check(page, where="start a return, German")


def test_the_orders_locale_chooses_german_after_sign_in(stack, portal, phone):
    customer = {"name": "Jonas Beispiel", "locale": "de-DE"}
    order = put_order(stack, "dekunde", customer=customer)
    goto(phone, portal, "/")
    wait_page(phone, "signin")
    assert lang(phone) == "en"  # an English browser
    sign_in(phone, portal, order.number, order.email)
    assert lang(phone) == "de"  # the order's locale
