"""Refunds: AWS calls and DynamoDB capacity per refund on each main path, and the fault suite.

(a) Per refund, on the bench stack (ledger provider, as the local stack refunds): the AWS calls
and the DynamoDB write and read capacity units of

    automatic          RefundsFunction on `return.delivered`: plan, send to the provider, record
    sweep              RefundSweepFunction settling one pending refund (read back from the provider)
    stripe webhook     PaymentWebhooksFunction applying a signed Stripe `refund.updated`
    manual             OpsApiFunction POST /ops/returns/{rma}/refunds, then RefundsFunction sending
                       it on its `refund.requested`

A card refund's whole life is `automatic` and then `sweep` or `stripe webhook` (it settles later).
The data comes from infra/bench/refunds.py; the handlers run in one child interpreter (after a
warm-up call of each function, so no secret read or first-use cost is counted) that records
every call's request with a botocore hook on boto3's default session, and, through a client
of its own that records nothing, every written item as it was before and after the call.

Capacity is computed from those items as DynamoDB bills on-demand tables:

* item size: the sum of the attribute names' lengths and the values' sizes (a string its UTF-8
  bytes, a number 1 byte per two significant digits + 1, binary its bytes, a boolean or null 1,
  a list or map 3 + 1 per element + the elements (and their names), a set its elements);
* a write costs 1 WCU per KB (rounded up, per item) of the larger of the item before and after
  (a Put: the item it writes or the one it replaces), a delete the item deleted; in
  TransactWriteItems every item costs twice that; a conditional write whose condition fails (or
  a cancelled transaction) still costs what it would have written;
* a read costs 1 RCU per 4 KB (rounded up) - per item for GetItem and BatchGetItem, of all items
  returned together for a Query (its index entries for a Query on an index) - halved when
  eventually consistent; an absent item still costs the minimum.

(b) The fault suite: `infra.bench.refund_faults.run(n, seed=...)`, randomized fault schedules
against the refund code (see that module), in a child process: it starts moto's in-process
mock, which resets moto's backends - the bench stack's server runs in this process on the same
backends - and patches moto's responses. Any anomaly fails the section (RuntimeError, after
the report is printed); the seed is printed to reproduce it.
"""

from __future__ import annotations

import json
import math
import os
import random
import subprocess
import sys
import tempfile
from collections import Counter
from decimal import Decimal
from pathlib import Path

from infra.bench import stats
from infra.bench.refunds import (
    MANUAL_REFUND,
    OPS_API,
    PAYMENT_WEBHOOKS,
    REFUND_SWEEP,
    REFUNDS,
    SWEEP_ENV,
    check_sweep_takes_only,
    ops_export_event,
    ops_refund_event,
    refund_message,
    seed_refunds,
    stripe_webhook,
    sweep_event,
)
from infra.bench.returns import run_tag
from infra.bench.sections.aws_calls import (
    MANUAL_REFUND_CALLS,
    REFUND_SEND_RESERVED,
    REFUND_TRIGGER_CALLS,
    SWEEP_SETTLES_ONE,
    WEBHOOK_APPLIED_CALLS,
)
from infra.bench.stack import FUNCTIONS_DIR, BenchStack, function_by_module, op
from infra.template import ROOT

NAME = "refunds"
TITLE = "Refunds: AWS calls and DynamoDB capacity per refund; the fault suite"
ORDER = 25

WRITE_UNIT, READ_UNIT = 1024, 4096
# The calls each path must make (a regression in their number fails the section): warm, with the
# ledger provider - the aws_calls section's pins for the same operations.
AUTOMATIC = "automatic (planned + sent)"
SWEEP = "settled by the sweep"
WEBHOOK = "applied by a Stripe webhook"
MANUAL = "manual (by hand + sent)"
PATH_CALLS = {
    AUTOMATIC: REFUND_TRIGGER_CALLS,
    SWEEP: SWEEP_SETTLES_ONE,
    WEBHOOK: WEBHOOK_APPLIED_CALLS,
    MANUAL: dict(Counter(MANUAL_REFUND_CALLS) + Counter(REFUND_SEND_RESERVED)),
}
# The path whose written items are kept in the results (tests/infra/test_bench_refunds.py sizes
# them again on its own).
EVIDENCE = WEBHOOK


