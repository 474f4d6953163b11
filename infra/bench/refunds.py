"""Data and events for the refund operations of the bench (RefundsFunction, the sweep, Stripe
webhooks, ops refunds, store credit).

Used by infra/bench/sections/aws_calls.py (`refund_operations`), tests/infra/test_template.py
(through it) and infra/bench/sections/refunds.py.

The bench stack refunds through the ledger provider (infra/bench/stack.py `BENCH_PARAMETERS`:
RefundProviderMode `ledger`, LedgerSettleSeconds 1). `seed_refunds(stack, tag, wanted)` stores
one order per return (each with its own shopper and payment reference), starts the returns
through the portal (`infra.bench.returns.seed`) and takes each on to the state its operation
needs, each state read back and checked:

* `due`: delivered, its refund not planned yet (the policy refunds at delivery);
* `handled`: delivered, and its `return.delivered` message already handled by the real
  RefundsFunction (so the same message again is a Powertools idempotency replay);
* `not_due`: approved only: the policy waits for delivery;
* `sent`: delivered and refunded by the real RefundsFunction (a `refund.requested` for it
  finds nothing to send);
* `sweep`: a pending ledger refund whose settle time has passed, untouched for `SWEEP_AGE`
  (two days): the whole return is made with the clock set back - the domain's own code
  (`return_service`, `refund_service`, a `LedgerProvider` on that clock), as the label
  expiry job's aged labels are - so the sweep, run with `SWEEP_ENV` (quiet for a day), sees
  it and nothing the other operations leave open;
* `stripe`: a pending refund of a Stripe payment, made in live mode against the local Stripe
  stub (infra/stripe_stub.py), with the `refund.updated` event body (status `succeeded`)
  Stripe would send for it. The webhook path never calls a provider, so ledger mode is
  irrelevant to it; the movement carries the stub's `re_...` id and the metadata
  (`homeward_rma`, `homeward_key`) PaymentWebhooksFunction matches on;
* `manual`: approved, for ops refunds by hand;
* `requested`: approved, with a refund by hand made through the real OpsApiFunction and still
  `reserved` (RefundsFunction sends it on its `refund.requested`);
* `failed`: delivered, its refund declined (a payment reference starting `fail_`, settled at
  once) and the money state `failed`: ops retry;
* `credit`: approved, with store credit given by hand through the real OpsApiFunction (its
  Powertools record makes the same request a replay), a code with a balance, and one
  redemption of it already applied (its Idempotency-Key replays).

Carrier progress (first scan, delivery) is the domain's `return_service.act` as the carrier,
in this process, as tests/integration/test_refunds_flow.py does: the bench has no stream
poller to carry a return parcel's webhook to the return.
"""

from __future__ import annotations

import copy
import json
import sys
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from infra.bench.returns import TOO_SMALL, SeedReturn, _route_event, order_for, portal_event, seed
from infra.bench.stack import FUNCTIONS_DIR, BenchStack, function_by_module, load_event, op, run_calls

REFUNDS = "homeward.handlers.refunds"
REFUND_SWEEP = "homeward.handlers.refund_sweep"
PAYMENT_WEBHOOKS = "homeward.handlers.payment_webhooks"
OPS_API = "homeward.handlers.ops_api"

# The sweep leaves movements touched within REFUND_SWEEP_QUIET_SECONDS to their worker. Run
# with a day, it takes only the seeded `sweep` refunds (two days untouched): never what other
# operations (or bench sections) sharing the table leave open minutes before.
SWEEP_AGE = timedelta(days=2)
SWEEP_ENV = {"REFUND_SWEEP_QUIET_SECONDS": str(24 * 3600)}
# The failing reference of the ledger provider (providers/ledger/payments.py FAILING_REFERENCE_PREFIX).
FAILING_PREFIX = "fail_"
# Stripe signs with its own clock; the bench builds every event before it runs the first one, and
# a Stripe-Signature is good 5 minutes either side of its timestamp. Stamped this far ahead, a
# signature stays good for 8 minutes after it was made instead of 5.
SIGNATURE_AHEAD_SECONDS = 180
MANUAL_REFUND = {"amount": 500, "currency": "USD", "kind": "refund", "reason": "Goodwill: late delivery"}
MANUAL_CREDIT = {"amount": 700, "currency": "USD", "kind": "store_credit", "reason": "Sorry for the wait"}
REDEMPTION = {"amount": 100, "currency": "USD"}
PURPOSES = (
    "due",
    "handled",
    "not_due",
    "sent",
    "sweep",
    "stripe",
    "manual",
    "requested",
    "failed",
    "credit",
    "exchange",
)
# An exchange line (the cold-start bench settles its replacement order's price difference).
EXCHANGE = {**TOO_SMALL, "resolution": "exchange", "exchange_variant": "M"}


