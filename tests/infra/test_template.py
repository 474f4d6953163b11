"""template.yaml hygiene: cfn-lint (with our rules), IAM, logs, data safety, API limits, wiring.

The template is the one wiring list for AWS and for `make run`, so these tests read it (through
infra/template.py) and check it against the code: handlers import with exactly the environment
the template gives them, sample events route to the right function, and every AWS call the
order slice, the returns, label, tracking and refund operations make is allowed by that function's IAM
statements - a missing permission would otherwise only show up as AccessDenied in a real
account, since moto does not enforce IAM.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from infra.template import ROOT, functions, http_routes, load_template, parameter_defaults, resolve

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
RULES_DIR = ROOT / "infra" / "lint_rules"
FUNCTIONS = functions(TEMPLATE)
FUNCTION_IDS = [fn.logical_id for fn in FUNCTIONS]


def of_type(kind: str) -> dict:
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


TABLES = of_type("AWS::DynamoDB::Table")
SECRETS = of_type("AWS::SecretsManager::Secret")
LOG_GROUPS = of_type("AWS::Logs::LogGroup")


# =====================================================================================
# cfn-lint: the real template is clean, with our rules loaded the way `make cfn-lint` loads them
# =====================================================================================


def test_cfn_lint_reports_nothing_with_custom_rules():
    from cfnlint.api import ManualArgs, lint

    matches = lint(
        (ROOT / "template.yaml").read_text(),
        config=ManualArgs(append_rules=[str(RULES_DIR)], regions=["us-east-1"]),
    )
    assert [f"{m.rule.id} line {m.linenumber}: {m.message}" for m in matches] == []


def test_cfnlintrc_loads_the_custom_rules():
    config = yaml.safe_load((ROOT / ".cfnlintrc").read_text())
    assert "template.yaml" in config["templates"]
    assert [(ROOT / p).resolve() for p in config["append_rules"]] == [RULES_DIR.resolve()]
    assert (
        "cfn-lint template.yaml" in (ROOT / "Makefile").read_text()
    )  # run from the root: .cfnlintrc applies


# ---- each custom rule fires on a bad snippet --------------------------------------------------

_FUNCTION = """
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
      CodeUri: functions/
{extra}
"""
_LOG_GROUP = """
  FnLogGroup:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub /aws/lambda/${Fn}
      RetentionInDays: 30
"""
_TABLE = """
  Table:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}
      SSESpecification: {SSEEnabled: true}
"""


def snippet(resources: str) -> str:
    return (
        'AWSTemplateFormatVersion: "2010-09-09"\nTransform: AWS::Serverless-2016-10-31\n'
        "Conditions:\n  Always: !Equals [a, a]\nResources:\n" + resources
    )


def with_policies(policies: str) -> str:
    extra = textwrap.indent("Policies:\n" + textwrap.indent(textwrap.dedent(policies).strip(), "  "), " " * 6)
    return snippet(_FUNCTION.format(extra=extra) + _LOG_GROUP + _TABLE)


def custom_findings(text: str) -> list[tuple[str, str]]:
    from cfnlint.api import lint
    from cfnlint.rules import RulesCollection

    rules = RulesCollection()
    rules.create_from_directory(str(RULES_DIR))
    return [(m.rule.id, m.message) for m in lint(text, rules=rules, regions=["us-east-1"])]


def test_custom_rules_pass_on_the_real_template():
    findings = custom_findings((ROOT / "template.yaml").read_text())
    assert findings == []
    assert {"E9101", "E9102", "E9103"} <= {
        rule
        for rule, _ in custom_findings(
            snippet(
                _FUNCTION.format(extra="")
                + """
  Bad:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: pk, AttributeType: S}]
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
  Role:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument: {Statement: []}
      ManagedPolicyArns: [arn:aws:iam::aws:policy/AmazonS3FullAccess]
"""
            )
        )
    }


LOG_GROUP_CASES = {
    "no log group": (snippet(_FUNCTION.format(extra="") + _TABLE), "has no AWS::Logs::LogGroup"),
    "no retention": (
        snippet(_FUNCTION.format(extra="") + _LOG_GROUP.replace("      RetentionInDays: 30\n", "") + _TABLE),
        "has no RetentionInDays",
    ),
    "group named for another function": (
        snippet(_FUNCTION.format(extra="") + _LOG_GROUP.replace("${Fn}", "${Other}") + _TABLE),
        "has no AWS::Logs::LogGroup",
    ),
    "plain lambda function": (
        snippet(
            """
  Plain:
    Type: AWS::Lambda::Function
    Properties:
      Runtime: python3.13
      Handler: app.handler
      Role: arn:aws:iam::123456789012:role/x
      Code: {ZipFile: "def handler(e, c): pass"}
