"""Drive the table's stream through a function in integration tests, as Lambda would.

Records come from moto's DynamoDB stream, pass through the function's FilterCriteria from
template.yaml (the one wiring source) and reach its real `lambda_handler` in batches.

The stream is read from moto's backend object: in decorator mode moto 5.2.5 answers every
`dynamodbstreams` API call with 404 "Not yet implemented" (botocore signs them as
`dynamodb`); the server mode the local stack uses reads it through the API.
"""

from __future__ import annotations

import importlib

import boto3

from infra.local.patterns import passes
from infra.local.sources import stream_record
from infra.template import load_template
from tests.conftest import TABLE, LambdaContext


def stream_event(logical_id: str) -> dict:
    """The function's DynamoDB event source properties in the template."""
    events = load_template()["Resources"][logical_id]["Properties"]["Events"]
    return next(e["Properties"] for e in events.values() if e["Type"] == "DynamoDB")


class StreamDriver:
    """Reads the stream from where it was created (TRIM_HORIZON) and feeds one function."""

    def __init__(self, logical_id: str, module: str) -> None:
        props = stream_event(logical_id)
        self.filter = props.get("FilterCriteria")
        self.batch_size = int(props.get("BatchSize", 100))
        self.module = module
        from moto.core import DEFAULT_ACCOUNT_ID
        from moto.dynamodbstreams.models import dynamodbstreams_backends

        self.streams = dynamodbstreams_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
        self.arn = boto3.client("dynamodb").describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
        shards = self.streams.describe_stream(self.arn)["Shards"]
        self.iterators = [
            self.streams.get_shard_iterator(self.arn, s["ShardId"], "TRIM_HORIZON", None).arn for s in shards
        ]
        self.invocations: list[dict] = []

    def drain(self, *, max_rounds: int = 20) -> list[str]:
        """Deliver every pending record (and those the deliveries write) until quiet.

        Returns the ids of records the handler reported as failed; those are not retried here.
        """
        handler = importlib.import_module(self.module).lambda_handler
        failures: list[str] = []
        for _ in range(max_rounds):
            delivered = 0
            for index, iterator in enumerate(self.iterators):
                while True:
                    page = self.streams.get_records(iterator, 1000)
                    iterator = page["NextShardIterator"]
                    records = [stream_record(r, self.arn) for r in page["Records"]]
                    if not records:
                        break
                    batch = [r for r in records if passes(self.filter, r)]
                    for start in range(0, len(batch), self.batch_size):
                        chunk = batch[start : start + self.batch_size]
                        result = handler({"Records": chunk}, LambdaContext()) or {}
                        self.invocations.append({"records": len(chunk), "result": result})
                        failures += [f["itemIdentifier"] for f in result.get("batchItemFailures", [])]
                        delivered += len(chunk)
                self.iterators[index] = iterator
            if not delivered:
                return failures
        raise AssertionError("the stream did not go quiet")
