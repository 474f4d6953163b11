"""Benchmark child: runs in a FRESH interpreter, started by infra.bench by file path.

It must stay cheap to start: stdlib only at module level, so what it times is the handler's
own import and first invocation (or the baseline's `import boto3; boto3.client(...)`).

    python child.py baseline                      OUT
    python child.py cold   MODULE ATTR EVENT.json OUT
    python child.py calls  OPS.json               OUT
    python child.py aged-labels SPEC.json         OUT

`cold` times `import MODULE` and the first `MODULE.ATTR(event, context)`.
`calls` runs a list of handler invocations (in order, in this one process) and records every
AWS API call each one makes, through a botocore `before-call` hook on boto3's default
session, registered before any client exists, with the resource names IAM authorizes it on
(table / index, each item of a transaction, secret, topic, queue, bucket and key, parameter).
An op with a `seed` (an aged-labels spec) has that data written just before it runs, by
another child process, so neither the seeding's imports nor its calls touch this one.
`aged-labels` writes returns whose label was bought days ago (the label expiry job's work):
the domain's own code - start_return, then issue_label with the sandbox carrier - with the
clock set back, so the stored items are exactly what production writes, only older.

The outcome of an invocation is its HTTP `statusCode`; a stream or queue handler (partial batch
response, no status code) reports "ok" when no record failed, else "N failed"; a scheduled job
returning counts reports them ("expired 1, reminded 0").

Results are written as JSON to OUT (stdout belongs to the handlers' logs and EMF metrics).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time


class LambdaContext:
    function_name = "homeward-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:homeward-bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/homeward-bench"
    log_stream_name = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 10_000


def _max_rss_kib() -> int:
    """Peak RSS of this process image.

    VmHWM (/proc/self/status) rather than getrusage().ru_maxrss: Linux keeps ru_maxrss across
    execve, so a child forked from the bench (which holds moto, ~110 MiB) would report the
    parent's peak instead of its own. ru_maxrss is the fallback off Linux.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def outcome(response) -> int | str | None:
    """HTTP status code, "ok" / "N failed" for a partial batch response (stream and queue
    handlers), or "name N, ..." for a scheduled job's counts (label expiry)."""
    if not isinstance(response, dict):
        return None
    if "statusCode" in response:
        return response["statusCode"]
    if "batchItemFailures" in response:
        failed = len(response["batchItemFailures"])
        return f"{failed} failed" if failed else "ok"
    if response and all(isinstance(v, int) and not isinstance(v, bool) for v in response.values()):
        return ", ".join(f"{name} {count}" for name, count in sorted(response.items()))
    return None


def baseline() -> dict:
    t0 = time.perf_counter()
    import boto3

    boto3.client("dynamodb")
    t1 = time.perf_counter()
    return {"import_ms": (t1 - t0) * 1000, "invoke_ms": 0.0, "total_ms": (t1 - t0) * 1000}


def cold(module: str, attr: str, event_path: str) -> dict:
    with open(event_path, encoding="utf-8") as fh:
        event = json.load(fh)
    t0 = time.perf_counter()
    # __import__ (the `import` statement's C path), not importlib.import_module: only the C path
    # reports to -X importtime, so --why sees the handler module as the root of its tree.
    handler = getattr(__import__(module, fromlist=[attr]), attr)
    t1 = time.perf_counter()
    response = handler(event, LambdaContext())
    t2 = time.perf_counter()
    return {
        "import_ms": (t1 - t0) * 1000,
        "invoke_ms": (t2 - t1) * 1000,
        "total_ms": (t2 - t0) * 1000,
        "status": outcome(response),
        "body": str(response.get("body", response) if isinstance(response, dict) else response)[:500],
    }