class Seeded(NamedTuple):
    order_id: str
    rma: str


@dataclass
class StripePending:
    """A pending Stripe refund of a return, and the event Stripe sends once it succeeded."""

    ret: Seeded
    refund_id: str
    body: bytes


@dataclass
class RefundSeed:
    """What `seed_refunds` stored, per purpose (see the module docstring); `day`: the UTC date
    the movements were made (an export range that holds them whenever the bench runs)."""

    tag: str
    day: str = ""
    returns: dict[str, list[Seeded]] = field(default_factory=dict)
    handled: list[dict] = field(default_factory=list)  # the RefundsFunction events already handled
    stripe: list[StripePending] = field(default_factory=list)
    credit_code: str = ""
    credit_balance: int = 0
    manual_credit_key: str = ""  # Idempotency-Key of the store credit given by hand
    redemption_key: str = ""  # Idempotency-Key of the redemption already applied

    def __getitem__(self, purpose: str) -> list[Seeded]:
        return self.returns[purpose]


# ---- events -----------------------------------------------------------------------------------


def refund_message(ret: Seeded, event_type: str, seq: int) -> dict:
    """A RefundRequestsQueue record for RefundsFunction, as SNS delivers a domain event raw:
    the handler reads the message attributes (`type`, `rma`, `event_id` = `<rma>:<seq>`)."""
    event = load_event("refunds.return_delivered")
    (record,) = event["Records"]
    record["messageId"] = str(uuid.uuid4())
    attributes = record["messageAttributes"]
    attributes["type"]["stringValue"] = event_type
    attributes["rma"]["stringValue"] = ret.rma
    attributes["order_id"]["stringValue"] = ret.order_id
    attributes["event_id"]["stringValue"] = f"{ret.rma}:{seq:06d}"
    attributes["status"]["stringValue"] = event_type.split(".", 1)[1]
    body = json.loads(record["body"])
    body.update(seq=seq, type=event_type)
    record["body"] = json.dumps(body)
    return event


def stripe_webhook(body: bytes, *, secret: str | None = None) -> dict:
    """`POST /webhooks/payments/stripe` carrying `body`, signed (see SIGNATURE_AHEAD_SECONDS)."""
    from infra.local.provision import LOCAL_STRIPE_WEBHOOK_SECRET
    from infra.stripe_stub import StripeStub

    event = load_event("payment_webhooks.stripe_refund")
    timestamp = int(datetime.now(UTC).timestamp()) + SIGNATURE_AHEAD_SECONDS
    signature = StripeStub.sign_event(body, secret or LOCAL_STRIPE_WEBHOOK_SECRET, timestamp)
    event["headers"]["stripe-signature"] = signature
    event["body"] = body.decode()
    return event


def ops_refund_event(stack: BenchStack, rma: str, body: dict, key: str) -> dict:
    sample = stack.fill_placeholders(load_event("ops_api.refund_by_hand"))
    return _route_event(
        sample, "POST /ops/returns/{rma}/refunds", {"rma": rma}, body=body, headers={"idempotency-key": key}
    )


def ops_exchange_event(stack: BenchStack, rma: str, replacement_value: int) -> dict:
    sample = stack.fill_placeholders(load_event("ops_api.settle_exchange"))
    body = {"replacement_order_id": f"{rma}-x", "replacement_value": replacement_value, "currency": "USD"}
    return _route_event(sample, "POST /ops/returns/{rma}/exchange", {"rma": rma}, body=body)


def ops_retry_event(stack: BenchStack, rma: str, body: dict | None = None) -> dict:
    sample = stack.fill_placeholders(load_event("ops_api.retry_refunds"))
    return _route_event(sample, "POST /ops/returns/{rma}/refunds/retry", {"rma": rma}, body=body or {})


