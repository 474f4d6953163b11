"""Secrets (merchant API keys, signing keys) from AWS Secrets Manager, cached in memory."""

from __future__ import annotations

from functools import cache

from homeward.adapters.aws import client

_MAX_AGE_SECONDS = 300  # a rotated secret is picked up within five minutes


@cache
def _provider():
    # Imported on first use: the parameters utility is only needed once per cold start.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client("secretsmanager"))


def secret_values(secret_id: str) -> list[str]:
    """A secret holding one value or a comma-separated list (old and new keys during rotation)."""
    value = _provider().get(secret_id, max_age=_MAX_AGE_SECONDS)
    return [part.strip() for part in str(value).split(",") if part.strip()]


def secret_json(secret_id: str) -> dict:
    """A secret holding a JSON object (e.g. carrier API keys by provider)."""
    value = _provider().get(secret_id, max_age=_MAX_AGE_SECONDS, transform="json")
    return value if isinstance(value, dict) else {}
