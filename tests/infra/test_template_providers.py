"""template.yaml names the registry's providers, no more and no fewer.

template.yaml is the single wiring source and is not generated: where it has to name
providers (the JSON shapes of the secrets, the outputs that tell ops which URL to register),
these tests hold it to functions/homeward/providers/registry.py, so adding a provider there
fails here until the template says so too (docs/adding-a-provider.md).
"""

from __future__ import annotations

import json
import re

import pytest
from homeward.providers import registry

from infra.template import load_template

TEMPLATE = load_template()
RESOURCES = TEMPLATE["Resources"]
OUTPUTS = TEMPLATE["Outputs"]
NAMES = tuple(provider.name for provider in registry.PROVIDERS)


def secret_fields(resource: str) -> set[str]:
    generate = RESOURCES[resource]["Properties"]["GenerateSecretString"]
    return set(json.loads(generate["SecretStringTemplate"]))


def mentioned(text: str) -> set[str]:
    """The registered providers a piece of text names (any case, as whole words)."""
    return {name for name in NAMES if re.search(rf"(?<![a-z]){name}(?![a-z])", text, re.IGNORECASE)}


def keyed(kind: str) -> set[str]:
    return {name for name in registry.names(kind) if registry.needs_api_key(name)}


def test_the_webhook_secret_has_one_entry_per_tracking_source():
    assert secret_fields("WebhookSecretsSecret") == set(registry.TRACKING_SOURCES)


def test_the_webhooks_url_output_lists_every_tracking_source_route():
    description = OUTPUTS["WebhooksUrl"]["Description"]
    assert re.findall(r"/([a-z0-9_]+)", description) == list(registry.TRACKING_SOURCES)


def test_the_carrier_secret_has_an_api_key_per_keyed_label_carrier():
    expected = {registry.api_key_field(name) for name in keyed(registry.LABEL_CARRIER)}
    assert secret_fields("CarrierCredentialsSecret") == expected
    assert mentioned(OUTPUTS["CarrierCredentialsSecretArn"]["Description"]) == keyed(registry.LABEL_CARRIER)


def test_the_payment_secret_has_the_keys_of_each_payment_provider():
    expected = {registry.api_key_field(name) for name in keyed(registry.PAYMENT_PROVIDER)}
    expected |= {f"{name}_webhook_secret" for name in registry.PAYMENT_WEBHOOK_PROVIDERS}
    assert secret_fields("PaymentSecretsSecret") == expected
    assert mentioned(OUTPUTS["PaymentSecretsSecretArn"]["Description"]) == keyed(registry.PAYMENT_PROVIDER)


def test_the_payment_webhooks_url_output_lists_every_payment_webhook_route():
    description = OUTPUTS["PaymentWebhooksUrl"]["Description"]
    assert re.findall(r"/([a-z0-9_]+)", description) == list(registry.PAYMENT_WEBHOOK_PROVIDERS)


@pytest.mark.parametrize(
    "kind", [registry.TRACKING_SOURCE, registry.LABEL_CARRIER, registry.PAYMENT_PROVIDER]
)
def test_each_registered_provider_has_its_modules(kind):
    for name in registry.names(kind):
        module = registry.load(name, kind)
        assert module.__name__.startswith("homeward.providers." + name)


def test_provider_names_are_url_and_variable_safe():
    for name in NAMES:
        assert re.fullmatch(r"[a-z][a-z0-9_]{0,31}", name), name
    assert len(set(NAMES)) == len(NAMES)
