"""Shopper portal: first load of the sign-in page on a throttled phone, and API calls of the journey.

A local stack (`python -m infra.local`, demo data, in a subprocess) serves the portal; Debian's
Chromium loads `/#/` in a fresh browser context each run (empty cache) with Chromium's
DevTools emulation of Lighthouse's mobile "slow 4G" profile (150 ms RTT, 1.6 Mbps down, 750 Kbps
up; applied the way Lighthouse applies it with DevTools throttling: 562.5 ms request latency,
1474.56 Kbps down, 675 Kbps up) and 4x CPU throttling (`Emulation.setCPUThrottlingRate`).

* time to usable: from navigation start (`performance.timeOrigin`) until the sign-in form can
  be used - its submit button visible and enabled, its order-number input visible, enabled and
  focusable - checked in the page on every DOM change and every animation frame;
* bytes: every response of the load (until the network is idle): the raw body bytes, each
  body's gzip size (level 6, computed here, whatever the server sent) and what travelled (CDP
  `encodedDataLength`, headers included; the local gateway gzips as CloudFront does);
* the same first load without throttling, for reference (what latency and CPU cost);
* the journey's API calls: Maya (demo order #1001) signs in, opens her order, starts a return of
  two lines with a photo, watches the preview, submits, opens the label (PNG view, PDF download;
  infra/bench/portal_driver.py, the same driver as tests/browser); every request the page makes
  to the API (not the app's own files), by route, counted in the browser, and apart from them the
  presigned S3 requests (photo upload, label files).

Median of `--portal-runs` runs. Goals (issue 12): <= 60 KB compressed in total, usable <= 1.5 s.
"""

from __future__ import annotations

import gzip
import json
import re
import time
import urllib.request
from urllib.parse import urlsplit

from infra.bench import stats
from infra.bench.portal_browser import launch, local_stack_process

NAME = "portal"
TITLE = "Portal: first load of the sign-in page (4x CPU, slow 4G) and the journey's API calls"
ORDER = 70
GOAL_COMPRESSED_KB = 60
GOAL_USABLE_MS = 1500
GZIP_LEVEL = 6
PHONE = {"width": 360, "height": 640}

# Lighthouse's mobile slow 4G, and how it applies it with DevTools throttling (its constants:
# latency x 3.75, throughput x 0.9); CDP takes bytes per second.
SLOW_4G = {"rtt_ms": 150, "down_kbps": 1638.4, "up_kbps": 750}
LATENCY_MS = SLOW_4G["rtt_ms"] * 3.75
DOWN_KBPS = SLOW_4G["down_kbps"] * 0.9
UP_KBPS = SLOW_4G["up_kbps"] * 0.9
CPU_SLOWDOWN = 4
NETWORK = {
    "offline": False,
    "latency": LATENCY_MS,
    "downloadThroughput": int(DOWN_KBPS * 1024 / 8),
    "uploadThroughput": int(UP_KBPS * 1024 / 8),
    "connectionType": "cellular4g",
}

# The sign-in form (web/portal/README.md documents these hooks).
SUBMIT = "#signin-submit"
ORDER_INPUT = "#order-number"

# Runs in the page before its own scripts (DevTools injects it; the page's CSP does not apply):
# records performance.now() the first time the form is usable.
USABLE_WATCH = """
(() => {
  const usable = (el) => el && !el.disabled && !el.closest('[inert],[aria-hidden="true"]')
    && el.checkVisibility({visibilityProperty: true, opacityProperty: true})
    && el.getClientRects().length > 0;
  const check = () => {
    if (window.__hwUsableAt !== undefined) return true;
    const button = document.querySelector(SUBMIT), input = document.querySelector(ORDER_INPUT);
    if (usable(button) && usable(input) && input.tabIndex >= 0) {
      window.__hwUsableAt = performance.now();
      return true;
    }
    return false;
  };
  const frame = () => { if (!check()) requestAnimationFrame(frame); };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, attributes: true});
  requestAnimationFrame(frame);
})();
""".replace("SUBMIT", json.dumps(SUBMIT)).replace("ORDER_INPUT", json.dumps(ORDER_INPUT))


def add_arguments(parser) -> None:
    group = parser.add_argument_group("portal")
    group.add_argument("--portal-runs", type=int, default=5, help="first loads per variant (default 5)")


# ---- one first load -----------------------------------------------------------------------------


