"""The return state machine: the one place that says which change is legal when.

Two independent dimensions:
  * parcel state - where the return is (requested ... closed, or a side exit);
  * money state  - what happened to the refund (none -> pending -> refunded / credited / failed).
Per item, inspection adds received quantity, condition grade and disposition; those are
data on the line, not states.

`docs/return-states.md` is generated from the tables below (`make docs`); a test fails if
it is stale.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from homeward.errors import Conflict


class ParcelState(StrEnum):
    REQUESTED = "requested"
    NEEDS_REVIEW = "needs_review"
    APPROVED = "approved"
    NEEDS_ATTENTION = "needs_attention"
    LABEL_ISSUED = "label_issued"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    RECEIVED = "received"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


# A return's `status` as the API names it (ops list filter): the parcel dimension above, under
# the name clients know, so the OpenAPI document does not read as a carrier's tracking status.
# Built from ParcelState so the two never drift; mypy cannot list members built this way.
ReturnStatus = StrEnum("ReturnStatus", {state.name: state.value for state in ParcelState})  # type: ignore[misc]


class MoneyState(StrEnum):
    NONE = "none"
    PENDING = "pending"
    REFUNDED = "refunded"
    CREDITED = "credited"
    FAILED = "failed"


class Actor(StrEnum):
    SHOPPER = "shopper"
    OPS = "ops"
    CARRIER = "carrier"
    SYSTEM = "system"


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[ParcelState, ...]
    target: ParcelState
    actors: tuple[Actor, ...]
    event: str
    description: str


S = ParcelState
A = Actor

TRANSITIONS: tuple[Transition, ...] = (
    Transition(
        "auto_approve",
        (S.REQUESTED,),
        S.APPROVED,
        (A.SYSTEM,),
        "return.approved",
        "Policy approves the request without review",
    ),
    Transition(
        "flag_for_review",
        (S.REQUESTED,),
        S.NEEDS_REVIEW,
        (A.SYSTEM,),
        "return.needs_review",
        "Policy sends the request to a person (reason codes say why)",
    ),
    Transition(
        "approve",
        (S.NEEDS_REVIEW,),
        S.APPROVED,
        (A.OPS,),
        "return.approved",
        "Ops approves a request waiting for review",
    ),
    Transition(
        "reject",
        (S.REQUESTED, S.NEEDS_REVIEW, S.APPROVED, S.NEEDS_ATTENTION),
        S.REJECTED,
        (A.OPS,),
        "return.rejected",
        "Ops declines the request, with a reason; reserved quantities are released",
    ),
    Transition(
        "label_failed",
        (S.APPROVED,),
        S.NEEDS_ATTENTION,
        (A.SYSTEM,),
        "return.needs_attention",
        "The carrier refused the label for a reason a retry cannot fix (e.g. the address)",
    ),
    Transition(
        "retry_label",
        (S.NEEDS_ATTENTION,),
        S.APPROVED,
        (A.OPS,),
        "return.label_requested",
        "Ops fixed the cause and asks for the label again",
    ),
    Transition(
        "issue_label",
        (S.APPROVED,),
        S.LABEL_ISSUED,
        (A.SYSTEM, A.OPS),
        "return.label_issued",
        "A carrier label was bought for the return",
    ),
    Transition(
        "first_scan",
        (S.APPROVED, S.LABEL_ISSUED),
        S.IN_TRANSIT,
        (A.CARRIER,),
        "return.in_transit",
        "The carrier scanned the parcel",
    ),
    Transition(
        "deliver",
        (S.LABEL_ISSUED, S.IN_TRANSIT),
        S.DELIVERED,
        (A.CARRIER,),
        "return.delivered",
        "The carrier delivered the parcel to the warehouse",
    ),
    Transition(
        "receive",
        (S.APPROVED, S.LABEL_ISSUED, S.IN_TRANSIT, S.DELIVERED),
        S.RECEIVED,
        (A.OPS,),
        "return.received",
        "The warehouse received and inspected the items",
    ),
    Transition(
        "close",
        (S.APPROVED, S.RECEIVED),
        S.CLOSED,
        (A.SYSTEM, A.OPS),
        "return.closed",
        "Nothing more to do (refund settled; keep-the-item returns close from approved)",
    ),
    Transition(
        "cancel",
        (S.REQUESTED, S.NEEDS_REVIEW, S.APPROVED, S.NEEDS_ATTENTION, S.LABEL_ISSUED),
        S.CANCELLED,
        (A.SHOPPER, A.OPS),
        "return.cancelled",
        "Withdrawn before drop-off; reserved quantities are released and any label voided",
    ),
    Transition(
        "expire",
        (S.LABEL_ISSUED,),
        S.EXPIRED,
        (A.SYSTEM,),
        "return.expired",
        "The label was never scanned before it expired; reserved quantities are released",
    ),
)

TERMINAL: frozenset[ParcelState] = frozenset({S.CLOSED, S.REJECTED, S.CANCELLED, S.EXPIRED})
# Exits that give the reserved quantities back to the order.
RELEASES_QUANTITIES: frozenset[str] = frozenset({"reject", "cancel", "expire"})
# States from which the parcel is (or may be) travelling back to the warehouse.
SHOPPER_CAN_CANCEL: frozenset[ParcelState] = frozenset(
    next(t for t in TRANSITIONS if t.action == "cancel").sources
)

MONEY_TRANSITIONS: dict[MoneyState, frozenset[MoneyState]] = {
    # Store credit is issued in the same write that plans it: none -> credited directly.
    # A refund made outside Homeward is recorded already done: none -> refunded directly.
    MoneyState.NONE: frozenset({MoneyState.PENDING, MoneyState.CREDITED, MoneyState.REFUNDED}),
    MoneyState.PENDING: frozenset({MoneyState.REFUNDED, MoneyState.CREDITED, MoneyState.FAILED}),
    # Ops retry (pending again) or give store credit instead (issued at once).
    MoneyState.FAILED: frozenset({MoneyState.PENDING, MoneyState.REFUNDED, MoneyState.CREDITED}),
    MoneyState.REFUNDED: frozenset(
        {MoneyState.PENDING, MoneyState.FAILED}
    ),  # a further refund; a late failure
    MoneyState.CREDITED: frozenset({MoneyState.PENDING, MoneyState.REFUNDED}),  # (+ an outside refund)
}

# One money movement (a refund to one payment, or a store credit) as the provider moves it.
# "succeeded" -> "failed" is the provider's late failure (Stripe: refund.failed after success).
OPEN_MOVEMENT = frozenset({"reserved", "pending", "requires_action"})
MOVEMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    "reserved": frozenset({"pending", "requires_action", "succeeded", "failed", "canceled"}),
    "pending": frozenset({"requires_action", "succeeded", "failed", "canceled"}),
    "requires_action": frozenset({"pending", "succeeded", "failed", "canceled"}),
    "succeeded": frozenset({"failed"}),
    "failed": frozenset(),
    "canceled": frozenset(),
}


def movement_may_move(current: str, target: str) -> bool:
    """Whether a provider report moves a movement; anything else (a duplicate, an older
    status arriving late) leaves it as it is."""
    return target in MOVEMENT_TRANSITIONS.get(current, frozenset())


def money_state_for(movements: list[tuple[str, str]]) -> MoneyState:
    """The return's money state from its movements, given as (kind, status) pairs.

    Anything still open -> pending; else any failure not yet retried -> failed; else refunded if
    money went back to a payment, credited if only store credit was issued.
    """
    if not movements:
        return MoneyState.NONE
    statuses = {status for _, status in movements}
    if statuses & OPEN_MOVEMENT:
        return MoneyState.PENDING
    if statuses & {"failed", "canceled"}:
        return MoneyState.FAILED
    if any(kind == "refund" for kind, status in movements if status == "succeeded"):
        return MoneyState.REFUNDED
    return MoneyState.CREDITED


_BY_ACTION = {t.action: t for t in TRANSITIONS}


def transition_for(action: str) -> Transition:
    try:
        return _BY_ACTION[action]
    except KeyError:
        raise ValueError(f"unknown action {action!r}") from None


def next_state(current: ParcelState, action: str, actor: Actor) -> Transition:
    """The transition `action` by `actor` takes from `current`, or Conflict (409) if illegal."""
    transition = transition_for(action)
    if actor not in transition.actors:
        raise Conflict(
            f"{actor.value} may not {action} a return",
            details={"reason": "actor_not_allowed", "action": action, "current_status": current.value},
        )
    if current not in transition.sources:
        raise Conflict(
            f"Cannot {action} a return that is {current.value}",
            details={
                "reason": "illegal_transition",
                "action": action,
                "current_status": current.value,
                "allowed_from": [s.value for s in transition.sources],
            },
        )
    return transition


def next_money_state(current: MoneyState, target: MoneyState) -> MoneyState:
    if target not in MONEY_TRANSITIONS[current]:
        raise Conflict(
            f"Refund cannot go from {current.value} to {target.value}",
            details={"reason": "illegal_money_transition", "current_money_status": current.value},
        )
    return target


def render_markdown() -> str:
    """docs/return-states.md: the transition table and a mermaid diagram, from the code."""
    lines = [
        "# Return states",
        "",
        "Generated from `functions/homeward/domain/returns/states.py` by `make docs`; a test fails if",
        "this file and the code disagree. Any other change is refused with `409` and the",
        "current state.",
        "",
    ]
    lines += _parcel_section() + _money_section() + _movement_section() + _per_item_section()
    return "\n".join(lines)


def _parcel_section() -> list[str]:
    lines = [
        "## Parcel state",
        "",
        "| Action | From | To | Who | Event | Meaning |",
        "|---|---|---|---|---|---|",
    ]
    for t in TRANSITIONS:
        lines.append(
            f"| `{t.action}` | {', '.join(f'`{s.value}`' for s in t.sources)} | `{t.target.value}` | "
            f"{', '.join(a.value for a in t.actors)} | `{t.event}` | {t.description} |"
        )
    terminal = sorted(TERMINAL)
    lines += [
        "",
        f"Terminal: {', '.join(f'`{s.value}`' for s in terminal)}. "
        "A new return starts in `requested` and is immediately approved or sent to review by the policy.",
        "",
        "```mermaid",
        "stateDiagram-v2",
        "    [*] --> requested",
    ]
    for t in TRANSITIONS:
        lines += [f"    {source.value} --> {t.target.value}: {t.action}" for source in t.sources]
    lines += [f"    {s.value} --> [*]" for s in terminal]
    return [*lines, "```", ""]


def _money_section() -> list[str]:
    lines = [
        "## Money state",
        "",
        "Kept apart from the parcel: a keep-the-item return is refunded while the parcel state",
        "never leaves `approved`; a refund can fail and be retried without touching the parcel.",
        "",
        "| From | To |",
        "|---|---|",
    ]
    for money, targets in MONEY_TRANSITIONS.items():
        lines.append(f"| `{money.value}` | {', '.join(f'`{t.value}`' for t in sorted(targets))} |")
    return [
        *lines,
        "",
        "The money state follows the return's money movements (one refund to one payment, or one",
        "store credit): any movement still open makes it `pending`; otherwise a failed or",
        "cancelled one not yet retried makes it `failed`; otherwise `refunded` (or `credited` when",
        "only store credit was issued).",
        "",
    ]


def _movement_section() -> list[str]:
    lines = ["## Money movement", "", "| From | To |", "|---|---|"]
    for status, next_statuses in MOVEMENT_TRANSITIONS.items():
        shown = ", ".join(f"`{t}`" for t in sorted(next_statuses)) or "(final)"
        lines.append(f"| `{status}` | {shown} |")
    return [*lines, ""]


def _per_item_section() -> list[str]:
    return [
        "## Per item",
        "",
        "Each returned line also carries `received_quantity` (0 ... requested), a condition",
        "`grade` (`a` as new, `b` light wear, `c` heavy wear, `d` unsellable) and a `disposition`",
        "(`restock`, `not_restock`, `refurbish`, `dispose`), set at inspection.",
        "",
    ]
