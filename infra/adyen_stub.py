"""A local stand-in for the part of Adyen's Checkout API that refunds use (stdlib, 127.0.0.1).

It answers what Adyen answers (CR 4.2; the published request and 201 answer are
tests/fixtures/provider-samples/adyen/07 and 08):

* `POST /v71/payments/{paymentPspReference}/refunds` with `X-API-Key` (else 401), a JSON body
  `{"amount": {"currency", "value"}, "merchantAccount", "reference"}`; 201 `status: "received"`
  with a new `pspReference`. The outcome is decided at once (refunded, or failed when it would
  take more than the capture: Adyen's default accounting rule) and sent as a notification by
  the test (`notification_for`), as Adyen does asynchronously.
* Errors in Adyen's shape `{"status", "errorCode", "message", "errorType"}`: 401 (security),
  422 validation (`137` invalid amount, `167` unknown payment, `901` merchant account) - not
  saved under the key, so a corrected retry can use it.
* Idempotency by `Idempotency-Key` (scoped to the API key): the first executed answer is saved
  and replayed; a request with the same key and another body is refused with 422 (the stub's
  choice of code: `idempotency_conflict`); a key whose first request is still running gets
  422 errorCode `704` ("request already processed or in progress"), not saved.
* Faults for the next creates: `fail_next_creates` (5xx before executing), `rate_limit_next_creates`
  (429 with `Retry-After`), `stall_next_creates` (sleep, then execute: a client timeout),
  `crash_next_creates` (execute, then drop the connection: the refund exists, the answer is lost),
  `forget_idempotency_keys`.

Command line, for the local stack (prints the URL, serves until interrupted):

    python -m infra.adyen_stub --port 12112 --payment 993617894903480A:4599:EUR
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import hmac
import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from infra.http_stub import HttpStub

DEFAULT_API_KEY = "AQE_homeward_local_adyen_stub"
DEFAULT_MERCHANT_ACCOUNT = "HomewardLocalECOM"
_REFUNDS_PATH = re.compile(r"^/v71/payments/([^/]+)/refunds$")


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    saved: bool = True  # False: refused before execution, the key stays free
    crash: bool = False  # close the connection instead of answering


def _error(status: int, code: str, message: str, error_type: str = "validation") -> Reply:
    return Reply(status, {"status": status, "errorCode": code, "message": message, "errorType": error_type})


@dataclass
class Payment:
    psp: str
    captured: int
    currency: str


@dataclass
class _Fault:
    kind: str  # error | rate_limit | stall | crash
    status: int = 500
    seconds: float = 0.0


@dataclass
class _Idempotent:
    fingerprint: str
    reply: Reply | None = None  # None while the first request is still executing


class AdyenStub(HttpStub):
    """Adyen Checkout refunds on a real socket; see the module docstring."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        merchant_account: str = DEFAULT_MERCHANT_ACCOUNT,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.merchant_account = merchant_account
        self.requests: list[dict[str, Any]] = []  # method, path, headers (lower-case), body
        self.refunds: dict[str, dict[str, Any]] = {}  # pspReference -> refund (creation order)
        self._payments: dict[str, Payment] = {}
        self._idempotency: dict[str, _Idempotent] = {}
        self._faults: deque[_Fault] = deque()
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._listen(host, port)

    # --- test controls ------------------------------------------------------------------------

    def add_payment(self, psp: str, captured: int, currency: str = "EUR") -> None:
        """A captured payment that refunds can be made against (minor units)."""
        with self._lock:
            self._payments[psp] = Payment(psp, captured, currency.upper())

    def fail_next_creates(self, times: int = 1, *, status: int = 500) -> None:
        self._add_faults(times, _Fault("error", status=status))

    def rate_limit_next_creates(self, times: int = 1) -> None:
        self._add_faults(times, _Fault("rate_limit", status=429))

    def stall_next_creates(self, seconds: float, times: int = 1) -> None:
        self._add_faults(times, _Fault("stall", seconds=seconds))

    def crash_next_creates(self, times: int = 1) -> None:
        self._add_faults(times, _Fault("crash"))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def forget_idempotency_keys(self) -> None:
        with self._lock:
            self._idempotency.clear()

    def refunds_for(self, psp: str) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(r) for r in self.refunds.values() if r["paymentPspReference"] == psp]

    def refunded(self, psp: str) -> int:
        """Minor units that actually left the payment (refunds that succeeded)."""
        return sum(r["amount"]["value"] for r in self.refunds_for(psp) if r["success"])

    def notification_for(self, refund_psp: str, hmac_key_hex: str, *, event_code: str = "REFUND") -> bytes:
        """The standard notification Adyen sends for a refund, signed with the hex HMAC key."""
        refund = self.refunds[refund_psp]
        item = {
            "amount": dict(refund["amount"]),
            "eventCode": event_code,
            "eventDate": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
            "merchantAccountCode": refund["merchantAccount"],
            "merchantReference": refund["reference"],
            "originalReference": refund["paymentPspReference"],
            "paymentMethod": "visa",
            "pspReference": refund_psp,
            "reason": "" if refund["success"] else "Insufficient balance on payment",
            "success": "true" if refund["success"] or event_code != "REFUND" else "false",
        }
        item["additionalData"] = {"hmacSignature": sign_item(item, hmac_key_hex)}
        return json.dumps(
            {"live": "false", "notificationItems": [{"NotificationRequestItem": item}]}
        ).encode()

    def _add_faults(self, times: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend(_Fault(**vars(fault)) for _ in range(times))

    # --- HTTP ---------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        try:
            reply = self._handle(handler, method)
        except Exception as exc:  # a stub bug should read as one, not as a dropped connection
            reply = _error(500, "000", f"adyen stub error: {exc!r}", "internal")
        if reply.crash:
            handler.close_connection = True  # whatever was done stays done; the answer is lost
            return
        payload = json.dumps(reply.body).encode() if reply.body is not None else b""
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
            handler.wfile.flush()
        except OSError:
            handler.close_connection = True  # the client timed out and went away

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> Reply:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append({"method": method, "path": handler.path, "headers": headers, "body": raw})
        if not hmac.compare_digest(headers.get("x-api-key", "").encode(), self.api_key.encode()):
            return _error(401, "000", "HTTP Status Response - Unauthorized", "security")
        match = _REFUNDS_PATH.match(handler.path)
        if method != "POST" or match is None:
            return _error(404, "000", f"Unknown path {handler.path}")
        return self._refund_request(match.group(1), raw, headers.get("idempotency-key"))

    def _refund_request(self, psp: str, raw: bytes, key: str | None) -> Reply:
        fault = self._next_fault()
        if fault is not None and fault.kind in ("error", "rate_limit"):
            return _front_door(fault)
        if key is None:
            return self._execute(psp, raw, fault)
        fingerprint = hashlib.sha256(psp.encode() + b"\0" + raw).hexdigest()
        with self._lock:
            entry = self._idempotency.get(key)
            if entry is None:
                entry = self._idempotency[key] = _Idempotent(fingerprint)
                first = True
            else:
                first = False
        if not first:
            return _replay(entry, fingerprint)
        reply = self._execute(psp, raw, fault)
        with self._lock:
            if reply.saved:
                entry.reply = Reply(reply.status, reply.body)
            else:
                self._idempotency.pop(key, None)
        return reply

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            return self._faults.popleft() if self._faults else None

    def _execute(self, psp: str, raw: bytes, fault: _Fault | None) -> Reply:
        if fault is not None and fault.kind == "stall":
            time.sleep(fault.seconds)
        try:
            body = json.loads(raw)
        except ValueError:
            return _unsaved(_error(400, "702", "Structure of request body is invalid"))
        invalid = self._validate(psp, body)
        if invalid is not None:
            return _unsaved(invalid)
        with self._lock:
            reply = self._create(psp, body)
        reply.crash = fault is not None and fault.kind == "crash"
        return reply

    def _validate(self, psp: str, body: Any) -> Reply | None:
        if not isinstance(body, dict) or body.get("merchantAccount") != self.merchant_account:
            return _error(403, "901", "Invalid Merchant Account", "security")
        amount = body.get("amount")
        value = amount.get("value") if isinstance(amount, dict) else None
        payment = self._payments.get(psp)
        if payment is None:
            return _error(422, "167", "Original pspReference required for this operation")
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            return _error(422, "137", "Invalid amount specified")
        if amount.get("currency") != payment.currency:
            return _error(422, "137", "Invalid amount specified: currency does not match the payment")
        reference = body.get("reference")
        if reference is not None and (not isinstance(reference, str) or len(reference) > 80):
            return _error(422, "130", "Reference may not exceed 80 characters")
        return None

    def _create(self, psp: str, body: dict[str, Any]) -> Reply:
        payment = self._payments[psp]
        value = body["amount"]["value"]
        refund_psp = f"99361789{next(self._ids):07d}A"
        answer = {
            "merchantAccount": body["merchantAccount"],
            "paymentPspReference": psp,
            "reference": body.get("reference", ""),
            "pspReference": refund_psp,
            "status": "received",
            "amount": {"currency": payment.currency, "value": value},
        }
        # Adyen's default accounting rule: refunds never add up to more than the capture.
        success = self.refunded(psp) + value <= payment.captured
        self.refunds[refund_psp] = {**answer, "success": success}
        return Reply(201, answer)


def _unsaved(reply: Reply) -> Reply:
    reply.saved = False
    return reply


def _front_door(fault: _Fault) -> Reply:
    """A fault before anything executes: nothing is created, nothing saved under the key."""
    if fault.kind == "rate_limit":
        reply = _error(429, "000", "Too many requests", "throttling")
        reply.headers["Retry-After"] = "1"
        return reply
    return _error(fault.status, "000", "Internal error", "internal")


def _replay(entry: _Idempotent, fingerprint: str) -> Reply:
    if entry.fingerprint != fingerprint:
        return _error(422, "idempotency_conflict", "Idempotency key was used with another request body")
    if entry.reply is None:
        return _error(422, "704", "request already processed or in progress")
    saved = entry.reply
    return Reply(saved.status, saved.body, {"Idempotent-Replayed": "true"})


def sign_item(item: dict[str, Any], hmac_key_hex: str) -> str:
    """Adyen's `hmacSignature` of a NotificationRequestItem (SIGNING.md, the SDKs' scheme)."""
    amount = item.get("amount") or {}
    fields = [item.get(n) or "" for n in ("pspReference", "originalReference", "merchantAccountCode")]
    fields += [
        item.get("merchantReference") or "",
        str(amount.get("value", "")),
        amount.get("currency") or "",
    ]
    fields += [item.get("eventCode") or "", item.get("success") or ""]
    digest = hmac.new(binascii.a2b_hex(hmac_key_hex), ":".join(fields).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--port", type=int, default=12112)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--merchant-account", default=DEFAULT_MERCHANT_ACCOUNT)
    parser.add_argument("--payment", action="append", default=[], help="psp:captured_minor:CUR")
    args = parser.parse_args(argv)
    stub = AdyenStub(args.api_key, merchant_account=args.merchant_account, port=args.port)
    for spec in args.payment:
        psp, captured, currency = spec.split(":")
        stub.add_payment(psp, int(captured), currency)
    print(stub.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.close()


if __name__ == "__main__":
    main()
