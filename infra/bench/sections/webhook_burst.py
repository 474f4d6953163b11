"""Webhook burst: thousands of signed carrier webhooks over HTTP to the local stack, each applied once.

A LocalStack (infra/local) runs in this process on free ports, without demo data. Then:

1. Parcels: `--parcels` tracking numbers of this run, on orders of up to 10 parcels each
   (`PUT /orders/{orderId}` with the merchant key); TrackingFunction registers them from the
   table's stream (settled with `POST /_local/settle`).
2. Deliveries: `--burst-size` in all, of which a tenth are duplicates - exact re-sends of
   deliveries already in the burst - and the rest unique events: the provider samples
   (events/webhooks/, tracking cases only) retargeted with `retarget()` at the parcels, each
   parcel with its own provider (the four in turn) and a case sequence with carrier times
   20 minutes apart, event ids of this run. Shuffled with a seeded random, so a parcel's
   events and a duplicate and its original arrive in any order.
3. Send: `--burst-threads` senders with a keep-alive connection each POST to
   `/webhooks/{provider}`, signing just before each request (Shippo and generic signatures
   carry a timestamp that goes stale after 5 minutes); the ack latency is the request alone.
4. Apply: settle until every stream and queue is drained (TrackingFunction, and whatever the
   parcels' events set off downstream).
5. Verify, from the table (boto3 on the stack's moto): every unique event's inbox item must be
   `applied` (lost: not applied, by inbox status - `missing` = no item at all), the parcels'
   `applied_events` must add up to exactly the applied events (applied twice: the excess),
   every answer 2xx, each unique event `accepted` exactly once and every other delivery of it
   `duplicate`.
6. Ratio: on the same stack and moto server, the real WebhooksFunction handler, imported in
   this process with its template environment, against a minimal handler written here (one
   HMAC-SHA256 with hmac.compare_digest, one conditional PutItem of the raw body with its own
   boto3 client to the same table); `--ratio-samples` new EasyPost events each, interleaved
   (the order alternates every pair), both warmed first. The stack's event sources are stopped
   for this phase, so TrackingFunction does not run beside the timed calls.

Limits of the local stack that shape the figures: its runtime runs ONE invocation at a time
(infra/local/runtime.py), so the senders' requests and TrackingFunction's batches queue for
the same lock - the ack latency includes waiting for whatever runs; in Lambda the two
functions scale apart. moto serves the table from this process too. `runtime` in the results
adds up the handlers' time per function during the burst, `runtime.timeline` per 30 s window
of the send phase (where the time goes: a flat line means no cost grows with the table), and
`moto` the model instances moto keeps (every item version, stream record and shard iterator
it ever made - whatever walks them, as /moto-api/data.json does, slows down as a burst goes on).

Everything the handlers print (logs, metrics, the stack's console) is kept off the report;
the last lines are attached to a failure.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import http.client
import importlib
import io
import json
import math
import os
import random
import socket
import sys
import threading
import time
import warnings
from collections import Counter, defaultdict, deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from infra.bench import stats

NAME = "webhook_burst"
TITLE = "Webhook burst: signed deliveries over HTTP to the local stack, acked and applied exactly once"
ORDER = 40
GOAL_RATIO = 1.5
PARCELS_PER_ORDER = 10
DUPLICATE_SHARE = 0.1
CARRIER_STEP = timedelta(minutes=20)  # between one parcel's events
SETTLE_CALL_SECONDS = 120  # the most /_local/settle waits per call
SETTLE_LIMIT_SECONDS = 3600
WARMUP_CALLS = 25
# The order a parcel's cases follow (those a provider has no sample for are skipped).
CASE_SEQUENCE = (
    "label_created",
    "in_transit",
    "out_for_delivery",
    "failed_attempt",
    "in_transit",
    "out_for_delivery",
    "delivered",
)


def add_arguments(parser) -> None:
    group = parser.add_argument_group("webhook burst")
    group.add_argument("--burst-size", type=int, default=10_000, help="deliveries in all (default 10000)")
    group.add_argument("--parcels", type=int, default=500, help="parcels the events go to (default 500)")
    group.add_argument("--burst-threads", type=int, default=8, help="concurrent senders (default 8)")
    group.add_argument(
        "--ratio-samples", type=int, default=1000, help="timed calls per handler for the ratio (default 1000)"
    )
    group.add_argument("--burst-seed", type=int, default=20261122, help="random seed of the shuffle")


# ---- deliveries -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """One unique carrier event: what is sent, and how it is found in the inbox afterwards."""

    provider: str
    body: bytes
    event_id: str  # the provider's event id (generic: the webhook-id header)
    tracking_number: str


@dataclass
class Burst:
    events: list[Event]
    order: list[int]  # indexes into events, in sending order (duplicates appear twice or more)
    parcels: list[str]

    @property
    def duplicates(self) -> int:
        return len(self.order) - len(self.events)


def _prepare_imports() -> None:
    """Import what signing and retargeting need before the stack's runtime exists.

    The runtime gives each function its own copy of the modules it imports from functions/,
    swapping them in and out of sys.modules per invocation; modules already loaded when it
    starts are shared instead. Loaded now, the pure modules signing uses (generic signatures,
    the payload parsers behind retarget) stay put while the sender threads sign beside the
    runtime's swaps.
    """
    from infra.webhook_signing import LOCAL_SECRETS, load_sample, retarget, signed_headers

    body = load_sample("generic", "in_transit")
    signed_headers(
        "generic", retarget(body, "generic", occurred_at=datetime.now(UTC)), LOCAL_SECRETS["generic"]
    )


def tracking_cases(provider: str) -> list[str]:
    """The provider's samples that are tracking events, in CASE_SEQUENCE order (repeats kept)."""
    from homeward.domain.tracking.ports import Ignored
    from homeward.providers.tracking_sources import parse_webhook

    from infra.webhook_signing import load_sample, sample_cases

    available = set(sample_cases(provider))
    tracking = {
        case
        for case in available
        if not isinstance(
            parse_webhook(
                provider, load_sample(provider, case), {"webhook-id": "msg_x"}, received_at=datetime.now(UTC)
            ),
            Ignored,
        )
    }
    return [case for case in CASE_SEQUENCE if case in tracking]


