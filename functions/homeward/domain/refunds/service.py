"""Refund use cases: plan a return's refund at its trigger, send it to the provider, record
what the provider says, let ops refund by hand or retry, and sweep what got stuck.

Called by RefundsFunction (domain events through SQS), RefundSweepFunction (schedule),
PaymentWebhooksFunction (Stripe) and OpsApiFunction. Storage is a port (`RefundStore`,
implemented by `adapters.dynamodb.refunds.RefundsTable`), and so are the payment providers
(`ports.ProviderLookup`, implemented by `adapters.payments.providers`); the handlers wire both.

`process(rma)` is the one path that moves money and it is idempotent: whatever ran before
(a crash after the provider accepted, a duplicate event, a concurrent worker) it plans only
what is not planned, re-sends only movements still `reserved` with their fixed key, and
records a provider's answer only if it moves the movement forward.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Protocol

from homeward.domain.refunds import outside, plans, triggers
from homeward.domain.refunds.changes import LedgerOp, MoneyChange, OutsideRecord
from homeward.domain.refunds.destinations import left_to_refund
from homeward.domain.refunds.outside import OutsideRefund
from homeward.domain.refunds.ports import (
    BY_HAND,
    FINAL_STATUSES,
    ProviderLookup,
    ProviderRefund,
    ProviderRejected,
    ProviderUnavailable,
    RefundNotReadable,
    RefundRequest,
    RefundUpdate,
)
from homeward.domain.refunds.reports import Rejection, Report, apply_report
from homeward.domain.returns.states import OPEN_MOVEMENT
from homeward.errors import Conflict, DependencyFailed, NotFound
from homeward.models.orders import Order
from homeward.models.policy import ReturnPolicy
from homeward.models.refunds import ExchangeRequest, LedgerBalance, ManualRefundRequest, MoneyMovement
from homeward.models.returns import ReturnRecord, TimelineEntry

# Re-reads after a concurrent change of the same return before giving up (the caller retries).
ATTEMPTS = 5
# Stripe forgets idempotency keys after 24 h: past this age, look the refund up before creating.
KEY_WINDOW = timedelta(hours=23)


class RefundStore(Protocol):
    def get_return(self, rma: str) -> ReturnRecord | None: ...

    def order_and_ledger(self, order_id: str) -> tuple[Order, dict[str, LedgerBalance]] | None: ...

    def save(self, change: MoneyChange) -> None: ...

    def save_return_change(
        self, record: ReturnRecord, events: list[TimelineEntry], *, expected_version: int
    ) -> None: ...

    def open_movements(self, *, updated_before: datetime, limit: int) -> list[tuple[str, int]]: ...

    def rechecks_due(self, *, now: datetime, limit: int) -> list[tuple[str, int]]: ...

    def mark_rechecked(self, rma: str, seq: int, *, now: datetime) -> None: ...


def _retryable(exc: Conflict) -> bool:
    # version_changed: the return moved meanwhile; exceeds_remaining at write time: another
    # return of the order reserved first. Both: re-read and decide again.
    return exc.details.get("reason") in ("version_changed", "exceeds_remaining")


def process(
    rma: str,
    *,
    store: RefundStore,
    providers: ProviderLookup,
    policy: ReturnPolicy,
    now: datetime,
    reconcile: bool = False,
) -> Counter:
    """Bring one return's money to where it should be; returns what happened (for metrics).

    Plans the automatic refund if its trigger has been reached, sends every `reserved`
    movement to its provider, and with `reconcile` asks the provider about pending ones.
    Raises DependencyFailed if a provider or the table was unavailable, so the caller's
    retry (SQS, the sweep) comes back; everything already done stays done.
    """
    outcome: Counter = Counter()
    record = _plan_if_due(rma, store=store, policy=policy, now=now, outcome=outcome)
    if record is None or record.refund is None:
        return outcome
    transient = False
    for movement in list(record.refund.movements):
        if not _sendable(movement):
            continue
        if movement.status != "reserved" and not reconcile:
            continue
        report = _ask_provider(record, movement, providers=providers, now=now)
        if report is None:
            transient = True
            outcome["unavailable"] += 1
            continue
        changed = record_report(rma, movement.seq, report, store=store, now=now)
        if changed is not None:
            record = changed
            outcome[_outcome_name(report)] += 1
    closed = close_if_settled(record, store=store, policy=policy, now=now)
    outcome["closed"] += int(closed)
    if transient:
        raise DependencyFailed("A payment provider was unavailable; the refund will be retried")
    return outcome


def _sendable(movement: MoneyMovement) -> bool:
    """An open refund Homeward sends or reads back: not one made outside, not one waiting for
    ops to confirm it by hand."""
    if movement.kind != "refund" or movement.source == "outside" or movement.status not in OPEN_MOVEMENT:
        return False
    return movement.status == "reserved" or movement.provider not in BY_HAND


def _outcome_name(report: Report | Rejection) -> str:
    return "failed" if isinstance(report, Rejection) else report.status


def _plan_if_due(
    rma: str, *, store: RefundStore, policy: ReturnPolicy, now: datetime, outcome: Counter
) -> ReturnRecord | None:
    for _ in range(ATTEMPTS):
        record = store.get_return(rma)
        if record is None or not triggers.is_due(record, policy):
            return record
        loaded = store.order_and_ledger(record.order_id)
        if loaded is None:
            raise NotFound(f"Order {record.order_id} of return {rma} not found")
        order, ledger = loaded
        change = plans.plan_automatic(record, order, ledger, policy, now=now)
        try:
            store.save(change)
        except Conflict as exc:
            if _retryable(exc):
                continue
            raise
        outcome["planned"] += 1
        outcome["credited"] += len(change.credits)
        return change.record
    raise DependencyFailed("The return kept changing while its refund was planned; try again")


def _ask_provider(
    record: ReturnRecord, movement: MoneyMovement, *, providers: ProviderLookup, now: datetime
) -> Report | Rejection | None:
    """The provider's word on a movement: create it (same key, same parameters every time),
    or for a pending one read it back. None if the provider could not be reached."""
    try:
        found = _provider_answer(record, movement, providers=providers, now=now)
    except ProviderRejected as exc:
        return Rejection(code=exc.code, message=str(exc))
    except ProviderUnavailable:
        return None
    if found.currency != movement.currency or found.amount != movement.amount:
        # A refund exists, but not the one we asked for (the payment's currency differs from
        # the order's, or the provider changed the amount): hold it open for a person. Never
        # `failed`: that would release the reservation and allow a second refund.
        return Report(status="requires_action", refund_id=found.refund_id, failure_reason="provider_mismatch")
    return Report(status=found.status, refund_id=found.refund_id, failure_reason=found.failure_reason)


def _provider_answer(
    record: ReturnRecord, movement: MoneyMovement, *, providers: ProviderLookup, now: datetime
) -> ProviderRefund:
    provider = providers.for_payment(movement.provider)
    if movement.status != "reserved" and movement.provider_refund_id:
        return provider.retrieve_refund(movement.provider_refund_id)
    if now - movement.created_at > KEY_WINDOW:
        # The provider may have forgotten the key: a refund made under it must be found, not
        # made again.
        found = provider.find_refund(movement.payment_reference or "", movement.idempotency_key)
        if found is not None:
            return found
    return provider.create_refund(
        RefundRequest(
            idempotency_key=movement.idempotency_key,
            payment_reference=movement.payment_reference or "",
            amount=movement.amount,
            currency=movement.currency,
            metadata={
                "homeward_rma": record.rma,
                "homeward_key": movement.idempotency_key,
                "order_id": record.order_id,
            },
        )
    )


def record_report(
    rma: str, seq: int, report: Report | Rejection, *, store: RefundStore, now: datetime
) -> ReturnRecord | None:
    """Write what a provider said about movement `seq`; the new return, or None if it
    changed nothing (duplicate, stale or unknown)."""
    for _ in range(ATTEMPTS):
        record = store.get_return(rma)
        if record is None:
            return None
        change = apply_report(record, seq, report, order=None, now=now)
        if change is None:
            return None
        try:
            store.save(change)
        except Conflict as exc:
            if exc.details.get("reason") == "version_changed":
                continue
            raise
        return change.record
    raise DependencyFailed("The return kept changing while a refund outcome was recorded; try again")


def close_if_settled(
    record: ReturnRecord, *, store: RefundStore, policy: ReturnPolicy, now: datetime
) -> bool:
    """Close a return whose money has moved and whose items are back (or kept)."""
    change = triggers.close_if_settled(record, policy, now=now)
    if change is None:
        return False
    try:
        store.save_return_change(change.record, change.events, expected_version=record.version)
    except Conflict:
        return False  # it changed meanwhile; the next event for it decides again
    return True


def apply_provider_update(
    rma: str, idempotency_key: str, report: Report, *, store: RefundStore, policy: ReturnPolicy, now: datetime
) -> str:
    """A provider's webhook about one of our refunds: 'applied', 'unchanged' or 'unknown'."""
    seq_text = idempotency_key.rsplit(":", 1)[-1]
    if not idempotency_key.startswith(f"refund:{rma}:") or not seq_text.isdigit():
        return "unknown"
    record = store.get_return(rma)
    movement = record.refund.movement(int(seq_text)) if record and record.refund else None
    if movement is None or movement.idempotency_key != idempotency_key:
        return "unknown"
    if movement.provider_refund_id not in (None, report.refund_id):
        return "unknown"
    changed = record_report(rma, movement.seq, report, store=store, now=now)
    if changed is None:
        return "unchanged"
    close_if_settled(changed, store=store, policy=policy, now=now)
    return "applied"


