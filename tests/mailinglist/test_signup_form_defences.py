"""The signup form's defences, through Django's test client (no worker runs here): a page of a
foreign origin is refused, bots get the success answer and nothing happens, every state of an
address gets the same answer, one network's flood gets 429, staff pages keep Django's CSRF, and
no token from outside makes a person.

As in test_signup_form.py, each request is a fresh browser with no cookies and Django's CSRF check
on (Client(enforce_csrf_checks=True)).
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailinglist import protection, subscriptions
from mailinglist.models import MailingList, SignupRequest, Subscription
from tests.factories import SubscriberFactory, SubscriptionFactory
from tests.mailinglist.signup_form_helpers import PARTNER, fresh_browser, human_token, signup_list

pytestmark = pytest.mark.django_db
State = Subscription.State


@pytest.fixture
def daily() -> MailingList:
    return signup_list()


# --- Origin and Referer ---------------------------------------------------------------------------


def test_a_page_of_a_foreign_origin_is_refused_everywhere(daily: MailingList) -> None:
    data = {"email": "x@example.com", "lists": ["daily"], "form_token": human_token()}
    form = fresh_browser().post("/subscribe/", data, HTTP_ORIGIN="https://evil.example.net")
    js = fresh_browser().post(
        "/subscribe/", data, HTTP_ORIGIN="https://evil.example.net", HTTP_ACCEPT="application/json"
    )
    api = fresh_browser().post(
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
        data = {"email": email, "lists": ["daily"], "form_token": human_token()}
        return fresh_browser().post("/subscribe/", data, headers=headers).status_code

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
    data = {"email": "js@example.com", "lists": ["daily"], "form_token": human_token()}
    js = fresh_browser().post(
        "/subscribe/", data, HTTP_ORIGIN=PARTNER, HTTP_ACCEPT="application/json"
    )
    plain = fresh_browser().post(
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


# --- What existed before and still holds ---------------------------------------------------------


def test_bots_get_the_same_answer_and_nothing_happens(daily: MailingList) -> None:
    honeypot = fresh_browser().post(
        "/subscribe/",
        {
            "email": "a@example.com",
            "lists": ["daily"],
            "website": "http://spam",
            "form_token": human_token(),
        },
    )
    honeypot_pressing_the_step = fresh_browser().post(
        "/subscribe/",
        {
            "email": "b@example.com",
            "lists": ["daily"],
            "website": "http://spam",
            "step_token": protection.step_token_make(email="b@example.com"),
        },
    )
    forged = fresh_browser().post(
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
    token = human_token()

    def answers(email: str) -> tuple[bytes, ...]:
        data = {"email": email, "lists": ["daily"], "form_token": token}
        form = fresh_browser().post("/subscribe/", data)
        js = fresh_browser().post("/subscribe/", data, HTTP_ACCEPT="application/json")
        api = fresh_browser().post("/api/v1/subscribe", data, content_type="application/json")
        # The step page shows the address it asks about; everything else must be identical.
        step = fresh_browser().post("/subscribe/", {"email": email, "lists": ["daily"]})
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
    token = human_token()
    for n in range(protection.IP_LIMIT):
        response = fresh_browser().post(
            "/subscribe/",
            {"email": f"r{n}@example.com", "lists": ["daily"], "form_token": token},
            REMOTE_ADDR=ip,
        )
        assert response.status_code == 302

    page = fresh_browser().post(
        "/subscribe/", {"email": "one-more@example.com", "lists": ["daily"]}, REMOTE_ADDR=ip
    )
    api = fresh_browser().post(
        "/api/v1/subscribe",
        {"email": "x@example.com", "lists": ["daily"]},
        content_type="application/json",
        REMOTE_ADDR=ip,
    )
    elsewhere = fresh_browser().post(
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
    browser = fresh_browser()
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
