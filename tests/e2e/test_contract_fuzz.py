"""The API against its OpenAPI document: schemathesis over HTTP, on a local stack of its own.

Every operation of functions/homeward/openapi.json gets generated requests (fixed seed,
bounded examples, valid and invalid data) with the credentials of its route family, so the
fuzzer gets past the gates:
the merchant key on merchant and ops routes; a shopper's portal token, with the path's order
set to that shopper's order, on portal routes; for routes that name a return, half the cases
use a real return. Each response must pass not_a_server_error, status_code_conformance,
content_type_conformance and response_schema_conformance. The run collects every failure
rather than stopping at the first, and prints its figures.

Its own stack: the fuzzer's failed sign-ins would otherwise count against the other e2e tests'.
"""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
OPENAPI = ROOT / "functions" / "homeward" / "openapi.json"
# Cases per operation; ~35 operations. FUZZ_EXAMPLES raises it for a longer local run.
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "15"))
# A free-form path parameter and a raw body read by the handler: nothing for negative generation
# to break (Hypothesis would search in vain); their bad bodies are in tests/integration/test_bad_input.py.
NO_INVALID_DATA = {"/webhooks/{provider}", "/webhooks/payments/{provider}"}
ORDER_ID, ORDER_NUMBER, EMAIL = "ord_fuzz_1", "#F1001", "fuzz.shopper@example.com"


def _call(stack, method: str, path: str, body=None, headers=None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        stack.api_url + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@pytest.fixture(scope="module")
def fuzz_stack():
    from tests.infra.fixtures.local_process import running_stack
    from tests.integration.test_returns_flow import recent_order

    with running_stack() as stack:
        merchant = {"Authorization": f"Bearer {stack.merchant_api_key}"}
        order = recent_order(order_number=ORDER_NUMBER)
        order["customer"]["email"] = EMAIL
        status, _ = _call(stack, "PUT", f"/orders/{ORDER_ID}", order, merchant)
        assert status == 201
        status, session = _call(
            stack, "POST", "/portal/session", {"order_number": ORDER_NUMBER, "email": EMAIL}
        )
        assert status == 200, session
        portal = {"Authorization": f"Bearer {session['token']}"}
        line = {"line_id": "L1", "quantity": 1, "reason": "too_small", "resolution": "refund"}
        status, created = _call(
            stack, "POST", f"/portal/orders/{ORDER_ID}/returns", {"lines": [line]}, portal
        )
        assert status == 201, created
        yield stack, merchant, portal, created["rma"]


def test_every_operation_conforms_to_the_openapi_document(fuzz_stack):
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis.errors import Unsatisfiable
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.core.failures import FailureGroup
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    stack, merchant, portal, rma = fuzz_stack
    checks = [
        not_a_server_error,
        status_code_conformance,
        content_type_conformance,
        response_schema_conformance,
    ]
    schema = schemathesis.openapi.from_path(OPENAPI)
    cases, failures, statuses = Counter(), [], Counter()
    started = time.monotonic()

    def prepare(case, n: int) -> dict:
        path = case.operation.path
        if path.startswith(("/portal/orders/",)):
            headers = portal
            case.path_parameters["orderId"] = ORDER_ID
        elif path.startswith(("/ops/", "/orders/", "/credits/")):
            headers = merchant
        else:
            headers = {}
        if "rma" in (case.path_parameters or {}) and n % 2 == 0:
            case.path_parameters["rma"] = rma
        return headers

    def fuzz(operation, mode) -> None:
        label = f"{operation.method.upper()} {operation.path}"
        counter = iter(range(10**9))

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            headers = prepare(case, next(counter))
            cases[label] += 1
            response = case.call(base_url=stack.api_url, headers=headers, timeout=30)
            statuses[response.status_code] += 1
            try:
                case.validate_response(response, checks=checks)
            except (AssertionError, FailureGroup) as found:  # one Failure, or a group of them
                for failure in getattr(found, "exceptions", None) or [found]:
                    title = getattr(failure, "title", type(failure).__name__)
                    message = " ".join(str(getattr(failure, "message", failure)).split())[:300]
                    failures.append(f"{label} -> {response.status_code}: {title}: {message}")

        try:
            run()
        except Unsatisfiable:
            if mode is GenerationMode.POSITIVE:
                raise
            unfuzzable.append(label)  # nothing of it can be made invalid (no parameters, no body)

    unfuzzable: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        fuzz(operation, GenerationMode.POSITIVE)
        if operation.path not in NO_INVALID_DATA:
            fuzz(operation, GenerationMode.NEGATIVE)
    elapsed = time.monotonic() - started
    summary = (
        f"fuzzer: {sum(cases.values())} cases over {len(operations)} operations in {elapsed:.0f} s; "
        f"statuses {dict(sorted(statuses.items()))}; {len(failures)} failures; "
        f"no invalid data possible for {unfuzzable}"
    )
    print(summary)
    distinct = Counter(failures)
    report = "\n".join(f"{n} x {text}" for text, n in distinct.most_common(60))
    assert not failures, f"{summary} ({len(distinct)} distinct)\n{report}"
