"""The domain event path in integration tests, wired as template.yaml wires it.

Table stream -> DomainEventsFunction (its FilterCriteria) -> the DomainEvents SNS topic ->
every `AWS::SNS::Subscription` of that topic in the template (filter policy, raw delivery) ->
its SQS queue -> the function that queue feeds, in Lambda's SQS event shape. Messages a handler
reports as failed stay on their queue (as with Lambda); everything else is deleted.

Only the consumers a test names are subscribed, so a test of notifications can leave out, say,
RefundsFunction and drive refunds by hand.
"""

from __future__ import annotations

import importlib
import json

import boto3

from infra.local.sources import sqs_record
from infra.template import functions, load_template
from tests.conftest import TEST_ENV, LambdaContext
from tests.integration.streams import StreamDriver


def topic_consumers(template: dict | None = None) -> dict[str, tuple[str, dict]]:
    """Function logical id -> (queue logical id, its subscription's properties) for the topic."""
    template = template or load_template()
    resources = template["Resources"]
    by_queue = {
        event["Properties"]["Queue"]["Fn::GetAtt"][0]: spec.logical_id
        for spec in functions(template)
        for event in spec.events.values()
        if event["Type"] == "SQS"
    }
    consumers = {}
    for resource in resources.values():
        props = resource.get("Properties") or {}
        if resource["Type"] != "AWS::SNS::Subscription" or props.get("TopicArn") != {
            "Ref": "DomainEventsTopic"
        }:
            continue
        queue = props["Endpoint"]["Fn::GetAtt"][0]
        consumers[by_queue[queue]] = (queue, props)
    return consumers


class EventBus:
    """Publishes what the table's stream carries and delivers it to the named consumers."""

    def __init__(self, *consumers: str) -> None:
        template = load_template()
        specs = {spec.logical_id: spec for spec in functions(template)}
        wiring = topic_consumers(template)
        self.stream = StreamDriver("DomainEventsFunction", specs["DomainEventsFunction"].module)
        sqs, sns = boto3.client("sqs"), boto3.client("sns")
        self.queues: list[tuple[str, str, str, str]] = []  # (function, module, queue url, queue arn)
        self.delivered: dict[str, list[str]] = {name: [] for name in consumers}
        for name in consumers:
            queue, props = wiring[name]
            url = sqs.create_queue(QueueName=f"bus-{queue}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            sns.subscribe(
                TopicArn=TEST_ENV["DOMAIN_EVENTS_TOPIC_ARN"],
                Protocol="sqs",
                Endpoint=arn,
                Attributes={
                    "RawMessageDelivery": "true" if props.get("RawMessageDelivery") else "false",
                    "FilterPolicyScope": props.get("FilterPolicyScope", "MessageAttributes"),
                    "FilterPolicy": json.dumps(props["FilterPolicy"]),
                },
            )
            self.queues.append((name, specs[name].module, url, arn))

    def run(self, *, max_rounds: int = 30) -> list[str]:
        """Deliver until nothing new is published; the ids of messages a handler failed."""
        sqs = boto3.client("sqs")
        failures: list[str] = []
        for _ in range(max_rounds):
            before = len(self.stream.invocations)
            assert self.stream.drain() == [], "DomainEventsFunction failed to publish"
            published = len(self.stream.invocations) - before
            moved = 0
            for name, module, url, arn in self.queues:
                while True:
                    messages = sqs.receive_message(
                        QueueUrl=url,
                        MaxNumberOfMessages=10,
                        MessageAttributeNames=["All"],
                        AttributeNames=["All"],
                    ).get("Messages", [])
                    if not messages:
                        break
                    records = [sqs_record(m, arn) for m in messages]
                    result = importlib.import_module(module).lambda_handler(
                        {"Records": records}, LambdaContext()
                    )
                    failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
                    failures += sorted(failed)
                    for message, record in zip(messages, records, strict=True):
                        self.delivered[name].append(record["messageAttributes"]["type"]["stringValue"])
                        if message["MessageId"] not in failed:
                            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    moved += len(messages)
            if not moved and not published:
                return failures
        raise AssertionError("the event bus did not go quiet")
