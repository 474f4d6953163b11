"""`python -m infra.webhook_signing`: signs a sample and POSTs it; exit status follows the answer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from homeward.errors import WebhookSignatureInvalid
from homeward.providers.tracking_sources import parse_webhook, verify

from infra.webhook_signing import LOCAL_SECRETS, main


class _Receiver(BaseHTTPRequestHandler):
    """Answers like the webhooks endpoint: 200 when the local secret verifies, 401 otherwise."""

    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # http.server dispatches on this name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        headers = dict(self.headers.items())
        provider = self.path.rsplit("/", 1)[-1]
        self.received.append((self.path, headers, body))
        try:
            verify(provider, body, headers, [LOCAL_SECRETS[provider]], now=datetime.now(UTC))
            status, answer = 200, b'{"status":"accepted"}'
        except WebhookSignatureInvalid:
            status, answer = 401, b'{"code":"invalid_signature"}'
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    _Receiver.received = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("provider", ["easypost", "shippo", "aftership", "generic"])
def test_cli_signs_retargets_and_posts(server, provider, capsys):
    args = [provider, "delivered", "--url", server, "--tracking-number", "TN-0001", "--event-id", "evt_cli_1"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "200"
    path, headers, body = _Receiver.received[-1]
    assert path == f"/webhooks/{provider}"
    update = parse_webhook(provider, body, headers, received_at=datetime.now(UTC))
    assert update.tracking_number == "TN0001"
    assert update.event_id == "evt_cli_1"


def test_cli_exits_1_on_a_rejected_signature(server, capsys):
    assert main(["aftership", "in_transit", "--url", server, "--secret", "not-the-secret"]) == 1
    assert capsys.readouterr().out.splitlines()[0] == "401"


def test_cli_exits_1_when_nothing_listens_or_the_sample_is_unknown(capsys):
    assert main(["easypost", "delivered", "--url", "http://127.0.0.1:9"]) == 1
    assert main(["easypost", "no_such_case", "--url", "http://127.0.0.1:9"]) == 1
