"""Property: however Homeward's refunds and refunds made outside Homeward interleave (ops
refunds by hand, the automatic refund, refunds made in the provider's dashboard and reported by
webhook, refunds ops type in by hand, settlements), no payment ever has more refunded or
refunding than it captured, each outside refund is recorded once, and the ledger agrees with
the movements. Real service and DynamoDB adapter on moto; the provider is the fault suite's
fake, which refuses like Stripe a refund above what a payment has left."""

from __future__ import annotations

import contextlib
import itertools
from datetime import timedelta

import boto3
from homeward.adapters.dynamodb.orders import OrdersTable
from homeward.adapters.dynamodb.refunds import RefundsTable
from homeward.adapters.dynamodb.returns import ReturnsTable
from homeward.domain.refunds import service
from homeward.domain.refunds.outside import OutsideRefund
from homeward.domain.refunds.ports import ProviderRejected, RefundRequest, RefundUpdate
from homeward.domain.refunds.reports import Report
from homeward.domain.returns import rules as return_rules
from homeward.domain.returns.states import Actor
from homeward.errors import Conflict, Unprocessable
from homeward.models.orders import OrderIn
from homeward.models.refunds import ManualRefundRequest
from homeward.models.returns import ReturnRequest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infra.bench.refund_faults import START, FakeProvider, _policy
from infra.template import dynamodb_table_kwargs

_TABLES = itertools.count(1)
COUNTED = ("pending", "requires_action", "succeeded")

steps = st.lists(
    st.one_of(
        st.tuples(st.just("process")),
        st.tuples(st.just("settle")),
        st.tuples(st.just("by_hand"), st.integers(1, 4000)),
        st.tuples(st.just("dashboard"), st.integers(0, 1), st.integers(1, 4000)),
        st.tuples(st.just("typed_in"), st.integers(0, 1), st.integers(1, 4000)),
        st.tuples(
            st.just("replay"),
        ),
    ),
    max_size=8,
)


