"""Cold start of every function: import + first invocation in a fresh interpreter, vs bare boto3.

For each function in template.yaml and each of its sample events (events/<module>.<scenario>.json),
a new interpreter imports the handler module and invokes it once against the bench's moto
server (DynamoDB, Secrets Manager and SNS calls go over HTTP, as in Lambda). The baseline child
runs `import boto3; boto3.client("dynamodb")` - what any Python function with the SDK pays.

Every run must succeed (2xx; "ok" for the stream and queue handlers: no failed record; the
label expiry job must expire its one label), or the section stops: a cold start that ends in
a 404 measures less work than the real one. So the data each run needs is seeded first
(`ColdStartData`): the portal scenarios use an order delivered days ago (with a return on it),
each start-return run a new order and Idempotency-Key, each ops approve run its own return
waiting for review, each receive run its own approved return. Each LabelsFunction run gets
its own approved return (an order with a shipping address), so its first call really buys
from the sandbox carrier and renders and stores the PDF, PNG and ZPL - checked after the run
(return `label_issued`, three files in the labels bucket); its "1st call" column is thus mostly
label rendering (reportlab, Pillow and segno are imported lazily, on that first label), while
"import" is the handler module alone. Each LabelExpiryFunction run gets one label bought
`expiry_days + 1` days ago (29 with the bundled policy; written just before the run), which it
must void and expire. Each NotificationsFunction run gets an event of its sample's type not told
yet (a label issued, a refund issued to a shopper who opted in to SMS), made by the real code
(infra/bench/notifications.py); after the run its sent-once records must say the email (and for
the refund the SMS) went out.

Runs are interleaved - one warm-up round, then per round the baseline and every scenario,
in an order rotated each round - so machine noise spreads evenly; medians are reported.
Peak RSS is the child's own high-water mark (VmHWM; see child.py on ru_maxrss).

`--no-pyc` makes children compile every module from source (empty PYTHONPYCACHEPREFIX): the
Lambda artifact from `make build` ships no .pyc and /var/task is read-only, so this is closer
to the real first start. `--why FUNCTION` prints a `-X importtime` breakdown.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.bench import stats
from infra.bench.notifications import (
    PURPOSE_BY_TYPE,
    NotificationSeed,
    delivery_problem,
    notification_message,
    seed_notifications,
)
from infra.bench.refunds import (
    MANUAL_REFUND,
    PURPOSES,
    SWEEP_ENV,
    RefundSeed,
    credit_event,
    ops_exchange_event,
    ops_export_event,
    ops_refund_event,
    ops_retry_event,
    redeem_event,
    refund_message,
    seed_refunds,
    stripe_webhook,
    sweep_event,
)
from infra.bench.returns import (
    TOO_SMALL,
    SeedReturn,
    aged_label_seed,
    aged_order_for,
    damaged_line,
    label_message,
    order_for,
    run_tag,
    seed,
    seed_aged_labels,
    with_path_params,
)
from infra.bench.stack import (
    BenchStack,
    event_names,
    load_event,
    run_child,
    with_order_id,
)
from infra.template import FunctionSpec, functions

NAME = "cold_start"
TITLE = "Cold start: import + first invocation, fresh interpreter per run"
ORDER = 10
GOAL_RATIO = 1.3
BASELINE = "baseline"
EXPECTED_STATUS = {200, 201, 202, "ok"}  # "ok": a stream / queue batch with no failed record
# Scheduled jobs answer with counts: the expiry run must have expired the one label seeded for it.
EXPECTED_BY_EVENT = {
    "label_expiry.hourly": "expired 1, reminded 0",
    "shipment_watch.hourly": "busy 0, delayed 0, redriven 0",
    # Run with SWEEP_ENV: nothing the other scenarios leave open is old enough for it.
    "refund_sweep.scheduled": "returns 0",
}
LABEL_FORMATS = ("pdf", "png", "zpl")
GIFT_CODE = json.loads(load_event("portal_api.gift_session")["body"])["gift_code"]


def is_success(event: str | None, status) -> bool:
    expected = EXPECTED_BY_EVENT.get(event or "")
    return status == expected if expected else status in EXPECTED_STATUS


def add_arguments(parser) -> None:
    group = parser.add_argument_group("cold start")
    group.add_argument(
        "--runs", type=int, default=7, help="measured rounds (default 7; one warm-up round extra)"
    )
    group.add_argument(
        "--no-pyc", action="store_true", help="children compile from source, as the artifact ships no .pyc"
    )
    group.add_argument(
        "--why",
        metavar="FUNCTION[:scenario]",
        help="-X importtime breakdown of one function's cold start, then exit",
    )
    group.add_argument("--top", type=int, default=20, help="rows in the --why breakdown")
    group.add_argument("--function", help="only these functions (comma-separated logical ids)")


def result_key(args) -> str:
    """--no-pyc results are kept beside the normal ones in latest.json, not over them."""
    return f"{NAME}_no_pyc" if args.no_pyc else NAME


@dataclass
class Scenario:
    fn: FunctionSpec | None  # None: the boto3 baseline
    event: str | None = None

    @property
    def label(self) -> str:
        if self.fn is None:
            return BASELINE
        return f"{self.fn.logical_id} {self.event.split('.', 1)[1] if self.event else '(import only)'}"


def scenarios(only: str | None = None) -> list[Scenario]:
    wanted = set(only.split(",")) if only else None
    result = []
    for fn in functions():
        if wanted is not None and fn.logical_id not in wanted:
            continue
        names = event_names(fn.module)
        result.extend(Scenario(fn, name) for name in names) if names else result.append(Scenario(fn))
    return result


@dataclass
class ColdStartData:
    """Seeded data, so that each run of each scenario is a success doing the real work.

    read_order: the portal scenarios' order (eligibility, photos, list): delivered days ago,
    one return on it. fresh_orders / in_review / approved / to_label / aged_orders: one per
    run, used up as runs go - a new order for each start-return run, a needs_review return for
    each ops approve, an approved return for each receive, an approved return (rma, order id)
    for each LabelsFunction run to buy a label for, an order delivered weeks ago for each
    LabelExpiryFunction run (its old label is written just before that run).
    """

    read_order: str
    fresh_orders: list[str]
    in_review: list[str]
    approved: list[str]
    to_label: list[tuple[str, str]]
    aged_orders: list[str]
    refunds: RefundSeed | None = None
    notifications: NotificationSeed | None = None

    @classmethod
    def seed(cls, stack: BenchStack, uses: int) -> ColdStartData:
        """Everything for `uses` runs of each scenario, in one child (a few seconds)."""
        # The portal sign-in and order view scenarios use this sample; the gift sign-in
        # (events/portal_api.gift_session.json) its gift receipt code, as the demo order has.
        sample = json.loads(load_event("merchant_api.put_order")["body"])
        stack.seed_order("ord_1001", {**sample, "gift_receipt_code": GIFT_CODE})
        tag = run_tag()
        orders = {}

        def order(purpose: str, tees: int = 2) -> str:
            order_id, body = order_for(tag, purpose, tee_quantity=tees)
            orders[order_id] = body
            return order_id

        read = order("read")
        fresh = [order(f"new-{i}") for i in range(uses)]
        review = order("review", tees=uses + 1)
        returns = [SeedReturn(read, [TOO_SMALL])]
        returns += [SeedReturn(review, [damaged_line(review)], expect="needs_review") for _ in range(uses)]
        approved = [SeedReturn(order(f"approved-{i}"), [TOO_SMALL]) for i in range(uses)]
        to_label = [SeedReturn(order(f"label-{i}"), [TOO_SMALL]) for i in range(uses)]
        aged = []
        for i in range(uses):
            order_id, body = aged_order_for(tag, f"aged-{i}", "expire")
            orders[order_id] = body
            aged.append(order_id)
        seed(stack, orders, returns + approved + to_label)
        # The refund scenarios' returns: one per run, each in the state its event needs.
        per_run = ("due", "stripe", "manual", "failed", "exchange")
        wanted = {purpose: 0 for purpose in PURPOSES} | dict.fromkeys(per_run, uses) | {"credit": 1}
        # The notification scenarios' events: one per run, each not told yet (a label issued, a
        # refund issued to a shopper who opted in to SMS: infra/bench/notifications.py).
        told = {"label": uses, "refund": uses, "duplicate": 0, "parcel": 0}
        return cls(
            read,
            fresh,
            [r.rma for r in returns[1:]],
            [r.rma for r in approved],
            [(r.rma, r.order_id) for r in to_label],
            aged,
            seed_refunds(stack, tag, wanted),
            seed_notifications(stack, tag, told),
        )

    def take(self, pool: list, what: str):
        if not pool:
            raise RuntimeError(f"cold start: no seeded {what} left (seed more uses)")
        return pool.pop()


def scenario_event(stack: BenchStack, name: str, data: ColdStartData) -> tuple[dict, Callable | None]:
    """The sample event `name`, pointed at data that makes this run a success, and a check of
    the run's effect where its status alone cannot tell (None: the status is enough)."""
    event = load_event(name)
    if name.startswith("labels."):  # an SQS record of the sample's type, for a return of its own
        rma, order_id = data.take(data.to_label, "approved return to label")
        (record,) = event["Records"]
        message = label_message(rma, order_id, record["messageAttributes"]["type"]["stringValue"])
        return message, lambda: label_stored(stack, rma)
    if name in REFUND_SCENARIOS:
        return REFUND_SCENARIOS[name](stack, data), None
    if name.startswith("notifications."):  # an event of the sample's type, not told yet
        (record,) = event["Records"]
        purpose = PURPOSE_BY_TYPE[record["messageAttributes"]["type"]["stringValue"]]
        item = data.take(data.notifications[purpose], f"{purpose} event to notify")
        return notification_message(stack, item), lambda: delivery_problem(stack, item, purpose)
    if name.startswith("label_expiry."):  # one label bought long enough ago to expire now
        order_id = data.take(data.aged_orders, "order for an aged label")
        seed_aged_labels(stack, aged_label_seed(order_id, "expire"))
        return event, None
    return _scenario_event(stack, name, event, data), None


