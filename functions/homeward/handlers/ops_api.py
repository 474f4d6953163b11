"""OpsApiFunction: the merchant's team reviews, inspects and manages returns.

Authenticated like the merchant API (the merchant API key). `X-Actor` names the person
acting (e.g. their email); it goes on the audit timeline. The routes live in `handlers/ops/`,
one Router per sub-API (returns, refunds, webhooks); this module is the function's entry point.
"""

from __future__ import annotations

from aws_lambda_powertools.logging import correlation_paths

from homeward.handlers.api import api_key_gate, create_app
from homeward.handlers.ops import refunds, returns, webhooks
from homeward.handlers.ops.shared import settings, store
from homeward.observability import logger, metrics

__all__ = ["app", "lambda_handler", "settings", "store"]

app = create_app(
    max_body_bytes=settings.max_body_bytes, before_validation=[api_key_gate(settings.merchant_api_key_secret)]
)
app.include_router(returns.router)
app.include_router(refunds.router)
app.include_router(webhooks.router)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    return app.resolve(event, context)