def ops_export_event(stack: BenchStack, since: str, until: str) -> dict:
    sample = stack.fill_placeholders(load_event("ops_api.export_refunds"))
    return _route_event(sample, "GET /ops/refunds/export", {}, query={"from": since, "to": until})


def credit_event(stack: BenchStack, code: str) -> dict:
    sample = stack.fill_placeholders(load_event("merchant_api.get_credit"))
    return _route_event(sample, "GET /credits/{code}", {"code": code})


def redeem_event(stack: BenchStack, code: str, key: str, order_reference: str) -> dict:
    sample = stack.fill_placeholders(load_event("merchant_api.redeem_credit"))
    return _route_event(
        sample,
        "POST /credits/{code}/redemptions",
        {"code": code},
        body={**REDEMPTION, "order_reference": order_reference},
        headers={"idempotency-key": key},
    )


def portal_return_event(stack: BenchStack, ret: Seeded) -> dict:
    return portal_event(stack, "GET /portal/orders/{orderId}/returns/{rma}", ret.order_id, rma=ret.rma)


def sweep_event() -> dict:
    return load_event("refund_sweep.scheduled")


# ---- the domain, in this process ------------------------------------------------------------------


class _Domain:
    """The domain's code against the bench table (imported here, never in a measured child)."""

    def __init__(self, stack: BenchStack) -> None:
        if str(FUNCTIONS_DIR) not in sys.path:
            sys.path.insert(0, str(FUNCTIONS_DIR))
        from homeward.adapters.dynamodb.refunds import RefundsTable
        from homeward.adapters.dynamodb.returns import ReturnsTable
        from homeward.adapters.policy import bundled_policy

        self.ddb = stack.client("dynamodb")
        self.table = stack.table_name
        self.returns = ReturnsTable(self.ddb, self.table)
        self.refunds = RefundsTable(self.ddb, self.table)
        self.policy = bundled_policy()

    def start(self, order_id: str, now: datetime) -> str:
        from homeward.domain.returns import service as return_service
        from homeward.domain.returns.states import Actor
        from homeward.models.returns import ReturnRequest

        record, _, _ = return_service.start_return(
            order_id,
            ReturnRequest.model_validate({"lines": [TOO_SMALL]}),
            idempotency_key=None,
            store=self.returns,
            policy=self.policy,
            filed_by=Actor.SHOPPER,
            actor_id=None,
            now=now,
        )
        if record.status != "approved":
            raise RuntimeError(f"refund seeding: the return on {order_id} is {record.status}, not approved")
        return record.rma

    def deliver(self, rma: str, now: datetime) -> int:
        """first scan, then delivery, as the carrier; the return's version after."""
        from homeward.domain.returns import service as return_service
        from homeward.domain.returns.states import Actor

        record = None
        for action in ("first_scan", "deliver"):
            record, _ = return_service.act(
                rma, action, store=self.returns, actor=Actor.CARRIER, actor_id=None, now=now
            )
        return record.version

    def process(self, rma: str, providers, now: datetime) -> None:
        from homeward.domain.refunds import service as refund_service

        refund_service.process(rma, store=self.refunds, providers=providers, policy=self.policy, now=now)

    def ledger(self, *, settle_seconds: float, now: datetime):
        from homeward.providers.ledger.payments import LedgerProvider
        from homeward.providers.payments import Providers

        ledger = LedgerProvider(self.ddb, self.table, settle_seconds=settle_seconds, clock=lambda: now)
        return Providers(mode="ledger", ledger=ledger)

    def record(self, rma: str):
        found = self.refunds.get_return(rma)
        if found is None:
            raise RuntimeError(f"refund seeding: no return {rma}")
        return found


def _check(record, money_status: str, what: str) -> None:
    if record.money_status != money_status:
        raise RuntimeError(
            f"refund seeding ({what}): {record.rma} is {record.status} / money {record.money_status}, "
            f"expected money {money_status}"
        )


# ---- seeding ----------------------------------------------------------------------------------------


