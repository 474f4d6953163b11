"""Browser tests of the shopper portal: Playwright (Python) driving Debian's Chromium against the local stack.

One local stack per session (the e2e fixture, `python -m infra.local` on free ports with the demo
orders), one Chromium per session, a fresh browser context and page per test. Every test page is
guarded: a console error, an uncaught page error or a request to any host but this machine fails
the test, and so does any 5xx answer (`guard.allow(...)` for a console error a test provokes on
purpose, e.g. a CSP violation or a refused sign-in).

The browser is /usr/bin/chromium (Debian's package: `make test` installs it as root), never a
Playwright browser download. Override with HOMEWARD_CHROMIUM=/path/to/chromium.

Screenshots: `shoot(page, name)` writes `<name>-<width>.png`, palette-quantized to stay small, to
a temporary folder - or to docs/portal/screenshots/ when HOMEWARD_SCREENSHOTS=docs
(`make screenshots`), so a plain `make test` never rewrites the committed pictures.
"""

from __future__ import annotations

import os
import re
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from infra.bench.portal_browser import CHROMIUM, launch
from tests.browser.helpers import DESKTOP, PHONE, SCREENSHOTS_DOCS

# One stack per session, started the way tests/e2e starts it (the same fixture, imported).
from tests.e2e.conftest import local_stack  # noqa: F401  (a fixture)
from tests.infra.fixtures.local_process import LocalProcess

LOCAL_HOSTS = {"127.0.0.1", "localhost", "[::1]", "::1"}
DEFAULT_TIMEOUT_MS = 15_000


# ---- the stack ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stack(local_stack: LocalProcess) -> LocalProcess:  # noqa: F811
    """The local stack, checked to serve the portal at `/`."""
    try:
        with urllib.request.urlopen(local_stack.api_url + "/", timeout=30) as response:
            kind = response.headers.get("Content-Type", "")
            body = response.read(4096).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        pytest.fail(
            f"the local stack does not serve the portal at / ({exc.code}): {exc.read()[:500]!r}\n"
            f"{local_stack.output()[-3000:]}"
        )
    assert kind.startswith("text/html") and "<html" in body.lower(), f"/ is not the portal: {kind}"
    return local_stack


@pytest.fixture(scope="session")
def portal(stack: LocalProcess) -> str:
    """The portal's URL without the trailing slash (as PortalUrl): `f"{portal}/#/..."`."""
    return stack.api_url


# ---- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} not found: the browser tests use Debian's chromium "
            "(`apt-get install chromium`, which `make test` does as root)"
        )
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = launch(playwright)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@dataclass
class Guard:
    """What went wrong in a browser context; checked when the test ends."""

    problems: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)  # every URL requested, in order

    def allow(self, pattern: str) -> None:
        """Accept console errors matching `pattern` (a regex) from now on in this test."""
        self.allowed.append(re.compile(pattern))

    def error(self, text: str) -> None:
        if not any(p.search(text) for p in self.allowed):
            self.problems.append(text)

    def api_calls(self, origin: str) -> list[str]:
        """`METHOD path` of every request to the API paths of `origin` (not the app's files)."""
        return [
            r
            for r in self.requests
            if r.split(" ", 1)[1].startswith(origin)
            and not re.match(r"^/($|index\.html|assets/|favicon)", urlsplit(r.split(" ", 1)[1]).path)
        ]


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme in ("data", "blob", "about"):
        return True
    return (parts.hostname or "") in LOCAL_HOSTS


@pytest.fixture
def guard() -> Guard:
    return Guard()


@pytest.fixture
def new_page(browser, guard: Guard) -> Iterator[Callable]:
    """`new_page(viewport=PHONE, locale="en-US")`: a page in a fresh, guarded browser context."""
    contexts = []

    def make(viewport: dict = PHONE, locale: str = "en-US", **options):
        context = browser.new_context(
            viewport=viewport, locale=locale, timezone_id="UTC", accept_downloads=True, **options
        )
        context.set_default_timeout(DEFAULT_TIMEOUT_MS)
        contexts.append(context)

        def on_request(req):
            guard.requests.append(f"{req.method} {req.url}")

        def block_foreign(route):
            guard.problems.append(f"request to a non-local host: {route.request.url}")
            route.abort()

        context.on("request", on_request)
        context.route(lambda url: not _is_local(url), block_foreign)
        context.on(
            "console",
            lambda msg: msg.type == "error" and guard.error(f"console error: {msg.text} ({msg.location})"),
        )
        context.on("weberror", lambda err: guard.error(f"page error: {err.error}"))
        context.on(
            "response",
            lambda r: (
                r.status >= 500 and guard.problems.append(f"{r.status} from {r.request.method} {r.url}")
            ),
        )
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
    assert not guard.problems, "the page reported problems:\n" + "\n".join(guard.problems)


@pytest.fixture
def phone(new_page):
    """A 360x640 page (the smallest phone the portal supports)."""
    return new_page(PHONE)


@pytest.fixture
def desktop(new_page):
    """A 1440x900 page."""
    return new_page(DESKTOP)


# ---- screenshots --------------------------------------------------------------------------------


def screenshot_dir(tmp_path_factory) -> Path:
    if os.environ.get("HOMEWARD_SCREENSHOTS") == "docs":
        SCREENSHOTS_DOCS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS_DOCS
    return tmp_path_factory.getbasetemp() / "screenshots"


@pytest.fixture(scope="session")
def shots(tmp_path_factory) -> Path:
    folder = screenshot_dir(tmp_path_factory)
    folder.mkdir(parents=True, exist_ok=True)
    return folder