def _redeem_one_cent(stack: BenchStack, data: ColdStartData) -> dict:
    refunds = data.refunds
    event = redeem_event(stack, refunds.credit_code, f"cold-{uuid.uuid4().hex}", "#cold-start")
    event["body"] = json.dumps({**json.loads(event["body"]), "amount": 1})  # a balance for every run
    return event


# Refund samples: each run on a return of its own in the state the event needs (infra/bench/refunds.py).
REFUND_SCENARIOS: dict[str, Callable[[BenchStack, ColdStartData], dict]] = {
    "refunds.return_delivered": lambda stack, data: refund_message(
        data.take(data.refunds["due"], "delivered return to refund"), "return.delivered", 4
    ),
    "refund_sweep.scheduled": lambda stack, data: sweep_event(),
    "payment_webhooks.stripe_refund": lambda stack, data: stripe_webhook(
        data.take(data.refunds.stripe, "pending Stripe refund").body
    ),
    "ops_api.refund_by_hand": lambda stack, data: ops_refund_event(
        stack,
        data.take(data.refunds["manual"], "approved return").rma,
        MANUAL_REFUND,
        f"cold-{uuid.uuid4().hex}",
    ),
    "ops_api.retry_refunds": lambda stack, data: ops_retry_event(
        stack, data.take(data.refunds["failed"], "failed refund").rma
    ),
    "ops_api.settle_exchange": lambda stack, data: ops_exchange_event(
        stack, data.take(data.refunds["exchange"], "valued exchange").rma, 100
    ),
    "ops_api.export_refunds": lambda stack, data: ops_export_event(stack, data.refunds.day, data.refunds.day),
    "merchant_api.get_credit": lambda stack, data: credit_event(stack, data.refunds.credit_code),
    "merchant_api.redeem_credit": _redeem_one_cent,
}


