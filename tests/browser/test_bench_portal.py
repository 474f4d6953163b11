"""The portal benchmark's measurement (infra/bench/sections/portal.py) against the session's stack.

Not a timing test: one unthrottled first load proves its hooks still find the sign-in form and
that it counts every response; `render` formats what `run` returns.
"""

from __future__ import annotations

import pytest

from infra.bench.sections import portal as section

pytestmark = pytest.mark.browser


def test_a_first_load_is_measured_and_reported(stack, portal, browser):
    load = section.first_load(browser, portal + "/#/", throttled=False)
    assert 0 < load["usable_ms"] < 30_000
    paths = [r["url"] for r in load["resources"]]
    assert paths[0] == "/" and "/portal/config" in paths
    assert any(p.endswith(".css") for p in paths) and any(p.endswith(".js") for p in paths)
    assert all(r["status"] == 200 and r["raw_bytes"] > 0 for r in load["resources"]), load["resources"]
    gzip_total = sum(r["gzip_bytes"] for r in load["resources"])
    assert gzip_total / 1024 <= section.GOAL_COMPRESSED_KB, f"{gzip_total} bytes compressed"

    series = {
        "usable_ms": {"median": 2000.0, "p25": 1900.0, "p75": 2100.0},
        "html_received_ms": 590.0,
        "dom_content_loaded_ms": 1500.0,
        "wire_bytes": {"median": 35_000},
        "raw_bytes": 80_000,
        "gzip_bytes": gzip_total,
        "resources": load["resources"],
    }
    data = {
        "runs": 1,
        "throttling": {
            "cpu_slowdown": 4,
            "applied_latency_ms": section.LATENCY_MS,
            "applied_down_kbps": section.DOWN_KBPS,
            "applied_up_kbps": section.UP_KBPS,
        },
        "gzip_level": section.GZIP_LEVEL,
        "first_load": series,
        "first_load_unthrottled": series,
        "journey": {
            "api_calls": 2,
            "storage_requests": 1,
            "by_route": {"POST /portal/session": 1, "GET /portal/orders/{id}": 1, "POST S3 photos bucket": 1},
            "steps": "sign in",
        },
        "goal_compressed_kb": 60,
        "goal_usable_ms": 1500,
        "goal_met": {"bytes": True, "usable": False},
    }
    report = section.render(data)
    assert "usable <= 1500 ms: 2000 ms, NOT MET" in report and "2 API calls" in report


def test_journey_routes_are_named_by_their_template():
    assert section._route_of("POST", "/portal/orders/ord_1/returns/preview") == (
        "POST /portal/orders/{id}/returns/preview"
    )
    assert section._route_of("GET", "/portal/orders/ord_1/returns/R-AB/label") == (
        "GET /portal/orders/{id}/returns/{rma}/label"
    )
