"""PortalReturnsFunction: a signed-in shopper's returns.

Eligibility, photo uploads, starting a return (with `Idempotency-Key`), listing and
reading returns with their shopper timeline, and cancelling before drop-off. Every route
needs the portal token of this very order.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler.api_gateway import Response
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.returns import ReturnsTable
from homeward.adapters.policy import load_policy
from homeward.adapters.storage import LabelFiles, presigned_photo_post
from homeward.config import PortalReturnsSettings, load_settings
from homeward.domain.refunds import shopper_view as refunds
from homeward.domain.returns import service as return_service
from homeward.domain.returns.states import Actor
from homeward.errors import NotFound
from homeward.handlers.api import (
    ERROR_RESPONSES,
    IdempotencyKey,
    OrderIdPath,
    PortalAuth,
    RmaPath,
    create_app,
    error_docs,
)
from homeward.models.returns import (
    CancelRequest,
    Eligibility,
    GiftRecipient,
    LabelLink,
    PhotoUpload,
    PhotoUploadRequest,
    PreviewLine,
    ReturnPreview,
    ReturnRecord,
    ReturnRequest,
    ShopperLabel,
    ShopperReturn,
    ShopperReturnList,
    TimelineEntry,
)
from homeward.observability import logger, metrics

settings = load_settings(PortalReturnsSettings)
store = ReturnsTable(client("dynamodb"), settings.table_name)
portal = PortalAuth(settings.portal_signing_key_secret, settings.portal_token_ttl_seconds)
labels = LabelFiles(settings.labels_bucket)
app = create_app(max_body_bytes=settings.max_body_bytes, before_validation=[portal.gate])

AUTH_ERRORS = error_docs({401: "Missing, invalid or expired token", 404: "Not this token's order or return"})


def _parcel_eta(record: ReturnRecord) -> datetime | None:
    """The return parcel's ETA from tracking, only where it can move the expected refund date."""
    if record.label is None or (record.refund is not None and record.refund.trigger is not None):
        return None
    from homeward.adapters.dynamodb.tracking import TrackingTable
    from homeward.models.tracking import normalize_tracking_number

    parcel = TrackingTable(client("dynamodb"), settings.table_name).get_shipment(
        normalize_tracking_number(record.label.tracking_number)
    )
    return parcel.eta if parcel else None


def shopper_return(
    record: ReturnRecord, timeline: list[TimelineEntry], *, parcel_eta: datetime | None = None
) -> ShopperReturn:
    label = record.label
    policy = load_policy(settings.return_policy_parameter)
    return ShopperReturn(
        rma=record.rma,
        order_id=record.order_id,
        status=record.status,
        money_status=record.money_status,
        created_at=record.created_at,
        updated_at=record.updated_at,
        lines=return_service.shopper_lines(record),
        preview=record.preview,
        destination=record.destination,
        can_cancel=return_service.can_shopper_cancel(record),
        rejection_reason=record.rejection_reason,
        label=ShopperLabel(
            tracking_number=label.tracking_number,
            carrier_service=label.carrier_service,
            expires_at=label.expires_at,
            formats=sorted(label.files),
            qr_payload=label.qr_payload,
            qr_code_url=label.qr_code_url,
        )
        if label and not label.voided
        else None,
        label_status=return_service.label_status(record),
        label_error=record.label_error,
        refund=refunds.shopper_refund(record, policy, parcel_eta=parcel_eta, now=datetime.now(UTC)),
        timeline=return_service.shopper_timeline(timeline),
    )


@app.get(
    "/portal/orders/<orderId>/eligibility",
    summary="What can be returned, until when, and for how much",
    tags=["Portal returns"],
    responses={200: {"description": "Per line eligibility"}, **AUTH_ERRORS},
)
def get_eligibility(order_id: OrderIdPath) -> Eligibility:
    claims = portal.require_order(app, order_id)
    return return_service.order_eligibility(
        order_id,
        store=store,
        policy=load_policy(settings.return_policy_parameter),
        now=datetime.now(UTC),
        gift=claims.gift is not None,
    )


