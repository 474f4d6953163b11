"""Every key of the Homeward table, built and parsed in one place, and declared as data.

The table has `pk`/`sk` and two sparse global secondary indexes (`gsi1pk`/`gsi1sk`,
`gsi2pk`/`gsi2sk`). Each entity's keys are built by the functions below (a key as the
`{"pk": {"S": ...}, "sk": {"S": ...}}` dict DynamoDB takes, an index value as a string) and
parsed by them (`*_from` functions): no other module spells a key prefix or splits a key.

`ENTITIES` declares each entity with its keys, indexes and access patterns; `infra.data_model`
renders it as docs/data-model.md (`make docs`), and a test keeps that document current.
"""

from __future__ import annotations

from dataclasses import dataclass, field

GSI1 = "gsi1"
GSI2 = "gsi2"


def _key(pk: str, sk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


# ---- orders and their payments ----------------------------------------------------------------

ORDER_SK = "ORDER"
_ORDER = "ORDER#"
_PAYMENT = "PAYMENT#"


def order_pk(order_id: str) -> str:
    return f"{_ORDER}{order_id}"


def order(order_id: str) -> dict:
    return _key(order_pk(order_id), ORDER_SK)


def order_number_gsi1pk(normalized_number: str) -> str:
    return f"ORDERNO#{normalized_number}"


def order_gsi1sk(order_id: str) -> str:
    return order_pk(order_id)


def order_id_from(key: str) -> str:
    """The order id of an order's `pk` (or its `gsi1sk`, which is the same)."""
    return key.removeprefix(_ORDER)


def ledger(order_id: str, payment_id: str) -> dict:
    return _key(order_pk(order_id), f"{_PAYMENT}{payment_id}")


def is_ledger_sk(sk: str) -> bool:
    return sk.startswith(_PAYMENT)


def outside_refund(order_id: str, reference: str) -> dict:
    """A refund made outside Homeward, once per order and reference."""
    return _key(order_pk(order_id), f"OUTSIDE#{reference}")


def payment_reference_gsi2pk(provider: str, reference: str) -> str:
    """The order of a provider's payment (e.g. a Stripe PaymentIntent): its webhooks name only that."""
    return f"PAYREF#{provider}#{reference}"


# ---- sign-in ---------------------------------------------------------------------------------

_ATTEMPTS = "ATTEMPTS#"
_SIGNIN = "SIGNIN#"


def sign_in_attempts(subject: str, window_start: int) -> dict:
    """Failed sign-ins of one subject (`order-client:N:C` or `client:C`) in one fixed window."""
    return _key(f"{_ATTEMPTS}{subject}", f"W#{window_start}")


def attempts_subject_from(pk: str) -> str:
    return pk.removeprefix(_ATTEMPTS)


def sign_in_link(nonce: str) -> dict:
    """The event item that asks for a sign-in link's email."""
    return _key(f"{_SIGNIN}{nonce}", "EVENT#1")


def sign_in_link_used(nonce: str) -> dict:
    return _key(f"{_SIGNIN}{nonce}", "USED")


# ---- idempotency -----------------------------------------------------------------------------


def keyed_submit(order_id: str, idempotency_key: str) -> dict:
    """`#` is in neither alphabet (ExternalId, Idempotency-Key), so the pair maps to one key."""
    return _key(f"IDEMP#{order_id}#{idempotency_key}", "IDEMP")


def powertools_idempotency_pk(scope: str) -> str:
    """The static partition of one Powertools idempotency scope (its records' `sk` is the hash)."""
    return f"IDEMPOTENCY#{scope}"


# ---- returns -----------------------------------------------------------------------------------

RETURN_SK = "RETURN"
_RETURN = "RETURN#"
_EVENT = "EVENT#"
_MONEY = "MONEY#"


def return_pk(rma: str) -> str:
    return f"{_RETURN}{rma}"


def return_(rma: str) -> dict:
    return _key(return_pk(rma), RETURN_SK)


def customer_gsi1pk(customer_fp: str) -> str:
    return f"CUSTOMER#{customer_fp}"


def return_gsi1sk(created_iso: str) -> str:
    return f"{_RETURN}{created_iso}"


def returns_by_status_gsi2pk(status: str) -> str:
    return f"RETURNS#{status}"


def return_gsi2sk(created_iso: str, rma: str) -> str:
    return f"{created_iso}#{rma}"


def return_event(rma: str, seq: int) -> dict:
    return _key(return_pk(rma), f"{_EVENT}{seq:06d}")


def is_event_sk(sk: str) -> bool:
    return sk.startswith(_EVENT)


def label_claim(rma: str) -> dict:
    return _key(return_pk(rma), "LABEL")


# ---- money -------------------------------------------------------------------------------------

MONEY_OPEN_GSI2PK = "MONEY#open"
MONEY_RECHECK_GSI2PK = "MONEY#recheck"
MONEY_BY_HAND_GSI2PK = "MONEY#by_hand"
_CREDIT = "CREDIT#"


def movement(rma: str, seq: int) -> dict:
    return _key(return_pk(rma), f"{_MONEY}{seq:04d}")


def money_log_gsi1pk(month: str) -> str:
    """`month` is `yyyy-mm`."""
    return f"MONEYLOG#{month}"


def movement_index_sk(at_iso: str, rma: str, seq: int) -> str:
    """gsi1sk (created) and gsi2sk (updated, or due for the recheck) of a movement."""
    return f"{at_iso}#{rma}#{seq:04d}"


def seq_from_movement_index_sk(sk: str) -> int:
    return int(sk.rsplit("#", 1)[1])


def credit(code: str) -> dict:
    return _key(f"{_CREDIT}{code}", "CREDIT")


def credit_redemption(code: str, key_digest: str) -> dict:
    return _key(f"{_CREDIT}{code}", f"TX#{key_digest}")


def provider_refund(provider: str, refund_id: str) -> dict:
    return _key(f"PROVIDER_REFUND#{provider}#{refund_id}", "REFUND")


# ---- shop webhook inbox (commerce connectors: Shopify) ------------------------------------------

SHOP_WEBHOOK_SK = "SHOPHOOK"


def shop_webhook(provider: str, delivery_id: str) -> dict:
    """A shop connector's delivery, keyed by the shop's own delivery id (X-Shopify-Webhook-Id)."""
    return _key(f"SHOPHOOK#{provider}#{delivery_id}", SHOP_WEBHOOK_SK)


# ---- webhook inbox and parcels -----------------------------------------------------------------

WEBHOOK_SK = "WEBHOOK"
SHIPMENT_SK = "SHIPMENT"
ACTIVE_SHIPMENTS_GSI2PK = "SHIPMENTS#active"
_WEBHOOK = "WEBHOOK#"
_SHIPMENT = "SHIPMENT#"


def webhook(webhook_id: str) -> dict:
    return _key(f"{_WEBHOOK}{webhook_id}", WEBHOOK_SK)


def webhook_id_from(pk: str) -> str:
    return pk.removeprefix(_WEBHOOK)


def webhooks_gsi2pk(status: str) -> str:
    return f"WEBHOOKS#{status}"


def parked_gsi1pk(tracking_number: str) -> str:
    return f"PARKED#{tracking_number}"


def webhook_index_sk(received_iso: str, webhook_id: str) -> str:
    """gsi2sk (and, parked, gsi1sk) of an inbox item."""
    return f"{received_iso}#{webhook_id}"


def shipment(tracking_number: str) -> dict:
    return _key(f"{_SHIPMENT}{tracking_number}", SHIPMENT_SK)


def tracking_number_from(pk: str) -> str:
    return pk.removeprefix(_SHIPMENT)


def parcels_gsi1pk(order_id: str) -> str:
    return f"PARCELS#{order_id}"


def parcel_gsi1sk(direction: str, tracking_number: str) -> str:
    return f"{direction}#{tracking_number}"


def active_shipment_gsi2sk(baseline_iso: str, tracking_number: str) -> str:
    return f"{baseline_iso}#{tracking_number}"


def shipment_event(tracking_number: str, version: int, index: int) -> dict:
    return _key(f"{_SHIPMENT}{tracking_number}", f"{_EVENT}{version:06d}#{index}")


# ---- event items on the stream -----------------------------------------------------------------


def event_id_from(pk: str, sk: str) -> str:
    """A stable id of an event item: its subject (RMA, tracking number, nonce) and sequence."""
    return f"{pk.split('#', 1)[1]}:{sk.removeprefix(_EVENT)}"


# ---- notifications -----------------------------------------------------------------------------


def notification(event_id: str, channel: str) -> dict:
    return _key(f"NOTIFY#{event_id}", f"CH#{channel}")


def preferences(customer_fp: str) -> dict:
    return _key(f"PREFS#{customer_fp}", "PREFS")


def feedback(rma: str) -> dict:
    return _key(f"FEEDBACK#{rma}", "FEEDBACK")


def feedback_gsi1pk(month: str) -> str:
    return f"FEEDBACK#{month}"


def feedback_gsi1sk(at_iso: str, rma: str) -> str:
    return f"{at_iso}#{rma}"


# ---- a provider's side of the sandbox ledger (providers/ledger/payments.py) -----------------------


def psp_ledger_refund(refund_id: str) -> dict:
    return _key(f"PSP#ledger#{refund_id}", "REFUND")


# ---- the model, as data (rendered to docs/data-model.md) ---------------------------------------


@dataclass(frozen=True)
class Index:
    name: str
    pk: str
    sk: str
    when: str = "always"


@dataclass(frozen=True)
class Entity:
    title: str
    module: str  # the adapter module that reads and writes it
    pk: str
    sk: str
    indexes: tuple[Index, ...] = ()
    access: tuple[tuple[str, str], ...] = ()  # (access pattern, the call that serves it)
    attributes: str = ""
    builders: tuple[str, ...] = field(default=())
    key_notes: str = ""


ENTITIES: tuple[Entity, ...] = (
    Entity(
        "Order",
        "orders",
        "ORDER#<order_id>",
        "ORDER",
        (
            Index(GSI1, "ORDERNO#<normalised order number>", "ORDER#<order_id>"),
            Index(
                GSI2,
                "PAYREF#<provider>#<payment reference>",
                "ORDER#<order_id>",
                "its largest payment (first on a tie)",
            ),
        ),
        (
            ("Create / replace / recognise an order from the shop", "one `UpdateItem` with a condition"),
            (
                "The order of a provider's payment (a refund made in the provider's dashboard)",
                "one `Query` on `gsi2` (`PAYREF#<provider>#<reference>`)",
            ),
            ("Read an order for its shopper", "one `GetItem` (consistent)"),
            ("Find orders by the number a shopper types", "one `Query` on `gsi1` (projects only `email_fp`)"),
            ("An order's returns", "`GetItem` (`return_rmas`) + `BatchGetItem`"),
        ),
        "`entity=order`, `doc` (the shop's JSON), `version`, `content_hash`, "
        "`source_updated_at`, `email_fp`, "
        "`created_at`, `updated_at`; `reserved_<line_id>` (units of the line in open returns), `return_rmas` "
        "(a string set of its returns), `shipments_key` (its normalised tracking numbers, so the stream can "
        "tell when they change)",
        (
            "order",
            "order_pk",
            "order_number_gsi1pk",
            "order_gsi1sk",
            "order_id_from",
            "payment_reference_gsi2pk",
        ),
    ),
    Entity(
        "Payment ledger",
        "refunds",
        "ORDER#<order_id>",
        "PAYMENT#<payment_id>",
        (),
        (
            (
                "An order with its payments' ledger (refund planning)",
                "one `Query` on `ORDER#<order_id>` (the order item and its `PAYMENT#` items)",
            ),
            (
                "Reserve, settle, release, unsettle",
                "an `Update` in the refund's transaction (reserve: `available >= amount`)",
            ),
        ),
        "`entity=payment_ledger`, `payment_id`, `captured`, `available`, `reserved`, `refunded` "
        "(`available + reserved + refunded = captured`), `currency`",
        ("ledger", "is_ledger_sk"),
    ),
    Entity(
        "Sign-in attempts",
        "orders",
        "ATTEMPTS#<subject>",
        "W#<window start epoch>",
        (),
        (
            ("Failed sign-ins in this window for an order number and a client", "one `BatchGetItem`"),
            ("Count a failed sign-in", "one `UpdateItem ADD` per subject"),
        ),
        "`failures`, `last_at`, `expires_at` (TTL)",
        ("sign_in_attempts", "attempts_subject_from"),
        "subject: `order-client:<number>:<client>` or `client:<client>` (IPv4 address or IPv6 /64); sign-in "
        "link requests `link-ip:<address>`, links sent `link-order:<order_id>`",
    ),
    Entity(
        "Sign-in link requested (an event item)",
        "orders",
        "SIGNIN#<nonce>",
        "EVENT#1",
        (),
        (
            (
                "Ask for a sign-in link's email",
                "one `PutItem` (`attribute_not_exists`); the stream publishes it",
            ),
        ),
        "`entity=event`, `type=portal.sign_in_link`, `order_id`, `status=requested`, `doc` (nonce, expiry, "
        "locale; never the token or the address), `expires_at` (TTL)",
        ("sign_in_link",),
    ),
    Entity(
        "Sign-in link used",
        "orders",
        "SIGNIN#<nonce>",
        "USED",
        (),
        (("Use a link once", "one `PutItem` with `attribute_not_exists`"),),
        "`expires_at` (TTL)",
        ("sign_in_link_used",),
    ),
    Entity(
        "Return Idempotency-Key",
        "returns",
        "IDEMP#<order_id>#<Idempotency-Key>",
        "IDEMP",
        (),
        (
            (
                "What this order's key created",
                "one `GetItem` (consistent); written in the return's transaction",
            ),
        ),
        "`entity=idempotency_key`, `order_id`, `idempotency_key`, `rma`, `request_hash`, `created_at`",
        ("keyed_submit",),
    ),
    Entity(
        "Idempotency record (Powertools)",
        "idempotency",
        "IDEMPOTENCY#<scope>",
        "<hash of the idempotency key>",
        (),
        (("Run an operation once per key", "Powertools idempotency: `PutItem` / `GetItem` / `UpdateItem`"),),
        "`status`, `data`, `validation`, `expires_at` (TTL)",
        ("powertools_idempotency_pk",),
        "scope: `refunds` (RefundsFunction's events, 24 h), `ops-refunds` (refunds by hand)",
    ),
    Entity(
        "Return",
        "returns",
        "RETURN#<rma>",
        "RETURN",
        (
            Index(GSI1, "CUSTOMER#<email fp>", "RETURN#<created_at>"),
            Index(GSI2, "RETURNS#<status>", "<created_at>#<rma>"),
        ),
        (
            (
                "Start a return",
                "`GetItem` order (consistent, with reservations) + `Query gsi1 COUNT` "
                "(the customer's returns in "
                "90 days) + one `TransactWriteItems`: reserve quantities on the order (conditioned on the "
                "counters read), put the return, its events and its Idempotency-Key item",
            ),
            (
                "Change a return (approve, reject, cancel, receive, note)",
                "one `Query` (the return and its timeline) + one `TransactWriteItems`: the return on its "
                "`version`, its events, released quantities if it leaves",
            ),
            ("A return with its timeline", "one `Query` on `RETURN#<rma>`"),
            (
                "Returns by status and date (ops)",
                "one `Query` on `gsi2`, newest first, paginated with a cursor",
            ),
            ("Returns with a label, by age (label expiry)", "one `Query` on `gsi2` (`RETURNS#label_issued`)"),
        ),
        "`entity=return`, `doc` (the record), `version`, `rma`, `order_id`, `order_number`, `status`, "
        "`money_status`, `currency`, `refund_total`, `units`, `created_at`, `updated_at` (the summary fields "
        "are projected into gsi2)",
        (
            "return_",
            "return_pk",
            "customer_gsi1pk",
            "return_gsi1sk",
            "returns_by_status_gsi2pk",
            "return_gsi2sk",
        ),
    ),
    Entity(
        "Return event",
        "returns",
        "RETURN#<rma>",
        "EVENT#<seq:06d>",
        (),
        (
            (
                "The audit timeline and the outbox",
                "written in the return's transaction; the stream publishes it",
            ),
        ),
        "`entity=event`, `type`, `rma`, `order_id`, `status`, `at`, `doc` (the timeline entry)",
        ("return_event", "is_event_sk", "event_id_from"),
    ),
    Entity(
        "Label claim",
        "returns",
        "RETURN#<rma>",
        "LABEL",
        (),
        (
            (
                "Buy a label exactly once",
                "one conditional `UpdateItem` (a two-minute lease); `purchased` in the label's transaction",
            ),
        ),
        "`entity=label_claim`, `state` (`purchasing`, `purchased`), `label_reference`, `lease_until`, "
        "`attempts`, `tracking_number`",
        ("label_claim",),
    ),
    Entity(
        "Money movement",
        "refunds",
        "RETURN#<rma>",
        "MONEY#<seq:04d>",
        (
            Index(GSI1, "MONEYLOG#<yyyy-mm>", "<created_at>#<rma>#<seq>", "always (the CSV export)"),
            Index(GSI2, "MONEY#open", "<updated_at>#<rma>#<seq>", "while open (the sweep)"),
            Index(GSI2, "MONEY#recheck", "<settled + 3 days>#<rma>#<seq>", "once succeeded, until read back"),
            Index(GSI2, "MONEY#by_hand", "<updated_at>#<rma>#<seq>", "a `manual` refund waiting for ops"),
        ),
        (
            (
                "Plan a refund / record a provider's answer",
                "one `TransactWriteItems`: the return on its `version`, its events, the movement items, the "
                "ledger updates, new store credits",
            ),
            ("Open refunds untouched for a while (sweep)", "one `Query` on `gsi2` (`MONEY#open`)"),
            (
                "Refunds due for their late-failure read-back (sweep)",
                "one `Query` on `gsi2` (`MONEY#recheck`), then one `UpdateItem` leaving the index",
            ),
            (
                "Refunds and credits created in a date range (export)",
                "one `Query` on `gsi1` per month + `BatchGetItem`",
            ),
        ),
        "`entity=money`, `doc` (the movement, also in the return's `refund.movements`), `rma`, `order_id`, "
        "`seq`, `kind`, `amount`, `currency`, `status`, `provider`, `created_at`, `updated_at`",
        ("movement", "money_log_gsi1pk", "movement_index_sk", "seq_from_movement_index_sk"),
    ),
    Entity(
        "Outside refund",
        "refunds",
        "ORDER#<order_id>",
        "OUTSIDE#<reference>",
        (),
        (
            (
                "Record a refund made outside Homeward once (ops, a provider's dashboard)",
                "a `Put` (`attribute_not_exists`) in the transaction that counts it on the payment's ledger",
            ),
            ("Was this reference recorded, and with which money", "one `GetItem` (consistent)"),
            (
                "A ledger-only one (no return) settles or fails",
                "one `TransactWriteItems`: its `status` (was `pending`) and the ledger",
            ),
        ),
        "`entity=outside_refund`, `reference`, `payment_id`, `provider`, `amount`, `currency`, `status`, "
        "`source` (`ops` or the reporting provider), `refunded_at`, `rma` and `seq` (its movement, when "
        "on a return), `recorded_at`",
        ("outside_refund",),
    ),
    Entity(
        "Provider refund",
        "refunds",
        "PROVIDER_REFUND#<provider>#<refund id>",
        "REFUND",
        (),
        (("The movement behind a provider's refund (events without Homeward's metadata)", "one `GetItem`"),),
        "`entity=provider_refund`, `rma`, `seq`, `idempotency_key`",
        ("provider_refund",),
    ),
    Entity(
        "Store credit",
        "refunds",
        "CREDIT#<code>",
        "CREDIT",
        (),
        (("A credit by its code", "one `GetItem` (consistent)"),),
        "`entity=store_credit`, `code`, `issued`, `balance`, `currency`, `rma`, `order_id`, `customer_fp`, "
        "`issued_at`, `updated_at`",
        ("credit",),
    ),
    Entity(
        "Store credit redemption",
        "refunds",
        "CREDIT#<code>",
        "TX#<sha256 of the idempotency key, 32 hex>",
        (),
        (
            (
                "Redeem store credit",
                "one `TransactWriteItems`: the redemption (`attribute_not_exists`) + the balance "
                "(`balance >= amount`)",
            ),
        ),
        "`entity=credit_redemption`, `amount`, `currency`, `order_reference`, `at`",
        ("credit_redemption",),
    ),
    Entity(
        "Ledger provider refund (the sandbox payment provider)",
        "providers/ledger/payments.py",
        "PSP#ledger#<refund id>",
        "REFUND",
        (),
        (("The provider side of a `ledger` refund", "`PutItem` / `GetItem`"),),
        "key, amount, `settles_at`; TTL one year",
        ("psp_ledger_refund",),
    ),
    Entity(
        "Webhook (inbox)",
        "tracking",
        "WEBHOOK#<provider>-<sha256 of the provider's event id, 32 hex>",
        "WEBHOOK",
        (
            Index(
                GSI2, "WEBHOOKS#<status>", "<received_at>#<id>", "while unfinished (received, parked, failed)"
            ),
            Index(GSI1, "PARKED#<tracking number>", "<received_at>#<id>", "while parked"),
        ),
        (
            ("Store a carrier webhook once", "one `PutItem` with `attribute_not_exists(pk)`"),
            (
                "Apply a webhook",
                "`GetItem` parcel (+ `Query` the return for a return parcel) + one "
                "`TransactWriteItems`: inbox "
                "`received -> applied`, the parcel on its `version`, its events, the return on its `version`",
            ),
            ("Park / fail / replay a webhook", "one `UpdateItem` conditioned on the inbox status"),
            ("Webhooks parked for a tracking number", "one `Query` on `gsi1`"),
            ("Unfinished webhooks by status and age (ops)", "one `Query` on `gsi2`, newest first, paginated"),
        ),
        "`entity=webhook`, `provider`, `event_id`, `tracking_number`, "
        "`tracking_status`, `event_at`, `status` "
        "(`received`, `applied`, `parked`, `failed`), `body` (the raw bytes as received), `received_at`, "
        "`error`, `replays`, `expires_at` (TTL: 30 days, 90 when parked or failed)",
        ("webhook", "webhook_id_from", "webhooks_gsi2pk", "parked_gsi1pk", "webhook_index_sk"),
    ),
    Entity(
        "Shop webhook (inbox)",
        "shop_inbox",
        "SHOPHOOK#<provider>#<the shop's delivery id>",
        "SHOPHOOK",
        (),
        (
            ("Store a shop delivery once", "one `PutItem` with `attribute_not_exists(pk)`"),
            (
                "Apply it (stream)",
                "an order topic: the order's conditional `UpdateItem` (`source_updated_at`); a fulfillment: "
                "`GetItem` order + that `UpdateItem`; then one `UpdateItem` of the inbox status",
            ),
        ),
        "`entity=shop_webhook`, `provider`, `topic`, `shop`, `api_version`, `status` (`received`, `applied`, "
        "`failed`), `outcome`, `body` (the raw bytes as received), `received_at`, `applied_at`, `error`, "
        "`expires_at` (TTL: 30 days, 90 when failed)",
        ("shop_webhook",),
        "delivery id: `X-Shopify-Webhook-Id`, unique per delivery (Shopify retries keep it)",
    ),
    Entity(
        "Shipment (parcel)",
        "tracking",
        "SHIPMENT#<tracking number>",
        "SHIPMENT",
        (
            Index(GSI1, "PARCELS#<order_id>", "<direction>#<tracking number>"),
            Index(
                GSI2,
                "SHIPMENTS#active",
                "<last carrier event or registered>#<tracking number>",
                "while watched (not terminal; a return parcel once scanned; not yet reported delayed)",
            ),
        ),
        (
            ("A parcel by tracking number", "one `GetItem` (consistent)"),
            ("An order's parcels (shopper tracking)", "one `Query` on `gsi1` + `BatchGetItem`"),
            ("Parcels silent since before a time (watch)", "one `Query` on `gsi2` + `BatchGetItem`"),
        ),
        "`entity=shipment`, `doc` (status, carrier times, location, ETA, "
        "checkpoints, review flag), `version`, "
        "`tracking_number`, `order_id`, `rma`, `direction`, `status`, `updated_at`",
        ("shipment", "tracking_number_from", "parcels_gsi1pk", "parcel_gsi1sk", "active_shipment_gsi2sk"),
    ),
    Entity(
        "Shipment event",
        "tracking",
        "SHIPMENT#<tracking number>",
        "EVENT#<version:06d>#<index>",
        (),
        (("The outbox, like return events", "written in the parcel's transaction; the stream publishes it"),),
        "`entity=event`, `type` (`shipment.*`), `order_id`, `tracking_number`, `rma`, `status`, `at`, `doc`",
        ("shipment_event",),
    ),
    Entity(
        "Notification record",
        "notifications",
        "NOTIFY#<dedupe key>",
        "CH#<channel>",
        (),
        (
            (
                "Claim a notification before sending",
                "one `PutItem`, conditioned on no record, or one `deferred`, `retry` "
                "or `sending` for over 60 s",
            ),
            ("Record its outcome", "one `UpdateItem`"),
        ),
        "`entity=notification`, `kind`, `status` (`sending`, `sent`, `failed`, `undeliverable`, `deferred`, "
        "`retry`), `at`, `updated_at`, `detail`, `expires_at` (TTL 90 days)",
        ("notification",),
        "dedupe key: the event id, or `<tracking number>:<kind>` for parcel milestones; channel: `email` or "
        "`sms`",
    ),
    Entity(
        "Notification preferences",
        "notifications",
        "PREFS#<email fp>",
        "PREFS",
        (),
        (("A customer's preferences; unsubscribe", "one `GetItem`; one `UpdateItem`"),),
        "`entity=preferences`, `email_opt_out`, `sms_opt_in`, `sms_opt_out`, `updated_at`",
        ("preferences",),
    ),
    Entity(
        "Survey answer",
        "notifications",
        "FEEDBACK#<rma>",
        "FEEDBACK",
        (Index(GSI1, "FEEDBACK#<yyyy-mm>", "<at>#<rma>", "always (answers by month, for CSAT)"),),
        (
            ("Store a survey answer", "one `UpdateItem` (a second answer replaces the first)"),
            ("A return's answer", "one `GetItem`"),
        ),
        "`entity=feedback`, `rma`, `order_id`, `rating` (1-5), `comment`, `at`",
        ("feedback", "feedback_gsi1pk", "feedback_gsi1sk"),
    ),
)