"""
            + _TABLE
        ),
        "Function Plain has no AWS::Logs::LogGroup",
    ),
}


@pytest.mark.parametrize("case", LOG_GROUP_CASES)
def test_rule_e9101_log_groups_fires(case):
    text, message = LOG_GROUP_CASES[case]
    assert any(rule == "E9101" and message in msg for rule, msg in custom_findings(text)), custom_findings(
        text
    )


@pytest.mark.parametrize(
    "log_group",
    [
        _LOG_GROUP,
        _LOG_GROUP.replace("!Sub /aws/lambda/${Fn}", '!Join ["", ["/aws/lambda/", !Ref Fn]]'),
    ],
    ids=["sub", "join"],
)
def test_rule_e9101_accepts_named_log_group(log_group):
    assert custom_findings(snippet(_FUNCTION.format(extra="") + log_group + _TABLE)) == []


def test_rule_e9101_accepts_logging_config_group():
    extra = "      LoggingConfig:\n        LogGroup: !Ref Logs"
    logs = "\n  Logs:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      RetentionInDays: 7\n"
    assert custom_findings(snippet(_FUNCTION.format(extra=extra) + logs + _TABLE)) == []


IAM_BAD = {
    "action *": (
        "- Statement: [{Effect: Allow, Action: '*', Resource: !GetAtt Table.Arn}]",
        "wildcard action '*'",
    ),
    "dynamodb:*": (
        "- Statement: [{Effect: Allow, Action: ['dynamodb:*'], Resource: !GetAtt Table.Arn}]",
        "wildcard action 'dynamodb:*'",
    ),
    "s3:*": (
        "- Statement: [{Effect: Allow, Action: s3:*, Resource: arn:aws:s3:::bucket}]",
        "wildcard action 's3:*'",
    ),
    "partial wildcard": (
        "- Statement: [{Effect: Allow, Action: [dynamodb:Get*], Resource: !GetAtt Table.Arn}]",
        "wildcard action 'dynamodb:Get*'",
    ),
    "dynamodb on *": (
        "- Statement: [{Effect: Allow, Action: [dynamodb:GetItem], Resource: '*'}]",
        "Resource '*' for data actions dynamodb:GetItem",
    ),
    "sns:Publish on *": (
        "- Statement: [{Effect: Allow, Action: sns:Publish, Resource: '*'}]",
        "Resource '*'",
    ),
    "ses on *": ("- Statement: [{Effect: Allow, Action: ses:SendEmail, Resource: ['*']}]", "Resource '*'"),
    "secret on *": (
        "- Statement: [{Effect: Allow, Action: secretsmanager:GetSecretValue, Resource: '*'}]",
        "Resource '*'",
    ),
    "ssm on *": ("- Statement: [{Effect: Allow, Action: ssm:GetParameter, Resource: '*'}]", "Resource '*'"),
    "sqs on *": ("- Statement: [{Effect: Allow, Action: sqs:SendMessage, Resource: '*'}]", "Resource '*'"),
    "all indexes": (
        "- Statement: [{Effect: Allow, Action: dynamodb:Query, Resource: !Sub '${Table.Arn}/index/*'}]",
        "wildcard resource",
    ),
    "NotAction": (
        "- Statement: [{Effect: Allow, NotAction: iam:*, Resource: !GetAtt Table.Arn}]",
        "Allow with NotAction",
    ),
    "only in one If branch": (
        "- Statement: [!If [Always, {Effect: Allow, Action: dynamodb:GetItem, Resource: !GetAtt Table.Arn},"
        " {Effect: Allow, Action: dynamodb:GetItem, Resource: '*'}]]",
        "Resource '*'",
    ),
    "managed policy name": ("- AmazonDynamoDBFullAccess", "AWS managed policy AmazonDynamoDBFullAccess"),
    "managed policy arn": (
        "- !Sub arn:${AWS::Partition}:iam::aws:policy/AmazonS3ReadOnlyAccess",
        "AWS managed policy AmazonS3ReadOnlyAccess",
    ),
    "SAM DynamoDBCrudPolicy": (
        "- DynamoDBCrudPolicy: {TableName: !Ref Table}",
        "SAM policy template DynamoDBCrudPolicy",
    ),
    "SAM DynamoDBReadPolicy": (
        "- DynamoDBReadPolicy: {TableName: !Ref Table}",
        "SAM policy template DynamoDBReadPolicy",
    ),
    "SAM S3CrudPolicy": ("- S3CrudPolicy: {BucketName: b}", "SAM policy template S3CrudPolicy"),
    "sms publish without the topic deny": (
        "- Statement: [{Effect: Allow, Action: sns:Publish, Resource: '*'}]",
        "Resource '*'",
    ),
    "sms allowance does not extend to other actions": (
        "- Statement: [{Effect: Allow, Action: [sns:Publish, sqs:SendMessage], Resource: '*'},"
        " {Effect: Deny, Action: sns:Publish, Resource: !Sub 'arn:${AWS::Partition}:sns:*:*:*'}]",
        "Resource '*'",
    ),
    "deny of one topic only": (
        "- Statement: [{Effect: Allow, Action: sns:Publish, Resource: '*'},"
        " {Effect: Deny, Action: sns:Publish, Resource: !Ref Topic}]",
        "Resource '*'",
    ),
    "SAM SESCrudPolicy": (
        "- SESCrudPolicy: {IdentityName: example.com}",
        "SAM policy template SESCrudPolicy",
    ),
}


@pytest.mark.parametrize("case", IAM_BAD)
def test_rule_e9102_least_privilege_fires(case):
    policies, message = IAM_BAD[case]
    findings = custom_findings(with_policies(policies))
    assert any(rule == "E9102" and message in msg for rule, msg in findings), findings


IAM_GOOD = {
    "exact table and index": """
        - Statement:
            - {Effect: Allow, Action: [dynamodb:GetItem, dynamodb:UpdateItem], Resource: !GetAtt Table.Arn}
            - {Effect: Allow, Action: [dynamodb:Query], Resource: !Sub "${Table.Arn}/index/gsi1"}
    """,
    "ses identity arn": """
        - Statement:
            - Effect: Allow
              Action: [ses:SendEmail]
              Resource: !Sub arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/example.com
    """,
    "s3 object prefix": """
        - Statement:
            - Effect: Allow
              Action: [s3:GetObject, s3:PutObject]
              Resource: "arn:aws:s3:::labels-bucket/labels/*"
    """,
    "non-data action on *": "- Statement: [{Effect: Allow, Action: [xray:PutTraceSegments], Resource: '*'}]",
    "deny with wildcards": "- Statement: [{Effect: Deny, Action: '*', Resource: '*'}]",
    "narrow SAM template": "- SQSSendMessagePolicy: {QueueName: q}",
    "sms to phone numbers only": """
        - Statement:
            - {Effect: Allow, Action: [sns:Publish], Resource: "*"}
            - {Effect: Deny, Action: [sns:Publish], Resource: !Sub "arn:${AWS::Partition}:sns:*:*:*"}
    """,
    "tracing managed policy": "- AWSXRayDaemonWriteAccess",
}


@pytest.mark.parametrize("case", IAM_GOOD)
def test_rule_e9102_accepts_exact_grants(case):
    assert custom_findings(with_policies(IAM_GOOD[case])) == []


TABLE_CASES = {
    "no PITR": (
        _TABLE.replace("      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}\n", ""),
        "PointInTime",
    ),
    "PITR off": (
        _TABLE.replace("PointInTimeRecoveryEnabled: true", "PointInTimeRecoveryEnabled: false"),
        "PointInTime",
    ),
    "no SSE": (_TABLE.replace("      SSESpecification: {SSEEnabled: true}\n", ""), "SSEEnabled"),
    "no DeletionPolicy": (
        _TABLE.replace("    DeletionPolicy: Retain\n", ""),
        "DeletionPolicy must be Retain",
    ),
    "Delete": (
        _TABLE.replace("DeletionPolicy: Retain", "DeletionPolicy: Delete"),
        "DeletionPolicy must be Retain",
    ),
    "no UpdateReplacePolicy": (
        _TABLE.replace("    UpdateReplacePolicy: Retain\n", ""),
        "UpdateReplacePolicy",
    ),
    "SimpleTable": ("\n  Simple:\n    Type: AWS::Serverless::SimpleTable\n", "use AWS::DynamoDB::Table"),
}


@pytest.mark.parametrize("case", TABLE_CASES)
def test_rule_e9103_table_safety_fires(case):
    table, message = TABLE_CASES[case]
    findings = custom_findings(snippet(table))
    assert any(rule == "E9103" and message in msg for rule, msg in findings), findings


# =====================================================================================
# IAM: exact actions on exact resources, and enough for what the code really calls
# =====================================================================================

_ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


def _account_arn(service: str) -> str:
    return r"arn:\$\{AWS::Partition\}:" + service + r":\$\{AWS::Region\}:\$\{AWS::AccountId\}:"


def grant_target(resource) -> tuple[str, str, str | None]:
    """(kind, target, detail) for an allowed Resource form; AssertionError for anything broader.

    Allowed: a table / stream ARN (GetAtt), one named index of a table, a secret / topic (Ref),
    a queue ARN (GetAtt), S3 objects under one fixed key prefix of a bucket in the template
    (`${Bucket.Arn}/prefix/*` - object keys cannot be enumerated), one SSM parameter named by a
    parameter or literal path, one SES identity.
    """
    if isinstance(resource, dict) and "Fn::GetAtt" in resource:
        logical_id, attribute = resource["Fn::GetAtt"]
        kind = RESOURCES[logical_id]["Type"]
        if kind == "AWS::DynamoDB::Table" and attribute in ("Arn", "StreamArn"):
            return ("table" if attribute == "Arn" else "stream", logical_id, None)
        if kind == "AWS::SQS::Queue" and attribute == "Arn":
            return ("queue", logical_id, None)
        if kind == "AWS::Logs::LogGroup" and attribute == "Arn":
            return ("log-group", logical_id, None)
    if resource == "*":
        return ("any", "*", None)  # only for services without resource-level permissions (see SERVICE_KINDS)
    if isinstance(resource, dict) and "Ref" in resource:
        kind = RESOURCES.get(resource["Ref"], {}).get("Type")
        if kind == "AWS::SecretsManager::Secret":
            return ("secret", resource["Ref"], None)
        if kind == "AWS::SNS::Topic":
            return ("topic", resource["Ref"], None)
    if isinstance(resource, dict) and isinstance(resource.get("Fn::Sub"), str):
        text = resource["Fn::Sub"]
        if match := re.fullmatch(r"\$\{(\w+)\.Arn\}/index/([\w.-]+)", text):
            table, index = match.groups()
            assert table in TABLES, f"{text}: {table} is not a table"
            props = TABLES[table]["Properties"]
            names = [
                i["IndexName"]
                for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
                for i in props.get(key, [])
            ]
            assert index in names, f"{text}: {table} has no index {index}"
            return ("index", table, index)
        if match := re.fullmatch(r"\$\{(\w+)\.Arn\}/([A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*)/\*", text):
            bucket, prefix = match.groups()
            assert RESOURCES[bucket]["Type"] == "AWS::S3::Bucket", text
            return ("objects", bucket, prefix)
        if match := re.fullmatch(_account_arn("ssm") + r"parameter(\$\{(\w+)\}|(?:/[\w.-]+)+)", text):
            return ("parameter", match.group(2) or match.group(1), None)
        if match := re.fullmatch(_account_arn("ses") + r"identity/([\w.-]+|\$\{\w+\})", text):
            return ("identity", match.group(1), None)
    raise AssertionError(
        f"Resource {resource!r} is not one exact table/index/secret/topic/queue/object-prefix/..."
    )


SMS_ONLY_DENY = {
    "Effect": "Deny",
    "Action": ["sns:Publish"],
    "Resource": {"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"},
}
SERVICE_KINDS = {
    "dynamodb": {"table", "index", "stream"},
    "secretsmanager": {"secret"},
    "sns": {"topic", "phone"},  # phone: SMS (Publish on "*" beside SMS_ONLY_DENY; the opt-out check)
    "sqs": {"queue"},
    "s3": {"objects"},
    "ssm": {"parameter"},
    "ses": {"identity"},
    "logs": {"log-group"},
    "xray": {"any"},  # PutTraceSegments / PutTelemetryRecords accept no resource scoping
}


def _statements(statements):
    for statement in statements:
        if isinstance(statement, dict) and set(statement) == {"Fn::If"}:  # both branches must be exact
            yield from _statements(s for s in statement["Fn::If"][1:] if s != {"Ref": "AWS::NoValue"})
        else:
            yield statement


def grants(fn) -> list[tuple[str, str, str, str | None]]:
    """Every (action, kind, target, detail) the function's Policies allow."""
    result = []
    policies = fn.properties.get("Policies", []) or []
    role = fn.properties.get("Role")
    if role:  # an explicit role in the template: its inline policies are the function's grants
        assert role == {"Fn::GetAtt": [role["Fn::GetAtt"][0], "Arn"]}, f"{fn.logical_id}: role {role!r}"
        role_props = TEMPLATE["Resources"][role["Fn::GetAtt"][0]]["Properties"]
        assert not role_props.get("ManagedPolicyArns"), f"{fn.logical_id}: managed policies on its role"
        policies = [p["PolicyDocument"] for p in role_props["Policies"]]
    for policy in policies:
        assert isinstance(policy, dict) and "Statement" in policy, (
            f"{fn.logical_id}: policy {policy!r} is not an inline statement "
            "(no managed policies, no SAM policy templates)"
        )
        statements = list(_statements(policy["Statement"]))
        denies = [s for s in statements if s["Effect"] == "Deny"]
        # The one Deny allowed: sns:Publish on every topic, which makes Publish on "*" SMS-only.
        assert all(d == SMS_ONLY_DENY for d in denies), f"{fn.logical_id}: unexpected Deny {denies}"
        for statement in statements:
            if statement["Effect"] == "Deny":
                continue
            assert statement["Effect"] == "Allow" and set(statement) <= {
                "Effect",
                "Action",
                "Resource",
                "Sid",
            }
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = (
                statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            )
            for action in actions:
                assert isinstance(action, str) and _ACTION.match(action), (
                    f"{fn.logical_id}: action {action!r}"
                )
                for resource in resources:
                    kind, target, detail = grant_target(resource)
                    if (action, kind) == ("sns:Publish", "any"):
                        assert denies, f"{fn.logical_id}: sns:Publish on * without the topic Deny"
                        kind = "phone"
                    if (action, kind) == ("sns:CheckIfPhoneNumberIsOptedOut", "any"):
                        kind = "phone"
                    service = action.split(":")[0]
                    assert kind in SERVICE_KINDS.get(service, {kind} - {"any"}), (
                        f"{fn.logical_id}: {action} on a {kind}"
                    )
                    result.append((action, kind, target, detail))
    return result