def label_stored(stack: BenchStack, rma: str) -> str | None:
    """None if the return is `label_issued` with its three files in the labels bucket, else why not."""
    item = stack.client("dynamodb").get_item(
        TableName=stack.table_name, Key={"pk": {"S": f"RETURN#{rma}"}, "sk": {"S": "RETURN"}}
    )
    status = item.get("Item", {}).get("status", {}).get("S")
    listed = stack.client("s3").list_objects_v2(Bucket=stack.refs["LabelsBucket"], Prefix=f"labels/{rma}/")
    files = sorted(o["Key"].rsplit(".", 1)[-1] for o in listed.get("Contents", []))
    if status != "label_issued" or files != sorted(LABEL_FORMATS):
        return (
            f"return {rma} is {status} with label files {files}, expected label_issued with {LABEL_FORMATS}"
        )
    return None


def _scenario_event(stack: BenchStack, name: str, event: dict, data: ColdStartData) -> dict:
    if name == "merchant_api.put_order":  # a new order id each run: always a create
        return with_order_id(stack.fill_placeholders(event), f"bench-{uuid.uuid4().hex[:12]}")
    if name.startswith("portal_returns."):
        if name == "portal_returns.start_return":  # a new order and key each run: always a create
            order_id = data.take(data.fresh_orders, "order for start_return")
            event["headers"]["idempotency-key"] = f"bench-{uuid.uuid4().hex}"
        else:
            order_id = data.read_order
        return with_path_params(stack.fill_placeholders(event, order_id=order_id), orderId=order_id)
    if name == "ops_api.approve":
        rma = data.take(data.in_review, "return in needs_review")
        return with_path_params(stack.fill_placeholders(event), rma=rma)
    if name == "ops_api.receive":
        rma = data.take(data.approved, "approved return")
        return with_path_params(stack.fill_placeholders(event), rma=rma)
    return stack.fill_placeholders(event)


