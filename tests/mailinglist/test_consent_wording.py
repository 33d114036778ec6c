"""Every version of the form's consent text is stored, and each consent record shows its words."""

from __future__ import annotations

import pytest
from django.test import Client

from mailinglist import subscriptions
from mailinglist.models import (
    ConsentEvent,
    ConsentWording,
    MailingList,
    SignupRequest,
    Subscriber,
    Subscription,
)
from mailinglist.subscriptions import FORM_CONSENT_WORDING, FORM_VERSION, RequestMeta
from tests.factories import SubscriberFactory

pytestmark = pytest.mark.django_db
META = RequestMeta(ip="203.0.113.9", user_agent="Mozilla/5.0", source_url="https://news.example/a")
EVENTS = "/admin/mailinglist/consentevent/"


def _signup(email: str, *slugs: str, form_version: str = FORM_VERSION) -> Subscriber:
    request = SignupRequest.objects.create(
        email=email,
        list_slugs=list(slugs),
        source=Subscription.Source.FORM,
        ip=META.ip,
        form_version=form_version,
    )
    subscriptions.signup_request_process(request_id=request.pk)
    return Subscriber.objects.get(email=email)


def test_the_wording_the_form_shows_is_stored_under_the_version_records_carry(
    daily: MailingList,
) -> None:
    ConsentWording.objects.all().delete()  # as on a database that never saw this wording

    _signup("ada@example.com", "daily")
    _signup("grace@example.com", "daily")

    wording = ConsentWording.objects.get()
    assert (wording.version, wording.text) == (FORM_VERSION, FORM_CONSENT_WORDING)
    assert wording.first_seen_at is not None
    event = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.SIGNUP).first()
    assert event is not None and event.form_version == FORM_VERSION


def test_the_wording_before_this_feature_was_stored_by_the_migration() -> None:
    # Records made before the wording table existed carry this version: they show their words.
    assert ConsentWording.objects.get(version=FORM_VERSION).text == FORM_CONSENT_WORDING


def test_a_version_this_process_does_not_ship_is_recorded_but_never_invented(
    daily: MailingList,
) -> None:
    _signup("ada@example.com", "daily", form_version="older-wording")

    assert ConsentEvent.objects.get(kind=ConsentEvent.Kind.SIGNUP).form_version == "older-wording"
    assert not ConsentWording.objects.filter(version="older-wording").exists()


def test_the_confirmation_carries_the_version_the_reader_signed_up_with(
    daily: MailingList,
) -> None:
    ConsentWording.objects.create(version="v-earlier", text="Earlier words.")
    subscriber = _signup("ada@example.com", "daily", form_version="v-earlier")

    subscriptions.subscription_confirm(subscriber=subscriber, list_ids=[daily.pk], meta=META)

    confirmation = ConsentEvent.objects.get(kind=ConsentEvent.Kind.CONFIRM)
    assert confirmation.form_version == "v-earlier"


def test_a_confirmation_without_a_recorded_signup_carries_no_version(daily: MailingList) -> None:
    subscriber = SubscriberFactory.create(email="old@example.com")
    Subscription.objects.create(
        subscriber=subscriber, mailing_list=daily, state=Subscription.State.PENDING
    )

    subscriptions.subscription_confirm(subscriber=subscriber, list_ids=[daily.pk], meta=META)

    assert ConsentEvent.objects.get(kind=ConsentEvent.Kind.CONFIRM).form_version == ""


def test_the_consent_admin_shows_the_exact_words_beside_each_record(
    staff: Client, daily: MailingList
) -> None:
    ConsentWording.objects.create(version="v-earlier", text="Earlier words <b>as typed</b>.")
    earlier = _signup("ada@example.com", "daily", form_version="v-earlier")
    subscriptions.subscription_confirm(subscriber=earlier, list_ids=[daily.pk], meta=META)
    _signup("grace@example.com", "daily")
    _signup("lost@example.com", "daily", form_version="never-stored")

    page = staff.get(EVENTS)

    assert page.status_code == 200
    html = page.content.decode()
    assert html.count("Earlier words &lt;b&gt;as typed&lt;/b&gt;.") == 2  # signup and confirm
    assert FORM_CONSENT_WORDING.replace("'", "&#x27;") in html
    assert "(version never-stored: wording not stored)" in html

    confirmation = ConsentEvent.objects.get(kind=ConsentEvent.Kind.CONFIRM)
    detail = staff.get(f"{EVENTS}{confirmation.pk}/change/")
    assert detail.status_code == 200
    assert "Consent wording the reader saw" in detail.content.decode()
    assert "Earlier words &lt;b&gt;as typed&lt;/b&gt;." in detail.content.decode()


def test_a_subscribers_consent_history_shows_the_words_too(
    staff: Client, daily: MailingList
) -> None:
    ConsentWording.objects.create(
        version="v-earlier", text="Earlier words, as the reader saw them."
    )
    reader = _signup("ada@example.com", "daily", form_version="v-earlier")

    page = staff.get(f"/admin/mailinglist/subscriber/{reader.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Consent history" in html
    assert "Earlier words, as the reader saw them." in html