def add_arguments(parser) -> None:
    group = parser.add_argument_group("refunds")
    group.add_argument(
        "--fault-schedules",
        type=int,
        default=1000,
        help="fault schedules run by the refund fault suite (default %(default)s)",
    )
    group.add_argument(
        "--fault-seed", type=int, default=None, help="the suite's seed (default: a new one, printed)"
    )


# ---- item sizes and capacity units ----------------------------------------------------------------


def _number_size(text: str) -> int:
    """1 byte per two significant digits (leading and trailing zeros trimmed), plus 1."""
    number = Decimal(text)
    digits = len(number.normalize().as_tuple().digits) if number else 0
    return math.ceil(digits / 2) + 1


def value_size(value: dict) -> int:
    """The size DynamoDB counts for one attribute value (AttributeValue JSON)."""
    ((kind, raw),) = value.items()
    if kind == "S":
        return len(raw.encode())
    if kind == "N":
        return _number_size(raw)
    if kind == "B":
        return len(raw)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in raw)
    if kind == "NS":
        return sum(_number_size(n) for n in raw)
    if kind == "BS":
        return sum(len(b) for b in raw)
    if kind == "L":
        return 3 + sum(1 + value_size(v) for v in raw)
    if kind == "M":
        return 3 + sum(1 + len(k.encode()) + value_size(v) for k, v in raw.items())
    raise ValueError(f"unknown attribute type {kind}")


def item_size(item: dict | None) -> int:
    """An item's size: attribute names plus values (0 for no item)."""
    return sum(len(name.encode()) + value_size(v) for name, v in (item or {}).items())


def write_units(request: int | None, before: int | None, after: int | None, *, transactional: bool) -> int:
    """WCU of one item written: 1 per KB of the larger of before and after (and what was sent)."""
    size = max(x or 0 for x in (request, before, after))
    return max(1, math.ceil(size / WRITE_UNIT)) * (2 if transactional else 1)


def read_units(sizes: list[int], *, consistent: bool, per_item: bool) -> float:
    """RCU of one read: 1 per 4 KB (per item, or of all items together for a Query)."""
    factor = 1.0 if consistent else 0.5
    if per_item:
        return sum(max(1, math.ceil(s / READ_UNIT)) for s in sizes) * factor
    return max(1, math.ceil(sum(sizes) / READ_UNIT)) * factor


# ---- the capture child ------------------------------------------------------------------------------


def _keys(operation: str, params: dict) -> list[tuple[str, str, dict, dict | None]]:
    """(kind, table, key, item sent) of every item a write touches."""

    def key_of(item: dict) -> dict:
        return {k: item[k] for k in ("pk", "sk") if k in item}

    if operation == "PutItem":
        return [("Put", params["TableName"], key_of(params["Item"]), params["Item"])]
    if operation in ("UpdateItem", "DeleteItem"):
        return [(operation.removesuffix("Item"), params["TableName"], params["Key"], None)]
    if operation == "TransactWriteItems":
        found = []
        for entry in params["TransactItems"]:
            ((kind, body),) = entry.items()
            item = body.get("Item")
            found.append((kind, body["TableName"], key_of(item) if item else body["Key"], item))
        return found
    return []


