"""A local stand-in for the part of Stripe's HTTP API that refunds use (stdlib, 127.0.0.1).

It speaks what stripe-python sends and answers what Stripe answers (CR 4.1), so the real SDK
runs against it unchanged (`StripeClient(base_addresses={"api": stub.url})`):

* `POST /v1/refunds` (form-encoded, bracketed keys such as `metadata[homeward_key]`),
  `GET /v1/refunds/{id}`, `GET /v1/refunds?payment_intent=&limit=&starting_after=` (newest
  first, `has_more`), Bearer (or Basic) auth with Stripe's 401 shape, error objects
  `{"error": {"type", "code", "message", "param"}}`, `Request-Id` on every answer.
* Idempotency as Stripe documents it (CR 4.1, SR7): keys are scoped to the API key; the first
  response for a key is saved once the endpoint starts executing - errors and 500s included -
  and replayed with `Idempotent-Replayed: true`; the same key with other parameters (or on
  another endpoint) is a 400 `idempotency_error`; a key whose first request is still running
  is a 409 that is not saved; requests that fail validation before execution are not saved.
* Test controls, plain methods: `add_payment_intent`, `new_refund_status`,
  `set_refund_status`, fault injection for the next POST /v1/refunds (`fail_next_creates`,
  `rate_limit_next_creates`, `stall_next_creates`, `crash_next_creates`),
  `forget_idempotency_keys`, counters (`refunds_created`, `requests_seen`), `wait_idle`, and
  webhook helpers `sign_event` / `event_for`.

Command line, for the local stack (prints the URL, serves until interrupted):

    python -m infra.stripe_stub --port 12111 --payment-intent pi_3Demo0000000000001:4599:usd
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import string
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from infra.http_stub import HttpStub

DEFAULT_API_KEY = "sk_test_homeward_local_stub"
# The API version stripe==16.1.0 pins (stripe._api_version.CURRENT); events carry it.
API_VERSION = "2026-10-28.endive"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
REFUND_REASONS = frozenset({"duplicate", "fraudulent", "requested_by_customer"})
REFUND_STATUSES = frozenset({"pending", "requires_action", "succeeded", "failed", "canceled"})
CREATE_PARAMS = frozenset({"payment_intent", "amount", "reason", "metadata", "expand"})
LIST_PARAMS = frozenset({"payment_intent", "charge", "limit", "starting_after", "ending_before", "expand"})
_REFUND_PATH = re.compile(r"^/v1/refunds/([^/]+)$")
_ALPHANUM = string.ascii_letters + string.digits


def _stripe_id(prefix: str) -> str:
    return prefix + "".join(secrets.choice(_ALPHANUM) for _ in range(24))


def _now() -> int:
    return int(time.time())


@dataclass
class Reply:
    status: int
    body: dict[str, Any] | None
    headers: dict[str, str] = field(default_factory=dict)
    saved: bool = True  # False: failed before execution began, so no idempotent result
    crash: bool = False  # close the connection instead of answering


def _error(
    status: int, message: str, *, type_: str = "invalid_request_error", code: str | None = None, **extra: Any
) -> Reply:
    error: dict[str, Any] = {"type": type_, "message": message}
    if code is not None:
        error["code"] = code
        error["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
    error.update(extra)
    return Reply(status, {"error": error})


@dataclass
class PaymentIntent:
    id: str
    amount: int
    currency: str  # lower case, as Stripe
    charge: str


@dataclass
class _Idempotent:
    fingerprint: tuple
    reply: Reply | None = None  # None while the first request is still executing


@dataclass
class _Fault:
    kind: str  # error | rate_limit | stall | crash
    status: int = 500
    saved: bool = False
    should_retry: bool | None = None
    seconds: float = 0.0


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding: `metadata[k]=x` -> {"metadata": {"k": "x"}}; `a[]`, `a[0]` -> lists."""
    out: dict[str, Any] = {}
    for raw_key, value in pairs:
        head, _, rest = raw_key.partition("[")
        parts = [head] + (re.findall(r"\[([^\]]*)\]", "[" + rest) if rest else [])
        node: Any = out
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            child: Any = value if last else ([] if parts[i + 1] == "" or parts[i + 1].isdigit() else {})
            if isinstance(node, list):
                if part == "":  # a[]: append
                    node.append(child)
                    node = child
                    continue
                index = int(part) if part.isdigit() else len(node)
                while len(node) <= index:
                    node.append(None)
                if last or node[index] is None:
                    node[index] = child
                node = node[index]
            elif last or not isinstance(node.get(part), list | dict):
                node[part] = child
                node = child
            else:
                node = node[part]
    return out