@pytest.mark.parametrize("fn", FUNCTIONS, ids=FUNCTION_IDS)
def test_function_iam_names_exact_actions_and_resources(fn):
    for action, kind, target, _ in grants(fn):
        if kind in ("secret", "topic", "queue", "objects"):  # only what its own settings name
            named = {"Ref": target} in fn.environment.values() or kind == "queue"
            assert named, f"{fn.logical_id}: {action} on {target}, which its environment does not name"
        if action in ("dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:BatchGetItem"):
            assert kind == "table", f"{fn.logical_id}: {action} belongs on the table ARN"


# ---- what the code really calls (recorded by infra.bench against moto) ---------------------------

# IAM has no dynamodb:TransactWriteItems / TransactGetItems: each item is authorized as its own action.
TRANSACT_ITEM_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
    "Get": "dynamodb:GetItem",
}
# Set only here: the template defaults ReturnPolicyParameterName to "" (no SSM read); with it set,
# the policy comes from SSM and the conditional ssm:GetParameter statement must cover the read.
POLICY_PARAMETER = "/homeward/bench/return-policy"


def needed_grants(call: dict, physical: dict[str, str]) -> list[tuple[str, str, str, str | None]]:
    """(action, kind, target, detail) that IAM checks for one recorded call - like grants()."""
    prefix, operation, params = call["iam_prefix"], call["operation"], call["params"]
    action = f"{prefix}:{operation}"
    if prefix == "dynamodb":
        if "TransactItems" in params:
            return [
                (TRANSACT_ITEM_ACTIONS[kind], "table", physical[table], None)
                for kind, table in params["TransactItems"]
            ]
        tables = params["TableName"] if isinstance(params["TableName"], list) else [params["TableName"]]
        index = params.get("IndexName")
        return [(action, "index" if index else "table", physical[t], index) for t in tables]
    if prefix == "secretsmanager":
        return [(action, "secret", physical[params["SecretId"]], None)]
    if prefix == "sns":
        if "TopicArn" not in params:  # an SMS to a number, or asking the SMS opt-out list
            return [(action, "phone", "*", None)]
        return [(action, "topic", physical[params["TopicArn"]], None)]
    if prefix == "ses":  # SES v2 SendEmail: authorized on the sender's identity; the bench sends
        # from the SenderEmail parameter's address (no SenderIdentity domain)
        assert "@" in params["FromEmailAddress"], params
        return [(action, "identity", "${SenderEmail}", None)]
    if prefix == "ssm":
        return [(action, "parameter", physical[params["Name"]], None)]
    if prefix == "s3":
        return [(action, "objects", physical[params["Bucket"]], params["Key"])]
    if prefix == "sqs":  # e.g. LabelsFunction's retry backoff (ChangeMessageVisibility)
        return [(action, "queue", physical[params["QueueUrl"]], None)]
    raise AssertionError(f"no IAM mapping for {action} {params}: extend needed_grants")


