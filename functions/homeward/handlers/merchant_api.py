"""MerchantApiFunction: the shop's back end pushes orders (`PUT /orders/{orderId}`) and
reads and redeems store-credit codes at its checkout (`/credits/{code}`).

Authenticated with the merchant API key (`Authorization: Bearer <key>` or `X-Api-Key`),
kept in Secrets Manager.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Header, Path
from aws_lambda_powertools.logging import correlation_paths

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.orders import OrdersTable
from homeward.config import MerchantApiSettings, load_settings
from homeward.domain.orders import rules as orders
from homeward.errors import NotFound
from homeward.handlers.api import (
    ERROR_RESPONSES,
    IDEMPOTENCY_KEY_PATTERN,
    OrderIdPath,
    api_key_gate,
    create_app,
    error_docs,
)
from homeward.models.orders import OrderIn, UpsertOutcome
from homeward.models.refunds import CreditRedemption, StoreCredit
from homeward.observability import logger, metrics

settings = load_settings(MerchantApiSettings)
table = OrdersTable(client("dynamodb"), settings.table_name)


app = create_app(
    max_body_bytes=settings.max_body_bytes, before_validation=[api_key_gate(settings.merchant_api_key_secret)]
)


@app.put(
    "/orders/<orderId>",
    summary="Create or replace an order",
    description=(
        "Idempotent upsert from the shop's back end. An identical re-send answers `unchanged`; "
        "a body whose `updated_at` is older than the stored one is refused with 409."
    ),
    tags=["Merchant"],
    responses={
        200: {
            "description": "Updated or unchanged",
            "content": {"application/json": {"model": UpsertOutcome}},
        },
        201: {"description": "Created", "content": {"application/json": {"model": UpsertOutcome}}},
        **error_docs({401: "Missing or invalid API key", 409: "A newer version is stored"}),
        **ERROR_RESPONSES,
    },
)
def put_order(order_id: OrderIdPath, order: OrderIn) -> Response[UpsertOutcome]:
    outcome = orders.upsert_order(order_id, order, store=table, now=datetime.now(UTC))
    metrics.add_metric(name="OrderUpserts", unit="Count", value=1)
    metrics.add_metadata(key="result", value=outcome.result)
    logger.info(
        "order upserted", extra={"order_id": order_id, "result": outcome.result, "version": outcome.version}
    )
    return Response(
        status_code=201 if outcome.result == "created" else 200,
        content_type="application/json",
        body=outcome,
    )


# ---- store credit: the shop's checkout reads and redeems codes ------------------------------

CreditCodePath = Annotated[
    str,
    Path(pattern=r"^HW-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$", description="e.g. HW-7K3M-9QXA-D2PV"),
]
RedemptionKey = Annotated[
    str,
    Header(
        alias="idempotency-key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Required: a retried redemption is applied once",
    ),
]
CREDIT_ERRORS = {
    **error_docs(
        {
            401: "Missing or invalid API key",
            404: "No such code",
            409: "Balance lower than the amount (details.balance)",
            422: "Another currency",
        }
    ),
    **ERROR_RESPONSES,
}


@cache
def _credits():
    from homeward.adapters.dynamodb.refunds import RefundsTable

    return RefundsTable(client("dynamodb"), settings.table_name)


@app.get(
    "/credits/<code>", summary="A store credit's balance", tags=["Store credit"], responses=CREDIT_ERRORS
)
def get_credit(code: CreditCodePath) -> StoreCredit:
    credit = _credits().get_credit(code)
    if credit is None:
        raise NotFound("No such store credit")
    return credit


@app.post(
    "/credits/<code>/redemptions",
    summary="Spend store credit on an order (once per Idempotency-Key)",
    tags=["Store credit"],
    responses={200: {"description": "Applied (or replayed)"}, **CREDIT_ERRORS},
)
def redeem_credit(
    code: CreditCodePath, redemption: CreditRedemption, idempotency_key: RedemptionKey
) -> StoreCredit:
    credit, applied = _credits().redeem_credit(
        code,
        amount=redemption.amount,
        currency=redemption.currency,
        order_reference=redemption.order_reference,
        key=idempotency_key,
        now=datetime.now(UTC),
    )
    if applied:
        metrics.add_metric(name="StoreCreditRedeemed", unit="Count", value=redemption.amount)
    logger.info("store credit redemption", extra={"code": code[:7] + "...", "applied": applied})
    return credit


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
