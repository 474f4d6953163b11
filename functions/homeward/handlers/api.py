"""The HTTP resolver every API function uses, with the one map from errors to responses."""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Header, Path

from homeward.errors import (
    Conflict,
    DependencyFailed,
    Forbidden,
    HomewardError,
    MalformedRequest,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
    UnsupportedMediaType,
    WebhookSignatureInvalid,
)
from homeward.models.common import EXTERNAL_ID_PATTERN, ErrorBody
from homeward.observability import logger, metrics

# Path parameter `{orderId}` as named in template.yaml, validated like ExternalId.
OrderIdPath = Annotated[
    str,
    Path(
        alias="orderId",
        min_length=1,
        max_length=64,
        pattern=EXTERNAL_ID_PATTERN,
        description="The shop's order id (not `.` or `..`)",
    ),
]

RmaPath = Annotated[
    str,
    Path(
        pattern=r"^R-[0-9A-Z]{4}-[0-9A-Z]{4}(-[0-9A-Z]{4}-[0-9A-Z]{4})?$",
        description="Return number, e.g. R-7K3M-9QXA-2B4C-XY7Z (R-7K3M-9QXA: made before 80-bit RMAs)",
    ),
]
# The alphabet and length of every Idempotency-Key header (no `#`: it may be part of a table key).
IDEMPOTENCY_KEY_PATTERN = r"^[A-Za-z0-9._:\-]{8,128}$"
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="idempotency-key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description="Makes a retried submit return the first result instead of a second return",
    ),
]

Gate = Callable[[APIGatewayHttpResolver], None]

STATUS_BY_ERROR: dict[type[HomewardError], HTTPStatus] = {
    MalformedRequest: HTTPStatus.BAD_REQUEST,
    NotFound: HTTPStatus.NOT_FOUND,
    Unauthorized: HTTPStatus.UNAUTHORIZED,
    WebhookSignatureInvalid: HTTPStatus.UNAUTHORIZED,
    Forbidden: HTTPStatus.FORBIDDEN,
    Conflict: HTTPStatus.CONFLICT,
    Unprocessable: HTTPStatus.UNPROCESSABLE_ENTITY,
    TooManyRequests: HTTPStatus.TOO_MANY_REQUESTS,
    PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    UnsupportedMediaType: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    DependencyFailed: HTTPStatus.SERVICE_UNAVAILABLE,
}


def error_docs(descriptions: dict[int, str]) -> dict:
    """OpenAPI `responses` entries for error statuses, all with the ErrorBody model."""
    return {
        status: {"description": text, "content": {"application/json": {"model": ErrorBody}}}
        for status, text in descriptions.items()
    }


# Documented on every route with a body.
ERROR_RESPONSES = error_docs(
    {400: "Malformed JSON", 413: "Body too large", 422: "Validation failed; `details` lists each field"}
)

# What `create_app` adds to every route's `responses` (a route's own entry wins).
_EVERY_ROUTE = {
    422: "Validation failed; `details` lists each field",
    500: "A bug: logged with the `request_id`, never with a stack in the answer",
    503: "DynamoDB, Secrets Manager or a provider failed; safe to retry",
}
_WITH_PATH_PARAMETERS = {404: "Not found (also: a path parameter no route accepts)"}
_WITH_BODY = {
    400: "The body cannot be read: not base64 (when flagged), not UTF-8, nested deeper than 64 levels, "
    "or not JSON (`details.reason`)",
    413: "Body too large",
    415: "A Content-Type other than application/json",
}


def _takes_body(func: Callable) -> bool:
    """Whether Powertools will read a JSON body for this handler: a pydantic model parameter
    that is not marked as a path, query or header parameter."""
    import typing

    from aws_lambda_powertools.event_handler.openapi.params import Param
    from pydantic import BaseModel

    for name, hint in typing.get_type_hints(func, include_extras=True).items():
        if name == "return":
            continue
        metadata = getattr(hint, "__metadata__", ())
        if any(isinstance(m, Param) for m in metadata):
            continue
        base = typing.get_args(hint)[0] if metadata else hint
        if isinstance(base, type) and issubclass(base, BaseModel):
            return True
    return False