def is_granted(needed: tuple, allowed: list[tuple]) -> bool:
    action, kind, target, detail = needed
    if kind == "objects":  # a key is granted by `${Bucket.Arn}/<prefix>/*`
        return any(
            (a, k, t) == (action, kind, target) and detail.startswith(f"{prefix}/")
            for a, k, t, prefix in allowed
        )
    return needed in allowed


@pytest.fixture(scope="module")
def recorded():
    """Every slice, returns, label, tracking and refund operation (cold and warm), one fresh
    child per function.

    Per function, not one child for all: secrets are cached per process, so a function whose
    secret another function already fetched would never show its own GetSecretValue. Functions
    that read the return policy run with RETURN_POLICY_PARAMETER set, so their first policy
    read is an ssm:GetParameter (the default, the bundled file, calls nothing); a function's
    child also gets its operations' own settings (`Operation.env`: the refund sweep's quiet
    time). Seeding and the children run side by side: the bench's moto server serializes
    their requests.
    """
    from concurrent.futures import ThreadPoolExecutor

    from infra.bench.sections.aws_calls import (
        label_operations,
        notification_operations,
        refund_operations,
        returns_operations,
        slice_operations,
        tracking_operations,
    )
    from infra.bench.stack import BenchStack, run_calls

    with BenchStack() as stack, ThreadPoolExecutor(max_workers=8) as pool:
        policy = (ROOT / "functions" / "homeward" / "policy" / "return-policy.json").read_text()
        stack.client("ssm").put_parameter(Name=POLICY_PARAMETER, Value=policy, Type="String")
        seeded = [
            pool.submit(make, stack)
            for make in (
                slice_operations,
                returns_operations,
                label_operations,
                tracking_operations,
                refund_operations,
                notification_operations,
            )
        ]
        by_function: dict[str, list[dict]] = {}
        overrides: dict[str, dict[str, str]] = {}  # per function: the operations' own settings
        for operation in [o for future in seeded for o in future.result()]:
            for phase, o in (("cold", operation.cold), ("warm", operation.warm)):
                o["expect"] = operation.expected(phase)
                by_function.setdefault(o["function"], []).append(o)
                overrides.setdefault(o["function"], {}).update(operation.env or {})
        reads_policy = {fn.logical_id for fn in FUNCTIONS if "RETURN_POLICY_PARAMETER" in fn.environment}
        runs = [
            (
                group,
                overrides[name]
                | ({"RETURN_POLICY_PARAMETER": POLICY_PARAMETER} if name in reads_policy else {}),
            )
            for name, group in by_function.items()
        ]
        outputs = list(pool.map(lambda run: run_calls(stack, run[0], env=run[1])["ops"], runs))
        physical = {v: k for k, v in stack.refs.items() if k in RESOURCES}
        physical[POLICY_PARAMETER] = "ReturnPolicyParameterName"  # the grant names the parameter's Ref
    expected = {o["label"]: o["expect"] for group, _ in runs for o in group}
    return [r for output in outputs for r in output], expected, physical


