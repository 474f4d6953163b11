"""PortalApiFunction: the shopper's returns portal.

`POST /portal/session` signs in with order number + email and returns a token scoped to
that one order; every other portal route requires that token.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.orders import OrdersTable
from homeward.config import PortalApiSettings, load_settings
from homeward.domain.access import auth
from homeward.domain.access.tokens import GiftClaim
from homeward.domain.orders import rules as orders
from homeward.errors import NotFound, TooManyRequests, Unauthorized
from homeward.handlers import portal_pages as pages
from homeward.handlers.api import (
    ERROR_RESPONSES,
    OrderIdPath,
    PortalAuth,
    client_ip,
    create_app,
    error_docs,
)
from homeward.models.notifications import FeedbackIn, FeedbackOut, Unsubscribed
from homeward.models.orders import PortalSession, ShopperOrder, SignInRequest
from homeward.models.portal import (
    GiftReturnsConfig,
    GiftSignInRequest,
    PortalBrand,
    PortalConfig,
    RedeemRequest,
    SignInLinkAccepted,
    SignInLinkRequest,
)
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
link_limits = auth.LinkLimits(
    per_order=settings.sign_in_links_per_order,
    per_ip=settings.sign_in_link_requests_per_ip,
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
    return _counted(
        "SignIns",
        lambda address: auth.sign_in(
            credentials,
            address,
            directory=table,
            attempts=table,
            issue_token=lambda order_id, now: portal.tokens().issue(order_id, now),
            limits=limits,
            now=datetime.now(UTC),
        ),
    )


def _counted(metric: str, attempt: Callable[[str], PortalSession]) -> PortalSession:
    """Run a sign-in attempt for the caller's IP; outcomes counted and logged (never the input)."""
    try:
        session = attempt(client_ip(app, settings.edge_origin_token))
    except (Unauthorized, TooManyRequests) as exc:
        metrics.add_metric(name="SignInRejected", unit="Count", value=1)
        logger.info("sign-in rejected", extra={"reason": exc.code, "kind": metric})
        raise
    metrics.add_metric(name=metric, unit="Count", value=1)
    logger.info("signed in", extra={"order_id": session.order_id, "kind": metric})
    return session


@app.post(
    "/portal/session/link",
    summary="Email me a sign-in link",
    description=(
        "Emails a one-time link (valid 15 minutes) to the order's own address when the email matches "
        "the order number. The answer is the same whether or not it matches; a few links per order and "
        "window at most (more are silently not sent), and 429 only when one client floods."
    ),
    tags=["Portal"],
    responses={
        202: {
            "description": "Sent if matching",
            "content": {"application/json": {"model": SignInLinkAccepted}},
        },
        **error_docs({429: "Too many requests from this client; see Retry-After"}),
        **ERROR_RESPONSES,
    },
)
def request_sign_in_link(request: SignInLinkRequest) -> Response[SignInLinkAccepted]:
    sent = auth.request_sign_in_link(
        request,
        client_ip(app, settings.edge_origin_token),
        directory=table,
        attempts=table,
        outbox=table,
        limits=link_limits,
        now=datetime.now(UTC),
    )
    metrics.add_metric(name="SignInLinksSent" if sent else "SignInLinksNotSent", unit="Count", value=1)
    return Response(202, "application/json", SignInLinkAccepted())


@app.post(
    "/portal/session/redeem",
    summary="Sign in with an emailed link",
    description="Exchanges the link's token for a portal session, once.",
    tags=["Portal"],
    responses={
        200: {"description": "Signed in", "content": {"application/json": {"model": PortalSession}}},
        **error_docs(
            {401: "The link is not valid, has expired (reason link_expired) or was used (link_used)"}
        ),
        **ERROR_RESPONSES,
    },
)
def redeem_sign_in_link(request: RedeemRequest) -> PortalSession:
    now = datetime.now(UTC)
    order_id, nonce, expires = portal.links().check_sign_in(request.token, now)
    auth.redeem_sign_in_link(order_id, nonce, expires, used=table)
    token, expires_at = portal.tokens().issue(order_id, now)
    metrics.add_metric(name="SignIns", unit="Count", value=1)
    logger.info("signed in by link", extra={"order_id": order_id})
    return PortalSession(token=token, order_id=order_id, expires_at=expires_at)


@app.post(
    "/portal/gift-session",
    summary="Sign in as a gift's recipient",
    description=(
        "Order number plus the gift receipt's code (or the postcode it was shipped to, as the policy "
        "says), and the recipient's own email. Opens the order for returns as store credit for the "
        "recipient; nothing about them is sent to the buyer. Failures answer and count like sign-in's."
    ),
    tags=["Portal"],
    responses={
        200: {"description": "Signed in", "content": {"application/json": {"model": PortalSession}}},
        **error_docs(
            {
                401: "No gift order with that number and code",
                404: "Gift returns are turned off",
                429: "Too many failed attempts; see Retry-After",
            }
        ),
        **ERROR_RESPONSES,
    },
)
def create_gift_session(request: GiftSignInRequest) -> PortalSession:
    from homeward.adapters.policy import load_policy

    gifts = load_policy(settings.return_policy_parameter).gift_returns
    if not gifts.enabled:
        raise NotFound("Gift returns are not offered", details={"reason": "gift_returns_disabled"})
    recipient = GiftClaim(email=request.email.strip(), locale=request.locale)
    return _counted(
        "GiftSignIns",
        lambda address: auth.gift_sign_in(
            request,
            address,
            verify_by=gifts.verify_by,
            directory=table,
            orders=table,
            attempts=table,
            issue_token=lambda order_id, now: portal.tokens().issue(order_id, now, gift=recipient),
            limits=limits,
            now=datetime.now(UTC),
        ),
    )


