"""The infrastructure scan a merchant's security review runs (checkov), and what it decided.

`make checkov` (part of `make test`) fails on any finding; the checks that do not fit Homeward
are skipped on their resource with a reason (`Metadata: checkov: skip`). These tests keep those
decisions honest without checkov installed: every skip has a reason and is tabled in
docs/deploy.md, the optional KmsKeyArn reaches every resource that stores data, reserved
concurrency leaves the account's pool usable, and - through the local stack's own provisioning
into moto - the topic's queues still receive its deliveries with the encryption the template
chooses, with and without a customer-managed key.
"""

from __future__ import annotations

import json
import re

import boto3
import pytest
from moto import mock_aws

from infra.local.provision import Provisioner
from infra.template import ROOT, functions, load_template, parameter_defaults

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
CONDITIONS = TEMPLATE["Conditions"]
PARAMETERS = TEMPLATE["Parameters"]
DEPLOY_DOC = (ROOT / "docs" / "deploy.md").read_text()

KMS_KEY = {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
# Lambda keeps this much of the account's concurrency unreserved; the standard quota is 1,000.
UNRESERVED_MINIMUM = 100
STANDARD_ACCOUNT_CONCURRENCY = 1000


def of_type(kind: str) -> dict[str, dict]:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


def checkov_skips() -> list[tuple[str, dict]]:
    return [
        (logical_id, skip)
        for logical_id, resource in RESOURCES.items()
        for skip in ((resource.get("Metadata") or {}).get("checkov") or {}).get("skip", [])
    ]


def security_section() -> str:
    match = re.search(r"^## \d+\. Security scan.*?(?=^## |\Z)", DEPLOY_DOC, re.S | re.M)
    assert match, "docs/deploy.md has no '## N. Security scan' section"
    return match.group(0)


def sns_fed_queues() -> dict[str, dict]:
    """Queue logical id -> the SNS subscription that delivers to it."""
    return {
        props["Endpoint"]["Fn::GetAtt"][0]: props
        for props in (r["Properties"] for r in of_type("AWS::SNS::Subscription").values())
        if props["Protocol"] == "sqs"
    }


# =====================================================================================
# checkov: pinned, run by `make test`, every skip explained
# =====================================================================================


def test_checkov_is_pinned_in_its_own_tool_environment_and_run_by_make_test():
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^CHECKOV_VERSION := \d+\.\d+\.\d+$", makefile, re.M)
    assert "tool install --quiet --force 'checkov==$(CHECKOV_VERSION)'" in makefile
    recipe = re.search(r"^checkov:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "--framework cloudformation --skip-download" in recipe
    # Every decision lives next to its resource: no global skips, nothing soft.
    assert "--skip-check" not in recipe and "--soft-fail" not in recipe
    test_recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.M).group(1)
    assert "checkov" in test_recipe and "cfn-lint" in test_recipe


def test_every_checkov_skip_has_a_one_line_reason():
    skips = checkov_skips()
    assert skips, "no checkov skips found: the scan's decisions are gone from the template"
    for logical_id, skip in skips:
        assert set(skip) == {"id", "comment"}, (logical_id, skip)
        assert re.fullmatch(r"CKV2?_AWS_\d+", skip["id"]), (logical_id, skip)
        comment = skip["comment"]
        assert isinstance(comment, str) and comment == comment.strip(), (logical_id, skip)
        assert len(comment) >= 40 and "\n" not in comment, (logical_id, skip)
    ids_per_resource = [(logical_id, skip["id"]) for logical_id, skip in skips]
    assert len(ids_per_resource) == len(set(ids_per_resource)), "a check is skipped twice on one resource"


def test_every_skipped_check_is_tabled_in_the_deploy_docs():
    section = security_section()
    for check_id in sorted({skip["id"] for _, skip in checkov_skips()}):
        row = re.search(rf"^\|[^\n]*`{check_id}`[^\n]*\|\s*\*\*skipped\*\*", section, re.M)
        assert row, f"{check_id} is skipped in template.yaml but not tabled as skipped in docs/deploy.md"


def test_vpc_skip_states_what_a_vpc_would_cost():
    for logical_id, skip in checkov_skips():
        if skip["id"] == "CKV_AWS_117":
            assert "NAT gateway" in skip["comment"] and "$" in skip["comment"], logical_id


# =====================================================================================
# Encryption: AWS-managed by default, KmsKeyArn everywhere data rests
# =====================================================================================


def test_kms_key_parameter_is_optional_and_only_a_key_arn():
    parameter = PARAMETERS["KmsKeyArn"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    assert pattern.fullmatch("")
    assert pattern.fullmatch("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab")
    assert pattern.fullmatch("arn:aws:kms:us-east-1:123456789012:key/mrk-1234abcd12ab34cd56ef1234567890ab")
    # CloudWatch Logs and Lambda take a key ARN only: no aliases, no bare key ids.
    assert not pattern.fullmatch("alias/homeward")
    assert not pattern.fullmatch("1234abcd-12ab-34cd-56ef-1234567890ab")
    assert CONDITIONS["HasKmsKey"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]}


def test_kms_key_reaches_logs_table_secrets_queues_topic_and_function_environments():
    for name, group in of_type("AWS::Logs::LogGroup").items():
        assert group["Properties"].get("KmsKeyId") == KMS_KEY, name
    for name, secret in of_type("AWS::SecretsManager::Secret").items():
        assert secret["Properties"].get("KmsKeyId") == KMS_KEY, name
    for name, table in of_type("AWS::DynamoDB::Table").items():
        sse = table["Properties"]["SSESpecification"]
        assert sse == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KMS_KEY}, name
    for name, queue in of_type("AWS::SQS::Queue").items():
        props = queue["Properties"]
        assert props.get("KmsMasterKeyId") == KMS_KEY, name
        # SSE-SQS unless the key is given (the two are exclusive).
        assert props.get("SqsManagedSseEnabled") == {"Fn::If": ["HasKmsKey", False, True]}, name
    for name, topic in of_type("AWS::SNS::Topic").items():
        assert topic["Properties"]["KmsMasterKeyId"] == {
            "Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, "alias/aws/sns"]
        }, name
    assert TEMPLATE["Globals"]["Function"]["KmsKeyArn"] == KMS_KEY