# Read only for a real carrier (EasyPost, Shippo): the bench buys from the sandbox, which needs no
# key, so no recorded call can show this grant; test_carrier_secret_is_granted_where_it_is_named does.
CARRIER_SECRET = "CarrierCredentialsSecret"
# The refund functions read the Stripe API key only for a Stripe refund in live mode: the bench
# refunds through the ledger provider (RefundProviderMode ledger), so only PaymentWebhooksFunction
# (its webhook signing secret) shows this read; test_payment_secret_is_granted_where_it_is_named does.
PAYMENT_SECRET = "PaymentSecretsSecret"
STRIPE_KEY_READERS = {"RefundsFunction", "RefundSweepFunction"}


def _check_grants(recorded) -> tuple[set, dict]:
    """(every grant the recorded calls needed, the ones the template does not give -> operations)."""
    results, expected, physical = recorded
    by_id = {fn.logical_id: fn for fn in FUNCTIONS}
    seen, missing = set(), {}
    for result in results:
        assert result["status"] == expected[result["label"]], result
        allowed = grants(by_id[result["function"]])
        for call in result["calls"]:
            for needed in needed_grants(call, physical):
                if not is_granted(needed, allowed):
                    operation = result["label"].removesuffix(" (cold)").removesuffix(" (warm)")
                    missing.setdefault((result["function"], *needed), set()).add(operation)
                seen.add((result["function"], *needed))
    return seen, missing


