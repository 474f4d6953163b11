"""Fault injection for refunds: randomized fault schedules against the real refund code on moto.

`run_schedule(schedule)` builds one order and one approved return on a fresh moto table, then
drives its refund the way production does - SQS-triggered `refund_service.process`, the sweep,
provider webhooks - while a schedule of faults fires at chosen calls:

  DynamoDB (botocore `before-call` / `after-call` handlers on the client the stores use, so the
  refund code sees exactly the exceptions boto3 would raise):
    ddb_throttle_read      GetItem/Query: ProvisionedThroughputExceededException
    crash_at_read          GetItem/Query: the Lambda is killed (before any provider call)
    ddb_throttle_write     TransactWriteItems: ProvisionedThroughputExceededException
    ddb_txn_conflict       TransactWriteItems: TransactionCanceledException [TransactionConflict]
    ddb_internal_error     TransactWriteItems: InternalServerError
    crash_before_write     TransactWriteItems: the Lambda is killed before the write (e.g. after
                           the provider accepted a refund and before we recorded it)
    lost_ack               TransactWriteItems committed, the response is lost (ReadTimeoutError)
    crash_after_write      TransactWriteItems committed, then the Lambda is killed
    concurrent_worker      right before a TransactWriteItems, a second worker runs a complete
                           `process(rma)` (a racing Lambda: real version_changed conflicts)
    concurrent_webhooks    right before a TransactWriteItems, the queued provider webhooks are
                           delivered (the webhook Lambda racing the refund Lambda)
  provider (`FakeProvider`, Stripe-like: idempotent per key, saved first answers replayed):
    provider_5xx           create: 5xx before anything is recorded (ProviderUnavailable)
    provider_timeout       create: the refund is made, the caller gets ProviderUnavailable
    provider_crash_after_create  create: the refund is made, the Lambda is killed
    provider_reject        create: permanent rejection (saved under the key, replayed)
    concurrent_in_provider create: a second worker's request reaches the provider first
    concurrent_after_create      create: a second worker runs right after the refund is made
    provider_lookup_5xx    retrieve/find: ProviderUnavailable
  provider settlement (a `settle` step of the schedule):
    refund_declined        pending refunds fail instead of settling (the bank declined)
    late_failure           a succeeded refund fails afterwards (Stripe's refund.failed)
  schedule-level (counted when they actually happen):
    duplicate_trigger      the trigger event delivered more than once (`process` again)
    webhook_duplicate      a webhook delivered again
    webhook_out_of_order   an older webhook delivered after a newer one for the same refund
    pending_then_settled   a refund answered `pending`, settled later (webhook or sweep)
    key_expired            the provider forgot an idempotency key (> 24 h) that we re-drive

A fault is (point, nth, kind): it fires at the nth call (from 0) of its point - DynamoDB
reads, TransactWriteItems, provider creates, provider lookups, settlement runs - counted over
the faulty phase, the racing workers' calls included. Concurrency is real interleaving on one
thread: the racing worker runs to completion inside a hook, between the first worker's read
and its conditional write (or its provider call and the write recording the answer), so the
first worker's TransactWriteItems then fails its version condition in moto exactly as it
would in DynamoDB. A racing worker does not start races of its own.

A faulty phase runs the schedule's steps (process / sweep / webhooks / settle / an hour / a
25-hour clock jump), catching `DependencyFailed` and injected crashes as Lambda would and
leaving the retry to the next step, as SQS and the sweep would; webhooks are shuffled and
duplicated, and the ones whose handler failed are delivered again later (the provider
retries). A recovery phase without faults then runs process and the sweep until quiet,
settles the provider, delivers the webhooks still queued (or drops them: lost), retries failed
refunds once (`retry_failed`, to the payment or as store credit) and drives again.
`run_schedule` returns the anomalies:

  * the provider refunded exactly the expected amount for the return: `final_amount(...)`
    computed independently from the stored return and order, capped by what was captured
    (less what failed and was retried as store credit);
  * at most one provider refund per idempotency key and per intent (movement), none unknown
    to the return, none pending or requires_action left;
  * no payment refunded above what it captured; ledger items consistent
    (available + reserved + refunded == captured, reserved == 0, refunded == the provider's
    succeeded total for that payment);
  * the return's succeeded movements sum to the provider total; money_status as expected;
  * store credit issued exactly once per credit movement, the automatic one for
    `store_credit_total`, each with a table item of the same amount;
  * no unexpected error (anything but DependencyFailed) escaped a worker, no provider
    rejection other than the injected ones (e.g. idempotency_error, amount_too_large).

`run(n, seed)` is the benchmark: n schedules drawn by hypothesis (`fault_schedules()`),
returning schedules run, anomalies found (must be 0), faults injected by kind and timing.
Standalone: `python -m infra.bench.refund_faults -n 1000 --seed 0`.

Not modelled: Stripe's 409 for a second request with a key still in flight (a transient
error to us, like a 5xx), several returns of one order sharing its payments, ops refunding by
hand meanwhile.

Each schedule gets its own small moto table (created and deleted around it): moto answers a
query on a global secondary index (the sweep's) by scanning every item of the table, so one
shared table would make the suite quadratic. The table has no stream (nothing reads it here).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import itertools
import json
import os
import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import NoReturn, TypeVar

_ROOT = Path(__file__).resolve().parents[2]
if str(_ROOT / "functions") not in sys.path:
    sys.path.insert(0, str(_ROOT / "functions"))

import boto3  # noqa: E402
from botocore import UNSIGNED  # noqa: E402
from botocore.config import Config  # noqa: E402
from botocore.exceptions import ClientError, ReadTimeoutError  # noqa: E402
from homeward.adapters.dynamodb import n_attr, order_key, s_attr, utc_iso  # noqa: E402
from homeward.adapters.dynamodb.refunds import RefundsTable  # noqa: E402
from homeward.adapters.dynamodb.returns import ReturnsTable  # noqa: E402
from homeward.adapters.payments import (  # noqa: E402
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
    RefundRequest,
)
from homeward.adapters.policy import bundled_policy  # noqa: E402
from homeward.domain.orders.rules import email_fingerprint, normalize_order_number  # noqa: E402
from homeward.domain.refunds import service as refund_service  # noqa: E402
from homeward.domain.refunds.amounts import final_amount  # noqa: E402
from homeward.domain.refunds.money import allocate  # noqa: E402
from homeward.domain.refunds.pricing import RefundRules  # noqa: E402
from homeward.domain.refunds.reports import LATE_FAILURE_RECHECK, Report  # noqa: E402
from homeward.domain.returns import rules as return_rules  # noqa: E402
from homeward.domain.returns.eligibility import eligibility  # noqa: E402
from homeward.domain.returns.states import OPEN_MOVEMENT, Actor  # noqa: E402
from homeward.errors import DependencyFailed, HomewardError  # noqa: E402
from homeward.models.orders import Order, OrderIn  # noqa: E402
from homeward.models.policy import ReturnPolicy  # noqa: E402
from homeward.models.returns import ReturnRecord, ReturnRequest  # noqa: E402
from homeward.providers.payments import Providers  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import seed as hypothesis_seed  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

T = TypeVar("T")
_TABLE_NUMBERS = itertools.count(1)  # table and order names, unique in the process
REGION = "us-east-1"
CURRENCY = "USD"
# Stripe keeps idempotency keys for 24 hours.
KEY_TTL = timedelta(hours=24)
START = datetime(2026, 11, 8, 9, 0, tzinfo=UTC)  # two days after the orders' delivery

# Fault kinds by the call they hit ("point"), each counted per schedule from 0 (`Fault.nth`).
POINT_KINDS: dict[str, tuple[str, ...]] = {
    "read": ("ddb_throttle_read", "crash_at_read"),
    "write": (
        "ddb_throttle_write",
        "ddb_txn_conflict",
        "ddb_internal_error",
        "crash_before_write",
        "lost_ack",
        "crash_after_write",
        "concurrent_worker",
        "concurrent_webhooks",
    ),
    "create": (
        "provider_5xx",
        "provider_timeout",
        "provider_crash_after_create",
        "provider_reject",
        "concurrent_in_provider",
        "concurrent_after_create",
    ),
    "lookup": ("provider_lookup_5xx",),
    "settle": ("refund_declined", "late_failure"),
}
# How far into a schedule each point's faults may be placed (calls of that kind, from 0).
POINT_SPAN = {"read": 8, "write": 4, "create": 1, "lookup": 1, "settle": 0}
# How often a fault hits each point (weights).
POINT_WEIGHTS = {"read": 2, "write": 5, "create": 3, "lookup": 2, "settle": 2}
# The faulty phase's steps after the first trigger (weights).
STEP_WEIGHTS = {"process": 3, "sweep": 3, "webhooks": 2, "settle": 3, "tick_hour": 1, "clock_jump": 2}
SCHEDULE_KINDS = (
    "duplicate_trigger",
    "webhook_duplicate",
    "webhook_out_of_order",
    "pending_then_settled",
    "key_expired",
)
INJECTED_KINDS = tuple(kind for kinds in POINT_KINDS.values() for kind in kinds)
FAULT_KINDS = INJECTED_KINDS + SCHEDULE_KINDS
CONCURRENT_KINDS = frozenset(
    {"concurrent_worker", "concurrent_webhooks", "concurrent_in_provider", "concurrent_after_create"}
)
AFTER_COMMIT_KINDS = frozenset({"lost_ack", "crash_after_write"})
_DDB_POINTS = {"GetItem": "read", "Query": "read", "TransactWriteItems": "write"}
# What the fake provider answers for an injected permanent rejection.
REJECTION_CODE = "expired_or_canceled_card"


class Crash(BaseException):  # noqa: N818 - it models a Lambda killed mid-way, not an error
    """The Lambda was killed mid-way (timeout, out of memory): nothing after this point ran.

    A BaseException so that no `except Exception` on the way can swallow it."""


# ---- the fault plan -------------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """`kind` fires at the `nth` call (from 0) of its `point` in the faulty phase."""

    point: str
    nth: int
    kind: str


@dataclass(frozen=True)
class LineSpec:
    unit_price: int
    quantity: int
    discount: int
    tax: int
    category: str
    returned: int
    reason: str
    resolution: str


@dataclass(frozen=True)
class FaultSchedule:
    """One order, one return of it, how the provider behaves and what goes wrong when."""

    lines: tuple[LineSpec, ...]
    order_discount: int
    shipping: int
    payment_weights: tuple[int, ...]  # the order total is split over the payments by these
    capture_delta: tuple[int, ...]  # captured = share + delta (>= 1); negative: short capture
    instant: tuple[bool, ...]  # per payment: the provider's refunds succeed at once (else pending)
    split_rule: str
    steps: tuple[str, ...]  # the faulty phase; the first is always the trigger event
    faults: tuple[Fault, ...]
    retry_as_store_credit: bool
    deliver_late_webhooks: bool  # recovery: deliver what is still queued (else it is lost)
    seed: int  # webhook order and duplication

    def describe(self) -> str:
        lines = ", ".join(
            f"{s.returned}/{s.quantity}x{s.unit_price}(-{s.discount}+{s.tax} {s.category}) "
            f"{s.reason}->{s.resolution}"
            for s in self.lines
        )
        payments = ", ".join(
            f"w{w}{d:+d}{' instant' if i else ''}"
            for w, d, i in zip(self.payment_weights, self.capture_delta, self.instant, strict=True)
        )
        faults = ", ".join(f"{f.kind}@{f.point}#{f.nth}" for f in self.faults) or "none"
        return (
            f"lines [{lines}] order_discount {self.order_discount} shipping {self.shipping}; "
            f"payments [{payments}] {self.split_rule}; steps {list(self.steps)}; faults [{faults}]; "
            f"retry_as_store_credit={self.retry_as_store_credit} "
            f"late_webhooks={self.deliver_late_webhooks} seed={self.seed}"
        )


@st.composite
def _line(draw, index: int) -> LineSpec:
    keep = draw(st.integers(0, 5)) == 0
    quantity = draw(st.integers(1, 3))
    if keep:
        # Cheap enough that the policy lets the shopper keep it (<= 1000 per unit with tax).
        unit_price = draw(st.integers(100, 900))
        discount, tax, category = 0, draw(st.integers(0, unit_price * quantity // 10)), "apparel"
        resolution = "keep_item"
    else:
        unit_price = draw(st.integers(150, 9000))
        discount = draw(st.sampled_from([0, 0, unit_price // 10, unit_price * quantity // 3]))
        tax = draw(st.integers(0, (unit_price * quantity - discount) // 5))
        category = draw(st.sampled_from(["apparel", "apparel", "home", "electronics"]))
        resolution = draw(st.sampled_from(["refund", "refund", "refund", "store_credit"]))
    return LineSpec(
        unit_price=unit_price,
        quantity=quantity,
        discount=discount,
        tax=tax,
        category=category,
        returned=draw(st.integers(1, quantity)),
        reason=draw(st.sampled_from(["too_small", "too_small", "changed_mind", "wrong_item"])),
        resolution=resolution,
    )


@st.composite
def _fault(draw) -> Fault:
    point = draw(st.sampled_from([p for p, weight in POINT_WEIGHTS.items() for _ in range(weight)]))
    return Fault(
        point=point,
        nth=draw(st.integers(0, POINT_SPAN[point])),
        kind=draw(st.sampled_from(POINT_KINDS[point])),
    )


@st.composite
def fault_schedules(draw, *, max_steps: int = 8, max_faults: int = 8) -> FaultSchedule:
    """A random order, return, provider behaviour and fault plan: after the trigger up to
    `max_steps` steps, and 1 to `max_faults` faults."""
    n_lines = draw(st.integers(1, 3))
    lines = tuple(draw(_line(i)) for i in range(n_lines))
    merchandise = sum(s.unit_price * s.quantity - s.discount for s in lines)
    order_discount = draw(st.sampled_from([0, 0, min(500, merchandise), merchandise // 4]))
    n_payments = draw(st.integers(1, 3))
    short = draw(st.integers(0, 9)) == 0
    deltas = tuple(
        -draw(st.integers(1, 4000)) if short and i == n_payments - 1 else draw(st.integers(0, 2500))
        for i in range(n_payments)
    )
    steps = ("process",) + tuple(
        draw(
            st.lists(
                st.sampled_from([step for step, weight in STEP_WEIGHTS.items() for _ in range(weight)]),
                min_size=1,
                max_size=max_steps,
            )
        )
    )
    return FaultSchedule(
        lines=lines,
        order_discount=order_discount,
        shipping=draw(st.sampled_from([0, 599, 1000])),
        payment_weights=tuple(draw(st.integers(1, 10)) for _ in range(n_payments)),
        capture_delta=deltas,
        instant=tuple(draw(st.booleans()) for _ in range(n_payments)),
        split_rule=draw(st.sampled_from(["proportional", "sequential"])),
        steps=steps,
        faults=tuple(draw(st.lists(_fault(), min_size=1, max_size=max_faults))),
        retry_as_store_credit=draw(st.booleans()),
        deliver_late_webhooks=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)),
    )


# ---- the provider ---------------------------------------------------------------------------


@dataclass
class FakeRefund:
    refund_id: str
    key: str  # metadata homeward_key
    rma: str
    payment_reference: str
    amount: int
    currency: str
    status: str
    created_at: datetime
    failure_reason: str | None = None

    def view(self) -> ProviderRefund:
        return ProviderRefund(
            refund_id=self.refund_id,
            status=self.status,
            amount=self.amount,
            currency=self.currency,
            failure_reason=self.failure_reason,
            metadata={"homeward_rma": self.rma, "homeward_key": self.key},
        )


@dataclass
class _SavedAnswer:
    """The first answer to an idempotency key, replayed for the same key (Stripe-style)."""

    params: tuple
    at: datetime
    answer: ProviderRefund | None = None
    rejection: str | None = None


@dataclass
class Webhook:
    seq: int
    rma: str
    key: str
    report: Report


class FakeProvider:
    """An in-memory payment provider behaving like Stripe where exactly-once depends on it.

    * the first answer per idempotency key is saved and replayed as it was (a refund created
      `pending` is replayed `pending` even after it settled); keys are forgotten after 24 h;
    * the same key with other parameters is `idempotency_error`; a refund that would take a
      payment's refunds above what it captured is `amount_too_large`; both are saved too;
    * transient faults (5xx) happen before anything is saved, so a retry may succeed;
    * refunds are created `succeeded` or `pending` (per payment), `settle()` settles the
      pending ones; every creation and settlement queues a webhook.

    `faults(point)` (optional) names the injected fault for this call, `note(kind)` is told
    when one was applied, `concurrent(kind)` runs the racing worker.
    """

    name = "fake"

    def __init__(
        self,
        captured: dict[str, int],
        *,
        instant: dict[str, bool] | None = None,
        clock: Callable[[], datetime] = lambda: START,
        faults: Callable[[str], str | None] = lambda point: None,
        note: Callable[[str], None] = lambda kind: None,
        concurrent: Callable[[str], None] = lambda kind: None,
    ) -> None:
        self.captured = dict(captured)
        self.instant = dict(instant or {})
        self.clock = clock
        self.faults = faults
        self.note = note
        self.concurrent = concurrent
        self.refunds: list[FakeRefund] = []
        self.rejections: list[tuple[str, str]] = []  # (key, code)
        self.webhooks: list[Webhook] = []
        self.calls: Counter = Counter()
        self._saved: dict[str, _SavedAnswer] = {}
        self._webhook_seq = 0

    # -- the port --

    def create_refund(self, request: RefundRequest) -> ProviderRefund:
        self.calls["create"] += 1
        fault = self.faults("create")
        if fault == "provider_5xx":
            self.note(fault)
            raise ProviderUnavailable(self.name, "502 Bad Gateway")
        if fault == "concurrent_in_provider":
            self.note(fault)
            self.concurrent(fault)
        answer = self._create(request, reject=fault == "provider_reject")
        if fault == "provider_timeout":
            self.note(fault)
            raise ProviderUnavailable(self.name, "read timed out")
        if fault == "provider_crash_after_create":
            self.note(fault)
            raise Crash("killed while waiting for the provider")
        if fault == "concurrent_after_create":
            self.note(fault)
            self.concurrent(fault)
        return answer

    def retrieve_refund(self, refund_id: str) -> ProviderRefund:
        self.calls["retrieve"] += 1
        self._lookup_fault()
        found = next((r for r in self.refunds if r.refund_id == refund_id), None)
        if found is None:
            raise ProviderRejected(self.name, "resource_missing", f"no refund {refund_id}")
        return found.view()

    def find_refund(self, payment_reference: str, idempotency_key: str) -> ProviderRefund | None:
        self.calls["find"] += 1
        self._lookup_fault()
        self._forget_old_keys()
        if idempotency_key not in self._saved and self.refunds_for_key(idempotency_key):
            self.note("key_expired")
        found = [
            r for r in self.refunds if r.key == idempotency_key and r.payment_reference == payment_reference
        ]
        return found[0].view() if found else None

    # -- the provider's side --

    def settle(self, *, decline: bool = False) -> int:
        """Settle every pending refund, or with `decline` fail them (the bank refused); each
        change queues a webhook. How many changed."""
        changed = 0
        for refund in self.refunds:
            if refund.status == "pending":
                refund.status = "failed" if decline else "succeeded"
                refund.failure_reason = "declined" if decline else None
                changed += 1
                self._queue(refund)
        return changed

    def fail_late(self) -> FakeRefund | None:
        """The oldest succeeded refund fails after all (Stripe's refund.failed after success)."""
        refund = next((r for r in self.refunds if r.status == "succeeded"), None)
        if refund is not None:
            refund.status, refund.failure_reason = "failed", "expired_or_canceled_card"
            self._queue(refund)
        return refund

    def refunds_for_key(self, key: str) -> list[FakeRefund]:
        return [r for r in self.refunds if r.key == key]

    def refunded(self, payment_reference: str, *, statuses=("succeeded",)) -> int:
        return sum(
            r.amount
            for r in self.refunds
            if r.payment_reference == payment_reference and r.status in statuses
        )

    def counters(self) -> dict:
        per_key = Counter(r.key for r in self.refunds)
        per_payment = Counter(r.payment_reference for r in self.refunds)
        return {
            "refunds": len(self.refunds),
            "per_key": dict(per_key),
            "per_payment": dict(per_payment),
            "refunded_per_payment": {ref: self.refunded(ref) for ref in self.captured},
        }

    # -- internals --

    def _lookup_fault(self) -> None:
        fault = self.faults("lookup")
        if fault == "provider_lookup_5xx":
            self.note(fault)
            raise ProviderUnavailable(self.name, "503 Service Unavailable")

    def _forget_old_keys(self) -> None:
        now = self.clock()
        for key in [k for k, saved in self._saved.items() if now - saved.at >= KEY_TTL]:
            del self._saved[key]

    def _create(self, request: RefundRequest, *, reject: bool) -> ProviderRefund:
        key = request.idempotency_key
        params = (request.payment_reference, request.amount, request.currency)
        self._forget_old_keys()
        saved = self._saved.get(key)
        if saved is not None:
            if saved.params != params:
                self.rejections.append((key, "idempotency_error"))
                raise ProviderRejected(self.name, "idempotency_error", "key reused with other parameters")
            if saved.rejection is not None:
                raise ProviderRejected(self.name, saved.rejection, "refused (replayed)")
            assert saved.answer is not None
            return saved.answer
        if self.refunds_for_key(key):
            self.note("key_expired")  # and nobody looked it up first: a second refund follows
        if reject:
            self.note("provider_reject")
            self._refuse(key, params, REJECTION_CODE, injected=True)
        captured = self.captured.get(request.payment_reference)
        if captured is None:
            self._refuse(key, params, "resource_missing")
        already = self.refunded(request.payment_reference, statuses=("pending", "succeeded"))
        if already + request.amount > captured:
            self._refuse(key, params, "amount_too_large")
        refund = FakeRefund(
            refund_id=f"re_{len(self.refunds) + 1:04d}",
            key=str(request.metadata.get("homeward_key", key)),
            rma=str(request.metadata.get("homeward_rma", "")),
            payment_reference=request.payment_reference,
            amount=request.amount,
            currency=request.currency,
            status="succeeded" if self.instant.get(request.payment_reference, False) else "pending",
            created_at=self.clock(),
        )
        self.refunds.append(refund)
        answer = refund.view()
        self._saved[key] = _SavedAnswer(params, self.clock(), answer=answer)
        self._queue(refund)
        return answer

    def _refuse(self, key: str, params: tuple, code: str, *, injected: bool = False) -> NoReturn:
        """A permanent refusal, saved under the key like any answer of a request that ran."""
        self._saved[key] = _SavedAnswer(params, self.clock(), rejection=code)
        if not injected:
            self.rejections.append((key, code))
        raise ProviderRejected(self.name, code, "refused")

    def _queue(self, refund: FakeRefund) -> None:
        self._webhook_seq += 1
        self.webhooks.append(
            Webhook(
                seq=self._webhook_seq,
                rma=refund.rma,
                key=refund.key,
                report=Report(
                    status=refund.status, refund_id=refund.refund_id, failure_reason=refund.failure_reason
                ),
            )
        )


# ---- one schedule ---------------------------------------------------------------------------


@functools.cache
def _template_table() -> dict:
    from infra.template import dynamodb_table_kwargs

    kwargs = dynamodb_table_kwargs("HomewardTable", "table")
    kwargs.pop("StreamSpecification", None)  # nothing reads the stream here; moto keeps it in memory
    return kwargs


def _table_kwargs(name: str) -> dict:
    return {**copy.deepcopy(_template_table()), "TableName": name}


@functools.cache
def _policy(split_rule: str) -> ReturnPolicy:
    """The bundled policy, refunding at approval (the return is due at once)."""
    base = bundled_policy()
    return base.model_copy(
        update={
            "refund_trigger": "approval",
            "refund": base.refund.model_copy(update={"split_rule": split_rule}),
        }
    )


def _put_order(client, table: str, order_id: str, order: OrderIn, *, now: datetime) -> Order:
    """The order item as `OrdersTable.upsert_order` creates it (one PutItem: its UpdateItem
    costs moto ten times more), and the order as the stores read it back."""
    at = utc_iso(now)
    client.put_item(
        TableName=table,
        Item={
            **order_key(order_id),
            "entity": s_attr("order"),
            "doc": s_attr(order.model_dump_json()),
            "content_hash": s_attr("fault-suite"),
            "version": n_attr(1),
            "order_number": s_attr(order.order_number),
            "gsi1pk": s_attr(f"ORDERNO#{normalize_order_number(order.order_number)}"),
            "gsi1sk": s_attr(f"ORDER#{order_id}"),
            "email_fp": s_attr(email_fingerprint(order.customer.email)),
            "created_at": s_attr(at),
            "updated_at": s_attr(at),
        },
        ConditionExpression="attribute_not_exists(pk)",
    )
    return Order.model_validate(
        {**json.loads(order.model_dump_json()), "order_id": order_id, "version": 1, "received_at": at}
    )


def _client_error(code: str, operation: str, status: int = 400, **extra) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"injected {code}"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        }
        | extra,
        operation,
    )


