"""The provider registry (functions/homeward/providers/registry.py): one line per provider,
every list derived from it, provider code imported only when that provider is used."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from homeward.providers import registry

FUNCTIONS = Path(__file__).parents[2] / "functions"


def run(code: str) -> None:
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=FUNCTIONS, env=env)


def test_the_lists_are_derived_from_the_registry_lines():
    # Today's providers, in registry order (a new provider only adds to these).
    assert registry.LABEL_CARRIERS[:3] == ("sandbox", "easypost", "shippo")
    assert registry.TRACKING_SOURCES[:4] == ("easypost", "shippo", "aftership", "generic")
    assert registry.PAYMENT_PROVIDERS[:2] == ("ledger", "stripe")
    assert registry.PAYMENT_WEBHOOK_PROVIDERS[:1] == ("stripe",)
    pattern = registry.WEBHOOK_ID_PATTERN
    assert pattern.startswith(r"^(easypost|shippo|aftership|generic")
    sources = "|".join(registry.TRACKING_SOURCES)
    assert pattern == rf"^({sources})-[0-9a-f]{{32}}$"
    assert registry.webhook_secret_env("aftership") == "AFTERSHIP_WEBHOOK_SECRET"
    assert registry.api_key_env("easypost") == "EASYPOST_API_KEY"
    assert registry.api_key_field("shippo") == "shippo_api_key"


def test_an_unregistered_provider_is_not_loaded():
    with pytest.raises(KeyError):
        registry.load("aftership", registry.LABEL_CARRIER)
    with pytest.raises(KeyError):
        registry.load("not_registered", registry.TRACKING_SOURCE)


def test_every_tracking_source_implements_the_port():
    for name in registry.TRACKING_SOURCES:
        source = registry.load(name, registry.TRACKING_SOURCE).SOURCE
        assert source.name == name
        assert callable(source.verify) and callable(source.parse) and callable(source.normalize_status)
        assert source.normalize_status("no such status").recognized is False


def test_the_settings_read_one_variable_per_registered_provider():
    from homeward.config import LabelsSettings, PaymentsSettings, WebhooksSettings

    webhooks = WebhooksSettings.model_validate(
        {
            "TABLE_NAME": "t",
            "SHIPPO_WEBHOOK_SECRET": "a,b",
            "NOT_REGISTERED_WEBHOOK_SECRET": "x",
            "GENERIC_WEBHOOK_SECRET": "",
        }
    )
    assert webhooks.webhook_secrets == {"shippo": "a,b"}
    labels = LabelsSettings.model_validate(
        {"TABLE_NAME": "t", "LABELS_BUCKET": "bucket", "EASYPOST_BASE_URL": "http://stub"}
    )
    assert labels.carrier_base_url("easypost") == "http://stub" and labels.carrier_base_url("shippo") is None
    assert hash(labels)  # configured_carrier caches on the settings
    payments = PaymentsSettings.model_validate(
        {
            "TABLE_NAME": "t",
            "STRIPE_API_KEY": "k",
            "STRIPE_WEBHOOK_SECRET": "w",
            "STRIPE_API_BASE": "http://s",
        }
    )
    assert (payments.api_keys, payments.webhook_secrets, payments.api_bases) == (
        {"stripe": "k"},
        {"stripe": "w"},
        {"stripe": "http://s"},
    )


def test_the_registry_imports_no_provider_code():
    run(
        "import sys, homeward.providers.registry\n"
        "loaded = [m for m in sys.modules if m.startswith('homeward.providers.')]\n"
        "assert loaded == ['homeward.providers.registry'], loaded"
    )


def test_a_webhook_from_one_provider_imports_only_that_providers_code():
    run(
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from homeward.domain.tracking.ports import Ignored\n"
        "from homeward.providers.tracking_sources import parse_webhook\n"
        'body = b\'{"id": "evt_1", "description": "batch.created", "result": {}}\'\n'
        "parsed = parse_webhook('easypost', body, {}, received_at=datetime.now(UTC))\n"
        "assert isinstance(parsed, Ignored)\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('homeward.providers.'))\n"
        "assert loaded == ['homeward.providers.easypost', 'homeward.providers.easypost.tracking',"
        " 'homeward.providers.registry', 'homeward.providers.tracking_sources'], loaded\n"
    )


def test_the_webhook_handlers_import_no_provider_module():
    env_code = (
        "import os\n"
        "os.environ.update(TABLE_NAME='t', AWS_DEFAULT_REGION='us-east-1')\n"
        "import sys, homeward.handlers.webhooks, homeward.handlers.payment_webhooks\n"
        "from homeward.providers.registry import PROVIDERS\n"
        "names = {provider.name for provider in PROVIDERS}\n"
        "parts = [m.split('.') for m in sys.modules if m.startswith('homeward.providers.')]\n"
        "loaded = ['.'.join(p) for p in parts if p[2] in names]\n"
        "assert loaded == [], loaded  # the registry and the by-name lookups only\n"
        "assert 'stripe' not in sys.modules\n"
    )
    run(env_code)


def test_every_registered_source_has_every_member_of_its_port():
    """The registry loads sources by name (typed Any): check each against its port's members."""
    from homeward.domain.refunds.ports import PaymentWebhookSource
    from homeward.domain.tracking.ports import TrackingSource

    ports = {registry.PAYMENT_WEBHOOKS: PaymentWebhookSource, registry.TRACKING_SOURCE: TrackingSource}
    for kind, port in ports.items():
        members = set(port.__annotations__) | {name for name in vars(port) if not name.startswith("_")}
        for name in registry.names(kind):
            source = registry.load(name, kind).SOURCE
            missing = [member for member in members if not hasattr(source, member)]
            assert not missing, f"{name}'s {kind} lacks {missing}"
