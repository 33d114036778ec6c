"""The signup form as a news site really serves it, pressed in Chromium with a real worker and SMTP.

- one article page, cached once and served to three fresh browsers without cookies;
- the same page from a foreign origin, refused;
- the embed snippet on a second local origin (an http.server on 127.0.0.1), JS on and off;
- an autofilled form sent within a second still ends in a confirmation (after one button);
- the success message visible and focused on a 390 px phone and on a desktop.
"""

from __future__ import annotations

import html
import re
import tempfile
import threading
import time
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker
from mailinglist.models import MailingList, SignupRequest
from tests.factories import MailingListFactory

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def daily(celery_worker: Worker) -> MailingList:
    return MailingListFactory.create(
        slug="daily", name="The Morning Briefing", is_default_checked=True
    )


@pytest.fixture
def second_origin() -> Iterator[tuple[str, Path]]:
    """Another site: a static file server on 127.0.0.1 (the live server is on localhost)."""
    with tempfile.TemporaryDirectory() as root:
        handler = partial(QuietHandler, directory=root)
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}", Path(root)
        finally:
            server.shutdown()
            server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _confirmations(sink: SmtpSink, count: int) -> dict[str, int]:
    received = sink.wait_for(count)
    time.sleep(1)  # let any mail that should not exist arrive before counting
    per_reader: dict[str, int] = {}
    for message in sink.received:
        assert message.message["Subject"].startswith("Confirm your subscription")
        for to in message.rcpt_tos:
            per_reader[to] = per_reader.get(to, 0) + 1
    assert len(received) >= count
    return per_reader


def _serve_cached(context: Any, url: str, cached: str) -> None:
    """What a CDN does: every request for the page gets the same stored HTML, no cookies."""
    context.route(
        url,
        lambda route: route.fulfill(
            status=200, body=cached, headers={"Content-Type": "text/html; charset=utf-8"}
        ),
    )


def test_one_cached_article_page_serves_three_readers_and_refuses_a_foreign_origin(
    browser: Any, live_server: Any, daily: MailingList, smtp_sink: SmtpSink
) -> None:
    article = live_server.url + "/"
    with urlopen(article) as response:  # noqa: S310 - the test's own live server
        cached = response.read().decode()
        assert response.headers.get("Set-Cookie") is None
    fetched_at = time.monotonic()

    def reader(email: str, *, javascript: bool, wait: float) -> Any:
        context = browser.new_context(java_script_enabled=javascript)
        _serve_cached(context, article, cached)
        page = context.new_page()
        # Autofill comes once the page has loaded, and so has the script's fresh token.
        page.goto(article, wait_until="networkidle")
        footer = page.locator("footer")
        footer.get_by_label("Email address").fill(email)
        page.wait_for_timeout(wait * 1000)
        footer.get_by_role("button", name="Subscribe").click()
        return context, page

    # With JavaScript, after a person's pause: answered in place.
    context, page = reader("one@example.com", javascript=True, wait=2.2)
    page.locator("footer [data-signup-status]").filter(has_text="Almost done!").wait_for()
    assert context.cookies() == []
    context.close()

    # Without JavaScript: the cached page's own token, older than the time trap by now.
    page_wait = max(0.0, 2.5 - (time.monotonic() - fetched_at))
    context, page = reader("two@example.com", javascript=False, wait=page_wait)
    page.wait_for_url("**/subscribe/thanks/")
    assert "Check your inbox" in page.locator("h1").inner_text()
    context.close()

    # With JavaScript, sent at once (autofill): one more button, in place.
    context, page = reader("three@example.com", javascript=True, wait=0)
    page.get_by_role("button", name="Yes, subscribe me").click()
    page.locator("footer [data-signup-status]").filter(has_text="Almost done!").wait_for()
    context.close()

    # The same page served by a site we don't know, posting to us: refused, nothing stored.
    foreign = browser.new_context(java_script_enabled=False)
    foreign_url = "http://news.foreign.test/article"
    _serve_cached(
        foreign,
        foreign_url,
        cached.replace('action="/subscribe/"', f'action="{live_server.url}/subscribe/"'),
    )
    page = foreign.new_page()
    page.goto(foreign_url)
    page.locator("footer").get_by_label("Email address").fill("four@example.com")
    page.wait_for_timeout(500)
    page.locator("footer").get_by_role("button", name="Subscribe").click()
    page.get_by_role("heading", name="Sign up on our site").wait_for()
    foreign.close()

    assert _confirmations(smtp_sink, 3) == {
        "one@example.com": 1,
        "two@example.com": 1,
        "three@example.com": 1,
    }
    assert not SignupRequest.objects.filter(email="four@example.com").exists()


