"""Chromium for the portal's browser tests and benchmark, and the portal page driver's shared bits.

The browser is Debian's chromium (`make test` installs it as root), driven by Playwright's
Python package; no Playwright browser download is ever used. tests/browser/conftest.py and
infra/bench/sections/portal.py launch it the same way, with the flags that keep a Chromium
on a machine without network quiet (no background fetches, no QUIC, no component updates).

`local_stack_process()` starts `python -m infra.local` (the real template with the demo orders)
in a subprocess on free ports for the benchmark, so the measured browser does not share this
process's GIL with the gateway.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("HOMEWARD_CHROMIUM", "/usr/bin/chromium")
# No network here: without these, Chromium floods refused connections in the background.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright, **options):
    """Debian's Chromium, headless, with CHROMIUM_ARGS."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(
            f"{CHROMIUM} not found: install Debian's chromium (`apt-get install chromium`; "
            "`make test` does it as root), or set HOMEWARD_CHROMIUM"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, **options)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class StackProcess:
    process: subprocess.Popen
    log_path: Path
    api_url: str
    moto_url: str

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def local_stack_process(start_timeout: float = 90) -> Iterator[StackProcess]:
    """`python -m infra.local` with the demo data on free ports; Ctrl-C (SIGINT) afterwards."""
    port, moto_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AWS_", "POWERTOOLS_", "HOMEWARD_")) and k not in ("TABLE_NAME", "STAGE")
    }
    env["PYTHONUNBUFFERED"] = "1"
    with tempfile.NamedTemporaryFile(prefix="homeward-bench-local-", suffix=".log", delete=False) as log:
        log_path = Path(log.name)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "infra.local", "--port", str(port), "--moto-port", str(moto_port)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    stack = StackProcess(process, log_path, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{moto_port}")
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the local stack exited with {process.returncode}:\n{stack.output()[-4000:]}"
                )
            try:
                with urllib.request.urlopen(f"{stack.api_url}/_local/health", timeout=10) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the local stack was not ready in {start_timeout:.0f} s")
            time.sleep(0.2)
        yield stack
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log_path.unlink(missing_ok=True)
