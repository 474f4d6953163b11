"""A fake HTTP API on a real socket, for the stubs of the providers Homeward calls (Stripe in
infra/stripe_stub.py, EasyPost and Shippo in tests/integration/carrier_stub.py).

Subclasses implement `_serve(handler, method)` and call `_listen(host, port)` once their state
exists; requests are served on daemon threads, so a stalled handler never holds up `close()`.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class HttpStub:
    def _serve(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        raise NotImplementedError

    def _listen(self, host: str = "127.0.0.1", port: int = 0) -> None:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in one write, without Nagle: no 40 ms delayed-ACK stalls.
            wbufsize = 64 * 1024
            disable_nagle_algorithm = True

            def do_GET(self):  # noqa: N802
                stub._serve(self, "GET")

            def do_POST(self):  # noqa: N802
                stub._serve(self, "POST")

            def do_DELETE(self):  # noqa: N802
                stub._serve(self, "DELETE")

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        # A stalled handler must not hold up close(): its client gave up long ago.
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
