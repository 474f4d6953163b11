"""The sandbox carrier, the carrier factory and the shared money/rate helpers (no network)."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pypdfium2 as pdfium
import pytest
import zxingcpp
from homeward.adapters.carriers._common import Offer, choose_offer, minor_units
from homeward.domain.labels.ports import Carrier, CarrierRejected, CarrierUnavailable
from homeward.domain.labels.render import sandbox_tracking_number, tracking_check_digit_ok
from homeward.models.labels import LabelAddress, LabelRequest, PurchasedLabel
from homeward.providers.carriers import carrier_for
from homeward.providers.easypost.carrier import EasyPostCarrier
from homeward.providers.easypost.carrier import error_message as easypost_error
from homeward.providers.sandbox.carrier import SandboxCarrier, provider_id_for
from homeward.providers.shippo.carrier import ShippoCarrier
from homeward.providers.shippo.carrier import error_message as shippo_error
from PIL import Image

NOW = datetime(2026, 3, 14, 9, 30, tzinfo=UTC)
SHOPPER = LabelAddress(
    name="Ada Lovelace",
    line1="12 Analytical Row",
    city="Portland",
    region="OR",
    postal_code="97201",
    country="US",
)
WAREHOUSE = LabelAddress(
    name="Homeward Returns", line1="500 Dock St", city="Reno", region="NV", postal_code="89502", country="US"
)


def request(reference: str = "label:R-7K3M-9QXA", **overrides) -> LabelRequest:
    values = dict(
        rma=reference.removeprefix("label:"),
        order_id="1001",
        from_address=SHOPPER,
        to_address=WAREHOUSE,
        reference=reference,
    )
    return LabelRequest(**{**values, **overrides})


def sandbox() -> SandboxCarrier:
    return SandboxCarrier(now=lambda: NOW)


# -- sandbox ------------------------------------------------------------------------------------------


def test_sandbox_is_a_carrier():
    carrier: Carrier = sandbox()
    assert carrier.name == "sandbox"


def test_same_reference_same_label_even_across_instances():
    first = sandbox().buy_return_label(request())
    second = sandbox().buy_return_label(request())
    assert first == second
    assert first.provider_id == provider_id_for("label:R-7K3M-9QXA")
    assert first.tracking_number == sandbox_tracking_number("label:R-7K3M-9QXA")
    assert tracking_check_digit_ok(first.tracking_number)
    assert (first.carrier, first.cost, first.currency) == ("sandbox", 795, "USD")
    assert first.carrier_service == "Homeward Sandbox Ground"
    assert first.purchased_at == NOW and first.reference == "label:R-7K3M-9QXA"


def test_buying_twice_is_one_label():
    carrier = sandbox()
    first = carrier.buy_return_label(request())
    again = carrier.buy_return_label(request(service_level="express"))  # same reference: same label
    assert again == first


def test_different_references_different_labels():
    one = sandbox().buy_return_label(request("label:R-AAAA-0001"))
    two = sandbox().buy_return_label(request("label:R-AAAA-0002"))
    assert one.provider_id != two.provider_id
    assert one.tracking_number != two.tracking_number


@pytest.mark.parametrize(
    ("level", "cost"), [("ground", 795), ("priority", 1095), ("express", 1495), ("Express", 1495)]
)
def test_sandbox_rate_table(level, cost):
    assert sandbox().buy_return_label(request(service_level=level)).cost == cost


def test_sandbox_refuses_unknown_service_levels_and_the_undeliverable_postal_code():
    with pytest.raises(CarrierRejected, match="drone"):
        sandbox().buy_return_label(request(service_level="drone"))
    nowhere = SHOPPER.model_copy(update={"postal_code": "00000"})
    with pytest.raises(CarrierRejected, match="could not be found"):
        sandbox().buy_return_label(request(from_address=nowhere))


def test_find_by_reference_returns_the_same_label():
    carrier = sandbox()
    assert carrier.find_by_reference("label:R-7K3M-9QXA") is None
    bought = carrier.buy_return_label(request())
    assert carrier.find_by_reference("label:R-7K3M-9QXA") == bought
    assert carrier.find_by_reference("label:R-OTHER-0001") is None


def test_fetch_label_pdf_reads_back():
    carrier = sandbox()
    label = carrier.buy_return_label(request())
    data = carrier.fetch_label(label, "PDF")
    assert data.startswith(b"%PDF-")
    page = pdfium.PdfDocument(data)[0]
    assert page.get_size() == pytest.approx((4 * 72, 6 * 72))
    found = {r.format.name: r.text for r in zxingcpp.read_barcodes(page.render(scale=203 / 72).to_pil())}
    assert found == {
        "Code128": label.tracking_number,
        "QRCode": f"HOMEWARD-DROPOFF:{label.tracking_number}:R-7K3M-9QXA",
    }
    text = page.get_textpage().get_text_range()
    assert "R-7K3M-9QXA" in text and "HOMEWARD RETURNS" in text and "RENO, NV 89502" in text
    assert carrier.fetch_label(label, "PDF") == data  # deterministic


def test_fetch_label_png_and_zpl():
    carrier = sandbox()
    label = carrier.buy_return_label(request())
    image = Image.open(io.BytesIO(carrier.fetch_label(label, "PNG")))
    assert image.size == (812, 1218)
    assert {r.format.name: r.text for r in zxingcpp.read_barcodes(image)}["Code128"] == label.tracking_number
    zpl = carrier.fetch_label(label, "ZPL").decode()
    assert zpl.startswith("^XA") and zpl.rstrip().endswith("^XZ")


def test_fetch_label_of_a_label_rebuilt_from_storage():
    """The label flow rebuilds PurchasedLabel from the return record (no `content`)."""
    carrier = sandbox()
    bought = carrier.buy_return_label(request())
    rebuilt = PurchasedLabel(**bought.model_dump(exclude={"content"}))
    assert carrier.fetch_label(rebuilt, "PDF").startswith(b"%PDF-")  # this process remembers it
    with pytest.raises(CarrierRejected, match="buy it again"):
        sandbox().fetch_label(rebuilt, "PDF")  # a cold start does not; buying again gives the same label


def test_void():
    carrier = sandbox()
    label = carrier.buy_return_label(request())
    result = carrier.void_label(PurchasedLabel(**label.model_dump(exclude={"content"})))
    assert (result.voided, result.status) == (True, "refunded")
    forged = label.model_copy(update={"provider_id": "sbx_0000"})
    assert carrier.void_label(forged).voided is False


# -- factory -----------------------------------------------------------------------------------------


def test_carrier_for(monkeypatch):
    assert isinstance(carrier_for("sandbox"), SandboxCarrier)
    assert isinstance(carrier_for("EasyPost", api_key="EZTK_x"), EasyPostCarrier)
    assert isinstance(carrier_for("shippo", api_key="shippo_test_x"), ShippoCarrier)
    monkeypatch.delenv("EASYPOST_API_KEY", raising=False)
    with pytest.raises(ValueError, match="EASYPOST_API_KEY"):
        carrier_for("easypost")
    monkeypatch.setenv("SHIPPO_API_KEY", "shippo_test_from_env")
    assert isinstance(carrier_for("shippo"), ShippoCarrier)
    with pytest.raises(ValueError, match="unknown carrier"):
        carrier_for("fedex")


def test_repr_never_shows_the_key():
    for carrier in (
        carrier_for("easypost", api_key="EZTK_secret"),
        carrier_for("shippo", api_key="shippo_secret"),
    ):
        assert "secret" not in repr(carrier) and "secret" not in repr(carrier._api)


# -- money and rates ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "currency", "cents"),
    [
        ("7.95", "USD", 795),
        ("19.99", "USD", 1999),  # int(float("19.99") * 100) == 1998
        ("4.35", "usd", 435),  # int(float("4.35") * 100) == 434
        ("5.5", "USD", 550),
        ("7.47000", "USD", 747),  # EasyPost fee amounts carry five decimals
        ("1.005", "USD", 101),  # a sub-cent remainder rounds half up
        ("0", "USD", 0),
        ("1200", "JPY", 1200),
        ("1.234", "KWD", 1234),
        (19.99, "USD", 1999),  # a JSON number goes through str(), never float arithmetic
    ],
)
def test_minor_units_are_exact(amount, currency, cents):
    assert minor_units(amount, currency) == cents


@pytest.mark.parametrize("amount", ["", "abc", "-1.00", "NaN", "Infinity", None, True])
def test_unusable_amounts(amount):
    with pytest.raises(CarrierUnavailable):
        minor_units(amount, "USD")


def offer(rate_id, carrier, service, amount):
    return Offer(rate_id, carrier, service, f"{carrier} {service}", amount, "USD")


def test_choose_offer_cheapest_of_the_level_with_a_deterministic_tie_break():
    levels = {"ground": ("GroundAdvantage", "Ground")}
    offers = [
        offer("r1", "USPS", "Priority", "3.00"),
        offer("r3", "UPS", "Ground", "7.95"),
        offer("r2", "USPS", "GroundAdvantage", "7.95"),
        offer("r4", "USPS", "Ground Advantage", "8.10"),  # names compared without case and spaces
    ]
    assert choose_offer(offers, "ground", levels, provider="X").rate_id == "r3"  # tie: "UPS" < "USPS"
    assert choose_offer(offers, "priority", levels, provider="X").rate_id == "r1"  # exact service name
    with pytest.raises(CarrierRejected, match="offered: UPS Ground"):
        choose_offer(offers, "express", levels, provider="X")
    with pytest.raises(CarrierUnavailable):
        choose_offer([], "ground", levels, provider="X", transient_hint=True)
    with pytest.raises(CarrierRejected):
        choose_offer([], "ground", levels, provider="X")


def test_provider_error_messages():
    assert (
        easypost_error({"error": {"code": "X", "message": "Bad", "errors": ["one", "two"]}})
        == "Bad (one; two)"
    )
    assert easypost_error({"error": {"code": "ONLY.CODE"}}) == "ONLY.CODE"
    assert easypost_error({"nothing": 1}) is None
    assert shippo_error({"detail": "Invalid token."}) == "Invalid token."
    assert shippo_error({"messages": [{"source": "USPS", "text": "Bad zip"}]}) == "USPS: Bad zip"
    assert shippo_error(["plain"]) == "plain"