class _Run:
    """One schedule: its table, order, return, provider, clock and fault bookkeeping."""

    def __init__(
        self,
        harness: Harness,
        schedule: FaultSchedule,
        *,
        index: int,
        provider_factory: Callable[..., FakeProvider],
        store_factory: Callable[[object, str], RefundsTable],
    ) -> None:
        self.h = harness
        self.schedule = schedule
        self.table = f"refund-faults-{index}"
        self.order_id = f"ord_f{index}"
        self.clock = START
        self.active = False
        self.depth = 0
        self.counters: Counter = Counter()
        self.plan = {(f.point, f.nth): f.kind for f in schedule.faults}
        self.fired: Counter = Counter()
        self.errors: list[str] = []
        self.rng = random.Random(schedule.seed)
        self.delivered: dict[str, int] = {}  # key -> latest webhook seq delivered
        self.delivered_seqs: set[int] = set()
        self.policy = _policy(schedule.split_rule)
        self.store = store_factory(harness.client, self.table)
        self.provider_factory = provider_factory
        self.provider: FakeProvider | None = None
        self.table_created = False
        self.final: ReturnRecord | None = None  # the return as the checks saw it

    # -- set-up --

    def setup(self) -> None:
        s = self.schedule
        self.h.client.create_table(**_table_kwargs(self.table))
        self.table_created = True
        lines = [
            {
                "line_id": f"L{i + 1}",
                "sku": f"SKU-{i + 1}",
                "title": f"Item {i + 1}",
                "quantity": spec.quantity,
                "unit_price": spec.unit_price,
                "discount": spec.discount,
                "tax": spec.tax,
                "category": spec.category,
            }
            for i, spec in enumerate(s.lines)
        ]
        draft = OrderIn.model_validate(
            {
                "order_number": f"#{self.order_id}",
                "placed_at": "2026-11-02T10:15:00Z",
                "currency": CURRENCY,
                "customer": {
                    "email": "shopper@example.com",
                    "address": {
                        "line1": "1 Main St",
                        "city": "Columbus",
                        "postal_code": "43004",
                        "country": "US",
                    },
                },
                "lines": lines,
                "order_discount": s.order_discount,
                "shipping": s.shipping,
                "shipments": [
                    {
                        "carrier": "USPS",
                        "tracking_number": "9400111899223197",
                        "shipped_at": "2026-11-03T16:00:00Z",
                        "delivered_at": "2026-11-06T12:30:00Z",
                    }
                ],
            }
        )
        shares = allocate(draft.total, list(s.payment_weights))
        payments = [
            {
                "payment_id": f"P{i + 1}",
                "provider": "stripe" if i % 2 == 0 else "ledger",
                "reference": f"pi_{self.order_id}_{i + 1}",
                "captured": max(1, share + delta),
            }
            for i, (share, delta) in enumerate(zip(shares, s.capture_delta, strict=True))
        ]
        order_in = OrderIn.model_validate({**draft.model_dump(mode="json"), "payments": payments})
        order = _put_order(self.h.client, self.table, self.order_id, order_in, now=self.clock)
        allowed = {
            line.line_id: set(line.allowed_resolutions)
            for line in eligibility(order, reserved={}, policy=self.policy, now=self.clock).lines
        }
        request = ReturnRequest.model_validate(
            {
                "lines": [
                    {
                        "line_id": f"L{i + 1}",
                        "quantity": spec.returned,
                        "reason": spec.reason,
                        "resolution": spec.resolution
                        if spec.resolution in allowed[f"L{i + 1}"]
                        else "refund",
                    }
                    for i, spec in enumerate(s.lines)
                ]
            }
        )
        self.rma = return_rules.new_rma()
        change = return_rules.create_return(
            order,
            request,
            rma=self.rma,
            reserved={},
            policy=self.policy,
            customer_returns_90_days=0,
            filed_by=Actor.OPS,  # approved at once, whatever the order's value
            actor_id="fault-suite",
            now=self.clock,
        )
        ReturnsTable(self.h.client, self.table).create_return(
            change.record, change.events, reserved_before={}
        )
        self.order: Order = order
        self.created: ReturnRecord = change.record
        self.provider = self.provider_factory(
            {p.reference: p.captured for p in order.payments},
            instant={p.reference: flag for p, flag in zip(order.payments, s.instant, strict=True)},
            clock=lambda: self.clock,
            faults=self.take,
            note=self.note,
            concurrent=self.concurrent,
        )
        self.providers = Providers(mode="ledger", ledger=self.provider)

    # -- fault bookkeeping --

    def take(self, point: str) -> str | None:
        if not self.active:
            return None
        nth = self.counters[point]
        self.counters[point] += 1
        kind = self.plan.get((point, nth))
        if kind in CONCURRENT_KINDS and self.depth > 0:
            return None  # the racing worker does not start a race of its own
        return kind

    def note(self, kind: str) -> None:
        self.fired[kind] += 1

    def concurrent(self, kind: str) -> None:
        """A second worker for the same return, run to completion right now."""
        self.depth += 1
        try:
            if kind == "concurrent_webhooks":
                self.deliver(shuffle=True, duplicate=0.3, label="concurrent webhooks")
            else:
                self.invoke("concurrent process", self.process)
        finally:
            self.depth -= 1

    def ddb_before(self, operation: str, params: dict, context: dict) -> None:
        point = _DDB_POINTS.get(operation)
        kind = self.take(point) if point else None
        if kind is None:
            return
        self.note(kind)
        if kind in AFTER_COMMIT_KINDS:
            context["homeward_fault"] = kind
        elif kind in ("ddb_throttle_read", "ddb_throttle_write"):
            raise _client_error("ProvisionedThroughputExceededException", operation)
        elif kind == "ddb_internal_error":
            raise _client_error("InternalServerError", operation, status=500)
        elif kind == "ddb_txn_conflict":
            # `params` is the serialized request: the JSON body holds the transaction's items.
            items = json.loads(params["body"])["TransactItems"]
            reasons = [{"Code": "TransactionConflict"}] + [{"Code": "None"}] * (len(items) - 1)
            raise _client_error("TransactionCanceledException", operation, CancellationReasons=reasons)
        elif kind in ("crash_at_read", "crash_before_write"):
            raise Crash(f"killed before {operation}")
        elif kind in CONCURRENT_KINDS:
            self.concurrent(kind)

    def ddb_after(self, operation: str, context: dict) -> None:
        kind = context.pop("homeward_fault", None)
        if kind == "lost_ack":
            raise ReadTimeoutError(endpoint_url=f"https://dynamodb.{REGION}.amazonaws.com/")
        if kind == "crash_after_write":
            raise Crash(f"killed after {operation}")

    # -- what Lambda, SQS and the provider do --

    def invoke(self, label: str, work: Callable[[], object]) -> bool:
        """One Lambda invocation: True if it completed. DependencyFailed and crashes are what
        the caller retries; any other domain error is an anomaly (the refund code promises
        only DependencyFailed)."""
        try:
            work()
            return True
        except DependencyFailed:
            return False
        except Crash:
            return False
        except HomewardError as exc:
            self.errors.append(f"{label}: unexpected {type(exc).__name__}: {exc.message} {exc.details}")
            return False

    def process(self) -> None:
        refund_service.process(
            self.rma, store=self.store, providers=self.providers, policy=self.policy, now=self.clock
        )

    def sweep(self) -> None:
        refund_service.sweep(
            store=self.store,
            providers=self.providers,
            policy=self.policy,
            now=self.clock,
            quiet_for=timedelta(0),
        )

    def deliver(self, *, shuffle: bool, duplicate: float, label: str = "webhook") -> None:
        """Deliver the queued webhooks; the ones that failed stay queued (the provider retries)."""
        batch, self.provider.webhooks = self.provider.webhooks, []
        if shuffle:
            self.rng.shuffle(batch)
        order: list[Webhook] = []
        for hook in batch:
            order.append(hook)
            if duplicate and self.rng.random() < duplicate:
                order.append(hook)
        failed: list[Webhook] = []
        for hook in order:
            if hook.seq in self.delivered_seqs:
                self.note("webhook_duplicate")
            if self.delivered.get(hook.key, 0) > hook.seq:
                self.note("webhook_out_of_order")
            outcome: list[str] = []

            def apply(hook=hook, outcome=outcome) -> None:
                outcome.append(
                    refund_service.apply_provider_update(
                        hook.rma, hook.key, hook.report, store=self.store, policy=self.policy, now=self.clock
                    )
                )

            if self.invoke(label, apply):
                self.delivered_seqs.add(hook.seq)
                self.delivered[hook.key] = max(self.delivered.get(hook.key, 0), hook.seq)
                if outcome and outcome[0] == "unknown":
                    self.errors.append(f"{label}: webhook for our refund {hook.key} answered 'unknown'")
            elif hook not in failed:
                failed.append(hook)
        self.provider.webhooks = failed + self.provider.webhooks

    def settle(self) -> None:
        """The provider's settlement run: pending refunds succeed, unless a fault declines
        them or fails a succeeded one late."""
        kind = self.take("settle")
        if kind == "late_failure" and self.provider.fail_late() is not None:
            self.note(kind)
        declined = kind == "refund_declined"
        changed = self.provider.settle(decline=declined)
        if changed and declined:
            self.note(kind)
        elif changed:
            self.fired["pending_then_settled"] += changed

    def step(self, name: str, first: bool) -> None:
        self.clock += timedelta(minutes=1)
        if name == "process":
            if not first:
                self.note("duplicate_trigger")
            self.invoke("process", self.process)
        elif name == "sweep":
            self.invoke("sweep", self.sweep)
        elif name == "webhooks":
            self.deliver(shuffle=True, duplicate=0.4)
        elif name == "settle":
            self.settle()
        elif name == "tick_hour":
            self.clock += timedelta(hours=1)
        elif name == "clock_jump":
            self.clock += KEY_TTL + timedelta(hours=1)
        else:
            raise ValueError(f"unknown step {name!r}")

    # -- phases --

    def faulty_phase(self) -> None:
        self.active = True
        try:
            for index, name in enumerate(self.schedule.steps):
                self.step(name, first=index == 0)
        finally:
            self.active = False

    def recovery_phase(self) -> None:
        """No faults: drive until quiet, retrying failed refunds once."""
        if not self.schedule.deliver_late_webhooks:
            # Lost, failures included: the sweep must reconcile without them (open movements are
            # read back at once, succeeded ones once more after LATE_FAILURE_RECHECK).
            self.provider.webhooks = []
        retried = False
        rechecked = False
        for _ in range(10):
            self.clock += timedelta(minutes=1)
            self.invoke("recovery process", self.process)
            self.fired["pending_then_settled"] += self.provider.settle()
            self.clock += timedelta(minutes=1)
            self.invoke("recovery sweep", self.sweep)
            self.deliver(shuffle=False, duplicate=0, label="recovery webhook")
            record = self.store.get_return(self.rma)
            state = record.refund if record else None
            if state is None:
                continue
            retried_seqs = {m.retry_of for m in state.movements if m.retry_of is not None}
            failed = [
                m for m in state.movements if m.status in ("failed", "canceled") and m.seq not in retried_seqs
            ]
            if failed and not retried:
                retried = True
                self.clock += timedelta(minutes=1)
                self.invoke(
                    "retry_failed",
                    lambda: refund_service.retry_failed(
                        self.rma,
                        as_store_credit=self.schedule.retry_as_store_credit,
                        note="fault suite",
                        actor_id="ops-fault-suite",
                        store=self.store,
                        now=self.clock,
                    ),
                )
                continue
            still_open = any(m.status in OPEN_MOVEMENT for m in state.movements)
            if (
                not still_open
                and not self.provider.webhooks
                and not any(r.status == "pending" for r in self.provider.refunds)
            ):
                if rechecked:
                    return
                # Days later: the sweep reads every succeeded refund back once (late failures),
                # and ops may retry what it found failed.
                rechecked = True
                retried = False
                self.clock += LATE_FAILURE_RECHECK + timedelta(hours=1)
                self.invoke("late recheck sweep", self.sweep)

    # -- invariants --

    def credits_in_table(self) -> list[dict]:
        items: list[dict] = []
        kwargs = {
            "TableName": self.table,
            "FilterExpression": "entity = :e",
            "ExpressionAttributeValues": {":e": {"S": "store_credit"}},
        }
        while True:
            page = self.h.client.scan(**kwargs)
            items += page.get("Items", [])
            if "LastEvaluatedKey" not in page:
                return items
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def check(self) -> list[str]:
        out = list(self.errors)
        record = self.store.get_return(self.rma)
        loaded = self.store.order_and_ledger(self.order_id)
        if record is None or loaded is None:
            return [*out, "the return or its order disappeared"]
        order, ledger = loaded
        self.final = record
        breakdown = final_amount(
            self.created, self.policy, RefundRules.from_policy(self.policy), inspected=False, order=self.order
        )
        captured_total = sum(p.captured for p in self.order.payments)
        expected = min(breakdown.refund_total, captured_total)
        if breakdown.refund_total != self.created.preview.refund_total:
            out.append(
                f"final amount {breakdown.refund_total} differs from the preview "
                f"{self.created.preview.refund_total} although every unit was accepted"
            )
        state = record.refund
        if state is None or state.trigger is None:
            return [*out, f"the refund was never planned (money_status {record.money_status})"]
        if state.amounts is not None and (
            state.amounts.refund_total != breakdown.refund_total
            or state.amounts.capped_by != breakdown.refund_total - expected
        ):
            out.append(
                f"planned refund_total {state.amounts.refund_total} capped_by {state.amounts.capped_by}, "
                f"expected {breakdown.refund_total} capped_by {breakdown.refund_total - expected}"
            )
        refund_moves = [m for m in state.movements if m.kind == "refund"]
        credit_moves = [m for m in state.movements if m.kind == "store_credit"]
        retried_seqs = {m.retry_of for m in state.movements if m.retry_of is not None}
        by_key = {m.idempotency_key: m for m in refund_moves}
        ours = [r for r in self.provider.refunds if r.rma == self.rma]
        per_key = Counter(r.key for r in ours)
        for key, count in sorted(per_key.items()):
            if count > 1:
                out.append(f"the provider made {count} refunds for idempotency key {key}")
        for refund in ours:
            if refund.key not in by_key:
                out.append(
                    f"provider refund {refund.refund_id} ({refund.key}) is not a movement of the return"
                )
            if refund.status not in ("succeeded", "failed", "canceled"):
                out.append(f"provider refund {refund.refund_id} is still {refund.status}")
        per_intent = Counter(
            (by_key[r.key].intent, by_key[r.key].payment_id) for r in ours if r.key in by_key
        )
        for (intent, payment_id), count in sorted(per_intent.items()):
            if count > 1:
                out.append(f"the provider made {count} refunds for intent {intent} on payment {payment_id}")
        for move in refund_moves:
            made = self.provider.refunds_for_key(move.idempotency_key)
            label = f"movement {move.seq} ({move.amount} to {move.payment_id}, {move.intent})"
            if move.status in OPEN_MOVEMENT:
                out.append(f"{label} is still {move.status}")
            elif move.status == "succeeded":
                if len(made) != 1 or made[0].status != "succeeded" or made[0].amount != move.amount:
                    out.append(
                        f"{label} succeeded but the provider has {[(r.amount, r.status) for r in made]}"
                    )
                elif move.provider_refund_id != made[0].refund_id:
                    out.append(
                        f"{label} names {move.provider_refund_id}, the provider made {made[0].refund_id}"
                    )
            else:
                if any(r.status == "succeeded" for r in made):
                    out.append(f"{label} is {move.status} but the provider refunded it")
                if move.seq not in retried_seqs:
                    out.append(f"{label} failed ({move.failure_reason}) and was never retried")
        provider_total = sum(r.amount for r in ours if r.status == "succeeded")
        moved = sum(m.amount for m in refund_moves if m.status == "succeeded")
        retry_credit = sum(m.amount for m in credit_moves if m.retry_of is not None)
        if provider_total + retry_credit != expected:
            out.append(
                f"refunded {provider_total} (+{retry_credit} retried as store credit), expected {expected} "
                f"(refund_total {breakdown.refund_total}, captured {captured_total})"
            )
        if retry_credit and not self.schedule.retry_as_store_credit:
            out.append(f"{retry_credit} became store credit although ops retried to the payment")
        if moved != provider_total:
            out.append(
                f"the return's succeeded movements sum to {moved}, the provider refunded {provider_total}"
            )
        for payment in self.order.payments:
            paid_back = self.provider.refunded(payment.reference)
            if (
                self.provider.refunded(payment.reference, statuses=("pending", "succeeded"))
                > payment.captured
            ):
                out.append(f"payment {payment.payment_id} refunded above its capture {payment.captured}")
            balance = ledger.get(payment.payment_id)
            if balance is None:
                if paid_back or any(m.payment_id == payment.payment_id for m in refund_moves):
                    out.append(f"payment {payment.payment_id} has refunds but no ledger item")
                continue
            if balance.captured != payment.captured:
                out.append(f"ledger {payment.payment_id}: captured {balance.captured} != {payment.captured}")
            if balance.available + balance.reserved + balance.refunded != balance.captured:
                out.append(f"ledger {payment.payment_id} does not add up: {balance}")
            if balance.reserved != 0 or balance.available < 0:
                out.append(f"ledger {payment.payment_id} left reserved/negative: {balance}")
            if balance.refunded != paid_back:
                out.append(
                    f"ledger {payment.payment_id}: refunded {balance.refunded}, the provider {paid_back}"
                )
        for key, code in self.provider.rejections:
            out.append(f"the provider refused {key}: {code}")
        wanted = "refunded" if provider_total else "credited" if credit_moves else "none"
        if record.money_status != wanted:
            out.append(f"money_status {record.money_status}, expected {wanted}")
        trigger_credits = [m for m in credit_moves if m.intent == "trigger"]
        if breakdown.store_credit_total:
            if [m.amount for m in trigger_credits] != [breakdown.store_credit_total]:
                out.append(
                    f"store credit {[m.amount for m in trigger_credits]}, expected one of "
                    f"{breakdown.store_credit_total}"
                )
        elif trigger_credits:
            out.append(f"store credit {[m.amount for m in trigger_credits]} issued, none expected")
        stored = {
            i["code"]["S"]: (int(i["issued"]["N"]), int(i["balance"]["N"]))
            for i in self.credits_in_table()
            if i["rma"]["S"] == self.rma
        }
        issued = {m.credit_code: (m.amount, m.amount) for m in credit_moves}
        if stored != issued:
            out.append(f"store credits in the table {stored} != the return's {issued}")
        return out


