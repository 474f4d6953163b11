"""Asynchronous event sources: DynamoDB streams, SQS queues, SNS topics and schedules.

Every DynamoDB, SQS and SNS event in the template gets a poller thread that reads from moto
and invokes the handler with Lambda's event shape and error handling:

* DynamoDB streams: batches of `BatchSize` records from `StartingPosition`; a failed batch is
  retried from its first failed record (the whole batch unless `ReportBatchItemFailures`
  names one) until `MaximumRetryAttempts`, then a failure record goes to
  `DestinationConfig.OnFailure` and the shard moves on.
* SQS: batches of up to `BatchSize` messages; successes are deleted, failures become visible
  again after the queue's VisibilityTimeout and moto moves them to the queue's dead-letter
  queue after `maxReceiveCount` receives, as SQS does.
* SNS: an internal SQS queue subscribed to the topic (with the event's FilterPolicy) is
  drained and each message is delivered as an asynchronous invocation with one SNS record.

Asynchronous invocations (SNS, schedules) are retried `EventInvokeConfig.MaximumRetryAttempts`
times (default 2) at once, then sent to the OnFailure destination or DeadLetterQueue.
`Sources.settle()` waits until every poller has found nothing to do after the last invocation.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime

from botocore.exceptions import ClientError

from infra.local.console import say
from infra.local.patterns import passes
from infra.local.provision import REGION, STACK_NAME
from infra.local.runtime import Invocation, LocalFunction, Runtime
from infra.local.schedules import Schedule, Scheduler

IDLE_POLL_SECONDS = 0.2  # after recent activity
SLOW_POLL_SECONDS = 1.0  # after ACTIVE_WINDOW_SECONDS without any (each moto stream read keeps an iterator)
ACTIVE_WINDOW_SECONDS = 10.0
STREAM_RETRY_DELAY_SECONDS = 0.5  # Lambda backs off exponentially; locally a short fixed pause


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def failure_ids(result) -> list[str] | None:
    """The itemIdentifiers of a ReportBatchItemFailures response; None = the whole batch failed."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return []
    ids = [f.get("itemIdentifier") if isinstance(f, dict) else None for f in result["batchItemFailures"]]
    return None if not all(isinstance(i, str) and i for i in ids) else ids


def reports_item_failures(props: dict) -> bool:
    return "ReportBatchItemFailures" in (props.get("FunctionResponseTypes") or [])


class Delivery:
    """Invokes functions for the pollers and scheduler, and sends failures to destinations."""

    def __init__(self, runtime: Runtime, client: Callable[[str], object]) -> None:
        self.runtime = runtime
        self.client = client

    def send(self, target_arn: str, payload: dict) -> None:
        """Deliver a failure record or event to an SQS queue or SNS topic destination."""
        body = json.dumps(payload)
        if target_arn.startswith("arn:aws:sqs:"):
            url = self.client("sqs").get_queue_url(QueueName=target_arn.rsplit(":", 1)[1])["QueueUrl"]
            self.client("sqs").send_message(QueueUrl=url, MessageBody=body)
        elif target_arn.startswith("arn:aws:sns:"):
            self.client("sns").publish(TopicArn=target_arn, Message=body)
        else:
            say(f"destination {target_arn} is not emulated locally (only SQS and SNS are); dropped")

    def invoke_async(self, function: LocalFunction, event: dict, trigger: str) -> Invocation:
        """Lambda's asynchronous invocation: retries, then OnFailure / DeadLetterQueue."""
        config = function.invoke_config
        attempts = 1 + int(config.get("MaximumRetryAttempts", 2))
        for attempt in range(1, attempts + 1):
            invocation = self.runtime.invoke(function, event, trigger)
            if invocation.error is None:
                self.runtime.log.add(invocation, "ok")
                return invocation
            self.runtime.log.add(invocation, "error", f"attempt {attempt} of {attempts}")
        on_failure = (config.get("DestinationConfig") or {}).get("OnFailure", {}).get("Destination")
        if on_failure:
            self.send(on_failure, self._async_failure_record(invocation, event, attempts))
        if function.dead_letter_target:
            self.send(function.dead_letter_target, event)
        return invocation

    @staticmethod
    def _async_failure_record(invocation: Invocation, event: dict, attempts: int) -> dict:
        return {
            "version": "1.0",
            "timestamp": utc_now(),
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": f"{invocation.function.arn}:$LATEST",
                "condition": "RetriesExhausted",
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "responsePayload": invocation.error_payload,
        }


