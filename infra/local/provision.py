"""Create the template's stateful resources in moto and work out what `Ref` / `GetAtt` return.

The resources come from template.yaml's own definitions: tables, topics, queues, buckets and
SSM parameters go to moto's CloudFormation in one `create_stack` (moto resolves the
intrinsics between them), so a resource added to the template appears locally with no code
change. moto's CloudFormation cannot create secrets, subscriptions, queue/topic/bucket
policies or SES identities, so those are created with direct API calls afterwards.

The result, `Resources`, maps every logical id, parameter and pseudo parameter to its local
value - what `infra.template.resolve` needs to turn a function's environment into strings.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from botocore.exceptions import ClientError

from infra.template import parameter_defaults, resolve
from infra.webhook_signing import LOCAL_SECRETS

STACK_NAME = "homeward-local"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account

# Sent to moto CloudFormation as one stack (all verified to work in moto 5.2).
CFN_TYPES = frozenset(
    {"AWS::DynamoDB::Table", "AWS::SNS::Topic", "AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::SSM::Parameter"}
)

# Local secrets are fixed so the README's curl walkthrough can be pasted as is.
MERCHANT_KEY_SECRET = "MerchantApiKeySecret"
MERCHANT_KEY_ENV = "HOMEWARD_LOCAL_MERCHANT_API_KEY"
DEFAULT_MERCHANT_API_KEY = "hw_local_merchant_key_0123456789abcdef"
PARAMETER_ENV_PREFIX = "HOMEWARD_PARAM_"
# Webhook secrets come from the environment locally (WebhooksSettings): the documented
# defaults of infra/webhook_signing.py apply unless the developer's shell sets its own.
LOCAL_WEBHOOK_SECRETS = {f"{name.upper()}_WEBHOOK_SECRET": secret for name, secret in LOCAL_SECRETS.items()}
# Refunds locally: every payment through the ledger provider (no Stripe account needed), which
# settles a few seconds after the refund is made; the sweep reads pending refunds back every
# minute. A shell that sets its own value (e.g. REFUND_PROVIDER_MODE live + STRIPE_API_BASE of
# infra/stripe_stub.py) wins.
LOCAL_STRIPE_WEBHOOK_SECRET = "whsec_hw_local_stripe_webhook_secret"
# Adyen's HMAC key is hex (Customer Area > Webhooks); this one is public, for the local stack
# and infra/adyen_stub.py (REFUND_PROVIDER_MODE live + ADYEN_API_BASE of the stub).
LOCAL_ADYEN_WEBHOOK_SECRET = "686f6d65776172642d6c6f63616c2d616479656e2d686d61632d6b65792d3332"
LOCAL_PAYMENT_DEFAULTS = {
    PARAMETER_ENV_PREFIX + "RefundProviderMode": "ledger",
    PARAMETER_ENV_PREFIX + "LedgerSettleSeconds": "3",
    PARAMETER_ENV_PREFIX + "RefundSweepRate": "rate(1 minute)",
    "REFUND_SWEEP_QUIET_SECONDS": "2",
    "STRIPE_WEBHOOK_SECRET": LOCAL_STRIPE_WEBHOOK_SECRET,
    "ADYEN_WEBHOOK_SECRET": LOCAL_ADYEN_WEBHOOK_SECRET,
    PARAMETER_ENV_PREFIX + "AdyenMerchantAccount": "HomewardLocalECOM",
}


class TemplateError(Exception):
    """The template cannot be emulated locally (an unknown Ref, a bad condition...)."""


def pseudo_parameters() -> dict[str, str]:
    return {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT_ID,
        "AWS::StackName": STACK_NAME,
        "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{STACK_NAME}/local",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }


def parameter_values(template: dict, environ: Mapping[str, str]) -> dict[str, str]:
    """Parameter defaults, each overridable with HOMEWARD_PARAM_<Name>."""
    values = parameter_defaults(template)
    for name in values:
        if PARAMETER_ENV_PREFIX + name in environ:
            values[name] = environ[PARAMETER_ENV_PREFIX + name]
    return values


def evaluate_conditions(template: dict, refs: Mapping[str, str]) -> dict[str, bool]:
    """Evaluate the Conditions section (Equals / Not / And / Or / Condition) against refs."""
    conditions = _Conditions(template.get("Conditions", {}) or {}, refs)
    for name in conditions.definitions:
        conditions.condition(name)
    return conditions.results


class _Conditions:
    """The template's conditions, each evaluated once (a condition may name another)."""

    def __init__(self, definitions: dict, refs: Mapping[str, str]) -> None:
        self.definitions = definitions
        self.refs = refs
        self.results: dict[str, bool] = {}

    def condition(self, name: str) -> bool:
        if name not in self.results:
            if name not in self.definitions:
                raise TemplateError(f"unknown condition {name!r}")
            self.results[name] = bool(self.value(self.definitions[name]))
        return self.results[name]

    def value(self, node):
        if isinstance(node, dict) and len(node) == 1:
            ((fn, arg),) = node.items()
            evaluate = _CONDITION_FUNCTIONS.get(fn)
            if evaluate is not None:
                return evaluate(self, arg)
        if isinstance(node, dict | list):
            return resolve(node, self.refs)
        return node

    def equals(self, arg) -> bool:
        left, right = (str(self.value(v)) for v in arg)
        return left == right