@app.post(
    "/portal/orders/<orderId>/returns/preview",
    summary="Price a return before submitting it",
    description=(
        "The refund the request would get, computed exactly as a submit would, without creating "
        "anything. Errors as for a submit (409 over-return, 422 ineligible lines), except that photos "
        "and a note a reason requires are only asked for on submit."
    ),
    tags=["Portal returns"],
    responses={
        200: {"description": "The preview", "content": {"application/json": {"model": ReturnPreview}}},
        **error_docs({409: "More units than can be returned"}),
        **AUTH_ERRORS,
        **ERROR_RESPONSES,
    },
)
def preview_return(order_id: OrderIdPath, request: ReturnRequest) -> ReturnPreview:
    claims = portal.require_order(app, order_id)
    if claims.gift is not None:
        return_service.check_gift_request(request)
    record = return_service.preview_return(
        order_id,
        request,
        store=store,
        policy=load_policy(settings.return_policy_parameter),
        now=datetime.now(UTC),
    )
    return ReturnPreview(
        currency=record.currency,
        preview=record.preview,
        decision=record.decision.outcome,
        lines=[
            PreviewLine(line_id=line.line_id, quantity=line.quantity, refund=line.refund)
            for line in record.lines
        ],
    )


@app.post(
    "/portal/orders/<orderId>/photos",
    summary="Get a presigned upload for one photo",
    tags=["Portal returns"],
    responses={
        200: {"description": "Upload with a multipart POST to `url`"},
        **AUTH_ERRORS,
        **ERROR_RESPONSES,
    },
)
def create_photo_upload(order_id: OrderIdPath, upload: PhotoUploadRequest) -> PhotoUpload:
    portal.require_order(app, order_id)
    extension = upload.content_type.split("/")[1].replace("jpeg", "jpg")
    key = f"photos/{order_id}/{uuid.uuid4().hex}.{extension}"
    expires = 900
    post = presigned_photo_post(
        settings.photos_bucket, key, upload.content_type, max_bytes=settings.photo_max_bytes, expires=expires
    )
    return PhotoUpload(
        url=post["url"],
        fields=post["fields"],
        key=key,
        max_bytes=settings.photo_max_bytes,
        expires_in_seconds=expires,
    )


@app.post(
    "/portal/orders/<orderId>/returns",
    summary="Start a return",
    description=(
        "The server re-checks eligibility and computes the refund preview from the order and the policy. "
        "Outcome `approved` or `needs_review`. Over-return → 409 with the returnable quantity; an ineligible "
        "line → 422 with reason codes; a reused Idempotency-Key with another body → 422."
    ),
    tags=["Portal returns"],
    responses={
        201: {"description": "Created", "content": {"application/json": {"model": ShopperReturn}}},
        200: {"description": "Replay of an earlier submit with the same Idempotency-Key"},
        409: {"description": "More units than can be returned, or a concurrent change"},
        **AUTH_ERRORS,
        **ERROR_RESPONSES,
    },
)
def start_return(
    order_id: OrderIdPath, request: ReturnRequest, idempotency_key: IdempotencyKey = None
) -> Response[ShopperReturn]:
    claims = portal.require_order(app, order_id)
    gift = GiftRecipient(email=claims.gift.email, locale=claims.gift.locale) if claims.gift else None
    record, timeline, created = return_service.start_return(
        order_id,
        request,
        idempotency_key=idempotency_key,
        store=store,
        policy=load_policy(settings.return_policy_parameter),
        filed_by=Actor.SHOPPER,
        actor_id=None,
        now=datetime.now(UTC),
        gift=gift,
    )
    if created:
        metrics.add_metric(name="ReturnsStarted", unit="Count", value=1)
        logger.info(
            "return started", extra={"rma": record.rma, "order_id": order_id, "status": record.status}
        )
    return Response(
        status_code=201 if created else 200,
        content_type="application/json",
        body=shopper_return(record, timeline),
    )


