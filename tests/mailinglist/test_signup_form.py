"""The signup form, /subscribe/ and the API through Django's test client (no worker runs here).

The form sits in pages cached for everyone, so nothing here uses a cookie or a CSRF token: each
request is a fresh browser with no cookies (Client(enforce_csrf_checks=True)).
"""

from __future__ import annotations

import html
import re
import time

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from mailinglist import protection, subscriptions
from mailinglist.models import MailingList, SignupRequest, Subscription
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
State = Subscription.State
PARTNER = "https://partner.example.org"


@pytest.fixture
def daily() -> MailingList:
    return MailingListFactory.create(
        slug="daily", name="The Morning Briefing", is_default_checked=True
    )


def _human_token() -> str:
    # Rendered long enough ago that the time trap takes the submitter for a person.
    return protection.form_token_make(now=time.time() - 10)


def _browser() -> Client:
    """A fresh browser: no cookies, and Django's CSRF check on as it is for real requests."""
    return Client(enforce_csrf_checks=True)


# --- A page cached for everyone ------------------------------------------------------------------


def test_the_article_page_carries_the_form_and_nothing_per_visitor(daily: MailingList) -> None:
    response = _browser().get("/")
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
    cached = _browser().get("/").content.decode()
    found = re.search(r'name="form_token" value="([^"]*)"', cached)
    assert found
    token = html.unescape(found.group(1))
    later = time.time() + 60  # served from the cache a minute after it was rendered

    for n in range(3):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(time, "time", lambda: later)
            response = _browser().post(
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
    response = _browser().get("/subscribe/token/", HTTP_ORIGIN=PARTNER)

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


# --- Origin and Referer ---------------------------------------------------------------------------


def test_a_page_of_a_foreign_origin_is_refused_everywhere(daily: MailingList) -> None:
    data = {"email": "x@example.com", "lists": ["daily"], "form_token": _human_token()}
    form = _browser().post("/subscribe/", data, HTTP_ORIGIN="https://evil.example.net")
    js = _browser().post(
        "/subscribe/", data, HTTP_ORIGIN="https://evil.example.net", HTTP_ACCEPT="application/json"
    )
    api = _browser().post(
        "/api/v1/subscribe",
        data,
        content_type="application/json",
        HTTP_ORIGIN="https://evil.example.net",
    )

    assert form.status_code == 403
    assert b"Sign up on our site" in form.content
    assert js.status_code == 403 and "site we don't know" in js.json()["detail"]
    assert api.status_code == 403
    assert "Access-Control-Allow-Origin" not in js
    assert not SignupRequest.objects.exists()


def test_a_null_origin_falls_back_to_the_referer_and_none_at_all_lets_the_rest_decide(
    daily: MailingList,
) -> None:
    def post(email: str, **headers: str) -> int:
        data = {"email": email, "lists": ["daily"], "form_token": _human_token()}
        return _browser().post("/subscribe/", data, headers=headers).status_code

    assert post("a@example.com", Origin="null", Referer="https://evil.example.net/x") == 403
    assert post("b@example.com", Origin="null", Referer="http://testserver/story") == 302
    assert post("c@example.com", Referer="https://evil.example.net/x") == 403
    assert post("d@example.com") == 302  # privacy settings stripped both
    assert sorted(SignupRequest.objects.values_list("email", flat=True)) == [
        "b@example.com",
        "d@example.com",
    ]


def test_an_allowed_embedder_posts_with_and_without_javascript(
    daily: MailingList, settings
) -> None:
    settings.CORS_ALLOWED_ORIGINS = [PARTNER]
    data = {"email": "js@example.com", "lists": ["daily"], "form_token": _human_token()}
    js = _browser().post("/subscribe/", data, HTTP_ORIGIN=PARTNER, HTTP_ACCEPT="application/json")
    plain = _browser().post(
        "/subscribe/", {**data, "email": "plain@example.com"}, HTTP_ORIGIN=PARTNER
    )

    assert js.status_code == 202
    assert js["Access-Control-Allow-Origin"] == PARTNER
    assert plain.status_code == 302 and plain["Location"] == "/subscribe/thanks/"
    assert SignupRequest.objects.count() == 2


@given(
    origin=st.one_of(st.none(), st.text(max_size=60)),
    referer=st.one_of(st.none(), st.text(max_size=80)),
)
def test_origin_checks_never_fail_on_odd_headers(origin: str | None, referer: str | None) -> None:
    allowed = protection.origin_allowed(origin=origin, referer=referer, allowed=[PARTNER])
    assert isinstance(allowed, bool)
    if origin and origin.strip().rstrip("/").lower() not in {"null", PARTNER}:
        assert allowed is False


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
    step = _browser().post(
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

    pressed = _browser().post("/subscribe/", {k: html.unescape(v) for k, v in fields.items()})

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
    step = _browser().post("/subscribe/", data, HTTP_ACCEPT="application/json")

    assert step.status_code == 200
    assert step.json()["step"] is True and step.json()["ok"] is False
    pressed = _browser().post(
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
    other = _browser().post(
        "/subscribe/", {"email": "other@example.com", "lists": ["daily"], "step_token": step_token}
    )
    forged = _browser().post(
        "/subscribe/", {"email": "mine@example.com", "lists": ["daily"], "step_token": "forged"}
    )
    old = _browser().post(
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
    response = _browser().post(
        "/api/v1/subscribe",
        {"email": "prog@example.com", "lists": ["daily"]},
        content_type="application/json",
    )

    assert response.status_code == 202
    assert SignupRequest.objects.get().email == "prog@example.com"


# --- What existed before and still holds ---------------------------------------------------------


def test_signup_without_javascript_stores_the_request_and_redirects(daily: MailingList) -> None:
    client = _browser()
    response = client.post(
        "/subscribe/",
        {
            "email": "Reader@Example.com",
            "name": "Ada",
            "lists": ["daily"],
            "form_token": _human_token(),
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
    response = _browser().post(
        "/subscribe/",
        {"email": "r@example.com", "lists": ["daily"], "form_token": _human_token()},
        HTTP_ACCEPT="application/json",
    )

    assert response.status_code == 202
    assert response.json()["ok"] is True


def test_invalid_input_is_shown_next_to_its_field_and_nothing_is_stored(daily: MailingList) -> None:
    page = _browser().post("/subscribe/", {"email": "not-an-address", "lists": []})
    as_json = _browser().post(
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


def test_bots_get_the_same_answer_and_nothing_happens(daily: MailingList) -> None:
    honeypot = _browser().post(
        "/subscribe/",
        {
            "email": "a@example.com",
            "lists": ["daily"],
            "website": "http://spam",
            "form_token": _human_token(),
        },
    )
    honeypot_pressing_the_step = _browser().post(
        "/subscribe/",
        {
            "email": "b@example.com",
            "lists": ["daily"],
            "website": "http://spam",
            "step_token": protection.step_token_make(email="b@example.com"),
        },
    )
    forged = _browser().post(
        "/subscribe/", {"email": "c@example.com", "lists": ["daily"], "form_token": "forged"}
    )

    for response in (honeypot, honeypot_pressing_the_step, forged):
        assert response.status_code == 302
        assert response["Location"] == "/subscribe/thanks/"
    assert not SignupRequest.objects.exists()


def test_responses_are_identical_for_every_state_of_an_address(daily: MailingList) -> None:
    SubscriptionFactory.create(
        subscriber=SubscriberFactory.create(email="pending@example.com"),
        mailing_list=daily,
        state=State.PENDING,
    )
    SubscriptionFactory.create(
        subscriber=SubscriberFactory.create(email="active@example.com"), mailing_list=daily
    )
    SubscriptionFactory.create(
        subscriber=SubscriberFactory.create(email="left@example.com"),
        mailing_list=daily,
        state=State.UNSUBSCRIBED,
    )
    subscriptions.suppression_add(email="bounced@example.com", reason="bounced")
    addresses = [
        "new@example.com",
        "pending@example.com",
        "active@example.com",
        "left@example.com",
        "bounced@example.com",
    ]
    token = _human_token()

    def answers(email: str) -> tuple[bytes, ...]:
        data = {"email": email, "lists": ["daily"], "form_token": token}
        form = _browser().post("/subscribe/", data)
        js = _browser().post("/subscribe/", data, HTTP_ACCEPT="application/json")
        api = _browser().post("/api/v1/subscribe", data, content_type="application/json")
        # The step page shows the address it asks about; everything else must be identical.
        step = _browser().post("/subscribe/", {"email": email, "lists": ["daily"]})
        step_page = re.sub(r'value="[^"]*"|<strong>[^<]*</strong>', "", step.content.decode())
        return (
            *(f"{r.status_code} {sorted(r.items())}".encode() + r.content for r in (form, js, api)),
            f"{step.status_code} {step_page}".encode(),
        )

    first, *others = [answers(email) for email in addresses]
    for other in others:
        assert other == first


def test_too_many_signups_from_one_ip_get_429_with_a_clear_message(daily: MailingList) -> None:
    ip = "192.0.2.44"
    token = _human_token()
    for n in range(protection.IP_LIMIT):
        response = _browser().post(
            "/subscribe/",
            {"email": f"r{n}@example.com", "lists": ["daily"], "form_token": token},
            REMOTE_ADDR=ip,
        )
        assert response.status_code == 302

    page = _browser().post(
        "/subscribe/", {"email": "one-more@example.com", "lists": ["daily"]}, REMOTE_ADDR=ip
    )
    api = _browser().post(
        "/api/v1/subscribe",
        {"email": "x@example.com", "lists": ["daily"]},
        content_type="application/json",
        REMOTE_ADDR=ip,
    )
    elsewhere = _browser().post(
        "/subscribe/",
        {"email": "other@example.com", "lists": ["daily"], "form_token": token},
        REMOTE_ADDR="192.0.2.45",
    )

    assert page.status_code == 429
    assert b"Too many signups from your network" in page.content
    assert int(page["Retry-After"]) > 0
    assert api.status_code == 429
    assert "Too many signups" in api.json()["detail"]
    assert elsewhere.status_code == 302  # one noisy network does not block others


def test_staff_pages_keep_django_csrf(staff_user) -> None:
    browser = _browser()
    browser.force_login(staff_user)

    response = browser.post("/admin/logout/")

    assert response.status_code == 403


@given(
    form_token=st.one_of(st.none(), st.text(max_size=120)),
    step_token=st.one_of(st.none(), st.text(max_size=120)),
    honeypot=st.one_of(st.none(), st.text(max_size=10)),
)
def test_no_token_from_outside_makes_a_person_or_an_error(
    form_token: str | None, step_token: str | None, honeypot: str | None
) -> None:
    verdict = protection.signup_verdict(
        honeypot=honeypot, form_token=form_token, step_token=step_token, email="a@example.com"
    )
    # Only our signature makes a person; anything else is a bot's or asks for one more step.
    assert verdict in {protection.Verdict.BOT, protection.Verdict.UNSURE}
    if honeypot:
        assert verdict is protection.Verdict.BOT
