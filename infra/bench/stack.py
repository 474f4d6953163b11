"""A throwaway AWS for benchmarks and infra tests: moto in a thread, shaped by template.yaml.

`BenchStack` starts a moto server (like `moto.server.ThreadedMotoServer`, with requests
serialized: see `_SerializedMotoServer`) on a free 127.0.0.1 port, creates every
DynamoDB table, Secrets Manager secret, S3 bucket, SNS topic and SQS queue the template
declares (tables through
`infra.template.dynamodb_table_kwargs`, so keys, indexes and stream match), and resolves each
function's environment the way CloudFormation would, with the physical names moto returned.
Child processes get `AWS_ENDPOINT_URL` + fake credentials + that environment: the handlers run
unmodified.

`events_for(fn)` turns the samples in events/ into invocable events: the merchant key and a
valid portal token replace the REPLACE_WITH_* placeholders.

Refunds run as on the local stack: every payment through the ledger provider
(`BENCH_PARAMETERS`: RefundProviderMode `ledger`, no Stripe account), which settles a refund
`LedgerSettleSeconds` after making it, and PaymentSecretsSecret holds the local Stripe
webhook secret, so PaymentWebhooksFunction verifies signatures as a deployed one does.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from infra.template import ROOT, FunctionSpec, functions, load_template, parameter_defaults, resolve
from infra.webhook_signing import LOCAL_SECRETS

EVENTS_DIR = ROOT / "events"
FUNCTIONS_DIR = ROOT / "functions"
REGION = "us-east-1"
ACCOUNT = "123456789012"

MERCHANT_KEY = "bench-merchant-key-0123456789abcdefghijklmnopqrstuv"
SIGNING_KEY = "bench-signing-key-0123456789abcdefghijklmnopqrstuvwxyz0123456789"
SHOPPER_EMAIL = "jane.doe@example.com"

# Secret values by the logical id of the AWS::SecretsManager::Secret in the template.
SECRET_VALUES = {
    "MerchantApiKeySecret": MERCHANT_KEY,
    "PortalSigningKeySecret": SIGNING_KEY,
    # The JSON WebhooksFunction reads when deployed, holding the documented local secrets.
    "WebhookSecretsSecret": json.dumps(LOCAL_SECRETS),
}
# Template parameters the bench sets (the rest keep their defaults): refunds through the ledger
# provider, settled a second after they are made.
BENCH_PARAMETERS = {"Stage": "bench", "RefundProviderMode": "ledger", "LedgerSettleSeconds": "1"}
PLACEHOLDERS = {"REPLACE_WITH_MERCHANT_API_KEY": "merchant_key", "REPLACE_WITH_PORTAL_TOKEN": "portal_token"}

_FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


def load_event(name: str) -> dict:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())


def event_names(module: str) -> list[str]:
    """Sample events for a handler module: events/<module>.<scenario>.json."""
    short = module.rsplit(".", 1)[-1]
    return sorted(p.stem for p in EVENTS_DIR.glob(f"{short}.*.json"))


def with_order_id(event: dict, order_id: str) -> dict:
    event = copy.deepcopy(event)
    event["pathParameters"] = {**(event.get("pathParameters") or {}), "orderId": order_id}
    prefix = event["rawPath"].rsplit("/", 1)[0]
    event["rawPath"] = event["requestContext"]["http"]["path"] = f"{prefix}/{order_id}"
    return event


def with_body(event: dict, body: dict) -> dict:
    event = copy.deepcopy(event)
    event["body"] = json.dumps(body)
    return event


def with_source_ip(event: dict, ip: str) -> dict:
    event = copy.deepcopy(event)
    event["requestContext"]["http"]["sourceIp"] = ip
    event["headers"]["x-forwarded-for"] = ip
    return event


class _SerializedMotoServer:
    """moto's ThreadedMotoServer, except that requests run one at a time.

    moto's backends are not thread-safe (a DynamoDB transaction deep-copies the table while
    another request writes to it), and the IAM test runs several children at once. Connections
    are still served by threads, with keep-alive as before; only the backend work is serialized,
    so children that run one after another (the cold-start runs) see no difference.
    """

    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from infra.local import moto_patches

        moto_patches.apply()
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialized(environ, start_response):
            with lock:
                result = app(environ, start_response)
                try:
                    return list(result)  # the body too, inside the lock
                finally:
                    if hasattr(result, "close"):
                        result.close()

        self._server = make_server(
            "127.0.0.1", 0, serialized, threaded=True, request_handler=MotoRequestHandler
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> tuple[str, int]:
        self._thread.start()
        host, port = self._server.server_address[:2]
        return str(host), port

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


def _secret_value(logical_id: str) -> str:
    if logical_id == "PaymentSecretsSecret":
        # PaymentWebhooksFunction's Stripe signing secret, the local stack's (infra.local imports
        # moto: here, not at the top). No Stripe API key: in ledger mode nothing calls Stripe.
        from infra.local.provision import LOCAL_STRIPE_WEBHOOK_SECRET

        return json.dumps({"stripe_api_key": "", "stripe_webhook_secret": LOCAL_STRIPE_WEBHOOK_SECRET})
    return SECRET_VALUES.get(logical_id, "x" * 64)


@dataclass
class BenchStack:
    """moto server + the template's tables and secrets. Use as a context manager."""

    table_prefix: str = "homeward-bench"

    def __enter__(self) -> BenchStack:
        import logging

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
        self._server = _SerializedMotoServer()
        host, port = self._server.start()
        self.endpoint_url = f"http://{host}:{port}"
        self.template = load_template()
        self._provision()
        return self

    def __exit__(self, *exc) -> None:
        self._server.stop()

    # ---- provisioning ---------------------------------------------------------------------

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )

    def _provision(self) -> None:
        from infra.template import dynamodb_table_kwargs

        params = parameter_defaults(self.template) | BENCH_PARAMETERS
        self.refs: dict[str, str] = {
            **params,
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": "homeward-bench",
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/homeward-bench/bench",
        }
        self.attrs: dict[tuple[str, str], str] = {}
        ddb, secrets = self.client("dynamodb"), self.client("secretsmanager")
        for logical_id, resource in self.template["Resources"].items():
            kind = resource["Type"]
            if kind == "AWS::DynamoDB::Table":
                name = f"{self.table_prefix}-{logical_id}"
                table = ddb.create_table(**dynamodb_table_kwargs(logical_id, name, self.template))
                self.refs[logical_id] = name
                self.attrs[(logical_id, "Arn")] = table["TableDescription"]["TableArn"]
                self.attrs[(logical_id, "StreamArn")] = table["TableDescription"].get("LatestStreamArn", "")
            elif kind == "AWS::SecretsManager::Secret":
                created = secrets.create_secret(
                    Name=f"homeward/bench/{logical_id}", SecretString=_secret_value(logical_id)
                )
                self.refs[logical_id] = created["ARN"]
            elif kind == "AWS::S3::Bucket":
                name = f"{self.table_prefix}-{logical_id}".lower()
                self.client("s3").create_bucket(Bucket=name)
                self.refs[logical_id] = name
                self.attrs[(logical_id, "Arn")] = f"arn:aws:s3:::{name}"
            elif kind == "AWS::SNS::Topic":
                self.refs[logical_id] = self.client("sns").create_topic(Name=f"homeward-bench-{logical_id}")[
                    "TopicArn"
                ]
            elif kind == "AWS::SQS::Queue":
                sqs = self.client("sqs")
                url = sqs.create_queue(QueueName=f"homeward-bench-{logical_id}")["QueueUrl"]
                self.refs[logical_id] = url
                arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                    "QueueArn"
                ]
                self.attrs[(logical_id, "Arn")] = arn
            elif kind == "AWS::SES::EmailIdentity":
                identity = str(resolve(resource["Properties"]["EmailIdentity"], self.refs, self.attrs))
                self.client("sesv2").create_email_identity(EmailIdentity=identity)
                self.refs[logical_id] = identity
            elif kind == "AWS::Serverless::HttpApi":
                self.refs[logical_id] = f"{logical_id.lower()}bench"
                self.attrs[(logical_id, "ApiEndpoint")] = (
                    f"https://{logical_id.lower()}bench.execute-api.{REGION}.amazonaws.com"
                )
            elif kind == "AWS::CloudFront::Distribution":
                # Only its address is read (the portal URL in emails); no CDN runs in the bench.
                self.refs[logical_id] = "EBENCHPORTAL"
                self.attrs[(logical_id, "DomainName")] = "dbenchportal.cloudfront.net"
            else:
                self.refs.setdefault(logical_id, f"{logical_id}-bench")
        self.table_name = next(
            self.refs[k] for k, r in self.template["Resources"].items() if r["Type"] == "AWS::DynamoDB::Table"
        )

    # ---- environments -----------------------------------------------------------------------

    def function_env(self, fn: FunctionSpec) -> dict[str, str]:
        """The function's template environment, resolved to this stack's physical names."""
        return {k: str(resolve(v, self.refs, self.attrs)) for k, v in fn.environment.items()}

    def child_env(self, fn: FunctionSpec | None = None) -> dict[str, str]:
        """A clean environment for a child interpreter: no developer AWS settings leak in."""
        env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
        env.update(_FAKE_CREDENTIALS)
        env["AWS_ENDPOINT_URL"] = self.endpoint_url
        env["PYTHONPATH"] = str(FUNCTIONS_DIR)
        if fn is not None:
            env.update(self.function_env(fn))
        return env

    # ---- data ---------------------------------------------------------------------------------

    def portal_token(self, order_id: str) -> str:
        if str(FUNCTIONS_DIR) not in sys.path:
            sys.path.insert(0, str(FUNCTIONS_DIR))
        from homeward.domain.access.tokens import PortalTokens

        ttl = int(self.refs.get("PortalTokenTtlSeconds", "1800"))
        return PortalTokens([SIGNING_KEY], ttl).issue(order_id, datetime.now(UTC))[0]

    def fill_placeholders(self, event: dict, *, order_id: str = "ord_1001") -> dict:
        values = {"merchant_key": MERCHANT_KEY, "portal_token": self.portal_token(order_id)}
        text = json.dumps(event)
        for placeholder, name in PLACEHOLDERS.items():
            text = text.replace(placeholder, values[name])
        return json.loads(text)

    def seed_orders(self, orders: dict[str, dict | None]) -> list[dict]:
        """Store orders {order_id: body or None for the sample body} through the real merchant
        handler, in one child process (keeps this process free of handler imports)."""
        sample = self.fill_placeholders(load_event("merchant_api.put_order"))
        ops = []
        for order_id, body in orders.items():
            event = with_order_id(sample, order_id)
            ops.append(op(f"seed {order_id}", merchant_function(), with_body(event, body) if body else event))
        results = run_calls(self, ops)["ops"]
        for result in results:
            if result["status"] not in (200, 201):
                raise RuntimeError(f"{result['label']} failed: {result['status']} {result['body']}")
        return results

    def seed_order(self, order_id: str = "ord_1001", body: dict | None = None) -> dict:
        return self.seed_orders({order_id: body})[0]