def test_every_aws_call_of_the_order_returns_label_and_tracking_operations_is_granted(recorded):
    """Each recorded call must be allowed by that function's own statements, on the exact resource."""
    seen, missing = _check_grants(recorded)
    report = [f"{grant} <- {', '.join(sorted(ops))}" for grant, ops in sorted(missing.items(), key=str)]
    assert not missing, "calls the template does not allow (function, action, kind, target, detail):\n" + (
        "\n".join(report)
    )
    must_see = {
        ("MerchantApiFunction", "dynamodb:UpdateItem", "table", "HomewardTable", None),
        ("PortalApiFunction", "dynamodb:Query", "index", "HomewardTable", "gsi1"),
        ("PortalReturnsFunction", "dynamodb:PutItem", "table", "HomewardTable", None),
        ("PortalReturnsFunction", "dynamodb:UpdateItem", "table", "HomewardTable", None),
        ("PortalReturnsFunction", "dynamodb:Query", "table", "HomewardTable", None),
        ("PortalReturnsFunction", "dynamodb:Query", "index", "HomewardTable", "gsi1"),
        ("PortalReturnsFunction", "dynamodb:BatchGetItem", "table", "HomewardTable", None),
        ("OpsApiFunction", "dynamodb:Query", "index", "HomewardTable", "gsi2"),
        ("OpsApiFunction", "dynamodb:PutItem", "table", "HomewardTable", None),
        ("OpsApiFunction", "dynamodb:UpdateItem", "table", "HomewardTable", None),
        ("DomainEventsFunction", "sns:Publish", "topic", "DomainEventsTopic", None),
        ("PortalReturnsFunction", "ssm:GetParameter", "parameter", "ReturnPolicyParameterName", None),
        ("OpsApiFunction", "ssm:GetParameter", "parameter", "ReturnPolicyParameterName", None),
        # labels: the claim, the recording transaction, the released claim (carrier refusal), the expiry job
        ("LabelsFunction", "dynamodb:Query", "table", "HomewardTable", None),
        ("LabelsFunction", "dynamodb:GetItem", "table", "HomewardTable", None),
        ("LabelsFunction", "dynamodb:UpdateItem", "table", "HomewardTable", None),
        ("LabelsFunction", "dynamodb:PutItem", "table", "HomewardTable", None),
        ("LabelsFunction", "dynamodb:DeleteItem", "table", "HomewardTable", None),
        ("LabelsFunction", "ssm:GetParameter", "parameter", "ReturnPolicyParameterName", None),
        ("LabelExpiryFunction", "dynamodb:Query", "index", "HomewardTable", "gsi2"),
        ("LabelExpiryFunction", "dynamodb:Query", "table", "HomewardTable", None),
        ("LabelExpiryFunction", "dynamodb:PutItem", "table", "HomewardTable", None),
        ("LabelExpiryFunction", "dynamodb:UpdateItem", "table", "HomewardTable", None),
        ("LabelExpiryFunction", "ssm:GetParameter", "parameter", "ReturnPolicyParameterName", None),
        # refunds: the idempotency record (PutItem / UpdateItem), the return (GetItem), the order
        # and its payment ledger (Query on the order's partition), the planning and recording
        # transactions (Put return, events, movement; Update ledger), the ledger provider's refund
        ("RefundsFunction", "dynamodb:PutItem", "table", "HomewardTable", None),
        ("RefundsFunction", "dynamodb:UpdateItem", "table", "HomewardTable", None),
        ("RefundsFunction", "dynamodb:GetItem", "table", "HomewardTable", None),
        ("RefundsFunction", "dynamodb:Query", "table", "HomewardTable", None),
        ("RefundsFunction", "ssm:GetParameter", "parameter", "ReturnPolicyParameterName", None),
        # the sweep: open refunds from gsi2, the provider's refund read back, the settling transaction
        ("RefundSweepFunction", "dynamodb:Query", "index", "HomewardTable", "gsi2"),
        ("RefundSweepFunction", "dynamodb:GetItem", "table", "HomewardTable", None),
        ("RefundSweepFunction", "dynamodb:PutItem", "table", "HomewardTable", None),
        ("RefundSweepFunction", "dynamodb:UpdateItem", "table", "HomewardTable", None),
        ("RefundSweepFunction", "ssm:GetParameter", "parameter", "ReturnPolicyParameterName", None),
        # Stripe's webhook applied: the return read, the transaction (Put return, event, movement;
        # Update the payment's ledger)
        ("PaymentWebhooksFunction", "dynamodb:GetItem", "table", "HomewardTable", None),
        ("PaymentWebhooksFunction", "dynamodb:PutItem", "table", "HomewardTable", None),
        ("PaymentWebhooksFunction", "dynamodb:UpdateItem", "table", "HomewardTable", None),
        ("PaymentWebhooksFunction", "ssm:GetParameter", "parameter", "ReturnPolicyParameterName", None),
        # ops refunds: Powertools idempotency deletes its record when a refund is refused (409);
        # the export reads gsi1 (keys by month) then the movements (BatchGetItem)
        ("OpsApiFunction", "dynamodb:DeleteItem", "table", "HomewardTable", None),
        ("OpsApiFunction", "dynamodb:Query", "index", "HomewardTable", "gsi1"),
        ("OpsApiFunction", "dynamodb:BatchGetItem", "table", "HomewardTable", None),
        ("OpsApiFunction", "dynamodb:GetItem", "table", "HomewardTable", None),
        # store credit at the checkout: the code read, the redemption transaction (Put record, Update)
        ("MerchantApiFunction", "dynamodb:GetItem", "table", "HomewardTable", None),
        ("MerchantApiFunction", "dynamodb:PutItem", "table", "HomewardTable", None),
    }
    exercised = {result["function"] for result in recorded[0]}
    for fn in FUNCTIONS:  # every exercised function reads the secrets its environment names, in its own child
        if fn.logical_id not in exercised:
            continue
        for value in fn.environment.values():
            if (
                isinstance(value, dict)
                and RESOURCES.get(value.get("Ref"), {}).get("Type") == "AWS::SecretsManager::Secret"
                and value["Ref"] != CARRIER_SECRET
                and not (value["Ref"] == PAYMENT_SECRET and fn.logical_id in STRIPE_KEY_READERS)
            ):
                must_see.add((fn.logical_id, "secretsmanager:GetSecretValue", "secret", value["Ref"], None))
    assert must_see - seen == set()
    # The label files: s3:PutObject under labels/ of the labels bucket (three per purchase).
    stored = [g for g in seen if g[:4] == ("LabelsFunction", "s3:PutObject", "objects", "LabelsBucket")]
    assert {key.rsplit(".", 1)[-1] for *_, key in stored} == {"pdf", "png", "zpl"}
    assert all(key.startswith("labels/") for *_, key in stored)


def test_carrier_secret_is_granted_where_it_is_named():
    """The label functions read the carrier keys for EasyPost / Shippo: GetSecretValue on that secret."""
    for name in ("LabelsFunction", "LabelExpiryFunction"):
        fn = next(f for f in FUNCTIONS if f.logical_id == name)
        assert fn.environment.get("CARRIER_SECRET") == {"Ref": CARRIER_SECRET}, name
        assert ("secretsmanager:GetSecretValue", "secret", CARRIER_SECRET, None) in grants(fn), name