def first_load(browser, url: str, *, throttled: bool = True) -> dict:
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        finished: dict[str, int] = {}
        cdp.on(
            "Network.loadingFinished", lambda e: finished.__setitem__(e["requestId"], e["encodedDataLength"])
        )
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        if throttled:
            cdp.send("Network.emulateNetworkConditions", NETWORK)
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_SLOWDOWN})
        page.add_init_script(USABLE_WATCH)
        responses = []
        page.on("response", lambda response: responses.append(response))
        page.goto(url, wait_until="commit", timeout=120_000)
        page.wait_for_function("() => window.__hwUsableAt !== undefined", timeout=120_000, polling=50)
        usable_ms = page.evaluate("window.__hwUsableAt")
        page.wait_for_load_state("networkidle", timeout=120_000)
        timing = page.evaluate(
            """() => {
                const n = performance.getEntriesByType('navigation')[0];
                const spans = {};
                for (const r of performance.getEntriesByType('resource')) {
                    spans[new URL(r.name).pathname] = [r.startTime, r.responseEnd];
                }
                spans['/'] = [0, n.responseEnd];
                return {html: n.responseEnd, dcl: n.domContentLoadedEventEnd, spans};
            }"""
        )
        resources = []
        for response in responses:
            try:
                body = response.body()
            except Exception:  # a redirect or an aborted request has no body
                body = b""
            path = urlsplit(response.url).path
            start, end = timing["spans"].get(path, [None, None])
            resources.append(
                {
                    "url": path,
                    "start_ms": start,
                    "end_ms": end,
                    "status": response.status,
                    "type": (response.headers.get("content-type") or "").split(";")[0],
                    "encoding": response.headers.get("content-encoding"),
                    "raw_bytes": len(body),
                    "gzip_bytes": len(gzip.compress(body, GZIP_LEVEL)) if body else 0,
                }
            )
        wire = sum(finished.values())
        cdp.detach()
        return {
            "usable_ms": usable_ms,
            "html_received_ms": timing["html"],
            "dom_content_loaded_ms": timing["dcl"],
            "resources": resources,
            "wire_bytes": wire,
        }
    finally:
        context.close()


def _load_series(browser, url: str, runs: int, label: str, *, throttled: bool = True) -> dict:
    first_load(browser, url, throttled=throttled)  # warm-up: the stack's first invocations, page cache
    results = []
    for i in range(runs):
        results.append(first_load(browser, url, throttled=throttled))
        print(f"  {label} {i + 1}/{runs}: usable after {results[-1]['usable_ms']:.0f} ms", flush=True)
    resources = results[-1]["resources"]
    return {
        "usable_ms": stats.summary([r["usable_ms"] for r in results]),
        "html_received_ms": stats.median([r["html_received_ms"] for r in results]),
        "dom_content_loaded_ms": stats.median([r["dom_content_loaded_ms"] for r in results]),
        "wire_bytes": stats.summary([r["wire_bytes"] for r in results]),
        "requests": len(resources),
        "raw_bytes": sum(r["raw_bytes"] for r in resources),
        "gzip_bytes": sum(r["gzip_bytes"] for r in resources),
        "resources": resources,
    }


# ---- the journey's API calls --------------------------------------------------------------------


def _route_of(method: str, path: str) -> str:
    path = re.sub(r"/orders/[^/]+", "/orders/{id}", path)
    path = re.sub(r"/returns/(?!preview$)[^/]+", "/returns/{rma}", path)
    return f"{method} {path}"


def _settle(stack) -> None:
    request = urllib.request.Request(f"{stack.api_url}/_local/settle?timeout=60", method="POST")
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()


def journey_calls(browser, stack) -> dict:
    """Maya's journey in the browser (infra/bench/portal_driver.py), API requests counted."""
    from infra.bench import portal_driver

    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        requests: list[tuple[str, str]] = []
        page.on("request", lambda r: requests.append((r.method, r.url)))
        portal_driver.maya_journey(page, stack.api_url, settle=lambda: _settle(stack))
    finally:
        context.close()
    api = []
    for method, url in requests:
        parts = urlsplit(url)
        if parts.scheme in ("blob", "data"):
            continue  # made in the page (photo thumbnail, QR code image)
        origin = f"{parts.scheme}://{parts.netloc}"
        if origin == stack.api_url and re.match(r"^/($|index\.html|assets/|favicon)", parts.path):
            continue  # the app's own files
        if origin == stack.api_url:
            api.append(_route_of(method, parts.path))
        elif origin == stack.moto_url:  # presigned S3: the photo upload, the label download
            bucket = parts.path.strip("/").split("/", 1)[0].lower()
            kind = "photos" if "photo" in bucket else "labels" if "label" in bucket else bucket
            api.append(f"{method} S3 {kind} bucket")
        else:
            api.append(f"{method} {origin}")
    by_route: dict[str, int] = {}
    for route in api:
        by_route[route] = by_route.get(route, 0) + 1
    calls = [c for c in api if " S3 " not in c]
    return {
        "api_calls": len(calls),
        "storage_requests": len(api) - len(calls),
        "by_route": by_route,
        "steps": portal_driver.JOURNEY_STEPS,
    }


