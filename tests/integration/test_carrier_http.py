"""EasyPost and Shippo adapters against local stubs of their documented HTTP APIs.

What is checked: the request shapes each provider documents (auth header, return flag and
address order, reference/metadata, label format token), the mapping of answers (tracking
number, cost in minor units from decimal strings, rate choice), crash recovery through
`find_by_reference`, label files, voids, and how failures map to CarrierRejected (a person
must look) or CarrierUnavailable (retry later).
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from homeward.domain.labels.ports import CarrierRejected, CarrierUnavailable
from homeward.models.labels import LabelAddress, LabelRequest, PurchasedLabel
from homeward.providers.carriers import carrier_for
from homeward.providers.easypost import carrier as easypost
from homeward.providers.easypost.carrier import EasyPostCarrier
from homeward.providers.shippo.carrier import ShippoCarrier

from tests.integration.carrier_stub import PDF_BYTES, ZPL_BYTES, EasyPostStub, ShippoStub, fixture

READ_TIMEOUT = 0.4  # seconds; stalls in the stubs are longer than this

SHOPPER = LabelAddress(
    name="Ada Lovelace",
    line1="12 Analytical Row",
    line2="Apt 3",
    city="Portland",
    region="OR",
    postal_code="97201",
    country="US",
    phone="5035550101",
    email="ada@example.com",
)
WAREHOUSE = LabelAddress(
    name="Homeward Returns",
    line1="500 Dock St",
    city="Reno",
    region="NV",
    postal_code="89502",
    country="US",
)


def label_request(reference: str = "label:R-7K3M-9QXA", **overrides) -> LabelRequest:
    values = dict(
        rma=reference.removeprefix("label:"),
        order_id="1001",
        from_address=SHOPPER,
        to_address=WAREHOUSE,
        reference=reference,
    )
    values.update(overrides)
    return LabelRequest(**values)


# ---------------------------------------------------------------------------------------------
# EasyPost
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def ep_stub():
    stub = EasyPostStub()
    yield stub
    stub.close()


@pytest.fixture
def ep(ep_stub) -> EasyPostCarrier:
    return carrier_for(
        "easypost", api_key=ep_stub.api_key, base_url=ep_stub.api_url, read_timeout=READ_TIMEOUT
    )


def test_easypost_buys_a_return_label_with_the_documented_request(ep, ep_stub):
    label = ep.buy_return_label(label_request())

    create, buy = ep_stub.calls("POST", "/v2/shipments"), ep_stub.calls("POST", r"/v2/shipments/[^/]+/buy")
    assert len(create) == 1 and len(buy) == 1 and ep_stub.state.purchases == 1
    expected_auth = "Basic " + base64.b64encode(f"{ep_stub.api_key}:".encode()).decode()
    assert all(r.headers["authorization"] == expected_auth for r in ep_stub.state.requests)
    shipment = create[0].body["shipment"]
    assert shipment["is_return"] is True
    assert shipment["reference"] == "label:R-7K3M-9QXA"
    assert shipment["options"] == {"label_format": "PDF"}
    # Outbound shape: EasyPost swaps the addresses of a return, so the label goes shopper -> warehouse.
    assert shipment["to_address"]["street1"] == "12 Analytical Row"
    assert shipment["to_address"]["street2"] == "Apt 3"
    assert shipment["from_address"] == {
        "name": "Homeward Returns",
        "street1": "500 Dock St",
        "city": "Reno",
        "state": "NV",
        "zip": "89502",
        "country": "US",
    }
    assert shipment["parcel"] == {"length": "12", "width": "9", "height": "4", "weight": "16"}
    # The cheapest *ground* rate: GroundAdvantage 4.35 (Priority 3.99 is cheaper but not ground).
    assert buy[0].body == {
        "rate": {
            "id": next(r for r in _ep_shipment(ep_stub)["rates"] if r["service"] == "GroundAdvantage")["id"]
        }
    }

    assert label.carrier == "easypost"
    assert label.provider_id == _ep_shipment(ep_stub)["id"]
    assert label.tracking_number == _ep_shipment(ep_stub)["tracking_code"]
    assert label.cost == 435  # Decimal("4.35") * 100; int(float("4.35") * 100) would be 434
    assert label.currency == "USD"
    assert label.carrier_service == "USPS GroundAdvantage"
    assert label.label_format == "PDF"
    assert label.label_url.endswith(".pdf")
    assert label.reference == "label:R-7K3M-9QXA"
    assert label.purchased_at == datetime(2024, 5, 6, 14, 2, 13, tzinfo=UTC)


@pytest.mark.parametrize(
    ("level", "service", "cost"),
    [
        ("ground", "GroundAdvantage", 435),
        ("Ground", "GroundAdvantage", 435),
        ("priority", "Priority", 399),
        ("express", "Express", 4685),
        ("First", "First", 892),  # an exact EasyPost service name is a level of its own
    ],
)
def test_easypost_picks_the_cheapest_rate_of_the_service_level(ep, ep_stub, level, service, cost):
    label = ep.buy_return_label(label_request(service_level=level))
    assert label.carrier_service.endswith(service)
    assert label.cost == cost


def test_easypost_refuses_a_service_level_it_cannot_match_and_buys_nothing(ep, ep_stub):
    with pytest.raises(CarrierRejected) as refused:
        ep.buy_return_label(label_request(service_level="drone"))
    assert "drone" in refused.value.message and "USPS GroundAdvantage" in refused.value.message
    assert ep_stub.state.purchases == 0


@pytest.mark.parametrize(("label_format", "token"), [("PDF", "PDF"), ("PNG", "PNG"), ("ZPL", "ZPL")])
def test_easypost_sends_the_label_format(ep, ep_stub, label_format, token):
    label = ep.buy_return_label(label_request(label_format=label_format))
    assert ep_stub.calls("POST", "/v2/shipments")[0].body["shipment"]["options"]["label_format"] == token
    assert label.label_format == label_format


def test_easypost_purchase_lost_in_a_timeout_is_found_by_reference(ep, ep_stub):
    other = ep.buy_return_label(label_request("label:R-OTHER-0001"))
    ep_stub.fault(method="POST", path=r"/v2/shipments/[^/]+/buy", sleep=READ_TIMEOUT * 3)

    with pytest.raises(CarrierUnavailable):
        ep.buy_return_label(label_request())  # EasyPost bought it, but the answer never arrived
    ep_stub.wait_idle()
    assert ep_stub.state.purchases == 2

    found = ep.find_by_reference("label:R-7K3M-9QXA")
    assert found is not None
    bought = _ep_shipment(ep_stub)
    assert found.provider_id == bought["id"]
    assert found.tracking_number == bought["tracking_code"]
    assert found.cost == 435 and found.label_format == "PDF" and found.reference == "label:R-7K3M-9QXA"
    assert ep.find_by_reference("label:R-OTHER-0001").tracking_number == other.tracking_number
    assert ep.find_by_reference("label:R-NEVER-BOUGHT") is None
    assert ep_stub.state.purchases == 2  # finding never buys
    listing = ep_stub.calls("GET", "/v2/shipments")[0]
    assert listing.query["purchased"] == "true" and listing.query["page_size"] == "100"


def test_easypost_lookup_pages_with_before_id_and_ignores_unbought_and_refunded(ep, ep_stub, monkeypatch):
    monkeypatch.setattr(easypost, "PAGE_SIZE", 2)
    target = ep.buy_return_label(label_request("label:R-TARGET-001"))
    for n in range(4):
        ep.buy_return_label(label_request(f"label:R-NEWER-{n:03d}"))
    # A later attempt with the same reference that created a shipment but never bought it:
    ep_stub.fault(method="POST", path=r"/v2/shipments/[^/]+/buy", status=503, body={})
    with pytest.raises(CarrierUnavailable):
        ep.buy_return_label(label_request("label:R-TARGET-001"))

    found = ep.find_by_reference("label:R-TARGET-001")
    assert found is not None and found.provider_id == target.provider_id
    pages = ep_stub.calls("GET", "/v2/shipments")
    assert [p.query.get("before_id") for p in pages][0] is None
    assert len(pages) == 3 and all(p.query.get("before_id") for p in pages[1:])

    ep.void_label(target)
    assert ep.find_by_reference("label:R-TARGET-001") is None  # a refunded label is not a purchase to keep


def test_easypost_lookup_reads_a_bounded_number_of_pages(ep_stub, monkeypatch):
    monkeypatch.setattr(easypost, "PAGE_SIZE", 1)
    carrier = carrier_for("easypost", api_key=ep_stub.api_key, base_url=ep_stub.api_url, lookup_pages=2)
    carrier.buy_return_label(label_request("label:R-OLDEST-01"))
    for n in range(3):
        carrier.buy_return_label(label_request(f"label:R-NEWER-{n:03d}"))
    assert carrier.find_by_reference("label:R-OLDEST-01") is None
    assert len(ep_stub.calls("GET", "/v2/shipments")) == 2


def test_easypost_address_rejection_is_a_refusal_with_easyposts_words(ep, ep_stub):
    ep_stub.fault(
        method="POST", path="/v2/shipments", status=422, body=fixture("easypost", "error_address_verify.json")
    )
    with pytest.raises(CarrierRejected) as refused:
        ep.buy_return_label(label_request())
    assert refused.value.message == "Address not found (street1: House number is missing)"
    assert refused.value.details["code"] == "ADDRESS.VERIFY.FAILURE"
    assert refused.value.details["status"] == 422
    assert ep_stub.state.purchases == 0


def test_easypost_bad_credentials_are_a_refusal_that_never_shows_the_key(ep_stub):
    carrier = carrier_for("easypost", api_key="EZTK_wrong_secret_key", base_url=ep_stub.api_url)
    with pytest.raises(CarrierRejected) as refused:
        carrier.buy_return_label(label_request())
    assert "credentials" in refused.value.message
    assert refused.value.details["reason"] == "credentials" and refused.value.details["status"] == 401
    for text in (refused.value.message, json.dumps(refused.value.details), repr(carrier), str(refused.value)):
        assert "EZTK_wrong_secret_key" not in text


@pytest.mark.parametrize("status", [500, 502, 503, 429])
def test_easypost_server_errors_and_throttling_are_transient(ep, ep_stub, status):
    ep_stub.fault(
        method="POST", path="/v2/shipments", status=status, body={"error": {"code": "X", "message": "x"}}
    )
    with pytest.raises(CarrierUnavailable) as unavailable:
        ep.buy_return_label(label_request())
    assert unavailable.value.details["status"] == status


def test_easypost_timeout_and_refused_connection_are_transient(ep, ep_stub):
    ep_stub.fault(method="POST", path="/v2/shipments", sleep=READ_TIMEOUT * 3, status=201, body={})
    with pytest.raises(CarrierUnavailable, match="timed out"):
        ep.buy_return_label(label_request())

    dead = carrier_for("easypost", api_key="k", base_url="http://127.0.0.1:9/v2", connect_timeout=0.5)
    with pytest.raises(CarrierUnavailable, match="did not answer"):
        dead.find_by_reference("label:R-7K3M-9QXA")


def test_easypost_fetches_label_files_without_sending_the_key(ep, ep_stub):
    label = ep.buy_return_label(label_request())

    assert ep.fetch_label(label, "PDF") == PDF_BYTES
    assert ep.fetch_label(label, "ZPL") == ZPL_BYTES  # converted: GET /label?file_format=ZPL
    conversions = ep_stub.calls("GET", r"/v2/shipments/[^/]+/label")
    assert [c.query for c in conversions] == [{"file_format": "ZPL"}]
    downloads = ep_stub.calls("GET", r"/files/.*")
    assert len(downloads) == 2 and all("authorization" not in d.headers for d in downloads)
    with pytest.raises(CarrierRejected):
        ep.fetch_label(label, "PNG")  # EasyPost converts to PDF/ZPL/EPL2, not to PNG


def test_easypost_missing_label_file_is_a_refusal(ep, ep_stub):
    label = ep.buy_return_label(label_request())
    ep_stub.fault(method="GET", path=r"/files/.*", status=404, body={})
    with pytest.raises(CarrierRejected):
        ep.fetch_label(label, "PDF")
    ep_stub.fault(method="GET", path=r"/files/.*", status=503, body={})
    with pytest.raises(CarrierUnavailable):
        ep.fetch_label(label, "PDF")


def test_easypost_void_and_a_repeated_void(ep, ep_stub):
    label = ep.buy_return_label(label_request())
    result = ep.void_label(label)
    assert (result.voided, result.status) == (True, "submitted")
    assert len(ep_stub.calls("POST", r"/v2/shipments/[^/]+/refund")) == 1

    # A retried void that EasyPost refuses: the shipment shows the refund under way.
    ep_stub.fault(
        method="POST",
        path=r"/v2/shipments/[^/]+/refund",
        status=422,
        body=fixture("easypost", "error_refund_requested.json"),
    )
    again = ep.void_label(label)
    assert (again.voided, again.status) == (True, "submitted")


def test_easypost_refused_void_of_an_unknown_label(ep, ep_stub):
    unknown = _purchased("easypost", "shp_unknown")
    ep_stub.fault(
        method="GET",
        path=r"/v2/shipments/shp_unknown",
        status=404,
        body={"error": {"code": "NOT_FOUND", "message": "Not found"}},
    )
    with pytest.raises(CarrierRejected):
        ep.void_label(unknown)


def _ep_shipment(stub: EasyPostStub, reference: str = "label:R-7K3M-9QXA") -> dict:
    return next(s for s in reversed(stub.shipments.values()) if s["reference"] == reference)


# ---------------------------------------------------------------------------------------------
# Shippo
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def sh_stub():
    stub = ShippoStub()
    yield stub
    stub.close()


@pytest.fixture
def sh(sh_stub) -> ShippoCarrier:
    return ShippoCarrier(
        sh_stub.api_key,
        base_url=sh_stub.api_url,
        http=_http(read_timeout=READ_TIMEOUT),
        poll_interval_seconds=0,
    )


def test_shippo_buys_a_return_label_with_the_documented_request(sh, sh_stub):
    label = sh.buy_return_label(label_request())

    assert all(r.headers["authorization"] == f"ShippoToken {sh_stub.api_key}" for r in sh_stub.state.requests)
    assert all(r.headers["shippo-api-version"] == "2018-02-08" for r in sh_stub.state.requests)
    shipment = sh_stub.calls("POST", "/shipments")[0].body
    # Outbound shape: Shippo swaps a return's addresses, so the label goes shopper -> warehouse.
    assert shipment["address_from"]["street1"] == "500 Dock St"
    assert shipment["address_to"] == {
        "name": "Ada Lovelace",
        "street1": "12 Analytical Row",
        "street2": "Apt 3",
        "city": "Portland",
        "state": "OR",
        "zip": "97201",
        "country": "US",
        "phone": "5035550101",
        "email": "ada@example.com",
    }
    assert shipment["extra"] == {"is_return": True, "reference_1": "R-7K3M-9QXA", "qr_code_requested": True}
    assert shipment["metadata"] == "label:R-7K3M-9QXA"
    assert shipment["async"] is False
    assert shipment["parcels"] == [
        {
            "length": "12",
            "width": "9",
            "height": "4",
            "distance_unit": "in",
            "weight": "16",
            "mass_unit": "oz",
        }
    ]
    transaction = sh_stub.calls("POST", "/transactions")[0].body
    ground = next(r for r in sh_stub.rates.values() if r["servicelevel"]["token"] == "usps_ground_advantage")
    assert transaction == {
        "rate": ground["object_id"],  # cheapest ground (5.5), not the cheaper Priority (3.2)
        "label_file_type": "PDF_4x6",
        "metadata": "label:R-7K3M-9QXA",
        "async": False,
    }

    stored = next(iter(sh_stub.transactions.values()))
    assert sh_stub.state.purchases == 1
    assert label.carrier == "shippo"
    assert label.provider_id == stored["object_id"]
    assert label.tracking_number == stored["tracking_number"]
    assert label.cost == 550  # "5.5"
    assert label.currency == "USD"
    assert label.carrier_service == "USPS Ground Advantage"
    assert label.label_format == "PDF"
    assert label.qr_code_url == stored["qr_code_url"]
    assert label.label_url == stored["label_url"]
    assert label.purchased_at == datetime(2024, 5, 6, 14, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("label_format", "token"), [("PDF", "PDF_4x6"), ("PNG", "PNG"), ("ZPL", "ZPLII")])
def test_shippo_label_file_type_tokens(sh, sh_stub, label_format, token):
    label = sh.buy_return_label(label_request(label_format=label_format, qr_code=False))
    assert sh_stub.calls("POST", "/transactions")[0].body["label_file_type"] == token
    assert "qr_code_requested" not in sh_stub.calls("POST", "/shipments")[0].body["extra"]
    assert label.label_format == label_format and label.qr_code_url is None


@pytest.mark.parametrize(
    ("level", "token", "cost"),
    [
        ("ground", "usps_ground_advantage", 550),
        ("priority", "usps_priority", 320),
        ("express", "usps_priority_express", 2890),
        ("ups_ground", "ups_ground", 921),
    ],
)
def test_shippo_picks_the_cheapest_rate_of_the_service_level(sh, sh_stub, level, token, cost):
    label = sh.buy_return_label(label_request(service_level=level))
    bought = sh_stub.rates[sh_stub.calls("POST", "/transactions")[0].body["rate"]]
    assert bought["servicelevel"]["token"] == token and label.cost == cost


def test_shippo_address_failure_is_a_refusal_with_the_carriers_message(sh, sh_stub):
    sh_stub.outcome = "transaction_error_address.json"
    with pytest.raises(CarrierRejected) as refused:
        sh.buy_return_label(label_request())
    assert refused.value.message.startswith("USPS: The address as submitted could not be found.")
    assert sh_stub.state.purchases == 0


def test_shippo_carrier_timeout_message_is_transient(sh, sh_stub):
    sh_stub.outcome = "transaction_error_timeout.json"
    with pytest.raises(CarrierUnavailable, match="UPS API did not respond"):
        sh.buy_return_label(label_request())


def test_shippo_waits_for_a_queued_purchase(sh, sh_stub):
    sh_stub.outcome, sh_stub.settle_after = "QUEUED", 2
    label = sh.buy_return_label(label_request())
    assert label.tracking_number and sh_stub.state.purchases == 1
    assert len(sh_stub.calls("GET", r"/transactions/[^/]+")) == 2


def test_shippo_purchase_still_queued_blocks_a_second_purchase(sh, sh_stub):
    sh_stub.outcome, sh_stub.settle_after = "QUEUED", 10
    with pytest.raises(CarrierUnavailable, match="still processing"):
        sh.buy_return_label(label_request())
    with pytest.raises(CarrierUnavailable, match="still processing"):
        sh.find_by_reference("label:R-7K3M-9QXA")  # the flow must not buy again yet
    transaction = next(iter(sh_stub.transactions.values()))
    transaction["status"] = "SUCCESS"
    found = sh.find_by_reference("label:R-7K3M-9QXA")
    assert found is not None and found.provider_id == transaction["object_id"]
    assert sh_stub.state.purchases == 1


def test_shippo_purchase_lost_in_a_timeout_is_found_by_reference(sh, sh_stub, monkeypatch):
    from homeward.providers.shippo import carrier as shippo

    monkeypatch.setattr(shippo, "PAGE_SIZE", 2)
    sh.buy_return_label(label_request("label:R-OLDER-0001"))
    sh_stub.fault(method="POST", path="/transactions", sleep=READ_TIMEOUT * 3)
    with pytest.raises(CarrierUnavailable):
        sh.buy_return_label(label_request())
    sh_stub.wait_idle()
    for n in range(3):
        sh.buy_return_label(label_request(f"label:R-NEWER-{n:03d}"))
    assert sh_stub.state.purchases == 5

    found = sh.find_by_reference("label:R-7K3M-9QXA")
    stored = next(t for t in sh_stub.transactions.values() if t["metadata"] == "label:R-7K3M-9QXA")
    assert found is not None
    assert (found.provider_id, found.tracking_number) == (stored["object_id"], stored["tracking_number"])
    assert found.cost == 550 and found.carrier_service == "USPS Ground Advantage"  # via GET /rates/{id}
    assert found.label_format == "PDF" and found.reference == "label:R-7K3M-9QXA"
    assert [c.query["page"] for c in sh_stub.calls("GET", "/transactions")] == ["1", "2"]
    assert sh.find_by_reference("label:R-NEVER-BOUGHT") is None
    assert sh_stub.state.purchases == 5


def test_shippo_failed_and_refunded_transactions_are_not_found(sh, sh_stub):
    sh_stub.outcome = "transaction_error_address.json"
    with pytest.raises(CarrierRejected):
        sh.buy_return_label(label_request())
    assert sh.find_by_reference("label:R-7K3M-9QXA") is None
    sh_stub.outcome = "SUCCESS"
    label = sh.buy_return_label(label_request())
    assert sh.find_by_reference("label:R-7K3M-9QXA").provider_id == label.provider_id
    sh.void_label(label)
    assert sh.find_by_reference("label:R-7K3M-9QXA") is None


def test_shippo_fetches_the_label_in_the_format_it_was_bought(sh, sh_stub):
    label = sh.buy_return_label(label_request())
    assert sh.fetch_label(label, "PDF") == PDF_BYTES
    assert len(sh_stub.calls("GET", r"/transactions/[^/]+")) == 1  # a fresh signed URL
    downloads = sh_stub.calls("GET", r"/files/.*")
    assert len(downloads) == 1 and "authorization" not in downloads[0].headers
    with pytest.raises(CarrierRejected, match="only as PDF"):
        sh.fetch_label(label, "ZPL")


def test_shippo_void_and_a_repeated_void(sh, sh_stub):
    label = sh.buy_return_label(label_request())
    first = sh.void_label(label)
    assert (first.voided, first.status) == (True, "submitted")
    assert sh_stub.calls("POST", "/refunds")[0].body == {"transaction": label.provider_id, "async": False}
    again = sh.void_label(label)  # Shippo refuses a second refund; the transaction shows it pending
    assert (again.voided, again.status) == (True, "submitted")


def test_shippo_errors(sh, sh_stub):
    bad_key = ShippoCarrier("shippo_wrong_token", base_url=sh_stub.api_url, poll_interval_seconds=0)
    with pytest.raises(CarrierRejected) as refused:
        bad_key.buy_return_label(label_request())
    assert refused.value.details["reason"] == "credentials"
    assert "shippo_wrong_token" not in refused.value.message + repr(bad_key) + json.dumps(
        refused.value.details
    )

    sh_stub.fault(
        method="POST", path="/shipments", status=400, body=fixture("shippo", "error_bad_request.json")
    )
    with pytest.raises(CarrierRejected) as bad:
        sh.buy_return_label(label_request())
    assert (
        bad.value.message == "address_to: zip: This field is required.; parcels: This field may not be empty."
    )

    sh_stub.fault(method="POST", path="/transactions", status=500, body={"detail": "Server Error"})
    with pytest.raises(CarrierUnavailable):
        sh.buy_return_label(label_request())
    sh_stub.fault(method="POST", path="/shipments", sleep=READ_TIMEOUT * 3, status=201, body={})
    with pytest.raises(CarrierUnavailable, match="timed out"):
        sh.buy_return_label(label_request())
    sh_stub.fault(method="POST", path="/shipments", status=429, body={"detail": "Request was throttled."})
    with pytest.raises(CarrierUnavailable):
        sh.buy_return_label(label_request())
    assert sh_stub.state.purchases == 0


# ---------------------------------------------------------------------------------------------


def _http(**kwargs):
    from homeward.adapters.carriers._http import HttpSettings

    return HttpSettings(**kwargs)


def _purchased(carrier: str, provider_id: str) -> PurchasedLabel:
    return PurchasedLabel(
        carrier=carrier,
        provider_id=provider_id,
        tracking_number="9400100000000000000000",
        carrier_service="USPS GroundAdvantage",
        cost=435,
        currency="USD",
        label_format="PDF",
        reference="label:R-UNKNOWN",
        purchased_at=datetime.now(UTC),
    )


def test_provider_ids_stay_one_path_segment(ep, ep_stub, sh, sh_stub):
    with pytest.raises(CarrierRejected):
        ep.void_label(_purchased("easypost", "../shipments?purchased=true"))
    assert ep_stub.state.requests[0].path == "/v2/shipments/..%2Fshipments%3Fpurchased%3Dtrue/refund"
    with pytest.raises(CarrierRejected):
        sh.fetch_label(_purchased("shippo", "x/../../refunds"), "PDF")
    assert sh_stub.state.requests[0].path == "/transactions/x%2F..%2F..%2Frefunds"