# moto serializes every response by walking the botocore output shape, which costs more than
# the operation itself. For these operations the result moto hands to its serializer is already
# the DynamoDB JSON wire document (checked: identical bodies for every response in this suite),
# so while a harness runs they are dumped directly. Errors still take moto's own path.
_PLAIN_JSON_OPERATIONS = frozenset({"GetItem", "PutItem", "Query", "Scan", "TransactWriteItems"})
_fast_results_users = 0
_moto_execute_result = None


def _fast_results(on: bool) -> None:
    global _fast_results_users, _moto_execute_result
    from moto.core.responses import ActionResult

    if on:
        _fast_results_users += 1
        if _fast_results_users > 1:
            return
        original = _moto_execute_result = ActionResult.execute_result

        def execute_result(self, context):
            if (
                context.service_model.service_name == "dynamodb"
                and context.operation_model.name in _PLAIN_JSON_OPERATIONS
                and isinstance(self.result, dict)
            ):
                return 200, {"Content-Type": "application/x-amz-json-1.0"}, json.dumps(self.result)
            return original(self, context)

        ActionResult.execute_result = execute_result
    else:
        _fast_results_users -= 1
        if _fast_results_users == 0 and _moto_execute_result is not None:
            ActionResult.execute_result = _moto_execute_result
            _moto_execute_result = None