def complete_responses(rule: str, responses: dict | None, func: Callable) -> dict:
    """A route's documented responses made complete: a success response (its model from the
    return annotation) when none is given, ErrorBody on every error status (Powertools would
    otherwise fill an error without `content` with the success model), and each status the
    shared code can answer: 422/500/503 everywhere, 404 with path parameters, 400/413/415
    with a body."""
    completed = dict(responses or {})
    if not any(200 <= status < 300 for status in completed):
        completed[200] = {"description": "Success"}
    defaults = dict(_EVERY_ROUTE)
    if "<" in rule:
        defaults |= _WITH_PATH_PARAMETERS
    if _takes_body(func):
        defaults |= _WITH_BODY
    for status, text in defaults.items():
        completed.setdefault(status, {"description": text})
    for status, entry in list(completed.items()):
        if status >= 400 and "content" not in entry:
            completed[status] = {**entry, "content": {"application/json": {"model": ErrorBody}}}
    return completed


def _complete_route_docs(app: APIGatewayHttpResolver) -> None:
    """Every `app.get/post/...` goes through `app.route`: complete its `responses` there."""
    import inspect

    register = app.route
    signature = inspect.signature(register)

    def route(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)

        def decorate(func):
            bound.arguments["responses"] = complete_responses(
                bound.arguments["rule"], bound.arguments.get("responses"), func
            )
            return register(*bound.args, **bound.kwargs)(func)

        return decorate

    app.route = route  # type: ignore[method-assign]  # the documented way in: every route registers here


def create_app(*, max_body_bytes: int, before_validation: list[Gate] | None = None) -> APIGatewayHttpResolver:
    """A resolver with validation, the error map, and checks that run before body parsing.

    `before_validation` gates (e.g. authentication) run ahead of schema validation, so an
    unauthenticated or oversized request is refused before its body is even parsed.
    """
    app = APIGatewayHttpResolver(enable_validation=True)
    _complete_route_docs(app)
    # Size first, then the route's own gates (credentials), then the body: an unauthenticated
    # request is refused before its body is read at all.
    _run_before_validation(app, [body_size_gate(max_body_bytes), *(before_validation or []), read_json_body])
    _answer_errors(app)
    return app


def body_size_gate(max_body_bytes: int) -> Gate:
    """A gate refusing bodies over `max_body_bytes` (413) before anything reads them."""

    def limit_body_size(app: APIGatewayHttpResolver) -> None:
        raw = app.current_event.get("body") or ""
        # A base64 body decodes to 3/4 of its length; compare what the client actually sent.
        # (surrogatepass: a lone surrogate is counted here and refused as not UTF-8 later.)
        size = (
            len(raw) * 3 // 4
            if app.current_event.is_base64_encoded
            else len(raw.encode("utf-8", "surrogatepass"))
        )
        if size > max_body_bytes:
            raise PayloadTooLarge(f"Request body is larger than {max_body_bytes} bytes")

    return limit_body_size


def _answer_errors(app: APIGatewayHttpResolver) -> None:
    """The exception handlers: every error becomes an ErrorBody with the request id."""

    @app.exception_handler(RequestUnsupportedContentType)
    def on_unsupported_content_type(_exc: RequestUnsupportedContentType) -> Response:
        return _domain_error(app, UnsupportedMediaType("The body must be application/json"))

    @app.exception_handler(RequestValidationError)
    def on_validation_error(exc: RequestValidationError) -> Response:
        return _validation_error(app, exc)

    @app.exception_handler(HomewardError)
    def on_domain_error(exc: HomewardError) -> Response:
        return _domain_error(app, exc)

    @app.exception_handler(Exception)
    def on_unexpected(exc: Exception) -> Response:
        # A bug, not bad input: log it with the stack, answer without one.
        logger.exception("unhandled error")
        metrics.add_metric(name="UnhandledError", unit="Count", value=1)
        return _error_response(
            app,
            HTTPStatus.INTERNAL_SERVER_ERROR,
            ErrorBody(error="internal_error", message="Something went wrong on our side; it has been logged"),
        )

    @app.not_found
    def on_not_found(_exc: Exception) -> Response:
        return _error_response(
            app, HTTPStatus.NOT_FOUND, ErrorBody(error="not_found", message="No such route")
        )


