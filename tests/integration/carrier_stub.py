"""Local stand-ins for the EasyPost and Shippo HTTP APIs (stdlib http.server on 127.0.0.1:0).

Each stub implements the subset of the provider's documented API the adapters use, answers
with the recorded-style fixtures in tests/fixtures/carriers/, keeps what was bought (so list
and retrieve calls see it), counts purchases, records every request, and can inject faults:
an HTTP status with a body, or a sleep longer than the client's read timeout (after which the
request is still carried out - the "purchase done, answer lost" crash).
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from infra.http_stub import HttpStub

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "carriers"

PDF_BYTES = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
ZPL_BYTES = b"^XA^FO50,50^A0N,40,40^FDSTUB LABEL^FS^XZ"
FILES = {"pdf": PDF_BYTES, "png": PNG_BYTES, "zpl": ZPL_BYTES}


def _timestamp(n: int, suffix: str) -> str:
    """The n-th object's creation time: one second apart, in creation order."""
    return f"2024-05-06T14:{n // 60:02d}:{n % 60:02d}{suffix}"


def fixture(provider: str, name: str) -> Any:
    return json.loads((FIXTURES / provider / name).read_text())


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-case names
    body: Any


@dataclass
class Fault:
    """Applied to the next `times` requests matching `method` and the `path` regex."""

    method: str
    path: str
    status: int | None = None  # answer this instead of carrying the request out
    body: Any = None
    sleep: float = 0.0  # stall first; with no status the request is then carried out
    times: int = 1


@dataclass
class Reply:
    status: int
    body: Any = None
    raw: bytes | None = None
    content_type: str = "application/json"


@dataclass
class StubState:
    requests: list[Recorded] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    purchases: int = 0
    active: int = 0


class _Stub(HttpStub):
    """One provider's fake API behind a real socket."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.state = StubState()
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._listen()

    def fault(self, **kwargs) -> Fault:
        fault = Fault(**kwargs)
        with self._lock:
            self.state.faults.append(fault)
        return fault

    def wait_idle(self, timeout: float = 5.0) -> None:
        """Until no request is being served (a stalled purchase has finished)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.state.active == 0:
                    return
            time.sleep(0.01)
        raise AssertionError("stub still busy")

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.state.requests if r.method == method and re.fullmatch(pattern, r.path)]

    def next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):032x}"

    # -- plumbing ----------------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        with self._lock:
            self.state.active += 1
        try:
            parts = urlsplit(handler.path)
            length = int(handler.headers.get("Content-Length") or 0)
            raw = handler.rfile.read(length) if length else b""
            body = json.loads(raw) if raw else None
            record = Recorded(
                method=method,
                path=parts.path,
                query={k: v[-1] for k, v in parse_qs(parts.query).items()},
                headers={k.lower(): v for k, v in handler.headers.items()},
                body=body,
            )
            with self._lock:
                self.state.requests.append(record)
                fault = self._take_fault(method, parts.path)
            if fault is not None and fault.sleep:
                time.sleep(fault.sleep)
            if fault is not None and fault.status is not None:
                reply = Reply(fault.status, fault.body)
            elif parts.path.startswith("/files/"):
                reply = self._file(parts.path)
            elif not self._authorized(record.headers.get("authorization", "")):
                reply = self._unauthorized()
            else:
                with self._lock:
                    reply = self.route(record)
            self._write(handler, reply)
        finally:
            with self._lock:
                self.state.active -= 1

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for fault in self.state.faults:
            if fault.times > 0 and fault.method == method and re.fullmatch(fault.path, path):
                fault.times -= 1
                return fault
        return None

    def _file(self, path: str) -> Reply:
        extension = path.rsplit(".", 1)[-1]
        if extension not in FILES:
            return Reply(404, raw=b"<Error><Code>NoSuchKey</Code></Error>", content_type="application/xml")
        return Reply(200, raw=FILES[extension], content_type="application/octet-stream")

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        data = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", reply.content_type)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (read timeout): the work is done all the same

    # -- provider specifics ------------------------------------------------------------------

    def _authorized(self, header: str) -> bool:
        raise NotImplementedError

    def _unauthorized(self) -> Reply:
        raise NotImplementedError

    def route(self, request: Recorded) -> Reply:
        raise NotImplementedError


