"""API Gateway HTTP API in front of the handlers: HTTP -> payload v2.0 event -> handler -> HTTP.

Every `Events: Type: HttpApi` of the template is a route. Matching follows HTTP API: the most
specific path wins (literal segments over `{param}`, `{param}` over greedy `{proxy+}`), a
route with the method beats `ANY`, and `$default` catches the rest; otherwise 404
{"message":"Not Found"}. The event is the real payload format 2.0 (headers lower-cased and
duplicates comma-joined, cookies split out, textual bodies as text and others base64...), and
the response is read with v2 semantics. CORS preflights are answered from the API's
CorsConfiguration, as API Gateway does, without invoking anything.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from infra.local.console import say
from infra.local.provision import ACCOUNT_ID, Resources
from infra.local.runtime import LocalFunction, Runtime, trace_root

if TYPE_CHECKING:
    from infra.local.portal import Distribution

MAX_BODY_BYTES = 10 * 1024 * 1024  # HTTP API's payload limit
DRAIN_AT_MOST_BYTES = 64 * 1024 * 1024
IMPLICIT_API = "ServerlessHttpApi"  # SAM's API for HttpApi events without ApiId
_MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_TEXT_TYPES = re.compile(
    r"^(text/.*|application/(json|xml|javascript|x-javascript|ecmascript|graphql|x-ndjson|yaml)|.*\+(json|xml))$"
)


@dataclass
class Request:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    server_port: int
    protocol: str = "HTTP/1.1"
    source_port: int = 0

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name), None)


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""

    @classmethod
    def json(cls, status: int, document, headers: list[tuple[str, str]] | None = None) -> Response:
        return cls(
            status, [("Content-Type", "application/json"), *(headers or [])], json.dumps(document).encode()
        )


# ---- routes -------------------------------------------------------------------------------------


@dataclass
class Route:
    method: str  # GET, ..., ANY; "*" for $default
    path: str
    function: LocalFunction
    api_id: str

    @property
    def route_key(self) -> str:
        return "$default" if self.method == "*" else f"{self.method} {self.path}"

    @property
    def segments(self) -> list[str]:
        return self.path.strip("/").split("/") if self.path.strip("/") else []

    def rank(self) -> tuple:
        """Sort key: literal segments before {param} before {proxy+}, then methods before ANY."""
        kinds = [2 if s.endswith("+}") else 1 if s.startswith("{") else 0 for s in self.segments]
        return (self.method == "*", kinds, self.method == "ANY")

    def match(self, method: str, raw_path: str) -> dict[str, str] | None:
        """Path parameters when this route takes the request, else None."""
        if self.method == "*":
            return {}
        if self.method not in (method, "ANY"):
            return None
        parts = raw_path.strip("/").split("/") if raw_path.strip("/") else []
        if raw_path.endswith("/") and raw_path != "/":
            parts.append("")  # "/orders/" is not "/orders"
        params: dict[str, str] = {}
        for i, segment in enumerate(self.segments):
            if segment.endswith("+}"):
                rest = parts[i:]
                if not rest or not all(rest):
                    return None
                params[segment[1:-2]] = unquote("/".join(rest))
                return params
            if i >= len(parts) or not parts[i]:
                return None
            if segment.startswith("{"):
                params[segment[1:-1]] = unquote(parts[i])
            elif unquote(parts[i]) != segment:
                return None
        return params if len(parts) == len(self.segments) else None


def template_routes(functions: list[LocalFunction]) -> list[Route]:
    """Every HttpApi event of every function, most specific first."""
    routes = []
    for function in functions:
        for event in (function.properties.get("Events") or {}).values():
            if event.get("Type") != "HttpApi":
                continue
            props = event.get("Properties", {}) or {}
            api = props.get("ApiId", {"Ref": IMPLICIT_API})
            api_id = api["Ref"] if isinstance(api, dict) and "Ref" in api else str(api)
            path = props.get("Path", "$default")
            if path in ("$default", "/$default"):
                routes.append(Route("*", "$default", function, api_id))
            else:
                routes.append(Route(str(props.get("Method", "ANY")).upper(), path, function, api_id))
    return sorted(routes, key=Route.rank)


# ---- CORS ---------------------------------------------------------------------------------------


class Cors:
    """An HttpApi's CorsConfiguration, applied the way API Gateway applies it."""

    def __init__(self, config: dict | bool) -> None:
        if config is True:
            config = {"AllowOrigins": ["*"], "AllowHeaders": ["*"], "AllowMethods": ["*"]}
        self.origins = [str(o) for o in config.get("AllowOrigins") or []]
        self.headers = [str(h).lower() for h in config.get("AllowHeaders") or []]
        self.methods = [str(m).upper() for m in config.get("AllowMethods") or []]
        self.expose = [str(h).lower() for h in config.get("ExposeHeaders") or []]
        self.max_age = config.get("MaxAge")
        self.credentials = config.get("AllowCredentials") in (True, "true")

    def allowed_origin(self, origin: str | None) -> str | None:
        for allowed in self.origins if origin else []:
            if allowed == "*":
                return "*"
            if allowed == origin or (allowed.endswith("*") and origin.startswith(allowed[:-1])):
                return origin
        return None

    def preflight(self, request: Request) -> Response:
        origin = self.allowed_origin(request.header("origin"))
        if origin is None:
            return Response(204)
        method = (request.header("access-control-request-method") or "").upper()
        asked = request.header("access-control-request-headers") or ""
        headers = [("Access-Control-Allow-Origin", origin)]
        headers.append(
            ("Access-Control-Allow-Methods", method if "*" in self.methods else ",".join(self.methods))
        )
        if self.headers:
            headers.append(
                ("Access-Control-Allow-Headers", asked if "*" in self.headers else ",".join(self.headers))
            )
        if self.max_age is not None:
            headers.append(("Access-Control-Max-Age", str(self.max_age)))
        if self.credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        return Response(204, headers)

    def apply(self, request: Request, response: Response) -> None:
        """API Gateway drops the integration's CORS headers and adds its own."""
        response.headers = [
            (k, v) for k, v in response.headers if not k.lower().startswith("access-control-")
        ]
        origin = self.allowed_origin(request.header("origin"))
        if origin is None:
            return
        response.headers.append(("Access-Control-Allow-Origin", origin))
        if self.expose:
            response.headers.append(("Access-Control-Expose-Headers", ",".join(self.expose)))
        if self.credentials:
            response.headers.append(("Access-Control-Allow-Credentials", "true"))