def _with_order(rma: str, store: RefundStore) -> tuple[ReturnRecord, Order, dict[str, LedgerBalance]]:
    record = store.get_return(rma)
    if record is None:
        raise NotFound("Return not found")
    loaded = store.order_and_ledger(record.order_id)
    if loaded is None:
        raise NotFound("The return's order was not found")
    return record, *loaded


PlanFn = Callable[[ReturnRecord, Order, dict[str, LedgerBalance]], MoneyChange | None]


def _plan_and_save(rma: str, store: RefundStore, plan: PlanFn) -> tuple[ReturnRecord, int]:
    """An ops money change: read the return, its order and ledger, plan, write; re-read and
    plan again if the return or a payment's ledger changed meanwhile. Returns the return and
    what its order's payments can still give back. `plan` returning None = already done."""
    for _ in range(ATTEMPTS):
        record, order, ledger = _with_order(rma, store)
        change = plan(record, order, ledger)
        if change is None:
            return record, left_to_refund(order, ledger)
        try:
            store.save(change)
        except Conflict as exc:
            if _retryable(exc):
                continue
            raise
        reserved = sum(op.amount for op in change.ledger if op.op == "reserve")
        return change.record, left_to_refund(order, ledger) - reserved
    raise DependencyFailed("The return kept changing; try again")