class EasyPostStub(_Stub):
    """POST/GET /v2/shipments, /buy, /label, /refund, and /files/* (the label host)."""

    def __init__(self, api_key: str = "EZTK_test_key_0123456789") -> None:
        super().__init__(api_key)
        self.shipments: dict[str, dict] = {}  # insertion order = creation order

    @property
    def api_url(self) -> str:
        return f"{self.url}/v2"

    def _authorized(self, header: str) -> bool:
        return header == "Basic " + base64.b64encode(f"{self.api_key}:".encode()).decode()

    def _unauthorized(self) -> Reply:
        return Reply(401, fixture("easypost", "error_unauthorized.json"))

    def route(self, request: Recorded) -> Reply:
        path, method = request.path, request.method
        if method == "POST" and path == "/v2/shipments":
            return self._create(request.body["shipment"])
        if method == "GET" and path == "/v2/shipments":
            return self._list(request.query)
        match = re.fullmatch(r"/v2/shipments/([^/]+)(/buy|/label|/refund)?", path)
        if not match or match.group(1) not in self.shipments:
            return Reply(
                404,
                {
                    "error": {
                        "code": "NOT_FOUND",
                        "message": "The requested resource could not be found.",
                        "errors": [],
                    }
                },
            )
        shipment = self.shipments[match.group(1)]
        action = match.group(2)
        if method == "GET" and action is None:
            return Reply(200, shipment)
        if method == "POST" and action == "/buy":
            return self._buy(shipment, request.body)
        if method == "GET" and action == "/label":
            return self._convert(shipment, request.query.get("file_format", ""))
        if method == "POST" and action == "/refund":
            shipment["refund_status"] = "submitted"
            return Reply(200, shipment)
        return Reply(
            405, {"error": {"code": "METHOD.NOT_ALLOWED", "message": "Method not allowed", "errors": []}}
        )

    def _create(self, body: dict) -> Reply:
        shipment = fixture("easypost", "shipment.json")
        shipment_id = self.next_id("shp_")
        shipment.update(
            id=shipment_id,
            reference=body.get("reference"),
            is_return=bool(body.get("is_return")),
            created_at=_timestamp(len(self.shipments), "Z"),
        )
        shipment["options"]["label_format"] = body.get("options", {}).get("label_format", "PNG")
        shipment["to_address"].update(body["to_address"])
        shipment["from_address"].update(body["from_address"])
        for rate in shipment["rates"]:
            rate["shipment_id"] = shipment_id
            rate["id"] = f"{rate['id']}_{shipment_id[4:12]}"
        self.shipments[shipment_id] = shipment
        return Reply(201, shipment)

    def _buy(self, shipment: dict, body: dict) -> Reply:
        if shipment.get("postage_label"):
            return Reply(
                422,
                {
                    "error": {
                        "code": "SHIPMENT.POSTAGE.EXISTS",
                        "message": "Shipment already purchased",
                        "errors": [],
                    }
                },
            )
        rate = next((r for r in shipment["rates"] if r["id"] == body["rate"]["id"]), None)
        if rate is None:
            return Reply(
                422, {"error": {"code": "SHIPMENT.RATE.INVALID", "message": "Invalid rate", "errors": []}}
            )
        self.state.purchases += 1
        label = fixture("easypost", "postage_label.json")
        label["id"] = self.next_id("pl_")
        fmt = shipment["options"]["label_format"].upper()
        extension = {"PDF": "pdf", "ZPL": "zpl"}.get(fmt, "png")
        label["label_file_type"] = {"pdf": "application/pdf", "zpl": "application/zpl", "png": "image/png"}[
            extension
        ]
        label["label_url"] = f"{self.url}/files/{label['id']}.{extension}"
        if extension in ("pdf", "zpl"):
            label[f"label_{extension}_url"] = label["label_url"]
        shipment.update(
            postage_label=label,
            selected_rate=copy.deepcopy(rate),
            tracking_code=f"94055001054402{self.state.purchases:08d}",
            updated_at="2024-05-06T14:02:13Z",
        )
        return Reply(200, shipment)

    def _convert(self, shipment: dict, file_format: str) -> Reply:
        label = shipment.get("postage_label")
        extension = {"PDF": "pdf", "ZPL": "zpl"}.get(file_format.upper())
        if not label or extension is None:
            return Reply(
                422,
                {
                    "error": {
                        "code": "SHIPMENT.LABEL.INVALID_FORMAT",
                        "message": "Invalid file_format",
                        "errors": [],
                    }
                },
            )
        label[f"label_{extension}_url"] = f"{self.url}/files/{label['id']}-converted.{extension}"
        return Reply(200, shipment)

    def _list(self, query: dict[str, str]) -> Reply:
        newest_first = list(reversed(self.shipments.values()))
        if query.get("purchased") == "true":
            newest_first = [s for s in newest_first if s.get("postage_label")]
        if query.get("before_id"):
            ids = [s["id"] for s in newest_first]
            start = ids.index(query["before_id"]) + 1 if query["before_id"] in ids else len(ids)
            newest_first = newest_first[start:]
        size = int(query.get("page_size") or 20)
        return Reply(200, {"shipments": newest_first[:size], "has_more": len(newest_first) > size})