class Harness:
    """moto, one DynamoDB client with the fault hooks, and `run(schedule)` for one schedule at
    a time. `start_moto`: None (default) starts `mock_aws` unless one is running already, True
    always enters one (nested, it only counts), False requires a running one."""

    def __init__(self, *, start_moto: bool | None = None) -> None:
        self.start_moto = start_moto
        self.current: _Run | None = None
        self.schedules = 0
        self._mock = None

    def __enter__(self) -> Harness:
        from moto import mock_aws
        from moto.core.models import botocore_stubber

        from infra.local import moto_patches

        moto_patches.apply()
        running = botocore_stubber.enabled
        if self.start_moto is False and not running:
            raise RuntimeError("start_moto=False but no moto mock is running: this would reach AWS")
        if self.start_moto or (self.start_moto is None and not running):
            self._mock = mock_aws()
            self._mock.start()
        _fast_results(True)
        self.client = boto3.client(
            "dynamodb", region_name=REGION, config=Config(signature_version=UNSIGNED)
        )  # moto needs no signature: skipping SigV4 saves ~0.2 ms a call
        self.client.meta.events.register("before-call.dynamodb", self._before)
        self.client.meta.events.register("after-call.dynamodb", self._after)
        return self

    def __exit__(self, *exc) -> None:
        _fast_results(False)
        if self._mock is not None:
            self._mock.stop()
            self._mock = None

    def _before(self, model, params, context, **kwargs) -> None:
        if self.current is not None:
            self.current.ddb_before(model.name, params, context)

    def _after(self, model, context, **kwargs) -> None:
        if self.current is not None:
            self.current.ddb_after(model.name, context)

    def run(
        self,
        schedule: FaultSchedule,
        *,
        stats: Counter | None = None,
        provider_factory: Callable[..., FakeProvider] = FakeProvider,
        store_factory: Callable[[object, str], RefundsTable] = RefundsTable,
        keep: bool = False,
    ) -> list[str]:
        self.schedules += 1
        run = _Run(
            self,
            schedule,
            index=next(_TABLE_NUMBERS),
            provider_factory=provider_factory,
            store_factory=store_factory,
        )
        self.last = run
        try:
            run.setup()
            self.current = run
            run.faulty_phase()
            run.recovery_phase()
            anomalies = run.check()
        finally:
            self.current = None
            if stats is not None:
                stats.update(run.fired)
                stats["_provider_refunds"] += len(run.provider.refunds) if run.provider else 0
            if run.table_created and not keep:
                self.client.delete_table(TableName=run.table)
        return anomalies


