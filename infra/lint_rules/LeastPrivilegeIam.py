"""E9102: least-privilege IAM for functions (and any IAM role or policy in the template).

* No wildcard actions: "*", "dynamodb:*", "s3:Get*" ... name every action.
* No Allow with NotAction / NotResource (both are wildcards in disguise).
* Data actions (DynamoDB, S3, SQS, SNS Publish, Secrets Manager, SSM, SES, KMS) never on
  Resource "*" nor on a wildcard ARN; name the table, index, secret, queue, topic or SES
  identity. Two allowances: S3 object keys under a prefix (`${Bucket.Arn}/labels/*`), and
  `sns:Publish` on "*" (SMS to a phone number has no ARN) in a document that also denies
  `sns:Publish` on every topic (`arn:${AWS::Partition}:sns:*:*:*`): texts, never topics.
* No AWS managed policies (AmazonDynamoDBFullAccess ...) and no broad SAM policy templates
  (DynamoDBCrudPolicy grants Scan, DeleteItem and BatchWriteItem on every index, S3CrudPolicy
  DeleteObject on every key): write an explicit statement. A few narrow templates, scoped to
  one named resource, and the non-data execution-role policies stay allowed.
"""

from __future__ import annotations

import re

from cfnlint.rules import CloudFormationLintRule, RuleMatch

DATA_PREFIXES = ("dynamodb:", "s3:", "sqs:", "secretsmanager:", "ssm:", "ses:", "kms:")
DATA_ACTIONS = frozenset({"sns:publish"})

# SAM policy templates that grant a short list of actions on one named resource.
NARROW_POLICY_TEMPLATES = frozenset(
    {
        "AWSSecretsManagerGetSecretValuePolicy",
        "SNSPublishMessagePolicy",
        "SQSSendMessagePolicy",
        "SQSPollerPolicy",
        "SSMParameterReadPolicy",
        "DynamoDBStreamReadPolicy",
        "KMSDecryptPolicy",
        "LambdaInvokePolicy",
        "StepFunctionsExecutionPolicy",
        "EventBridgePutEventsPolicy",
        "CloudWatchPutMetricPolicy",
    }
)
# AWS managed policies that touch no application data (logging, tracing, VPC networking).
NON_DATA_MANAGED_POLICIES = frozenset(
    {
        "AWSLambdaBasicExecutionRole",
        "AWSXRayDaemonWriteAccess",
        "AWSXrayWriteOnlyAccess",
        "CloudWatchLambdaInsightsExecutionRolePolicy",
        "AWSLambdaVPCAccessExecutionRole",
    }
)
_AWS_MANAGED_ARN = re.compile(
    r"^arn:(?:aws|\$\{AWS::Partition\}|<[^>]*>)[a-z-]*:iam::aws:policy/(?:.*/)?([^/]+)$"
)


def _candidates(value) -> list[str]:
    """Possible string forms of a Resource/Action value; intrinsics become <placeholders>."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for item in value for s in _candidates(item)]
    if isinstance(value, dict) and len(value) == 1:
        ((fn, arg),) = value.items()
        read = _INTRINSICS.get(fn)
        found = read(arg) if read else None
        if found is not None:
            return found
    return ["<expression>"]


def _ref(arg) -> list[str]:
    return [] if arg == "AWS::NoValue" else [f"<{arg}>"]


def _get_att(arg) -> list[str]:
    return [f"<{arg if isinstance(arg, str) else '.'.join(map(str, arg))}>"]


def _sub(arg) -> list[str] | None:
    text = arg[0] if isinstance(arg, list) and arg else arg
    if not isinstance(text, str):
        return None
    return [re.sub(r"\$\{([^}!]+)\}", lambda m: f"<{m.group(1)}>", text)]


def _join(arg) -> list[str] | None:
    if not (isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list)):
        return None
    parts = [(_candidates(p) or [""])[0] for p in arg[1]]
    return [str(arg[0]).join(parts)]


def _if(arg) -> list[str] | None:
    if not (isinstance(arg, list) and len(arg) == 3):
        return None
    return _candidates(arg[1]) + _candidates(arg[2])


# Intrinsic -> its possible string forms (None: not a form we read, an "<expression>").
_INTRINSICS = {"Ref": _ref, "Fn::GetAtt": _get_att, "Fn::Sub": _sub, "Fn::Join": _join, "Fn::If": _if}


def _if_branches(value) -> list | None:
    """The two branches of a `{"Fn::If": [condition, a, b]}`; None for anything else."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        arg = value["Fn::If"]
        if isinstance(arg, list) and len(arg) == 3:
            return arg[1:]
    return None