def test_queues_fed_by_sns_are_encrypted_in_a_way_sns_can_deliver_to():
    """SNS cannot use the AWS-managed aws/sqs key (its key policy cannot name SNS): such a queue
    accepts the subscription and silently receives nothing. SSE-SQS, or a customer key whose
    policy allows sns.amazonaws.com (docs/deploy.md), are the two that work."""
    queues = sns_fed_queues()
    assert set(queues) == {"LabelRequestsQueue", "RefundRequestsQueue", "NotificationsQueue"}
    for name in queues:
        props = RESOURCES[name]["Properties"]
        assert "aws/sqs" not in json.dumps(props), name
        assert props["KmsMasterKeyId"] == KMS_KEY and props["SqsManagedSseEnabled"]["Fn::If"][2] is True, name
    assert '"Service": "sns.amazonaws.com"' in security_section()  # the key policy statement for them


# =====================================================================================
# Reserved concurrency: a webhook flood cannot starve the portal, and deploys still fit
# =====================================================================================


def tier_of(fn) -> str:
    reserved = fn.properties["ReservedConcurrentExecutions"]
    condition, value, otherwise = reserved["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"}, fn.logical_id
    parameter = value["Ref"]
    assert CONDITIONS[condition] == {"Fn::Not": [{"Fn::Equals": [{"Ref": parameter}, "-1"]}]}, fn.logical_id
    assert PARAMETERS[parameter]["Type"] == "Number" and PARAMETERS[parameter]["MinValue"] == -1
    return parameter


def test_every_function_reserves_concurrency_from_a_parameter_that_can_be_switched_off():
    tiers = {fn.logical_id: tier_of(fn) for fn in functions(TEMPLATE)}
    assert tiers["WebhooksFunction"] == tiers["PaymentWebhooksFunction"] != tiers["PortalApiFunction"]
    assert tiers["PortalApiFunction"] == tiers["PortalReturnsFunction"]
    defaults = {
        name: int(value) for name, value in parameter_defaults(TEMPLATE).items() if name in tiers.values()
    }
    assert all(value >= 1 for value in defaults.values()), defaults  # on by default, never 0 (stopped)
    total = sum(defaults[tier] for tier in tiers.values())
    # The defaults fit an account at the standard quota with Lambda's unreserved minimum to spare.
    assert total <= STANDARD_ACCOUNT_CONCURRENCY - UNRESERVED_MINIMUM, total
    assert defaults[tiers["PortalApiFunction"]] >= defaults[tiers["WebhooksFunction"]]