def run_schedule(
    schedule: FaultSchedule,
    *,
    harness: Harness | None = None,
    stats: Counter | None = None,
    provider_factory: Callable[..., FakeProvider] = FakeProvider,
    store_factory: Callable[[object, str], RefundsTable] = RefundsTable,
) -> list[str]:
    """Run one schedule (faulty phase, recovery, invariants); the anomalies found, [] if none.

    Without `harness`, a temporary one (moto included) is set up for this schedule alone."""
    with contextlib.ExitStack() as stack:
        if harness is None:
            harness = stack.enter_context(Harness())
        return harness.run(
            schedule, stats=stats, provider_factory=provider_factory, store_factory=store_factory
        )


def run(
    n: int,
    seed: int | None = None,
    *,
    workers: int | None = None,
    start_moto: bool | None = None,
    examples: int = 5,
) -> dict:
    """The benchmark: n schedules drawn by `fault_schedules()`; anomalies found must be 0.

    `seed` makes the run reproducible (worker i uses seed + i). `workers` processes share the
    n schedules (default: one per CPU, at most 4; each starts its own moto); with 1 they run
    in this process, `start_moto` as for `Harness`."""
    started = time.perf_counter()
    workers = max(1, min(n, workers or min(os.cpu_count() or 1, 4)))
    if workers == 1:
        part = _run_part(n, seed, start_moto, examples)
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        shares = [n // workers + (1 if i < n % workers else 0) for i in range(workers)]
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            futures = [
                pool.submit(_run_part, share, None if seed is None else seed + i, None, examples)
                for i, share in enumerate(shares)
            ]
            parts = [f.result() for f in futures]
        part = {
            "schedules": sum(p["schedules"] for p in parts),
            "anomalies": sum(p["anomalies"] for p in parts),
            "anomalous_schedules": sum(p["anomalous_schedules"] for p in parts),
            "examples": [e for p in parts for e in p["examples"]][:examples],
            "faults": sum((Counter(p["faults"]) for p in parts), Counter()),
            "provider_refunds": sum(p["provider_refunds"] for p in parts),
        }
    seconds = time.perf_counter() - started
    faults = part.pop("faults")
    return {
        **part,
        "faults_injected": {kind: faults.get(kind, 0) for kind in FAULT_KINDS},
        "workers": workers,
        "seconds": round(seconds, 2),
        "ms_per_schedule": round(1000 * seconds / max(part["schedules"], 1), 1),  # wall clock
    }


def in_fresh_thread(work: Callable[[], T]) -> T:
    """`work()` on a new thread (its exception re-raised here).

    CPython 3.11 keeps frames in 16 KiB chunks and frees a chunk whenever the stack shrinks
    below it. Called from deep in a caller such as pytest, the suite's hot calls (boto3 into
    moto) cross a chunk boundary thousands of times a second: an mmap/munmap pair each time,
    a third more wall time. A new thread starts with an empty frame stack."""
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the calling thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name="refund-faults")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _run_part(n: int, seed: int | None, start_moto: bool | None, examples: int) -> dict:
    """n schedules in this process (a worker of `run`), on a fresh thread."""
    return in_fresh_thread(lambda: _run_schedules(n, seed, start_moto, examples))