def prepare_event(
    stack: BenchStack, scenario: Scenario, directory: Path, data: ColdStartData
) -> tuple[Path | None, Callable | None]:
    """Write the scenario's event for one run; (its path, the check of the run's effect)."""
    if scenario.event is None:
        return None, None
    event, check = scenario_event(stack, scenario.event, data)
    path = directory / f"{uuid.uuid4().hex}.json"
    path.write_text(json.dumps(event))
    return path, check


def child_env(stack: BenchStack, scenario: Scenario, no_pyc_dir: str | None) -> dict:
    env = stack.child_env(scenario.fn)
    if scenario.fn is not None and scenario.fn.module.endswith(".refund_sweep"):
        env.update(SWEEP_ENV)
    if no_pyc_dir:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["PYTHONPYCACHEPREFIX"] = no_pyc_dir  # stays empty: every import compiles from source
    return env


def run_once(
    stack: BenchStack, scenario: Scenario, tmp: Path, no_pyc_dir: str | None, data: ColdStartData, extra=()
) -> dict:
    env = child_env(stack, scenario, no_pyc_dir)
    check = None
    started = time.perf_counter()
    if scenario.fn is None:
        result = run_child(["baseline"], env, extra=list(extra))
    elif scenario.event is None:
        result = run_child(
            ["cold", scenario.fn.module, scenario.fn.attribute, _empty_event(tmp)], env, extra=list(extra)
        )
    else:
        event_path, check = prepare_event(stack, scenario, tmp, data)
        started = time.perf_counter()  # wall time of the child only, not of any seeding
        result = run_child(
            ["cold", scenario.fn.module, scenario.fn.attribute, str(event_path)], env, extra=list(extra)
        )
    result["wall_ms"] = (time.perf_counter() - started) * 1000
    if scenario.event is not None and not is_success(scenario.event, result.get("status")):
        raise RuntimeError(
            f"cold start {scenario.label}: {result.get('status')} is not a success, so this run "
            f"would measure an error path: {result.get('body')}"
        )
    if check is not None and (problem := check()):
        raise RuntimeError(f"cold start {scenario.label}: the run did not do its work: {problem}")
    return result


def _empty_event(tmp: Path) -> str:
    path = tmp / "empty.json"
    path.write_text("{}")
    return str(path)


def run(ctx) -> dict:
    stack = ctx.stack()
    items = [Scenario(None), *scenarios(ctx.args.function)]
    samples: dict[str, list[dict]] = defaultdict(list)
    runs = max(1, ctx.args.runs)
    data = ColdStartData.seed(stack, uses=runs + 1)
    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as tmp_name:
        tmp = Path(tmp_name)
        no_pyc_dir = str(tmp / "empty-pycache") if ctx.args.no_pyc else None
        for round_no in range(runs + 1):  # round 0 warms the page cache and is not recorded
            shift = round_no % len(items)
            for scenario in items[shift:] + items[:shift]:
                result = run_once(stack, scenario, tmp, no_pyc_dir, data)
                if round_no:
                    samples[scenario.label].append(result)
            print(f"  round {round_no}/{runs}{' (warm-up)' if not round_no else ''} done", flush=True)

    base = stats.median([r["total_ms"] for r in samples[BASELINE]])
    rows = {}
    for scenario in items:
        runs_ = samples[scenario.label]
        total = stats.summary([r["total_ms"] for r in runs_])
        statuses = sorted({r.get("status") for r in runs_}, key=str)
        rows[scenario.label] = {
            "function": scenario.fn.logical_id if scenario.fn else None,
            "event": scenario.event,
            "status": statuses[0] if len(statuses) == 1 else statuses,
            "total_ms": total,
            "import_ms": stats.summary([r["import_ms"] for r in runs_]),
            "invoke_ms": stats.summary([r["invoke_ms"] for r in runs_]),
            "wall_ms": stats.summary([r["wall_ms"] for r in runs_]),
            "max_rss_mib": stats.summary([r["max_rss_kib"] / 1024 for r in runs_]),
            "ratio_to_baseline": total["median"] / base,
        }
    return {
        "runs": runs,
        "no_pyc": bool(ctx.args.no_pyc),
        "goal_ratio": GOAL_RATIO,
        "baseline": "import boto3; boto3.client('dynamodb')",
        "scenarios": rows,
    }