@app.get(
    "/portal/orders/<orderId>/returns",
    summary="The shopper's returns for this order",
    tags=["Portal returns"],
    responses={200: {"description": "Returns, oldest first"}, **AUTH_ERRORS},
)
def list_returns(order_id: OrderIdPath) -> ShopperReturnList:
    claims = portal.require_order(app, order_id)
    records = [r for r in store.returns_for_order(order_id) if return_service.visible_to(r, claims.gift)]
    return ShopperReturnList(returns=[shopper_return(r, []) for r in records])


def _for_claims(order_id: str, rma: str, claims) -> tuple[ReturnRecord, list[TimelineEntry]]:
    record, timeline = return_service.get_for_order(order_id, rma, store=store)
    if not return_service.visible_to(record, claims.gift):
        raise NotFound("Return not found")
    return record, timeline


@app.get(
    "/portal/orders/<orderId>/returns/<rma>",
    summary="One return with its timeline",
    tags=["Portal returns"],
    responses={200: {"description": "The return"}, **AUTH_ERRORS},
)
def get_return(order_id: OrderIdPath, rma: RmaPath) -> ShopperReturn:
    record, timeline = _for_claims(order_id, rma, portal.require_order(app, order_id))
    return shopper_return(record, timeline, parcel_eta=_parcel_eta(record))


@app.post(
    "/portal/orders/<orderId>/returns/<rma>/cancel",
    summary="Cancel a return before drop-off",
    tags=["Portal returns"],
    responses={200: {"description": "Cancelled"}, 409: {"description": "Too late to cancel"}, **AUTH_ERRORS},
)
def cancel_return(order_id: OrderIdPath, rma: RmaPath, request: CancelRequest) -> ShopperReturn:
    _for_claims(order_id, rma, portal.require_order(app, order_id))
    record, timeline = return_service.act(
        rma,
        "cancel",
        store=store,
        actor=Actor.SHOPPER,
        actor_id=None,
        now=datetime.now(UTC),
        note=request.reason,
        order_id=order_id,
    )
    metrics.add_metric(name="ReturnTransitions", unit="Count", value=1)
    metrics.add_metadata(key="action", value="cancel")
    return shopper_return(record, timeline)


@app.get(
    "/portal/orders/<orderId>/returns/<rma>/label",
    summary="A short-lived link to the return label (PDF, PNG or ZPL)",
    tags=["Portal returns"],
    responses={
        200: {"description": "The link"},
        **AUTH_ERRORS,
        **error_docs({409: "No label yet, or it expired", 422: "Format not available"}),
    },
)
def get_label(
    order_id: OrderIdPath,
    rma: RmaPath,
    label_format: Annotated[Literal["PDF", "PNG", "ZPL"], Query(alias="format")] = "PDF",
) -> LabelLink:
    record, _ = _for_claims(order_id, rma, portal.require_order(app, order_id))
    key = return_service.label_file(record, label_format)
    expires = 900
    url = labels.link(key, filename=f"{rma}-label.{label_format.lower()}", expires=expires)
    return LabelLink(
        url=url, format=label_format, expires_in_seconds=expires, tracking_number=record.label.tracking_number
    )


@app.get(
    "/portal/orders/<orderId>/returns/<rma>/qr",
    summary="The drop-off QR code as an SVG image",
    description="What the drop-off point scans instead of a printed label (the label's own QR payload).",
    tags=["Portal returns"],
    responses={
        200: {"description": "The QR code", "content": {"image/svg+xml": {"schema": {"type": "string"}}}},
        **AUTH_ERRORS,
        **error_docs({409: "No label yet, it expired, or it has no drop-off code"}),
    },
)
def get_qr_code(order_id: OrderIdPath, rma: RmaPath) -> Response[str]:
    from homeward.domain.labels.render import qr_svg  # segno only for this route

    record, _ = _for_claims(order_id, rma, portal.require_order(app, order_id))
    payload = return_service.drop_off_code(record)
    return Response(
        200,
        "image/svg+xml",
        qr_svg(payload),
        {"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