def api_cors(template: dict, resources: Resources) -> dict[str, Cors]:
    """CorsConfiguration of every HttpApi (Globals.HttpApi merged under each), by logical id."""
    defaults = (template.get("Globals", {}) or {}).get("HttpApi", {}) or {}
    apis = {IMPLICIT_API: {}}
    for logical_id, resource in template.get("Resources", {}).items():
        if resource["Type"] == "AWS::Serverless::HttpApi":
            apis[logical_id] = resource.get("Properties", {}) or {}
    result = {}
    for logical_id, props in apis.items():
        config = props.get("CorsConfiguration", defaults.get("CorsConfiguration"))
        if config:
            result[logical_id] = Cors(resources.resolve(config))
    return result


# ---- the event and the response -------------------------------------------------------------


def is_textual(content_type: str | None) -> bool:
    return bool(content_type) and bool(_TEXT_TYPES.match(content_type.split(";")[0].strip().lower()))


def new_request_id() -> str:
    """HTTP API request ids look like "Zq3fJgC3oAMEV0w=": 11 random bytes in base64."""
    return base64.b64encode(secrets.token_bytes(11)).decode()


def build_event(
    route: Route, params: dict[str, str], request: Request, request_id: str, now: datetime
) -> dict:
    """The payload format 2.0 event API Gateway would send for this request."""
    headers, cookies = _headers_and_cookies(request)
    domain = (headers.get("host") or "localhost").rsplit(":", 1)[0]
    query: dict[str, str] = {}
    for key, value in parse_qsl(request.raw_query, keep_blank_values=True):
        query[key] = f"{query[key]},{value}" if key in query else value
    event = {
        "version": "2.0",
        "routeKey": route.route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": ACCOUNT_ID,
        "apiId": "local",
        "domainName": domain,
        "domainPrefix": domain.split(".")[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": request_id,
        "routeKey": route.route_key,
        "stage": "$default",
        "time": f"{now:%d}/{_MONTHS[now.month - 1]}/{now:%Y:%H:%M:%S} +0000",
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if request.body:
        text = _as_text(request.body) if is_textual(headers.get("content-type")) else None
        event["body"] = text if text is not None else base64.b64encode(request.body).decode()
        event["isBase64Encoded"] = text is None
    else:
        event["isBase64Encoded"] = False
    if params:
        event["pathParameters"] = params
    return event


def _headers_and_cookies(request: Request) -> tuple[dict[str, str], list[str]]:
    """Headers as API Gateway passes them (lower case, repeats joined by commas, the forwarding
    headers added) and the cookies apart."""
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in request.headers:
        name = name.lower()
        if name == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
        else:
            headers[name] = f"{headers[name]},{value}" if name in headers else value
    forwarded = headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{forwarded}, {request.source_ip}" if forwarded else request.source_ip
    headers["x-forwarded-port"] = str(request.server_port)
    headers["x-forwarded-proto"] = "http"
    headers["x-amzn-trace-id"] = f"Root={trace_root()}"
    return headers, cookies


def _as_text(body: bytes) -> str | None:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return None


class MalformedResponse(Exception):
    """The handler's result is not a valid v2 response (API Gateway answers 500)."""


def http_response(result) -> Response:
    """A handler result read with payload v2 semantics."""
    if not (isinstance(result, dict) and "statusCode" in result):
        # v2: any other JSON is the body of a 200 application/json response.
        return Response.json(200, result)
    try:
        status = int(result["statusCode"])
        headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
        headers += [("Set-Cookie", str(c)) for c in result.get("cookies") or []]
        body = result.get("body") or ""
        if not isinstance(body, str):
            raise TypeError("body must be a string")
        data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    except (TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponse(str(exc)) from exc
    return Response(status, headers, data)


INTERNAL_ERROR = {"message": "Internal Server Error"}


# ---- the gateway ------------------------------------------------------------------------------


class Gateway:
    """Routes requests to handlers; `/_local/...` goes to the local stack's own pages.

    With a `distribution` (the template's CloudFront distribution, infra/local/portal.py) the
    gateway is that distribution's origin: a path its behaviors send to the bucket is answered
    from the portal's build, every other path goes to the API as before.
    """

    def __init__(
        self,
        routes: list[Route],
        cors: dict[str, Cors],
        runtime: Runtime,
        local_pages: Callable[[Request], Response],
        distribution: Distribution | None = None,
    ) -> None:
        self.routes = routes
        self.cors = cors
        self.runtime = runtime
        self.local_pages = local_pages
        self.distribution = distribution

    def find(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | tuple[None, None]:
        for route in self.routes:
            params = route.match(method, raw_path)
            if params is not None:
                return route, params
        return None, None

    def handle(self, request: Request) -> Response:
        if request.raw_path == "/_local" or request.raw_path.startswith("/_local/"):
            return self.local_pages(request)
        if self.distribution is not None:
            behavior = self.distribution.behavior_for(request.raw_path)
            if behavior.origin == "site":
                return self.distribution.serve(behavior, request)
            self.distribution.to_api(behavior, request)
        is_preflight = (
            request.method == "OPTIONS"
            and request.header("origin")
            and request.header("access-control-request-method")
        )
        if is_preflight and self.cors:
            route, _ = self.find(request.header("access-control-request-method").upper(), request.raw_path)
            cors = self.cors.get(route.api_id) if route else None
            return (cors or next(iter(self.cors.values()))).preflight(request)
        route, params = self.find(request.method, request.raw_path)
        if route is None:
            return Response.json(404, {"message": "Not Found"})
        rid = new_request_id()
        event = build_event(route, params, request, rid, datetime.now(UTC))
        invocation = self.runtime.invoke(route.function, event, f"{request.method} {request.raw_path}")
        if invocation.error is not None:
            response, status = Response.json(500, INTERNAL_ERROR), "error"
        else:
            try:
                response = http_response(invocation.result)
                status = str(response.status)
            except MalformedResponse as exc:
                say(f"{route.function.logical_id} returned a malformed response: {exc}")
                response, status = Response.json(500, INTERNAL_ERROR), "malformed response"
        self.runtime.log.add(invocation, status)
        if route.api_id in self.cors:
            self.cors[route.api_id].apply(request, response)
        response.headers.append(("Apigw-Requestid", rid))
        return response


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like API Gateway
    # Headers and body go out as two writes: without TCP_NODELAY, Nagle plus the client's
    # delayed ACK add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True

    def version_string(self) -> str:
        return "homeward-local"

    def _handle(self) -> None:
        gateway: Gateway = self.server.gateway
        body = self._read_body()
        if body is None:
            self.close_connection = True
            self._send(Response.json(413, {"message": "Request Entity Too Large"}, [("Connection", "close")]))
            return
        path, _, query = self.path.partition("?")
        request = Request(
            method=self.command,
            raw_path=path,
            raw_query=query,
            headers=list(self.headers.items()),
            body=body,
            source_ip=self.client_address[0],
            server_port=self.server.server_address[1],
            protocol=self.request_version,
            source_port=self.client_address[1],
        )
        try:
            response = gateway.handle(request)
        except Exception:  # noqa: BLE001 - a bug here must not kill the connection silently
            say(f"local gateway error:\n{traceback.format_exc().rstrip()}")
            response = Response.json(500, INTERNAL_ERROR)
        self._send(response)

    def _read_body(self) -> bytes | None:
        """The request body, or None when it is over the HTTP API limit."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks, size = [], 0
            while (length := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)) > 0:
                size += length
                if size > MAX_BODY_BYTES:
                    return None
                chunks.append(self.rfile.read(length))
                self.rfile.readline()
            while self.rfile.readline().strip():  # trailers
                pass
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            # Read it anyway (up to a point) so the client gets to see the 413 instead of a reset.
            remaining = length if length <= DRAIN_AT_MOST_BYTES else 0
            while remaining > 0 and (chunk := self.rfile.read(min(remaining, 1 << 20))):
                remaining -= len(chunk)
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers:
            if name.lower() not in ("content-length", "transfer-encoding", "date", "server"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _handle

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the stdlib's signature
        """Silenced: every invocation is logged by the runtime's InvocationLog instead."""


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int) -> None:
        super().__init__((host, port), _Handler)
        self.gateway: Gateway | None = None  # set before start()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request, client_address) -> None:
        """A client that hung up before its answer is routine; anything else is worth a trace."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            say(f"local gateway error for {client_address[0]}:\n{traceback.format_exc().rstrip()}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self.shutdown()
            self._thread.join(timeout=5)
        self.server_close()
