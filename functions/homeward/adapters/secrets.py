"""Secrets (merchant API keys, signing keys) from AWS Secrets Manager, cached in memory."""

from __future__ import annotations

from functools import cache

from homeward.adapters.aws import client
from homeward.errors import DependencyFailed

_MAX_AGE_SECONDS = 300  # a rotated secret is picked up within five minutes


@cache
def _provider():
    # Imported on first use: the parameters utility is only needed once per cold start.
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=client("secretsmanager"))


def _get(secret_id: str, **options):
    from aws_lambda_powertools.utilities.parameters.exceptions import (
        GetParameterError,
        TransformParameterError,
    )

    try:
        return _provider().get(secret_id, max_age=_MAX_AGE_SECONDS, **options)
    except (GetParameterError, TransformParameterError) as exc:
        # Secrets Manager unreachable or the secret malformed: our problem, and retryable (503).
        details = {"reason": "secret_unavailable"}
        raise DependencyFailed("A secret could not be read", details=details) from exc


def secret_values(secret_id: str) -> list[str]:
    """A secret holding one value or a comma-separated list (old and new keys during rotation)."""
    value = _get(secret_id)
    return [part.strip() for part in str(value).split(",") if part.strip()]


def secret_json(secret_id: str) -> dict:
    """A secret holding a JSON object (e.g. carrier API keys by provider)."""
    value = _get(secret_id, transform="json")
    return value if isinstance(value, dict) else {}
