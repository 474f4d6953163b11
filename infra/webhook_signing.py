"""Sign webhook bodies the way each provider does, and aim the samples at real parcels.

The mirror image of the tracking sources' verifiers, for tests, the benchmark and the
README's local walkthrough. The providers are the registry's tracking sources
(functions/homeward/providers/registry.py); each one's sender side (signing, where its
samples keep times, ids and numbers, its local secret) is its package's testkit.py:

* `signed_headers(provider, body, secret)`: the headers the provider would send with `body`.
* `api_gateway_event(provider, body, headers)`: an API Gateway HTTP API (payload 2.0) event
  for `POST /webhooks/{provider}`, to invoke the handler directly.
* `load_sample(provider, case)`: the raw bytes of events/webhooks/<provider>.<case>.json.
* `retarget(body, provider, tracking_number=..., event_id=..., occurred_at=...)`: a sample
  rewritten for another parcel, event id or time.
* `LOCAL_SECRETS`: the documented webhook secrets of the local stack.

Command line (signs with the current time and POSTs to the local stack):

    python -m infra.webhook_signing easypost delivered --url http://127.0.0.1:3000 \\
        --tracking-number 9400111899223197428490

Generic events carry their id in the `webhook-id` header, not in the body: `signed_headers`
derives it from the body (`msg_` + the first 24 hex digits of its SHA-256) unless
`webhook_id` is given, so a re-sent body is a duplicate and a changed body a new event.
"""

from __future__ import annotations

import argparse
import base64 as b64
import contextlib
import copy
import hashlib
import json
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
SAMPLES_DIR = ROOT / "events" / "webhooks"


def _functions_on_path() -> None:
    # The Lambda code lives in functions/; pytest puts it on sys.path, `python -m` does not.
    if str(FUNCTIONS_DIR) not in sys.path:
        sys.path.insert(0, str(FUNCTIONS_DIR))


_functions_on_path()
from homeward.providers import registry  # noqa: E402

PROVIDERS = registry.TRACKING_SOURCES

# The local stack's documented defaults. Never configure them anywhere else: they are public.
LOCAL_SECRETS: dict[str, str] = {name: registry.load_testkit(name).LOCAL_SECRET for name in PROVIDERS}

_CASE = re.compile(r"[a-z0-9_]+")
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise ValueError(f"unknown provider {provider!r}; expected one of {', '.join(PROVIDERS)}")


def generic_webhook_id(body: bytes) -> str:
    """The default `webhook-id` for a generic body: stable for the same bytes."""
    return registry.load_testkit("generic").webhook_id_for(body)


def signed_headers(
    provider: str,
    body: bytes,
    secret: str,
    *,
    now: datetime | None = None,
    webhook_id: str | None = None,
) -> dict[str, str]:
    """The headers `provider` sends with `body`, signed with `secret` (names in their own case).

    `now` is the signing time for the schemes with a signed timestamp (Shippo, generic);
    `webhook_id` is the generic event id (default: derived from the body).
    """
    _check_provider(provider)
    kit = registry.load_testkit(provider)
    signed = kit.sign(bytes(body), secret, now=now or datetime.now(UTC), webhook_id=webhook_id)
    return {"Content-Type": "application/json", **signed}


def api_gateway_event(
    provider: str,
    body: bytes,
    headers: dict,
    *,
    base64: bool = False,
    query: dict | None = None,
) -> dict:
    """An API Gateway HTTP API payload 2.0 event for `POST /webhooks/{provider}`.

    Header names are lower-cased as API Gateway does. The body is passed as text unless
    `base64` is set or it is not UTF-8 (API Gateway base64-encodes such bodies itself).
    """
    body = bytes(body)
    now = datetime.now(UTC)
    path = f"/webhooks/{provider}"
    source_ip = "203.0.113.10"
    user_agent = "homeward-webhook-signing/1.0"
    lowered = {
        "content-type": "application/json",
        "host": "api.example.com",
        "user-agent": user_agent,
        "x-forwarded-for": source_ip,
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    }
    lowered |= {str(name).lower(): str(value) for name, value in headers.items()}
    try:
        text = None if base64 else body.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "POST /webhooks/{provider}",
        "rawPath": path,
        "rawQueryString": urllib.parse.urlencode(query or {}),
        "headers": lowered,
        "requestContext": _request_context(path, source_ip, user_agent, now),
        "pathParameters": {"provider": provider},
        "isBase64Encoded": text is None,
        "body": text if text is not None else b64.b64encode(body).decode(),
    }
    if query:
        event["queryStringParameters"] = {str(k): str(v) for k, v in query.items()}
    return event


