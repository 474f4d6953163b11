"""boto3 clients, created once per process and shared by every adapter.

Clients are built lazily: creating one costs 50-90 ms of cold start, so a function only
pays for the services it actually touches. `AWS_ENDPOINT_URL` (set by the local stack)
points every client at the emulator without code changes.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from collections.abc import Callable

# Fail fast inside API calls: API Gateway gives up after 30 s, webhook senders after 3-10 s.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
    tcp_keepalive=True,
)


# Presigned S3 URLs must be SigV4, as production requires.
_SERVICE_CONFIG = {"s3": _CONFIG.merge(Config(signature_version="s3v4"))}


@cache
def client(service: str) -> Any:
    """The process-wide client for an AWS service."""
    # boto3-stubs type a client per service name literal; the name here is any service's.
    make: Callable[..., Any] = boto3.client
    return make(service, config=_SERVICE_CONFIG.get(service, _CONFIG))
