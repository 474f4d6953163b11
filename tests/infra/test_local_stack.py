"""The local stack (infra/local) against tests/infra/fixtures/async-template.yaml.

One stack process for the module: its handlers (fixtures/fixture_handlers.py) echo HTTP events
and record asynchronous ones in RecordsTable, which the tests read back from moto. So every
assertion is about what a handler actually received: the v2 event, resolved environments,
and Lambda's batch shapes and failure handling for streams, queues, topics and schedules.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import signal
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import boto3
import pytest
from homeward.models.orders import OrderIn

from infra.local.demo import demo_orders
from infra.local.patterns import passes
from infra.local.schedules import parse_expression
from tests.infra.fixtures.local_process import port_is_free, running_stack

TEMPLATE = Path(__file__).parent / "fixtures" / "async-template.yaml"
STACK_ENV = {"HOMEWARD_LOCAL_MERCHANT_API_KEY": "fixture-merchant-key", "HOMEWARD_PARAM_Stage": "fixture-2"}


@pytest.fixture(scope="module")
def stack():
    with running_stack("--template", str(TEMPLATE), "--no-demo", env=STACK_ENV) as process:
        yield process


@pytest.fixture(scope="module")
def aws(stack):
    """boto3 clients on the stack's moto, and the physical id of every stack resource."""
    clients = {
        name: boto3.client(name, endpoint_url=stack.moto_url, region_name="us-east-1")
        for name in ("cloudformation", "dynamodb", "sqs", "sns", "ssm", "s3", "secretsmanager")
    }
    resources = clients["cloudformation"].describe_stack_resources(StackName="homeward-local")[
        "StackResources"
    ]
    clients["ids"] = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}
    return clients


