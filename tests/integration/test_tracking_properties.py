"""Property: whatever the arrival order, duplicates and stream timing, a parcel ends as its journey.

Through the real WebhooksFunction and TrackingFunction on moto: five scans of one parcel,
each from a provider hypothesis picks, arrive shuffled, some twice, with the stream drained
at random moments. The parcel must end in its chronologically last status, every scan
applied exactly once, `shipment.delivered` emitted once, every re-send answered `duplicate`.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.webhook_signing import PROVIDERS
from tests.integration.streams import StreamDriver
from tests.integration.test_orders_slice import put_order
from tests.integration.test_returns_flow import recent_order
from tests.integration.test_tracking_flow import sample, send, shipment, shipment_events

# (sample case, hours before now): the parcel's real journey, oldest first.
JOURNEY = [
    ("label_created", 30),
    ("in_transit", 20),
    ("out_for_delivery", 6),
    ("failed_attempt", 5),
    ("delivered", 1),
]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    arrival=st.permutations(range(len(JOURNEY))),
    providers=st.lists(st.sampled_from(PROVIDERS), min_size=len(JOURNEY), max_size=len(JOURNEY)),
    resend=st.lists(st.integers(0, len(JOURNEY) - 1), max_size=3),
    drain_after=st.lists(st.booleans(), min_size=len(JOURNEY) + 3, max_size=len(JOURNEY) + 3),
)
def test_any_arrival_order_ends_like_the_journey(aws, arrival, providers, resend, drain_after):
    stream = StreamDriver("TrackingFunction", "homeward.handlers.tracking")
    stream.drain()  # whatever earlier examples left
    number = f"1ZPROP{uuid.uuid4().hex[:12].upper()}"
    body = recent_order()
    body["shipments"][0]["tracking_number"] = number
    assert put_order(body, order_id=f"ord_{number.lower()}").status in (200, 201)
    stream.drain()

    now = datetime.now(UTC)
    built = [
        (providers[i], sample(providers[i], case, tracking_number=number, at=now - timedelta(hours=hours)))
        for i, (case, hours) in enumerate(JOURNEY)
    ]
    deliveries = [built[i] for i in arrival] + [built[arrival[i]] for i in resend]
    answers = []
    for position, (provider, payload) in enumerate(deliveries):
        answers.append(send(provider, payload).body["status"])
        if drain_after[position]:
            stream.drain()
    assert stream.drain() == []

    assert answers[: len(JOURNEY)] == ["accepted"] * len(JOURNEY)
    assert answers[len(JOURNEY) :] == ["duplicate"] * len(resend)
    parcel = shipment(number)
    assert parcel["status"] == "delivered"
    assert parcel["applied_events"] == len(JOURNEY)
    assert shipment_events(number).count("shipment.delivered") == 1
