"""The signup form, /subscribe/ and the API through Django's test client (no worker runs here):
the form in a page cached for everyone, the one more step for a form that proves nothing, and a
signup with and without JavaScript. What the form refuses or ignores (foreign pages, bots, floods)
is in test_signup_form_defences.py.

The form sits in pages cached for everyone, so nothing here uses a cookie or a CSRF token: each
request is a fresh browser with no cookies (Client(enforce_csrf_checks=True)).
"""

from __future__ import annotations

import html
import re
import time

import pytest

from mailinglist import protection
from mailinglist.models import MailingList, SignupRequest
from tests.mailinglist.signup_form_helpers import PARTNER, fresh_browser, human_token, signup_list

pytestmark = pytest.mark.django_db


@pytest.fixture
def daily() -> MailingList:
    return signup_list()


# --- A page cached for everyone ------------------------------------------------------------------


def test_the_article_page_carries_the_form_and_nothing_per_visitor(daily: MailingList) -> None:
    response = fresh_browser().get("/")
    page = response.content.decode()

    footer = page[page.index('<footer class="site-footer">') :]
    assert '<form id="newsletter-signup" method="post" action="/subscribe/"' in footer
    assert 'type="email" name="email"' in footer
    assert 'value="daily" checked' in footer  # default-checked list
    assert '<label for="newsletter-signup-email">' in footer
    assert 'data-token-url="/subscribe/token/"' in footer
    assert "csrfmiddlewaretoken" not in page
    assert "Set-Cookie" not in str(response.headers) and not response.cookies
    assert "Cookie" not in response.get("Vary", "")


def test_one_cached_page_serves_three_readers_without_cookies(daily: MailingList) -> None:
    cached = fresh_browser().get("/").content.decode()
    found = re.search(r'name="form_token" value="([^"]*)"', cached)
    assert found
    token = html.unescape(found.group(1))
    later = time.time() + 60  # served from the cache a minute after it was rendered

    for n in range(3):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(time, "time", lambda: later)
            response = fresh_browser().post(
                "/subscribe/",
                {"email": f"reader{n}@example.com", "lists": ["daily"], "form_token": token},
                HTTP_ORIGIN="http://testserver",
            )
        assert response.status_code == 302
        assert response["Location"] == "/subscribe/thanks/"
    emails = sorted(SignupRequest.objects.values_list("email", flat=True))
    assert emails == ["reader0@example.com", "reader1@example.com", "reader2@example.com"]


def test_the_time_token_endpoint_is_never_cached_and_answers_embedders(
    daily: MailingList, settings
) -> None:
    settings.CORS_ALLOWED_ORIGINS = [PARTNER]
    response = fresh_browser().get("/subscribe/token/", HTTP_ORIGIN=PARTNER)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response["Access-Control-Allow-Origin"] == PARTNER
    stamped = protection.signup_verdict(
        honeypot="",
        form_token=response.json()["form_token"],
        email="a@example.com",
        now=time.time() + 5,
    )
    assert stamped is protection.Verdict.PERSON


# --- Nobody dropped silently: one more step ---------------------------------------------------


@pytest.mark.parametrize(
    "form_token",
    [
        "",  # the static embed snippet, or a form whose script did not run
        "fresh",  # autofill: sent within a second of loading
        "stale",  # a page kept open (or cached) for more than a day
    ],
)
def test_a_form_that_proves_nothing_gets_one_button_then_goes_through(
    daily: MailingList, form_token: str
) -> None:
    token = {
        "": "",
        "fresh": protection.form_token_make(),
        "stale": protection.form_token_make(now=time.time() - 2 * 24 * 3600),
    }[form_token]
    step = fresh_browser().post(
        "/subscribe/",
        {"email": "fast@example.com", "name": "Ada", "lists": ["daily"], "form_token": token},
    )

    assert step.status_code == 200
    assert "no-store" in step["Cache-Control"]
    page = step.content.decode()
    assert "One more step" in page and ">Yes, subscribe me</button>" in page
    assert not SignupRequest.objects.exists()
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', page))
    assert fields["email"] == "fast@example.com" and fields["lists"] == "daily"

    pressed = fresh_browser().post("/subscribe/", {k: html.unescape(v) for k, v in fields.items()})

    assert pressed.status_code == 302 and pressed["Location"] == "/subscribe/thanks/"
    request = SignupRequest.objects.get()
    assert (request.email, request.name, request.list_slugs) == (
        "fast@example.com",
        "Ada",
        ["daily"],
    )


