"""Draw a 4x6 inch return label as PDF, PNG (203 dpi) or ZPL II - pure functions, no I/O.

One layout, three back ends. `_layout` places every element on the 203 dpi grid of a thermal
printer (812 x 1218 dots, origin top left, as in ZPL), and each back end draws the same list
of elements:

* PDF - reportlab: Bitstream Vera (shipped with reportlab, embedded as a subset), the Code 128
  from `reportlab.graphics.barcode.code128` and the QR code (segno's matrix) as vector paths.
  One dot is 72/203 pt, so the bars fall on a 203 dpi printer's dots.
* PNG - Pillow: a 1-bit 812 x 1218 image (what a thermal printer prints) with the same font,
  bars and modules, written with a 203 dpi pHYs chunk.
* ZPL - text for Zebra printers: ^FO/^A0/^FD fields, ^GB boxes, ^BC (Code 128, automatic
  subsets) and ^BQ (QR, model 2); ^CI28 makes field data UTF-8.

Text is reduced to what the font can draw (`printable`): Latin letters with diacritics stay,
other scripts are transliterated (anyascii), so the three formats say the same thing. Long
lines are wrapped at spaces, and shrunk or cut with "..." where the space ends.

The heavy libraries (reportlab ~0.25 s to import, Pillow, segno, anyascii) are imported in
the functions that need them, so importing this module costs nothing until a label is drawn.

Also here: the sandbox carrier's tracking numbers (`sandbox_tracking_number`).
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from homeward.models.labels import LabelAddress, LabelContent, LabelFormat

if TYPE_CHECKING:
    from reportlab.pdfgen.canvas import Canvas

# ---------------------------------------------------------------------------------------------
# Sandbox tracking numbers
# ---------------------------------------------------------------------------------------------

TRACKING_PREFIX = "HW"
_TRACKING_RE = re.compile(rf"{TRACKING_PREFIX}(\d{{16}})(\d)")


def _mod10(digits: str) -> int:
    """GS1 / USPS mod-10 check digit: weights 3, 1, 3, ... from the rightmost digit."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


def sandbox_tracking_number(seed: str) -> str:
    """The sandbox carrier's tracking number for `seed` (e.g. the label reference).

    Scheme: "HW" + 16 digits + 1 check digit, 19 characters, e.g. HW58417267687373989
    (for "label:R-7K3M-9QXA").
    The 16 digits are SHA-256("homeward:sandbox-tracking:" + seed) reduced mod 10^16, so the
    same seed always gives the same number (a retried purchase finds the same label) and two
    seeds collide only by chance (1 in 10^16 per pair). The check digit is the GS1 / USPS mod-10
    over those 16 digits: weights 3 and 1 alternating from the rightmost digit, check digit =
    (10 - sum mod 10) mod 10. It catches any single wrong digit (3 and 1 are prime to 10).
    The "HW" prefix keeps sandbox numbers apart from every real carrier's format.
    """
    digest = hashlib.sha256(b"homeward:sandbox-tracking:" + seed.encode("utf-8")).digest()
    body = f"{int.from_bytes(digest, 'big') % 10**16:016d}"
    return f"{TRACKING_PREFIX}{body}{_mod10(body)}"


def tracking_check_digit_ok(number: str) -> bool:
    """Whether `number` is a well-formed sandbox tracking number (spaces and case ignored)."""
    match = _TRACKING_RE.fullmatch("".join(number.split()).upper())
    return match is not None and int(match[2]) == _mod10(match[1])


# ---------------------------------------------------------------------------------------------
# Layout: elements on the 203 dpi grid
# ---------------------------------------------------------------------------------------------

DPI = 203
WIDTH, HEIGHT = 812, 1218  # 4 x 6 in at 203 dpi
PT = 72 / DPI  # one dot in PDF points
CAP = 0.73  # Vera's cap height per em: a text line's top is its baseline minus CAP * size
ELLIPSIS = "..."


class Text(NamedTuple):
    x: int  # left edge; for "c" / "r" the box [x, x + width] is centred / right-aligned in
    y: int  # top of the capitals
    size: int  # em in dots
    text: str
    bold: bool = False
    align: str = "l"
    width: int = 0
    inverse: bool = False  # white on black


