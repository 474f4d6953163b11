"""When: the stage of a return that releases its refund, whether it is due, and when a return
whose money has moved is closed."""

from __future__ import annotations

from datetime import datetime

from homeward.domain.returns import rules as return_rules
from homeward.domain.returns.states import Actor, MoneyState, ParcelState
from homeward.models.policy import ReturnPolicy
from homeward.models.returns import ReturnRecord

TRIGGER_STAGES = ("approval", "first_scan", "delivered", "inspected")
# How far a return has come, as a refund trigger sees it.
_STAGE_OF_STATUS = {
    ParcelState.APPROVED: "approval",
    ParcelState.NEEDS_ATTENTION: "approval",
    ParcelState.LABEL_ISSUED: "approval",
    ParcelState.IN_TRANSIT: "first_scan",
    ParcelState.DELIVERED: "delivered",
    ParcelState.RECEIVED: "inspected",
    ParcelState.CLOSED: "inspected",
}
# Returns that will never be refunded: they ended before their trigger.
WITHDRAWN = frozenset({ParcelState.REJECTED, ParcelState.CANCELLED, ParcelState.EXPIRED})


def keeps_everything(record: ReturnRecord) -> bool:
    return all(line.resolution == "keep_item" for line in record.lines)


def trigger_for(record: ReturnRecord, policy: ReturnPolicy) -> str:
    """The stage that releases this return's refund: keep-the-item returns have nothing to wait
    for, so they are refunded at approval; others follow the policy."""
    if keeps_everything(record):
        return "approval"
    return policy.refund_trigger


def stage_reached(record: ReturnRecord) -> str | None:
    return _STAGE_OF_STATUS.get(ParcelState(record.status))


def is_due(record: ReturnRecord, policy: ReturnPolicy) -> bool:
    """Whether the automatic refund should be planned now (it is planned only once)."""
    if record.refund is not None and record.refund.trigger is not None:
        return False
    stage = stage_reached(record)
    if stage is None:
        return False
    return TRIGGER_STAGES.index(stage) >= TRIGGER_STAGES.index(trigger_for(record, policy))


def _settled(record: ReturnRecord, policy: ReturnPolicy) -> bool:
    """The refund was planned and nothing of it is open or failed."""
    if not policy.refund.close_when_settled or record.refund is None or record.refund.trigger is None:
        return False
    return MoneyState(record.money_status) in (MoneyState.REFUNDED, MoneyState.CREDITED, MoneyState.NONE)


def close_if_settled(
    record: ReturnRecord, policy: ReturnPolicy, *, now: datetime
) -> return_rules.Change | None:
    """`close` (system) once nothing is left to do: the money moved and the items are back
    (received), or the shopper keeps everything. A `returns.Change`, or None."""
    if not _settled(record, policy):
        return None
    status = ParcelState(record.status)
    if not (status is ParcelState.RECEIVED or (status is ParcelState.APPROVED and keeps_everything(record))):
        return None
    return return_rules.apply_action(
        record, "close", actor=Actor.SYSTEM, actor_id=None, now=now, note="Refund settled"
    )