_CONDITION_FUNCTIONS = {
    "Ref": lambda c, arg: c.refs[arg],
    "Condition": _Conditions.condition,
    "Fn::Equals": _Conditions.equals,
    "Fn::Not": lambda c, arg: not c.value(arg[0]),
    "Fn::And": lambda c, arg: all(c.value(v) for v in arg),
    "Fn::Or": lambda c, arg: any(c.value(v) for v in arg),
}


def referenced_ids(node) -> set[str]:
    """Every name a value refers to through Ref, GetAtt or Sub."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= referenced_ids(item)
    elif isinstance(node, dict):
        for key, arg in node.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add(arg[0] if isinstance(arg, list) else arg.split(".", 1)[0])
            elif key == "Fn::Sub":
                text, local = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])
                names = {m.split(".", 1)[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                found |= (names - set(local)) | referenced_ids(local)
            else:
                found |= referenced_ids(arg)
    return found


def local_secret_value(logical_id: str, props: dict, environ: Mapping[str, str]) -> str:
    """A fixed, documented value for a generated secret (the template's own SecretString wins)."""
    if logical_id == MERCHANT_KEY_SECRET:
        generated = environ.get(MERCHANT_KEY_ENV, DEFAULT_MERCHANT_API_KEY)
    else:
        generated = hashlib.sha256(f"homeward-local:{logical_id}".encode()).hexdigest()
    spec = props.get("GenerateSecretString") or {}
    if spec.get("SecretStringTemplate") and spec.get("GenerateStringKey"):
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = generated
        return json.dumps(document)
    return generated


class Names(dict):
    """`Ref` values by logical id or parameter name; an unknown name is a template error."""

    def __missing__(self, key: str) -> str:
        raise TemplateError(f"!Ref {key}: no such parameter or resource in the template")


class Attributes(dict):
    """`GetAtt` values; an attribute moto cannot give becomes a placeholder, reported once."""

    def __init__(self, *args, warn: Callable[[str], None]) -> None:
        super().__init__(*args)
        self._warn = warn

    def __missing__(self, key: tuple[str, str]) -> str:
        logical_id, attribute = key
        self._warn(f"!GetAtt {logical_id}.{attribute} is not emulated locally; using a placeholder")
        self[key] = f"arn:aws:local:{REGION}:{ACCOUNT_ID}:{logical_id}/{attribute}"
        return self[key]


@dataclass
class Resources:
    """What the template's names mean locally."""

    refs: Names
    attrs: Attributes
    types: dict[str, str]  # logical id -> resource type (active resources only)
    secrets: dict[str, str] = field(default_factory=dict)  # logical id -> secret value
    warnings: list[str] = field(default_factory=list)

    def resolve(self, value):
        return resolve(value, self.refs, self.attrs)


class Provisioner:
    """Creates the template's resources in moto; `run()` returns the resulting `Resources`."""

    def __init__(
        self,
        template: dict,
        client: Callable[[str], object],
        *,
        api_url: str,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.template = template
        self.client = client
        self.api_url = api_url
        self.environ = os.environ if environ is None else environ
        self.warnings: list[str] = []

    def run(self) -> Resources:
        refs = Names({**pseudo_parameters(), **parameter_values(self.template, self.environ)})
        conditions = evaluate_conditions(self.template, refs)
        refs.update({f"Condition:{name}": str(ok).lower() for name, ok in conditions.items()})
        active = {
            logical_id: resource
            for logical_id, resource in self.template.get("Resources", {}).items()
            if conditions.get(resource.get("Condition", ""), True)
        }
        resources = Resources(
            refs=refs,
            attrs=Attributes(warn=self._warn_once),
            types={k: v["Type"] for k, v in active.items()},
            warnings=self.warnings,
        )
        self._name_unemulated(active, resources)
        self._create_stack(active, resources)
        self._create_secrets(active, resources)
        for logical_id in active.keys() - resources.refs.keys():
            # Table/queue/... types left out of the stack (see _stack_subset) still need a name.
            resources.refs[logical_id] = f"{STACK_NAME}-{logical_id}"
        self._create_after_stack(active, resources)
        return resources

    def _warn_once(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    # ---- names for what is not created in moto ----------------------------------------------

    def _name_unemulated(self, active: dict, resources: Resources) -> None:
        """Functions, APIs and log groups exist only as names locally; so does anything unknown."""
        refs, attrs = resources.refs, resources.attrs
        # SAM's implicit API for HttpApi events without an ApiId.
        refs["ServerlessHttpApi"], attrs[("ServerlessHttpApi", "ApiEndpoint")] = "local", self.api_url
        for logical_id, resource in active.items():
            kind = resource["Type"]
            if kind == "AWS::Serverless::Function":
                name = resource.get("Properties", {}).get("FunctionName")
                name = resources.resolve(name) if name else f"{STACK_NAME}-{logical_id}"[:64]
                refs[logical_id] = name
                attrs[(logical_id, "Arn")] = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"
            elif kind in ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"):
                refs[logical_id] = "local"
                attrs[(logical_id, "ApiEndpoint")] = self.api_url
            elif kind not in CFN_TYPES and kind != "AWS::SecretsManager::Secret":
                refs[logical_id] = f"{STACK_NAME}-{logical_id}"
        # Log group names usually embed a function name, so they come second.
        for logical_id, resource in active.items():
            if resource["Type"] == "AWS::Logs::LogGroup":
                name = resource.get("Properties", {}).get("LogGroupName")
                name = resources.resolve(name) if name else f"/aws/local/{logical_id}"
                refs[logical_id] = name
                attrs[(logical_id, "Arn")] = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{name}:*"

    # ---- secrets -------------------------------------------------------------------------------

    def _create_secrets(self, active: dict, resources: Resources) -> None:
        secrets = self.client("secretsmanager")
        for logical_id, resource in active.items():
            if resource["Type"] != "AWS::SecretsManager::Secret":
                continue
            props = resource.get("Properties", {}) or {}
            name = resources.resolve(props["Name"]) if props.get("Name") else f"{STACK_NAME}/{logical_id}"
            if "SecretString" in props:
                value = resources.resolve(props["SecretString"])
            else:
                value = local_secret_value(logical_id, props, self.environ)
            extra = {}
            if props.get("KmsKeyId"):
                # `!If [HasKmsKey, ...]`: resolves to nothing (dropped) when no key is given.
                extra = resources.resolve({"KmsKeyId": props["KmsKeyId"]})
            arn = secrets.create_secret(Name=name, SecretString=value, **extra)["ARN"]
            resources.refs[logical_id] = arn
            resources.attrs[(logical_id, "Id")] = arn
            resources.secrets[logical_id] = value

    # ---- the CloudFormation stack -------------------------------------------------------------

    def _create_stack(self, active: dict, resources: Resources) -> None:
        subset = self._stack_subset(active)
        if not subset:
            return
        body = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Parameters": self.template.get("Parameters", {}),
            "Conditions": self.template.get("Conditions", {}),
            "Resources": subset,
        }
        if not body["Conditions"]:
            del body["Conditions"]
        overrides = [
            {"ParameterKey": name, "ParameterValue": value}
            for name, value in parameter_values(self.template, self.environ).items()
        ]
        cfn = self.client("cloudformation")
        cfn.create_stack(StackName=STACK_NAME, TemplateBody=json.dumps(body), Parameters=overrides)
        stack = cfn.describe_stacks(StackName=STACK_NAME)["Stacks"][0]
        if stack["StackStatus"] != "CREATE_COMPLETE":
            raise TemplateError(f"moto could not create the stack: {stack.get('StackStatusReason', stack)}")
        for item in cfn.describe_stack_resources(StackName=STACK_NAME)["StackResources"]:
            logical_id, physical_id = item["LogicalResourceId"], item["PhysicalResourceId"]
            resources.refs[logical_id] = physical_id
            self._describe(logical_id, item["ResourceType"], physical_id, subset[logical_id], resources)

    def _stack_subset(self, active: dict) -> dict:
        """The CFN-type resources, minus any that refer to something outside the stack."""
        subset = {}
        for logical_id, resource in active.items():
            if resource["Type"] not in CFN_TYPES:
                continue
            resource = json.loads(json.dumps(resource))
            if resource["Type"] == "AWS::SSM::Parameter":
                # moto cannot generate a parameter name; CloudFormation would.
                resource.setdefault("Properties", {}).setdefault("Name", f"CFN-{logical_id}-local")
            subset[logical_id] = resource
        # AWS::NoValue (`!If [HasKmsKey, !Ref KmsKeyArn, !Ref AWS::NoValue]`) is resolved by moto too.
        known = set(pseudo_parameters()) | {"AWS::NoValue"} | set(self.template.get("Parameters", {}) or {})
        known |= set(self.template.get("Conditions", {}) or {})
        while True:
            outside = {
                logical_id: sorted(referenced_ids(resource) - known - set(subset))
                for logical_id, resource in subset.items()
                if referenced_ids(resource) - known - set(subset)
            }
            if not outside:
                break
            for logical_id, names in outside.items():
                self._warn_once(f"{logical_id} is not created locally: it refers to {', '.join(names)}")
                del subset[logical_id]
        for resource in subset.values():
            # DependsOn only orders resources; an edge to something outside the stack is moot.
            depends = resource.get("DependsOn")
            if depends:
                kept = [d for d in ([depends] if isinstance(depends, str) else depends) if d in subset]
                resource["DependsOn"] = kept
                if not kept:
                    del resource["DependsOn"]
        return subset

    def _describe(self, logical_id: str, kind: str, physical_id: str, resource: dict, out: Resources) -> None:
        """GetAtt values from moto's describe calls (its CFN lacks some, e.g. Queue.QueueUrl)."""
        attrs = out.attrs
        if kind == "AWS::DynamoDB::Table":
            ddb = self.client("dynamodb")
            table = ddb.describe_table(TableName=physical_id)["Table"]
            attrs[(logical_id, "Arn")] = table["TableArn"]
            if table.get("LatestStreamArn"):
                attrs[(logical_id, "StreamArn")] = table["LatestStreamArn"]
            ttl = resource.get("Properties", {}).get("TimeToLiveSpecification") or {}
            if out.resolve(ttl.get("Enabled")) in (True, "true"):
                # moto's CloudFormation ignores TimeToLiveSpecification.
                ddb.update_time_to_live(
                    TableName=physical_id,
                    TimeToLiveSpecification={
                        "Enabled": True,
                        "AttributeName": out.resolve(ttl["AttributeName"]),
                    },
                )
        elif kind == "AWS::SQS::Queue":
            arn = self.client("sqs").get_queue_attributes(QueueUrl=physical_id, AttributeNames=["QueueArn"])
            attrs[(logical_id, "Arn")] = arn["Attributes"]["QueueArn"]
            attrs[(logical_id, "QueueName")] = physical_id.rsplit("/", 1)[1]
            attrs[(logical_id, "QueueUrl")] = physical_id
        elif kind == "AWS::SNS::Topic":
            attrs[(logical_id, "TopicArn")] = physical_id
            attrs[(logical_id, "TopicName")] = physical_id.rsplit(":", 1)[1]
        elif kind == "AWS::S3::Bucket":
            attrs[(logical_id, "Arn")] = f"arn:aws:s3:::{physical_id}"
            attrs[(logical_id, "DomainName")] = f"{physical_id}.s3.amazonaws.com"
            attrs[(logical_id, "RegionalDomainName")] = f"{physical_id}.s3.{REGION}.amazonaws.com"
            attrs[(logical_id, "DualStackDomainName")] = f"{physical_id}.s3.dualstack.{REGION}.amazonaws.com"
            attrs[(logical_id, "WebsiteURL")] = f"http://{physical_id}.s3-website.{REGION}.amazonaws.com"
            cors = resource.get("Properties", {}).get("CorsConfiguration")
            if cors:
                self._bucket_cors(logical_id, physical_id, out.resolve(cors))
        elif kind == "AWS::SSM::Parameter":
            parameter = self.client("ssm").get_parameter(Name=physical_id)["Parameter"]
            attrs[(logical_id, "Type")] = parameter["Type"]
            attrs[(logical_id, "Value")] = parameter["Value"]

    def _bucket_cors(self, logical_id: str, bucket: str, cors: dict) -> None:
        """moto's CloudFormation ignores CorsConfiguration; the browser's presigned uploads need it."""
        names = {"ExposedHeaders": "ExposeHeaders", "Id": "ID", "MaxAge": "MaxAgeSeconds"}
        rules = [
            {names.get(k, k): (int(v) if k == "MaxAge" else v) for k, v in rule.items()}
            for rule in cors.get("CorsRules", [])
        ]
        try:
            self.client("s3").put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        except ClientError as exc:
            self._warn_once(f"{logical_id}: CorsConfiguration was not applied locally: {exc}")

    # ---- what moto's CloudFormation cannot create -----------------------------------------

    def _create_after_stack(self, active: dict, resources: Resources) -> None:
        creators = {
            "AWS::SNS::Subscription": self._subscribe,
            "AWS::SQS::QueuePolicy": self._queue_policy,
            "AWS::SNS::TopicPolicy": self._topic_policy,
            "AWS::S3::BucketPolicy": self._bucket_policy,
            "AWS::SES::EmailIdentity": self._email_identity,
        }
        for logical_id, resource in active.items():
            create = creators.get(resource["Type"])
            if create is None:
                continue
            try:
                physical_id = create(resources.resolve(resource.get("Properties", {}) or {}))
            except (ClientError, KeyError, TemplateError) as exc:
                self._warn_once(f"{logical_id} ({resource['Type']}) was not created locally: {exc}")
                continue
            if physical_id:
                resources.refs[logical_id] = physical_id

    def _subscribe(self, props: dict) -> str | None:
        if props["Protocol"] == "lambda":
            raise KeyError("lambda subscriptions are emulated only as `Events: Type: SNS` on the function")
        attributes = {
            name: _attribute_string(props[name])
            for name in ("FilterPolicy", "FilterPolicyScope", "RawMessageDelivery", "RedrivePolicy")
            if name in props
        }
        return self.client("sns").subscribe(
            TopicArn=props["TopicArn"],
            Protocol=props["Protocol"],
            Endpoint=props["Endpoint"],
            Attributes=attributes,
            ReturnSubscriptionArn=True,
        )["SubscriptionArn"]

    def _queue_policy(self, props: dict) -> None:
        for url in props["Queues"]:
            self.client("sqs").set_queue_attributes(
                QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
            )

    def _topic_policy(self, props: dict) -> None:
        for arn in props["Topics"]:
            self.client("sns").set_topic_attributes(
                TopicArn=arn, AttributeName="Policy", AttributeValue=json.dumps(props["PolicyDocument"])
            )

    def _bucket_policy(self, props: dict) -> None:
        # moto applies bucket-policy Deny statements without evaluating their Condition, so
        # the template's "deny plain HTTP" statement would refuse every local GetObject
        # (the stack is plain HTTP on loopback). Policies are not what the local stack proves;
        # the cfn-lint rules and tests/infra check them.
        document = props["PolicyDocument"]
        kept = [statement for statement in document.get("Statement", []) if "Condition" not in statement]
        if kept:
            self.client("s3").put_bucket_policy(
                Bucket=props["Bucket"], Policy=json.dumps({**document, "Statement": kept})
            )

    def _email_identity(self, props: dict) -> str:
        # Without a verified identity moto (like SES) rejects every send.
        self.client("sesv2").create_email_identity(EmailIdentity=props["EmailIdentity"])
        return props["EmailIdentity"]


def _attribute_string(value) -> str:
    """SNS subscription attributes are strings: policies as JSON, booleans as true/false."""
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
