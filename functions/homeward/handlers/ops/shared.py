"""What the ops routers share: settings, stores, the `X-Actor` header and the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated

from aws_lambda_powertools.event_handler.openapi.params import Header

from homeward.adapters.aws import client
from homeward.adapters.dynamodb.returns import ReturnsTable
from homeward.config import OpsApiSettings, load_settings

settings = load_settings(OpsApiSettings)
store = ReturnsTable(client("dynamodb"), settings.table_name)

ActorHeader = Annotated[
    str | None, Header(alias="x-actor", max_length=200, description="Who is acting, for the audit timeline")
]


def now() -> datetime:
    return datetime.now(UTC)


@cache
def refund_store():
    # Imported on first use: most ops calls are about returns.
    from homeward.adapters.dynamodb.refunds import RefundsTable

    return RefundsTable(client("dynamodb"), settings.table_name)


@cache
def tracking_store():
    # Imported on first use: most ops calls are about returns.
    from homeward.adapters.dynamodb.tracking import TrackingTable

    return TrackingTable(client("dynamodb"), settings.table_name)