def test_payment_secret_is_granted_where_it_is_named():
    """The refund functions read the Stripe key from PaymentSecretsSecret for live-mode refunds;
    the bench (ledger mode) never does, so no recorded call can show this grant."""
    for name in sorted(STRIPE_KEY_READERS | {"PaymentWebhooksFunction"}):
        fn = next(f for f in FUNCTIONS if f.logical_id == name)
        assert fn.environment.get("PAYMENT_SECRETS_SECRET") == {"Ref": PAYMENT_SECRET}, name
        assert ("secretsmanager:GetSecretValue", "secret", PAYMENT_SECRET, None) in grants(fn), name


def test_labels_role_is_the_labels_functions_own():
    """LabelsFunction runs with the explicit LabelsRole: its SQS source, logs and data, nothing broader."""
    fn = next(f for f in FUNCTIONS if f.logical_id == "LabelsFunction")
    assert fn.properties["Role"] == {"Fn::GetAtt": ["LabelsRole", "Arn"]}
    allowed = grants(fn)
    for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"):
        assert (action, "queue", "LabelRequestsQueue", None) in allowed, action  # the event source mapping
    assert ("sqs:ChangeMessageVisibility", "queue", "LabelRequestsQueue", None) in allowed  # retry backoff
    assert ("s3:PutObject", "objects", "LabelsBucket", "labels") in allowed
    assert {(a, k, t) for a, k, t, _ in allowed if a.startswith("logs:")} == {
        ("logs:CreateLogStream", "log-group", "LabelsLogGroup"),
        ("logs:PutLogEvents", "log-group", "LabelsLogGroup"),
    }
    assert fn.properties["LoggingConfig"]["LogGroup"] == {"Ref": "LabelsLogGroup"}


def test_photo_upload_presign_makes_no_call_and_the_upload_is_granted(recorded):
    """Presigning is local; the browser's POST is authorized as the function: s3:PutObject on the key."""
    import base64
    import json

    results, _, physical = recorded
    uploads = [r for r in results if "photo upload" in r["label"]]
    assert uploads
    allowed = grants(next(fn for fn in FUNCTIONS if fn.logical_id == "PortalReturnsFunction"))
    for result in uploads:
        assert [c for c in result["calls"] if c["iam_prefix"] != "secretsmanager"] == []
        body = json.loads(result["body"])
        policy = json.loads(base64.b64decode(body["fields"]["policy"]))
        conditions = {k: v for c in policy["conditions"] if isinstance(c, dict) for k, v in c.items()}
        assert conditions["key"] == body["key"] and body["key"].startswith("photos/")
        needed = ("s3:PutObject", "objects", physical[conditions["bucket"]], body["key"])
        assert is_granted(needed, allowed), f"PortalReturnsFunction needs {needed} for the browser upload"


def test_label_link_presign_makes_no_call_and_the_download_is_granted(recorded):
    """The portal presigns the label link locally; the shopper's GET is authorized as the function:
    s3:GetObject on that key of the labels bucket (no recorded call can show this grant)."""
    import json
    from urllib.parse import parse_qs, unquote, urlsplit

    results, _, physical = recorded
    links = [r for r in results if "label link" in r["label"]]
    assert links
    allowed = grants(next(fn for fn in FUNCTIONS if fn.logical_id == "PortalReturnsFunction"))
    buckets = {
        name: logical
        for name, logical in physical.items()
        if RESOURCES.get(logical, {}).get("Type") == "AWS::S3::Bucket"
    }
    for result in links:
        assert [c for c in result["calls"] if c["iam_prefix"] == "s3"] == []
        body = json.loads(result["body"])
        url = urlsplit(body["url"])
        host_bucket = url.netloc.split(".", 1)[0]
        if host_bucket in buckets:  # virtual-hosted style
            bucket, key = host_bucket, unquote(url.path.lstrip("/"))
        else:  # path style (a custom endpoint)
            bucket, _, key = unquote(url.path.lstrip("/")).partition("/")
        query = parse_qs(url.query)
        assert buckets[bucket] == "LabelsBucket" and key.startswith("labels/") and key.endswith(".pdf")
        assert int(query["X-Amz-Expires"][0]) == body["expires_in_seconds"] <= 900
        assert "attachment" in query["response-content-disposition"][0]
        needed = ("s3:GetObject", "objects", "LabelsBucket", key)
        assert is_granted(needed, allowed), f"PortalReturnsFunction needs {needed} for the shopper's download"


# =====================================================================================
# Logs, data, runtime, API
# =====================================================================================


@pytest.mark.parametrize("fn", FUNCTIONS, ids=FUNCTION_IDS)
def test_function_has_log_group_with_retention(fn):
    custom = (fn.properties.get("LoggingConfig") or {}).get("LogGroup")
    named = [
        g
        for name, g in LOG_GROUPS.items()
        if g["Properties"].get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{fn.logical_id}}}"}
        or custom == {"Ref": name}
    ]
    assert len(named) == 1, f"{fn.logical_id}: expected one log group /aws/lambda/${{{fn.logical_id}}}"
    assert named[0]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


def test_table_keeps_its_data():
    (table,) = TABLES.values()
    props = table["Properties"]
    assert table["DeletionPolicy"] == "Retain" and table["UpdateReplacePolicy"] == "Retain"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    # The TTL attribute is the one the adapter writes on sign-in attempt windows.
    adapter = (ROOT / "functions" / "homeward" / "adapters" / "dynamodb" / "orders.py").read_text()
    assert "expires_at = :exp" in adapter


def test_runtime_is_python313_or_newer_on_arm64():
    defaults = TEMPLATE["Globals"]["Function"]
    major, minor = map(int, re.fullmatch(r"python(\d+)\.(\d+)", defaults["Runtime"]).groups())
    assert (major, minor) >= (3, 13)
    assert defaults["Architectures"] == ["arm64"]
    for fn in FUNCTIONS:  # nobody overrides the globals with something older or x86
        assert fn.properties["Runtime"] == defaults["Runtime"] and fn.properties["Architectures"] == ["arm64"]
        assert fn.properties["CodeUri"] == "functions/"
        assert RESOURCES[fn.logical_id].get("Metadata", {}).get("BuildMethod") == "makefile"