def event_id_for(provider: str, run: str, index: int) -> str:
    digest = hashlib.sha256(f"{run}:{index}".encode()).hexdigest()
    if provider == "easypost":
        return f"evt_{digest[:32]}"
    if provider == "aftership":
        return f"{digest[:8]}-{digest[8:12]}-4{digest[13:16]}-8{digest[17:20]}-{digest[20:32]}"
    if provider == "generic":
        return f"msg_{digest[:24]}"
    return digest[:32]  # Shippo object ids


def build_burst(size: int, parcels: list[str], *, run: str, seed: int, now: datetime) -> Burst:
    """Unique events spread over the parcels (provider per parcel), plus a tenth duplicates."""
    from infra.webhook_signing import PROVIDERS, load_sample, retarget

    if size < 2 or not parcels:
        raise ValueError("a burst needs at least 2 deliveries and 1 parcel")
    duplicates = max(1, round(size * DUPLICATE_SHARE))
    unique = size - duplicates
    cases = {p: tracking_cases(p) for p in PROVIDERS}
    samples = {(p, c): load_sample(p, c) for p in PROVIDERS for c in set(cases[p])}
    per_parcel = math.ceil(unique / len(parcels))
    start = now - CARRIER_STEP * (per_parcel + 1)
    events = []
    for index in range(unique):
        parcel, step = index % len(parcels), index // len(parcels)
        provider = PROVIDERS[parcel % len(PROVIDERS)]
        case = cases[provider][step % len(cases[provider])]
        event_id = event_id_for(provider, run, index)
        body = retarget(
            samples[(provider, case)],
            provider,
            tracking_number=parcels[parcel],
            occurred_at=start + CARRIER_STEP * step,
            event_id=None if provider == "generic" else event_id,
        )
        events.append(Event(provider, body, event_id, parcels[parcel]))
    rng = random.Random(seed)
    order = list(range(unique)) + rng.sample(range(unique), min(duplicates, unique))
    while len(order) < size:  # more duplicates than unique events: some are sent three times or more
        order.append(rng.randrange(unique))
    rng.shuffle(order)
    return Burst(events, order, parcels)


# ---- sending ----------------------------------------------------------------------------------------