class StripeStub(HttpStub):
    """Stripe's refunds API on a real socket; see the module docstring."""

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        new_refund_status: str = "succeeded",
    ) -> None:
        self.api_key = api_key
        self.new_refund_status = new_refund_status  # pending (card-like) or succeeded
        self.requests: list[dict[str, Any]] = []  # method, path, headers (lower-case), params
        self._payment_intents: dict[str, PaymentIntent] = {}
        self._refunds: dict[str, dict[str, Any]] = {}  # insertion order = creation order
        self._refund_requests: dict[str, dict[str, str | None]] = {}  # refund id -> creating request
        self._created: Counter[str] = Counter()
        self._seen: Counter[str] = Counter()
        self._idempotency: dict[tuple[str, str], _Idempotent] = {}
        self._faults: deque[_Fault] = deque()
        self._active = 0
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        self._request_ids = itertools.count(1)
        self._listen(host, port)

    # --- test controls ------------------------------------------------------------------------

    def add_payment_intent(self, pi_id: str, amount: int, currency: str = "usd") -> None:
        """A captured PaymentIntent that refunds can be made against (amount in minor units)."""
        with self._lock:
            charge = "ch_" + pi_id.removeprefix("pi_")
            self._payment_intents[pi_id] = PaymentIntent(pi_id, amount, currency.lower(), charge)

    def set_refund_status(self, refund_id: str, status: str, failure_reason: str | None = None) -> None:
        """Move a refund on, as Stripe does asynchronously (pending -> succeeded, -> failed)."""
        if status not in REFUND_STATUSES:
            raise ValueError(f"unknown refund status {status!r}")
        with self._lock:
            refund = self._refunds[refund_id]
            refund["status"] = status
            refund["pending_reason"] = "processing" if status == "pending" else None
            refund["failure_reason"] = failure_reason if status == "failed" else None
            if status == "failed":
                refund["failure_balance_transaction"] = _stripe_id("txn_")

    # Faults are taken by the next POST /v1/refunds requests in arrival order, one each; stall,
    # crash and saved errors act only if that request executes (not on a replay or a 409).

    def fail_next_creates(self, times: int = 1, *, status: int = 500, saved: bool = False) -> None:
        """Answer the next `times` refund creations with `status` (an api_error).

        saved=False: the failure happens before anything starts (nothing is created or saved;
        the SDK retries a 5xx). saved=True: it happens during execution, so Stripe saves the 500
        for the key, replays it to every retry and says `Stripe-Should-Retry: false`.
        """
        self._add_faults(times, _Fault("error", status=status, saved=saved))

    def rate_limit_next_creates(self, times: int = 1, *, should_retry: bool | None = None) -> None:
        """Answer 429 rate_limit before execution; `should_retry` sets Stripe-Should-Retry."""
        self._add_faults(times, _Fault("rate_limit", status=429, should_retry=should_retry))

    def stall_next_creates(self, seconds: float, times: int = 1) -> None:
        """Sleep `seconds` inside execution (the key is in flight), then create and answer."""
        self._add_faults(times, _Fault("stall", seconds=seconds))

    def crash_next_creates(self, times: int = 1) -> None:
        """Create the refund and save the idempotent response, then drop the connection unanswered."""
        self._add_faults(times, _Fault("crash"))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def forget_idempotency_keys(self) -> None:
        """What Stripe does to keys >= 24 h old: the next request with one is a new request."""
        with self._lock:
            self._idempotency = {k: v for k, v in self._idempotency.items() if v.reply is None}

    def refunds_created(self, pi_id: str | None = None) -> int:
        """Refunds created for one PaymentIntent (or for all)."""
        with self._lock:
            return self._created[pi_id] if pi_id is not None else sum(self._created.values())

    def requests_seen(self, idempotency_key: str) -> int:
        """Authenticated POST requests that carried this Idempotency-Key (SDK retries included)."""
        with self._lock:
            return self._seen[idempotency_key]

    def refund(self, refund_id: str) -> dict[str, Any]:
        with self._lock:
            return json.loads(json.dumps(self._refunds[refund_id]))

    def refunds_for(self, pi_id: str) -> list[dict[str, Any]]:
        """The PaymentIntent's refunds, oldest first."""
        with self._lock:
            return [self.refund(r["id"]) for r in self._refunds.values() if r["payment_intent"] == pi_id]

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being handled (e.g. a stalled one finished)."""
        deadline = time.monotonic() + timeout
        with self._idle:
            while self._active:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._idle.wait(remaining)
        return True

    @staticmethod
    def sign_event(payload: bytes, secret: str | Sequence[str], timestamp: int) -> str:
        """The `Stripe-Signature` value Stripe sends: one `v1` per secret (as during a rotation)."""
        secret_list = [secret] if isinstance(secret, str) else list(secret)
        message = f"{timestamp}.".encode() + payload
        signatures = [
            "v1=" + hmac.new(s.encode("utf-8"), message, hashlib.sha256).hexdigest() for s in secret_list
        ]
        return ",".join([f"t={timestamp}", *signatures])

    def event_for(self, refund_id: str, event_type: str, *, previous_attributes: dict | None = None) -> bytes:
        """A Stripe event (as Stripe pretty-prints it) whose data.object is the refund now."""
        refund = self.refund(refund_id)
        data: dict[str, Any] = {"object": refund}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        with self._lock:
            created_by = self._refund_requests.get(refund_id)
        # Stripe names the API request behind an event only where one caused it.
        request = created_by if event_type == "refund.created" else None
        event = {
            "id": _stripe_id("evt_"),
            "object": "event",
            "api_version": API_VERSION,
            "created": _now(),
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": request or {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        return json.dumps(event, indent=2).encode()

    def _add_faults(self, times: int, fault: _Fault) -> None:
        with self._lock:
            self._faults.extend(_Fault(**vars(fault)) for _ in range(times))

    # --- HTTP ---------------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            self._active += 1
        try:
            request_id = f"req_{next(self._request_ids):014d}"
            try:
                reply = self._handle(handler, method, request_id)
            except Exception as exc:  # a stub bug should read as one, not as a dropped connection
                reply = _error(500, f"stripe stub error: {exc!r}", type_="api_error")
            if reply.crash:
                # Whatever was done stays done; the client just never hears about it.
                handler.close_connection = True
                return
            self._write(handler, reply, request_id)
        finally:
            with self._idle:
                self._active -= 1
                self._idle.notify_all()

    def _write(self, handler: BaseHTTPRequestHandler, reply: Reply, request_id: str) -> None:
        payload = json.dumps(reply.body, indent=2).encode() if reply.body is not None else b""
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(payload)))
            handler.send_header("Request-Id", request_id)
            handler.send_header("Stripe-Version", handler.headers.get("Stripe-Version") or API_VERSION)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(payload)
            handler.wfile.flush()
        except OSError:
            # The client timed out and went away (a stalled request): nothing to tell it.
            handler.close_connection = True

    def _handle(self, handler: BaseHTTPRequestHandler, method: str, request_id: str) -> Reply:
        split = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        pairs = parse_qsl(
            raw.decode("utf-8", "replace") if method == "POST" else split.query, keep_blank_values=True
        )
        params = _nest(pairs)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append({"method": method, "path": split.path, "headers": headers, "params": params})
        denied = self._authenticate(headers.get("authorization"))
        if denied is not None:
            return denied
        if method == "POST" and split.path == "/v1/refunds":
            return self._create_refund_request(headers, pairs, params, request_id)
        if method == "GET" and split.path == "/v1/refunds":
            return self._list_refunds(params)
        match = _REFUND_PATH.match(split.path)
        if method == "GET" and match:
            return self._retrieve_refund(match.group(1))
        return _error(
            404, f"Unrecognized request URL ({method}: {split.path}). Please see https://stripe.com/docs."
        )

    def _authenticate(self, authorization: str | None) -> Reply | None:
        key = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "bearer":
                key = value.strip()
            elif scheme.lower() == "basic":
                # curl -u sk_test_...: sends the key as the Basic user name.
                try:
                    key = base64.b64decode(value.strip()).decode().partition(":")[0]
                except (ValueError, UnicodeDecodeError):
                    key = None
        if not key:
            return _error(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
            )
        if not hmac.compare_digest(key.encode(), self.api_key.encode()):
            shown = key[:8] + "*" * max(len(key) - 12, 4) + key[-4:] if len(key) > 12 else "*" * len(key)
            return _error(401, f"Invalid API Key provided: {shown}")
        return None

    def _create_refund_request(
        self, headers: dict[str, str], pairs: list[tuple[str, str]], params: dict[str, Any], request_id: str
    ) -> Reply:
        key = headers.get("idempotency-key")
        with self._lock:
            if key:
                self._seen[key] += 1
            fault = self._faults.popleft() if self._faults else None
        refused = _front_door_fault(fault)
        if refused is not None:
            return refused
        if not key:
            return self._execute_create(params, fault, request_id, None)
        if len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            return _error(
                400,
                f"Invalid idempotency key: keys can be up to {MAX_IDEMPOTENCY_KEY_LENGTH} characters long.",
            )
        scope = (self.api_key, key)
        fingerprint = ("POST", "/v1/refunds", tuple(sorted(pairs)))
        with self._lock:
            entry = self._idempotency.get(scope)
            first = entry is None
            if entry is None:
                self._idempotency[scope] = entry = _Idempotent(fingerprint)
        if not first:
            return _replay(entry, fingerprint, key)
        return self._create_once(scope, entry, params, fault, request_id, key)

    def _create_once(
        self,
        scope: tuple[str, str],
        entry: _Idempotent,
        params: dict[str, Any],
        fault: _Fault | None,
        request_id: str,
        key: str,
    ) -> Reply:
        """The first request with this key: execute it and save the reply for the retries."""
        try:
            reply = self._execute_create(params, fault, request_id, key)
        except BaseException:
            with self._lock:
                self._idempotency.pop(scope, None)
            raise
        with self._lock:
            if reply.saved:
                entry.reply = Reply(reply.status, reply.body, dict(reply.headers))
            else:
                # Validation failed before execution: the key stays free for a corrected retry.
                self._idempotency.pop(scope, None)
        reply.headers["Idempotency-Key"] = key
        return reply

    def _execute_create(
        self, params: dict[str, Any], fault: _Fault | None, request_id: str, key: str | None
    ) -> Reply:
        invalid = self._validate_create(params)
        if invalid is not None:
            invalid.saved = False
            return invalid
        if fault is not None and fault.kind == "stall":
            time.sleep(fault.seconds)
        if fault is not None and fault.kind == "error":
            reply = _error(fault.status, "An unknown error occurred", type_="api_error")
            reply.headers["Stripe-Should-Retry"] = "false"
            return reply
        with self._lock:
            reply = self._create_refund(params, request_id, key)
        if fault is not None and fault.kind == "crash":
            reply.crash = True
        return reply

    def _validate_create(self, params: dict[str, Any]) -> Reply | None:
        for name in params:
            if name not in CREATE_PARAMS:
                return _error(
                    400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
                )
        if not params.get("payment_intent"):
            return _error(
                400,
                "One of the following params should be provided for this request: payment_intent or charge.",
                code="parameter_missing",
                param="payment_intent",
            )
        if "amount" in params and not re.fullmatch(r"[0-9]{1,12}", str(params["amount"])):
            return _error(400, "Invalid integer: " + str(params["amount"]), code="parameter_invalid_integer")
        if "amount" in params and int(params["amount"]) < 1:
            return _error(
                400, "This value must be greater than or equal to 1.", code="parameter_invalid_integer"
            )
        if "reason" in params and params["reason"] not in REFUND_REASONS:
            return _error(
                400, f"Invalid reason: must be one of {', '.join(sorted(REFUND_REASONS))}", param="reason"
            )
        metadata = params.get("metadata", {})
        if metadata == "":
            metadata = {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            return _error(400, "Invalid object", code="parameter_invalid_empty", param="metadata")
        return None

    def _create_refund(self, params: dict[str, Any], request_id: str, key: str | None) -> Reply:
        pi = self._payment_intents.get(params["payment_intent"])
        if pi is None:
            return _error(
                404,
                f"No such payment_intent: '{params['payment_intent']}'",
                code="resource_missing",
                param="payment_intent",
            )
        refunded = sum(
            r["amount"]
            for r in self._refunds.values()
            if r["payment_intent"] == pi.id and r["status"] not in ("failed", "canceled")
        )
        remaining = pi.amount - refunded
        if remaining <= 0:
            return _error(
                400, f"Charge {pi.charge} has already been refunded.", code="charge_already_refunded"
            )
        amount = int(params.get("amount", remaining))
        if amount > remaining:
            return _error(
                400,
                f"Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})",
                code="amount_too_large",
                param="amount",
            )
        refund = _refund_object(pi, amount, self.new_refund_status, params)
        self._refunds[refund["id"]] = refund
        self._created[pi.id] += 1
        self._refund_requests[refund["id"]] = {"id": request_id, "idempotency_key": key}
        return Reply(200, json.loads(json.dumps(refund)))

    def _retrieve_refund(self, refund_id: str) -> Reply:
        with self._lock:
            refund = self._refunds.get(refund_id)
            if refund is None:
                return _error(404, f"No such refund: '{refund_id}'", code="resource_missing", param="id")
            return Reply(200, json.loads(json.dumps(refund)))

    def _list_refunds(self, params: dict[str, Any]) -> Reply:
        for name in params:
            if name not in LIST_PARAMS:
                return _error(
                    400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
                )
        limit_text = str(params.get("limit", "10"))
        if not re.fullmatch(r"[0-9]{1,3}", limit_text) or not 1 <= int(limit_text) <= 100:
            return _error(400, "Invalid limit: must be between 1 and 100", code="parameter_invalid_integer")
        limit = int(limit_text)
        with self._lock:
            pi_id = params.get("payment_intent")
            if pi_id and pi_id not in self._payment_intents:
                return _error(
                    404, f"No such payment_intent: '{pi_id}'", code="resource_missing", param="payment_intent"
                )
            # Newest first, as Stripe lists.
            items = [r for r in reversed(self._refunds.values()) if not pi_id or r["payment_intent"] == pi_id]
            ids = [r["id"] for r in items]
            after, before = params.get("starting_after"), params.get("ending_before")
            for cursor, name in ((after, "starting_after"), (before, "ending_before")):
                if cursor and cursor not in ids:
                    return _error(400, f"No such refund: '{cursor}'", code="resource_missing", param=name)
            if after:
                window = items[ids.index(after) + 1 :]
                page, has_more = window[:limit], len(window) > limit
            elif before:
                window = items[: ids.index(before)]
                page, has_more = window[-limit:], len(window) > limit
            else:
                page, has_more = items[:limit], len(items) > limit
            data = json.loads(json.dumps(page))
        return Reply(200, {"object": "list", "data": data, "has_more": has_more, "url": "/v1/refunds"})


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--new-refund-status", default="pending", choices=["pending", "succeeded"])
    parser.add_argument(
        "--payment-intent",
        action="append",
        default=[],
        metavar="PI:AMOUNT:CURRENCY",
        help="a captured PaymentIntent to refund against, e.g. pi_3Demo0000000000001:4599:usd",
    )
    args = parser.parse_args(argv)
    stub = StripeStub(args.api_key, host=args.host, port=args.port, new_refund_status=args.new_refund_status)
    for spec in args.payment_intent:
        pi_id, amount, currency = spec.split(":")
        stub.add_payment_intent(pi_id, int(amount), currency)
    print(stub.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        stub.close()


def _refund_object(pi: Any, amount: int, status: str, params: dict[str, Any]) -> dict[str, Any]:
    """A new Refund object as Stripe's API answers it."""
    metadata = params.get("metadata") or {}
    return {
        "id": _stripe_id("re_"),
        "object": "refund",
        "amount": amount,
        "balance_transaction": _stripe_id("txn_"),
        "charge": pi.charge,
        "created": _now(),
        "currency": pi.currency,
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "failure_reason": None,
        "metadata": dict(metadata),
        "payment_intent": pi.id,
        "pending_reason": "processing" if status == "pending" else None,
        "reason": params.get("reason"),
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": status,
        "transfer_reversal": None,
    }


