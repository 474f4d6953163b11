"""Write every notification in every locale to a folder, to look at (`make preview-emails`).

    python -m infra.preview_emails [--out email-previews] [--no-screenshots]

For each message kind and locale: <kind>.<locale>.html and .txt, and - when Chromium is
installed at /usr/bin/chromium - a .png screenshot of the HTML at phone-ish width. index.html
links them all, with each subject and SMS text. The contexts are realistic samples
(`sample_context`); the unit tests render the same ones.
"""

from __future__ import annotations

import argparse
import html
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from infra.template import ROOT

DEFAULT_OUT = ROOT / "email-previews"
CHROMIUM = Path("/usr/bin/chromium")
NOW = datetime(2026, 11, 18, 10, 30, tzinfo=UTC)


def sample_brand():
    """The brand of the previews: a made-up shop, all settings filled in."""
    _functions_on_path()
    from homeward.notifications.render import Brand

    return Brand(
        name="Fjord & Pine",
        primary_color="#23403A",
        accent_color="#E8A33D",
        logo_url=None,
        support_email="help@fjordandpine.example",
        portal_url="https://returns.fjordandpine.example",
    )


# The parcel's status in each shipment message (the others show an in-transit parcel).
_PARCEL_STATUS = {
    "shipment_shipped": "pre_transit",
    "shipment_out_for_delivery": "out_for_delivery",
    "shipment_delivered": "delivered",
    "shipment_exception": "exception",
}


def _sample_return(rma: str, de: bool) -> dict:
    return {
        "rma": rma,
        "lines": [
            {
                "title": "Merino-Pullover" if de else "Merino crew sweater",
                "variant": "M / Grau meliert" if de else "M / Heather grey",
                "quantity": 1,
            },
            {
                "title": "Trailrunning-Socken (3er-Pack)" if de else "Trail running socks (3-pack)",
                "variant": None,
                "quantity": 2,
            },
        ],
        "rejection_reason": (
            "Die Socken wurden getragen; wir nehmen nur ungetragene Socken zurück."
            if de
            else "The socks were worn, and our policy only accepts unworn socks."
        ),
        "label": {
            "tracking_number": "HW58417267687373989",
            "carrier_service": "UPS Ground",
            "expires_at": NOW + timedelta(days=14),
            "qr_payload": "https://hw.example/d/HW58417267687373989",
        },
    }


def _sample_money(currency: str, de: bool) -> dict:
    return {
        "amount": 8251,
        "currency": currency,
        "breakdown": {
            "merchandise": 8998,
            "discounts": 900,
            "tax": 648,
            "restocking_fee": 0,
            "grade_deduction": 0,
            "return_shipping_fee": 495,
        },
        "credit_code": "HWC-4F7Q-2M9X",
        "credit_balance": 10751,
        "failure_reason": "Die hinterlegte Karte ist abgelaufen." if de else "The card on file has expired.",
    }


def sample_context(locale: str = "en", kind: str | None = None) -> dict:
    """A context with every part filled in, as the notifications consumer passes it.

    One return (two lines, approved with a label and a drop-off QR code), a refund with its
    breakdown and store-credit fields, and an outbound parcel with an ETA (its status to suit
    `kind`). US dollars for English, euros for German, so both money styles show.
    """
    de = locale == "de"
    currency = "EUR" if de else "USD"
    rma = "R-7K3M-9QXA"
    site = "https://returns.fjordandpine.example"
    portal = f"{site}/#/orders/ord_2001/returns/{rma}"
    return {
        "locale": locale,
        "customer": {"name": "Anna Schmidt" if de else "Jamie Rivera"},
        "order": {"order_number": "#2001"},
        "return": _sample_return(rma, de),
        "money": _sample_money(currency, de),
        "parcel": {
            "tracking_number": "1Z999AA10123456784",
            "carrier": "UPS",
            "status": _PARCEL_STATUS.get(str(kind), "in_transit"),
            "eta": None if kind == "shipment_delivered" else NOW + timedelta(days=2),
            "location": "Kassel" if de else "Louisville, KY",
        },
        "links": {
            "portal": portal,
            "unsubscribe": f"{site}/#/unsubscribe/eyJlIjoiamFtaWUifQ.sig?lang={locale}",
            "label": f"{portal}/label",
            "survey": f"{site}/#/feedback/eyJzIjoxfQ.sig?lang={locale}",
            "sign_in": f"{site}/#/signin/eyJvIjoib3JkXzIwMDEifQ.sig?lang={locale}",
        },
    }