class Box(NamedTuple):
    """A rectangle with a border `thickness` dots wide; filled when thickness >= min(w, h) (as ^GB)."""

    x: int
    y: int
    w: int
    h: int
    thickness: int


class Barcode(NamedTuple):
    x: int
    y: int
    module: int  # dots per narrowest bar
    height: int
    value: str
    bars: tuple[tuple[int, int], ...]  # (offset, width) in modules


class QR(NamedTuple):
    x: int
    y: int
    module: int
    size: int  # modules per side
    runs: tuple[tuple[int, int, int], ...]  # (row, column, length) of dark modules
    payload: str


Element = Text | Box | Barcode | QR


# Fonts: Bitstream Vera (reportlab ships it), the same file for the PDF, the PNG and the layout's metrics.
FONTS = {False: ("HomewardVera", "Vera.ttf"), True: ("HomewardVeraBold", "VeraBd.ttf")}


def _font_path(bold: bool) -> str:
    import os

    import reportlab

    return os.path.join(os.path.dirname(reportlab.__file__), "fonts", FONTS[bold][1])


@cache
def _register_fonts() -> frozenset[str]:
    """Register the TTFs with reportlab once; the characters both fonts can draw."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    coverages: list[set[str]] = []
    for bold, (name, _) in FONTS.items():
        font = TTFont(name, _font_path(bold))
        pdfmetrics.registerFont(font)
        coverages.append({chr(c) for c in font.face.charToGlyph if c >= 0x20 and not 0x7F <= c < 0xA0})
    return frozenset(set.intersection(*coverages) - {"\xad", "\uffff"})


def text_width(text: str, size: float, bold: bool = False) -> float:
    from reportlab.pdfbase.pdfmetrics import stringWidth

    _register_fonts()
    return stringWidth(text, FONTS[bold][0], size)


@cache
def _printable_char(ch: str) -> str:
    coverage = _register_fonts()
    if ch in coverage:
        return ch
    if ch.isspace() or unicodedata.category(ch)[0] in "CZ":
        return " "
    if unicodedata.east_asian_width(ch) in "WF":  # a CJK character reads as a syllable: "Li Xiao Long"
        return f" {_ascii(ch)} " if _ascii(ch).isalnum() else _ascii(ch)
    base = "".join(c for c in unicodedata.normalize("NFKD", ch) if c in coverage)
    return base or _ascii(ch) or "?"


def _ascii(ch: str) -> str:
    from anyascii import anyascii

    return "".join(c for c in anyascii(ch) if c in _register_fonts())


def printable(text: str) -> str:
    """`text` in characters the label font has: other scripts transliterated, spaces collapsed."""
    text = unicodedata.normalize("NFC", text)
    return " ".join("".join(_printable_char(c) for c in text).split())


def fit(text: str, size: float, bold: bool, width: float) -> str:
    """`text`, cut with "..." if it is wider than `width`."""
    if text_width(text, size, bold) <= width:
        return text
    while text and text_width(text.rstrip() + ELLIPSIS, size, bold) > width:
        text = text[:-1]
    return text.rstrip(" ,;:-\u2013\u2014") + ELLIPSIS


def wrap(text: str, size: float, bold: bool, width: float, max_lines: int) -> list[str]:
    """`text` broken at spaces into at most `max_lines` lines; the last one cut if it must be."""
    lines: list[str] = []
    words = text.split()
    while words and len(lines) < max_lines:
        line = words.pop(0)
        while words and text_width(f"{line} {words[0]}", size, bold) <= width:
            line = f"{line} {words.pop(0)}"
        if len(lines) == max_lines - 1 and words:  # last line: the rest goes on it, cut
            line = " ".join([line, *words])
            words = []
        lines.append(fit(line, size, bold, width))
    return lines


def shrink(text: str, bold: bool, width: float, size: int, smallest: int) -> tuple[str, int]:
    """The largest size from `size` down to `smallest` at which `text` fits; cut at `smallest`."""
    while size > smallest and text_width(text, size, bold) > width:
        size -= 2
    return fit(text, size, bold, width), size


# Countries that write the postal code before the city ("10115 Berlin").
_POSTAL_FIRST = frozenset(
    {"AT", "BE", "BG", "CH", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IS", "IT", "LI",
     "LT", "LU", "LV", "MC", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK"}
)  # fmt: skip
COUNTRY_NAMES = {
    "AT": "AUSTRIA", "AU": "AUSTRALIA", "BE": "BELGIUM", "BR": "BRAZIL", "CA": "CANADA",
    "CH": "SWITZERLAND", "CN": "CHINA", "CZ": "CZECHIA", "DE": "GERMANY", "DK": "DENMARK",
    "ES": "SPAIN", "FI": "FINLAND", "FR": "FRANCE", "GB": "UNITED KINGDOM", "GR": "GREECE",
    "IE": "IRELAND", "IN": "INDIA", "IT": "ITALY", "JP": "JAPAN", "KR": "SOUTH KOREA",
    "MX": "MEXICO", "NL": "NETHERLANDS", "NO": "NORWAY", "NZ": "NEW ZEALAND", "PL": "POLAND",
    "PT": "PORTUGAL", "SE": "SWEDEN", "SG": "SINGAPORE", "UA": "UKRAINE", "US": "UNITED STATES",
}  # fmt: skip


def city_line(address: LabelAddress) -> str:
    if address.country in _POSTAL_FIRST:
        return " ".join(filter(None, [address.postal_code, address.city, address.region]))
    city = f"{address.city}, {address.region}" if address.region else address.city
    return f"{city} {address.postal_code}"


def weight_text(weight_oz: float) -> str:
    """16 oz to the pound, as US carriers print it: 35.2 -> "2 LB 3.2 OZ"."""
    tenths = round(weight_oz * 10)
    pounds, rest = divmod(tenths, 160)
    ounces = f"{rest // 10}" if rest % 10 == 0 else f"{rest / 10:.1f}"
    return f"{pounds} LB {ounces} OZ" if pounds else f"{ounces} OZ"


def group_tracking(number: str) -> str:
    """Human-readable tracking number: a letter prefix apart, then digits in fours."""
    match = re.fullmatch(r"([A-Za-z]+)(\d+)", number)
    prefix, rest = (match[1], match[2]) if match else ("", number)
    groups = [rest[i : i + 4] for i in range(0, len(rest), 4)]
    return " ".join(filter(None, [prefix, *groups]))


def code128_bars(value: str) -> tuple[tuple[int, int], ...]:
    """Bars of `value` in Code 128 (reportlab's encoder), as (offset, width) in modules."""
    from reportlab.graphics.barcode.code128 import Code128

    barcode = Code128(value, barWidth=1, quiet=0)
    _ = barcode.width  # computes .decomposed: upper case = bar, lower case = space, A = 1 module
    bars, offset = [], 0
    for c in barcode.decomposed:
        width = ord(c.upper()) - ord("A") + 1
        if c.isupper():
            bars.append((offset, width))
        offset += width
    return tuple(bars)


def qr_runs(payload: str) -> tuple[int, tuple[tuple[int, int, int], ...]]:
    """QR code of `payload` (error correction M, boosted if it fits): size and dark runs per row."""
    import segno

    qr = segno.make(payload, error="m", micro=False)
    runs = []
    for row, line in enumerate(qr.matrix):
        col = 0
        while col < len(line):
            if line[col]:
                start = col
                while col < len(line) and line[col]:
                    col += 1
                runs.append((row, start, col - start))
            else:
                col += 1
    return len(qr.matrix), tuple(runs)


class _Column:
    """Places lines of text downwards from `y`."""

    def __init__(self, elements: list[Element], x: int, y: int) -> None:
        self.elements, self.x, self.y = elements, x, y

    def line(self, text: str, size: int, bold: bool = False, gap: float = 0.42, **kwargs) -> None:
        self.elements.append(Text(self.x, self.y, size, text, bold, **kwargs))
        self.y += round(size * (CAP + gap))


def _address(
    a: LabelAddress, *, width: int, name_size: int, size: int, max_lines: int, country: bool, caps: bool
) -> list[tuple[str, int, bool]]:
    """(text, size, bold) lines of an address, at most `max_lines`: the name (bold, shrunk to fit,
    on two lines if there is room), the street lines (upper case if `caps`), the city line and
    the country (bold, upper case). The street wins over the name when lines run short."""
    street_case = upper if caps else str
    name = upper(printable(a.name))
    streets = [street_case(printable(s)) for s in (a.line1, a.line2) if s and printable(s)]
    tail = [upper(printable(city_line(a)))] + ([COUNTRY_NAMES.get(a.country, a.country)] if country else [])
    room = max_lines - 1 - len(tail)  # lines for the street, with the name on one line
    street_lines: list[str] = []
    for i, street in enumerate(streets):
        later = len(streets) - i - 1  # keep a line for each street line still to come
        street_lines += wrap(street, size, False, width, max(1, room - len(street_lines) - later))
    street_lines = street_lines[: max(1, room)]
    one_line, fitted = shrink(name, True, width, name_size, name_size * 4 // 5)
    if one_line.endswith(ELLIPSIS) and len(street_lines) < room:
        head = [(t, name_size, True) for t in wrap(name, name_size, True, width, 2)]
    else:
        head = [(one_line, fitted, True)]
    return (
        head
        + [(t, size, False) for t in street_lines]
        + [(fit(t, name_size, True, width), name_size, True) for t in tail]
    )


# The grid's fixed lines: the frame's inset, the padding inside it and a rule's width; text
# runs from _LEFT to _RIGHT. The FROM column ends at _SPLIT (RETURN, date and weight are right of
# it), the top section at _TOP_END, SHIP TO at _TO_END; the QR column's caption is _QR_BOX wide.
_FRAME, _PAD, _RULE = 10, 26, 3
_LEFT, _RIGHT = _FRAME + _PAD, WIDTH - _FRAME - _PAD  # 36 .. 776
_INNER = WIDTH - 2 * _FRAME  # a full-width rule
_SPLIT, _TOP_END, _TO_END = 520, 222, 656
_QR_BOX, _QR_CAPTION = 212, 17


def _layout(label: LabelContent) -> list[Element]:
    """Every element of the label, top to bottom, on the 203 dpi grid."""
    e: list[Element] = [Box(_FRAME, _FRAME, _INNER, HEIGHT - 2 * _FRAME, _RULE)]
    international = label.sender.country != label.recipient.country
    _sender(e, label, international)
    _return_meta(e, label)
    to_y = _service_banner(e, label)
    _ship_to(e, label, to_y, international)
    bottom_y = _tracking(e, label)
    _drop_off_qr(e, label, bottom_y)
    _rma_and_reason(e, label, bottom_y)
    return e


def _sender(e: list[Element], label: LabelContent, international: bool) -> None:
    """FROM: the shopper's address, left of the split (the country only if it is abroad)."""
    col = _Column(e, _LEFT, 32)
    col.line("FROM", 20, True, gap=0.55)
    for text, size, bold in _address(
        label.sender, width=_SPLIT - _LEFT - 16, name_size=24, size=24, max_lines=5, country=international,
        caps=False,
    ):  # fmt: skip
        col.line(text, size, bold, gap=0.5)


def _return_meta(e: list[Element], label: LabelContent) -> None:
    """Right of the split: RETURN (white on black), the ship date and the weight; then the top's rule."""
    e.append(Box(_SPLIT, _FRAME, _RULE, _TOP_END - _FRAME, _RULE))
    box_x, box_w = _SPLIT + _RULE, _RIGHT + _PAD - _SPLIT - _RULE
    e.append(Box(box_x, _FRAME, box_w, 70, 70))
    e.append(Text(box_x, _FRAME + 22, 36, "RETURN", True, "c", box_w, inverse=True))
    meta = _Column(e, _SPLIT + 20, 100)
    meta.line("SHIP DATE", 18, True, gap=0.45)
    meta.line(label.created.isoformat(), 28, True, gap=0.75)
    meta.line("WEIGHT", 18, True, gap=0.45)
    meta.line(weight_text(label.weight_oz), 28, True)
    e.append(Box(_FRAME, _TOP_END, _INNER, _RULE, _RULE))


def _service_banner(e: list[Element], label: LabelContent) -> int:
    """The carrier service, white on black across the label, shrunk to fit. Returns its bottom."""
    banner_y, banner_h = _TOP_END, 86
    e.append(Box(_FRAME, banner_y, _INNER, banner_h, banner_h))
    service, size = shrink(upper(printable(label.carrier_service)), True, _RIGHT - _LEFT, 44, 28)
    service_y = banner_y + (banner_h - round(size * CAP)) // 2
    e.append(Text(_LEFT, service_y, size, service, True, "c", _RIGHT - _LEFT, inverse=True))
    return banner_y + banner_h


def _ship_to(e: list[Element], label: LabelContent, to_y: int, international: bool) -> None:
    """SHIP TO: the warehouse's address, large and in capitals, down to the thick rule."""
    e.append(Text(_LEFT, to_y + 20, 22, "SHIP TO:", True))
    lines = _address(
        label.recipient, width=_RIGHT - 64, name_size=46, size=40, max_lines=6, country=international,
        caps=True,
    )  # fmt: skip
    col = _Column(e, 64, to_y + 62)
    for text, size, bold in lines:
        col.line(text, size, bold, gap=0.36)
    e.append(Box(_FRAME, _TO_END, _INNER, _RULE * 2, _RULE * 2))


def _tracking(e: list[Element], label: LabelContent) -> int:
    """The tracking number's caption, Code 128 (centred) and grouped digits. Returns its bottom."""
    caption_y = _TO_END + 22
    carrier = fit(upper(printable(label.carrier_display_name)), 22, True, 400)
    e.append(Text(_LEFT, caption_y, 22, "TRACKING #", True))
    e.append(Text(_LEFT, caption_y, 22, carrier, True, "r", _RIGHT - _LEFT))
    bars = code128_bars(label.tracking_number)
    modules = bars[-1][0] + bars[-1][1]
    module = _barcode_module(modules, label.tracking_number)
    bar_y, bar_h = caption_y + 34, 150
    e.append(Barcode((WIDTH - modules * module) // 2, bar_y, module, bar_h, label.tracking_number, bars))
    human = group_tracking(label.tracking_number)
    e.append(Text(_LEFT, bar_y + bar_h + 14, 32, human, True, "c", _RIGHT - _LEFT))
    bottom_y = bar_y + bar_h + 14 + 32 + 18
    e.append(Box(_FRAME, bottom_y, _INNER, _RULE * 2, _RULE * 2))
    return bottom_y


def _barcode_module(modules: int, tracking_number: str) -> int:
    """The widest bar (4, 3 or 2 dots) at which the barcode and 10-module quiet zones fit the frame."""
    room = WIDTH - 2 * (_FRAME + _RULE)
    module = next((m for m in (4, 3, 2) if (modules + 20) * m <= room), None)
    if module is None:
        raise ValueError(f"tracking number {tracking_number!r} is too long for the label")
    return module


def _drop_off_qr(e: list[Element], label: LabelContent, bottom_y: int) -> None:
    """The QR code for printerless drop-off, with its caption, in the bottom right column."""
    qr_n, runs = qr_runs(label.qr_payload)
    qr_center = _RIGHT - 106
    qr_module, qr_y, caption_y = _qr_placement(qr_n, qr_top=bottom_y + 2 * _RULE, qr_center=qr_center)
    qr_side = qr_n * qr_module
    e.append(QR(qr_center - qr_side // 2, qr_y, qr_module, qr_n, runs, label.qr_payload))
    e.append(Text(qr_center - _QR_BOX // 2, caption_y, _QR_CAPTION, "SCAN AT DROP-OFF", True, "c", _QR_BOX))


def _qr_placement(qr_n: int, *, qr_top: int, qr_center: int) -> tuple[int, int, int]:
    """(module, top, caption top) of a QR code `qr_n` modules wide.

    The QR code with its 4-module quiet zone fills a column from x=541 to the frame; its caption
    sits below. The largest module (8 dots down to 3) with which both fit is used.
    """
    qr_limit = HEIGHT - _FRAME - _RULE - 8
    qr_width = 2 * (WIDTH - _FRAME - _RULE - qr_center)  # with the quiet zone
    for qr_module in range(8, 2, -1):
        qr_y = qr_top + 4 * qr_module
        caption_y = qr_y + qr_n * qr_module + 2 * qr_module + 6
        if (qr_n + 8) * qr_module <= qr_width and caption_y + _QR_CAPTION <= qr_limit:
            return qr_module, qr_y, caption_y
    raise ValueError("qr_payload is too long for the label's QR code")


def _rma_and_reason(e: list[Element], label: LabelContent, bottom_y: int) -> None:
    """The RMA (large, shrunk to fit) and the return reason, left of the QR code."""
    text_w = _RIGHT - _QR_BOX - 30 - _LEFT
    col = _Column(e, _LEFT, bottom_y + 2 * _RULE + 24)
    col.line("RMA", 20, True, gap=0.5)
    rma, size = shrink(printable(label.rma), True, text_w, 52, 30)
    col.line(rma, size, True, gap=0.7)
    if label.reason_summary and printable(label.reason_summary):
        col.line("REASON", 18, True, gap=0.45)
        for line in wrap(printable(label.reason_summary), 24, False, text_w, 3):
            col.line(line, 24, gap=0.5)


def upper(text: str) -> str:
    """Upper case, keeping "ß" (whose upper case, "SS", would change a street name's length)."""
    return "".join(c if c == "ß" else c.upper() for c in text)


# ---------------------------------------------------------------------------------------------
# Back ends
# ---------------------------------------------------------------------------------------------


def render_label(label: LabelContent, fmt: LabelFormat) -> bytes:
    """The label as a PDF (4x6 in page), a PNG (812 x 1218, 1-bit, 203 dpi) or ZPL II."""
    renderers = {"PDF": _pdf, "PNG": _png, "ZPL": _zpl}
    if fmt not in renderers:
        raise ValueError(f"unknown label format {fmt!r}: one of {', '.join(renderers)}")
    return renderers[fmt](label, _layout(label))


def _pdf(label: LabelContent, elements: list[Element]) -> bytes:
    from reportlab.graphics.barcode.code128 import Code128
    from reportlab.pdfgen.canvas import Canvas

    buffer = io.BytesIO()
    c = Canvas(buffer, pagesize=(WIDTH * PT, HEIGHT * PT), invariant=1, pageCompression=1)
    c.setTitle(f"Return label {label.rma}")
    c.setSubject(f"{label.carrier_display_name} {label.tracking_number}")
    c.setAuthor("Homeward")
    c.setCreator("Homeward")
    c.setFillGray(0)
    y = _pdf_y
    for el in elements:
        if isinstance(el, Text):
            _pdf_text(c, el)
        elif isinstance(el, Box):
            _pdf_box(c, el)
        elif isinstance(el, Barcode):
            barcode = Code128(el.value, barWidth=el.module * PT, barHeight=el.height * PT, quiet=0)
            barcode.drawOn(c, el.x * PT, y(el.y + el.height))
        elif isinstance(el, QR):
            path = c.beginPath()
            m = el.module
            for row, col, length in el.runs:
                path.rect((el.x + col * m) * PT, y(el.y + (row + 1) * m), length * m * PT, m * PT)
            c.drawPath(path, stroke=0, fill=1)
    c.showPage()
    c.save()
    return buffer.getvalue()


def _pdf_y(v: float) -> float:
    """Dots from the top -> points from the bottom."""
    return (HEIGHT - v) * PT


def _pdf_text(c: Canvas, el: Text) -> None:
    c.setFont(FONTS[el.bold][0], el.size * PT)
    c.setFillGray(1 if el.inverse else 0)
    base = _pdf_y(el.y + el.size * CAP)
    if el.align == "c":
        c.drawCentredString((el.x + el.width / 2) * PT, base, el.text)
    elif el.align == "r":
        c.drawRightString((el.x + el.width) * PT, base, el.text)
    else:
        c.drawString(el.x * PT, base, el.text)
    c.setFillGray(0)


def _pdf_box(c: Canvas, el: Box) -> None:
    if el.thickness >= min(el.w, el.h):
        c.rect(el.x * PT, _pdf_y(el.y + el.h), el.w * PT, el.h * PT, stroke=0, fill=1)
    else:
        t = el.thickness  # a stroke is centred on its path: inset by half the width
        c.setLineWidth(t * PT)
        x0, w, h = (el.x + t / 2) * PT, (el.w - t) * PT, (el.h - t) * PT
        c.rect(x0, _pdf_y(el.y + el.h - t / 2), w, h, stroke=1, fill=0)


@cache
def _pil_font(size: int, bold: bool):
    from PIL import ImageFont

    return ImageFont.truetype(_font_path(bold), size)


def _png(label: LabelContent, elements: list[Element]) -> bytes:
    from PIL import Image, ImageDraw

    image = Image.new("1", (WIDTH, HEIGHT), 1)
    draw = ImageDraw.Draw(image)
    for el in elements:
        if isinstance(el, Text):
            font = _pil_font(el.size, el.bold)
            base = round(el.y + el.size * CAP)
            x, anchor = {
                "l": (el.x, "ls"),
                "c": (el.x + el.width / 2, "ms"),
                "r": (el.x + el.width, "rs"),
            }[el.align]
            draw.text((x, base), el.text, font=font, fill=1 if el.inverse else 0, anchor=anchor)
        elif isinstance(el, Box):
            if el.thickness >= min(el.w, el.h):
                draw.rectangle((el.x, el.y, el.x + el.w - 1, el.y + el.h - 1), fill=0)
            else:
                draw.rectangle((el.x, el.y, el.x + el.w - 1, el.y + el.h - 1), outline=0, width=el.thickness)
        elif isinstance(el, Barcode):
            for offset, width in el.bars:
                x0 = el.x + offset * el.module
                draw.rectangle((x0, el.y, x0 + width * el.module - 1, el.y + el.height - 1), fill=0)
        elif isinstance(el, QR):
            m = el.module
            for row, col, length in el.runs:
                x0, y0 = el.x + col * m, el.y + row * m
                draw.rectangle((x0, y0, x0 + length * m - 1, y0 + m - 1), fill=0)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", dpi=(DPI, DPI))
    return buffer.getvalue()


_ZPL_DROP = re.compile(r"[\^~\x00-\x1f\x7f]")


def zpl_text(text: str) -> str:
    """Field data for ZPL: the command prefixes ^ and ~ and control characters removed."""
    return _ZPL_DROP.sub("", text)


def _zpl_hex(data: str) -> str:
    """Field data that must stay exact (the QR payload): ^, ~ and _ as ^FH hex escapes (_5E, _7E, _5F)."""
    out = []
    for c in data:
        out.append("".join(f"_{b:02X}" for b in c.encode()) if c in "^~_" or ord(c) < 0x20 else c)
    return "".join(out)


def _zpl(label: LabelContent, elements: list[Element]) -> bytes:
    out = ["^XA", "^CI28", f"^PW{WIDTH}", f"^LL{HEIGHT}", "^LH0,0"]
    for el in elements:
        if isinstance(el, Text):
            field = f"^FO{el.x},{el.y - round(el.size * 0.2)}^A0N,{el.size},{el.size}"
            if el.align in ("c", "r"):
                field += f"^FB{el.width},1,0,{el.align.upper()}"
            data = zpl_text(el.text)
            if el.align in ("c", "r"):
                data = data.replace("\\", "\\\\")  # in a ^FB block, \& is a line break
            out.append(f"{field}{'^FR' if el.inverse else ''}^FD{data}^FS")
        elif isinstance(el, Box):
            out.append(f"^FO{el.x},{el.y}^GB{el.w},{el.h},{el.thickness}^FS")
        elif isinstance(el, Barcode):
            # ^BC mode A: the printer picks the Code 128 subsets (digits packed in pairs), as reportlab does.
            out.append(f"^FO{el.x},{el.y}^BY{el.module}^BCN,{el.height},N,N,N,A^FD{zpl_text(el.value)}^FS")
        elif isinstance(el, QR):
            data = el.payload
            escape = "^FH_" if any(c in data for c in "^~_") or any(ord(c) < 0x20 for c in data) else ""
            if escape:
                data = _zpl_hex(data)
            out.append(f"^FO{el.x},{el.y}^BQN,2,{el.module}{escape}^FDMA,{data}^FS")
    out.append("^PQ1")
    out.append("^XZ")
    return ("\n".join(out) + "\n").encode("utf-8")


def qr_svg(payload: str) -> str:
    """The drop-off QR code as a standalone SVG (for the portal: shown on the shopper's phone)."""
    import segno

    out = io.BytesIO()
    segno.make(payload, error="m", micro=False).save(
        out, kind="svg", scale=8, border=4, light="#fff", xmldecl=False, svgns=True, title="QR code", nl=False
    )
    return out.getvalue().decode()