def _order(tag: str, purpose: str, n: int) -> tuple[str, dict]:
    order_id, body = order_for(tag, f"rf-{purpose.replace('_', '')}{n}")
    body = copy.deepcopy(body)
    reference = f"pi_{tag}{purpose.replace('_', '')}{n}".ljust(27, "0")
    if purpose == "failed":
        reference = FAILING_PREFIX + reference
    body["payments"][0]["reference"] = reference
    return order_id, body


def seed_refunds(stack: BenchStack, tag: str, wanted: dict[str, int] | None = None) -> RefundSeed:
    """Orders and returns in every state the refund operations need (`wanted`: how many per
    purpose; by default 2 - a cold and a warm call -, 1 for `sweep` and `credit`); see the module
    docstring."""
    defaults = {"sweep": 1, "credit": 1, "exchange": 0}
    wanted = {purpose: defaults.get(purpose, 2) for purpose in PURPOSES} | (wanted or {})
    data = RefundSeed(tag)
    now = datetime.now(UTC)
    data.day = now.date().isoformat()
    orders = {purpose: [_order(tag, purpose, n) for n in range(wanted[purpose])] for purpose in PURPOSES}

    # Orders (merchant API) and the returns started now (portal), in one child.
    now_purposes = [p for p in PURPOSES if p != "sweep"]
    specs = {
        p: [SeedReturn(order_id, [EXCHANGE if p == "exchange" else TOO_SMALL]) for order_id, _ in orders[p]]
        for p in now_purposes
    }
    seed(
        stack,
        {order_id: body for p in PURPOSES for order_id, body in orders[p]},
        [s for p in now_purposes for s in specs[p]],
    )
    data.returns = {p: [Seeded(s.order_id, s.rma) for s in specs[p]] for p in now_purposes}

    domain = _Domain(stack)
    versions = {}
    for purpose in ("due", "handled", "sent", "stripe", "failed"):
        for ret in data[purpose]:
            versions[ret.rma] = domain.deliver(ret.rma, now)

    # The real RefundsFunction refunds `handled` and `sent` (and declines `failed`: settled at
    # once); the real OpsApiFunction gives store credit and reserves refunds by hand; one child.
    refunds_fn, ops_fn = function_by_module(REFUNDS), function_by_module(OPS_API)
    data.handled = [refund_message(r, "return.delivered", versions[r.rma]) for r in data["handled"]]
    messages = data.handled + [
        refund_message(r, "return.delivered", versions[r.rma]) for r in (*data["sent"], *data["failed"])
    ]
    data.manual_credit_key = f"bench-{tag}-credit-by-hand"
    by_hand = [ops_refund_event(stack, r.rma, MANUAL_CREDIT, data.manual_credit_key) for r in data["credit"]]
    by_hand += [
        ops_refund_event(stack, r.rma, MANUAL_REFUND, f"bench-{tag}-reserved") for r in data["requested"]
    ]
    ops = [op(f"refund seed {i}", refunds_fn, m) for i, m in enumerate(messages)]
    ops += [op(f"by hand seed {i}", ops_fn, e) for i, e in enumerate(by_hand)]
    results = run_calls(stack, ops, env={"LEDGER_SETTLE_SECONDS": "0"})["ops"] if ops else []
    for result in results:
        if result["status"] not in ("ok", 202):
            raise RuntimeError(f"refund seeding: {result['label']}: {result['status']} {result['body']}")
    for ret in (*data["handled"], *data["sent"]):
        _check(domain.record(ret.rma), "refunded", "refunded by RefundsFunction")
    for ret in data["failed"]:
        _check(domain.record(ret.rma), "failed", "declined")
    for ret in data["credit"]:
        _check(domain.record(ret.rma), "credited", "store credit by hand")
    for ret in data["requested"]:
        _check(domain.record(ret.rma), "pending", "refund by hand, reserved")
    if data["credit"]:
        (movement,) = domain.record(data["credit"][0].rma).refund.movements
        data.credit_code = movement.credit_code
        data.redemption_key = f"bench-{tag}-redeemed"
        credit, applied = domain.refunds.redeem_credit(
            data.credit_code,
            amount=REDEMPTION["amount"],
            currency=REDEMPTION["currency"],
            order_reference=f"#{tag}-paid-with-credit",
            key=data.redemption_key,
            now=now,
        )
        if not applied:
            raise RuntimeError("refund seeding: the seeded redemption was not applied")
        data.credit_balance = credit.balance

    # Exchanges valued at delivery (the refund plan: `exchange.requested`, nothing to pay yet).
    for ret in data["exchange"]:
        domain.deliver(ret.rma, now)
        domain.process(ret.rma, domain.ledger(settle_seconds=0, now=now), now)
        record = domain.record(ret.rma)
        if (
            record.refund is None
            or record.refund.amounts is None
            or record.refund.amounts.exchange_value <= 0
        ):
            raise RuntimeError(f"refund seeding: exchange {ret.rma} was not valued")

    _seed_stripe(data, domain, orders["stripe"], now)
    _seed_sweep(data, domain, orders["sweep"], now - SWEEP_AGE)
    return data


