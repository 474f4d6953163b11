"""The local stack's own endpoints under /_local/ - never part of the template's API.

GET  /_local/                                  index page: links, routes, sources, recent invocations
GET  /_local/health                            200 once started (demo data loaded), 503 before
GET  /_local/invocations?limit=50              recent invocations, newest first
GET  /_local/outbox   /_local/outbox.html      what SES and SNS have sent
POST /_local/settle?timeout=10                 wait until streams and queues are drained
POST /_local/schedules/<Function>/<Event>      fire a schedule now
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from infra.local.gateway import Request, Response
from infra.local.outbox import render_html

if TYPE_CHECKING:
    from infra.local.stack import LocalStack

MAX_SETTLE_SECONDS = 120.0


class LocalPages:
    """Answers /_local/... requests from the running stack's state."""

    def __init__(self, stack: LocalStack) -> None:
        self.stack = stack

    def __call__(self, request: Request) -> Response:
        try:
            return self._route(request)
        except ValueError as exc:  # a malformed ?limit= or ?timeout=
            return Response.json(400, {"message": f"Bad request: {exc}"})

    def _route(self, request: Request) -> Response:
        path = request.raw_path.rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(request.raw_query).items()}
        get, post = request.method in ("GET", "HEAD"), request.method == "POST"
        if path == "/_local" and get:
            return _html(self.index())
        if path == "/_local/health" and get:
            return self.health()
        if path == "/_local/invocations" and get:
            return Response.json(200, self.stack.log.recent(int(query.get("limit", 50))))
        if path == "/_local/outbox" and get:
            return Response.json(200, self.stack.outbox.snapshot())
        if path == "/_local/outbox.html" and get:
            return _html(render_html(self.stack.outbox.snapshot()))
        if path == "/_local/settle" and post:
            return self.settle(min(float(query.get("timeout", 10)), MAX_SETTLE_SECONDS))
        if path.startswith("/_local/schedules/") and post and path.count("/") == 4:
            _, _, _, function_id, event_name = path.split("/")
            return self.fire(function_id, event_name)
        return Response.json(404, {"message": "Not Found"})

    def health(self) -> Response:
        stack = self.stack
        if not stack.ready:
            return Response.json(503, {"status": "starting"})
        return Response.json(
            200,
            {
                "status": "ready",
                "api_url": stack.api_url,
                "moto_url": stack.moto_url,
                "functions": sorted(stack.runtime.functions),
                "routes": [r.route_key for r in stack.routes],
                "pollers": [p.name for p in stack.sources.pollers],
                "schedules": [f"{s.function.logical_id}/{s.event_name}" for s in stack.sources.schedules],
            },
        )

    def settle(self, timeout: float) -> Response:
        settled = self.stack.sources.settle(timeout)
        return Response.json(200 if settled else 504, {"settled": settled, "timeout_seconds": timeout})

    def fire(self, function_id: str, event_name: str) -> Response:
        schedule = self.stack.sources.schedule(function_id, event_name)
        if schedule is None:
            return Response.json(404, {"message": f"No schedule {function_id}/{event_name} in the template"})
        invocation = self.stack.sources.fire(schedule)
        result = {
            "function": function_id,
            "event": event_name,
            "request_id": invocation.request_id,
            "status": "ok" if invocation.error is None else "error",
        }
        if invocation.error is not None:
            result["error"] = {k: v for k, v in invocation.error_payload.items() if k != "stackTrace"}
        return Response.json(200, result)

    def index(self) -> str:
        stack = self.stack
        api, moto = stack.api_url, stack.moto_url
        served = {r.route_key for r in stack.routes}
        links = [
            (name, f"{api}{path}")
            for name, path in (("Swagger UI", "/docs"), ("OpenAPI document", "/openapi.json"))
            if f"GET {path}" in served
        ] + [
            ("Outbox (email, SMS, notifications)", "/_local/outbox.html"),
            ("Recent invocations (JSON)", "/_local/invocations"),
            ("moto dashboard", f"{moto}/moto-api/"),
            ("moto data (JSON)", f"{moto}/moto-api/data.json"),
        ]
        routes = "".join(
            f"<tr><td><code>{escape(r.route_key)}</code></td><td>{escape(r.function.logical_id)}</td></tr>"
            for r in stack.routes
        )
        pollers = "".join(f"<li>{escape(p.name)}</li>" for p in stack.sources.pollers)
        schedules = "".join(_schedule_item(s) for s in stack.sources.schedules)
        invocations = "".join(
            f"<tr><td>{escape(i['time'])}</td><td>{escape(i['function'])}</td><td>{escape(i['trigger'])}</td>"
            f"<td>{escape(i['status'])}</td><td>{i['duration_ms']:.0f} ms</td></tr>"
            for i in stack.log.recent(25)
        )
        demo = "".join(
            f"<tr><td>{escape(o.number)}</td><td>{escape(o.email)}</td><td>{escape(o.order_id)}</td>"
            f"<td>{escape(o.status)}</td></tr>"
            for o in stack.demo_orders
        )
        key = escape(stack.merchant_api_key or "(no MerchantApiKeySecret in the template)")
        return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Homeward local stack</title>
<style>body{{font:14px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem}}
table{{border-collapse:collapse}}td,th{{text-align:left;padding:.25rem .6rem;border-bottom:1px solid #eee}}
h2{{font-size:1.1rem;margin-top:1.8rem}} form{{display:inline}}</style></head>
<body>
<h1>Homeward local stack</h1>
<p>API at <a href="{escape(api)}">{escape(api)}</a>
· AWS emulated by moto at <a href="{escape(moto)}/moto-api/">{escape(moto)}</a>
· merchant API key <code>{key}</code></p>
<ul>{"".join(f'<li><a href="{escape(url)}">{escape(name)}</a></li>' for name, url in links)}</ul>
<h2>Routes</h2><table>{routes}</table>
<h2>Event sources</h2><ul>{pollers or "<li>none</li>"}</ul>
<h2>Schedules</h2><ul>{schedules or "<li>none</li>"}</ul>
<h2>Demo orders</h2><table>{demo or "<tr><td>none (started with --no-demo)</td></tr>"}</table>
<h2>Recent invocations</h2><table>{invocations or "<tr><td>none yet</td></tr>"}</table>
</body></html>"""


def _schedule_item(schedule) -> str:
    """A schedule with its next run and a button that fires it now."""
    name = f"{schedule.function.logical_id}/{schedule.event_name}"
    next_run = schedule.next_fire.isoformat() if schedule.next_fire else "only by hand"
    return (
        f'<li><form method="post" action="/_local/schedules/{escape(name)}">{escape(name)} '
        f"<code>{escape(schedule.expression)}</code> next: {escape(next_run)} "
        "<button>Fire now</button></form></li>"
    )


def _html(page: str) -> Response:
    return Response(200, [("Content-Type", "text/html; charset=utf-8")], page.encode())