class Poller(threading.Thread):
    """A background loop around `poll()`; records when it last found nothing to do."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._last_activity = time.monotonic()
        self.quiet_since: float | None = None  # start of the last cycle that found everything drained

    def poll(self) -> str:
        """One cycle: "worked" (delivered something), "waiting" (not drained yet) or "idle"."""
        raise NotImplementedError

    def kick(self) -> None:
        self._last_activity = time.monotonic()
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            started = time.monotonic()
            self._wake.clear()
            try:
                state = self.poll()
            except Exception:  # noqa: BLE001 - a poller must outlive a moto hiccup or a bad record
                say(f"{self.name}: polling failed, retrying in 1 s\n{traceback.format_exc().rstrip()}")
                state = "waiting"
                self._stopping.wait(1.0)
            if state == "worked":
                self._last_activity = time.monotonic()
                self.quiet_since = None
                continue
            self.quiet_since = started if state == "idle" else None
            recent = time.monotonic() - self._last_activity < ACTIVE_WINDOW_SECONDS
            self._wake.wait(IDLE_POLL_SECONDS if recent or state == "waiting" else SLOW_POLL_SECONDS)


# ---- DynamoDB streams -------------------------------------------------------------------------


def _lambda_attribute(value):
    """A stream AttributeValue as Lambda's JSON has it: binary values base64-encoded."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, dict):
        return {k: _lambda_attribute(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_lambda_attribute(v) for v in value]
    return value


def stream_record(record: dict, stream_arn: str) -> dict:
    """A DynamoDB stream record from moto (via boto3) in the shape Lambda delivers."""
    change = dict(record["dynamodb"])
    created = change.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        change["ApproximateCreationDateTime"] = int(created.timestamp())
    for image in ("Keys", "NewImage", "OldImage"):
        if image in change:
            change[image] = _lambda_attribute(change[image])
    return {
        "eventID": record["eventID"],
        "eventName": record["eventName"],
        "eventVersion": record.get("eventVersion", "1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.get("awsRegion", REGION),
        "dynamodb": change,
        "eventSourceARN": stream_arn,
    }


class _Shard:
    def __init__(self, shard_id: str, iterator: str) -> None:
        self.shard_id = shard_id
        self.iterator = iterator
        self.attempts = 0  # failed deliveries of the batch at the checkpoint
        self.retry_at = 0.0


class StreamPoller(Poller):
    """Delivers a DynamoDB stream to a function as Lambda's event source mapping does."""

    def __init__(self, delivery: Delivery, function: LocalFunction, event_name: str, props: dict) -> None:
        super().__init__(f"{function.logical_id}/{event_name}")
        self.delivery = delivery
        self.function = function
        self.stream_arn = props["Stream"]
        self.batch_size = min(int(props.get("BatchSize", 100)), 1000)
        self.report_failures = reports_item_failures(props)
        self.max_retries = int(props.get("MaximumRetryAttempts", -1))
        self.on_failure = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        self.filter = props.get("FilterCriteria")
        self.trigger = f"dynamodb {self.stream_arn.split('/')[1]}"
        # Positioned now, before anything else runs, so LATEST means "from stack start".
        position = "LATEST" if props.get("StartingPosition") == "LATEST" else "TRIM_HORIZON"
        streams = delivery.client("dynamodbstreams")
        shards = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        self.shards = [
            _Shard(
                shard["ShardId"],
                streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=position
                )["ShardIterator"],
            )
            for shard in shards
        ]

    def poll(self) -> str:
        state = "idle"
        for shard in self.shards:
            if shard.attempts and time.monotonic() < shard.retry_at:
                state = "waiting"
                continue
            if self._poll_shard(shard):
                state = "worked"
            elif shard.attempts:
                state = "waiting"
        return state

    def _poll_shard(self, shard: _Shard) -> bool:
        streams = self.delivery.client("dynamodbstreams")
        response = streams.get_records(ShardIterator=shard.iterator, Limit=self.batch_size)
        records = [stream_record(r, self.stream_arn) for r in response["Records"]]
        if not records:
            shard.iterator = response["NextShardIterator"]
            return False
        batch = [r for r in records if passes(self.filter, r)]
        if not batch:  # filtered out: consumed without an invocation
            shard.iterator = response["NextShardIterator"]
            return True
        trigger = f"{self.trigger} ({plural(len(batch), 'record')})"
        invocation = self.delivery.runtime.invoke(self.function, {"Records": batch}, trigger)
        failed_from = self._first_failure(invocation, batch)
        if failed_from is None:
            self.delivery.runtime.log.add(invocation, "ok")
            shard.iterator, shard.attempts = response["NextShardIterator"], 0
            return True
        shard.attempts += 1
        remaining = batch[failed_from:]
        status = "error" if invocation.error else "partial failure"
        if self.max_retries != -1 and shard.attempts > self.max_retries:
            self.delivery.runtime.log.add(
                invocation, status, f"retries exhausted, {len(remaining)} records skipped"
            )
            if self.on_failure:
                self.delivery.send(self.on_failure, self._failure_record(invocation, shard, remaining))
            shard.iterator, shard.attempts = response["NextShardIterator"], 0
            return True
        self.delivery.runtime.log.add(
            invocation, status, f"retrying from record {failed_from + 1} of {len(batch)}"
        )
        shard.iterator = streams.get_shard_iterator(
            StreamArn=self.stream_arn,
            ShardId=shard.shard_id,
            ShardIteratorType="AT_SEQUENCE_NUMBER",
            SequenceNumber=remaining[0]["dynamodb"]["SequenceNumber"],
        )["ShardIterator"]
        shard.retry_at = time.monotonic() + STREAM_RETRY_DELAY_SECONDS
        return True

    def _first_failure(self, invocation: Invocation, batch: list[dict]) -> int | None:
        """Index of the record to retry from, or None when the batch succeeded."""
        if invocation.error is not None:
            return 0
        if not self.report_failures:
            return None
        ids = failure_ids(invocation.result)
        if ids is None:
            return 0
        if not ids:
            return None
        positions = {r["dynamodb"]["SequenceNumber"]: i for i, r in enumerate(batch)}
        if any(i not in positions for i in ids):
            return 0  # an unknown identifier fails the whole batch, as in Lambda
        return min(positions[i] for i in ids)

    def _failure_record(self, invocation: Invocation, shard: _Shard, records: list[dict]) -> dict:
        """What Lambda sends to an OnFailure destination for a stream batch."""
        arrivals = [r["dynamodb"].get("ApproximateCreationDateTime", 0) for r in records]
        response = {"statusCode": 200, "executedVersion": "$LATEST"}
        if invocation.error is not None:
            response["functionError"] = "Unhandled"
        return {
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": self.function.arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": shard.attempts,
            },
            "responseContext": response,
            "version": "1.0",
            "timestamp": utc_now(),
            "DDBStreamBatchInfo": {
                "shardId": shard.shard_id,
                "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
                "approximateArrivalOfFirstRecord": _iso(arrivals[0]),
                "approximateArrivalOfLastRecord": _iso(arrivals[-1]),
                "batchSize": len(records),
                "streamArn": self.stream_arn,
            },
        }