def refund_by_hand(
    rma: str,
    request: ManualRefundRequest,
    *,
    intent_key: str,
    actor_id: str | None,
    store: RefundStore,
    policy: ReturnPolicy,
    now: datetime,
) -> tuple[ReturnRecord, int]:
    """Ops' refund or store credit (reserved now, sent by RefundsFunction on its event):
    the return and what remains refundable. The same `intent_key` plans nothing twice."""
    return _plan_and_save(
        rma,
        store,
        lambda record, order, ledger: plans.plan_manual(
            record,
            order,
            ledger,
            request,
            intent_key=intent_key,
            actor_id=actor_id,
            now=now,
            rule=policy.refund.split_rule,
        ),
    )


def settle_exchange(
    rma: str,
    request: ExchangeRequest,
    *,
    actor_id: str | None,
    store: RefundStore,
    policy: ReturnPolicy,
    now: datetime,
) -> tuple[ReturnRecord, int]:
    """The replacement order of an exchange: its price difference refunded (or announced as owed)."""
    return _plan_and_save(
        rma,
        store,
        lambda record, order, ledger: plans.settle_exchange(
            record, order, ledger, request, actor_id=actor_id, now=now, rule=policy.refund.split_rule
        ),
    )


def retry_failed(
    rma: str,
    *,
    as_store_credit: bool,
    note: str | None,
    actor_id: str | None,
    store: RefundStore,
    now: datetime,
) -> tuple[ReturnRecord, int]:
    """Ops' retry of failed refunds (new keys), to the same payment or as store credit."""
    return _plan_and_save(
        rma,
        store,
        lambda record, order, ledger: plans.plan_retry(
            record, order, ledger, as_store_credit=as_store_credit, actor_id=actor_id, now=now, note=note
        ),
    )


