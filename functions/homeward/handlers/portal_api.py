"""PortalApiFunction: the shopper's returns portal.

`POST /portal/session` signs in with order number + email and returns a token scoped to
that one order; every other portal route requires that token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.orders import OrdersTable
from homeward.config import PortalApiSettings, load_settings
from homeward.domain import auth, orders
from homeward.errors import NotFound, TooManyRequests, Unauthorized
from homeward.handlers.api import ERROR_RESPONSES, OrderIdPath, PortalAuth, create_app, error_docs
from homeward.models.notifications import FeedbackIn, FeedbackOut, Unsubscribed
from homeward.models.orders import PortalSession, ShopperOrder, SignInRequest
from homeward.models.tracking import OrderTracking
from homeward.observability import logger, metrics

settings = load_settings(PortalApiSettings)
table = OrdersTable(client("dynamodb"), settings.table_name)
app = create_app(max_body_bytes=settings.max_body_bytes)
portal = PortalAuth(settings.portal_signing_key_secret, settings.portal_token_ttl_seconds)
limits = auth.SignInLimits(
    per_order=settings.sign_in_max_failures_per_order,
    per_ip=settings.sign_in_max_failures_per_ip,
    window_seconds=settings.sign_in_window_seconds,
)


@app.post(
    "/portal/session",
    summary="Sign in with order number and email",
    description=(
        "Returns a short-lived token that opens this one order. A wrong email and an unknown order "
        "number give the same 401; repeated failures per order number or client IP give 429."
    ),
    tags=["Portal"],
    responses={
        200: {"description": "Signed in", "content": {"application/json": {"model": PortalSession}}},
        **error_docs(
            {401: "No order with that number and email", 429: "Too many failed attempts; see Retry-After"}
        ),
        **ERROR_RESPONSES,
    },
)
def create_session(credentials: SignInRequest) -> PortalSession:
    client_ip = app.current_event.request_context.http.source_ip
    try:
        session = auth.sign_in(
            credentials,
            client_ip,
            directory=table,
            attempts=table,
            issue_token=lambda order_id, now: portal.tokens().issue(order_id, now),
            limits=limits,
            now=datetime.now(UTC),
        )
    except (Unauthorized, TooManyRequests) as exc:
        metrics.add_metric(name="SignInRejected", unit="Count", value=1)
        logger.info("sign-in rejected", extra={"reason": exc.code})
        raise
    metrics.add_metric(name="SignIns", unit="Count", value=1)
    logger.info("signed in", extra={"order_id": session.order_id})
    return session


@app.get(
    "/portal/orders/<orderId>",
    summary="The shopper's view of their order",
    tags=["Portal"],
    responses={
        200: {"description": "The order", "content": {"application/json": {"model": ShopperOrder}}},
        **error_docs({401: "Missing, invalid or expired token", 404: "No such order for this token"}),
    },
)
def get_order(order_id: OrderIdPath) -> ShopperOrder:
    return orders.get_shopper_order(order_id, token_order_id=portal.order_id(app), store=table)


@cache
def _parcels():
    # Imported on first use: sign-in and the order view do not need the tracking code.
    from homeward.adapters.dynamodb.tracking import TrackingTable

    return TrackingTable(client("dynamodb"), settings.table_name)


@app.get(
    "/portal/orders/<orderId>/tracking",
    summary="Where the shopper's parcels are",
    description=(
        "Every parcel of the order, outbound and return: the normalized status, the carrier's "
        "events (newest first), the last location and the estimated delivery when the carrier gives one."
    ),
    tags=["Portal"],
    responses={
        200: {"description": "The parcels", "content": {"application/json": {"model": OrderTracking}}},
        **error_docs({401: "Missing, invalid or expired token", 404: "No such order for this token"}),
    },
)
def get_tracking(order_id: OrderIdPath) -> OrderTracking:
    from homeward.domain.tracking import parcel_view

    portal.require_order(app, order_id)
    parcels = sorted(
        _parcels().order_parcels(order_id), key=lambda p: (p.direction != "outbound", p.registered_at)
    )
    return OrderTracking(order_id=order_id, parcels=[parcel_view(p) for p in parcels])


# ---- notifications: one-click unsubscribe and the satisfaction survey ----------------------


@cache
def _notifications():
    from homeward.adapters.dynamodb.notifications import NotificationsTable

    return NotificationsTable(client("dynamodb"), settings.table_name)


UnsubscribeToken = Annotated[str, Query(min_length=10, max_length=1000, description="From the email's link")]
UNSUBSCRIBE_DOCS = {
    200: {"description": "Unsubscribed", "content": {"application/json": {"model": Unsubscribed}}},
    **error_docs({401: "Not a valid unsubscribe link"}),
    **ERROR_RESPONSES,
}


def _unsubscribe(token: str) -> Unsubscribed:
    customer_fp, channel = portal.links().check_unsubscribe(token)
    name = "email_opt_out" if channel == "email" else "sms_opt_out"
    _notifications().set_preference(customer_fp, name, True, now=datetime.now(UTC))
    metrics.add_metric(name="Unsubscribed", unit="Count", value=1)
    logger.info("unsubscribed", extra={"channel": channel})
    return Unsubscribed(channel=channel)


@app.get(
    "/portal/unsubscribe",
    summary="Unsubscribe (the link in every email)",
    description="Idempotent: the signed link names one customer and a channel, never an order.",
    tags=["Portal"],
    responses=UNSUBSCRIBE_DOCS,
)
def unsubscribe_link(token: UnsubscribeToken) -> Unsubscribed:
    return _unsubscribe(token)


@app.post(
    "/portal/unsubscribe",
    summary="One-click unsubscribe (RFC 8058 List-Unsubscribe-Post)",
    tags=["Portal"],
    responses=UNSUBSCRIBE_DOCS,
)
def unsubscribe_one_click(token: UnsubscribeToken) -> Unsubscribed:
    return _unsubscribe(token)


@app.post(
    "/portal/feedback",
    summary="Answer the satisfaction survey of a closed return",
    description="Rating 1-5 and an optional comment; the signed survey link (30 days) names the return.",
    tags=["Portal"],
    responses={
        201: {"description": "Stored", "content": {"application/json": {"model": FeedbackOut}}},
        **error_docs({401: "Not a valid or an expired survey link", 404: "No such return"}),
        **ERROR_RESPONSES,
    },
)
def give_feedback(answer: FeedbackIn) -> Response[FeedbackOut]:
    from homeward.adapters.dynamodb.refunds import RefundsTable

    rma = portal.links().check_survey(answer.token)
    record = RefundsTable(client("dynamodb"), settings.table_name).get_return(rma)
    if record is None:
        raise NotFound("Return not found")
    comment = answer.comment.strip() if answer.comment and answer.comment.strip() else None
    _notifications().save_feedback(rma, record.order_id, answer.rating, comment, now=datetime.now(UTC))
    metrics.add_metric(name="SurveyAnswers", unit="Count", value=1)
    metrics.add_metadata(key="rating", value=answer.rating)
    return Response(201, "application/json", FeedbackOut(rma=rma, rating=answer.rating, comment=comment))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