def run(ctx) -> dict:
    from playwright.sync_api import sync_playwright

    runs = max(1, ctx.args.portal_runs)
    with local_stack_process() as stack, sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            started = time.perf_counter()
            url = stack.api_url + "/#/"
            throttled = _load_series(browser, url, runs, "4x CPU, slow 4G")
            plain = _load_series(browser, url, runs, "no throttling", throttled=False)
            print(f"  first loads took {time.perf_counter() - started:.0f} s; the journey", flush=True)
            journey = journey_calls(browser, stack)
        finally:
            browser.close()
    return {
        "runs": runs,
        "throttling": {
            "cpu_slowdown": CPU_SLOWDOWN,
            "profile": "Lighthouse mobile slow 4G (DevTools throttling)",
            **SLOW_4G,
            "applied_latency_ms": LATENCY_MS,
            "applied_down_kbps": DOWN_KBPS,
            "applied_up_kbps": UP_KBPS,
        },
        "gzip_level": GZIP_LEVEL,
        "first_load": throttled,
        "first_load_unthrottled": {k: v for k, v in plain.items() if k != "resources"},
        "journey": journey,
        "goal_compressed_kb": GOAL_COMPRESSED_KB,
        "goal_usable_ms": GOAL_USABLE_MS,
        "goal_met": {
            "bytes": throttled["gzip_bytes"] / 1024 <= GOAL_COMPRESSED_KB,
            "usable": throttled["usable_ms"]["median"] <= GOAL_USABLE_MS,
        },
    }


def render(data: dict) -> str:
    load = data["first_load"]

    def ms(value) -> str:
        return "-" if value is None else f"{value:.0f}"

    rows = [
        [
            r["url"],
            r["type"],
            r["encoding"] or "-",
            f"{r['raw_bytes'] / 1024:.1f}",
            f"{r['gzip_bytes'] / 1024:.1f}",
            ms(r.get("start_ms")),
            ms(r.get("end_ms")),
        ]
        for r in load["resources"]
    ]
    total = ["total", "", "", f"{load['raw_bytes'] / 1024:.1f}", f"{load['gzip_bytes'] / 1024:.1f}", "", ""]
    rows.append(total)
    resources = stats.table(
        ["first load (last run)", "type", "served as", "raw KiB", "gzip KiB", "start ms", "end ms"],
        rows,
        "lllrrrr",
    )
    timing = stats.table(
        ["first load", "usable median ms", "p25", "p75", "HTML ms", "DOMContentLoaded", "wire KiB"],
        [
            [
                label,
                f"{s['usable_ms']['median']:.0f}",
                f"{s['usable_ms']['p25']:.0f}",
                f"{s['usable_ms']['p75']:.0f}",
                f"{s['html_received_ms']:.0f}",
                f"{s['dom_content_loaded_ms']:.0f}",
                f"{s['wire_bytes']['median'] / 1024:.1f}",
            ]
            for label, s in (("4x CPU, slow 4G", load), ("no throttling", data["first_load_unthrottled"]))
        ],
    )
    journey = data["journey"]
    calls = stats.table(["journey request", "count"], [[k, v] for k, v in journey["by_route"].items()])
    goal = data["goal_met"]
    throttling = data["throttling"]
    return (
        f"{resources}\n\n{timing}\n\n{calls}\n"
        f"{journey['api_calls']} API calls (+ {journey['storage_requests']} presigned S3 requests) for: "
        f"{journey['steps']}\n"
        f"{data['runs']} runs each, fresh context (empty cache); "
        f"throttled: {throttling['cpu_slowdown']}x CPU, "
        f"slow 4G ({throttling['applied_latency_ms']} ms latency, "
        f"{throttling['applied_down_kbps']:.0f}/{throttling['applied_up_kbps']:.0f} Kbps down/up).\n"
        f"goals: <= {data['goal_compressed_kb']} KB compressed: {load['gzip_bytes'] / 1024:.1f} KiB "
        f"(gzip -{data['gzip_level']} of each body), {'met' if goal['bytes'] else 'NOT MET'}; usable <= "
        f"{data['goal_usable_ms']} ms: {load['usable_ms']['median']:.0f} ms, "
        f"{'met' if goal['usable'] else 'NOT MET'}"
    )