def test_with_javascript_the_step_is_answered_in_json(daily: MailingList) -> None:
    data = {
        "email": "auto@example.com",
        "lists": ["daily"],
        "form_token": protection.form_token_make(),
    }
    step = fresh_browser().post("/subscribe/", data, HTTP_ACCEPT="application/json")

    assert step.status_code == 200
    assert step.json()["step"] is True and step.json()["ok"] is False
    pressed = fresh_browser().post(
        "/subscribe/",
        {**data, "step_token": step.json()["step_token"]},
        HTTP_ACCEPT="application/json",
    )
    assert pressed.status_code == 202
    assert SignupRequest.objects.get().email == "auto@example.com"


def test_a_step_token_is_good_for_its_own_address_only_and_forged_ones_are_dropped(
    daily: MailingList,
) -> None:
    step_token = protection.step_token_make(email="mine@example.com")
    other = fresh_browser().post(
        "/subscribe/", {"email": "other@example.com", "lists": ["daily"], "step_token": step_token}
    )
    forged = fresh_browser().post(
        "/subscribe/", {"email": "mine@example.com", "lists": ["daily"], "step_token": "forged"}
    )
    old = fresh_browser().post(
        "/subscribe/",
        {
            "email": "mine@example.com",
            "lists": ["daily"],
            "step_token": protection.step_token_make(
                email="mine@example.com", now=time.time() - 7200
            ),
        },
    )

    assert other.status_code == 200 and b"One more step" in other.content
    assert old.status_code == 200 and b"One more step" in old.content
    assert forged.status_code == 302  # a bot's: the success answer, nothing done
    assert not SignupRequest.objects.exists()


def test_the_api_lets_token_less_signups_through_to_double_opt_in(daily: MailingList) -> None:
    response = fresh_browser().post(
        "/api/v1/subscribe",
        {"email": "prog@example.com", "lists": ["daily"]},
        content_type="application/json",
    )

    assert response.status_code == 202
    assert SignupRequest.objects.get().email == "prog@example.com"


# --- What existed before and still holds ---------------------------------------------------------


def test_signup_without_javascript_stores_the_request_and_redirects(daily: MailingList) -> None:
    client = fresh_browser()
    response = client.post(
        "/subscribe/",
        {
            "email": "Reader@Example.com",
            "name": "Ada",
            "lists": ["daily"],
            "form_token": human_token(),
        },
        HTTP_REFERER="https://news.example.com/harbour",
        HTTP_ORIGIN="http://testserver",
        REMOTE_ADDR="198.51.100.7",
    )

    assert response.status_code == 302
    assert response["Location"] == "/subscribe/thanks/"
    request = SignupRequest.objects.get()
    assert (request.email, request.name, request.list_slugs) == (
        "Reader@example.com",
        "Ada",
        ["daily"],
    )
    assert (request.ip, request.source_url, request.source) == (
        "198.51.100.7",
        "https://news.example.com/harbour",
        "form",
    )
    thanks = client.get("/subscribe/thanks/")
    assert b"Almost done!" in thanks.content


def test_signup_with_javascript_answers_json(daily: MailingList) -> None:
    response = fresh_browser().post(
        "/subscribe/",
        {"email": "r@example.com", "lists": ["daily"], "form_token": human_token()},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 202
    assert response.json()["ok"] is True


def test_invalid_input_is_shown_next_to_its_field_and_nothing_is_stored(daily: MailingList) -> None:
    page = fresh_browser().post("/subscribe/", {"email": "not-an-address", "lists": []})
    as_json = fresh_browser().post(
        "/subscribe/",
        {"email": "x@example.com\r\nBcc: v@example.com", "lists": ["nope"]},
        HTTP_ACCEPT="application/json",
    )

    assert page.status_code == 400
    content = page.content.decode()
    assert 'aria-invalid="true"' in content
    assert "Enter a valid email address" in content
    assert "Pick at least one newsletter." in content
    assert as_json.status_code == 400
    assert set(as_json.json()["errors"]) == {"email", "lists"}
    assert not SignupRequest.objects.exists()
