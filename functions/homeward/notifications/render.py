"""Render a shopper notification - subject, HTML, plain text and SMS - from a plain-dict context.

Pure: no AWS, no I/O but reading the package's own template files. The consumer decides who
gets which message and sends it (SES with `List-Unsubscribe` headers pointing at
`links.unsubscribe`, SNS for the SMS); this module only turns a context into text.

    rendered = render("refund_issued", "de-AT", context, Brand.from_env())
    rendered.subject, rendered.html, rendered.text, rendered.sms  # sms is None unless spec.sms

The context contract
--------------------
The consumer passes plain dicts (as below); a message needs only its parts (`catalog.SPECS[kind]
.needs`, plus `customer`, `order`, `links.portal`, `links.unsubscribe` for every message). A
needed part that is missing or None raises `ContextError` before rendering; so does any
other missing key a template reads (StrictUndefined), so a broken context fails loudly.

    {
      "locale": str,                    # informational; the `locale` argument decides
      "customer": {"name": str | None},
      "order": {"order_number": str},
      "return": {                       # return_* / label_* / refund_* / credit_* / survey
        "rma": str,
        "lines": [{"title": str, "variant": str | None, "quantity": int}],
        "rejection_reason": str | None,            # return_rejected (optional)
        "label": {                                 # return_approved, label_* (optional
          "tracking_number": str,                  #   elsewhere; required by label_expiring)
          "carrier_service": str,
          "expires_at": aware datetime,
          "qr_payload": str | None,
        } | None,
      },
      "money": {                        # refund_issued, credit_issued, refund_failed
        "amount": int,                  # minor units of `currency` (never a float)
        "currency": str,                # ISO 4217
        "breakdown": {"merchandise": int, "discounts": int, "tax": int, "restocking_fee": int,
                      "grade_deduction": int, "return_shipping_fee": int} | None,
        "credit_code": str | None,      # credit_issued (required there)
        "credit_balance": int | None,   # credit_issued (required there), minor units
        "failure_reason": str | None,   # refund_failed (optional)
      },
      "parcel": {                       # shipment_*
        "tracking_number": str,
        "carrier": str | None,
        "status": str,                  # a TrackingStatus value; unknown values are shown as is
        "eta": aware datetime | None,
        "location": str | None,
      },
      "links": {
        "portal": str,                  # the shopper's view of this return / order
        "unsubscribe": str,             # one-click, signed; also for the List-Unsubscribe header
        "label": str | None,            # return_approved, label_expiring
        "survey": str | None,           # survey: signed; ratings link to it with rating=1..5
      },
    }

Optional keys (marked `| None`) may also be left out. Amounts are breakdown parts as
positive numbers: discounts, fees and deductions are shown subtracted. Datetimes may also be
ISO 8601 strings with an offset; they are shown in their own time zone (convert first if the
shopper's is known). An unknown locale renders in English.

Templates (templates/)
----------------------
One template per kind, `<kind>.j2`, written once for every format and language:

* the words come from `templates/<locale>.toml` through `t("key", **params)` (the kind's
  section, or "common.key" / "status.key"); a key missing in a locale falls back to English;
* layout and building blocks come from `_layout.{html,txt}.j2` and `_ui.{html,txt}.j2`
  (exposed as `ui`): the same kind template is rendered by an autoescaping environment with
  the HTML pair and by a plain-text environment with the text pair;
* blocks `subject` and (for SMS kinds) `sms` are rendered on their own, as text;
* required keys are read as attributes (`return.rma`), optional ones with `.get("key")`.

Money and dates are formatted here (`format_money`, `format_date`, also the `money` and
`date` filters) for the two locales without Babel: its CLDR data is 30 MB in the package
and tens of milliseconds on a cold start, for what two small tables do.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from itertools import groupby
from pathlib import Path
from typing import Any, cast

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context
from jinja2.exceptions import UndefinedError
from markupsafe import Markup, escape

from homeward.notifications.catalog import BASE_NEEDS, DEFAULT_LOCALE, resolve_locale, spec

TEMPLATES = Path(__file__).resolve().parent / "templates"


class ContextError(ValueError):
    """The context lacks something the message needs; the message cannot be rendered."""


# ---------------------------------------------------------------------------------------------
# Brand
# ---------------------------------------------------------------------------------------------

_COLOR = re.compile(r"^#(?:[0-9a-fA-F]{3}){1,2}$")
_URL = re.compile(r"^https?://[^\s\"'<>]+$")


@dataclass(frozen=True)
class Brand:
    """The shop's look and contacts, from configuration (validated: they go into HTML and CSS)."""

    name: str = "Homeward"
    primary_color: str = "#1F3A5F"
    accent_color: str = "#E07A2E"
    logo_url: str | None = None
    support_email: str = "support@example.com"
    portal_url: str = "https://returns.example.com"

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("brand name must not be empty")
        for field in ("primary_color", "accent_color"):
            if not _COLOR.match(getattr(self, field)):
                raise ValueError(f"brand {field} must be a hex color like #1F3A5F")
        for field in ("logo_url", "portal_url"):
            value = getattr(self, field)
            if value is not None and not _URL.match(value):
                raise ValueError(f"brand {field} must be an http(s) URL")
        if not re.match(r"^[^@\s\"'<>]+@[^@\s\"'<>]+\.[^@\s\"'<>]+$", self.support_email):
            raise ValueError("support email must be an email address")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Brand:
        """BRAND_NAME, BRAND_PRIMARY_COLOR, BRAND_ACCENT_COLOR, BRAND_LOGO_URL, SUPPORT_EMAIL,
        PORTAL_URL; unset or empty ones take the defaults."""
        env = os.environ if environ is None else environ
        names = {
            "name": "BRAND_NAME",
            "primary_color": "BRAND_PRIMARY_COLOR",
            "accent_color": "BRAND_ACCENT_COLOR",
            "logo_url": "BRAND_LOGO_URL",
            "support_email": "SUPPORT_EMAIL",
            "portal_url": "PORTAL_URL",
        }
        return cls(**{field: env[var].strip() for field, var in names.items() if env.get(var, "").strip()})