@app.get(
    "/portal/config",
    summary="The portal's brand, languages and options",
    description="Public: the web app reads it before anyone signs in. Cached for five minutes.",
    tags=["Portal"],
    responses={200: {"description": "The config", "content": {"application/json": {"model": PortalConfig}}}},
)
def get_config() -> Response[PortalConfig]:
    return Response(200, "application/json", portal_config(), {"Cache-Control": "public, max-age=300"})


def portal_config() -> PortalConfig:
    from homeward.adapters.policy import load_policy
    from homeward.notifications.catalog import LOCALES
    from homeward.notifications.render import Brand

    brand = Brand.from_env()
    gifts = load_policy(settings.return_policy_parameter).gift_returns
    return PortalConfig(
        brand=PortalBrand(
            name=brand.name,
            logo_url=brand.logo_url,
            primary_color=brand.primary_color,
            accent_color=brand.accent_color,
            support_email=brand.support_email,
            policy_url=settings.return_policy_url or None,
        ),
        locales=list(LOCALES),
        default_locale=LOCALES[0],
        gift_returns=GiftReturnsConfig(enabled=gifts.enabled, verify_by=gifts.verify_by),
        magic_link=True,
    )


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
    claims = portal.claims(app)
    view = orders.get_shopper_order(order_id, token_order_id=claims.order_id, store=table)
    return orders.for_gift_recipient(view, claims.gift) if claims.gift else view


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
    from homeward.domain.tracking.updates import parcel_view

    claims = portal.require_order(app, order_id)
    parcels = sorted(
        _parcels().order_parcels(order_id), key=lambda p: (p.direction != "outbound", p.registered_at)
    )
    hidden = _hidden_returns(order_id, claims) if any(p.rma for p in parcels) else set()
    return OrderTracking(order_id=order_id, parcels=[parcel_view(p) for p in parcels if p.rma not in hidden])


def _hidden_returns(order_id: str, claims) -> set[str]:
    """The returns this session may not see (a gift's return and its buyer; see visible_to)."""
    from homeward.adapters.dynamodb.returns import ReturnsTable
    from homeward.domain.returns.service import visible_to

    records = ReturnsTable(client("dynamodb"), settings.table_name).returns_for_order(order_id)
    return {r.rma for r in records if not visible_to(r, claims.gift)}


# ---- notifications: one-click unsubscribe and the satisfaction survey ----------------------


@cache
def _notifications():
    from homeward.adapters.dynamodb.notifications import NotificationsTable

    return NotificationsTable(client("dynamodb"), settings.table_name)


UnsubscribeToken = Annotated[str, Query(min_length=10, max_length=1000, description="From the email's link")]
UNSUBSCRIBE_ERRORS = {**error_docs({401: "Not a valid unsubscribe link"}), **ERROR_RESPONSES}


def _page(title: str, body: str) -> Response[str]:
    return Response(200, "text/html; charset=utf-8", pages.render(title, body), pages.HEADERS)


@app.get(
    "/portal/unsubscribe",
    summary="Unsubscribe page (the link in every email's footer)",
    description=(
        "Shows what the link would switch off and a button that POSTs it. It changes nothing itself: "
        "mail scanners and link previews open links, and must not unsubscribe anyone."
    ),
    tags=["Portal"],
    responses={
        200: {"description": "A confirmation page", "content": {"text/html": {"schema": {"type": "string"}}}},
        **UNSUBSCRIBE_ERRORS,
    },
)
def unsubscribe_page(token: UnsubscribeToken) -> Response[str]:
    _, channel = portal.links().check_unsubscribe(token)
    return _page(*pages.confirm_unsubscribe(token, channel))


@app.post(
    "/portal/unsubscribe",
    summary="Unsubscribe: one-click (RFC 8058 List-Unsubscribe-Post) or the page's button",
    description="Idempotent: the signed link names one customer and a channel, never an order. A browser "
    "(Accept: text/html) gets a page, anything else JSON.",
    tags=["Portal"],
    responses={
        200: {
            "description": "Unsubscribed",
            "content": {
                "application/json": {"model": Unsubscribed},
                "text/html": {"schema": {"type": "string"}},
            },
        },
        **UNSUBSCRIBE_ERRORS,
    },
)
def unsubscribe(token: UnsubscribeToken) -> Response[str]:
    customer_fp, channel = portal.links().check_unsubscribe(token)
    name = "email_opt_out" if channel == "email" else "sms_opt_out"
    _notifications().set_preference(customer_fp, name, True, now=datetime.now(UTC))
    metrics.add_metric(name="Unsubscribed", unit="Count", value=1)
    logger.info("unsubscribed", extra={"channel": channel})
    if "text/html" in (app.current_event.headers.get("accept") or ""):
        return _page(*pages.unsubscribed(channel))
    return Response(200, "application/json", Unsubscribed(channel=channel).model_dump_json())


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