def get(stack, path: str, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(stack.api_url + path, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def raw_request(stack, method: str, path: str, headers: list[tuple[str, str]], body: bytes = b""):
    """http.client, so a header can be sent twice."""
    connection = http.client.HTTPConnection(stack.api_url.removeprefix("http://"), timeout=30)
    connection.putrequest(method, path)
    for name, value in headers:
        connection.putheader(name, value)
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    return response.status, response.getheaders(), response.read()


def echo(stack, path: str, **kwargs) -> dict:
    status, _, body = get(stack, path, **kwargs)
    assert status == 200, body
    return json.loads(body)


def records(aws, kind: str) -> list[dict]:
    """The events one fixture handler received, in arrival order."""
    items = aws["dynamodb"].query(
        TableName=aws["ids"]["RecordsTable"],
        KeyConditionExpression="pk = :kind",
        ExpressionAttributeValues={":kind": {"S": kind}},
    )["Items"]
    return [json.loads(item["event"]["S"]) for item in items]


def drain(aws, queue: str) -> list[dict]:
    return (
        aws["sqs"]
        .receive_message(QueueUrl=aws["ids"][queue], MaxNumberOfMessages=10, AttributeNames=["All"])
        .get("Messages", [])
    )


# ---- provisioning and environments ---------------------------------------------------------


def test_environment_is_resolved_from_the_template(stack, aws):
    report = echo(stack, "/env/a")
    env, ids = report["env"], aws["ids"]
    events_table = aws["dynamodb"].describe_table(TableName=ids["EventsTable"])["Table"]
    work_queue_arn = aws["sqs"].get_queue_attributes(QueueUrl=ids["WorkQueue"], AttributeNames=["QueueArn"])

    assert env["RECORDS_TABLE"] == ids["RecordsTable"]  # Globals
    assert env["WORK_QUEUE_URL"] == ids["WorkQueue"]  # Ref
    assert env["WORK_QUEUE_ARN"] == work_queue_arn["Attributes"]["QueueArn"]  # GetAtt
    assert env["WORK_QUEUE_NAME"] == ids["WorkQueue"].rsplit("/", 1)[1]
    assert env["EVENTS_STREAM_ARN"] == events_table["LatestStreamArn"]
    assert env["TOPIC_ARN"] == ids["AlertsTopic"]
    assert (
        env["BUCKET"] == ids["UploadsBucket"] and env["BUCKET_ARN"] == f"arn:aws:s3:::{ids['UploadsBucket']}"
    )
    assert (
        env["SUMMARY"]
        == f"homeward-local/us-east-1/123456789012/{ids['EventsTable']}/{events_table['TableArn']}"
    )
    assert env["FLAVOUR"] == "plain"  # !If on a condition that is true
    assert env["LITERAL_NUMBER"] == "42" and env["LITERAL_BOOL"] == "true"
    assert env["STAGE"] == "fixture-2"  # HOMEWARD_PARAM_Stage overrides the default
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "homeward-local-EnvAFunction"
    assert env["AWS_ENDPOINT_URL"] == stack.moto_url
    assert "LAMBDA_TASK_ROOT" not in env
    assert report["context"]["memory_limit_in_mb"] == "256"
    assert 0 < report["context"]["remaining_ms"] <= 5000


def test_parameters_secrets_and_conditions_reach_moto(stack, aws):
    secrets = echo(stack, "/env/a")["secrets"]
    parameter = aws["ssm"].get_parameter(Name=aws["ids"]["Setting"])["Parameter"]
    queues = aws["sqs"].list_queues().get("QueueUrls", [])

    assert secrets["MERCHANT_SECRET"] == "fixture-merchant-key"
    assert secrets["SIGNING_SECRET"] == hashlib.sha256(b"homeward-local:SigningSecret").hexdigest()
    assert parameter["Value"] == "fixture-2-setting"  # the override went to moto's stack too
    assert not any("ProdOnlyQueue" in url for url in queues)  # Condition IsProd is false
    ttl = aws["dynamodb"].describe_time_to_live(TableName=aws["ids"]["EventsTable"])["TimeToLiveDescription"]
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_each_function_has_its_own_environment_and_module_state(stack):
    a, b, a_again = echo(stack, "/env/a"), echo(stack, "/env/b"), echo(stack, "/env/a")

    assert (a["label"], b["label"], a_again["label"]) == ("a", "b", "a")  # read at import, per function
    assert "WORK_QUEUE_URL" not in b["env"]  # EnvA's variables do not leak into EnvB
    assert b["context"]["memory_limit_in_mb"] == "128"
    assert b["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "homeward-local-EnvBFunction"


# ---- HTTP API --------------------------------------------------------------------------------


def test_http_event_is_a_payload_v2_event(stack):
    started = time.time()
    status, _, body = raw_request(
        stack,
        "GET",
        "/echo/a/b%20c?x=1&x=2&empty=",
        [("X-Multi", "one"), ("X-Multi", "two"), ("Cookie", "a=1; b=2"), ("User-Agent", "fixture-test")],
    )
    assert status == 200, body
    event = json.loads(body)["event"]
    context = event["requestContext"]

    assert event["version"] == "2.0"
    assert event["routeKey"] == context["routeKey"] == "GET /echo/{proxy+}"
    assert event["rawPath"] == context["http"]["path"] == "/echo/a/b%20c"
    assert event["rawQueryString"] == "x=1&x=2&empty="
    assert event["queryStringParameters"] == {"x": "1,2", "empty": ""}
    assert event["pathParameters"] == {"proxy": "a/b c"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "one,two"
    assert all(name == name.lower() for name in event["headers"])
    assert event["isBase64Encoded"] is False and "body" not in event
    assert context["http"] == {
        "method": "GET",
        "path": "/echo/a/b%20c",
        "protocol": "HTTP/1.1",
        "sourceIp": "127.0.0.1",
        "userAgent": "fixture-test",
    }
    assert (context["accountId"], context["apiId"], context["stage"]) == ("123456789012", "local", "$default")
    assert started * 1000 - 1000 <= context["timeEpoch"] <= time.time() * 1000 + 1000


def test_most_specific_route_wins_and_unknown_routes_are_404(stack):
    assert echo(stack, "/items/special")["event"]["routeKey"] == "GET /items/special"
    item = echo(stack, "/items/42")["event"]
    assert (item["routeKey"], item["pathParameters"]) == ("GET /items/{itemId}", {"itemId": "42"})
    status, _, body = raw_request(stack, "DELETE", "/any", [])
    assert status == 200 and json.loads(body)["event"]["routeKey"] == "ANY /any"

    status, _, body = raw_request(stack, "POST", "/items/42", [])  # path exists, method does not
    assert (status, json.loads(body)) == (404, {"message": "Not Found"})


def test_every_request_gets_its_own_ids(stack):
    first_status, first_headers, first = get(stack, "/items/1")
    _, second_headers, second = get(stack, "/items/1")
    first, second = json.loads(first), json.loads(second)

    assert first_status == 200
    assert first["event"]["requestContext"]["requestId"] != second["event"]["requestContext"]["requestId"]
    assert first["context"]["aws_request_id"] != second["context"]["aws_request_id"]
    assert first_headers["Apigw-Requestid"] == first["event"]["requestContext"]["requestId"]
    assert second_headers["x-request-id"] == second["context"]["aws_request_id"]


def test_binary_bodies_travel_base64_and_text_bodies_as_text(stack):
    payload = bytes(range(256))
    status, headers, body = raw_request(
        stack, "POST", "/binary", [("Content-Type", "application/octet-stream")], payload
    )
    assert status == 200
    assert body == payload[::-1]  # decoded from the handler's base64 response
    assert dict(headers)["x-was-base64"] == "True"

    status, headers, body = raw_request(
        stack, "POST", "/binary", [("Content-Type", "application/json")], b'{"a": 1}'
    )
    assert dict(headers)["x-was-base64"] == "False"
    assert body == b'}1 :"a"{'


def test_responses_follow_payload_v2_rules(stack):
    status, headers, body = get(stack, "/plain")
    assert (status, headers["Content-Type"], json.loads(body)) == (
        200,
        "application/json",
        {"hello": "world"},
    )

    status, _, body = get(stack, "/boom")
    assert (status, json.loads(body)) == (500, {"message": "Internal Server Error"})

    _, headers, _ = raw_request(stack, "GET", "/cookies", [])
    assert [v for k, v in headers if k == "Set-Cookie"] == ["a=1; Path=/", "b=2; HttpOnly"]


def test_cors_is_answered_from_the_api_configuration(stack):
    preflight = [("Origin", "https://shop.example.com"), ("Access-Control-Request-Method", "POST")]
    status, headers, body = raw_request(stack, "OPTIONS", "/binary", preflight)
    headers = dict(headers)
    assert (status, body) == (204, b"")
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert headers["Access-Control-Allow-Methods"] == "GET,POST"
    assert headers["Access-Control-Allow-Headers"] == "authorization,content-type"
    assert headers["Access-Control-Max-Age"] == "300"

    status, headers, _ = raw_request(
        stack, "OPTIONS", "/binary", [("Origin", "https://evil.example"), preflight[1]]
    )
    assert status == 204 and "Access-Control-Allow-Origin" not in dict(headers)

    # On normal responses the API's CORS headers replace the integration's own.
    _, headers, _ = get(stack, "/cookies", headers={"Origin": "https://shop.example.com"})
    assert headers["Access-Control-Allow-Origin"] == "https://shop.example.com"
    assert headers["Access-Control-Expose-Headers"] == "x-request-id"


# ---- asynchronous sources ----------------------------------------------------------------------


def test_stream_records_batches_partial_failures_and_on_failure_destination(stack, aws):
    table = aws["ids"]["EventsTable"]
    ddb = aws["dynamodb"]
    for key, extra in [("before", {}), ("bad", {"fail": {"BOOL": True}}), ("after", {}), ("ignored", {})]:
        ddb.put_item(TableName=table, Item={"pk": {"S": key}, "payload": {"B": b"\x00\xff"}, **extra})
    ddb.update_item(
        TableName=table,
        Key={"pk": {"S": "before"}},
        UpdateExpression="SET n = :n",
        ExpressionAttributeValues={":n": {"N": "7"}},
    )
    ddb.delete_item(TableName=table, Key={"pk": {"S": "after"}})
    stack.settle()

    batches = [event["Records"] for event in records(aws, "stream")]
    delivered = [r for batch in batches for r in batch]
    stream_arn = ddb.describe_table(TableName=table)["Table"]["LatestStreamArn"]
    by_key = {}
    for record in delivered:
        by_key.setdefault((record["eventName"], record["dynamodb"]["Keys"]["pk"]["S"]), []).append(record)

    insert = by_key[("INSERT", "before")][0]
    assert insert["eventSource"] == "aws:dynamodb" and insert["eventSourceARN"] == stream_arn
    assert insert["awsRegion"] == "us-east-1" and insert["eventID"]
    assert insert["dynamodb"]["StreamViewType"] == "NEW_AND_OLD_IMAGES"
    assert insert["dynamodb"]["NewImage"]["payload"] == {"B": base64.b64encode(b"\x00\xff").decode()}
    assert isinstance(insert["dynamodb"]["ApproximateCreationDateTime"], int)
    assert insert["dynamodb"]["SizeBytes"] > 0 and "OldImage" not in insert["dynamodb"]
    modify = by_key[("MODIFY", "before")][-1]["dynamodb"]
    assert modify["OldImage"].keys() < modify["NewImage"].keys() and modify["NewImage"]["n"] == {"N": "7"}
    remove = by_key[("REMOVE", "after")][-1]["dynamodb"]
    assert "OldImage" in remove and "NewImage" not in remove
    assert not any(key == "ignored" for _, key in by_key)  # FilterCriteria

    # "bad" fails every time: tried 1 + MaximumRetryAttempts times, each retry starting at it.
    assert len(by_key[("INSERT", "bad")]) == 2
    assert len(by_key[("INSERT", "before")]) == 1  # before the failure: never redelivered
    retry = next(b for b in batches[1:] if any(r["dynamodb"]["Keys"]["pk"]["S"] == "bad" for r in b))
    assert retry[0]["dynamodb"]["Keys"]["pk"]["S"] == "bad"

    failure = json.loads(drain(aws, "StreamFailuresQueue")[0]["Body"])
    assert failure["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert failure["requestContext"]["approximateInvokeCount"] == 2
    assert failure["DDBStreamBatchInfo"]["streamArn"] == stream_arn
    assert (
        failure["DDBStreamBatchInfo"]["startSequenceNumber"]
        == by_key[("INSERT", "bad")][0]["dynamodb"]["SequenceNumber"]
    )


def test_sqs_batches_redelivery_and_dead_letter_queue(stack, aws):
    queue_url = aws["ids"]["WorkQueue"]
    queue_arn = aws["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    for body in ({"n": 1}, {"n": 2, "fail": True}, {"n": 3, "skip": True}):
        aws["sqs"].send_message(
            QueueUrl=queue_url,
            MessageBody=json.dumps(body),
            MessageAttributes={"origin": {"DataType": "String", "StringValue": "test"}},
        )
    stack.settle()

    delivered = [r for event in records(aws, "queue") for r in event["Records"]]
    by_n = {}
    for record in delivered:
        by_n.setdefault(json.loads(record["body"])["n"], []).append(record)

    ok = by_n[1][0]
    assert set(ok) >= {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody"}
    assert (ok["eventSource"], ok["eventSourceARN"], ok["awsRegion"]) == ("aws:sqs", queue_arn, "us-east-1")
    assert ok["md5OfBody"] == hashlib.md5(ok["body"].encode()).hexdigest()  # noqa: S324 - SQS's checksum
    assert set(ok["attributes"]) >= {
        "ApproximateReceiveCount",
        "SentTimestamp",
        "SenderId",
        "ApproximateFirstReceiveTimestamp",
    }
    assert ok["messageAttributes"]["origin"] == {
        "stringValue": "test",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert len(by_n[1]) == 1  # deleted after success
    assert [r["attributes"]["ApproximateReceiveCount"] for r in by_n[2]] == [
        "1",
        "2",
    ]  # reported, redelivered
    assert 3 not in by_n  # dropped by the FilterCriteria

    dead = [json.loads(m["Body"]) for m in drain(aws, "WorkDLQ")]
    assert dead == [{"n": 2, "fail": True}]  # after maxReceiveCount, by the queue's RedrivePolicy
    assert drain(aws, "WorkQueue") == []


def test_sns_filter_policy_record_shape_and_async_retries(stack, aws):
    topic = aws["ids"]["AlertsTopic"]
    for message, kind in (("hello", "wanted"), ("nope", "unwanted"), ("explode", "wanted")):
        aws["sns"].publish(
            TopicArn=topic,
            Message=message,
            Subject="Hi",
            MessageAttributes={"kind": {"DataType": "String", "StringValue": kind}},
        )
    stack.settle()

    received = [event["Records"] for event in records(aws, "topic")]
    assert all(len(batch) == 1 for batch in received)  # SNS invokes once per message
    messages = [batch[0]["Sns"]["Message"] for batch in received]
    assert messages.count("hello") == 1 and "nope" not in messages  # FilterPolicy
    assert messages.count("explode") == 2  # 1 + EventInvokeConfig.MaximumRetryAttempts

    record = next(batch[0] for batch in received if batch[0]["Sns"]["Message"] == "hello")
    assert (record["EventSource"], record["EventVersion"]) == ("aws:sns", "1.0")
    assert record["EventSubscriptionArn"].startswith(topic + ":")
    sns = record["Sns"]
    assert (sns["Type"], sns["TopicArn"], sns["Subject"]) == ("Notification", topic, "Hi")
    assert sns["MessageAttributes"] == {"kind": {"Type": "String", "Value": "wanted"}}
    assert sns["MessageId"] and sns["Timestamp"].endswith("Z") and sns["SignatureVersion"]

    failure = json.loads(drain(aws, "AsyncFailuresQueue")[0]["Body"])
    assert failure["requestContext"]["condition"] == "RetriesExhausted"
    assert failure["requestPayload"]["Records"][0]["Sns"]["Message"] == "explode"
    assert failure["responsePayload"]["errorType"] == "RuntimeError"

    # The template's own AWS::SNS::Subscription (raw delivery, no filter) was created too.
    assert sorted(m["Body"] for m in drain(aws, "AlertsCopyQueue")) == ["explode", "hello", "nope"]


def test_schedules_fire_on_request_with_their_event(stack, aws):
    status, tick = stack.post("/_local/schedules/ScheduleFunction/Tick")
    assert status == 200 and tick["status"] == "ok"
    status, nightly = stack.post("/_local/schedules/ScheduleFunction/Nightly")
    assert status == 200 and nightly["status"] == "ok"
    assert stack.post("/_local/schedules/ScheduleFunction/Nope")[0] == 404

    events = records(aws, "schedule")
    scheduled = next(e for e in events if e.get("detail-type") == "Scheduled Event")
    assert scheduled["source"] == "aws.events" and scheduled["detail"] == {}
    assert scheduled["resources"] == [
        "arn:aws:events:us-east-1:123456789012:rule/homeward-local-ScheduleFunctionTick"
    ]
    assert (scheduled["account"], scheduled["region"]) == ("123456789012", "us-east-1")
    assert {"job": "nightly"} in events  # ScheduleV2 with Input


def test_outbox_shows_what_ses_and_sns_sent(stack, aws):
    ses = boto3.client("sesv2", endpoint_url=stack.moto_url, region_name="us-east-1")
    ses.create_email_identity(EmailIdentity="example.com")
    html = '<p class="x">Your return is <b>approved</b></p><script>alert("x")</script>'
    ses.send_email(
        FromEmailAddress="returns@example.com",
        Destination={"ToAddresses": ["maya.chen@example.com"]},
        Content={"Simple": {"Subject": {"Data": "Return approved"}, "Body": {"Html": {"Data": html}}}},
    )
    aws["sns"].publish(PhoneNumber="+15555550101", Message="Your label is ready")
    topic = aws["sns"].create_topic(Name="outbox-check")["TopicArn"]
    aws["sns"].publish(
        TopicArn=topic,
        Message="return.approved",
        MessageAttributes={"rma": {"DataType": "String", "StringValue": "R-1"}},
    )

    status, _, body = get(stack, "/_local/outbox")
    outbox = json.loads(body)
    mail = next(m for m in outbox["emails"] if m["subject"] == "Return approved")
    assert status == 200
    assert (mail["from"], mail["to"], mail["html"]) == (
        "returns@example.com",
        ["maya.chen@example.com"],
        html,
    )
    assert mail["timestamp"].endswith("Z")
    assert any(m["number"] == "+15555550101" and m["message"] == "Your label is ready" for m in outbox["sms"])
    notification = next(n for n in outbox["notifications"] if n["topic_arn"] == topic)
    assert notification["message"] == "return.approved"
    assert notification["attributes"] == {"rma": {"Type": "String", "Value": "R-1"}}

    status, headers, page = get(stack, "/_local/outbox.html")
    page = page.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<iframe sandbox="" srcdoc="&lt;p class=&quot;x&quot;&gt;' in page  # escaped into the attribute
    assert "<script>" not in page


def test_invocations_are_listed(stack):
    _, headers, _ = get(stack, "/items/listed")
    status, _, body = get(stack, "/_local/invocations?limit=20")
    listed = next(i for i in json.loads(body) if i["trigger"] == "GET /items/listed")
    assert status == 200
    assert (listed["function"], listed["status"]) == ("HttpFunction", "200")
    assert listed["request_id"] == headers["x-request-id"] and listed["duration_ms"] > 0


# ---- pure pieces: expressions and filters ------------------------------------------------------


def test_schedule_expressions():
    start = datetime(2026, 11, 22, 10, 0, 30, tzinfo=UTC)  # a Sunday
    rate = parse_expression("rate(5 minutes)", anchor=start)
    assert rate.next_after(start) == datetime(2026, 11, 22, 10, 5, 30, tzinfo=UTC)
    assert rate.next_after(datetime(2026, 11, 22, 10, 12, tzinfo=UTC)) == datetime(
        2026, 11, 22, 10, 15, 30, tzinfo=UTC
    )

    weekdays = parse_expression("cron(15 9 ? * MON-FRI *)", anchor=start)
    assert weekdays.next_after(start) == datetime(2026, 11, 23, 9, 15, tzinfo=UTC)
    nightly_ny = parse_expression("cron(0 3 * * ? *)", anchor=start, tz="America/New_York")
    assert nightly_ny.next_after(start) == datetime(2026, 11, 23, 3, 0, tzinfo=ZoneInfo("America/New_York"))
    with pytest.raises(ValueError, match="not supported locally"):
        parse_expression("cron(0 12 L * ? *)", anchor=start)


def criteria(*patterns: dict) -> dict:
    return {"Filters": [{"Pattern": json.dumps(p)} for p in patterns]}


def test_filter_patterns():
    record = {"eventName": "INSERT", "dynamodb": {"NewImage": {"entity": {"S": "event"}, "n": 3}}}
    assert passes(None, record)
    assert passes(criteria({"dynamodb": {"NewImage": {"entity": {"S": ["event"]}}}}), record)
    assert not passes(criteria({"eventName": ["REMOVE"]}), record)
    assert passes(criteria({"eventName": ["REMOVE"]}, {"eventName": [{"prefix": "INS"}]}), record)  # any
    assert passes(criteria({"dynamodb": {"NewImage": {"n": [{"numeric": [">", 2, "<=", 3]}]}}}), record)
    assert not passes(criteria({"dynamodb": {"NewImage": {"n": ["3"]}}}), record)  # 3 is not "3"
    assert not passes(criteria({"dynamodb": {"NewImage": {"gone": [{"exists": True}]}}}), record)
    assert passes(criteria({"eventName": [{"anything-but": ["REMOVE", "MODIFY"]}]}), record)


def test_demo_orders_are_valid_paid_in_full_and_dated_from_now():
    now = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    orders = {o.number: o for o in demo_orders(now)}

    for order in orders.values():
        parsed = OrderIn(**order.body)
        assert [p.captured for p in parsed.payments] == [parsed.total]
        assert parsed.customer.email.endswith("@example.com")
        assert parsed.customer.phone is None or parsed.customer.phone.startswith("+1555")
    delivered = {n: OrderIn(**o.body).shipments[0].delivered_at for n, o in orders.items()}
    assert (now.date() - delivered["#1001"].date()).days == 5
    assert (now.date() - delivered["#1002"].date()).days == 45
    assert delivered["#1003"] is None and orders["#1003"].status == "in transit"
    assert ["final_sale" in line.get("tags", []) for line in orders["#1001"].body["lines"]] == [
        False,
        False,
        True,
    ]
    assert [o.order_id for o in orders.values()] == ["ord_1001", "ord_1002", "ord_1003", "ord_1004"]
    gift = OrderIn(**orders["#1004"].body)  # the gift-return demo: a German order, in euros
    assert (gift.gift_receipt_code, gift.currency, gift.customer.locale) == ("GIFT-7Q4M-2026", "EUR", "de-DE")
    assert (now.date() - delivered["#1004"].date()).days == 3


# ---- shutdown --------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signals_stop_everything_with_exit_code_0(signum):
    with running_stack("--template", str(TEMPLATE), "--no-demo") as process:
        code = process.stop(signum)
        output = process.output()

    assert code == 0, output
    assert "stopped" in output and "Traceback" not in output
    assert port_is_free(process.moto_port)  # moto went down with it


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux thread ids")
def test_ctrl_c_stops_the_stack_even_when_the_kernel_hands_it_to_a_worker_thread():
    """A process-wide signal may land on any thread; CI once saw the stack ignore it this way."""
    import ctypes
    import platform

    tgkill = {"x86_64": 234, "aarch64": 131}.get(platform.machine())  # no libc wrapper before glibc 2.30
    if tgkill is None:
        pytest.skip(f"tgkill syscall number unknown on {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    with running_stack("--template", str(TEMPLATE), "--no-demo") as process:
        pid = process.process.pid
        workers = sorted(int(t.name) for t in Path(f"/proc/{pid}/task").iterdir() if int(t.name) != pid)
        assert workers, "the stack runs its pollers and servers on threads"
        assert libc.syscall(tgkill, pid, workers[-1], signal.SIGINT) == 0, ctypes.get_errno()
        code = process.process.wait(timeout=20)
        output = process.output()

    assert code == 0, output
    assert "stopped" in output and "Traceback" not in output