def _functions_on_path() -> None:
    functions = str(ROOT / "functions")
    if functions not in sys.path:
        sys.path.insert(0, functions)


def write_previews(out: Path, *, screenshots: bool = True) -> dict:
    """Render everything into `out`; returns counts and timings."""
    _functions_on_path()
    from homeward.notifications.catalog import LOCALES, MessageKind
    from homeward.notifications.render import render

    started = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    brand = sample_brand()
    rows, pages = [], []
    for kind in MessageKind:
        cells = []
        for locale in LOCALES:
            rendered = render(kind, locale, sample_context(locale, kind), brand)
            stem = f"{kind}.{locale}"
            (out / f"{stem}.html").write_text(rendered.html, encoding="utf-8")
            (out / f"{stem}.txt").write_text(rendered.text, encoding="utf-8")
            pages.append(out / f"{stem}.html")
            cells.append((locale, stem, rendered))
        rows.append((kind, cells))
    rendered_at = time.perf_counter()

    shots = _screenshots(pages) if screenshots and CHROMIUM.exists() else 0
    (out / "index.html").write_text(_index(rows, shots > 0), encoding="utf-8")
    return {
        "messages": len(pages),
        "screenshots": shots,
        "render_seconds": round(rendered_at - started, 3),
        "total_seconds": round(time.perf_counter() - started, 3),
    }


def _screenshots(pages: list[Path]) -> int:
    """A PNG next to each HTML page, by headless Chromium (one process per page, 4 at a time)."""

    def shoot(page: Path) -> bool:
        png = page.with_suffix(".png")
        command = [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={page.parent / '.chromium'}-{page.stem}",
            f"--screenshot={png}",
            "--window-size=700,1200",
            page.resolve().as_uri(),
        ]
        try:
            subprocess.run(command, capture_output=True, timeout=60, check=True)
        except (OSError, subprocess.SubprocessError) as e:
            print(f"screenshot of {page.name} failed: {e}", file=sys.stderr)
            return False
        finally:
            shutil.rmtree(f"{page.parent / '.chromium'}-{page.stem}", ignore_errors=True)
        return png.exists()

    with ThreadPoolExecutor(max_workers=4) as pool:
        return sum(pool.map(shoot, pages))


def _index(rows: list, with_png: bool) -> str:
    e = html.escape
    body = []
    for kind, cells in rows:
        body.append(f'<tr><th colspan="2" id="{e(kind)}">{e(kind)}</th></tr>')
        for locale, stem, rendered in cells:
            links = f'<a href="{stem}.html">HTML</a> · <a href="{stem}.txt">text</a>'
            if with_png:
                links += f' · <a href="{stem}.png">PNG</a>'
            sms = f"<br><small>SMS ({len(rendered.sms)}): {e(rendered.sms)}</small>" if rendered.sms else ""
            body.append(f"<tr><td>{locale}</td><td><b>{e(rendered.subject)}</b> {links}{sms}</td></tr>")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Homeward email previews</title>'
        "<style>body{font-family:sans-serif;margin:24px}td,th{padding:4px 8px;text-align:left;"
        "vertical-align:top}th{padding-top:16px}</style></head><body><h1>Homeward email previews</h1>"
        f"<table>{''.join(body)}</table></body></html>\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="folder to write (default: %(default)s)"
    )
    parser.add_argument("--no-screenshots", action="store_true", help="skip the Chromium PNGs")
    args = parser.parse_args(argv)
    stats = write_previews(args.out, screenshots=not args.no_screenshots)
    shots = f", {stats['screenshots']} screenshots" if stats["screenshots"] else ", no screenshots"
    print(
        f"wrote {stats['messages']} messages{shots} to {args.out}/index.html "
        f"(render {stats['render_seconds']} s, total {stats['total_seconds']} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
