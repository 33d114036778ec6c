"""Playwright driving Debian's Chromium (never a downloaded browser: none can be fetched here)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM) and shutil.which("chromium") is None:
        pytest.skip(
            "Chromium is not installed: run `apt-get install chromium` (.ci/run does) "
            "to run the browser tests"
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django would then refuse the ORM
    # calls the tests make between page actions, though they are ordinary blocking calls.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    """A fresh browser tab, closed before the live server stops and the database is flushed.

    Asking for live_server makes this fixture's teardown run first: a tab left open would keep
    requesting pages (the signup token, the desk's progress) while PostgreSQL truncates tables.
    """
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()