_ANY_TOPIC = re.compile(r"^arn:(?:aws[a-z-]*|<AWS::Partition>):sns:\*:\*:\*$")


def _denies_every_topic(statements: list) -> bool:
    """A Deny of sns:Publish on every topic ARN: what turns `sns:Publish` on "*" into SMS only."""
    for statement in statements:
        if not isinstance(statement, dict) or statement.get("Effect") != "Deny":
            continue
        actions = [a.lower() for a in _candidates(statement.get("Action"))]
        resources = _candidates(statement.get("Resource"))
        if "sns:publish" in actions and any(_ANY_TOPIC.match(r) for r in resources):
            return True
    return False


def _is_data_action(action: str) -> bool:
    action = action.lower()
    return action.startswith(DATA_PREFIXES) or action in DATA_ACTIONS


def _wildcard_resource_ok(resource: str, actions: list[str]) -> bool:
    """S3 object keys may end in a wildcard below a fixed bucket: `${Bucket.Arn}/prefix/*`."""
    if not all(a.lower().startswith("s3:") for a in actions):
        return False
    head, sep, _ = resource.partition("/")
    return bool(sep) and "*" not in head and resource != "*"


class LeastPrivilegeIam(CloudFormationLintRule):
    id = "E9102"
    shortdesc = "Least-privilege IAM: exact actions and resources"
    description = (
        "IAM statements in functions, roles and policies name exact actions; data actions name exact "
        "resources; no AWS managed policies or broad SAM policy templates for data access."
    )
    source_url = "https://github.com/homeward/homeward/blob/main/infra/lint_rules/LeastPrivilegeIam.py"
    tags = ["homeward", "iam", "security"]

    def match(self, cfn):
        matches: list[RuleMatch] = []
        for name, resource in cfn.get_resources().items():
            props = resource.get("Properties") or {}
            if isinstance(props, dict):
                self._check_resource(name, resource.get("Type"), props, matches)
        return matches

    def _check_resource(self, name, kind, props: dict, matches) -> None:
        base = ["Resources", name, "Properties"]
        if kind == "AWS::Serverless::Function":
            self._check_function_policies(props.get("Policies"), base + ["Policies"], name, matches)
        elif kind == "AWS::IAM::Role":
            for i, policy in enumerate(props.get("Policies") or []):
                if isinstance(policy, dict):
                    path = base + ["Policies", i, "PolicyDocument"]
                    self._check_document(policy.get("PolicyDocument"), path, name, matches)
        elif kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            self._check_document(props.get("PolicyDocument"), base + ["PolicyDocument"], name, matches)
        if kind in ("AWS::Serverless::Function", "AWS::IAM::Role"):
            for i, arn in enumerate(props.get("ManagedPolicyArns") or []):
                self._check_managed(arn, base + ["ManagedPolicyArns", i], name, matches)

    def _check_function_policies(self, policies, root, owner, matches) -> None:
        if policies is None:
            return
        items = policies if isinstance(policies, list) else [policies]
        for i, item in enumerate(items):
            path = root + [i] if isinstance(policies, list) else root
            self._check_sam_policy(item, path, owner, matches)

    # ---- SAM `Policies` entries ---------------------------------------------------------------

    def _check_sam_policy(self, item, path, owner, matches) -> None:
        if isinstance(item, str) or (isinstance(item, dict) and set(item) <= {"Ref", "Fn::Sub", "Fn::Join"}):
            self._check_managed(item, path, owner, matches)
            return
        if not isinstance(item, dict):
            return
        if set(item) == {"Fn::If"} and isinstance(item["Fn::If"], list) and len(item["Fn::If"]) == 3:
            for branch in (1, 2):
                self._check_sam_policy(item["Fn::If"][branch], path + ["Fn::If", branch], owner, matches)
            return
        if "Statement" in item:
            self._check_document(item, path, owner, matches)
            return
        if len(item) == 1:
            (template,) = item
            if template not in NARROW_POLICY_TEMPLATES:
                matches.append(
                    RuleMatch(
                        path + [template],
                        f"{owner}: SAM policy template {template} is broader than one function needs; "
                        "write a statement with the exact actions and resource ARNs",
                    )
                )

    def _check_managed(self, value, path, owner, matches) -> None:
        for text in _candidates(value):
            if text.startswith("<") and text.endswith(">"):
                continue  # Ref to a customer managed policy (its statements are checked where defined)
            match = _AWS_MANAGED_ARN.match(text)
            if text.startswith("arn:") and not match:
                continue  # customer managed policy in this account
            policy = match.group(1) if match else text
            if policy not in NON_DATA_MANAGED_POLICIES:
                matches.append(
                    RuleMatch(
                        path,
                        f"{owner}: AWS managed policy {policy} is not scoped to Homeward's resources; "
                        "write a statement with the exact actions and resource ARNs",
                    )
                )

    # ---- policy documents ------------------------------------------------------------------------

    def _check_document(self, document, path, owner, matches) -> None:
        if not isinstance(document, dict):
            return
        statements = document.get("Statement")
        if isinstance(statements, dict):
            self._check_statement(statements, path + ["Statement"], owner, matches)
        elif isinstance(statements, list):
            sms_only = _denies_every_topic(statements)
            for i, statement in enumerate(statements):
                self._check_statement(statement, path + ["Statement", i], owner, matches, sms_only=sms_only)

    def _check_statement(self, statement, path, owner, matches, *, sms_only: bool = False) -> None:
        if not isinstance(statement, dict):
            return
        branches = _if_branches(statement)
        if branches is not None:
            for branch, inner in zip((1, 2), branches, strict=True):
                self._check_statement(inner, path + ["Fn::If", branch], owner, matches, sms_only=sms_only)
            return
        if statement.get("Effect") != "Allow":
            return
        for negated in ("NotAction", "NotResource"):
            if negated in statement:
                matches.append(
                    RuleMatch(
                        path + [negated], f"{owner}: Allow with {negated} grants everything it does not list"
                    )
                )
        actions = [a for a in _candidates(statement.get("Action")) if not a.startswith("<")]
        for action in actions:
            if "*" in action:
                matches.append(
                    RuleMatch(
                        path + ["Action"],
                        f"{owner}: wildcard action {action!r}; name each API the function calls",
                    )
                )
        data_actions = [a for a in actions if _is_data_action(a)]
        if data_actions:
            self._check_data_resources(statement, data_actions, path, owner, matches, sms_only=sms_only)

    def _check_data_resources(self, statement, data_actions, path, owner, matches, *, sms_only: bool) -> None:
        for resource in _candidates(statement.get("Resource")):
            if resource == "*" and sms_only and {a.lower() for a in data_actions} == {"sns:publish"}:
                continue
            if resource == "*":
                matches.append(
                    RuleMatch(
                        path + ["Resource"],
                        f"{owner}: Resource '*' for data actions {', '.join(sorted(set(data_actions)))}; "
                        "name the table, index, secret, queue, topic or identity ARN",
                    )
                )
            elif "*" in resource and not _wildcard_resource_ok(resource, data_actions):
                matches.append(
                    RuleMatch(
                        path + ["Resource"],
                        f"{owner}: wildcard resource {resource!r} for data actions; name the exact ARN",
                    )
                )
