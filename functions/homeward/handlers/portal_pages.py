"""The unsubscribe pages the portal API serves itself (plain HTML: no scripts, nothing outside)."""

from __future__ import annotations

from html import escape
from urllib.parse import quote

CHANNEL_WORDS = {"email": "emails", "sms": "text messages"}
# The page is ours alone: no scripts, no outside resources, forms only back to this API, and the
# token (it is in the URL) never leaves in a Referer.
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}
_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><style>
body{{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;max-width:32rem;margin:4rem auto;
padding:0 1rem;color:#1f2933;line-height:1.5}}
button{{font:inherit;padding:.6rem 1.4rem;border:0;border-radius:6px;background:#1F3A5F;color:#fff;
cursor:pointer}}
</style></head><body><h1>{title}</h1>{body}</body></html>"""


def render(title: str, body: str) -> str:
    return _PAGE.format(title=title, body=body)


def confirm_unsubscribe(token: str, channel: str) -> tuple[str, str]:
    """(title, body) of the page asking to confirm: a button that POSTs the same link."""
    what = CHANNEL_WORDS[channel]
    form = (
        f'<form method="post" action="?token={escape(quote(token, safe=""))}">'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return (
        f"Stop {what}?",
        f"<p>You will no longer get {what} about your returns and orders. The returns portal still shows "
        f"everything.</p>{form}",
    )


def unsubscribed(channel: str) -> tuple[str, str]:
    return "You are unsubscribed", f"<p>You will no longer get {CHANNEL_WORDS[channel]} from us.</p>"
