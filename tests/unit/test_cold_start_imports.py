"""Cold start guards: what an API function's import must leave unloaded (docs/architecture.md).

Powertools' `event_handler` package `__init__` imports every resolver it has (AppSync with
asyncio, Bedrock, VPC Lattice...): ~40 ms per cold start. homeward/_deferred_packages.py
registers that package without running its `__init__`; these tests keep it that way, and prove
nothing of the package is lost (its re-exports and the rest of its `__init__` still answer).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

FUNCTIONS = Path(__file__).parents[2] / "functions"
API_HANDLERS = [
    "api_docs",
    "merchant_api",
    "ops_api",
    "payment_webhooks",
    "portal_api",
    "portal_returns",
    "webhooks",
]
# What the package __init__ alone would bring in; no API function uses any of it.
UNUSED = (
    "asyncio",
    "aws_lambda_powertools.event_handler.appsync",
    "aws_lambda_powertools.event_handler.bedrock_agent",
    "aws_lambda_powertools.event_handler.events_appsync.appsync_events",
    "aws_lambda_powertools.event_handler.vpc_lattice",
    # the data_classes package __init__ imports ~40 event classes; the resolver needs 6
    "aws_lambda_powertools.utilities.data_classes.appsync_resolver_event",
    "aws_lambda_powertools.utilities.data_classes.kafka_event",
)
BATCH_HANDLERS = ["labels", "notifications", "tracking", "domain_events"]


def run(code: str) -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=FUNCTIONS, env=env)


@pytest.mark.parametrize("module", API_HANDLERS)
def test_an_api_handler_import_leaves_the_other_powertools_resolvers_unloaded(module):
    run(
        f"import sys, homeward.handlers.{module}\n"
        f"loaded = [m for m in {UNUSED!r} if m in sys.modules]\n"
        "assert not loaded, loaded"
    )


@pytest.mark.parametrize("module", BATCH_HANDLERS)
def test_a_batch_handler_import_loads_only_the_event_classes_it_uses(module):
    run(
        f"import sys, homeward.handlers.{module}\n"
        "assert 'aws_lambda_powertools.utilities.data_classes.appsync_resolver_event' not in sys.modules\n"
        "assert 'aws_lambda_powertools.utilities.data_classes.api_gateway_proxy_event' not in sys.modules"
    )


def test_the_deferred_data_classes_package_resolves_its_relative_reexports():
    run(
        "import sys, homeward\n"
        "from aws_lambda_powertools.utilities.data_classes import SQSEvent, event_source\n"
        "from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent as S\n"
        "assert SQSEvent is S and callable(event_source)\n"
        "assert 'aws_lambda_powertools.utilities.data_classes.alb_event' not in sys.modules\n"
        "from aws_lambda_powertools.utilities import data_classes\n"
        "assert data_classes.ALBEvent.__module__.endswith('alb_event')\n"
    )


def test_the_deferred_package_still_answers_everything_it_exports():
    run(
        "import sys, homeward\n"
        "import aws_lambda_powertools.event_handler as eh\n"
        "assert 'aws_lambda_powertools.event_handler.appsync' not in sys.modules\n"
        "from aws_lambda_powertools.event_handler.api_gateway import APIGatewayHttpResolver, Response\n"
        "from aws_lambda_powertools.event_handler import Response as R\n"
        "assert R is Response and eh.APIGatewayHttpResolver is APIGatewayHttpResolver\n"
        "assert 'aws_lambda_powertools.event_handler.appsync' not in sys.modules  # a re-export\n"
        "assert eh.__file__.endswith('__init__.py')\n"
        # A name only the rest of the __init__ provides: the real __init__ runs, in the same module.
        "from aws_lambda_powertools.event_handler import AppSyncResolver, __all__\n"
        "assert sys.modules['aws_lambda_powertools.event_handler'] is eh\n"
        "assert 'AppSyncResolver' in __all__ and eh.AppSyncResolver is AppSyncResolver\n"
        "assert eh.Response is Response and '__getattr__' not in vars(eh)\n"
        "try:\n"
        "    eh.no_such_name\n"
        "except AttributeError:\n"
        "    pass\n"
        "else:\n"
        "    raise AssertionError('no_such_name')\n"
    )
