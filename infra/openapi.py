"""Generate the merged OpenAPI document from every API function's routes.

    python -m infra.openapi            # writes functions/homeward/openapi.json
    python -m infra.openapi --check    # exit 1 if the committed file is stale

Which modules to read comes from template.yaml (functions with HttpApi events).
"""

from __future__ import annotations

import importlib
import json
import os
import sys

from infra.template import ROOT, http_routes

OUTPUT = ROOT / "functions" / "homeward" / "openapi.json"
DOCS_HANDLER = "homeward.handlers.api_docs"

# Handler modules validate their settings at import; these placeholders satisfy them.
_PLACEHOLDER_ENV = {
    "AWS_DEFAULT_REGION": "us-east-1",
    "TABLE_NAME": "openapi",
    "MERCHANT_API_KEY_SECRET": "openapi",
    "PORTAL_SIGNING_KEY_SECRET": "openapi",
    "PHOTOS_BUCKET": "openapi",
    "LABELS_BUCKET": "openapi",
    "DOMAIN_EVENTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:openapi",
}


def build() -> str:
    for key, value in _PLACEHOLDER_ENV.items():
        os.environ.setdefault(key, value)
    sys.path.insert(0, str(ROOT / "functions"))
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge
    from aws_lambda_powertools.event_handler.openapi.models import Server

    merge = OpenAPIMerge(
        title="Homeward API",
        version="0.1.0",
        description=(
            "Returns and order tracking. Merchant routes take `Authorization: Bearer <merchant API key>`; "
            "portal routes take the token from `POST /portal/session`."
        ),
        servers=[Server(url="/")],
        on_conflict="error",
    )
    modules = sorted({fn.module for _, _, fn in http_routes() if fn.module != DOCS_HANDLER})
    for name in modules:
        app = importlib.import_module(name).app
        merge.add_schema(json.loads(app.get_openapi_json_schema(title="Homeward API", version="0.1.0")))
    return json.dumps(merge.get_openapi_schema(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    document = build()
    if "--check" in sys.argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != document:
            print(f"{OUTPUT.relative_to(ROOT)} is stale: run `make openapi`", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(document)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