def merchant_function() -> FunctionSpec:
    return function_by_module("homeward.handlers.merchant_api")


def function_by_module(module: str) -> FunctionSpec:
    return next(fn for fn in functions() if fn.module == module)


def op(label: str, fn: FunctionSpec, event: dict, *, seed: dict | None = None) -> dict:
    """One handler invocation for `run_calls`; `seed`: an aged-labels spec written just before it
    (by another child: see infra/bench/child.py)."""
    return {
        "label": label,
        "module": fn.module,
        "attr": fn.attribute,
        "event": event,
        "function": fn.logical_id,
        **({"seed": seed} if seed else {}),
    }


CHILD = Path(__file__).resolve().parent / "child.py"


def run_child(
    args: list[str], env: dict[str, str], *, python: str | None = None, extra: list[str] = ()
) -> dict:
    """Run child.py in a fresh interpreter; its JSON result (stdout is discarded)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as tmp:
        out = Path(tmp) / "result.json"
        proc = subprocess.run(
            [python or sys.executable, *extra, str(CHILD), *args, str(out)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"bench child {args[0]} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        result = json.loads(out.read_text())
        result["stderr"] = proc.stderr
        return result


def run_calls(stack: BenchStack, ops: list[dict], *, env: dict[str, str] | None = None) -> dict:
    """Run handler invocations in one fresh child; AWS calls recorded per op.

    `env` overrides variables after the functions' own (e.g. a setting the template leaves empty).
    """
    import tempfile

    fns = {fn.logical_id: fn for fn in functions()}
    overrides, env = env or {}, stack.child_env()
    for o in ops:  # every involved function's environment (their variables do not collide)
        env.update(stack.function_env(fns[o["function"]]))
    env.update(overrides)
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(ops, fh)
    try:
        result = run_child(["calls", fh.name], env)
    finally:
        os.unlink(fh.name)
    for o, r in zip(ops, result["ops"], strict=True):
        r["function"] = o["function"]
    return result
