"""Console output of the local stack: timestamped lines, flushed at once, never interleaved."""

from __future__ import annotations

import threading
import time

_lock = threading.Lock()


def say(message: str) -> None:
    with _lock:
        print(f"{time.strftime('%H:%M:%S')} {message}", flush=True)
