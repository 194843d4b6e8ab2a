"""Pages tested in a real browser: Debian's chromium, driven by Playwright's Python package
on that executable (no browser download is possible or wanted).

`admin_page(user)` opens a fresh browser context logged in to the admin of the live test
server as `user`; `screenshot(page, name)` keeps a PNG under `var/test-artefacts/` (the
directory CI keeps) so a failure can be looked at afterwards.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTEFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artefacts"
# Without these, chromium spends its start-up on connections the closed network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The live server's own test password; the users are created by the tests' factories.
PASSWORD = "browser-test-pass-1"

# Playwright's sync API runs an event loop in the test's thread; Django refuses ORM calls
# from a thread with a running loop unless told this is deliberate.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def admin_page(browser: Any, live_server: Any) -> Iterator[Callable[[Any], Any]]:
    contexts: list[Any] = []

    def open_as(user: Any) -> Any:
        user.set_password(PASSWORD)
        user.save(update_fields=["password"])
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1400, "height": 1000}
        )
        contexts.append(context)
        page = context.new_page()
        page.goto("/admin/login/")
        page.fill("#id_username", user.get_username())
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_url("**/admin/")
        return page

    yield open_as
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Callable[[Any, str], Path]:
    def take(page: Any, name: str) -> Path:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTEFACTS / f"{request.node.name}-{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