def _seed_stripe(data: RefundSeed, domain: _Domain, orders: list[tuple[str, dict]], now: datetime) -> None:
    """Pending Stripe refunds (live mode against the stub) and their `refund.updated` bodies."""
    if not orders:
        return
    from homeward.providers.ledger.payments import LedgerProvider
    from homeward.providers.payments import Providers
    from homeward.providers.stripe.payments import StripeProvider

    from infra.stripe_stub import StripeStub

    with StripeStub(new_refund_status="pending") as stub:
        for _, body in orders:
            payment = body["payments"][0]
            stub.add_payment_intent(payment["reference"], payment["captured"], body["currency"].lower())
        providers = Providers(
            mode="live",
            ledger=LedgerProvider(domain.ddb, domain.table, settle_seconds=0),
            stripe=lambda: StripeProvider(stub.api_key, api_base=stub.url, max_network_retries=0),
        )
        for ret in data["stripe"]:
            domain.process(ret.rma, providers, now)
            record = domain.record(ret.rma)
            _check(record, "pending", "Stripe refund made")
            (movement,) = record.refund.movements
            if movement.provider != "stripe" or not (movement.provider_refund_id or "").startswith("re_"):
                raise RuntimeError(f"refund seeding: {ret.rma}'s refund is not a Stripe one: {movement}")
            stub.set_refund_status(movement.provider_refund_id, "succeeded")
            body = stub.event_for(movement.provider_refund_id, "refund.updated")
            data.stripe.append(StripePending(ret, movement.provider_refund_id, body))


def _seed_sweep(data: RefundSeed, domain: _Domain, orders: list[tuple[str, dict]], then: datetime) -> None:
    """Returns started, delivered and refunded `SWEEP_AGE` ago, the refund still pending in the
    return (no one read it back) while the ledger provider settled it long since."""
    data.returns["sweep"] = []
    for order_id, _ in orders:
        rma = domain.start(order_id, then)
        domain.deliver(rma, then)
        domain.process(rma, domain.ledger(settle_seconds=60, now=then), then)
        record = domain.record(rma)
        _check(record, "pending", "aged pending refund")
        data.returns["sweep"].append(Seeded(order_id, rma))


def swept_with_sweep_env(stack: BenchStack) -> set[str]:
    """The returns a sweep run with SWEEP_ENV would take now: those with a money movement open
    and untouched for its quiet time (the sweep's own query of gsi2)."""
    quiet = timedelta(seconds=int(SWEEP_ENV["REFUND_SWEEP_QUIET_SECONDS"]))
    before = (datetime.now(UTC) - quiet).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    items = stack.client("dynamodb").query(
        TableName=stack.table_name,
        IndexName="gsi2",
        KeyConditionExpression="gsi2pk = :pk AND gsi2sk < :before",
        ExpressionAttributeValues={":pk": {"S": "MONEY#open"}, ":before": {"S": before}},
    )["Items"]
    return {item["rma"]["S"] for item in items}


def check_sweep_takes_only(stack: BenchStack, seeded: list[Seeded]) -> None:
    """Fail now, with the reason, if the sweep would take anything but the seeded refunds."""
    taken = swept_with_sweep_env(stack)
    if taken != {r.rma for r in seeded}:
        raise RuntimeError(
            f"a sweep would take {sorted(taken)}, not only the seeded {sorted(r.rma for r in seeded)}: "
            "refunds left open and untouched for a day in the bench table"
        )
