"""Powertools idempotency on the Homeward table: the one place it is configured.

Each scope (`refunds`: RefundsFunction's events; `ops-refunds`: refunds by hand) keeps its
records in its own static partition (`keys.powertools_idempotency_pk`) with the table's TTL
attribute, so old records clean themselves up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)

from homeward.adapters.aws import client
from homeward.adapters.dynamodb import keys
from homeward.errors import Conflict, Unprocessable


class Idempotency:
    """A scope's config and persistence; `function(...)` makes a function idempotent in it."""

    def __init__(self, table_name: str, scope: str, **config: Any) -> None:
        self.config = IdempotencyConfig(**config)
        self.persistence = DynamoDBPersistenceLayer(
            table_name=table_name,
            key_attr="pk",
            sort_key_attr="sk",
            static_pk_value=keys.powertools_idempotency_pk(scope),
            expiry_attr="expires_at",  # the table's TTL attribute
            boto3_client=client("dynamodb"),
        )

    def function(self, data_keyword_argument: str) -> Callable[[Callable], Callable]:
        return idempotent_function(
            data_keyword_argument=data_keyword_argument,
            config=self.config,
            persistence_store=self.persistence,
        )


def call_once(function: Callable[..., dict], **kwargs: Any) -> dict:
    """Call an idempotent function for an API request: a key reused with another request is
    Unprocessable(idempotency_key_reused), the same request still running is Conflict(in_progress)."""
    try:
        return function(**kwargs)
    except IdempotencyValidationError:
        raise Unprocessable(
            "This Idempotency-Key was already used with a different request",
            details={"reason": "idempotency_key_reused"},
        ) from None
    except IdempotencyAlreadyInProgressError:
        raise Conflict(
            "The same request is being handled right now", details={"reason": "in_progress"}
        ) from None
