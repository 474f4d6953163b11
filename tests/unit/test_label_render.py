"""Return labels drawn as PDF, PNG and ZPL, read back: barcodes decoded, text extracted, ZPL parsed."""

from __future__ import annotations

import io
import re
from datetime import date

import pypdfium2 as pdfium
import pytest
import zxingcpp
from homeward.domain.labels import render as label_render
from homeward.domain.labels.render import (
    HEIGHT,
    WIDTH,
    Text,
    printable,
    render_label,
    sandbox_tracking_number,
    text_width,
    tracking_check_digit_ok,
    weight_text,
)
from homeward.models.labels import LabelAddress, LabelContent
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

SHOPPER = LabelAddress(
    name="Zoë Müller-Łukasiewicz",
    line1="Straße des 17. Juni 135, Hinterhaus, 3. Obergeschoss links, bei Nowak-Wąsowska",
    line2="c/o Ірина Шевченко",
    city="Berlin",
    postal_code="10623",
    country="DE",
    phone="+49 30 1234567",
)
WAREHOUSE = LabelAddress(
    name="Homeward Returns Center",
    line1="1200 Industrial Parkway, Building C, Loading Dock 14 (rear entrance off Route 3)",
    line2="Suite 410",
    city="Columbus",
    region="OH",
    postal_code="43219",
    country="US",
)
PAYLOAD = "https://returns.example.com/drop-off/R-7K3M-9QXA?code=5W2Q-ZP9D"


def make_label(**changes) -> LabelContent:
    fields = dict(
        sender=SHOPPER,
        recipient=WAREHOUSE,
        rma="R-7K3M-9QXA",
        tracking_number=sandbox_tracking_number("label:R-7K3M-9QXA"),
        carrier_service="Homeward Sandbox Ground",
        carrier_display_name="Homeward Sandbox",
        qr_payload=PAYLOAD,
        weight_oz=35.2,
        created=date(2026, 3, 14),
        reason_summary="Too small (2 items); one arrived damaged - the box was crushed in transit",
    )
    return LabelContent(**{**fields, **changes})


def decode(image: Image.Image) -> dict[str, str]:
    found = {r.format.name: r.text for r in zxingcpp.read_barcodes(image)}
    return found


def pdf_page(data: bytes):
    return pdfium.PdfDocument(data)[0]


def squash(text: str) -> str:
    return "".join(text.split())


# -- PDF ----------------------------------------------------------------------------------------------


def test_pdf_is_a_4x6_page_whose_barcodes_and_text_read_back():
    label = make_label()
    data = render_label(label, "PDF")
    assert data.startswith(b"%PDF-")

    page = pdf_page(data)
    assert page.get_size() == pytest.approx((4 * 72, 6 * 72))
    image = page.render(scale=203 / 72).to_pil()
    assert image.size == (WIDTH, HEIGHT)
    assert decode(image) == {"Code128": label.tracking_number, "QRCode": PAYLOAD}

    text = page.get_textpage().get_text_range()
    assert "R-7K3M-9QXA" in text
    assert label.tracking_number in squash(text)  # printed in groups: HW 1234 5678 ...
    assert "HOMEWARD RETURNS CENTER" in text
    assert "COLUMBUS, OH 43219" in text
    assert "ZOË MÜLLER-ŁUKASIEWICZ" in text  # Latin letters with diacritics are kept
    assert "c/o Irina Shevchenko" in text  # Cyrillic is transliterated
    assert "HOMEWARD SANDBOX GROUND" in text
    assert "2026-03-14" in text and "2 LB 3.2 OZ" in text
    assert "Too small (2 items)" in text


def test_pdf_is_deterministic():
    assert render_label(make_label(), "PDF") == render_label(make_label(), "PDF")


# -- PNG ----------------------------------------------------------------------------------------------


def test_png_is_812_by_1218_at_203_dpi_and_both_codes_decode():
    label = make_label()
    image = Image.open(io.BytesIO(render_label(label, "PNG")))
    assert image.format == "PNG"
    assert image.size == (812, 1218)
    assert image.mode == "1"
    assert image.info["dpi"] == pytest.approx((203, 203), abs=0.1)
    assert decode(image) == {"Code128": label.tracking_number, "QRCode": PAYLOAD}


@pytest.mark.parametrize(
    "tracking_number",
    [
        "1Z999AA10123456784",  # UPS
        "9400111899223344556677",  # USPS, 22 digits
        "9202090153540100059898" + "0000000000",  # long all-digit (narrower bars)
        "794698765432",  # FedEx
    ],
)
def test_other_carriers_tracking_numbers_fit_and_decode(tracking_number):
    label = make_label(tracking_number=tracking_number)
    image = Image.open(io.BytesIO(render_label(label, "PNG")))
    assert decode(image)["Code128"] == tracking_number