def _embed_page(live_server: Any, root: Path) -> str:
    with urlopen(live_server.url + "/subscribe/embed/") as response:  # noqa: S310
        shown = response.read().decode()
    found = re.search(r'<pre id="embed-snippet"[^>]*>(.*?)</pre>', shown, re.S)
    assert found, shown
    snippet = html.unescape(found.group(1))
    (root / "story.html").write_text(
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Partner story</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
        f"<body><h1>A partner's story</h1><p>Text.</p>{snippet}</body></html>"
    )
    return "story.html"


@pytest.mark.parametrize("javascript", [True, False], ids=["js-on", "js-off"])
def test_the_embed_works_on_another_origin(
    browser: Any,
    live_server: Any,
    daily: MailingList,
    smtp_sink: SmtpSink,
    second_origin: tuple[str, Path],
    settings: Any,
    javascript: bool,
) -> None:
    origin, root = second_origin
    settings.CORS_ALLOWED_ORIGINS = [origin]
    story = f"{origin}/{_embed_page(live_server, root)}"
    context = browser.new_context(java_script_enabled=javascript)
    page = context.new_page()
    try:
        page.goto(story)
        page.get_by_label("Email address").fill("partner-reader@example.com")
        page.wait_for_timeout(2200)
        page.get_by_role("button", name="Subscribe").click()

        if javascript:
            page.locator("[data-signup-status]").filter(has_text="Almost done!").wait_for()
            assert page.url == story  # answered in place, on the partner's page
        else:
            # A static snippet holds no time token: one button on our page, then our thanks.
            page.get_by_role("button", name="Yes, subscribe me").click()
            page.wait_for_url(f"{live_server.url}/subscribe/thanks/")
            assert "Check your inbox" in page.locator("h1").inner_text()
    finally:
        context.close()

    assert _confirmations(smtp_sink, 1) == {"partner-reader@example.com": 1}
    assert SignupRequest.objects.get().source_url.startswith(origin)


def test_the_embed_on_an_origin_not_allowed_is_refused(
    browser: Any, live_server: Any, daily: MailingList, second_origin: tuple[str, Path]
) -> None:
    origin, root = second_origin
    story = f"{origin}/{_embed_page(live_server, root)}"
    context = browser.new_context()
    page = context.new_page()
    try:
        page.goto(story)
        page.get_by_label("Email address").fill("nobody@example.com")
        page.wait_for_timeout(2200)
        page.get_by_role("button", name="Subscribe").click()
        page.locator("[data-signup-status].is-error").wait_for()
    finally:
        context.close()
    assert not SignupRequest.objects.exists()


def test_an_autofilled_form_sent_within_a_second_still_gets_its_confirmation(
    page: Any, live_server: Any, daily: MailingList, smtp_sink: SmtpSink
) -> None:
    page.goto(live_server.url + "/", wait_until="networkidle")
    started = time.monotonic()
    footer = page.locator("footer")
    footer.get_by_label("Email address").fill("autofill@example.com")
    footer.get_by_role("button", name="Subscribe").click()
    assert time.monotonic() - started < 1

    step = page.get_by_role("button", name="Yes, subscribe me")
    step.wait_for()
    assert page.evaluate("document.activeElement.textContent") == "Yes, subscribe me"
    step.click()
    footer.locator("[data-signup-status]").filter(has_text="Almost done!").wait_for()

    assert _confirmations(smtp_sink, 1) == {"autofill@example.com": 1}


@pytest.mark.parametrize(
    "viewport",
    [{"width": 390, "height": 844}, {"width": 1280, "height": 800}],
    ids=["phone", "desktop"],
)
def test_the_success_message_is_on_screen_and_focused(
    browser: Any, live_server: Any, daily: MailingList, viewport: dict[str, int]
) -> None:
    context = browser.new_context(viewport=viewport, has_touch=viewport["width"] < 500)
    page = context.new_page()
    try:
        page.goto(live_server.url + "/")
        footer = page.locator("footer")
        footer.get_by_label("Email address").fill("phone@example.com")
        page.wait_for_timeout(2200)
        footer.get_by_role("button", name="Subscribe").click()
        status = footer.locator("[data-signup-status]")
        status.filter(has_text="Almost done!").wait_for()
        page.wait_for_timeout(300)  # let the scroll settle

        box = status.bounding_box()
        assert box is not None
        assert box["y"] >= 0
        assert box["y"] + box["height"] <= viewport["height"]
        assert page.evaluate("document.activeElement.hasAttribute('data-signup-status')")
    finally:
        context.close()