def sweep(
    *,
    store: RefundStore,
    providers: ProviderLookup,
    policy: ReturnPolicy,
    now: datetime,
    quiet_for: timedelta,
    limit: int = 200,
) -> Counter:
    """Re-drive every movement still open and untouched for `quiet_for`: reserved ones stuck
    by a crash or an exhausted queue are sent again (same key), pending ones are read back
    from the provider (a lost webhook; the ledger provider's settlement). Then read back, once,
    the refunds that succeeded `LATE_FAILURE_RECHECK` ago: a late failure whose webhook was lost
    is found here."""
    totals: Counter = Counter()
    rmas = dict.fromkeys(rma for rma, _ in store.open_movements(updated_before=now - quiet_for, limit=limit))
    for rma in rmas:
        try:
            totals += process(rma, store=store, providers=providers, policy=policy, now=now, reconcile=True)
        except DependencyFailed:
            totals["unavailable"] += 1  # still open: the next sweep comes back to it
        totals["returns"] += 1
    for rma, seq in store.rechecks_due(now=now, limit=limit):
        totals[recheck_settled(rma, seq, store=store, providers=providers, now=now)] += 1
    return totals


def recheck_settled(
    rma: str, seq: int, *, store: RefundStore, providers: ProviderLookup, now: datetime
) -> str:
    """Read a succeeded refund back from its provider once: 'rechecked', 'failed' (it failed
    late: the money goes back to the payment's ledger and the return is `failed` for ops), or
    'unavailable' (it stays due; the next sweep tries again)."""
    record = store.get_return(rma)
    movement = record.refund.movement(seq) if record and record.refund else None
    if movement is None or movement.status != "succeeded" or not movement.provider_refund_id:
        store.mark_rechecked(rma, seq, now=now)
        return "rechecked"
    try:
        found = providers.for_payment(movement.provider).retrieve_refund(movement.provider_refund_id)
    except RefundNotReadable:
        store.mark_rechecked(rma, seq, now=now)  # its webhooks report late failures (Adyen)
        return "rechecked"
    except ProviderUnavailable:
        return "unavailable"
    except ProviderRejected:
        store.mark_rechecked(rma, seq, now=now)  # e.g. no longer known to the provider: nothing to learn
        return "rechecked"
    if found.status in ("failed", "canceled"):
        record_report(
            rma,
            seq,
            Report(status=found.status, refund_id=found.refund_id, failure_reason=found.failure_reason),
            store=store,
            now=now,
        )
        return "failed"
    store.mark_rechecked(rma, seq, now=now)
    return "rechecked"


# ---- refunds made outside Homeward ------------------------------------------------------------


class OutsideStore(RefundStore, Protocol):
    """What recording outside refunds needs besides a `RefundStore`."""

    def outside_refund(self, order_id: str, reference: str) -> OutsideRecord | None: ...

    def record_outside_ledger(self, record: OutsideRecord, op: LedgerOp) -> None: ...

    def move_outside_ledger(self, record: OutsideRecord, status: str, op: LedgerOp) -> None: ...

    def order_for_payment(self, provider: str, reference: str) -> str | None: ...

    def returns_for_order(self, order_id: str) -> list[ReturnRecord]: ...

    def movement_for_provider_refund(self, provider: str, refund_id: str) -> tuple[str, str] | None: ...