@dataclass
class Answer:
    index: int  # into Burst.events
    status: int  # HTTP status; 0 = no answer after the connection retries
    ack: str | None  # accepted / duplicate / ignored
    latency_ms: float
    retries: int = 0


class Sender:
    """Keep-alive connections, one per thread; each delivery signed just before it is sent."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._local = threading.local()
        self._lock = threading.Lock()
        self.connections = 0
        self.sent = 0  # answered (or given up on)

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
            self._local.conn = conn
            with self._lock:
                self.connections += 1
        return conn

    def _drop(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
        self._local.conn = None

    def send(self, index: int, event: Event) -> Answer:
        from infra.webhook_signing import LOCAL_SECRETS, signed_headers

        retries = 0
        while True:
            headers = signed_headers(
                event.provider,
                event.body,
                LOCAL_SECRETS[event.provider],
                webhook_id=event.event_id if event.provider == "generic" else None,
            )
            conn = self._connection()
            started = time.perf_counter()
            try:
                conn.request("POST", f"/webhooks/{event.provider}", body=event.body, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (OSError, http.client.HTTPException):
                self._drop()
                if retries >= 2:
                    with self._lock:
                        self.sent += 1
                    return Answer(index, 0, None, (time.perf_counter() - started) * 1000, retries)
                retries += 1
                continue
            latency = (time.perf_counter() - started) * 1000
            try:
                ack = json.loads(raw).get("status")
            except (ValueError, AttributeError):
                ack = None
            with self._lock:
                self.sent += 1
            return Answer(index, response.status, ack, latency, retries)


# ---- the stack ----------------------------------------------------------------------------------------


class _Tail(io.TextIOBase):
    """Swallows what handlers and the stack print; keeps the last lines for error messages."""

    def __init__(self, keep: int = 200) -> None:
        self.lines: deque[str] = deque(maxlen=keep)
        self.chars = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        self.chars += len(text)
        if text.strip():
            self.lines.append(text.rstrip("\n"))
        return len(text)

    def text(self) -> str:
        return "\n".join(self.lines)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RuntimeMeter:
    """Adds up each function's handler time, invocations and records (wraps the stack runtime's
    invoke, which the gateway and the event sources call)."""

    def __init__(self, runtime) -> None:
        self.runtime = runtime
        self._invoke = runtime.invoke
        self._lock = threading.Lock()
        self.ms: dict[str, float] = defaultdict(float)
        self.calls: Counter = Counter()
        self.records: Counter = Counter()  # stream / queue records delivered
        self.errors: Counter = Counter()
        runtime.invoke = self._metered

    def _metered(self, function, event, trigger):
        invocation = self._invoke(function, event, trigger)
        records = event.get("Records") if isinstance(event, dict) else None
        with self._lock:
            self.ms[function.logical_id] += invocation.duration_ms + (invocation.init_ms or 0)
            self.calls[function.logical_id] += 1
            self.records[function.logical_id] += len(records) if isinstance(records, list) else 0
            self.errors[function.logical_id] += invocation.error is not None
        return invocation

    def raw(self) -> tuple[dict[str, float], Counter, Counter]:
        with self._lock:
            return dict(self.ms), Counter(self.calls), Counter(self.records)

    def snapshot(self) -> dict:
        with self._lock:
            return {
                fn: {
                    "invocations": self.calls[fn],
                    **({"records": self.records[fn]} if self.records[fn] else {}),
                    "errors": self.errors[fn],
                    "handler_s": round(ms / 1000, 2),
                }
                for fn, ms in sorted(self.ms.items(), key=lambda kv: -kv[1])
            }

    def reset(self) -> None:
        with self._lock:
            self.ms.clear()
            self.calls.clear()
            self.records.clear()
            self.errors.clear()


class Timeline(threading.Thread):
    """Every `interval` seconds of the send phase: deliveries answered, and what the runtime
    spent per webhook call and per applied stream record in that window (where the time goes)."""

    def __init__(self, sender, meter: RuntimeMeter, total: int, say, interval: float = 30.0) -> None:
        super().__init__(name="burst-timeline", daemon=True)
        self.sender, self.meter, self.total, self.say, self.interval = sender, meter, total, say, interval
        self.points: list[dict] = []
        self._stop_event = threading.Event()

    def stop(self) -> None:
        self._stop_event.set()
        self.join()

    def run(self) -> None:
        start = last_t = time.perf_counter()
        last_sent, (last_ms, last_calls, last_records) = 0, self.meter.raw()
        while not self._stop_event.wait(self.interval):
            now, sent = time.perf_counter(), self.sender.sent
            ms, calls, records = self.meter.raw()
            window = now - last_t

            def per(fn: str, unit: Counter, unit_last: Counter, ms=ms, last_ms=last_ms) -> float | None:
                n = unit[fn] - unit_last[fn]
                return round((ms.get(fn, 0.0) - last_ms.get(fn, 0.0)) / n, 1) if n else None

            busy = sum(ms.values()) - sum(last_ms.values())
            point = {
                "t_s": round(now - start),
                "answered": sent,
                "per_s": round((sent - last_sent) / window, 1),
                "webhooks_ms_per_call": per("WebhooksFunction", calls, last_calls),
                "tracking_ms_per_record": per("TrackingFunction", records, last_records),
                "tracking_records": records["TrackingFunction"] - last_records["TrackingFunction"],
                "runtime_busy": round(busy / (window * 1000), 2),
            }
            self.points.append(point)
            self.say(
                f"  {point['t_s']:>5} s: {sent}/{self.total} answered ({point['per_s']}/s); "
                f"WebhooksFunction {point['webhooks_ms_per_call']} ms/call, TrackingFunction "
                f"{point['tracking_ms_per_record']} ms/record; runtime busy {point['runtime_busy']:.0%}"
            )
            last_t, last_sent, last_ms, last_calls, last_records = now, sent, ms, calls, records


def moto_diagnostics() -> dict:
    """The model instances moto tracks (never released), by model."""
    from moto.core.model_instances import model_data

    counts = Counter(
        {
            f"{service}.{name}": len(cls.instances_tracked)
            for service, models in model_data.items()
            for name, cls in models.items()
        }
    )
    return {"tracked_instances": sum(counts.values()), "largest": dict(counts.most_common(3))}


@contextlib.contextmanager
def local_stack(sink: _Tail):
    """A LocalStack on free ports (no demo data) with its output swallowed; the environment it
    changes is put back afterwards."""
    from infra.local.stack import LocalStack

    saved = dict(os.environ)
    stack = LocalStack(port=0, moto_port=free_port(), demo_data=False)
    try:
        with contextlib.redirect_stdout(sink):
            stack.start()
            yield stack
    finally:
        with contextlib.redirect_stdout(sink):
            stack.stop()
        os.environ.clear()
        os.environ.update(saved)
        if hasattr(time, "tzset"):
            time.tzset()


def _request(stack, method: str, path: str, body: dict | None = None, headers: dict | None = None):
    host, port = stack.api_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=SETTLE_CALL_SECONDS + 30)
    try:
        data = json.dumps(body).encode() if body is not None else None
        conn.request(method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def settle(stack, *, limit: float = SETTLE_LIMIT_SECONDS, progress=None) -> float:
    """POST /_local/settle until the streams and queues are drained; seconds it took."""
    started = time.perf_counter()
    while True:
        status, body = _request(stack, "POST", f"/_local/settle?timeout={SETTLE_CALL_SECONDS}")
        if status == 200:
            return time.perf_counter() - started
        if status != 504:
            raise RuntimeError(f"/_local/settle answered {status}: {body[:500]!r}")
        elapsed = time.perf_counter() - started
        if progress:
            progress(f"still applying after {elapsed:.0f} s")
        if elapsed > limit:
            raise RuntimeError(f"the stack did not settle within {limit:.0f} s")


def register_parcels(stack, parcels: list[str], tag: str) -> int:
    """PUT the orders carrying the parcels; the number of orders."""
    from infra.bench.tracking import order_with_parcels

    auth = {"Authorization": f"Bearer {stack.merchant_api_key}"}
    orders = 0
    for start in range(0, len(parcels), PARCELS_PER_ORDER):
        order_id, body = order_with_parcels(tag, f"burst{start}", parcels[start : start + PARCELS_PER_ORDER])
        status, answer = _request(stack, "PUT", f"/orders/{order_id}", body, auth)
        if status != 201:
            raise RuntimeError(f"PUT /orders/{order_id}: {status} {answer[:500]!r}")
        orders += 1
    return orders


def scan(stack, prefix: str) -> list[dict]:
    pages = (
        stack.client("dynamodb")
        .get_paginator("scan")
        .paginate(
            TableName=stack.resources.refs["HomewardTable"],
            FilterExpression="begins_with(pk, :prefix)",
            ExpressionAttributeValues={":prefix": {"S": prefix}},
        )
    )
    return [item for page in pages for item in page["Items"]]


# ---- verification -----------------------------------------------------------------------------------


def tally(
    burst: Burst, answers: list[Answer], inbox: dict[tuple[str, str], str], applied_events: dict[str, int]
) -> dict:
    """The correctness figures.

    inbox: (provider, event id) -> inbox status, for every stored webhook of this run;
    applied_events: tracking number -> the parcel's `applied_events`, for this run's parcels.
    """
    statuses = Counter(answer.status for answer in answers)
    acks = Counter(answer.ack for answer in answers if 200 <= answer.status < 300)
    accepted = Counter(answer.index for answer in answers if answer.ack == "accepted")
    sends = Counter(burst.order)
    not_applied: Counter = Counter()
    for event in burst.events:
        status = inbox.get((event.provider, event.event_id), "missing")
        if status != "applied":
            not_applied[status] += 1
    applied = len(burst.events) - sum(not_applied.values())
    unexplained = set(inbox) - {(e.provider, e.event_id) for e in burst.events}
    return {
        "unique_events": len(burst.events),
        "duplicates_sent": burst.duplicates,
        "applied": applied,
        "lost": sum(not_applied.values()),
        "lost_by_inbox_status": dict(not_applied),
        "applied_twice": sum(applied_events.get(p, 0) for p in set(burst.parcels)) - applied,
        "parcels_missing": sorted(set(burst.parcels) - set(applied_events))[:10],
        "non_2xx": sum(n for status, n in statuses.items() if not 200 <= status < 300),
        "http_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "acks": dict(acks),
        "duplicates_acknowledged": acks.get("duplicate", 0),
        "accepted_not_once": sum(1 for i in range(len(burst.events)) if accepted.get(i, 0) != 1),
        "duplicate_answers_expected": sum(n - 1 for n in sends.values()),
        "inbox_items_not_in_burst": len(unexplained),
    }


def verify(stack, burst: Burst, answers: list[Answer]) -> dict:
    providers = {e.provider for e in burst.events}
    inbox = {
        (item["provider"]["S"], item["event_id"]["S"]): item["status"]["S"]
        for item in scan(stack, "WEBHOOK#")
        if item["sk"]["S"] == "WEBHOOK" and item["provider"]["S"] in providers
    }
    ours = set(burst.parcels)
    applied_events = {
        item["tracking_number"]["S"]: json.loads(item["doc"]["S"]).get("applied_events", 0)
        for item in scan(stack, "SHIPMENT#")
        if item["sk"]["S"] == "SHIPMENT" and item["tracking_number"]["S"] in ours
    }
    return tally(burst, answers, inbox, applied_events)


def correct(figures: dict) -> bool:
    return (
        figures["lost"] == 0
        and figures["applied_twice"] == 0
        and figures["non_2xx"] == 0
        and figures["accepted_not_once"] == 0
        and figures["duplicates_acknowledged"] == figures["duplicate_answers_expected"]
        and figures["inbox_items_not_in_burst"] == 0
    )


# ---- the ratio: the real handler against a minimal one ---------------------------------------------------


class _Context:
    function_name = "homeward-bench-webhooks"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:homeward-bench-webhooks"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/homeward-bench-webhooks"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 5_000


def minimal_handler(table: str, secret: str, ddb):
    """One HMAC-SHA256 over the raw body (compare_digest) and one conditional PutItem: the
    least a verified, de-duplicated intake can do."""
    from botocore.exceptions import ClientError

    key = secret.encode()

    def handler(event: dict, context) -> dict:
        body = event["body"].encode()
        given = event["headers"].get("x-hmac-signature", "").removeprefix("hmac-sha256-hex=")
        digest = hmac.new(key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(given, digest):
            return {"statusCode": 401, "body": '{"message":"bad signature"}'}
        try:
            ddb.put_item(
                TableName=table,
                Item={"pk": {"S": f"MINIMAL#{digest}"}, "sk": {"S": "MINIMAL"}, "body": {"S": event["body"]}},
                ConditionExpression="attribute_not_exists(pk)",
            )
            status = "accepted"
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            status = "duplicate"
        return {"statusCode": 200, "body": json.dumps({"status": status})}

    return handler


@contextlib.contextmanager
def function_environment(fn):
    """The function's resolved template environment plus the Lambda runtime's variables."""
    wanted = {
        **fn.environment,
        "AWS_LAMBDA_FUNCTION_NAME": fn.name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(fn.memory_mb),
        "_HANDLER": fn.handler,
    }
    saved = {k: os.environ.get(k) for k in wanted}
    os.environ.update(wanted)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ratio(stack, samples: int, *, run: str) -> dict:
    """Median ms of the real WebhooksFunction handler and of the minimal one, interleaved."""
    import boto3

    from infra.webhook_signing import LOCAL_SECRETS, api_gateway_event, load_sample, retarget, signed_headers

    stack.sources.stop()  # nothing runs beside the timed calls (TrackingFunction would apply each event)
    fn = stack.runtime.functions["WebhooksFunction"]
    secret = LOCAL_SECRETS["easypost"]
    sample = load_sample("easypost", "delivered")
    now = datetime.now(UTC)
    total = samples + WARMUP_CALLS

    def events(kind: str) -> list[dict]:
        made = []
        for i in range(total):
            body = retarget(
                sample,
                "easypost",
                tracking_number=f"HWRATIO{run}".upper(),
                occurred_at=now - timedelta(seconds=i),
                event_id=f"evt_{run}{kind}{i:06d}",
            )
            made.append(api_gateway_event("easypost", body, signed_headers("easypost", body, secret)))
        return made

    real_events, minimal_events = events("real"), events("minimal")
    loaded = set(sys.modules)
    with function_environment(fn):
        sys.path.insert(0, str(fn.code_dir))
        try:
            webhooks = importlib.import_module("homeward.handlers.webhooks")
            table = fn.environment.get("TABLE_NAME") or os.environ["TABLE_NAME"]
            ddb = boto3.session.Session().client(
                "dynamodb", endpoint_url=stack.moto_url, region_name="us-east-1"
            )
            minimal = minimal_handler(table, secret, ddb)
            timings: dict[str, list[float]] = {"webhooks": [], "minimal": []}
            context = _Context()
            for i in range(total):
                pair = [
                    ("webhooks", webhooks.lambda_handler, real_events[i]),
                    ("minimal", minimal, minimal_events[i]),
                ]
                for name, handler, event in pair if i % 2 == 0 else reversed(pair):
                    started = time.perf_counter()
                    response = handler(event, context)
                    elapsed = (time.perf_counter() - started) * 1000
                    if response["statusCode"] != 200 or json.loads(response["body"])["status"] != "accepted":
                        raise RuntimeError(
                            f"ratio: {name} answered {response['statusCode']} {response['body']}"
                        )
                    if i >= WARMUP_CALLS:
                        timings[name].append(elapsed)
        finally:
            sys.path.remove(str(fn.code_dir))
            for name in set(sys.modules) - loaded:  # this copy of the handler's modules goes too
                if name == "homeward" or name.startswith("homeward."):
                    sys.modules.pop(name, None)
    real, least = stats.median(timings["webhooks"]), stats.median(timings["minimal"])
    return {
        "samples": samples,
        "warmup": WARMUP_CALLS,
        "webhooks_ms": _latency(timings["webhooks"]),
        "minimal_ms": _latency(timings["minimal"]),
        "ratio": real / least,
        "goal": GOAL_RATIO,
    }


def _latency(values: list[float]) -> dict:
    return {
        "n": len(values),
        "p50": stats.median(values),
        "p90": stats.quantile(values, 0.90),
        "p99": stats.quantile(values, 0.99),
        "max": max(values) if values else float("nan"),
    }


# ---- the section ---------------------------------------------------------------------------------------


@dataclass
class Options:
    size: int = 10_000
    parcels: int = 500
    threads: int = 8
    ratio_samples: int = 1000
    seed: int = 20261122
    progress: object = field(default=print, repr=False)


def burst(options: Options) -> dict:
    """The whole measurement; see the module docstring."""
    say = options.progress
    # A handler invocation that records no metric says so on stderr; nothing to report here.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    run = hashlib.sha256(f"{time.time_ns()}".encode()).hexdigest()[:8]
    parcels = [f"HWB{run}{i:05d}".upper() for i in range(options.parcels)]
    _prepare_imports()
    started = time.perf_counter()
    deliveries = build_burst(options.size, parcels, run=run, seed=options.seed, now=datetime.now(UTC))
    built_s = time.perf_counter() - started
    say(f"  built {len(deliveries.order)} deliveries ({len(deliveries.events)} unique) in {built_s:.1f} s")
    sink = _Tail()
    result: dict = {
        "config": {
            "burst_size": len(deliveries.order),
            "unique_events": len(deliveries.events),
            "duplicates": deliveries.duplicates,
            "parcels": options.parcels,
            "parcels_per_order": PARCELS_PER_ORDER,
            "threads": options.threads,
            "seed": options.seed,
            "build_s": round(built_s, 1),
        }
    }
    try:
        with local_stack(sink) as stack:
            meter = RuntimeMeter(stack.runtime)
            t0 = time.perf_counter()
            orders = register_parcels(stack, parcels, run)
            settle(stack, progress=say)
            registered = {
                i["tracking_number"]["S"]
                for i in scan(stack, f"SHIPMENT#HWB{run}".upper())
                if i["sk"]["S"] == "SHIPMENT"
            }
            if registered != set(parcels):
                raise RuntimeError(
                    f"{len(set(parcels) - registered)} of {len(parcels)} parcels were not registered"
                )
            result["registration"] = {"orders": orders, "seconds": round(time.perf_counter() - t0, 1)}
            took = result["registration"]["seconds"]
            say(f"  registered {len(parcels)} parcels on {orders} orders in {took} s")

            meter.reset()
            host, port = stack.api_url.removeprefix("http://").split(":")
            sender = Sender(host, int(port))
            timeline = Timeline(sender, meter, len(deliveries.order), say)
            send_started = time.perf_counter()
            timeline.start()
            with ThreadPoolExecutor(max_workers=options.threads) as pool:
                answers = list(pool.map(lambda i: sender.send(i, deliveries.events[i]), deliveries.order))
            send_s = time.perf_counter() - send_started
            timeline.stop()
            during_send = meter.snapshot()
            say(f"  sent in {send_s:.1f} s; applying")
            settle_s = settle(stack, progress=say)
            latencies = [a.latency_ms for a in answers]
            result["send"] = {
                "seconds": round(send_s, 2),
                "deliveries_per_s": len(answers) / send_s,
                "ack_ms": _latency(latencies),
                "connections": sender.connections,
                "connection_retries": sum(a.retries for a in answers),
            }
            result["apply"] = {
                "settle_s": round(settle_s, 2),
                "send_to_applied_s": round(send_s + settle_s, 2),
            }
            result["runtime"] = {
                "during_send": during_send,
                "burst_total": meter.snapshot(),
                "timeline": timeline.points,
            }
            result["moto"] = moto_diagnostics()
            say(f"  applied {settle_s:.1f} s after the last ack; verifying")
            result["verify"] = verify(stack, deliveries, answers)
            result["correct"] = correct(result["verify"])
            if options.ratio_samples > 0:
                say(f"  timing the handlers ({options.ratio_samples} calls each)")
                result["ratio"] = ratio(stack, options.ratio_samples, run=run)
    except Exception as exc:
        raise RuntimeError(
            f"webhook burst failed: {exc}\n-- last stack output --\n{sink.text()[-6000:]}"
        ) from exc
    result["output_chars_swallowed"] = sink.chars
    return result


def run(ctx) -> dict:
    args = ctx.args
    data = burst(
        Options(
            size=args.burst_size,
            parcels=args.parcels,
            threads=args.burst_threads,
            ratio_samples=args.ratio_samples,
            seed=args.burst_seed,
            # Bound now: while the stack runs, sys.stdout is the sink that swallows its output.
            progress=lambda line, out=sys.stdout: print(line, file=out, flush=True),
        )
    )
    if not data["correct"]:
        print(render(data), flush=True)
        raise RuntimeError(f"webhook burst: events lost, applied twice or refused: {data['verify']}")
    return data


def render(data: dict) -> str:
    config, send, verify_ = data["config"], data["send"], data["verify"]
    ack = send["ack_ms"]
    rows = [
        [
            "deliveries (unique + duplicates)",
            f"{config['burst_size']} ({config['unique_events']} + {config['duplicates']})",
        ],
        ["parcels (orders)", f"{config['parcels']} ({data['registration']['orders']})"],
        ["senders (keep-alive connections)", f"{config['threads']} ({send['connections']})"],
        ["send phase", f"{send['seconds']:.1f} s"],
        ["throughput", f"{send['deliveries_per_s']:.0f} deliveries/s"],
        [
            "ack latency p50 / p90 / p99 / max",
            f"{ack['p50']:.0f} / {ack['p90']:.0f} / {ack['p99']:.0f} / {ack['max']:.0f} ms",
        ],
        ["time to apply all after the last ack", f"{data['apply']['settle_s']:.1f} s"],
        ["first send to all applied", f"{data['apply']['send_to_applied_s']:.1f} s"],
        ["lost (not applied)", f"{verify_['lost']} {verify_['lost_by_inbox_status'] or ''}".strip()],
        ["applied twice", verify_["applied_twice"]],
        ["non-2xx answers", f"{verify_['non_2xx']} {verify_['http_statuses']}"],
        [
            "duplicates answered `duplicate`",
            f"{verify_['duplicates_acknowledged']} of {verify_['duplicate_answers_expected']}",
        ],
        ["unique events not `accepted` exactly once", verify_["accepted_not_once"]],
    ]
    if "ratio" in data:
        r = data["ratio"]
        rows += [
            [
                "WebhooksFunction handler p50 / p90 (in-process)",
                f"{r['webhooks_ms']['p50']:.2f} / {r['webhooks_ms']['p90']:.2f} ms",
            ],
            [
                "minimal handler p50 / p90 (HMAC + PutItem)",
                f"{r['minimal_ms']['p50']:.2f} / {r['minimal_ms']['p90']:.2f} ms",
            ],
            [
                "ratio webhook / minimal (medians)",
                f"{r['ratio']:.2f}x ({'ok' if r['ratio'] <= r['goal'] else 'OVER'} goal <= {r['goal']}x)",
            ],
        ]
    runtime = data["runtime"]["burst_total"]
    where = ", ".join(
        f"{fn.removesuffix('Function')} {v['handler_s']:.0f} s / {v['invocations']} calls"
        + (f" ({v['errors']} errors)" if v["errors"] else "")
        for fn, v in runtime.items()
    )
    notes = (
        f"Correct: {'yes' if data['correct'] else 'NO'}. "
        f"Handler time in the local runtime, send + apply: {where}.\n"
        "The local runtime runs one invocation at a time, so acks wait for TrackingFunction's batches "
        "(and vice versa); moto runs in the same process. Ack latency is per request, signing excluded."
    )
    if "ratio" in data:
        notes += (
            f"\nRatio: {data['ratio']['samples']} new EasyPost events per handler, interleaved after "
            f"{data['ratio']['warmup']} warm-up calls each, event sources stopped; "
            "same moto server and table."
        )
    if moto := data.get("moto"):
        notes += (
            f"\nmoto after the burst: {moto['tracked_instances']} model instances kept "
            f"({', '.join(f'{k} {v}' for k, v in moto['largest'].items())})."
        )
    return stats.table(["measure", "value"], rows, "ll") + "\n" + notes + _render_timeline(data)


def _render_timeline(data: dict) -> str:
    """Where the time goes as the burst goes on: a few windows of the send phase."""
    points = data["runtime"].get("timeline") or []
    if not points:
        return ""
    shown = points if len(points) <= 8 else [points[round(i * (len(points) - 1) / 7)] for i in range(8)]
    rows = [
        [
            p["t_s"],
            p["answered"],
            p["per_s"],
            "-" if p["webhooks_ms_per_call"] is None else p["webhooks_ms_per_call"],
            "-" if p["tracking_ms_per_record"] is None else p["tracking_ms_per_record"],
            f"{p['runtime_busy']:.0%}",
        ]
        for p in shown
    ]
    headers = ["at s", "answered", "per s", "webhook ms/call", "tracking ms/record", "runtime busy"]
    return "\n\nSend phase, 30 s windows (handler time in the local runtime):\n" + stats.table(headers, rows)
