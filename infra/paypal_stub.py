"""A local stand-in for the part of PayPal's REST API that refunds use (stdlib + cryptography).

It answers what homeward.providers.paypal.payments sends, in PayPal's shapes (the published
samples in tests/fixtures/provider-samples/paypal):

* `POST /v1/oauth2/token` (Basic `client_id:client_secret`, `grant_type=client_credentials`):
  a bearer token with `expires_in`; a wrong client is 401 `invalid_client`.
* `POST /v2/payments/captures/{id}/refund` (Bearer; JSON `amount{value,currency_code}`,
  `custom_id`, `invoice_id`, `note_to_payer`): a refund `{id, status, amount, custom_id,
  seller_payable_breakdown, links}` (whole with `Prefer: return=representation`, else minimal:
  id, status, links). Errors in PayPal's shape `{name, message, debug_id, details[{issue,
  description}]}`: 400 INVALID_REQUEST (a malformed amount), 404 RESOURCE_NOT_FOUND, 422
  UNPROCESSABLE_ENTITY with CAPTURE_FULLY_REFUNDED, REFUND_AMOUNT_EXCEEDED,
  CURRENCY_MISMATCH / DECIMAL_PRECISION.
* Idempotency by `PayPal-Request-Id`: the first answer that executed (a refund or a 4xx
  refusal) is saved and replayed to every request with that id; a request whose first one is
  still executing gets 409; answers that failed before execution (429, front-door 5xx) are not
  saved. (PayPal does not document what a reused id with another body gets: the stub replays.)
* `GET /v2/payments/refunds/{id}`, `GET /v2/payments/captures/{id}` (link `up` to its order),
  `GET /v2/checkout/orders/{id}` (`purchase_units[0].payments.captures/refunds`),
  `GET /v1/notifications/certs/{name}` (the stub's own signing certificate).
* Test controls: `add_capture`, `set_refund_status`, faults for the next refund POSTs
  (`fail_next_creates`, `rate_limit_next_creates` with `Retry-After`, `stall_next_creates`,
  `crash_next_creates`: made and saved, then the connection drops), `forget_request_ids`,
  `expire_tokens`, counters (`refunds_created`, `requests_seen`), and webhooks signed as PayPal
  signs them (`event_for`, `sign_event`, `write_cert`).

Command line, for the local stack (prints the URL and the cert directory, serves until
interrupted):

    python -m infra.paypal_stub --port 12112 --capture 2GG279541U471931P:4599:USD
"""

from __future__ import annotations

import argparse
import base64
import hmac
import itertools
import json
import re
import secrets
import string
import tempfile
import threading
import time
import zlib
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.http_stub import HttpStub

DEFAULT_CLIENT_ID = "homeward-local-paypal-client"
DEFAULT_CLIENT_SECRET = "homeward-local-paypal-secret"
CERT_NAME = "CERT-homeward-paypal-stub"
CERT_URL = f"https://api.sandbox.paypal.com/v1/notifications/certs/{CERT_NAME}"
LIVE_HOST = "https://api.paypal.com"
EXPONENTS = {"JPY": 0, "KRW": 0, "HUF": 0, "TWD": 0, "KWD": 3, "BHD": 3}
STATUSES = frozenset({"COMPLETED", "PENDING", "FAILED", "CANCELLED"})
_ID_CHARS = string.ascii_uppercase + string.digits
_CAPTURE_REFUND = re.compile(r"^/v2/payments/captures/([^/]+)/refund$")
_GET_PATHS = {
    "refund": re.compile(r"^/v2/payments/refunds/([^/]+)$"),
    "capture": re.compile(r"^/v2/payments/captures/([^/]+)$"),
    "order": re.compile(r"^/v2/checkout/orders/([^/]+)$"),
}
_CERT_PATH = re.compile(r"^/v1/notifications/certs/([^/]+)$")


def paypal_id(length: int = 17) -> str:
    return "".join(secrets.choice(_ID_CHARS) for _ in range(length))


def _iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    saved: bool = True
    crash: bool = False
    raw: bytes | None = None  # a non-JSON answer (the certificate)


def _error(status: int, name: str, message: str, issue: str | None = None, description: str = "") -> Reply:
    body: dict[str, Any] = {"name": name, "message": message, "debug_id": paypal_id(13).lower()}
    if issue:
        body["details"] = [{"issue": issue, "description": description or message}]
    return Reply(status, body)


@dataclass
class Capture:
    id: str
    amount: int  # minor units
    currency: str
    order_id: str