def calls(ops_path: str) -> dict:
    """Each op: {"label", "module", "attr", "event"}; returns the AWS calls each one made."""
    import importlib

    import boto3

    recorded: list[dict] = []

    def before_parameter_build(params, context, **_kwargs):
        # The API parameters (before-call only sees the serialised request): keep the resource names.
        names = {
            k: params[k]
            for k in (
                "TableName",
                "IndexName",
                "SecretId",
                "TopicArn",
                "Bucket",
                "Key",
                "Name",
                "QueueUrl",
                "FromEmailAddress",
            )
            if k in params
        }
        if "RequestItems" in params:
            names["TableName"] = sorted(params["RequestItems"])
        if "TransactItems" in params:  # IAM authorizes each item: [["Put", table], ["Update", table], ...]
            names["TransactItems"] = [
                [kind, body.get("TableName")]
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
        context["homeward_bench_params"] = names

    def before_call(model, context, **_kwargs):
        service = model.service_model
        recorded.append(
            {
                "service": service.service_id,
                "iam_prefix": service.signing_name,
                "operation": model.name,
                "params": context.get("homeward_bench_params", {}),
            }
        )

    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-parameter-build", before_parameter_build)
    boto3.DEFAULT_SESSION.events.register("before-call", before_call)

    with open(ops_path, encoding="utf-8") as fh:
        ops = json.load(fh)
    results = []
    for op in ops:
        if op.get("seed"):
            _seed_elsewhere(op["seed"])
        handler = getattr(importlib.import_module(op["module"]), op["attr"])
        recorded.clear()
        t0 = time.perf_counter()
        response = handler(op["event"], LambdaContext())
        elapsed = (time.perf_counter() - t0) * 1000
        results.append(
            {
                "label": op["label"],
                "module": op["module"],
                "status": outcome(response),
                "body": response.get("body") if isinstance(response, dict) else None,
                "ms": elapsed,
                "calls": list(recorded),
            }
        )
    return {"ops": results}


def _seed_elsewhere(spec: dict) -> dict:
    """Run `aged-labels` for `spec` in another child, with this one's environment."""
    import subprocess  # here, not at the top: `cold` must not preload what a handler imports
    import tempfile

    with tempfile.TemporaryDirectory(prefix="homeward-seed-") as tmp:
        spec_path, out = os.path.join(tmp, "spec.json"), os.path.join(tmp, "out.json")
        with open(spec_path, "w", encoding="utf-8") as fh:
            json.dump(spec, fh)
        proc = subprocess.run(
            [sys.executable, os.path.abspath(__file__), "aged-labels", spec_path, out],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"seeding {spec} failed:\n{proc.stderr[-4000:]}")
        with open(out, encoding="utf-8") as fh:
            return json.load(fh)


def aged_labels(spec_path: str) -> dict:
    """Returns on stored orders, started and labelled `age_days` ago; their RMAs.

    spec: {"returns": [{"order_id", "lines", "age_days"}]}. Each return must be approved by the
    policy and get its label ("issued"), or this fails: the expiry run would measure nothing.
    """
    from datetime import UTC, datetime, timedelta

    from homeward.adapters.aws import client
    from homeward.adapters.dynamodb.returns import LabelClaims, ReturnsTable
    from homeward.adapters.policy import bundled_policy
    from homeward.adapters.storage import LabelFiles
    from homeward.domain.labels import service as labels
    from homeward.domain.returns import service as return_service
    from homeward.domain.returns.states import Actor
    from homeward.models.returns import ReturnRequest
    from homeward.providers.sandbox.carrier import SandboxCarrier

    with open(spec_path, encoding="utf-8") as fh:
        spec = json.load(fh)
    table, policy = os.environ["TABLE_NAME"], bundled_policy()
    returns_table = ReturnsTable(client("dynamodb"), table)
    claims, files = LabelClaims(client("dynamodb"), table), LabelFiles(os.environ["LABELS_BUCKET"])
    rmas = []
    for item in spec["returns"]:
        then = datetime.now(UTC) - timedelta(days=item["age_days"])
        record, _, _ = return_service.start_return(
            item["order_id"],
            ReturnRequest.model_validate({"lines": item["lines"]}),
            idempotency_key=None,
            store=returns_table,
            policy=policy,
            filed_by=Actor.SHOPPER,
            actor_id=None,
            now=then,
        )
        if record.status != "approved":
            raise RuntimeError(f"aged return on {item['order_id']}: {record.status}, expected approved")
        carrier = SandboxCarrier(now=lambda then=then: then)
        outcome = labels.issue_label(
            record.rma, store=claims, carrier=carrier, files=files, policy=policy, now=then
        )
        if outcome != "issued":
            raise RuntimeError(f"aged label for {record.rma}: {outcome}, expected issued")
        rmas.append(record.rma)
    return {"rmas": rmas}


def main(argv: list[str]) -> int:
    mode, *args = argv
    out = args.pop()
    if mode == "baseline":
        result = baseline()
    elif mode == "cold":
        result = cold(*args)
    elif mode == "calls":
        result = calls(*args)
    elif mode == "aged-labels":
        result = aged_labels(*args)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    result["max_rss_kib"] = _max_rss_kib()
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