_NO_MONEY_STATUSES = frozenset({"rejected", "cancelled", "expired"})


def _recorded_elsewhere(store: OutsideStore, order: Order, refund: OutsideRefund, exc: Conflict) -> None:
    """The reference is recorded already (another return of the order, or a race): the same
    money is a replay (nothing to do), other money is a 409."""
    existing = store.outside_refund(order.order_id, refund.reference)
    if existing is None:
        raise exc
    if not existing.same_refund(
        outside.outside_record(order.order_id, refund, existing.provider, None, None)
    ):
        raise Conflict(
            "This reference was recorded with another payment, amount or currency",
            details={
                "reason": "outside_reference_reused",
                "reference": refund.reference,
                "rma": existing.rma,
            },
        ) from exc


def _refuse_homeward_refund(store: OutsideStore, order: Order, refund: OutsideRefund) -> None:
    """409 when the reference is a refund Homeward itself made: it is counted already."""
    payment = next((p for p in order.payments if p.payment_id == refund.payment_id), None)
    found = store.movement_for_provider_refund(payment.provider, refund.reference) if payment else None
    if found is None:
        return
    record = store.get_return(found[0])
    movement = next(
        (
            m
            for m in (record.refund.movements if record and record.refund else [])
            if m.idempotency_key == found[1]
        ),
        None,
    )
    if movement is not None and movement.source == "homeward":
        raise Conflict(
            "This reference is a refund Homeward made; it is counted already",
            details={"reason": "homeward_refund", "rma": found[0], "seq": movement.seq},
        )


def record_outside(
    rma: str, refund: OutsideRefund, *, store: OutsideStore, policy: ReturnPolicy, now: datetime
) -> tuple[ReturnRecord, int, bool]:
    """Record a refund made outside Homeward on a return: (the return, what the order's
    payments can still give back, whether it was recorded now). Once per reference: the same
    money again is a replay, other money under the reference a 409."""
    for _ in range(ATTEMPTS):
        record, order, ledger = _with_order(rma, store)
        _refuse_homeward_refund(store, order, refund)
        change = outside.plan_outside(record, order, ledger, refund, now=now)
        if change is None:
            return record, left_to_refund(order, ledger), False
        try:
            store.save(change)
        except Conflict as exc:
            if exc.details.get("reason") == "outside_recorded":
                _recorded_elsewhere(store, order, refund, exc)
                return record, left_to_refund(order, ledger), False
            if _retryable(exc):
                continue
            raise
        close_if_settled(change.record, store=store, policy=policy, now=now)
        return change.record, max(0, left_to_refund(order, ledger) - refund.amount), True
    raise DependencyFailed("The return kept changing; try again")


def _return_to_show_it_on(store: OutsideStore, order_id: str) -> ReturnRecord | None:
    """The order's newest return that can carry money, if any."""
    returns = [r for r in store.returns_for_order(order_id) if r.status not in _NO_MONEY_STATUSES]
    return returns[-1] if returns else None


def _outside_of(update: RefundUpdate, provider: str, payment_id: str) -> OutsideRefund | None:
    status = {"pending": "pending", "requires_action": "pending", "succeeded": "succeeded"}.get(update.status)
    if status is None or update.amount <= 0:
        return None  # a failed or canceled refund moved no money
    return OutsideRefund(
        reference=update.refund_id,
        payment_id=payment_id,
        amount=update.amount,
        currency=update.currency,
        at=update.occurred_at,
        status="succeeded" if status == "succeeded" else "pending",
        source=provider,
        note=f"Refunded in {provider}, outside Homeward",
    )


def _move_ledger_only(store: OutsideStore, existing: OutsideRecord, status: str) -> str:
    """A later event of an outside refund counted on the ledger only (its order had no return):
    pending -> succeeded settles the reservation, -> failed / canceled releases it. (One shown
    on a return moves with its movement, found by its refund id before this.)"""
    if existing.rma is not None or existing.status != "pending" or status not in FINAL_STATUSES:
        return "unchanged"
    op = LedgerOp(
        payment_id=existing.payment_id,
        op="settle" if status == "succeeded" else "release",
        amount=existing.amount,
        captured=0,
        currency=existing.currency,
    )
    try:
        store.move_outside_ledger(existing, status, op)
    except Conflict:
        return "unchanged"  # moved meanwhile by another event
    return "applied"


