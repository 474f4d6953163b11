"""The webhook burst benchmark checks itself: a small burst must come out correct, and the
figures it judges by must catch what they are there to catch.

infra/bench/sections/webhook_burst.py starts a local stack in its own process (it changes the
process environment for good), so the small burst runs `python -m infra.bench` in a child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from infra.bench.sections.webhook_burst import Answer, Burst, Event, correct, tally
from infra.template import ROOT

SIZE, PARCELS = 200, 20


def test_a_small_burst_is_acknowledged_and_applied_exactly_once(tmp_path):
    out = tmp_path / "latest.json"
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "infra.bench",
            "--only",
            "webhook_burst",
            "--burst-size",
            str(SIZE),
            "--parcels",
            str(PARCELS),
            "--ratio-samples",
            "30",
            "--out",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    data = json.loads(out.read_text())["sections"]["webhook_burst"]
    figures = data["verify"]
    assert data["config"] == {**data["config"], "burst_size": SIZE, "unique_events": 180, "duplicates": 20}
    assert figures["applied"] == 180
    assert figures["lost"] == 0
    assert figures["applied_twice"] == 0
    assert figures["non_2xx"] == 0
    assert figures["duplicates_acknowledged"] == figures["duplicate_answers_expected"] == 20
    assert figures["accepted_not_once"] == 0
    assert figures["inbox_items_not_in_burst"] == 0
    assert data["correct"] is True
    assert data["send"]["ack_ms"]["n"] == SIZE and data["send"]["deliveries_per_s"] > 0
    assert data["apply"]["settle_s"] >= 0
    ratio = data["ratio"]
    assert ratio["webhooks_ms"]["n"] == ratio["minimal_ms"]["n"] == 30
    assert ratio["ratio"] == ratio["webhooks_ms"]["p50"] / ratio["minimal_ms"]["p50"] > 0
    assert "applied twice" in proc.stdout and "ratio webhook / minimal" in proc.stdout


def _burst() -> Burst:
    events = [
        Event("easypost", b"{}", "evt_1", "P1"),
        Event("shippo", b"{}", "abc", "P2"),
        Event("generic", b"{}", "msg_1", "P1"),
    ]
    return Burst(events, order=[0, 1, 2, 0, 2, 2], parcels=["P1", "P2"])


def _answers(acks: list[tuple[int, str]], status: int = 200) -> list[Answer]:
    return [Answer(index, status, ack, 5.0) for index, ack in acks]


GOOD_ACKS = [
    (0, "accepted"),
    (1, "accepted"),
    (2, "accepted"),
    (0, "duplicate"),
    (2, "duplicate"),
    (2, "duplicate"),
]
ALL_APPLIED = {
    ("easypost", "evt_1"): "applied",
    ("shippo", "abc"): "applied",
    ("generic", "msg_1"): "applied",
}


def test_tally_of_a_clean_burst():
    figures = tally(_burst(), _answers(GOOD_ACKS), ALL_APPLIED, {"P1": 2, "P2": 1})
    assert figures["lost"] == figures["applied_twice"] == figures["non_2xx"] == 0
    assert figures["duplicates_acknowledged"] == figures["duplicate_answers_expected"] == 3
    assert figures["duplicates_sent"] == 3 and figures["applied"] == 3
    assert correct(figures)


def test_tally_catches_an_event_applied_twice():
    figures = tally(_burst(), _answers(GOOD_ACKS), ALL_APPLIED, {"P1": 3, "P2": 1})
    assert figures["applied_twice"] == 1 and not correct(figures)


def test_tally_catches_lost_events_by_inbox_status():
    inbox = {("easypost", "evt_1"): "applied", ("shippo", "abc"): "parked"}  # the generic one never stored
    figures = tally(_burst(), _answers(GOOD_ACKS), inbox, {"P1": 1, "P2": 0})
    assert figures["lost"] == 2
    assert figures["lost_by_inbox_status"] == {"parked": 1, "missing": 1}
    assert figures["applied_twice"] == 0 and not correct(figures)


def test_tally_catches_refusals_and_wrong_acks():
    refused = _answers(GOOD_ACKS[:5]) + [Answer(2, 503, None, 5.0)]
    figures = tally(_burst(), refused, ALL_APPLIED, {"P1": 2, "P2": 1})
    assert figures["non_2xx"] == 1 and figures["duplicates_acknowledged"] == 2 and not correct(figures)

    twice_accepted = _answers([*GOOD_ACKS[:3], (0, "accepted"), *GOOD_ACKS[4:]])
    figures = tally(_burst(), twice_accepted, ALL_APPLIED, {"P1": 2, "P2": 1})
    assert figures["accepted_not_once"] == 1 and not correct(figures)


def test_tally_catches_inbox_items_the_burst_did_not_send():
    stray = {**ALL_APPLIED, ("aftership", "other"): "applied"}
    figures = tally(_burst(), _answers(GOOD_ACKS), stray, {"P1": 2, "P2": 1})
    assert figures["inbox_items_not_in_burst"] == 1 and not correct(figures)
