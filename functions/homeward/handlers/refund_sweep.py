"""RefundSweepFunction (scheduled): re-drive money movements that stayed open.

Reserved movements a crash or an exhausted queue left behind are sent again with their
fixed key (the provider answers with the refund it already made, if any); pending ones are
read back from the provider (a lost webhook, or the ledger provider settling). Movements
touched within `REFUND_SWEEP_QUIET_SECONDS` are left to the worker that is handling them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.refunds import RefundsTable
from homeward.adapters.policy import load_policy
from homeward.config import PaymentsSettings, load_settings
from homeward.domain.refunds import service as refund_service
from homeward.handlers.refund_metrics import emit
from homeward.observability import logger, metrics
from homeward.providers.payments import configured_providers

settings = load_settings(PaymentsSettings)
store = RefundsTable(client("dynamodb"), settings.table_name)
providers = configured_providers(settings)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    totals = refund_service.sweep(
        store=store,
        providers=providers,
        policy=load_policy(settings.return_policy_parameter),
        now=datetime.now(UTC),
        quiet_for=timedelta(seconds=settings.sweep_quiet_seconds),
    )
    emit(totals)
    metrics.add_metric(name="RefundSweepReturns", unit="Count", value=totals["returns"])
    result = {"returns": 0, **totals}
    logger.info("refund sweep run", extra=result)
    return result