def _run_schedules(n: int, seed: int | None, start_moto: bool | None, examples: int) -> dict:
    stats: Counter = Counter()
    found: list[str] = []
    totals = Counter()
    with Harness(start_moto=start_moto) as harness:

        @settings(
            max_examples=n,
            database=None,
            deadline=None,
            derandomize=seed is not None,
            suppress_health_check=list(HealthCheck),
        )
        @given(fault_schedules())
        def one(schedule: FaultSchedule) -> None:
            totals["schedules"] += 1
            try:
                anomalies = harness.run(schedule, stats=stats)
            except Exception as exc:  # noqa: BLE001 - the refund code crashing is an anomaly too
                anomalies = [f"{type(exc).__name__}: {exc}"]
            if anomalies:
                totals["anomalies"] += len(anomalies)
                totals["anomalous_schedules"] += 1
                if len(found) < examples:
                    found.append(f"{schedule.describe()} -> {anomalies}")

        if seed is not None:
            one = hypothesis_seed(seed)(one)
        one()
    provider_refunds = stats.pop("_provider_refunds", 0)
    return {
        "schedules": totals["schedules"],
        "anomalies": totals["anomalies"],
        "anomalous_schedules": totals["anomalous_schedules"],
        "examples": found,
        "faults": dict(stats),
        "provider_refunds": provider_refunds,
    }


def render(result: dict) -> str:
    """The bench's lines for a `run` result: schedules run, anomalies found (must be 0)."""
    fired = result["faults_injected"]
    lines = [
        f"schedules run        {result['schedules']}",
        f"anomalies found      {result['anomalies']}  (must be 0)",
        f"provider refunds     {result['provider_refunds']}",
        f"time                 {result['seconds']} s on {result['workers']} worker process(es), "
        f"{result['ms_per_schedule']} ms per schedule (wall clock)",
        "faults injected      " + ", ".join(f"{kind} {count}" for kind, count in fired.items()),
    ]
    lines += [f"  anomaly: {example}" for example in result["examples"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m infra.bench.refund_faults", description=__doc__.split("\n")[0]
    )
    parser.add_argument("-n", type=int, default=1000, help="schedules (default %(default)s)")
    parser.add_argument("--seed", type=int, default=None, help="derandomize with this seed")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs, at most 4)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    result = run(args.n, args.seed, workers=args.workers)
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 1 if result["anomalies"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