@dataclass
class _Fault:
    kind: str  # error | rate_limit | stall | crash
    status: int = 500
    saved: bool = False
    seconds: float = 0.0


@dataclass
class _Saved:
    reply: Reply | None = None  # None while the first request executes


def _value(minor: int, currency: str) -> str:
    exponent = EXPONENTS.get(currency, 2)
    return f"{Decimal(minor).scaleb(-exponent):.{exponent}f}"


def _minor(value: object, currency: str) -> int | None:
    """A request's decimal string as minor units; None when it is not one PayPal takes."""
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{1,10}(\.[0-9]{1,3})?", value):
        return None
    try:
        number = Decimal(value).scaleb(EXPONENTS.get(currency, 2))
    except InvalidOperation:
        return None
    return int(number) if number == number.to_integral_value() else None


class PayPalStub(HttpStub):
    """PayPal's refunds API on a real socket; see the module docstring."""

    def __init__(
        self,
        client_id: str = DEFAULT_CLIENT_ID,
        client_secret: str = DEFAULT_CLIENT_SECRET,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        new_refund_status: str = "COMPLETED",
        token_seconds: int = 32400,
    ) -> None:
        self.client_id, self.client_secret = client_id, client_secret
        self.new_refund_status = new_refund_status
        self.token_seconds = token_seconds
        self.requests: list[dict[str, Any]] = []  # method, path, headers (lower-case), body
        self._captures: dict[str, Capture] = {}
        self._refunds: dict[str, dict[str, Any]] = {}
        self._tokens: set[str] = set()
        self._saved: dict[str, _Saved] = {}
        self._faults: deque[_Fault] = deque()
        self._created: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()
        self.tokens_issued = 0
        self._lock = threading.RLock()
        self._debug_ids = itertools.count(1)
        self._key, self.cert_pem = _signing_identity()
        self._listen(host, port)

    # --- test controls ------------------------------------------------------------------------

    def add_capture(
        self, capture_id: str, amount: int, currency: str = "USD", order_id: str | None = None
    ) -> None:
        with self._lock:
            self._captures[capture_id] = Capture(
                capture_id, amount, currency.upper(), order_id or paypal_id()
            )

    def set_refund_status(self, refund_id: str, status: str, reason: str | None = None) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown PayPal refund status {status!r}")
        with self._lock:
            refund = self._refunds[refund_id]
            refund["status"] = status
            refund.pop("status_details", None)
            if reason:
                refund["status_details"] = {"reason": reason}

    def fail_next_creates(self, times: int = 1, *, status: int = 500, saved: bool = False) -> None:
        """saved=False: refused before anything starts; saved=True: the refund is made, then the
        answer is a 5xx (replayed to retries) - PayPal's 'something went wrong after'."""
        self._add(times, _Fault("error", status=status, saved=saved))

    def rate_limit_next_creates(self, times: int = 1) -> None:
        self._add(times, _Fault("rate_limit", status=429))

    def stall_next_creates(self, seconds: float, times: int = 1) -> None:
        self._add(times, _Fault("stall", seconds=seconds))

    def crash_next_creates(self, times: int = 1) -> None:
        self._add(times, _Fault("crash"))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def forget_request_ids(self) -> None:
        """What PayPal does after its retention (30-45 days): a known id is new again."""
        with self._lock:
            self._saved = {k: v for k, v in self._saved.items() if v.reply is None}

    def expire_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def refunds_created(self, capture_id: str | None = None) -> int:
        with self._lock:
            return self._created[capture_id] if capture_id else sum(self._created.values())

    def requests_seen(self, request_id: str) -> int:
        with self._lock:
            return self._seen[request_id]

    def refund(self, refund_id: str) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._refunds[refund_id]))

    def refunds_for(self, capture_id: str) -> list[dict[str, Any]]:
        with self._lock:
            return [self.refund(r) for r, v in self._refunds.items() if v["_capture"] == capture_id]

    def _add(self, times: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend(_Fault(**vars(fault)) for _ in range(times))

    # --- webhooks -----------------------------------------------------------------------------

    def write_cert(self, directory: str | Path) -> Path:
        """The stub's certificate as `<dir>/CERT-homeward-paypal-stub.pem` (PAYPAL_CERT_DIR)."""
        path = Path(directory) / f"{CERT_NAME}.pem"
        path.write_bytes(self.cert_pem)
        return path

    def event_for(self, refund_id: str, event_type: str = "PAYMENT.CAPTURE.REFUNDED") -> bytes:
        """A webhook event (compact JSON, as PayPal delivers) whose resource is the refund now."""
        refund = self._public(self.refund(refund_id))
        event_id = f"WH-{paypal_id()}-{paypal_id()}"
        event = {
            "id": event_id,
            "event_version": "1.0",
            "create_time": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "resource_type": "refund",
            "resource_version": "2.0",
            "event_type": event_type,
            "summary": "A {value} {currency_code} capture payment was refunded".format(**refund["amount"]),
            "resource": refund,
            "links": [
                {
                    "href": f"{LIVE_HOST}/v1/notifications/webhooks-events/{event_id}",
                    "rel": "self",
                    "method": "GET",
                }
            ],
        }
        return json.dumps(event, separators=(",", ":")).encode()

    def sign_event(
        self,
        body: bytes,
        webhook_id: str,
        *,
        when: datetime | None = None,
        transmission_id: str | None = None,
    ) -> dict[str, str]:
        """The headers PayPal sends: RSA-SHA256 over `id|time|webhook_id|crc32(body)`."""
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        transmission_id = transmission_id or f"{paypal_id(8).lower()}-5106-11ef-9a30-{paypal_id(12).lower()}"
        sent = _iso(when)
        message = f"{transmission_id}|{sent}|{webhook_id}|{zlib.crc32(body) & 0xFFFFFFFF}".encode()
        signature = self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return {
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": sent,
            "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
            "PAYPAL-CERT-URL": CERT_URL,
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
            "PAYPAL-AUTH-VERSION": "v2",
            "Content-Type": "application/json",
        }

    # --- HTTP ---------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        try:
            reply = self._handle(handler, method)
        except Exception as exc:  # a stub bug reads as one
            reply = _error(500, "INTERNAL_SERVER_ERROR", f"paypal stub error: {exc!r}")
        if reply.crash:
            handler.close_connection = True
            return
        self._write(handler, reply)

    def _write(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json" if reply.raw is None else "text/plain")
            handler.send_header("Content-Length", str(len(payload)))
            handler.send_header("Paypal-Debug-Id", f"{next(self._debug_ids):013x}")
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> Reply:
        path = urlsplit(handler.path).path
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append({"method": method, "path": path, "headers": headers, "body": raw})
        if method == "POST" and path == "/v1/oauth2/token":
            return self._token(headers, raw)
        cert = _CERT_PATH.match(path)
        if method == "GET" and cert:
            if cert.group(1) != CERT_NAME:
                return _error(404, "RESOURCE_NOT_FOUND", "No such certificate")
            return Reply(200, None, raw=self.cert_pem)
        if not self._authorized(headers.get("authorization", "")):
            return Reply(
                401, {"error": "invalid_token", "error_description": "Token signature verification failed"}
            )
        match = _CAPTURE_REFUND.match(path)
        if method == "POST" and match:
            return self._refund_request(match.group(1), headers, raw)
        if method == "GET":
            return self._get(path)
        return _error(404, "RESOURCE_NOT_FOUND", f"No route for {method} {path}", "INVALID_RESOURCE_ID")

    def _token(self, headers: dict[str, str], raw: bytes) -> Reply:
        scheme, _, value = headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            user = password = ""
        good = scheme.lower() == "basic" and hmac.compare_digest(
            f"{user}:{password}".encode(), f"{self.client_id}:{self.client_secret}".encode()
        )
        if not good:
            return Reply(
                401, {"error": "invalid_client", "error_description": "Client Authentication failed"}
            )
        if dict(parse_qsl(raw.decode("utf-8", "replace"))).get("grant_type") != "client_credentials":
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"})
        token = "A21AA" + secrets.token_urlsafe(48)
        with self._lock:
            self._tokens.add(token)
            self.tokens_issued += 1
        return Reply(
            200,
            {
                "scope": "https://uri.paypal.com/services/payments/refund",
                "access_token": token,
                "token_type": "Bearer",
                "app_id": "APP-80W284485P519543T",
                "expires_in": self.token_seconds,
                "nonce": f"{_iso()}{secrets.token_urlsafe(16)}",
            },
        )

    def _authorized(self, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        with self._lock:
            return scheme.lower() == "bearer" and token.strip() in self._tokens

    def _refund_request(self, capture_id: str, headers: dict[str, str], raw: bytes) -> Reply:
        request_id = headers.get("paypal-request-id")
        with self._lock:
            if request_id:
                self._seen[request_id] += 1
            fault = self._faults.popleft() if self._faults else None
        if fault is not None and fault.kind == "rate_limit":
            reply = _error(429, "RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting.")
            reply.headers["Retry-After"] = "1"
            return reply
        if fault is not None and fault.kind == "error" and not fault.saved:
            return _error(fault.status, "INTERNAL_SERVER_ERROR", "An internal server error occurred.")
        minimal = "return=representation" not in headers.get("prefer", "")
        if not request_id:
            return self._finish(self._execute(capture_id, raw, fault), minimal)
        with self._lock:
            entry = self._saved.get(request_id)
            if entry is None:
                self._saved[request_id] = entry = _Saved()
                first = True
            else:
                first = False
        if not first:
            if entry.reply is None:
                return _error(
                    409, "RESOURCE_CONFLICT", "A request with this PayPal-Request-Id is in progress."
                )
            return self._finish(entry.reply, minimal)
        reply = self._execute(capture_id, raw, fault)
        with self._lock:
            if reply.saved:
                entry.reply = Reply(reply.status, reply.body, dict(reply.headers))
            else:
                self._saved.pop(request_id, None)
        return self._finish(reply, minimal, crash=reply.crash)

    def _finish(self, reply: Reply, minimal: bool, *, crash: bool = False) -> Reply:
        body = reply.body
        if body is not None and "id" in body and 200 <= reply.status < 300:
            body = self._public(body)
            if minimal:
                body = {k: body[k] for k in ("id", "status", "links")}
        return Reply(reply.status, body, dict(reply.headers), crash=crash)

    def _execute(self, capture_id: str, raw: bytes, fault: _Fault | None) -> Reply:
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        if not isinstance(body, dict):
            reply = _error(400, "INVALID_REQUEST", "Request is not well-formed.", "MALFORMED_REQUEST_JSON")
            reply.saved = False
            return reply
        if fault is not None and fault.kind == "stall":
            time.sleep(fault.seconds)
        with self._lock:
            reply = self._create(capture_id, body)
        if fault is not None and fault.kind == "error":  # saved: made, then failed to answer
            return _error(fault.status, "INTERNAL_SERVER_ERROR", "An internal server error occurred.")
        reply.crash = fault is not None and fault.kind == "crash"
        return reply

    def _create(self, capture_id: str, body: dict[str, Any]) -> Reply:
        capture = self._captures.get(capture_id)
        if capture is None:
            return _error(
                404,
                "RESOURCE_NOT_FOUND",
                "The specified resource does not exist.",
                "INVALID_RESOURCE_ID",
                "Specified resource ID does not exist. Please check the resource ID and try again.",
            )
        remaining = capture.amount - sum(
            r["_minor"]
            for r in self._refunds.values()
            if r["_capture"] == capture_id and r["status"] not in ("FAILED", "CANCELLED")
        )
        if remaining <= 0:
            return _error(
                422,
                "UNPROCESSABLE_ENTITY",
                "The requested action could not be performed.",
                "CAPTURE_FULLY_REFUNDED",
                "The capture has already been fully refunded",
            )
        amount = self._requested(body, capture, remaining)
        if isinstance(amount, Reply):
            return amount
        refund_id = paypal_id()
        self._refunds[refund_id] = self._new_refund(refund_id, capture, amount, body)
        self._created[capture_id] += 1
        return Reply(201, self._refunds[refund_id])

    @staticmethod
    def _requested(body: dict[str, Any], capture: Capture, remaining: int) -> int | Reply:
        amount = body.get("amount")
        if amount is None:
            return remaining
        if not isinstance(amount, dict) or not isinstance(amount.get("currency_code"), str):
            reply = _error(
                400,
                "INVALID_REQUEST",
                "Request is not well-formed.",
                "MISSING_REQUIRED_PARAMETER",
                "A required field / parameter is missing.",
            )
            reply.saved = False
            return reply
        if amount["currency_code"] != capture.currency:
            return _error(
                422,
                "UNPROCESSABLE_ENTITY",
                "The requested action could not be performed.",
                "CURRENCY_MISMATCH",
                "Currency of refund must be the same as currency of capture.",
            )
        minor = _minor(amount.get("value"), capture.currency)
        if minor is None or minor <= 0:
            reply = _error(
                400,
                "INVALID_REQUEST",
                "Request is not well-formed.",
                "DECIMAL_PRECISION",
                "If the currency supports decimals, only two decimal place precision is supported.",
            )
            reply.saved = False
            return reply
        if minor > remaining:
            return _error(
                422,
                "UNPROCESSABLE_ENTITY",
                "The requested action could not be performed.",
                "REFUND_AMOUNT_EXCEEDED",
                "The refund amount must be less than or equal to the capture amount that has not yet "
                "been refunded.",
            )
        return minor

    def _new_refund(
        self, refund_id: str, capture: Capture, minor: int, body: dict[str, Any]
    ) -> dict[str, Any]:
        money = {"currency_code": capture.currency, "value": _value(minor, capture.currency)}
        refund: dict[str, Any] = {"id": refund_id, "amount": money, "status": self.new_refund_status}
        for name in ("custom_id", "invoice_id", "note_to_payer"):
            if isinstance(body.get(name), str):
                refund[name] = body[name]
        if self.new_refund_status == "PENDING":
            refund["status_details"] = {"reason": "ECHECK"}
        refund["create_time"] = refund["update_time"] = _iso()
        refund["_capture"], refund["_minor"] = capture.id, minor
        return refund

    def _public(self, refund: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in refund.items() if not k.startswith("_")}
        out["links"] = [
            {"href": f"{LIVE_HOST}/v2/payments/refunds/{refund['id']}", "rel": "self", "method": "GET"},
            {"href": f"{LIVE_HOST}/v2/payments/captures/{refund['_capture']}", "rel": "up", "method": "GET"},
        ]
        return out

    def _get(self, path: str) -> Reply:
        with self._lock:
            for kind, pattern in _GET_PATHS.items():
                match = pattern.match(path)
                if match:
                    found = getattr(self, f"_get_{kind}")(match.group(1))
                    if found is not None:
                        return Reply(200, found)
        return _error(
            404, "RESOURCE_NOT_FOUND", "The specified resource does not exist.", "INVALID_RESOURCE_ID"
        )

    def _get_refund(self, refund_id: str) -> dict[str, Any] | None:
        refund = self._refunds.get(refund_id)
        return self._public(refund) if refund else None

    def _get_capture(self, capture_id: str) -> dict[str, Any] | None:
        capture = self._captures.get(capture_id)
        if capture is None:
            return None
        return {
            "id": capture.id,
            "amount": {"currency_code": capture.currency, "value": _value(capture.amount, capture.currency)},
            "final_capture": True,
            "status": "COMPLETED",
            "links": [
                {"href": f"{LIVE_HOST}/v2/payments/captures/{capture.id}", "rel": "self", "method": "GET"},
                {
                    "href": f"{LIVE_HOST}/v2/payments/captures/{capture.id}/refund",
                    "rel": "refund",
                    "method": "POST",
                },
                {"href": f"{LIVE_HOST}/v2/checkout/orders/{capture.order_id}", "rel": "up", "method": "GET"},
            ],
        }

    def _get_order(self, order_id: str) -> dict[str, Any] | None:
        captures = [c for c in self._captures.values() if c.order_id == order_id]
        if not captures:
            return None
        # Orders list refunds without custom_id (the adapter reads each refund to match it).
        refunds = [
            {k: v for k, v in self._public(r).items() if k in ("id", "status", "amount", "links")}
            for r in self._refunds.values()
            if r["_capture"] in {c.id for c in captures}
        ]
        return {
            "id": order_id,
            "intent": "CAPTURE",
            "status": "COMPLETED",
            "purchase_units": [
                {
                    "reference_id": "default",
                    "payments": {"captures": [self._get_capture(c.id) for c in captures], "refunds": refunds},
                }
            ],
        }


def _signing_identity() -> tuple[Any, bytes]:
    """A fresh RSA key and self-signed certificate standing in for PayPal's message-verification one."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "messageverificationcerts.sandbox.paypal.com")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, cert.public_bytes(serialization.Encoding.PEM)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12112)
    parser.add_argument("--new-refund-status", default="PENDING", choices=sorted(STATUSES))
    parser.add_argument("--capture", action="append", default=[], metavar="ID:AMOUNT:CURRENCY")
    args = parser.parse_args(argv)
    stub = PayPalStub(host=args.host, port=args.port, new_refund_status=args.new_refund_status)
    for spec in args.capture:
        capture_id, amount, currency = spec.split(":")
        stub.add_capture(capture_id, int(amount), currency)
    cert_dir = tempfile.mkdtemp(prefix="paypal-certs-")
    stub.write_cert(cert_dir)
    print(stub.url, cert_dir, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.close()


if __name__ == "__main__":
    main()