class World:
    """One order (two Stripe payments), one approved return, the fake provider and the clock."""

    def __init__(self, captured: tuple[int, int], instant: tuple[bool, bool]) -> None:
        self.client = boto3.client("dynamodb")
        self.table = f"outside-props-{next(_TABLES)}"
        self.client.create_table(**dynamodb_table_kwargs("HomewardTable", self.table))
        self.store = RefundsTable(self.client, self.table)
        self.policy = _policy("proportional")
        self.now = START
        self.refs = ("pi_a", "pi_b")
        self.captured = dict(zip(self.refs, captured, strict=True))
        self.order = self._order()
        self.rma = self._return()
        self.provider = FakeProvider(
            dict(self.captured), instant=dict(zip(self.refs, instant, strict=True)), clock=lambda: self.now
        )
        from homeward.providers.payments import Providers

        self.providers = Providers(mode="ledger", ledger=self.provider)
        self.updates: list[RefundUpdate] = []  # the dashboard's webhooks, in order
        self.outside_status: dict[str, str] = {}

    def _order(self):
        body = {
            "order_number": "#2001",
            "placed_at": "2026-11-02T10:15:00Z",
            "currency": "USD",
            "customer": {
                "email": "shopper@example.com",
                "address": {
                    "line1": "1 Main St",
                    "city": "Columbus",
                    "postal_code": "43004",
                    "country": "US",
                },
            },
            "lines": [
                {
                    "line_id": "L1",
                    "sku": "SKU-1",
                    "title": "Item",
                    "quantity": 2,
                    "unit_price": 5000,
                    "discount": 0,
                    "tax": 400,
                    "category": "apparel",
                }
            ],
            "payments": [
                {
                    "payment_id": f"P{i + 1}",
                    "provider": "stripe",
                    "reference": ref,
                    "captured": self.captured[ref],
                }
                for i, ref in enumerate(self.refs)
            ],
        }
        OrdersTable(self.client, self.table).upsert_order(
            "ord_p", OrderIn.model_validate(body), content_hash="h", now=START
        )
        loaded = self.store.order_and_ledger("ord_p")
        assert loaded is not None
        return loaded[0]

    def _return(self) -> str:
        request = ReturnRequest.model_validate(
            {"lines": [{"line_id": "L1", "quantity": 2, "reason": "too_small", "resolution": "refund"}]}
        )
        change = return_rules.create_return(
            self.order,
            request,
            rma=return_rules.new_rma(),
            reserved={},
            policy=self.policy,
            customer_returns_90_days=0,
            filed_by=Actor.OPS,
            actor_id="props",
            now=START,
        )
        ReturnsTable(self.client, self.table).create_return(change.record, change.events, reserved_before={})
        return change.record.rma

    # -- steps --

    def tick(self) -> None:
        self.now += timedelta(minutes=1)

    def process(self) -> None:
        service.process(
            self.rma,
            store=self.store,
            providers=self.providers,
            policy=self.policy,
            now=self.now,
            reconcile=True,
        )

    def by_hand(self, amount: int) -> None:
        request = ManualRefundRequest(amount=amount, currency="USD", reason="goodwill")
        with contextlib.suppress(Conflict):  # more than remains
            service.refund_by_hand(
                self.rma,
                request,
                intent_key=f"k{self.now.timestamp()}",
                actor_id=None,
                store=self.store,
                policy=self.policy,
                now=self.now,
            )

    def _at_provider(self, index: int, amount: int) -> RefundUpdate | None:
        ref = self.refs[index]
        try:
            made = self.provider.create_refund(
                RefundRequest(
                    idempotency_key=f"dash-{len(self.updates)}-{self.now}",
                    payment_reference=ref,
                    amount=amount,
                    currency="USD",
                )
            )
        except ProviderRejected:
            return None  # the provider refuses more than the payment has left
        update = self._update(made.refund_id, made.status, made.amount, ref)
        self.updates.append(update)
        return update

    def _update(self, refund_id: str, status: str, amount: int, ref: str) -> RefundUpdate:
        return RefundUpdate(
            event_id=f"evt_{refund_id}_{status}",
            event_type="refund.updated",
            refund_id=refund_id,
            status=status,
            amount=amount,
            currency="USD",
            failure_reason=None,
            metadata={},
            payment_reference=ref,
            occurred_at=self.now,
        )

    def deliver(self, update: RefundUpdate) -> str:
        """What PaymentWebhooksFunction does with an event without Homeward's metadata."""
        found = self.store.movement_for_provider_refund("stripe", update.refund_id)
        report = Report(status=update.status, refund_id=update.refund_id)
        if found:
            return service.apply_provider_update(
                *found, report, store=self.store, policy=self.policy, now=self.now
            )
        status = service.record_provider_refund(
            "stripe", update, store=self.store, policy=self.policy, now=self.now
        )
        if status == "unchanged" and (
            found := self.store.movement_for_provider_refund("stripe", update.refund_id)
        ):
            return service.apply_provider_update(
                *found, report, store=self.store, policy=self.policy, now=self.now
            )
        return status

    def dashboard(self, index: int, amount: int) -> None:
        update = self._at_provider(index, amount)
        if update is not None:
            self.deliver(update)

    def typed_in(self, index: int, amount: int) -> None:
        """Refunded in the dashboard and typed in by ops (its webhook comes too)."""
        update = self._at_provider(index, amount)
        if update is None:
            return
        refund = OutsideRefund(
            reference=update.refund_id, payment_id=f"P{index + 1}", amount=amount, currency="USD", at=self.now
        )
        # Refused when Homeward's ledger has less left (its reservations): the webhook still reports it.
        with contextlib.suppress(Unprocessable, Conflict):
            service.record_outside(self.rma, refund, store=self.store, policy=self.policy, now=self.now)
        self.deliver(update)

    def settle(self) -> None:
        self.provider.settle()
        for update in list(self.updates):
            refund = next(r for r in self.provider.refunds if r.refund_id == update.refund_id)
            self.deliver(
                self._update(refund.refund_id, refund.status, refund.amount, refund.payment_reference)
            )

    def replay(self) -> None:
        for update in self.updates:
            self.deliver(update)

    def run(self, step: tuple) -> None:
        self.tick()
        getattr(self, step[0])(*step[1:])

    # -- what must hold --

    def movements(self):
        record = self.store.get_return(self.rma)
        return record.refund.movements if record and record.refund else []

    def check_cap(self) -> None:
        movements = self.movements()
        for payment in self.order.payments:
            counted = sum(
                m.amount for m in movements if m.payment_id == payment.payment_id and m.status in COUNTED
            )
            assert counted <= payment.captured, (payment.payment_id, counted, payment.captured)
        assert len({m.provider_refund_id for m in movements if m.source == "outside"}) == len(
            [m for m in movements if m.source == "outside"]
        )

    def check_settled(self) -> None:
        loaded = self.store.order_and_ledger("ord_p")
        assert loaded is not None
        ledger = loaded[1]
        movements = self.movements()
        for payment in self.order.payments:
            mine = [m for m in movements if m.payment_id == payment.payment_id]
            entry = ledger.get(payment.payment_id)
            if entry is None:
                assert not [m for m in mine if m.status in COUNTED]
                continue
            assert entry.available + entry.reserved + entry.refunded == entry.captured == payment.captured
            assert entry.available >= 0
            assert entry.refunded == sum(m.amount for m in mine if m.status == "succeeded")
            assert entry.reserved == sum(m.amount for m in mine if m.status in ("reserved", *COUNTED[:2]))
            at_provider = self.provider.refunded(payment.reference, statuses=("succeeded",))
            if payment.reference == self.indexed:
                # every refund the provider made on it is on the books, once
                assert entry.refunded == at_provider, (entry, at_provider)
            else:
                assert entry.refunded <= at_provider

    @property
    def indexed(self) -> str:
        """The payment the order is found by (its largest, the first on a tie)."""
        return max(self.order.payments, key=lambda p: p.captured).reference


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    captured=st.tuples(st.integers(500, 9000), st.integers(500, 9000)),
    instant=st.tuples(st.booleans(), st.booleans()),
    schedule=steps,
)
def test_the_cap_holds_under_any_interleaving_of_homeward_and_outside_refunds(
    aws, captured, instant, schedule
):
    world = World(captured, instant)
    for step in schedule:
        world.run(step)
        world.check_cap()
    for step in (("settle",), ("process",), ("settle",), ("process",), ("replay",)):
        world.run(step)
        world.check_cap()
    world.check_settled()
