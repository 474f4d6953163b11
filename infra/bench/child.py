"""Benchmark child: runs in a FRESH interpreter, started by infra.bench by file path.

It must stay cheap to start: stdlib only at module level, so what it times is the handler's
own import and first invocation (or the baseline's `import boto3; boto3.client(...)`).

    python child.py baseline                      OUT
    python child.py cold   MODULE ATTR EVENT.json OUT
    python child.py calls  OPS.json               OUT

`cold` times `import MODULE` and the first `MODULE.ATTR(event, context)`.
`calls` runs a list of handler invocations (in order, in this one process) and records every
AWS API call each one makes, through a botocore `before-call` hook on boto3's default
session, registered before any client exists, with the resource names IAM authorizes it on
(table / index, each item of a transaction, secret, topic, bucket and key, parameter).

The outcome of an invocation is its HTTP `statusCode`; a stream handler (partial batch
response, no status code) reports "ok" when no record failed, else "N failed".

Results are written as JSON to OUT (stdout belongs to the handlers' logs and EMF metrics).
"""

from __future__ import annotations

import json
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
    """HTTP status code, or "ok" / "N failed" for a partial batch response (stream handlers)."""
    if not isinstance(response, dict):
        return None
    if "statusCode" in response:
        return response["statusCode"]
    if "batchItemFailures" in response:
        failed = len(response["batchItemFailures"])
        return f"{failed} failed" if failed else "ok"
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
            for k in ("TableName", "IndexName", "SecretId", "TopicArn", "Bucket", "Key", "Name", "QueueUrl")
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


def main(argv: list[str]) -> int:
    mode, *args = argv
    out = args.pop()
    if mode == "baseline":
        result = baseline()
    elif mode == "cold":
        result = cold(*args)
    elif mode == "calls":
        result = calls(*args)
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    result["max_rss_kib"] = _max_rss_kib()
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