def capture(ops_path: str, out_path: str) -> None:
    """Child: run the ops in order; per op, every call with its items' sizes (see the docstring)."""
    import copy
    import importlib

    import boto3

    from infra.bench.child import LambdaContext, outcome

    plain = boto3.session.Session().client("dynamodb")  # its own events: never recorded
    calls: list[dict] = []

    def image(table: str, key: dict) -> dict | None:
        return plain.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")

    def before_parameter_build(params, context, **_kwargs):
        context["refund_bench_params"] = copy.deepcopy(params)

    def before_call(model, context, **_kwargs):
        params = context.get("refund_bench_params", {})
        entry = {"service": model.service_model.service_id, "operation": model.name, "params": params}
        if model.service_model.service_name == "dynamodb":
            entry["targets"] = [
                {"kind": kind, "table": table, "key": key, "sent": sent, "before": image(table, key)}
                for kind, table, key, sent in _keys(model.name, params)
            ]
        context["refund_bench_entry"] = entry
        calls.append(entry)

    def after_call(parsed, context, **_kwargs):
        entry = context.get("refund_bench_entry")
        if entry is None:
            return
        entry["error"] = (parsed.get("Error") or {}).get("Code")
        entry["parsed"] = parsed
        for target in entry.get("targets", []):
            target["after"] = image(target["table"], target["key"])

    boto3.setup_default_session()
    boto3.DEFAULT_SESSION.events.register("before-parameter-build", before_parameter_build)
    boto3.DEFAULT_SESSION.events.register("before-call", before_call)
    boto3.DEFAULT_SESSION.events.register("after-call", after_call)

    with open(ops_path, encoding="utf-8") as fh:
        ops = json.load(fh)
    results = []
    for o in ops:
        handler = getattr(importlib.import_module(o["module"]), o["attr"])
        calls.clear()
        response = handler(o["event"], LambdaContext())
        results.append(
            {
                "label": o["label"],
                "function": o["function"],
                "status": outcome(response),
                "body": response.get("body") if isinstance(response, dict) else None,
                "calls": [_summarize(c, keep_items=o.get("evidence", False)) for c in calls],
            }
        )
    with open(out_path, "w", encoding="utf-8") as fh:
        json.dump({"ops": results}, fh)


def _summarize(call: dict, *, keep_items: bool) -> dict:
    """One recorded call: its writes (item sizes, WCU) and reads (item sizes, RCU)."""
    name = f"{call['service']}.{call['operation']}"
    summary: dict = {"api": name, "error": call.get("error")}
    params, parsed, operation = call["params"], call.get("parsed") or {}, call["operation"]
    if call["service"] != "DynamoDB":
        return summary
    transactional = operation == "TransactWriteItems"
    writes = []
    for target in call.get("targets", []):
        sent = item_size(target["sent"]) if target["sent"] is not None else None
        before, after = item_size(target["before"]), item_size(target.get("after"))
        write = {
            "kind": target["kind"],
            "pk": target["key"]["pk"]["S"],
            "sk": target["key"]["sk"]["S"],
            "sent_bytes": sent,
            "before_bytes": before,
            "after_bytes": after,
            "wcu": write_units(sent, before, after, transactional=transactional),
            "transactional": transactional,
        }
        if keep_items:
            write["items"] = {
                "sent": target["sent"],
                "before": target["before"],
                "after": target.get("after"),
            }
        writes.append(write)
    summary["writes"] = writes
    summary["wcu"] = sum(w["wcu"] for w in writes)
    if operation == "GetItem":
        sizes = [item_size(parsed.get("Item"))]
        summary["rcu"] = read_units(sizes, consistent=bool(params.get("ConsistentRead")), per_item=True)
    elif operation == "Query":
        sizes = [item_size(i) for i in parsed.get("Items", [])]
        summary["rcu"] = read_units(sizes, consistent=bool(params.get("ConsistentRead")), per_item=False)
        summary["index"] = params.get("IndexName")
    elif operation == "BatchGetItem":
        sizes, rcu = [], 0.0
        for table, request in params["RequestItems"].items():
            found = [item_size(i) for i in parsed.get("Responses", {}).get(table, [])]
            missing = len(request["Keys"]) - len(found)
            sizes += found
            consistent = bool(request.get("ConsistentRead"))
            rcu += read_units(found + [0] * missing, consistent=consistent, per_item=True)
        summary["rcu"] = rcu
    else:
        sizes = []
        summary["rcu"] = 0.0
    summary["read_bytes"] = sizes
    return summary