def _front_door_fault(fault: _Fault | None) -> Reply | None:
    """Faults at the front door: nothing has started, so nothing is created or saved."""
    if fault is not None and fault.kind == "error" and not fault.saved:
        return _error(fault.status, "An unknown error occurred", type_="api_error")
    if fault is not None and fault.kind == "rate_limit":
        reply = _error(
            429,
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
            code="rate_limit",
        )
        if fault.should_retry is not None:
            reply.headers["Stripe-Should-Retry"] = "true" if fault.should_retry else "false"
        return reply
    return None


def _replay(entry: _Idempotent, fingerprint: tuple, key: str) -> Reply:
    """A key seen before: Stripe's answer for other parameters, a request in flight, or a replay."""
    if entry.fingerprint != fingerprint:
        return _error(
            400,
            "Keys for idempotent requests can only be used with the same parameters they were "
            f"first used with. Try using a key other than '{key}' if you meant to execute a "
            "different request.",
            type_="idempotency_error",
        )
    if entry.reply is None:
        reply = _error(
            409,
            "There is currently another in-progress request using this Idempotent Key (that probably "
            "means you submitted twice, and the other request is still going through): "
            f"{key}. Please try again later.",
            code="idempotency_key_in_use",
        )
        reply.headers["Stripe-Should-Retry"] = "true"
        return reply
    saved = entry.reply
    return Reply(
        saved.status, saved.body, {**saved.headers, "Idempotency-Key": key, "Idempotent-Replayed": "true"}
    )


if __name__ == "__main__":
    main()
