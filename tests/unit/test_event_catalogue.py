"""The event catalogue (homeward/domain/events.py) against the code, the template and its documents."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from homeward.domain import events
from homeward.domain.events import (
    CATALOGUE,
    CONSUMERS,
    EVENT_TYPE_PATTERN,
    EVENTS,
    consumed_by,
    validate_event,
)

from infra import event_docs
from infra.template import functions, load_template

ROOT = Path(__file__).resolve().parents[2]
HOMEWARD = ROOT / "functions" / "homeward"

# Strings of the event naming pattern that are not Homeward's domain events.
NOT_DOMAIN_EVENTS = {
    # Stripe's webhook event types (providers/stripe/webhooks.REFUND_EVENT_TYPES)
    "refund.created",
    "refund.updated",
    # a message's needs: the return's label (notifications/catalog.py)
    "return.label",
}


def literals() -> dict[str, list[str]]:
    """Every string constant of the event naming pattern in homeward/, with where it is."""
    found: dict[str, list[str]] = {}
    for path in sorted(HOMEWARD.rglob("*.py")):
        if path.name == "events.py" and path.parent.name == "domain":
            continue
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            is_text = isinstance(node, ast.Constant) and isinstance(node.value, str)
            if is_text and EVENT_TYPE_PATTERN.match(node.value):
                found.setdefault(node.value, []).append(f"{path.relative_to(HOMEWARD)}:{node.lineno}")
    return found


def test_every_event_type_literal_in_the_code_is_catalogued():
    missing = {
        t: where for t, where in literals().items() if t not in CATALOGUE and t not in NOT_DOMAIN_EVENTS
    }
    assert not missing, f"add these to homeward/domain/events.py: {missing}"


def test_the_refund_status_events_cover_every_status_a_report_can_name():
    """apply_report emits `refund.<status>` for a report that moves nothing to succeeded/failed."""
    from typing import get_args

    from homeward.models.refunds import MovementStatus

    assert {f"refund.{status}" for status in get_args(MovementStatus)} <= set(CATALOGUE)


def test_types_follow_the_naming_pattern_and_are_unique():
    assert all(EVENT_TYPE_PATTERN.match(spec.type) for spec in EVENTS)
    assert len(CATALOGUE) == len(EVENTS)


def domain_event_subscriptions(template: dict) -> dict[str, dict]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::SNS::Subscription"
        and resource["Properties"].get("TopicArn") == {"Ref": "DomainEventsTopic"}
    }


def test_every_subscription_of_the_topic_is_a_catalogued_consumer_naming_only_catalogued_events():
    template = load_template()
    subscriptions = domain_event_subscriptions(template)
    assert set(subscriptions) == {c.subscription for c in CONSUMERS}
    for consumer in CONSUMERS:
        props = subscriptions[consumer.subscription]
        named = props["FilterPolicy"]["type"]
        assert set(named) <= set(CATALOGUE), f"{consumer.subscription} names uncatalogued events"
        assert sorted(named) == sorted(consumed_by(consumer)), consumer.subscription
        assert props["Endpoint"] == {"Fn::GetAtt": [consumer.queue, "Arn"]}


def test_each_consumer_is_the_function_its_queue_feeds():
    fed_by = {
        event["Properties"]["Queue"]["Fn::GetAtt"][0]: spec.logical_id
        for spec in functions(load_template())
        for event in spec.events.values()
        if event["Type"] == "SQS"
    }
    for consumer in CONSUMERS:
        assert fed_by[consumer.queue] == consumer.function


def test_the_emitters_named_exist():
    for spec in EVENTS:
        for emitter in spec.emitters:
            for part in emitter.split(" -> "):
                assert (HOMEWARD / part.split(" ")[0]).is_file(), (spec.type, emitter)


def test_the_generated_documents_are_current():
    assert (ROOT / "docs" / "events.md").read_text() == event_docs.render_markdown(), (
        "docs/events.md is stale: run `make docs`"
    )
    schemas = event_docs.render_schemas()
    on_disk = {p.name: p.read_text() for p in (ROOT / "docs" / "events").glob("*.schema.json")}
    assert on_disk == schemas, "docs/events/*.schema.json are stale: run `make docs`"


def test_the_published_fixture_event_validates():
    image = json.loads((ROOT / "events" / "domain_events.return_approved.json").read_text())["Records"][0]
    doc = json.loads(image["dynamodb"]["NewImage"]["doc"]["S"])
    assert isinstance(validate_event(doc), events.TimelineEvent)


def test_a_payload_that_drifts_from_the_catalogue_is_refused():
    doc = {
        "seq": 3,
        "at": "2026-11-11T12:30:00Z",
        "type": "credit.issued",
        "actor": "system",
        "data": {"code": "HW-1", "amount": 100},  # no currency
    }
    with pytest.raises(ValueError):
        validate_event(doc)
    with pytest.raises(KeyError):
        validate_event({**doc, "type": "credit.renamed"})


def test_every_schema_names_its_type_as_a_constant():
    for spec in EVENTS:
        schema = spec.json_schema()
        assert schema["properties"]["type"]["const"] == spec.type
        assert "x-message-attributes" in schema


def test_every_catalogued_type_has_its_constant_and_nothing_more():
    from homeward.domain import event_types

    constants = {name: value for name, value in vars(event_types).items() if name.isupper()}
    assert sorted(constants.values()) == sorted(CATALOGUE)
    assert all(name == value.replace(".", "_").upper() for name, value in constants.items())


def test_the_constants_module_is_cheap_to_import():
    """Hot handler paths may use the constants: importing them loads no pydantic model."""
    import subprocess
    import sys

    code = (
        "import sys, homeward.domain.event_types\n"
        "assert 'homeward.domain.events' not in sys.modules\n"
        "assert 'pydantic' not in sys.modules, 'event_types must stay free of imports'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT / "functions")