def test_queue_pollers_are_capped_at_the_reservation():
    """Lambda's SQS pollers would otherwise outrun a small reservation: each throttled batch
    goes back to the queue and counts towards maxReceiveCount (then the DLQ)."""
    for fn in functions(TEMPLATE):
        for name, event in fn.events.items():
            if event["Type"] != "SQS":
                continue
            condition, value, _ = event["Properties"]["ScalingConfig"]["Fn::If"]
            reserved = fn.properties["ReservedConcurrentExecutions"]["Fn::If"]
            assert condition == reserved[0] and value == {"MaximumConcurrency": reserved[1]}, (
                fn.logical_id,
                name,
            )


# =====================================================================================
# Locally: the template's topic, queues and subscriptions in moto, with either encryption
# =====================================================================================


@pytest.fixture(params=["aws-managed", "customer-managed-key"])
def provisioned(request):
    """The local stack's provisioning of template.yaml into a fresh in-process moto."""
    with mock_aws():
        environ = {}
        if request.param == "customer-managed-key":
            key = boto3.client("kms", region_name="us-east-1").create_key(Description="homeward test")
            environ["HOMEWARD_PARAM_KmsKeyArn"] = key["KeyMetadata"]["Arn"]
        resources = Provisioner(
            TEMPLATE,
            lambda name: boto3.client(name, region_name="us-east-1"),
            api_url="http://local",
            environ=environ,
        ).run()
        yield request.param, environ.get("HOMEWARD_PARAM_KmsKeyArn"), resources


def test_provisioning_copes_with_the_encryption_and_concurrency_properties(provisioned):
    mode, key_arn, resources = provisioned
    assert resources.warnings == []  # every queue, the topic, table and subscriptions were created
    sqs = boto3.client("sqs", region_name="us-east-1")
    for name in of_type("AWS::SQS::Queue"):
        attributes = sqs.get_queue_attributes(QueueUrl=resources.refs[name], AttributeNames=["All"])[
            "Attributes"
        ]
        if mode == "aws-managed":
            assert attributes["SqsManagedSseEnabled"] == "true" and "KmsMasterKeyId" not in attributes, name
        else:
            assert (
                attributes["SqsManagedSseEnabled"] == "false" and attributes["KmsMasterKeyId"] == key_arn
            ), name
    topic = boto3.client("sns", region_name="us-east-1").get_topic_attributes(
        TopicArn=resources.refs["DomainEventsTopic"]
    )["Attributes"]
    assert topic["KmsMasterKeyId"] == (key_arn or "alias/aws/sns")
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    for name in of_type("AWS::SecretsManager::Secret"):
        assert secrets.describe_secret(SecretId=resources.refs[name]).get("KmsKeyId") == key_arn, name


def test_every_subscribed_queue_receives_its_events_from_the_encrypted_topic(provisioned):
    _, _, resources = provisioned
    sns, sqs = boto3.client("sns", region_name="us-east-1"), boto3.client("sqs", region_name="us-east-1")
    queues = sns_fed_queues()
    every_type = sorted(
        {t for props in queues.values() for t in props["FilterPolicy"]["type"]} | {"return.noted"}
    )
    for event_type in every_type:
        sns.publish(
            TopicArn=resources.refs["DomainEventsTopic"],
            Message=json.dumps({"type": event_type}),
            MessageAttributes={"type": {"DataType": "String", "StringValue": event_type}},
        )
    for name, subscription in queues.items():
        received = []
        while messages := sqs.receive_message(
            QueueUrl=resources.refs[name], MaxNumberOfMessages=10, MessageAttributeNames=["All"]
        ).get("Messages", []):
            for message in messages:
                # Raw delivery: the body is the event itself, its type a message attribute.
                assert (
                    json.loads(message["Body"])["type"] == message["MessageAttributes"]["type"]["StringValue"]
                )
                received.append(message["MessageAttributes"]["type"]["StringValue"])
                sqs.delete_message(QueueUrl=resources.refs[name], ReceiptHandle=message["ReceiptHandle"])
        assert sorted(received) == sorted(subscription["FilterPolicy"]["type"]), name