def _request_context(path: str, source_ip: str, user_agent: str, now: datetime) -> dict[str, Any]:
    """The HTTP API's requestContext for `POST /webhooks/{provider}`, as API Gateway fills it."""
    return {
        "accountId": "123456789012",
        "apiId": "abc123def4",
        "domainName": "abc123def4.execute-api.us-east-1.amazonaws.com",
        "domainPrefix": "abc123def4",
        "http": {
            "method": "POST",
            "path": path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": user_agent,
        },
        "requestId": b64.b64encode(uuid.uuid4().bytes[:10]).decode(),
        "routeKey": "POST /webhooks/{provider}",
        "stage": "$default",
        "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
        "timeEpoch": int(now.timestamp() * 1000),
    }


def load_sample(provider: str, case: str) -> bytes:
    """The raw bytes of events/webhooks/<provider>.<case>.json."""
    _check_provider(provider)
    if not _CASE.fullmatch(case):
        raise ValueError(f"bad sample name {case!r}")
    return (SAMPLES_DIR / f"{provider}.{case}.json").read_bytes()


def sample_cases(provider: str) -> list[str]:
    """The sample cases on disk for `provider`, sorted."""
    _check_provider(provider)
    return sorted(path.name.split(".")[1] for path in SAMPLES_DIR.glob(f"{provider}.*.json"))


# --- retarget ----------------------------------------------------------------------------------


def _derived_id(provider: str, original: str, *parts: object) -> str:
    """A new provider-style event id, stable for the same inputs (so a re-send is a duplicate)."""
    digest = hashlib.sha256("|".join([provider, original, *map(str, parts)]).encode()).digest()
    return registry.load_testkit(provider).derived_id(digest)


def _shift_time(value: str, delta: timedelta) -> str:
    """`value` moved by `delta`, written in the same style (Z, offset, naive, date only)."""
    text = value.strip()
    if _DATE_ONLY.fullmatch(text):
        moved = datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC) + delta
        return moved.date().isoformat()
    parsed = datetime.fromisoformat(text)
    moved = parsed + delta
    timespec = "milliseconds" if "." in text else "seconds"
    out = moved.isoformat(timespec=timespec)
    if text.endswith("Z"):
        out = out.replace("+00:00", "Z")
    return out


def _shift_all(node: Any, keys: frozenset[str], delta: timedelta) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys and isinstance(value, str):
                # A value that is not a time after all stays as it is.
                with contextlib.suppress(ValueError, OverflowError):
                    node[key] = _shift_time(value, delta)
            else:
                _shift_all(value, keys, delta)
    elif isinstance(node, list):
        for item in node:
            _shift_all(item, keys, delta)