def test_tracking_number_too_long_for_the_width_is_refused():
    with pytest.raises(ValueError, match="too long"):
        render_label(make_label(tracking_number="ABCDEFGHIJKLMNOPQRSTUVWXYZABCDEFGH"), "PNG")


def test_long_qr_payload_still_decodes():
    payload = "https://returns.example.com/drop-off?" + "&".join(f"k{i}=v{i}" for i in range(30))
    label = make_label(qr_payload=payload[:300])
    assert decode(Image.open(io.BytesIO(render_label(label, "PNG"))))["QRCode"] == payload[:300]


# -- ZPL ----------------------------------------------------------------------------------------------

FIELD = re.compile(r"\^FO(\d+),(\d+)((?:(?!\^FD).)*)\^FD(.*?)\^FS", re.S)


def zpl_fields(zpl: str) -> list[dict]:
    """Every ^FO ... ^FD data ^FS field: position, the commands before ^FD and the data."""
    fields = []
    for x, y, commands, data in FIELD.findall(zpl):
        if "^FH" in commands:  # ^FH_: _XX is a hex-escaped byte
            data = re.sub(rb"_([0-9A-Fa-f]{2})", lambda m: bytes([int(m[1], 16)]), data.encode()).decode()
        fields.append({"x": int(x), "y": int(y), "commands": commands, "data": data})
    return fields


def barcode_data(fields: list[dict], command: str) -> list[str]:
    return [f["data"] for f in fields if command in f["commands"]]


def qr_data(fields: list[dict]) -> list[str]:
    # ^BQ data starts with the error correction level and input mode: "MA," (or "QA,", "MM,A" ...).
    return [re.sub(r"^[HQML][AM],(?:[NAB]\d*)?", "", d) for d in barcode_data(fields, "^BQ")]


def test_zpl_has_page_setup_barcode_qr_and_address_fields():
    label = make_label()
    zpl = render_label(label, "ZPL").decode("utf-8")
    assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ")
    for command in ("^CI28", "^PW812", "^LL1218"):
        assert command in zpl
    fields = zpl_fields(zpl)
    assert barcode_data(fields, "^BC") == [label.tracking_number]
    assert qr_data(fields) == [PAYLOAD]
    texts = [f["data"] for f in fields if "^A0" in f["commands"]]
    for expected in (
        "R-7K3M-9QXA",
        "HOMEWARD RETURNS CENTER",
        "SUITE 410",
        "COLUMBUS, OH 43219",
        "ZOË MÜLLER-ŁUKASIEWICZ",
        "10623 BERLIN",
        "HOMEWARD SANDBOX GROUND",
    ):
        assert expected in texts
    assert any(t.startswith("1200 INDUSTRIAL PARKWAY") for t in texts)
    assert label.tracking_number in {squash(t) for t in texts}
    for f in fields:
        assert 0 <= f["x"] < WIDTH and 0 <= f["y"] < HEIGHT


def test_zpl_field_data_cannot_inject_commands():
    evil = LabelAddress(
        name="Mallory ^XZ^XA~JA",
        line1="1 Main St ^FS^FO0,0",
        city="Springfield",
        postal_code="12345",
        country="US",
    )
    payload = "https://ex.example/t?a=^XZ&b=~JA&c=snake_case"
    zpl = render_label(make_label(sender=evil, qr_payload=payload, rma="R-^1~2"), "ZPL").decode()
    fields = zpl_fields(zpl)
    assert zpl.count("^XA") == 1 and zpl.count("^XZ") == 1 and "~" not in zpl
    assert "MALLORY XZXAJA" in [f["data"] for f in fields]
    assert "R-12" in [f["data"] for f in fields]
    assert qr_data(fields) == [payload]  # kept exact through ^FH hex escapes


# -- text and layout ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Zoë Łukasz Ærø", "Zoë Łukasz Ærø"),
        ("Wąsowska Dvořák Őry", "Wasowska Dvorák Ory"),
        ("Ірина Шевченко", "Irina Shevchenko"),
        ("李小龍", "Li Xiao Long"),
        ("tab\tand\nnew line  spaces", "tab and new line spaces"),
    ],
)
def test_printable_keeps_latin_and_transliterates_other_scripts(raw, shown):
    assert printable(raw) == shown