class ShippoStub(_Stub):
    """POST /shipments, POST|GET /transactions, GET /rates/{id}, POST /refunds, /files/*."""

    def __init__(self, api_key: str = "shippo_test_0123456789abcdef") -> None:
        super().__init__(api_key)
        self.rates: dict[str, dict] = {}
        self.shipments: dict[str, dict] = {}
        self.transactions: dict[str, dict] = {}  # insertion order = creation order
        # What POST /transactions answers: "SUCCESS", "QUEUED" (settles after `settle_after`
        # GETs), or the name of an error fixture ("transaction_error_address.json").
        self.outcome = "SUCCESS"
        self.settle_after = 1

    @property
    def api_url(self) -> str:
        return self.url

    def _authorized(self, header: str) -> bool:
        return header == f"ShippoToken {self.api_key}"

    def _unauthorized(self) -> Reply:
        return Reply(401, fixture("shippo", "error_unauthorized.json"))

    def route(self, request: Recorded) -> Reply:
        path, method = request.path, request.method
        if method == "POST" and path == "/shipments":
            return self._create_shipment(request.body)
        if method == "POST" and path == "/transactions":
            return self._create_transaction(request.body)
        if method == "GET" and path == "/transactions":
            return self._list(request.query)
        match = re.fullmatch(r"/transactions/([^/]+)", path)
        if method == "GET" and match:
            transaction = self.transactions.get(match.group(1))
            if transaction is None:
                return Reply(404, {"detail": "Not found."})
            self._maybe_settle(transaction)
            return Reply(200, transaction)
        match = re.fullmatch(r"/rates/([^/]+)", path)
        if method == "GET" and match:
            rate = self.rates.get(match.group(1))
            return Reply(200, rate) if rate else Reply(404, {"detail": "Not found."})
        if method == "POST" and path == "/refunds":
            return self._refund(request.body)
        return Reply(404, {"detail": "Not found."})

    def _create_shipment(self, body: dict) -> Reply:
        shipment = fixture("shippo", "shipment.json")
        shipment_id = self.next_id("")
        shipment.update(
            object_id=shipment_id,
            address_from=body["address_from"],
            address_to=body["address_to"],
            parcels=body["parcels"],
            extra=body.get("extra", {}),
            metadata=body.get("metadata", ""),
        )
        for rate in shipment["rates"]:
            rate["object_id"] = f"{rate['object_id']}_{shipment_id[-8:]}"
            rate["shipment"] = shipment_id
            self.rates[rate["object_id"]] = rate
        self.shipments[shipment_id] = shipment
        return Reply(201, shipment)

    def _create_transaction(self, body: dict) -> Reply:
        rate = self.rates.get(body.get("rate"))
        if rate is None:
            return Reply(400, {"rate": ["Rate not found."]})
        shipment = self.shipments[rate["shipment"]]
        transaction_id = self.next_id("")
        if self.outcome.endswith(".json"):
            transaction = fixture("shippo", self.outcome)
        else:
            transaction = fixture("shippo", "transaction.json")
            self.state.purchases += 1
            token = body.get("label_file_type") or "PDF_4x6"
            extension = "zpl" if token.startswith("ZPL") else "png" if token.startswith("PNG") else "pdf"
            transaction.update(
                label_file_type=token,
                label_url=f"{self.url}/files/{transaction_id}.{extension}?Expires=1715000000&Signature=stub",
                tracking_number=f"92055901649173{self.state.purchases:08d}",
                status=self.outcome,
            )
            if shipment["extra"].get("qr_code_requested"):
                transaction["qr_code_url"] = f"{self.url}/files/{transaction_id}_qr.png"
            if self.outcome == "QUEUED":
                transaction["_gets_until_settled"] = self.settle_after
        transaction.update(
            object_id=transaction_id,
            rate=rate["object_id"],
            metadata=body.get("metadata", ""),
            object_created=_timestamp(len(self.transactions), ".000Z"),
        )
        self.transactions[transaction_id] = transaction
        return Reply(201, self._public(transaction))

    def _maybe_settle(self, transaction: dict) -> None:
        if transaction.get("status") == "QUEUED" and "_gets_until_settled" in transaction:
            transaction["_gets_until_settled"] -= 1
            if transaction["_gets_until_settled"] <= 0:
                transaction["status"] = "SUCCESS"
                del transaction["_gets_until_settled"]

    @staticmethod
    def _public(transaction: dict) -> dict:
        return {k: v for k, v in transaction.items() if not k.startswith("_")}

    def _list(self, query: dict[str, str]) -> Reply:
        newest_first = [self._public(t) for t in reversed(self.transactions.values())]
        if query.get("object_status"):
            newest_first = [t for t in newest_first if t["status"] == query["object_status"]]
        size = int(query.get("results") or 5)
        page = int(query.get("page") or 1)
        chunk = newest_first[(page - 1) * size : page * size]
        more = len(newest_first) > page * size
        base = f"{self.url}/transactions"
        return Reply(
            200,
            {
                "next": f"{base}?page={page + 1}&results={size}" if more else None,
                "previous": f"{base}?page={page - 1}&results={size}" if page > 1 else None,
                "results": chunk,
            },
        )

    def _refund(self, body: dict) -> Reply:
        transaction = self.transactions.get(body.get("transaction"))
        if transaction is None:
            return Reply(400, {"transaction": ["Transaction not found."]})
        if transaction["status"] in ("REFUNDPENDING", "REFUNDED"):
            return Reply(400, {"transaction": ["A refund for this transaction has already been requested."]})
        transaction["status"] = "REFUNDPENDING"
        refund = fixture("shippo", "refund.json")
        refund.update(object_id=self.next_id(""), transaction=transaction["object_id"])
        return Reply(201, refund)
