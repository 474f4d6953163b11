"""Label purchase on moto with a counting carrier: exactly once, whatever fails when."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from homeward.adapters.aws import client
from homeward.adapters.dynamodb.returns import LabelClaims
from homeward.adapters.policy import bundled_policy
from homeward.adapters.storage import LabelFiles
from homeward.domain.labels import service as labels
from homeward.domain.labels.ports import CarrierRejected, CarrierUnavailable
from homeward.errors import DependencyFailed
from homeward.models.labels import PurchasedLabel, VoidResult

from tests.conftest import TABLE, TEST_ENV
from tests.integration.test_orders_slice import put_order, sign_in
from tests.integration.test_returns_flow import ops, recent_order, serializable_dynamodb, start  # noqa: F401

POLICY = bundled_policy()


class CountingCarrier:
    """A carrier that remembers what it sold by reference, like EasyPost/Shippo do."""

    name = "counting"

    def __init__(self):
        self.sold: dict[str, PurchasedLabel] = {}
        self.purchases = 0
        self.voided: list[str] = []
        self.reject_with: str | None = None
        self.down = False

    def buy_return_label(self, request):
        if self.down:
            raise CarrierUnavailable("503 from carrier")
        if self.reject_with:
            raise CarrierRejected(self.reject_with)
        self.purchases += 1
        label = PurchasedLabel(
            carrier="sandbox",
            provider_id=f"shp_{self.purchases}",
            tracking_number=f"9400100000000000{self.purchases:06d}",
            carrier_service="USPS GroundAdvantage",
            cost=795,
            currency="USD",
            label_format="PDF",
            reference=request.reference,
            purchased_at=datetime.now(UTC),
        )
        self.sold[request.reference] = label
        return label

    def find_by_reference(self, reference):
        return self.sold.get(reference)

    def fetch_label(self, label, label_format):
        if label_format == "ZPL":
            raise CarrierRejected("format not offered")
        return f"%{label_format} {label.tracking_number}".encode()

    def void_label(self, label):
        self.voided.append(label.tracking_number)
        return VoidResult(voided=True, status="submitted")


@pytest.fixture
def approved(aws):
    assert put_order(recent_order()).status == 201
    token = sign_in().body["token"]
    created = start(token)
    assert created.body["status"] == "approved"
    return created.body["rma"], token


@pytest.fixture
def store():
    return LabelClaims(client("dynamodb"), TABLE)


def issue(rma, store, carrier, now=None):
    return labels.issue_label(
        rma,
        store=store,
        carrier=carrier,
        files=LabelFiles(TEST_ENV["LABELS_BUCKET"]),
        policy=POLICY,
        now=now or datetime.now(UTC),
    )


def label_item(rma):
    return (
        boto3.client("dynamodb")
        .get_item(TableName=TABLE, Key={"pk": {"S": f"RETURN#{rma}"}, "sk": {"S": "LABEL"}})
        .get("Item")
    )


def test_issue_stores_files_and_moves_the_return(approved, store):
    rma, _ = approved
    carrier = CountingCarrier()
    assert issue(rma, store, carrier) == "issued"
    record, timeline = store.get_return(rma, with_timeline=True)
    assert record.status == "label_issued"
    assert record.label.tracking_number == "9400100000000000000001"
    assert sorted(record.label.files) == ["PDF", "PNG"]  # ZPL not offered by this carrier
    body = boto3.client("s3").get_object(Bucket=TEST_ENV["LABELS_BUCKET"], Key=record.label.files["PDF"])[
        "Body"
    ]
    assert body.read() == b"%PDF 9400100000000000000001"
    assert timeline[-1].type == "return.label_issued"
    assert timeline[-1].data["tracking_number"] == record.label.tracking_number
    assert label_item(rma)["state"]["S"] == "purchased"
    assert record.label.expires_at - record.label.purchased_at < timedelta(days=29)


def test_a_duplicate_event_buys_nothing(approved, store):
    rma, _ = approved
    carrier = CountingCarrier()
    issue(rma, store, carrier)
    assert issue(rma, store, carrier) == "nothing_to_do"
    assert carrier.purchases == 1


def test_crash_after_the_carrier_sold_the_label_recovers_without_a_second_purchase(
    approved, store, monkeypatch
):
    rma, _ = approved
    carrier = CountingCarrier()
    real = store.record_label

    def crash(*args, **kwargs):
        raise RuntimeError("Lambda timed out after the purchase")

    monkeypatch.setattr(store, "record_label", crash)
    now = datetime.now(UTC)
    with pytest.raises(RuntimeError):
        issue(rma, store, carrier, now)
    monkeypatch.setattr(store, "record_label", real)
    # The retry arrives while the crashed attempt's lease still holds: back off.
    with pytest.raises(DependencyFailed):
        issue(rma, store, carrier, now + timedelta(seconds=30))
    # After the lease: the carrier is asked for the reference first, and its label is recorded.
    assert issue(rma, store, carrier, now + labels.LEASE + timedelta(seconds=1)) == "issued"
    assert carrier.purchases == 1
    assert store.get_return(rma)[0].label.tracking_number == "9400100000000000000001"


def test_concurrent_consumers_buy_once(approved, store, serializable_dynamodb):  # noqa: F811
    rma, _ = approved
    carrier = CountingCarrier()
    outcomes = []

    def consume():
        try:
            outcomes.append(issue(rma, store, carrier))
        except DependencyFailed:
            outcomes.append("retry")

    threads = [threading.Thread(target=consume) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert carrier.purchases == 1
    assert outcomes.count("issued") == 1


def test_transient_carrier_failure_leaves_the_return_pending(approved, store):
    rma, token = approved
    carrier = CountingCarrier()
    carrier.down = True
    with pytest.raises(CarrierUnavailable):
        issue(rma, store, carrier)
    assert store.get_return(rma)[0].status == "approved"


def test_refused_address_needs_attention_then_ops_retry(approved, store):
    rma, _ = approved
    carrier = CountingCarrier()
    carrier.reject_with = "Address not found: 1 Market St, 94105"
    assert issue(rma, store, carrier) == "needs_attention"
    record = store.get_return(rma)[0]
    assert (record.status, record.label_error) == ("needs_attention", "Address not found: 1 Market St, 94105")
    assert label_item(rma) is None  # the claim is released so a retry can buy
    retried = ops("approve", rma, action="retry-label")
    assert retried.status == 200, retried.raw
    assert retried.body["timeline"][-1]["type"] == "return.label_requested"
    carrier.reject_with = None
    assert issue(rma, store, carrier) == "issued"
    assert store.get_return(rma)[0].label_error is None


def test_cancelled_while_buying_voids_the_label(approved, store, monkeypatch):
    rma, _ = approved
    carrier = CountingCarrier()
    real_buy = carrier.buy_return_label

    def buy_and_shopper_cancels(request):
        label = real_buy(request)
        assert ops("approve", rma, action="cancel", body={"reason": "changed mind"}).status == 200
        return label

    monkeypatch.setattr(carrier, "buy_return_label", buy_and_shopper_cancels)
    assert issue(rma, store, carrier) == "voided_after_change"
    assert carrier.voided == ["9400100000000000000001"]
    assert store.get_return(rma)[0].status == "cancelled"


def test_cancel_after_issue_voids_once(approved, store):
    rma, _ = approved
    carrier = CountingCarrier()
    issue(rma, store, carrier)
    assert ops("approve", rma, action="cancel", body={"reason": "found it"}).status == 200
    now = datetime.now(UTC)
    assert labels.void_cancelled(rma, store=store, carrier_for=lambda _name: carrier, now=now) == "voided"
    assert (
        labels.void_cancelled(rma, store=store, carrier_for=lambda _name: carrier, now=now) == "nothing_to_do"
    )
    record, timeline = store.get_return(rma, with_timeline=True)
    assert record.label.voided and carrier.voided == [record.label.tracking_number]
    assert timeline[-1].type == "return.label_voided"


def test_expiry_reminds_then_voids_expires_and_releases(approved, store):
    rma, _ = approved
    carrier = CountingCarrier()
    bought_at = datetime.now(UTC)
    issue(rma, store, carrier, bought_at)
    run = lambda days: labels.expire_labels(  # noqa: E731
        store=store, carrier_for=lambda _name: carrier, policy=POLICY, now=bought_at + timedelta(days=days)
    )
    assert run(10) == {"reminded": 0, "expired": 0}
    assert run(26) == {"reminded": 1, "expired": 0}
    assert run(27) == {"reminded": 0, "expired": 0}  # reminded once
    assert run(28.1) == {"reminded": 0, "expired": 1}
    record, timeline = store.get_return(rma, with_timeline=True)
    assert record.status == "expired" and record.label.voided
    assert [e.type for e in timeline][-2:] == ["return.label_expiring", "return.expired"]
    order = boto3.client("dynamodb").get_item(
        TableName=TABLE, Key={"pk": {"S": "ORDER#ord_1001"}, "sk": {"S": "ORDER"}}
    )["Item"]
    assert order["reserved_L1"]["N"] == "0"


def test_keep_item_returns_need_no_label(aws, store):
    cheap = recent_order(
        lines=[{"line_id": "L1", "sku": "SOCK", "title": "Socks", "quantity": 1, "unit_price": 800}],
        order_discount=0,
        shipments=[],
        payments=[],
    )
    put_order(cheap)
    token = sign_in().body["token"]
    rma = start(
        token, [{"line_id": "L1", "quantity": 1, "reason": "changed_mind", "resolution": "keep_item"}]
    ).body["rma"]
    assert issue(rma, store, CountingCarrier()) == "not_needed"


# ---- through the handlers --------------------------------------------------------------------


def sqs_event(rma: str, event_type: str = "return.approved", receive_count: int = 1) -> dict:
    from tests.conftest import load_event

    event = load_event("labels.return_approved")
    record = event["Records"][0]
    record["messageAttributes"]["rma"]["stringValue"] = rma
    record["messageAttributes"]["type"]["stringValue"] = event_type
    record["attributes"]["ApproximateReceiveCount"] = str(receive_count)
    return event


def test_labels_handler_buys_with_the_sandbox_and_stores_three_formats(approved):
    import importlib

    from tests.conftest import LambdaContext

    rma, _ = approved
    handler = importlib.import_module("homeward.handlers.labels")
    assert handler.lambda_handler(sqs_event(rma), LambdaContext()) == {"batchItemFailures": []}
    record = LabelClaims(client("dynamodb"), TABLE).get_return(rma)[0]
    assert record.status == "label_issued" and record.label.carrier == "sandbox"
    assert sorted(record.label.files) == ["PDF", "PNG", "ZPL"]
    zpl = boto3.client("s3").get_object(Bucket=TEST_ENV["LABELS_BUCKET"], Key=record.label.files["ZPL"])
    assert record.label.tracking_number in zpl["Body"].read().decode()
    # A redelivered message changes nothing.
    assert handler.lambda_handler(sqs_event(rma), LambdaContext()) == {"batchItemFailures": []}
    assert LabelClaims(client("dynamodb"), TABLE).get_return(rma)[0].version == record.version


def test_labels_handler_backs_off_and_reports_only_the_failed_message(approved, monkeypatch):
    import importlib

    from tests.conftest import LambdaContext

    rma, _ = approved
    handler = importlib.import_module("homeward.handlers.labels")
    down = CountingCarrier()
    down.down = True
    monkeypatch.setattr(handler, "carrier", lambda _name: down)
    delays = []
    monkeypatch.setattr(
        handler,
        "settings",
        handler.settings.model_copy(update={"label_queue_url": "https://sqs.local/labels"}),
    )

    class FakeSqs:
        def change_message_visibility(self, **kwargs):
            delays.append(kwargs["VisibilityTimeout"])

    queues = importlib.import_module("homeward.adapters.queues")
    monkeypatch.setattr(queues, "client", lambda service: FakeSqs() if service == "sqs" else client(service))
    event = sqs_event(rma, receive_count=3)
    unrelated = sqs_event(rma, event_type="return.note_added")["Records"][0]
    unrelated["messageId"] = "a-message-that-is-fine"
    event["Records"].append(unrelated)
    result = handler.lambda_handler(event, LambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert delays == [120]  # 30 s doubled per earlier attempt
    assert LabelClaims(client("dynamodb"), TABLE).get_return(rma)[0].status == "approved"


def test_expiry_handler_runs_on_its_schedule(approved):
    import importlib

    from tests.conftest import LambdaContext, load_event

    rma, _ = approved
    labels_handler = importlib.import_module("homeward.handlers.labels")
    labels_handler.lambda_handler(sqs_event(rma), LambdaContext())
    expiry = importlib.import_module("homeward.handlers.label_expiry")
    assert expiry.lambda_handler(load_event("label_expiry.hourly"), LambdaContext()) == {
        "reminded": 0,
        "expired": 0,
    }