def test_long_text_is_wrapped_or_cut_inside_the_label():
    long = "Abcdefghij " * 20
    label = make_label(
        sender=SHOPPER.model_copy(update={"name": long, "line1": long, "line2": long}),
        recipient=WAREHOUSE.model_copy(update={"name": long, "line1": long, "line2": long, "city": long}),
        rma="R-" + "X" * 60,
        carrier_service=long,
        carrier_display_name=long,
        reason_summary=long,
    )
    texts = [el for el in label_render._layout(label) if isinstance(el, Text)]
    for el in texts:
        width = text_width(el.text, el.size, el.bold)
        left = el.x + (el.width - width) / 2 if el.align == "c" else el.x
        right = el.x + el.width if el.align == "r" else left + width
        assert left > 10 and right < WIDTH - 10, el
        assert el.y > 10 and el.y + el.size < HEIGHT - 10, el
    assert any(el.text.endswith("...") for el in texts)
    for fmt in ("PDF", "PNG", "ZPL"):
        assert render_label(label, fmt)
    assert decode(Image.open(io.BytesIO(render_label(label, "PNG"))))["Code128"] == label.tracking_number


def test_text_elements_do_not_overlap():
    for label in (make_label(), make_label(sender=WAREHOUSE, recipient=SHOPPER, reason_summary=None)):
        boxes = []
        for el in label_render._layout(label):
            if isinstance(el, Text):
                width = text_width(el.text, el.size, el.bold)
                x0 = {"l": el.x, "c": el.x + (el.width - width) / 2, "r": el.x + el.width - width}[el.align]
                boxes.append((x0, el.y, x0 + width, el.y + el.size * 0.73, el.text))
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                apart = a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]
                assert apart, (a[4], b[4])


@pytest.mark.parametrize(
    ("oz", "text"),
    [(35.2, "2 LB 3.2 OZ"), (16, "1 LB 0 OZ"), (8, "8 OZ"), (15.96, "1 LB 0 OZ"), (0.4, "0.4 OZ")],
)
def test_weight_in_pounds_and_ounces(oz, text):
    assert weight_text(oz) == text


def test_unknown_format_is_refused():
    with pytest.raises(ValueError, match="unknown label format"):
        render_label(make_label(), "GIF")  # type: ignore[arg-type]


# -- sandbox tracking numbers -------------------------------------------------------------------------


def test_tracking_number_shape():
    number = sandbox_tracking_number("label:R-7K3M-9QXA")
    assert re.fullmatch(r"HW\d{17}", number)
    assert number == sandbox_tracking_number("label:R-7K3M-9QXA")  # the same seed, the same number
    assert tracking_check_digit_ok(number)
    assert tracking_check_digit_ok(label_render.group_tracking(number).lower())  # spaces and case ignored
    for bad in ("", "HW", number[:-1], number + "0", "XX" + number[2:], "1Z999AA10123456784"):
        assert not tracking_check_digit_ok(bad)


@given(seed=st.text())
def test_any_seed_gives_a_valid_check_digit(seed):
    number = sandbox_tracking_number(seed)
    assert re.fullmatch(r"HW\d{17}", number)
    assert tracking_check_digit_ok(number)


@given(seed=st.text(), position=st.integers(2, 18), delta=st.integers(1, 9))
def test_a_single_changed_digit_is_detected(seed, position, delta):
    number = sandbox_tracking_number(seed)
    changed = number[:position] + str((int(number[position]) + delta) % 10) + number[position + 1 :]
    assert changed != number
    assert not tracking_check_digit_ok(changed)


@settings(max_examples=50)
@given(seeds=st.lists(st.text(), min_size=2, max_size=200, unique=True))
def test_distinct_seeds_give_distinct_numbers(seeds):
    assert len({sandbox_tracking_number(s) for s in seeds}) == len(seeds)


def test_distinct_numbers_over_a_large_sample():
    numbers = {sandbox_tracking_number(f"label:R-{i:06d}") for i in range(20_000)}
    assert len(numbers) == 20_000


# -- the bench section (infra/bench/sections/label_render.py) ------------------------------------------


def test_bench_child_and_report():
    from infra.bench import label_child
    from infra.bench.sections import label_render as section

    warm = label_child.warm(1)
    assert set(warm["runs"]) == {"PDF", "PNG", "ZPL"} and all(len(r) == 1 for r in warm["runs"].values())
    summary = {"n": 1, "median": 1.0, "p99": 2.0, "min": 1.0, "max": 2.0}
    cold = {k: summary for k in section.COLD_KEYS} | {"max_rss_mib": 50.0}
    data = {
        "renders": 100,
        "warm": {fmt: summary for fmt in section.FORMATS},
        "bytes": warm["bytes"],
        "cold": {"pyc": cold, "no_pyc": cold},
        "goal_pdf_median_ms": 50,
        "goal_met": True,
    }
    report = section.render(data)
    assert "PDF" in report and "goal: PDF median <= 50 ms: 1.0 ms, met" in report