def retarget(
    body: bytes,
    provider: str,
    *,
    tracking_number: str | None = None,
    event_id: str | None = None,
    occurred_at: datetime | None = None,
) -> bytes:
    """A copy of a sample body aimed at another parcel, event id and/or carrier time.

    * tracking_number: replaces the parcel's number (written as given).
    * occurred_at (timezone-aware): every time in the body moves by the same amount, so the
      latest carrier time (the parsed event_at) becomes `occurred_at` and the history keeps
      its shape. Unix `ts` (AfterShip) moves too.
    * event_id: the provider's event id (EasyPost `id`, Shippo `tracking_status.object_id`,
      AfterShip `event_id`). When it is not given but the number or time changes, a new id
      is derived from the old one and the changes, so two different retargets never
      collide in deduplication while the same retarget twice is a duplicate. Generic ids
      travel in the `webhook-id` header: pass `webhook_id` to `signed_headers` instead.

    Returns compact JSON bytes, as providers send them.
    """
    _check_provider(provider)
    if occurred_at is not None and occurred_at.tzinfo is None:
        raise ValueError("occurred_at must be timezone-aware")
    kit = registry.load_testkit(provider)
    if not kit.EVENT_ID_IN_BODY and event_id is not None:
        kit.set_event_id({}, "", event_id)  # raises: the id is not in the body
    from homeward.domain.tracking.ports import Ignored
    from homeward.providers.tracking_sources import parse_webhook

    parsed = parse_webhook(provider, body, {"webhook-id": "msg_retarget"}, received_at=datetime.now(UTC))
    data = json.loads(body)
    if isinstance(parsed, Ignored):
        if tracking_number is not None or occurred_at is not None:
            raise ValueError(f"{provider} {parsed.event_type!r} is not a tracking event")
        if event_id is not None:
            kit.set_ignored_event_id(data, event_id)
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()

    out = copy.deepcopy(data)
    if occurred_at is not None:
        delta = occurred_at.astimezone(UTC) - parsed.event_at
        _shift_all(out, kit.TIME_KEYS, delta)
        kit.shift_extra(out, delta.total_seconds())
    if tracking_number is not None:
        kit.set_tracking_number(out, tracking_number)
    if kit.EVENT_ID_IN_BODY and (
        event_id is not None or tracking_number is not None or occurred_at is not None
    ):
        new_id = event_id or _derived_id(provider, parsed.event_id, tracking_number, occurred_at)
        kit.set_event_id(out, parsed.event_id, new_id)
    return json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode()


# --- CLI ---------------------------------------------------------------------------------------


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m infra.webhook_signing",
        description="Sign a sample webhook (events/webhooks/) and POST it to {url}/webhooks/{provider}.",
    )
    parser.add_argument("provider", choices=PROVIDERS)
    parser.add_argument("case", help="sample name, e.g. delivered, in_transit, label_created")
    parser.add_argument("--url", default="http://127.0.0.1:3000", help="API base URL (default: %(default)s)")
    parser.add_argument("--tracking-number", help="aim the sample at this parcel")
    parser.add_argument("--event-id", help="the event id (generic: the webhook-id header)")
    parser.add_argument(
        "--occurred-at", help="ISO-8601 time with offset: move the sample so its latest scan is then"
    )
    parser.add_argument("--secret", help="signing secret (default: the local stack's)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Sign and POST one sample; exit 0 on a 2xx answer, 1 otherwise."""
    args = _parse_args(argv)
    provider = args.provider
    try:
        body = load_sample(provider, args.case)
    except (OSError, ValueError) as exc:
        print(f"no sample {provider}.{args.case}: {exc}", file=sys.stderr)
        return 1
    generic = not registry.load_testkit(provider).EVENT_ID_IN_BODY
    try:
        occurred_at = datetime.fromisoformat(args.occurred_at) if args.occurred_at else None
        if args.tracking_number or occurred_at or (args.event_id and not generic):
            body = retarget(
                body,
                provider,
                tracking_number=args.tracking_number,
                event_id=None if generic else args.event_id,
                occurred_at=occurred_at,
            )
    except ValueError as exc:
        print(f"cannot retarget {provider}.{args.case}: {exc}", file=sys.stderr)
        return 1
    secret = args.secret or LOCAL_SECRETS[provider]
    headers = signed_headers(provider, body, secret, webhook_id=args.event_id if generic else None)
    url = f"{args.url.rstrip('/')}/webhooks/{provider}"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode("utf-8", "replace")
    except urllib.error.URLError as exc:
        print(f"POST {url} failed: {exc.reason}", file=sys.stderr)
        return 1
    print(status)
    print(text)
    return 0 if 200 <= status < 300 else 1


if __name__ == "__main__":
    sys.exit(main())