def _error_response(
    app: APIGatewayHttpResolver, status: HTTPStatus, body: ErrorBody, headers: dict | None = None
) -> Response:
    body.request_id = app.current_event.request_context.request_id
    return Response(
        status_code=status.value,
        content_type="application/json",
        body=body.model_dump_json(exclude_none=True),
        headers=headers,
    )


def _validation_error(app: APIGatewayHttpResolver, exc: RequestValidationError) -> Response:
    errors = [
        {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
        for e in exc.errors()
    ]
    if any(e["type"] == "json_invalid" for e in errors):
        return _error_response(
            app, HTTPStatus.BAD_REQUEST, ErrorBody(error="malformed_json", message="Body is not valid JSON")
        )
    metrics.add_metric(name="RequestRejected", unit="Count", value=1)
    return _error_response(
        app,
        HTTPStatus.UNPROCESSABLE_ENTITY,
        ErrorBody(error="validation_failed", message="The request does not match the schema", details=errors),
    )


def _domain_error(app: APIGatewayHttpResolver, exc: HomewardError) -> Response:
    status = next(
        (s for cls, s in STATUS_BY_ERROR.items() if isinstance(exc, cls)),
        HTTPStatus.INTERNAL_SERVER_ERROR,
    )
    headers: dict[str, str] = {}
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after_seconds)
    if isinstance(exc, Unauthorized):
        headers["WWW-Authenticate"] = "Bearer"
    if status >= 500:
        logger.warning("dependency failure", extra={"error": exc.code, "detail": exc.message})
    return _error_response(
        app, status, ErrorBody(error=exc.code, message=exc.message, details=exc.details or None), headers
    )


def _run_before_validation(app: APIGatewayHttpResolver, gates: list[Gate]) -> None:
    # Powertools always puts request validation first in the middleware stack; wrap it so
    # our gates run before it. Exceptions raised here reach the exception handlers above.
    # Pinned Powertools version; tests for 413 and 401-before-422 guard this.
    validate = app._request_validation_middleware

    def gated(app: APIGatewayHttpResolver, next_middleware):
        for gate in gates:
            gate(app)
        return validate(app, next_middleware)

    app._request_validation_middleware = gated  # type: ignore[assignment]  # pinned Powertools; see above


def read_json_body(app: APIGatewayHttpResolver) -> None:
    """The one request-body reader of every API function, ahead of Powertools' validation.

    Only for routes that declare a body model: a Content-Type other than JSON is 415; a body
    that is not valid base64, not UTF-8, nested deeper than MAX_DEPTH or not JSON is 400. The
    parsed value is handed to Powertools' validation as the event's `json_body`.
    """
    from homeward.domain.shared.json_input import load_json

    route = app.context.get("_route")
    if route is None or not route.dependant.body_params:
        return  # the route reads no body (webhooks read and verify their raw bytes themselves)
    event = app.current_event
    headers = event.raw_event.get("headers") or {}
    name = next((k for k in headers if k.lower() == "content-type"), None)
    content_type = (headers.get(name) or "").strip() if name else ""
    if content_type and content_type.split(";")[0].strip().lower() != "application/json":
        raise UnsupportedMediaType(
            "The body must be application/json",
            details={"content_type": content_type[:100], "supported": ["application/json"]},
        )
    raw = raw_body(app)
    parsed = load_json(raw) if raw else None
    if name:
        headers[name] = "application/json"  # what Powertools' own content-type check expects
    # Powertools reads the body through these cached properties; give it what was checked.
    event.__dict__["decoded_body"] = raw.decode("utf-8")
    event.__dict__["json_body"] = parsed


