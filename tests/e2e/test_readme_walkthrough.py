"""Run the README's walkthrough, exactly as written, against a fresh local stack.

The bash block between the walkthrough markers is executed with `API` and `KEY` pointed at
the stack this test starts; its output must show the answers the README promises. It runs
from the repository root (it calls `.venv/bin/python -m infra.webhook_signing`): the test's
scratch directory links `.venv` and `infra` so the downloaded label lands there instead.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from tests.infra.fixtures.local_process import ROOT, running_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("curl") is None, reason="the README walkthrough uses curl"),
]


def walkthrough_script() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("<!-- walkthrough:start -->", 1)[1].split("<!-- walkthrough:end -->", 1)[0]
    return section.split("```bash\n", 1)[1].rsplit("```", 1)[0]


def test_readme_walkthrough_works_as_written(tmp_path):
    script = walkthrough_script()
    assert script.startswith("API=http://127.0.0.1:3000\n"), "the walkthrough must start by setting API"
    for name in (".venv", "infra"):
        (tmp_path / name).symlink_to(ROOT / name)
    with running_stack() as stack:
        run = subprocess.run(
            [
                "bash",
                "-c",
                "set -o pipefail\n" + script.replace("API=http://127.0.0.1:3000", f"API={stack.api_url}", 1),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            cwd=tmp_path,
        )
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    statuses = [
        line
        for line in lines
        if re.fullmatch(r"(.* )?\d{3}", line) and not line.lower().startswith("retry-after")
    ]

    # Orders and sign-in: create, view, foreign order, wrong email, brute force.
    assert statuses[0].endswith(" 201")
    assert statuses[1].endswith(" 200") and '"email":"s***@example.com"' in statuses[1]
    assert statuses[2].endswith(" 404") and statuses[3].endswith(" 401")
    assert statuses[4:8] == ["401"] * 4 and statuses[8] == "429"
    assert any(re.fullmatch(r"retry-after: \d+", line, re.IGNORECASE) for line in lines)

    # Returns: eligibility, start, label, tracking webhooks, ops view, inspection, shopper view, events.
    assert any(
        line.startswith("L3 Linen tote bag returnable: 0") and "['final_sale']" in line for line in lines
    )
    started = next(line for line in lines if re.match(r"R(-[0-9A-Z]{4}){4} approved refund: \d+", line))
    rma, amount = started.split()[0], int(started.split()[-1])
    issued = next(line for line in lines if line.startswith("issued "))
    tracking = issued.split()[1]
    acks = [json.loads(line) for line in lines if line.startswith('{"status":') and line.endswith("}")]
    assert [a["status"] for a in acks] == ["accepted", "accepted", "accepted", "duplicate", "duplicate"], out
    assert [a["webhook_id"].split("-")[0] for a in acks] == [
        "easypost",
        "shippo",
        "aftership",
        "aftership",
        "aftership",
    ]
    assert acks[3]["webhook_id"] == acks[4]["webhook_id"] == acks[2]["webhook_id"]
    assert f"delivered {tracking}" in lines
    assert f"return {tracking} delivered | latest: DELIVERED in Reno" in lines
    assert any(line == f"['{rma}']" for line in lines), out
    assert "200" in statuses[9:]
    # Refund: pending at the provider with its breakdown, settled by the sweep, never twice.
    pending = next(line for line in lines if line.startswith("pending "))
    assert pending.startswith(f"pending {amount} USD | item ") and pending.endswith(
        f"[({amount}, 'pending')]"
    )
    refunded = next(line for line in lines if line.startswith("refunded ") and "| item" in line)
    assert refunded.startswith(f"refunded {amount} USD") and refunded.endswith(f"[({amount}, 'succeeded')]")
    assert f"refunded refund.issued x 1 | movements: [('refund:{rma}:1', 'succeeded')]" in lines, out
    assert f"{rma},refund,succeeded,{amount},USD" in lines, out
    assert (
        "closed ['return.requested', 'return.approved', 'return.label_issued', 'return.in_transit', "
        "'return.delivered', 'refund.requested', 'refund.issued', 'return.received', 'return.closed']"
        in lines
    ), out
    assert (
        "['refund.issued', 'refund.pending', 'refund.requested', 'return.approved', 'return.closed', "
        "'return.delivered', 'return.in_transit', 'return.label_issued', 'return.received', "
        "'return.requested', 'shipment.delivered', 'shipment.updated']" in lines
    ), out

    # Notifications: one email per step, in order, and texts for the label and the refund.
    dollars = f"${amount // 100}.{amount % 100:02d}"
    assert [line for line in lines if line.startswith("email: ")] == [
        f"email: We received your return request {rma}",
        f"email: Your return {rma} is approved – here is your label",
        f"email: Your return {rma} is on its way",
        f"email: Your return {rma} has arrived",
        f"email: Your refund of {dollars} is on its way",
        f"email: We've checked your return {rma}",
        "email: How was your return with Homeward?",
    ], out
    texts = [line for line in lines if line.startswith("sms: ")]
    assert len(texts) == 2, out
    assert texts[0].startswith(f"sms: Homeward: Your return {rma} is approved. Your label: ")
    assert texts[1].startswith(f"sms: Homeward: We've refunded {dollars} for your return {rma}.")

    # The portal on the API's origin, and a one-time sign-in link by email.
    headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in lines if ": " in line}
    assert headers["content-type"].startswith("text/html") and headers["cache-control"] == "no-cache", out
    assert "script-src 'self'" in headers["content-security-policy"], out
    assert '{"status":"sent_if_matching"} 202' in lines, out
    assert f"portal link: {stack.api_url}/#/signin/<token>?lang=en" in lines, out
    assert [line for line in lines if line.startswith("portal session:")] == [
        "portal session: ord_1001",
        "portal session: link_used",
    ], out

    # The downloaded label is a real PDF whose barcode scans to the tracking number shown.
    assert f"label-{rma}.pdf b'%PDF-' True" in lines
    import pypdfium2
    import zxingcpp

    page = pypdfium2.PdfDocument(str(tmp_path / f"label-{rma}.pdf"))[0]
    codes = {(c.format.name, c.text) for c in zxingcpp.read_barcodes(page.render(scale=203 / 72).to_pil())}
    assert ("Code128", tracking) in codes
