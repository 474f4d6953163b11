"""docs/data-model.md is generated from the key builders' declarations and kept current; the
declarations name every key builder; no key prefix is spelled outside the data layer."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from homeward.adapters.dynamodb import keys

from infra.data_model import OUTPUT, render_markdown

HOMEWARD = Path(__file__).resolve().parents[2] / "functions" / "homeward"


def test_the_data_model_document_is_current():
    assert OUTPUT.read_text() == render_markdown(), "docs/data-model.md is stale: run `make docs`"


def test_every_entity_names_existing_key_functions_and_every_key_function_is_declared():
    named = {builder for entity in keys.ENTITIES for builder in entity.builders}
    functions = {
        name
        for name, value in vars(keys).items()
        if inspect.isfunction(value) and value.__module__ == keys.__name__ and not name.startswith("_")
    }
    assert named <= functions, named - functions
    assert functions <= named, f"key functions no entity declares: {sorted(functions - named)}"


def test_every_entity_has_an_access_pattern_and_known_indexes():
    for entity in keys.ENTITIES:
        assert entity.access, entity.title
        assert all(index.name in (keys.GSI1, keys.GSI2) for index in entity.indexes), entity.title


def test_parsers_invert_builders():
    assert keys.order_id_from(keys.order("A-1")["pk"]["S"]) == "A-1"
    assert keys.order_id_from(keys.order_gsi1sk("A-1")) == "A-1"
    assert (
        keys.attempts_subject_from(keys.sign_in_attempts("client:1.2.3.4", 60)["pk"]["S"]) == "client:1.2.3.4"
    )
    assert keys.webhook_id_from(keys.webhook("shippo-" + "a" * 32)["pk"]["S"]) == "shippo-" + "a" * 32
    assert keys.tracking_number_from(keys.shipment("1Z999")["pk"]["S"]) == "1Z999"
    assert (
        keys.seq_from_movement_index_sk(keys.movement_index_sk("2026-01-01T00:00:00.000000Z", "R-1", 7)) == 7
    )
    assert keys.is_event_sk(keys.return_event("R-1", 3)["sk"]["S"])
    assert keys.is_ledger_sk(keys.ledger("A-1", "pay_1")["sk"]["S"])
    event = keys.return_event("R-7K3M-9QXA", 12)
    assert keys.event_id_from(event["pk"]["S"], event["sk"]["S"]) == "R-7K3M-9QXA:000012"
    parcel = keys.shipment_event("1Z999", 4, 0)
    assert keys.event_id_from(parcel["pk"]["S"], parcel["sk"]["S"]) == "1Z999:000004#0"


# A key prefix (`ORDER#`, `RETURN#`...) spelled in code, a key split on `#`, or an S3 object key
# prefix (`photos/`, `labels/`: adapters/storage.py builds those).
_KEY_SPELLING = re.compile(
    r"""["'][A-Z_]{3,}#|\.split\(["']#["']|removeprefix\(["'][A-Z_]+#|f?["'](photos|labels)/"""
)


def test_no_key_prefix_is_spelled_outside_the_data_layer():
    offenders = [
        f"{path.relative_to(HOMEWARD)}:{number}: {line.strip()}"
        for folder in ("handlers", "domain")
        for path in sorted((HOMEWARD / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if _KEY_SPELLING.search(line)
    ]
    assert not offenders, "build and parse keys in adapters/dynamodb/keys.py:\n" + "\n".join(offenders)