def bearer_token(app: APIGatewayHttpResolver) -> str | None:
    """The credential from `Authorization: Bearer ...` (header names are case-insensitive)."""
    header = app.current_event.headers.get("authorization") or ""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def api_key_gate(secret_id: str) -> Gate:
    """A gate admitting requests with a valid merchant API key (Bearer or X-Api-Key)."""
    from homeward.adapters.secrets import secret_values
    from homeward.domain.access.auth import check_api_key

    def require_api_key(app: APIGatewayHttpResolver) -> None:
        presented = bearer_token(app) or app.current_event.headers.get("x-api-key")
        check_api_key(presented, secret_values(secret_id))

    return require_api_key


class PortalAuth:
    """Issues and checks shopper portal tokens with the signing key(s) from Secrets Manager."""

    def __init__(self, secret_id: str, ttl_seconds: int) -> None:
        self._secret_id = secret_id
        self._ttl = ttl_seconds

    def tokens(self):
        from homeward.adapters.secrets import secret_values
        from homeward.domain.access.tokens import PortalTokens

        return PortalTokens(secret_values(self._secret_id), self._ttl)

    def links(self):
        """The signer of unsubscribe and survey links: the same keys, other purposes (salts)."""
        from homeward.adapters.secrets import secret_values
        from homeward.domain.notifications.rules import LinkTokens

        return LinkTokens(secret_values(self._secret_id))

    def claims(self, app: APIGatewayHttpResolver):
        """What the caller's token says (its order; a gift recipient's email), or 401."""
        token = bearer_token(app)
        if token is None:
            raise Unauthorized("Sign in first", details={"reason": "missing_credentials"})
        return self.tokens().verify(token)

    def order_id(self, app: APIGatewayHttpResolver) -> str:
        """The one order the caller's token opens, or 401."""
        return self.claims(app).order_id

    def require_order(self, app: APIGatewayHttpResolver, order_id: str):
        """The token's claims if it opens this order. 404 (not 403) for another order: a token
        must not reveal whether other orders exist."""
        claims = self.claims(app)
        if claims.order_id != order_id:
            raise NotFound("Order not found")
        return claims

    def gate(self, app: APIGatewayHttpResolver) -> None:
        """A `before_validation` gate: on a route with `{orderId}`, the token must open that order
        before the body (or anything else of the request) is read; routes re-check with
        `require_order`. Routes without `{orderId}` authenticate in the handler as before."""
        order_id = (app.context.get("_route_args") or {}).get("orderId")
        if order_id is not None:
            self.require_order(app, order_id)


def client_ip(app: APIGatewayHttpResolver, edge_token: str | None) -> str:
    """The shopper's IP, for per-IP limits. Behind the portal's CloudFront distribution the API
    sees an edge server's address; requests that carry the distribution's secret origin header
    (`X-Homeward-Edge` = `edge_token`) name the viewer in `CloudFront-Viewer-Address` (ip:port).
    Without that header the header is the client's own words and is ignored."""
    event = app.current_event
    source = event.request_context.http.source_ip
    headers = event.headers
    if not edge_token or not hmac.compare_digest(headers.get("x-homeward-edge") or "", edge_token):
        return source
    viewer = (headers.get("cloudfront-viewer-address") or "").strip()
    address = viewer.rsplit(":", 1)[0].strip("[]") if ":" in viewer else ""
    return address or source


def raw_body(app: APIGatewayHttpResolver) -> bytes:
    """The request body exactly as sent (what a webhook provider signed): API Gateway
    base64-encodes bodies it will not pass as text."""
    event = app.current_event
    body = event.get("body") or ""
    if event.is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedRequest("Body is not valid base64", details={"reason": "not_base64"}) from None
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in the event's body string
        raise MalformedRequest("Body is not UTF-8", details={"reason": "not_utf8"}) from None