# ---------------------------------------------------------------------------------------------
# Money and dates
# ---------------------------------------------------------------------------------------------

# ISO 4217 minor units where they are not 2.
_EXPONENT = {
    **dict.fromkeys(("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF"), 0),
    **dict.fromkeys(("UGX", "UYI", "VND", "VUV", "XAF", "XOF", "XPF"), 0),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
}
# Symbols both locales use (CLDR); other currencies are written with their code.
_SYMBOL = {
    "USD": "$",
    "EUR": "€",
    "GBP": "£",
    "JPY": "¥",
    "CAD": "CA$",
    "AUD": "A$",
    "NZD": "NZ$",
    "HKD": "HK$",
    "MXN": "MX$",
    "BRL": "R$",
    "INR": "₹",
    "KRW": "₩",
    "ILS": "₪",
    "CNY": "CN¥",
}
_NBSP = "\u00a0"

_MONTHS = {
    "en": "January February March April May June July August September October November December",
    "de": "Januar Februar März April Mai Juni Juli August September Oktober November Dezember",
}
_WEEKDAYS = {
    "en": "Monday Tuesday Wednesday Thursday Friday Saturday Sunday",
    "de": "Montag Dienstag Mittwoch Donnerstag Freitag Samstag Sonntag",
}


def format_money(amount: int, currency: str, locale: str) -> str:
    """Minor units as the locale writes them: en "$1,234.56" / "SEK 12.34"; de "1.234,56 €"."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError(f"money amounts are integer minor units, not {type(amount).__name__}")
    exponent = _EXPONENT.get(currency, 2)
    whole, fraction = divmod(abs(amount), 10**exponent)
    group, decimal = (".", ",") if locale == "de" else (",", ".")
    number = f"{whole:,}".replace(",", group)
    if exponent:
        number += f"{decimal}{fraction:0{exponent}d}"
    sign = "-" if amount < 0 else ""
    symbol = _SYMBOL.get(currency)
    if locale == "de":
        return f"{sign}{number}{_NBSP}{symbol or currency}"
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{currency}{_NBSP}{number}"


def format_date(value: date | datetime | str, locale: str, style: str = "long") -> str:
    """A day as the locale writes it. "long": "March 5, 2026" / "5. März 2026";
    "weekday": "Thursday, March 5" / "Donnerstag, 5. März". Datetimes must be aware."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if isinstance(value, datetime) and value.tzinfo is None:
        raise ValueError("datetimes in a notification context must be timezone-aware")
    lang = locale if locale in _MONTHS else DEFAULT_LOCALE
    month = _MONTHS[lang].split()[value.month - 1]
    weekday = _WEEKDAYS[lang].split()[value.weekday()]
    if style == "weekday":
        return f"{weekday}, {value.day}. {month}" if lang == "de" else f"{weekday}, {month} {value.day}"
    if style != "long":
        raise ValueError(f"unknown date style {style!r}")
    return f"{value.day}. {month} {value.year}" if lang == "de" else f"{month} {value.day}, {value.year}"