def record_provider_refund(
    provider: str, update: RefundUpdate, *, store: OutsideStore, policy: ReturnPolicy, now: datetime
) -> str:
    """A provider's webhook about a refund Homeward did not make (e.g. in Stripe's dashboard):
    matched to the order by the payment it refunds and recorded as an outside refund on the
    order's newest return (or, without one, on the payment's ledger only). 'recorded',
    'unchanged' (already recorded) or 'unknown' (no such payment, or no money moved)."""
    order_id = (
        store.order_for_payment(provider, update.payment_reference) if update.payment_reference else None
    )
    loaded = store.order_and_ledger(order_id) if order_id else None
    if loaded is None:
        return "unknown"
    order, ledger = loaded
    payment = next((p for p in order.payments if p.reference == update.payment_reference), None)
    existing = store.outside_refund(order.order_id, update.refund_id) if payment else None
    if existing is not None:
        return _move_ledger_only(store, existing, update.status)
    refund = _outside_of(update, provider, payment.payment_id) if payment else None
    if refund is None:
        return "unknown"
    target = _return_to_show_it_on(store, order.order_id)
    try:
        if target is not None:
            _, _, created = record_outside(target.rma, refund, store=store, policy=policy, now=now)
            return "recorded" if created else "unchanged"
        store.record_outside_ledger(*outside.ledger_only(order, ledger, refund))
    except Conflict as exc:
        if exc.details.get("reason") in ("outside_recorded", "outside_reference_reused"):
            return "unchanged"
        raise
    return "recorded"


# ---- refunds ops make by hand (the `manual` provider) -------------------------------------------


def _waiting_by_hand(record: ReturnRecord | None, seq: int) -> MoneyMovement:
    movement = record.refund.movement(seq) if record and record.refund else None
    if movement is None:
        raise NotFound("No such refund on this return")
    if movement.kind != "refund" or movement.provider not in BY_HAND or movement.source != "homeward":
        raise Conflict(
            "This refund is not confirmed by hand",
            details={"reason": "not_by_hand", "provider": movement.provider},
        )
    return movement


def decide_by_hand(
    rma: str,
    seq: int,
    *,
    reference: str | None,
    note: str | None,
    store: RefundStore,
    policy: ReturnPolicy,
    now: datetime,
) -> tuple[ReturnRecord, int]:
    """Ops confirm (`reference` given: succeeded, the money is settled) or fail (no reference:
    the reservation is released, retry or credit it) a refund of a `manual` payment. The same
    decision again is a replay; another one after the first is a 409. Returns the return and
    what its order's payments can still give back."""
    record = _decided_by_hand(rma, seq, reference=reference, note=note, store=store, policy=policy, now=now)
    loaded = store.order_and_ledger(record.order_id)
    return record, left_to_refund(*loaded) if loaded else 0


def _decided_by_hand(
    rma: str,
    seq: int,
    *,
    reference: str | None,
    note: str | None,
    store: RefundStore,
    policy: ReturnPolicy,
    now: datetime,
) -> ReturnRecord:
    record = store.get_return(rma)
    movement = _waiting_by_hand(record, seq)
    assert record is not None
    target = "succeeded" if reference else "failed"
    if movement.status == target and (reference is None or movement.provider_refund_id == reference):
        return record
    if movement.status not in ("reserved", "requires_action"):
        raise Conflict(
            "This refund was decided already",
            details={"reason": "already_decided", "status": movement.status},
        )
    report = Report(
        status=target, refund_id=reference, failure_reason=None if reference else (note or "not_refunded")
    )
    changed = record_report(rma, seq, report, store=store, now=now)
    if changed is None:
        return store.get_return(rma) or record
    close_if_settled(changed, store=store, policy=policy, now=now)
    return changed