def _iso(epoch_seconds: float) -> str:
    return datetime.fromtimestamp(epoch_seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---- SQS --------------------------------------------------------------------------------------


def sqs_record(message: dict, queue_arn: str) -> dict:
    """An SQS message from receive_message in the shape Lambda delivers."""
    attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        attribute = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        if "StringValue" in value:
            attribute["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            attribute["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        attributes[name] = attribute
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": message.get("Attributes", {}),
        "messageAttributes": attributes,
        "md5OfMessageAttributes": message.get("MD5OfMessageAttributes"),
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def _filter_subject(record: dict) -> dict:
    """Lambda matches `body` patterns against the parsed body when the body is JSON."""
    try:
        return {**record, "body": json.loads(record["body"])}
    except json.JSONDecodeError:
        return record


class QueuePoller(Poller):
    """Delivers an SQS queue to a function as Lambda's event source mapping does."""

    def __init__(
        self, delivery: Delivery, function: LocalFunction, event_name: str, queue_arn: str, props: dict
    ) -> None:
        super().__init__(f"{function.logical_id}/{event_name}")
        self.delivery = delivery
        self.function = function
        self.queue_arn = queue_arn
        self.queue_name = queue_arn.rsplit(":", 1)[1]
        self.queue_url = delivery.client("sqs").get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        self.batch_size = int(props.get("BatchSize", 10))
        self.report_failures = reports_item_failures(props)
        self.filter = props.get("FilterCriteria")

    def receive(self) -> list[dict]:
        sqs = self.delivery.client("sqs")
        messages: list[dict] = []
        while len(messages) < self.batch_size:
            received = sqs.receive_message(
                QueueUrl=self.queue_url,
                MaxNumberOfMessages=min(10, self.batch_size - len(messages)),
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            ).get("Messages", [])
            if not received:
                break
            messages += received
        return messages

    def drained(self) -> bool:
        counts = self.delivery.client("sqs").get_queue_attributes(
            QueueUrl=self.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return not any(int(n) for n in counts.values())

    def delete(self, records: list[dict]) -> None:
        for start in range(0, len(records), 10):
            self.delivery.client("sqs").delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": r["receiptHandle"]}
                    for i, r in enumerate(records[start : start + 10])
                ],
            )

    def poll(self) -> str:
        messages = self.receive()
        if not messages:
            return "idle" if self.drained() else "waiting"
        records = [sqs_record(m, self.queue_arn) for m in messages]
        batch = [r for r in records if passes(self.filter, _filter_subject(r))]
        kept = {r["messageId"] for r in batch}
        # Lambda deletes the messages its filter rejects.
        self.delete([r for r in records if r["messageId"] not in kept])
        if batch:
            self.deliver(batch)
        return "worked"

    def deliver(self, batch: list[dict]) -> None:
        trigger = f"sqs {self.queue_name} ({plural(len(batch), 'message')})"
        invocation = self.delivery.runtime.invoke(self.function, {"Records": batch}, trigger)
        if invocation.error is not None:
            # Nothing is deleted: the messages come back after the queue's VisibilityTimeout.
            self.delivery.runtime.log.add(invocation, "error", "messages return after the visibility timeout")
            return
        failed = failure_ids(invocation.result) if self.report_failures else []
        if failed is None or any(f not in {r["messageId"] for r in batch} for f in failed):
            self.delivery.runtime.log.add(
                invocation, "error", "invalid batchItemFailures: whole batch retried"
            )
            return
        self.delete([r for r in batch if r["messageId"] not in failed])
        if failed:
            self.delivery.runtime.log.add(
                invocation, "partial failure", f"{len(failed)} of {len(batch)} messages kept"
            )
        else:
            self.delivery.runtime.log.add(invocation, "ok")


# ---- SNS --------------------------------------------------------------------------------------


def sns_record(envelope: dict, subscription_arn: str) -> dict:
    """An SNS notification (the JSON moto puts on an SQS subscription) as Lambda delivers it."""
    return {
        "EventSource": "aws:sns",
        "EventVersion": "1.0",
        "EventSubscriptionArn": subscription_arn,
        "Sns": {
            "Type": envelope["Type"],
            "MessageId": envelope["MessageId"],
            "TopicArn": envelope["TopicArn"],
            "Subject": envelope.get("Subject"),
            "Message": envelope["Message"],
            "Timestamp": envelope["Timestamp"],
            "SignatureVersion": envelope.get("SignatureVersion", "1"),
            "Signature": envelope.get("Signature", ""),
            "SigningCertUrl": envelope.get("SigningCertURL", ""),
            "UnsubscribeUrl": (
                f"https://sns.{REGION}.amazonaws.com/?Action=Unsubscribe&SubscriptionArn={subscription_arn}"
            ),
            "MessageAttributes": envelope.get("MessageAttributes", {}),
        },
    }


class TopicPoller(QueuePoller):
    """Delivers an SNS topic through an internal queue subscribed with the event's FilterPolicy."""

    def __init__(self, delivery: Delivery, function: LocalFunction, event_name: str, props: dict) -> None:
        sqs, sns = delivery.client("sqs"), delivery.client("sns")
        name = re.sub(r"[^A-Za-z0-9_-]", "", f"{STACK_NAME}-sns-{function.logical_id}-{event_name}")[:80]
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        attributes = {}
        if props.get("FilterPolicy"):
            attributes["FilterPolicy"] = json.dumps(props["FilterPolicy"])
            attributes["FilterPolicyScope"] = props.get("FilterPolicyScope", "MessageAttributes")
        self.subscription_arn = sns.subscribe(
            TopicArn=props["Topic"],
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]
        # SqsSubscription: SAM puts a real queue between topic and function, so the function gets SQS events.
        subscription = props.get("SqsSubscription")
        self.via_sqs = bool(subscription)
        batch = subscription.get("BatchSize", 10) if isinstance(subscription, dict) else 10
        super().__init__(delivery, function, event_name, queue_arn, {"BatchSize": batch})
        self.topic_name = props["Topic"].rsplit(":", 1)[1]

    def deliver(self, batch: list[dict]) -> None:
        if self.via_sqs:
            super().deliver(batch)
            return
        for record in batch:
            event = {"Records": [sns_record(json.loads(record["body"]), self.subscription_arn)]}
            self.delivery.invoke_async(self.function, event, f"sns {self.topic_name}")
            self.delete([record])


# ---- all of them --------------------------------------------------------------------------------


class Sources:
    """Every asynchronous event source of the template, started and stopped together."""

    def __init__(self, runtime: Runtime, client: Callable[[str], object]) -> None:
        self.delivery = Delivery(runtime, client)
        self.runtime = runtime
        self.pollers: list[Poller] = []
        self.schedules: list[Schedule] = []
        self.unsupported: list[str] = []
        for function in runtime.functions.values():
            for event_name, event in function.events.items():
                self._add(function, event_name, event)
        self.scheduler = Scheduler(self.schedules, self.fire)
        runtime.on_finished(self.kick)

    def _add(self, function: LocalFunction, event_name: str, event: dict) -> None:
        kind, props = event.get("Type"), event.get("Properties", {}) or {}
        if props.get("Enabled") in (False, "false") and kind in ("DynamoDB", "SQS"):
            return
        try:
            if kind == "DynamoDB":
                self.pollers.append(StreamPoller(self.delivery, function, event_name, props))
            elif kind == "SQS":
                self.pollers.append(QueuePoller(self.delivery, function, event_name, props["Queue"], props))
            elif kind == "SNS":
                self.pollers.append(TopicPoller(self.delivery, function, event_name, props))
            elif kind in ("Schedule", "ScheduleV2"):
                self.schedules.append(Schedule.from_event(function, event_name, event))
            elif kind != "HttpApi":
                self.unsupported.append(f"{function.logical_id}/{event_name} ({kind})")
        except (ClientError, KeyError) as exc:
            say(f"{function.logical_id}/{event_name} ({kind}) is not delivered locally: {exc}")

    def start(self) -> None:
        for poller in self.pollers:
            poller.start()
        self.scheduler.start()

    def stop(self) -> None:
        self.scheduler.stop()
        for poller in self.pollers:
            poller.stop()
        for thread in [self.scheduler, *self.pollers]:
            thread.join(timeout=10)

    def kick(self) -> None:
        """Wake every poller (after an invocation, its writes are worth looking for at once)."""
        for poller in self.pollers:
            poller.kick()

    def settle(self, timeout: float) -> bool:
        """Wait until no invocation runs and every poller found its source drained afterwards."""
        deadline = time.monotonic() + timeout
        started = time.monotonic()
        self.kick()
        while time.monotonic() < deadline:
            since = max(started, self.runtime.last_finished)
            if self.runtime.in_flight == 0 and all(
                p.quiet_since is not None and p.quiet_since > since for p in self.pollers
            ):
                return True
            time.sleep(0.02)
        return False

    def schedule(self, function_id: str, event_name: str) -> Schedule | None:
        return next(
            (
                s
                for s in self.schedules
                if s.function.logical_id == function_id and s.event_name == event_name
            ),
            None,
        )

    def fire(self, schedule: Schedule) -> Invocation:
        event = schedule.event(datetime.now(UTC))
        return self.delivery.invoke_async(schedule.function, event, f"schedule {schedule.name}")