def render(data: dict) -> str:
    headers = [
        "scenario",
        "status",
        "median ms",
        "p25-p75",
        "x base",
        "import",
        "1st call",
        "RSS MiB",
        "goal",
    ]
    rows, unhappy = [], []
    for label, row in data["scenarios"].items():
        status = row.get("status")
        if label != BASELINE and status is not None and not is_success(row.get("event"), status):
            unhappy.append(f"{label} ({status})")
        total = row["total_ms"]
        ratio = row["ratio_to_baseline"]
        goal = "" if label == BASELINE else ("ok" if ratio <= data["goal_ratio"] else "OVER")
        rows.append(
            [
                label,
                "-" if status is None else status,
                f"{total['median']:.0f}",
                f"{total['p25']:.0f}-{total['p75']:.0f}",
                f"{ratio:.2f}",
                f"{row['import_ms']['median']:.0f}",
                f"{row['invoke_ms']['median']:.0f}",
                f"{row['max_rss_mib']['median']:.1f}",
                goal,
            ]
        )
    notes = (
        f"{data['runs']} interleaved runs each; ms = import + first invocation inside the child "
        f"(interpreter start excluded); goal <= {data['goal_ratio']}x the baseline "
        f"({data['baseline']}); {'no .pyc (compiled from source)' if data['no_pyc'] else 'with .pyc caches'}."
    )
    notes += " Status: HTTP, ok = stream / queue batch with no failed record, or the scheduled job's counts."
    if any(row.get("function") == "LabelsFunction" for row in data["scenarios"].values()):
        notes += (
            "\nLabelsFunction's 1st call buys a label from the sandbox carrier and renders and stores "
            "it as PDF, PNG and ZPL (reportlab, Pillow and segno are imported then, lazily)."
        )
    if unhappy:  # run_once refuses these; only an old latest.json can hold them
        notes += "\nNot a success path (these measured an error answer): " + ", ".join(unhappy)
    return stats.table(headers, rows) + "\n" + notes


# ---- --why: -X importtime breakdown ----------------------------------------------------------------

WHY_RUNS = 3
_IMPORTTIME = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)\s*$")


def parse_importtime(stderr: str) -> list[dict]:
    """`-X importtime` lines (post-order) -> [{name, self_us, cum_us, depth, parent}], in order."""
    nodes = []
    for line in stderr.splitlines():
        match = _IMPORTTIME.match(line)
        if match:
            self_us, cum_us, indent, name = match.groups()
            nodes.append(
                {
                    "name": name,
                    "self_us": int(self_us),
                    "cum_us": int(cum_us),
                    "depth": (len(indent) - 1) // 2,
                }
            )
    # In post-order, a node's parent is the next node one level shallower.
    for i, node in enumerate(nodes):
        node["parent"] = next((n["name"] for n in nodes[i + 1 :] if n["depth"] < node["depth"]), None)
    return nodes


def _why_runs(stack, scenario, tmp, no_pyc_dir, data, runs=WHY_RUNS) -> list[list[dict]]:
    out = []
    for _ in range(runs):
        result = run_once(stack, scenario, tmp, no_pyc_dir, data, extra=["-X", "importtime"])
        out.append((parse_importtime(result["stderr"]), result))
    return out


def _median_by(nodes_runs, key) -> dict[str, float]:
    values: dict[str, list[int]] = defaultdict(list)
    for nodes in nodes_runs:
        per: dict[str, int] = defaultdict(int)
        for n in nodes:
            per[key(n)] += n["self_us"]
        for k, v in per.items():
            values[k].append(v)
    return {k: stats.median(v + [0] * (len(nodes_runs) - len(v))) for k, v in values.items()}


