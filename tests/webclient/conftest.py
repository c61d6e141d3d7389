"""The web client in a real browser against the real fleet.

The built client (`webclient/dist`, made by `make webclient`) is served by
`helpdesk_fleet.webclient` on WEBCLIENT_ORIGIN, which the session fleet's gateway allows
(tests/conftest.py), with `/config.js` pointing at that fleet's gateway. Debian's Chromium
(/usr/bin/chromium) runs headless under Playwright's bundled driver; no browser is downloaded.

Every test gets a fresh browser context and a `BrowserWatch` on its pages: at the end of the
test, a console error, an uncaught exception, a failed request or an HTTP error the test did
not announce (`watch.expect(401, "/auth/me")`) fails it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Playwright,
    Request,
    Response,
    expect,
    sync_playwright,
)

from helpdesk_fleet.fleet import Fleet
from helpdesk_fleet.process import ServiceProcess
from helpdesk_fleet.webclient import WEBCLIENT
from tests.conftest import WEBCLIENT_ORIGIN, WEBCLIENT_PORT

REPO_ROOT = Path(__file__).resolve().parents[2]
DIST = REPO_ROOT / "webclient" / "dist"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
# Headless, and quiet: this machine's network is closed, so no update checks or sync.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTPUT = Path(os.environ.get("WEBCLIENT_E2E_OUTPUT", REPO_ROOT / "webclient" / "test-output" / "e2e"))
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}

# Assertions wait up to 10 s (as actions do): on 2 shared cores an argon2 login behind a busy
# fleet can take longer than Playwright's 5 s default without anything being wrong.
expect.set_options(timeout=10_000)

_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


@dataclass
class BrowserWatch:
    """What went wrong in a context's pages, to be empty at the end of each test."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    http_errors: list[tuple[int, str, str]] = field(default_factory=list)
    expected: list[tuple[int, str]] = field(default_factory=list)

    def expect(self, status: int, url_part: str) -> None:
        """An HTTP error the test provokes on purpose (a refused token, a validation failure)."""
        self.expected.append((status, url_part))

    def _expected(self, status: int, url: str) -> bool:
        return any(status == want and part in url for want, part in self.expected)

    def attach(self, page: Page) -> None:
        page.on("console", self._on_console)
        page.on("pageerror", lambda error: self.page_errors.append(str(error)))
        page.on("requestfailed", self._on_request_failed)
        page.on("response", self._on_response)

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        url = str(message.location.get("url", ""))
        failed = _FAILED_LOAD.search(message.text)
        if failed and self._expected(int(failed.group(1)), url):
            return  # Chromium's own line about an announced HTTP error
        self.console_errors.append(f"{message.text} ({url})")

    def _on_request_failed(self, request: Request) -> None:
        failure = request.failure or ""
        # The client cancels a list request it no longer needs (a newer search): not a failure.
        if "ERR_ABORTED" in failure:
            return
        self.failed_requests.append(f"{request.method} {request.url}: {failure}")

    def _on_response(self, response: Response) -> None:
        if response.status >= 400 and not self._expected(response.status, response.url):
            self.http_errors.append((response.status, response.request.method, response.url))

    def problems(self) -> list[str]:
        return [
            *(f"console error: {text}" for text in self.console_errors),
            *(f"uncaught exception: {text}" for text in self.page_errors),
            *(f"failed request: {text}" for text in self.failed_requests),
            *(f"unexpected HTTP {status}: {method} {url}" for status, method, url in self.http_errors),
        ]


@dataclass
class Client:
    """The browser side of one test: its context, its first page, what went wrong."""

    context: BrowserContext
    page: Page
    watch: BrowserWatch
    base_url: str

    def new_page(self) -> Page:
        page = self.context.new_page()
        self.watch.attach(page)
        return page

    def screenshot(self, name: str, page: Page | None = None, *, full_page: bool = True) -> Path:
        """Save one of the screens the README lists (webclient/test-output/e2e/<name>.png)."""
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{name}.png"
        (page or self.page).screenshot(path=str(path), full_page=full_page)
        return path

    def local_storage(self, key: str) -> Any:
        return self.page.evaluate("key => window.localStorage.getItem(key)", key)


# Package scope, and after the fleet: while Playwright's sync API runs, its event loop is the
# thread's running loop, so `asyncio.run` (the fleet's database setup, other suites' fixtures)
# would fail. It starts once the fleet is up and stops after this package's last test.
@pytest.fixture(scope="package")
def playwright(webclient: str) -> Iterator[Playwright]:
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's package (apt-get install chromium)")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright) -> Iterator[Browser]:
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def webclient(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The built client served on WEBCLIENT_ORIGIN, calling the session fleet's gateway."""
    if not (DIST / "index.html").is_file():
        pytest.fail(f"{DIST} holds no built client: run `make webclient` (make test does) first")
    server = ServiceProcess(
        spec=WEBCLIENT,
        port=WEBCLIENT_PORT,
        env={"API_BASE_URL": fleet.gateway_url, "WEBCLIENT_DIST": str(DIST), "HOST": "127.0.0.1"},
        log_path=tmp_path_factory.mktemp("webclient-logs") / "webclient.log",
    )
    server.start()
    try:
        server.wait_ready(timeout=30)
        yield WEBCLIENT_ORIGIN
    finally:
        server.stop()


def _open(browser: Browser, base_url: str, **options: Any) -> Client:
    context = browser.new_context(base_url=base_url, viewport=DESKTOP, locale="en-GB", **options)
    context.set_default_timeout(10_000)
    watch = BrowserWatch()
    page = context.new_page()
    watch.attach(page)
    return Client(context=context, page=page, watch=watch, base_url=base_url)


OpenClient = Callable[..., Client]


@pytest.fixture
def open_client(browser: Browser, webclient: str) -> Iterator[OpenClient]:
    """Open a browser context (a person at their own computer); checked when the test ends."""
    opened: list[Client] = []

    def factory(**options: Any) -> Client:
        client = _open(browser, webclient, **options)
        opened.append(client)
        return client

    yield factory
    problems = [problem for client in opened for problem in client.watch.problems()]
    for client in opened:
        client.context.close()
    assert not problems, "the browser saw:\n" + "\n".join(problems)


@pytest.fixture
def client(open_client: OpenClient) -> Client:
    """One person in a fresh browser context."""
    return open_client()


def write_figures(name: str, figures: dict[str, Any]) -> Path:
    """Measurements a test makes (docs/performance.md quotes them), beside the screenshots."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    path = OUTPUT / f"{name}.json"
    path.write_text(json.dumps(figures, indent=2) + "\n")
    return path
