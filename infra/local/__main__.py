"""`python -m infra.local` (what `make run` starts): Homeward on this machine, no AWS, no Docker.

Ctrl-C or SIGTERM stops it cleanly with exit code 0.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from infra.local.console import say
from infra.local.provision import MERCHANT_KEY_ENV, PARAMETER_ENV_PREFIX, TemplateError
from infra.local.sources import plural
from infra.local.stack import LocalStack
from infra.template import TEMPLATE_PATH


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.local",
        description="Run Homeward locally: moto for AWS, the template's resources, the handlers over HTTP.",
        epilog=(
            f"Environment: {MERCHANT_KEY_ENV}=<key> sets the local merchant API key; "
            f"{PARAMETER_ENV_PREFIX}<Name>=<value> overrides a template parameter. See docs/local-stack.md."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface for the API (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=3000, help="API port (default: 3000; 0 picks a free one)")
    parser.add_argument("--moto-port", type=int, default=5005, help="moto server port (default: 5005)")
    parser.add_argument(
        "--template", type=Path, default=TEMPLATE_PATH, help="SAM template (default: template.yaml)"
    )
    parser.add_argument("--no-demo", action="store_true", help="start without the three demo orders")
    parser.add_argument(
        "--portal-src",
        type=Path,
        default=None,
        help="web app sources served like the template's CloudFront distribution (default: web/portal)",
    )
    return parser.parse_args(argv)


def banner(stack: LocalStack) -> str:
    """What a developer needs to start poking at the API."""
    api = stack.api_url
    served = {route.route_key for route in stack.routes}
    rows = [("Portal", stack.portal_url)] if stack.portal_url else []
    rows += [("API", api)]
    rows += [
        (label, f"{api}{path}")
        for label, path in (("Swagger UI", "/docs"), ("OpenAPI", "/openapi.json"))
        if f"GET {path}" in served
    ]
    rows += [
        ("Outbox", f"{api}/_local/outbox.html"),
        ("Local stack", f"{api}/_local/"),
        ("moto", f"{stack.moto_url}/moto-api/"),
        ("Merchant key", stack.merchant_api_key or "(no MerchantApiKeySecret in the template)"),
    ]
    counts = ", ".join(
        plural(len(items), noun)
        for items, noun in (
            (stack.functions, "function"),
            (stack.routes, "route"),
            (stack.sources.pollers, "event source"),
            (stack.sources.schedules, "schedule"),
        )
    )
    lines = [
        "",
        f"Homeward is running locally ({stack.template_path.name}: {counts})",
        "",
        *(f"  {label:<13} {value}" for label, value in rows),
    ]
    if stack.demo_orders:
        lines += ["", "  Demo orders (sign in on the portal with number + email)"]
        for o in stack.demo_orders:
            gift = o.body.get("gift_receipt_code")
            note = f" (a gift: receipt code {gift})" if gift else ""
            lines.append(f"    {o.number:<6} {o.email:<28} {o.order_id:<9} {o.status}{note}")
        if "POST /portal/session" in served:
            first = stack.demo_orders[0]
            body = json.dumps({"order_number": first.number, "email": first.email})
            lines += [
                "",
                "  Try:",
                f"    curl -s -X POST {api}/portal/session -H 'Content-Type: application/json' -d '{body}'",
            ]
    lines += ["", "Ctrl-C to stop.", ""]
    return "\n".join(lines)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt  # SIGINT and SIGTERM take the same clean path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Installed explicitly: a process started in the background by a script inherits an ignored SIGINT.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    stack = LocalStack(
        args.template,
        host=args.host,
        port=args.port,
        moto_port=args.moto_port,
        demo_data=not args.no_demo,
        portal_src=args.portal_src,
    )
    say(f"starting moto on port {args.moto_port} and provisioning {args.template} ...")
    try:
        stack.start()
        print(banner(stack), flush=True)
        # Polled rather than one endless wait: the kernel may hand Ctrl-C to a worker thread, and
        # a main thread blocked on a lock without a timeout would then never run the handler.
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    except (OSError, TemplateError, RuntimeError) as exc:
        say(f"could not start: {exc}")
        return 1
    finally:
        # A second Ctrl-C must not interrupt the shutdown with a traceback.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        say("stopping ...")
        stack.stop()
        say("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