def test_http_api_is_throttled_and_logged():
    api = RESOURCES["HttpApi"]["Properties"]
    params = parameter_defaults(TEMPLATE)
    assert api["DefaultRouteSettings"] == {
        "ThrottlingRateLimit": {"Ref": "ApiThrottleRate"},
        "ThrottlingBurstLimit": {"Ref": "ApiThrottleBurst"},
    }
    sign_in = api["RouteSettings"]["POST /portal/session"]
    assert float(params["SignInThrottleRate"]) < float(params["ApiThrottleRate"])
    assert sign_in["ThrottlingRateLimit"] == {"Ref": "SignInThrottleRate"} and sign_in["ThrottlingBurstLimit"]
    log_group = api["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert LOG_GROUPS[log_group]["Properties"]["RetentionInDays"]
    for field in ("$context.requestId", "$context.status", "$context.routeKey"):
        assert field in api["AccessLogSettings"]["Format"]
    # Every route hangs off this API: an event without ApiId would create an implicit,
    # unthrottled, unlogged API.
    for fn in FUNCTIONS:
        for name, event in fn.events.items():
            if event["Type"] == "HttpApi":
                assert event["Properties"].get("ApiId") == {"Ref": "HttpApi"}, f"{fn.logical_id}.{name}"


def test_outputs():
    assert {"ApiUrl", "TableName", "TableStreamArn", "MerchantApiKeySecretArn"} <= set(TEMPLATE["Outputs"])
    assert TEMPLATE["Outputs"]["TableStreamArn"]["Value"] == {"Fn::GetAtt": ["HomewardTable", "StreamArn"]}
    assert TEMPLATE["Outputs"]["MerchantApiKeySecretArn"]["Value"] == {"Ref": "MerchantApiKeySecret"}


# =====================================================================================
# Wiring: handlers, events, generated files
# =====================================================================================


def template_env(fn) -> dict[str, str]:
    """The function's environment as the template sets it, with placeholder physical names."""
    refs = {**parameter_defaults(TEMPLATE), "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
    refs["AWS::StackId"] = "arn:aws:cloudformation:us-east-1:123456789012:stack/homeward/0f1e2d3c"
    refs.update({name: f"placeholder-{name}" for name in RESOURCES})
    attrs = {
        ("HttpApi", "ApiEndpoint"): "https://placeholder.execute-api.us-east-1.amazonaws.com",
        ("PortalDistribution", "DomainName"): "d111111abcdef8.cloudfront.net",
    }
    return {k: str(resolve(v, refs, attrs)) for k, v in fn.environment.items()}


def test_every_handler_imports_with_only_its_template_environment():
    """A fresh interpreter per function, with the template's variables and nothing from the tests."""
    from infra.openapi import _PLACEHOLDER_ENV

    check = (
        "import importlib, sys; m = importlib.import_module(sys.argv[1]); "
        "assert callable(getattr(m, sys.argv[2])), sys.argv"
    )
    procs = {}
    for fn in FUNCTIONS:
        assert fn.attribute == "lambda_handler", fn.handler
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": str(ROOT / "functions"),
            "AWS_DEFAULT_REGION": _PLACEHOLDER_ENV["AWS_DEFAULT_REGION"],
            **template_env(fn),
        }
        procs[fn.logical_id] = subprocess.Popen(
            [sys.executable, "-c", check, fn.module, fn.attribute],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    failures = {}
    for name, proc in procs.items():
        output, _ = proc.communicate(timeout=120)
        if proc.returncode:
            failures[name] = output[-2000:]
    assert failures == {}


EVENT_FILES = sorted((ROOT / "events").glob("*.json"))


@pytest.mark.parametrize("path", EVENT_FILES, ids=[p.name for p in EVENT_FILES])
def test_event_sample_names_its_handler_and_route(path):
    import json

    module, _, scenario = path.stem.partition(".")
    assert scenario, f"{path.name}: name it <handler module>.<scenario>.json"
    assert (ROOT / "functions" / "homeward" / "handlers" / f"{module}.py").exists(), path.name
    owners = [fn for fn in FUNCTIONS if fn.module == f"homeward.handlers.{module}"]
    assert owners, f"{path.name}: no function in template.yaml has handler homeward.handlers.{module}"
    event = json.loads(path.read_text())
    if "routeKey" in event:
        routes = {f"{method} {p}" for method, p, fn in http_routes(TEMPLATE) if fn in owners}
        assert event["routeKey"] in routes, f"{path.name}: {event['routeKey']} is not a route of {module}"


def test_openapi_document_is_current():
    proc = subprocess.run(
        [sys.executable, "-m", "infra.openapi", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def _uv() -> str:
    local = ROOT / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if not found:
        pytest.skip("uv not installed (make setup installs it in .tools/)")
    return found


def _requirements(text: str) -> list[str]:
    lines = text.splitlines()
    while lines and lines[0].startswith("#"):  # the header names the output file; ignore it
        lines.pop(0)
    return lines


def test_function_requirements_match_uv_lock():
    proc = subprocess.run(
        [_uv(), "export", "--frozen", "--no-dev", "--no-hashes", "--no-emit-project", "--quiet"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    assert proc.returncode == 0, proc.stderr
    committed = (ROOT / "functions" / "requirements.txt").read_text()
    assert _requirements(committed) == _requirements(proc.stdout), "stale: run `make requirements`"
    assert Path(ROOT / "functions" / "requirements.txt").read_text().count("==") >= 5  # pinned, not ranges