@pass_context
def _money_filter(ctx, amount: int, currency: str) -> str:
    return format_money(amount, currency, ctx["locale"])


@pass_context
def _date_filter(ctx, value: date | datetime | str, style: str = "long") -> str:
    return format_date(value, ctx["locale"], style)


def _readable_on(color: str) -> str:
    """Dark or white text, whichever reads better on `color` (WCAG relative luminance)."""
    hex_ = color.lstrip("#")
    if len(hex_) == 3:
        hex_ = "".join(c * 2 for c in hex_)
    channels = [int(hex_[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    # Contrast against white (1.05 / (L + 0.05)) vs against #1f2933 (L ~= 0.022).
    return "#ffffff" if 1.05 / (luminance + 0.05) >= (luminance + 0.05) / 0.072 else "#1f2933"


def _with_query(url: str, **params: Any) -> str:
    """`url` with `params` appended to its query string (the survey's signed link has one)."""
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"{url}{'&' if '?' in url else '?'}{query}"


_QR_MAX_VERSION = 10  # 57 x 57 modules, ~55 KB of HTML; Gmail clips emails above 102 KB


def _qr_table(payload: str, module: int = 5) -> Markup:
    """The QR code of `payload` as an HTML table: shows in every mail client, images on or off.

    One table per row of modules, a cell per run of equal modules, so no column has to line
    up across rows (which mail clients get wrong): ~16 KB for a 40-character URL. Empty for a
    payload that needs a QR code above version 10 (the templates then point to the label).
    """
    import segno  # ~40 ms; only messages with a QR code pay for it

    qr = segno.make(payload, error="m", micro=False)
    # micro=False: a full QR code's version is a number (segno types it `int | str` for Micro QR).
    if cast(int, qr.version) > _QR_MAX_VERSION:
        return Markup("")
    rows = []
    for line in qr.matrix:
        cells: list[str] = []
        for dark, run in groupby(bool(m) for m in line):
            height = "" if cells else f' height="{module}"'  # the first cell sets the row's height
            color = ' bgcolor="#000"' if dark else ""
            cells.append(f'<td width="{len(list(run)) * module}"{height}{color}></td>')
        rows.append(
            '<tr><td><table cellpadding="0" cellspacing="0" border="0"'
            ' style="border-collapse:collapse;font-size:0;line-height:0">'
            f"<tr>{''.join(cells)}</tr></table></td></tr>"
        )
    return Markup(
        '<table role="presentation" cellpadding="0" cellspacing="0" border="0" bgcolor="#ffffff"'
        ' style="border-collapse:collapse;background:#ffffff;border:20px solid #ffffff">'
        + "".join(rows)
        + "</table>"
    )


# ---------------------------------------------------------------------------------------------
# Environments, strings
# ---------------------------------------------------------------------------------------------


@cache
def _environments() -> tuple[Environment, Environment]:
    """(html, text): the same templates, HTML autoescaped, text not. Built once per process.

    Autoescaping is per environment, not `select_autoescape` by file extension, because one
    `<kind>.j2` is rendered both ways; `layout` and `ui` pick the format's own building blocks.
    """
    loader = FileSystemLoader(TEMPLATES)
    envs = []
    for fmt, autoescape in (("html", True), ("txt", False)):
        env = Environment(
            loader=loader,
            autoescape=autoescape,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        env.filters.update(money=_money_filter, date=_date_filter, with_query=_with_query)
        env.globals.update(layout=f"_layout.{fmt}.j2", readable_on=_readable_on)
        if fmt == "html":
            env.globals["qr_table"] = _qr_table
        envs.append(env)
    return envs[0], envs[1]


@cache
def _strings(locale: str) -> dict[str, dict[str, str]]:
    with (TEMPLATES / f"{locale}.toml").open("rb") as f:
        return tomllib.load(f)


def _translator(locale: str, kind: str, html: bool):
    """`t(key, **params)`: the locale's text for `key` ("subject" in the kind's section, or
    "common.greeting"), English where the locale lacks it, else `default` (a carrier's status
    name, say), with `params` filled in. For HTML the text is escaped and so are the params,
    except markup made by the `ui` macros (the support address as a mailto link)."""
    strings = _strings(locale)
    english = _strings(DEFAULT_LOCALE)

    def t(key: str, default: str | None = None, **params: Any) -> str:
        section, _, name = key.rpartition(".")
        section = section or kind
        text = strings.get(section, {}).get(name) or english.get(section, {}).get(name)
        if text is None:
            if default is None:
                raise KeyError(f"no text {section}.{name} in {locale} or {DEFAULT_LOCALE}")
            text = default.replace("{", "{{").replace("}", "}}")
        return Markup(escape(text)).format(**params) if html else text.format(**params)

    return t


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    subject: str
    html: str
    text: str
    sms: str | None  # None for kinds without an SMS (catalog `MessageSpec.sms`)
    locale: str = DEFAULT_LOCALE  # the locale actually used


def _check_needs(kind: str, paths: tuple[str, ...], context: Mapping[str, Any]) -> None:
    for path in paths:
        node: Any = context
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
            if node is None:
                raise ContextError(f"{kind} needs context[{path!r}]")


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"


def _one_line(text: str) -> str:
    """Runs of spaces and line breaks to one space; no-break spaces stay."""
    return re.sub(r"[ \t\r\n]+", " ", text).strip()


def render(kind: str, locale: str, context: Mapping[str, Any], brand: Brand) -> Rendered:
    """Render message `kind` in `locale` (any BCP 47 tag; unsupported -> English).

    Raises ValueError for an unknown kind and ContextError (a ValueError) when the context
    lacks something the message needs.
    """
    message = spec(kind)
    kind = str(message.kind)
    lang = resolve_locale(locale)
    _check_needs(kind, BASE_NEEDS + message.needs, context)
    html_env, text_env = _environments()
    name = f"{kind}.j2"
    try:
        template = text_env.get_template(name)
        variables = _variables(text_env, context, lang, kind, brand, html=False)
        subject = _one_line("".join(template.blocks["subject"](template.new_context(variables))))
        sms = None
        if message.sms:
            body = _one_line("".join(template.blocks["sms"](template.new_context(variables))))
            sms = f"{brand.name}: {body}".replace(_NBSP, " ")  # GSM-7 has no no-break space
        text = _tidy_text(template.render(variables))
        html = html_env.get_template(name).render(_variables(html_env, context, lang, kind, brand, html=True))
    except UndefinedError as e:
        raise ContextError(f"{kind}: {e.message}") from e
    return Rendered(subject=subject, html=html, text=text, sms=sms, locale=lang)


def _variables(
    env: Environment, context: Mapping[str, Any], lang: str, kind: str, brand: Brand, *, html: bool
) -> dict[str, Any]:
    variables = {**context, "locale": lang, "kind": kind, "brand": brand, "t": _translator(lang, kind, html)}
    variables["ui"] = env.get_template(f"_ui.{'html' if html else 'txt'}.j2").make_module(variables)
    return variables


__all__ = ["Brand", "ContextError", "Rendered", "format_date", "format_money", "render"]
