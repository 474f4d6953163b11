"""The local stack for end-to-end tests: `python -m infra.local` in a subprocess, once per session.

The stack runs the real template.yaml with its demo orders, on free ports; the fixture stops
it with SIGINT at the end and fails if it does not exit 0. All requests come from 127.0.0.1,
and the portal allows 20 failed sign-ins per IP per 15 minutes: keep the suite's total of
failed sign-ins well below that.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.infra.fixtures.local_process import LocalProcess, running_stack


@pytest.fixture(scope="session")
def local_stack() -> Iterator[LocalProcess]:
    with running_stack() as stack:
        yield stack