def standalone(ctx) -> int | None:
    if not ctx.args.why:
        return None
    name, _, event = ctx.args.why.partition(":")  # FUNCTION or FUNCTION:scenario
    matches = [s for s in scenarios(name) if not event or (s.event or "").endswith(f".{event}")]
    if not matches:
        print(f"no function {name!r}; template has: {', '.join(f.logical_id for f in functions())}")
        return 2
    scenario = matches[0]
    stack = ctx.stack()
    data = ColdStartData.seed(stack, uses=WHY_RUNS)
    with tempfile.TemporaryDirectory(prefix="homeward-bench-") as tmp_name:
        tmp = Path(tmp_name)
        no_pyc_dir = str(tmp / "empty-pycache") if ctx.args.no_pyc else None
        fn_runs = _why_runs(stack, scenario, tmp, no_pyc_dir, data)
        base_runs = _why_runs(stack, Scenario(None), tmp, no_pyc_dir, data)
    print(why_report(scenario, fn_runs, base_runs, ctx.args.top))
    return 0


def why_report(scenario, fn_runs, base_runs, top: int) -> str:
    fn_nodes = [nodes for nodes, _ in fn_runs]
    base_nodes = [nodes for nodes, _ in base_runs]
    module = scenario.fn.module
    lines = [f"-X importtime breakdown for {scenario.label} ({module}), median of {len(fn_runs)} runs", ""]
    lines.append(
        "child timings: import {:.0f} ms, first call {:.0f} ms, total {:.0f} ms; "
        "baseline total {:.0f} ms".format(
            stats.median([r["import_ms"] for _, r in fn_runs]),
            stats.median([r["invoke_ms"] for _, r in fn_runs]),
            stats.median([r["total_ms"] for _, r in fn_runs]),
            stats.median([r["total_ms"] for _, r in base_runs]),
        )
    )
    lines.append(
        "(importtime adds its own overhead; compare rows with each other, not with the timings above)\n"
    )

    package = _median_by(fn_nodes, lambda n: n["name"].split(".")[0])
    base_package = _median_by(base_nodes, lambda n: n["name"].split(".")[0])
    rows = sorted(package.items(), key=lambda kv: -kv[1])[:top]
    lines.append("Self time by top-level package (function vs boto3 baseline):")
    lines.append(
        stats.table(
            ["package", "function ms", "baseline ms", "extra ms"],
            [
                [
                    p,
                    f"{v / 1000:.1f}",
                    f"{base_package.get(p, 0) / 1000:.1f}",
                    f"{(v - base_package.get(p, 0)) / 1000:+.1f}",
                ]
                for p, v in rows
            ],
        )
    )
    total_fn = sum(package.values()) / 1000
    total_base = sum(base_package.values()) / 1000
    lines.append(f"all imports: function {total_fn:.0f} ms, baseline {total_base:.0f} ms\n")

    # Cumulative cost of each module as imported (first run's tree, medians over runs by name).
    cum: dict[str, list[int]] = defaultdict(list)
    for nodes in fn_nodes:
        for n in nodes:
            cum[n["name"]].append(n["cum_us"])
    first = fn_nodes[0]
    parent = {n["name"]: n["parent"] for n in first}
    boto_modules = {n["name"] for nodes in base_nodes for n in nodes}
    heavy = sorted(
        (n for n in first if n["name"] not in boto_modules),
        key=lambda n: -stats.median(cum[n["name"]]),
    )
    # keep the most informative rows: skip a module whose parent is already listed with ~the same cost
    shown, listed = [], set()
    for n in heavy:
        c = stats.median(cum[n["name"]])
        p = parent.get(n["name"])
        if p in listed and stats.median(cum.get(p, [0])) - c < 2000:
            continue
        shown.append([n["name"], f"{c / 1000:.1f}", p or "-"])
        listed.add(n["name"])
        if len(shown) >= top:
            break
    lines.append("Heaviest imports not in the boto3 baseline (cumulative ms, importer):")
    lines.append(stats.table(["module", "cum ms", "imported by"], shown, "lrl"))

    handler_index = max((i for i, n in enumerate(first) if n["name"] == module), default=None)
    if handler_index is not None:
        lazy = [n for n in first[handler_index + 1 :] if n["depth"] == 0]
        if lazy:
            lines.append("\nImported during the first invocation (lazy imports, cumulative ms):")
            lines.append(
                stats.table(
                    ["module", "cum ms"],
                    [
                        [n["name"], f"{stats.median(cum[n['name']]) / 1000:.1f}"]
                        for n in sorted(lazy, key=lambda n: -n["cum_us"])[:top]
                    ],
                )
            )
    return "\n".join(lines)
