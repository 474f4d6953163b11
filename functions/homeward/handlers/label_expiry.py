"""LabelExpiryFunction (scheduled): remind before labels expire; void and expire unused ones."""

from __future__ import annotations

from datetime import UTC, datetime

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.returns import LabelClaims
from homeward.adapters.policy import load_policy
from homeward.config import LabelsSettings, load_settings
from homeward.domain.labels import service as labels
from homeward.observability import logger, metrics
from homeward.providers.carriers import configured_carrier

settings = load_settings(LabelsSettings)
store = LabelClaims(client("dynamodb"), settings.table_name)


@logger.inject_lambda_context
@metrics.log_metrics
def lambda_handler(event: dict, context) -> dict:
    policy = load_policy(settings.return_policy_parameter)
    counts = labels.expire_labels(
        store=store,
        carrier_for=lambda name: configured_carrier(name, settings),
        policy=policy,
        now=datetime.now(UTC),
    )
    metrics.add_metric(name="LabelOutcomes", unit="Count", value=counts["expired"] + counts["reminded"])
    metrics.add_metadata(key="expiry", value=counts)
    logger.info("label expiry run", extra=counts)
    return counts
