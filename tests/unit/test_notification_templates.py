"""Shopper notifications: every kind in every locale renders from the sample contexts, escapes,
formats money and dates for the locale, carries the unsubscribe link, and fails loudly on a
broken context."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from homeward.notifications import LOCALES, SPECS, MessageKind, resolve_locale, spec
from homeward.notifications.catalog import BASE_NEEDS
from homeward.notifications.render import (
    TEMPLATES,
    Brand,
    ContextError,
    format_date,
    format_money,
    render,
)
from jinja2.exceptions import UndefinedError

from infra.preview_emails import main as preview_main
from infra.preview_emails import sample_brand, sample_context

KINDS = list(MessageKind)
BRAND = sample_brand()
NBSP = "\u00a0"

# GSM 03.38 basic set and extension table: an SMS outside it is sent as UCS-2 (70 chars a part).
GSM7 = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    "ÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà" + "^{}\\[~]|€"
)


def _render(kind, locale="en", context=None):
    return render(kind, locale, context if context is not None else sample_context(locale, kind), BRAND)


@pytest.fixture(scope="module")
def rendered():
    return {(k, loc): _render(k, loc) for k in KINDS for loc in LOCALES}


def _minimal_context(kind: MessageKind, locale: str = "en") -> dict:
    """Only the parts the kind needs, and no optional key at all."""
    full = sample_context(locale, kind)
    needs = BASE_NEEDS + spec(kind).needs
    ctx = {key: full[key] for key in {path.split(".")[0] for path in needs}}
    ctx["customer"] = {}
    ctx["links"] = {k: v for k, v in full["links"].items() if k in ("portal", "unsubscribe")}
    for link in ("survey", "sign_in"):
        if f"links.{link}" in needs:
            ctx["links"][link] = full["links"][link]
    if "return" in ctx:
        ctx["return"] = {"rma": full["return"]["rma"], "lines": [{"title": "Sweater", "quantity": 1}]}
        if "return.label" in needs:
            label = dict(full["return"]["label"])
            del label["qr_payload"]
            ctx["return"]["label"] = label
    if "money" in ctx:
        ctx["money"] = {"amount": 1234, "currency": "USD"}
        if "money.credit_code" in needs:
            ctx["money"].update(credit_code="HWC-1", credit_balance=1234)
    if "parcel" in ctx:
        ctx["parcel"] = {"tracking_number": "1Z1", "status": "in_transit"}
    return ctx


# ---- catalog ----------------------------------------------------------------------------------


def test_the_catalog_names_every_message_once():
    assert [k.value for k in MessageKind] == [
        "return_requested",
        "return_approved",
        "return_needs_review",
        "return_rejected",
        "return_cancelled",
        "label_expiring",
        "label_expired",
        "return_in_transit",
        "return_delivered",
        "return_received",
        "refund_issued",
        "credit_issued",
        "refund_failed",
        "shipment_shipped",
        "shipment_out_for_delivery",
        "shipment_delivered",
        "shipment_exception",
        "shipment_delayed",
        "survey",
        "sign_in_link",
    ]
    assert set(SPECS) == set(MessageKind)
    assert all(s.kind == k for k, s in SPECS.items())
    assert LOCALES == ("en", "de")
    assert spec("refund_issued").transactional and not spec("survey").transactional
    with pytest.raises(ValueError):
        spec("newsletter")


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        ("de-AT", "de"),
        ("de_DE", "de"),
        ("DE", "de"),
        (" de ", "de"),
        ("de", "de"),
        ("en-US", "en"),
        ("en", "en"),
        ("fr-FR", "en"),
        ("german", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_resolve_locale(tag, expected):
    assert resolve_locale(tag) == expected


def test_importing_the_catalog_does_not_load_jinja():
    code = "import sys, homeward.notifications; assert 'jinja2' not in sys.modules, 'jinja2 loaded'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2] / "functions")


def test_the_notifications_handler_leaves_the_heavy_models_it_never_uses_unloaded():
    """Cold start: the tracking models (~40 ms) and the return rules are for other functions."""
    import os

    code = (
        "import sys, homeward.handlers.notifications\n"
        "modules = ('homeward.models.tracking', 'homeward.domain.returns.rules')\n"
        "loaded = [m for m in modules if m in sys.modules]\n"
        "assert not loaded, loaded"
    )
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2] / "functions", env=env
    )


# ---- every message, every locale ----------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("locale", LOCALES)
def test_every_message_renders_in_every_locale(rendered, kind, locale):
    r = rendered[kind, locale]
    assert r.locale == locale
    assert r.subject.strip() and "\n" not in r.subject
    assert r.html.startswith("<!DOCTYPE html>") and f'<html lang="{locale}">' in r.html
    assert r.text.strip()
    for body in (r.html, r.text):
        assert "None" not in body and "{{" not in body and "{%" not in body
    assert "Jamie Rivera" in r.text if locale == "en" else "Anna Schmidt" in r.text


@pytest.mark.parametrize("kind", KINDS)
def test_subjects_and_bodies_are_translated(rendered, kind):
    en, de = rendered[kind, "en"], rendered[kind, "de"]
    assert en.subject != de.subject
    assert en.text.splitlines()[2] != de.text.splitlines()[2]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("locale", LOCALES)
def test_every_email_has_the_unsubscribe_link(rendered, kind, locale):
    r = rendered[kind, locale]
    url = sample_context(locale)["links"]["unsubscribe"]
    assert f'href="{url}"' in r.html
    assert url in r.text
    assert r.text.rstrip().endswith(url)


@pytest.mark.parametrize("kind", KINDS)
def test_a_message_needs_only_its_parts(kind):
    """`needs` is complete: with only those parts, and no optional key, each message renders."""
    for locale in LOCALES:
        r = _render(kind, locale, _minimal_context(kind, locale))
        assert r.subject and "None" not in r.html and "None" not in r.text


def test_an_unknown_locale_renders_in_english():
    english = _render("refund_issued", "en", sample_context("en"))
    for tag in ("fr-FR", "xx", ""):
        r = _render("refund_issued", tag, sample_context("en"))
        assert r.locale == "en" and (r.subject, r.html, r.text, r.sms) == (
            english.subject,
            english.html,
            english.text,
            english.sms,
        )
    assert _render("refund_issued", "de-AT", sample_context("de")).locale == "de"


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        render("newsletter", "en", sample_context(), BRAND)


# ---- escaping ---------------------------------------------------------------------------------


def test_html_escapes_everything_from_the_context():
    ctx = sample_context("en")
    ctx["customer"]["name"] = "Jo <b>bold</b>"
    ctx["return"]["lines"][0]["title"] = '<script>alert("x")</script>'
    ctx["return"]["rejection_reason"] = "<img src=x onerror=alert(1)>"
    r = _render("return_rejected", "en", ctx)
    assert "<script>" not in r.html and "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in r.html
    assert "<b>bold" not in r.html and "Jo &lt;b&gt;bold&lt;/b&gt;" in r.html
    assert "<img" not in r.html and "&lt;img src=x onerror=alert(1)&gt;" in r.html
    # The plain text is not HTML: it keeps the characters as they are.
    assert '<script>alert("x")</script>' in r.text and "Jo <b>bold</b>" in r.text


def test_html_escapes_text_but_keeps_its_own_links():
    r = _render("return_rejected", "en")
    assert "We&#39;re sorry" in r.html  # apostrophes in the texts are escaped, harmlessly
    assert f'<a href="mailto:{BRAND.support_email}"' in r.html  # the support link inside a text


def test_an_unknown_parcel_status_is_shown_as_is_and_escaped():
    ctx = sample_context("en", "shipment_exception")
    ctx["parcel"]["status"] = "held_at_<customs>"
    r = _render("shipment_exception", "en", ctx)
    assert "held_at_&lt;customs&gt;" in r.html and "held_at_<customs>" in r.text


# ---- content --------------------------------------------------------------------------------


def test_refund_issued_shows_the_amount_and_breakdown_in_the_locale_style():
    en = _render("refund_issued", "en")
    assert en.subject == "Your refund of $82.51 is on its way"
    for body in (en.html, en.text):
        for amount in ("$82.51", "$89.98", "-$9.00", "$6.48", "-$4.95"):
            assert amount in body
        assert "Restocking fee" not in body  # zero parts are left out
    de = _render("refund_issued", "de")
    assert de.subject == f"Ihre Erstattung über 82,51{NBSP}€ ist unterwegs"
    for body in (de.html, de.text):
        for amount in ("82,51", "89,98", "-9,00", "6,48", "-4,95"):
            assert f"{amount}{NBSP}€" in body
    assert "82,51 €" in de.sms  # SMS: plain spaces (a no-break space is not GSM-7)


def test_refund_without_breakdown_shows_just_the_total():
    ctx = sample_context("en")
    ctx["money"]["breakdown"] = None
    r = _render("refund_issued", "en", ctx)
    assert "How we calculated it" not in r.text and "Refunded: $82.51" in r.text


def test_credit_issued_shows_code_and_balance():
    en, de = _render("credit_issued", "en"), _render("credit_issued", "de")
    for body in (en.html, en.text, en.sms):
        assert "HWC-4F7Q-2M9X" in body and "$107.51" in body
    for body in (de.html, de.text):
        assert "HWC-4F7Q-2M9X" in body and f"107,51{NBSP}€" in body


def test_refund_failed_says_what_happens_next():
    r = _render("refund_failed", "en")
    assert "You don't need to do anything" in r.text and "send the refund again" in r.text
    assert "The card on file has expired." in r.text


def test_survey_has_five_signed_rating_links():
    for locale in LOCALES:
        url = sample_context(locale)["links"]["survey"]  # already has a query string (?lang=...)
        r = _render("survey", locale)
        links = re.findall(r'href="([^"]*rating=\d)"', r.html)
        assert links == [f"{url}&amp;rating={n}" for n in range(1, 6)]
        assert [f"{url}&rating={n}" in r.text for n in range(1, 6)] == [True] * 5
    ctx = sample_context()
    ctx["links"]["survey"] = "https://shop.example/survey/abc"
    assert 'href="https://shop.example/survey/abc?rating=5"' in _render("survey", "en", ctx).html


def test_return_approved_has_the_label_link_and_qr_code():
    ctx = sample_context("en")
    label_url, payload = ctx["links"]["label"], ctx["return"]["label"]["qr_payload"]
    r = _render("return_approved", "en", ctx)
    assert f'href="{label_url}"' in r.html and label_url in r.text
    assert payload in r.html and payload in r.text
    assert r.html.count('bgcolor="#000"') > 100  # the QR code, drawn as a table
    assert "December 2, 2026" in r.text and label_url in r.sms
    assert "2. Dezember 2026" in _render("return_approved", "de").text


def _qr_from_html(html: str):
    """Read the QR table back into an image: each inner row table is one row of modules."""
    from PIL import Image

    qr = html[html.index("border:20px solid #ffffff") :]
    rows = re.findall(r"<tr>((?:<td [^>]*></td>)+)</tr>", qr)
    matrix = [
        [
            dark
            for width, dark in re.findall(r'<td width="(\d+)"[^>]*?( bgcolor="#000")?>', row)
            for _ in range(int(width) // 5)
        ]
        for row in rows
    ]
    size = len(matrix)
    assert all(len(row) == size for row in matrix)
    image = Image.new("L", (size + 8, size + 8), 255)
    for y, row in enumerate(matrix):
        for x, dark in enumerate(row):
            if dark:
                image.putpixel((x + 4, y + 4), 0)
    return image.resize(((size + 8) * 4, (size + 8) * 4), Image.NEAREST)


def test_the_qr_code_table_decodes_to_the_payload():
    import zxingcpp

    for payload in ("https://hw.example/d/HW58417267687373989", "HW-" + "7" * 150):
        ctx = sample_context("en")
        ctx["return"]["label"]["qr_payload"] = payload
        decoded = zxingcpp.read_barcodes(_qr_from_html(_render("return_approved", "en", ctx).html))
        assert [d.text for d in decoded] == [payload]


def test_a_payload_too_long_for_an_email_qr_code_points_to_the_label():
    ctx = sample_context("en")
    ctx["return"]["label"]["qr_payload"] = "x" * 300
    r = _render("return_approved", "en", ctx)
    assert 'bgcolor="#000"' not in r.html and "Open the label on your phone" in r.html
    assert len(r.html) < 20_000


def test_return_approved_before_the_label_exists_says_it_follows():
    ctx = sample_context("en")
    ctx["return"]["label"] = None
    ctx["links"]["label"] = None
    r = _render("return_approved", "en", ctx)
    assert "being prepared" in r.text and 'bgcolor="#000"' not in r.html
    assert ctx["links"]["portal"] in r.sms


def test_the_brand_is_applied():
    brand = Brand(
        name="Acme",
        primary_color="#FFEE00",
        accent_color="#123",
        logo_url="https://cdn.example/logo.png",
        support_email="help@acme.example",
        portal_url="https://acme.example/returns",
    )
    r = render("return_requested", "en", sample_context(), brand)
    assert '<img src="https://cdn.example/logo.png" alt="Acme"' in r.html
    assert "background:#FFEE00" in r.html and "color:#1f2933" in r.html  # dark text on yellow
    assert "help@acme.example" in r.text and "https://acme.example/returns" in r.text
    assert "The Acme team" in r.text


# ---- SMS --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("locale", LOCALES)
def test_sms_only_where_the_catalog_says_short_and_gsm7(rendered, kind, locale):
    r = rendered[kind, locale]
    assert (r.sms is not None) == spec(kind).sms
    if r.sms is None:
        return
    assert r.sms.startswith(f"{BRAND.name}: ") and "\n" not in r.sms
    assert len(r.sms) <= 320
    assert set(r.sms) <= GSM7, set(r.sms) - GSM7
    # With short links (what the consumer should pass for SMS), one 160-character part.
    ctx = sample_context(locale, kind)
    ctx["links"] = {k: "https://s.example/abcdefgh" for k in ctx["links"]}
    assert len(_render(kind, locale, ctx).sms) <= 160


# ---- a broken context fails loudly --------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("refund_issued", "money"),
        ("refund_issued", "return"),
        ("credit_issued", "money.credit_code"),
        ("label_expiring", "return.label"),
        ("survey", "links.survey"),
        ("shipment_shipped", "parcel"),
        ("return_requested", "links.unsubscribe"),
        ("return_requested", "customer"),
    ],
)
def test_a_missing_needed_part_raises(kind, path):
    for value in ("missing", None):
        ctx = sample_context("en", kind)
        *parents, last = path.split(".")
        node = ctx
        for part in parents:
            node = node[part]
        if value == "missing":
            del node[last]
        else:
            node[last] = None
        with pytest.raises(ContextError, match=re.escape(path)):
            _render(kind, "en", ctx)


def test_a_missing_key_inside_a_part_raises_strict_undefined():
    ctx = sample_context("en")
    del ctx["return"]["rma"]
    with pytest.raises(ContextError) as caught:
        _render("return_requested", "en", ctx)
    assert isinstance(caught.value.__cause__, UndefinedError)
    ctx = sample_context("en")
    del ctx["money"]["currency"]
    with pytest.raises(ContextError):
        _render("refund_issued", "en", ctx)


def test_money_must_be_integer_minor_units():
    ctx = sample_context("en")
    ctx["money"]["amount"] = 82.51
    with pytest.raises(TypeError):
        _render("refund_issued", "en", ctx)


# ---- texts ------------------------------------------------------------------------------------


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"(?<!\{)\{(\w+)\}", text))


def test_every_locale_has_the_same_texts_and_placeholders_as_english():
    strings = {loc: tomllib.loads((TEMPLATES / f"{loc}.toml").read_text()) for loc in LOCALES}
    english = strings["en"]
    assert set(english) == {"common", "status", *MessageKind}
    for locale, table in strings.items():
        assert set(table) == set(english), locale
        for section, texts in english.items():
            assert set(table[section]) == set(texts), (locale, section)
            for key, text in texts.items():
                assert _placeholders(table[section][key]) == _placeholders(text), (locale, section, key)
    assert set(english["status"]) >= {"in_transit", "out_for_delivery", "exception", "delivered"}


# ---- formatting -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "expected"),
    [
        (1234, "USD", "en", "$12.34"),
        (123456, "USD", "en", "$1,234.56"),
        (5, "EUR", "en", "€0.05"),
        (1234, "EUR", "de", "12,34 €"),
        (123456789, "EUR", "de", "1.234.567,89 €"),
        (1234, "USD", "de", "12,34 $"),
        (1234, "JPY", "en", "¥1,234"),
        (1234, "JPY", "de", "1.234 ¥"),
        (1234, "KWD", "en", "KWD 1.234"),
        (1234, "SEK", "en", "SEK 12.34"),
        (1234, "SEK", "de", "12,34 SEK"),
        (-900, "USD", "en", "-$9.00"),
        (-900, "EUR", "de", "-9,00 €"),
        (0, "GBP", "en", "£0.00"),
    ],
)
def test_format_money(amount, currency, locale, expected):
    assert format_money(amount, currency, locale) == expected.replace(" ", NBSP)


def test_format_money_refuses_floats():
    for bad in (12.34, True):
        with pytest.raises(TypeError):
            format_money(bad, "USD", "en")


def test_format_date():
    when = datetime(2026, 3, 5, 23, 30, tzinfo=UTC)
    assert format_date(when, "en") == "March 5, 2026"
    assert format_date(when, "de") == "5. März 2026"
    assert format_date(when, "en", "weekday") == "Thursday, March 5"
    assert format_date(when, "de", "weekday") == "Donnerstag, 5. März"
    # Shown in the datetime's own zone.
    assert format_date(when.astimezone(timezone(timedelta(hours=2))), "en") == "March 6, 2026"
    assert format_date("2026-03-05T10:00:00+00:00", "de") == "5. März 2026"
    assert format_date(date(2026, 12, 24), "xx") == "December 24, 2026"
    with pytest.raises(ValueError, match="timezone"):
        format_date(datetime(2026, 3, 5), "en")


def test_brand_from_env():
    assert Brand.from_env({}) == Brand()
    assert Brand().name == "Homeward"
    brand = Brand.from_env(
        {
            "BRAND_NAME": "Acme",
            "BRAND_PRIMARY_COLOR": "#000000",
            "BRAND_ACCENT_COLOR": "#fff",
            "BRAND_LOGO_URL": "https://cdn.example/l.png",
            "SUPPORT_EMAIL": "help@acme.example",
            "PORTAL_URL": "https://acme.example",
            "BRAND_UNRELATED": "x",
        }
    )
    assert brand == Brand(
        "Acme", "#000000", "#fff", "https://cdn.example/l.png", "help@acme.example", "https://acme.example"
    )
    assert Brand.from_env({"BRAND_LOGO_URL": "  "}).logo_url is None
    for bad in (
        {"BRAND_PRIMARY_COLOR": "red;background:url(x)"},
        {"BRAND_LOGO_URL": "javascript:alert(1)"},
        {"SUPPORT_EMAIL": "nobody"},
    ):
        with pytest.raises(ValueError):
            Brand.from_env(bad)


# ---- previews ---------------------------------------------------------------------------------


def test_preview_emails_writes_every_message_and_an_index(tmp_path, capsys):
    assert preview_main(["--out", str(tmp_path), "--no-screenshots"]) == 0
    pages = sorted(p.name for p in tmp_path.glob("*.html") if p.name != "index.html")
    assert pages == sorted(f"{k}.{loc}.html" for k in KINDS for loc in LOCALES)
    assert len(list(tmp_path.glob("*.txt"))) == len(KINDS) * len(LOCALES)
    index = (tmp_path / "index.html").read_text()
    assert all(f'href="{page}"' in index for page in pages)
    assert f"wrote {len(KINDS) * len(LOCALES)} messages" in capsys.readouterr().out