def _run_capture(stack: BenchStack, ops: list[dict]) -> list[dict]:
    from infra.template import functions

    fns = {fn.logical_id: fn for fn in functions()}
    env = stack.child_env()
    for o in ops:
        env.update(stack.function_env(fns[o["function"]]))
    env.update(SWEEP_ENV)
    env["PYTHONPATH"] = os.pathsep.join([str(FUNCTIONS_DIR), str(ROOT)])
    with tempfile.TemporaryDirectory(prefix="homeward-refunds-") as tmp:
        ops_path, out = Path(tmp) / "ops.json", Path(tmp) / "out.json"
        ops_path.write_text(json.dumps(ops))
        code = (
            "import sys; from infra.bench.sections.refunds import capture; capture(sys.argv[1], sys.argv[2])"
        )
        proc = subprocess.run(
            [sys.executable, "-c", code, str(ops_path), str(out)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"refund capture child failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(out.read_text())["ops"]


# ---- the paths ----------------------------------------------------------------------------------------


def measure_paths(stack: BenchStack) -> dict:
    """Seed one refund per path, run the paths (after a warm-up call per function); per path
    its invocations, calls by API, WCU, RCU and every item written."""
    wanted = dict.fromkeys(("handled", "sent", "failed", "credit", "requested"), 0)
    data = seed_refunds(stack, run_tag(), {**wanted, "due": 1, "not_due": 1, "stripe": 1, "manual": 1})
    check_sweep_takes_only(stack, data["sweep"])
    refunds_fn, sweep_fn = function_by_module(REFUNDS), function_by_module(REFUND_SWEEP)
    webhooks_fn, ops_fn = function_by_module(PAYMENT_WEBHOOKS), function_by_module(OPS_API)
    (due,), (not_due,), (manual,), (stripe,) = data["due"], data["not_due"], data["manual"], data.stripe
    warm_up = [
        op("warm-up: not due", refunds_fn, refund_message(not_due, "return.approved", 2)),
        op("warm-up: bad signature", webhooks_fn, stripe_webhook(stripe.body, secret="whsec_not_it")),
        op("warm-up: export", ops_fn, ops_export_event(stack, data.day, data.day)),
    ]
    steps = {
        AUTOMATIC: [op("return.delivered", refunds_fn, refund_message(due, "return.delivered", 4))],
        SWEEP: [op("sweep", sweep_fn, sweep_event())],
        WEBHOOK: [op("refund.updated", webhooks_fn, stripe_webhook(stripe.body))],
        MANUAL: [
            op(
                "POST refunds",
                ops_fn,
                ops_refund_event(stack, manual.rma, MANUAL_REFUND, f"bench-{data.tag}-measured"),
            ),
            op("refund.requested", refunds_fn, refund_message(manual, "refund.requested", 3)),
        ],
    }
    for o in steps[EVIDENCE]:
        o["evidence"] = True  # its items are kept with their sizes
    expected = {
        "warm-up: not due": "ok",
        "warm-up: bad signature": 401,
        "warm-up: export": 200,
        "return.delivered": "ok",
        "sweep": "returns 1, succeeded 1",
        "refund.updated": 200,
        "POST refunds": 202,
        "refund.requested": "ok",
    }
    results = _run_capture(stack, warm_up + [o for path in steps.values() for o in path])
    for result in results:
        if result["status"] != expected[result["label"]]:
            raise RuntimeError(f"refunds: {result['label']}: {result['status']} {str(result['body'])[:500]}")
    by_label = {r["label"]: r for r in results}
    paths = {}
    for name, path_ops in steps.items():
        ran = [by_label[o["label"]] for o in path_ops]
        calls = [c for r in ran for c in r["calls"]]
        paths[name] = {
            "invocations": [f"{r['function']}: {r['label']}" for r in ran],
            "calls": len(calls),
            "by_api": dict(Counter(c["api"] for c in calls)),
            "wcu": sum(c.get("wcu", 0) for c in calls),
            "rcu": sum(c.get("rcu", 0.0) for c in calls),
            "writes": [{"api": c["api"], **w} for c in calls for w in c.get("writes", [])],
            "reads": [
                {"api": c["api"], "index": c.get("index"), "bytes": c["read_bytes"], "rcu": c["rcu"]}
                for c in calls
                if c.get("rcu")
            ],
        }
    paths[WEBHOOK]["status"] = json.loads(by_label["refund.updated"]["body"])["status"]
    return {"table": stack.table_name, "paths": paths}


# ---- the fault suite -----------------------------------------------------------------------------------


def fault_suite(n: int, seed: int) -> dict:
    """`refund_faults.run(n, seed=seed)` in a child interpreter (see the module docstring)."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    env["PYTHONPATH"] = os.pathsep.join([str(FUNCTIONS_DIR), str(ROOT)])
    env.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    code = (
        "import json, sys\n"
        "from infra.bench.refund_faults import run\n"
        "result = run(int(sys.argv[1]), seed=int(sys.argv[2]))\n"
        "open(sys.argv[3], 'w', encoding='utf-8').write(json.dumps(result))\n"
    )
    with tempfile.TemporaryDirectory(prefix="homeward-faults-") as tmp:
        out = Path(tmp) / "faults.json"
        proc = subprocess.run(
            [sys.executable, "-c", code, str(n), str(seed), str(out)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,  # the refund code logs there
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"refund fault suite failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        return json.loads(out.read_text())


# ---- section -------------------------------------------------------------------------------------------


def run(ctx) -> dict:
    args = ctx.args
    seed = args.fault_seed if args.fault_seed is not None else random.randrange(2**31)
    measured = measure_paths(ctx.stack())
    faults = fault_suite(args.fault_schedules, seed)
    errors = []
    for name, calls in PATH_CALLS.items():
        if measured["paths"][name]["by_api"] != calls:
            errors.append(f"{name}: calls {measured['paths'][name]['by_api']}, expected {calls}")
    if measured["paths"][WEBHOOK]["status"] != "applied":
        errors.append(f"{WEBHOOK}: the webhook was {measured['paths'][WEBHOOK]['status']}, not applied")
    if faults["anomalies"]:
        errors.append(
            f"fault suite: {faults['anomalies']} of {faults['schedules']} schedules found anomalies "
            f"(reproduce: python -m infra.bench.refund_faults -n {args.fault_schedules} --seed {seed})"
        )
    if faults["schedules"] != args.fault_schedules:
        errors.append(f"fault suite: ran {faults['schedules']} schedules, not {args.fault_schedules}")
    data = {**measured, "faults": faults, "fault_seed": seed, "errors": errors}
    if errors:
        print(render(data), flush=True)
        raise RuntimeError("refunds: " + "; ".join(errors))
    return data


def _describe_writes(writes: list[dict]) -> str:
    parts = []
    for w in writes:
        size = max(w["sent_bytes"] or 0, w["before_bytes"], w["after_bytes"])
        entity = w["pk"].split("#", 1)[0]
        if (sk := w["sk"].split("#", 1)[0]).isalpha() and sk.isupper():  # RETURN/EVENT, ORDER/PAYMENT
            entity += f"/{sk}"
        parts.append(f"{w['kind']} {entity} {size} B -> {w['wcu']}")
    return ", ".join(parts)


def render(data: dict) -> str:
    rows = []
    for name, path in data["paths"].items():
        rows.append(
            [
                name,
                " + ".join(path["invocations"]),
                path["calls"],
                ", ".join(f"{k.removeprefix('DynamoDB.')} x{v}" for k, v in sorted(path["by_api"].items())),
                path["wcu"],
                f"{path['rcu']:g}",
            ]
        )
    lines = [
        stats.table(["path (per refund)", "invocations", "calls", "by API", "WCU", "RCU"], rows, "llrlrr"),
        "",
        "Items written (kind entity largest-size -> WCU; transactions cost 2 per KB):",
    ]
    for name, path in data["paths"].items():
        lines.append(f"  {name}: {_describe_writes(path['writes'])}")
    paths = data["paths"]
    if AUTOMATIC in paths and WEBHOOK in paths and SWEEP in paths:
        lines.append(
            "A card refund end to end: {} WCU with a Stripe webhook settling it, {} with the sweep.".format(
                paths[AUTOMATIC]["wcu"] + paths[WEBHOOK]["wcu"], paths[AUTOMATIC]["wcu"] + paths[SWEEP]["wcu"]
            )
        )
    lines.append(
        "Warm calls, ledger provider, bundled policy; WCU/RCU computed from the items (on-demand rules, "
        "see the section's docstring), not reported by moto."
    )
    faults = data.get("faults")
    if faults:
        injected = ", ".join(f"{k} {v}" for k, v in sorted(faults["faults_injected"].items()) if v)
        lines += [
            "",
            f"Fault suite (seed {data['fault_seed']}): {faults['schedules']} schedules, "
            f"{faults['anomalies']} with anomalies, {faults['provider_refunds']} provider refunds, "
            f"{faults['seconds']} s",
            f"  faults injected: {injected or '(none)'}",
        ]
        lines += [f"  anomaly: {example}" for example in faults.get("examples", [])]
    lines += [f"ERROR: {e}" for e in data.get("errors", [])]
    return "\n".join(lines)
