"""The refunds benchmark checks itself: at a small size it must run clean, its figures must be
the pinned call counts, its write capacity what the written items' sizes imply (sized again here,
independently), and the fault suite must find no anomaly - and the section must fail when it does.

The section runs as `python -m infra.bench --only refunds` in a child, as `make bench` runs it:
the fault suite starts moto's in-process mock, which has no place in the test process.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from argparse import Namespace

import pytest

from infra.bench.sections import refunds as section
from infra.template import ROOT

SCHEDULES = 20


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench") / "latest.json"
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.bench",
            "--only",
            "refunds",
            "--fault-schedules",
            str(SCHEDULES),
            "--fault-seed",
            "0",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return json.loads(out.read_text())["sections"]["refunds"], proc.stdout


# ---- sizes, the way the DynamoDB developer guide states them (written apart from the section's) ----


def attribute_bytes(value: dict) -> int:
    kind, raw = next(iter(value.items()))
    if kind == "S":
        return len(raw.encode("utf-8"))
    if kind == "N":
        significant = raw.lstrip("-").replace(".", "").strip("0")
        return (len(significant) + 1) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + attribute_bytes(v) for k, v in raw.items())
    if kind == "L":
        return 3 + sum(1 + attribute_bytes(v) for v in raw)
    raise AssertionError(f"no {kind} attributes expected in a refund item")


def item_bytes(item: dict | None) -> int:
    return sum(len(name.encode("utf-8")) + attribute_bytes(v) for name, v in (item or {}).items())


def test_the_size_rules():
    assert section.item_size({"pk": {"S": "ORDER#é"}}) == 2 + 8
    assert section.value_size({"N": "7136"}) == 3  # 4 significant digits: 2 bytes, + 1
    assert section.value_size({"N": "100"}) == 2 == section.value_size({"N": "0.001"})
    assert section.value_size({"N": "0"}) == 1
    assert section.value_size({"L": []}) == section.value_size({"M": {}}) == 3
    assert section.value_size({"M": {"ab": {"S": "xyz"}}}) == 3 + 1 + 2 + 3
    assert section.write_units(1024, 0, 0, transactional=False) == 1
    assert section.write_units(1025, 2000, 0, transactional=True) == 4  # the larger, per KB, twice
    assert section.write_units(None, 0, 0, transactional=False) == 1  # a failed write still costs
    assert section.read_units([4097, 1], consistent=True, per_item=True) == 3  # each item per 4 KB
    assert (
        section.read_units([4096, 1], consistent=False, per_item=False) == 1
    )  # a Query: all together, halved
    assert section.read_units([0], consistent=True, per_item=True) == 1  # an absent item: the minimum


# ---- the section ------------------------------------------------------------------------------


def test_calls_per_path_are_the_pinned_ones(bench):
    data, stdout = bench
    assert data["errors"] == []
    assert set(data["paths"]) == set(section.PATH_CALLS)
    for name, path in data["paths"].items():
        assert path["by_api"] == section.PATH_CALLS[name], name
        assert path["calls"] == sum(section.PATH_CALLS[name].values())
    assert data["paths"][section.AUTOMATIC]["by_api"] == {
        "DynamoDB.PutItem": 2,
        "DynamoDB.GetItem": 2,
        "DynamoDB.Query": 1,
        "DynamoDB.TransactWriteItems": 2,
        "DynamoDB.UpdateItem": 1,
    }
    assert data["paths"][section.WEBHOOK]["by_api"] == {
        "DynamoDB.GetItem": 2,
        "DynamoDB.TransactWriteItems": 1,
    }
    assert "A card refund end to end" in stdout and "Fault suite" in stdout


def test_write_units_per_refund_are_what_the_item_sizes_imply(bench):
    data, _ = bench
    for name, path in data["paths"].items():
        assert path["wcu"] > 0 and path["rcu"] > 0, name
        assert path["wcu"] == sum(w["wcu"] for w in path["writes"]), name
        for w in path["writes"]:
            largest = max(w["sent_bytes"] or 0, w["before_bytes"], w["after_bytes"])
            per_kb = max(1, math.ceil(largest / 1024))
            assert w["wcu"] == per_kb * (2 if w["api"] == "DynamoDB.TransactWriteItems" else 1), (name, w)
    # The webhook's transaction, sized here from the items themselves: the return, its new event and
    # the movement are put, the payment's ledger item updated; each costs 2 WCU per KB of the larger
    # of the item before and after.
    webhook = data["paths"][section.WEBHOOK]
    writes = webhook["writes"]
    assert [(w["kind"], w["pk"].split("#")[0], w["sk"].split("#")[0]) for w in writes] == [
        ("Put", "RETURN", "RETURN"),
        ("Put", "RETURN", "EVENT"),
        ("Put", "RETURN", "MONEY"),
        ("Update", "ORDER", "PAYMENT"),
    ]
    expected = 0
    for w in writes:
        items = w["items"]
        if w["kind"] == "Put":
            assert items["sent"] == items["after"]  # what was put is what is stored
            assert item_bytes(items["sent"]) == w["sent_bytes"]
        assert (item_bytes(items["before"]), item_bytes(items["after"])) == (
            w["before_bytes"],
            w["after_bytes"],
        )
        largest = max(item_bytes(items["sent"]), item_bytes(items["before"]), item_bytes(items["after"]))
        expected += 2 * math.ceil(largest / 1024)
    assert webhook["wcu"] == expected
    # A settled movement moves from the open-refunds index to the late-failure recheck index.
    money = writes[2]["items"]
    assert money["before"]["gsi2pk"] == {"S": "MONEY#open"}
    assert money["after"]["gsi2pk"] == {"S": "MONEY#recheck"}


def test_the_fault_suite_ran_and_found_no_anomaly(bench):
    data, _ = bench
    faults = data["faults"]
    assert faults["schedules"] == SCHEDULES
    assert faults["anomalies"] == 0 and faults["examples"] == []
    assert faults["provider_refunds"] > 0
    assert sum(faults["faults_injected"].values()) > 0
    assert data["fault_seed"] == 0


def test_the_section_fails_on_an_anomaly(monkeypatch, capsys):
    paths = {
        name: {
            "invocations": [name],
            "calls": sum(calls.values()),
            "by_api": dict(calls),
            "wcu": 1,
            "rcu": 1.0,
            "writes": [],
            "reads": [],
        }
        for name, calls in section.PATH_CALLS.items()
    }
    paths[section.WEBHOOK]["status"] = "applied"
    monkeypatch.setattr(section, "measure_paths", lambda stack: {"table": "t", "paths": paths})
    faults = {
        "schedules": 3,
        "anomalies": 1,
        "examples": ["schedule #2 -> ['refunded twice']"],
        "faults_injected": {"provider_timeout": 1},
        "provider_refunds": 4,
        "seconds": 0.1,
    }
    monkeypatch.setattr(section, "fault_suite", lambda n, seed: faults)

    class Ctx:
        args = Namespace(fault_schedules=3, fault_seed=7)

        @staticmethod
        def stack():
            return None

    with pytest.raises(RuntimeError, match="1 of 3 schedules found anomalies"):
        section.run(Ctx())
    printed = capsys.readouterr().out
    assert "refunded twice" in printed and "--seed 7" in printed
