"""The reader's pages after the first visit: used links, the pause, errors, a change of address.

Through Django's test client, with no worker: enqueued mail is counted, not run (the browser and
integration tests send it for real).
"""

from __future__ import annotations

import time

import pytest
from django.test import Client

from mailinglist import links, preferences, subscriptions, tokens
from mailinglist.models import (
    ConsentEvent,
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
)
from mailinglist.subscriptions import RequestMeta
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.mail_links import url_path

pytestmark = pytest.mark.django_db
State = Subscription.State


@pytest.fixture
def daily() -> MailingList:
    return MailingListFactory.create(slug="daily", name="The Morning Briefing")


def _change_path(subscriber: Subscriber, new_email: str) -> str:
    return url_path(
        links.address_change_url(
            subscriber=subscriber,
            new_email=new_email,
            old_email_ref=preferences.email_ref(subscriber.email),
        )
    )


# --- Used links ----------------------------------------------------------------------------------


def test_a_used_confirmation_link_says_already_subscribed_without_a_button(
    client: Client, daily: MailingList
) -> None:
    weekly = MailingListFactory.create(slug="weekly", name="Weekend Reads")
    subscriber = SubscriberFactory.create()
    for mailing_list in (daily, weekly):
        SubscriptionFactory.create(
            subscriber=subscriber, mailing_list=mailing_list, state=State.PENDING
        )
    path = url_path(links.confirm_url(subscriber=subscriber, list_ids=[daily.pk, weekly.pk]))

    first = client.get(path)
    client.post(path)
    again = client.get(path)
    pressed_again = client.post(path)

    assert b"Yes, subscribe me" in first.content
    assert again.status_code == 200
    assert b"You're already subscribed" in again.content
    assert b"<button" not in again.content
    assert b"Manage your preferences" in again.content
    assert b"Weekend Reads" in again.content
    assert b"You're already subscribed" in pressed_again.content
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.CONFIRM).count() == 1


def test_a_confirmation_link_with_a_list_still_pending_keeps_its_button(
    client: Client, daily: MailingList
) -> None:
    weekly = MailingListFactory.create(slug="weekly")
    subscriber = SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE).subscriber
    SubscriptionFactory.create(subscriber=subscriber, mailing_list=weekly, state=State.PENDING)
    path = url_path(links.confirm_url(subscriber=subscriber, list_ids=[daily.pk, weekly.pk]))

    assert b"Yes, subscribe me" in client.get(path).content


def test_a_used_unsubscribe_link_says_so_and_still_offers_the_way_back(
    client: Client, daily: MailingList
) -> None:
    subscription = SubscriptionFactory.create(mailing_list=daily)
    path = url_path(links.unsubscribe_url(subscriber=subscription.subscriber, mailing_list=daily))

    done = client.post(path)
    again = client.get(path)
    pressed_again = client.post(path)

    assert b"You're unsubscribed" in done.content
    assert b"You're already unsubscribed" in again.content
    assert b">Unsubscribe</button>" not in again.content
    assert b"Subscribe me again" in again.content
    assert b"You're already unsubscribed" in pressed_again.content
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.UNSUBSCRIBE).count() == 1
    client.post(path + "undo/")
    subscription.refresh_from_db()
    assert subscription.state == State.ACTIVE


# --- The preference centre -----------------------------------------------------------------------


def test_the_pause_selector_starts_on_a_pause_that_its_button_makes(
    client: Client, daily: MailingList
) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    path = url_path(links.preferences_url(subscriber=subscriber))

    html = client.get(path).content.decode()
    select = html[html.index('<select name="weeks"') : html.index("</select>")]
    assert '<option value="2" selected>2 weeks</option>' in select
    assert "resume" not in select.lower()
    assert 'name="resume"' not in html  # nothing to resume yet

    paused = client.post(path + "pause/", {"weeks": "2"}, follow=True)
    assert b"Paused for 2 weeks." in paused.content
    assert b'name="resume"' in paused.content
    resumed = client.post(path + "pause/", {"resume": "1"}, follow=True)
    assert b"Your newsletters are back on." in resumed.content
    subscriber.refresh_from_db()
    assert subscriber.paused_until is None


def test_errors_sit_by_their_field_and_a_summary_above_the_button(
    client: Client, daily: MailingList
) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    path = url_path(links.preferences_url(subscriber=subscriber))

    response = client.post(path + "address/", {"email": "not an address"})

    html = response.content.decode()
    assert response.status_code == 400
    form = html[html.index('id="address-form"') :]
    form = form[: form.index("</form>")]
    field, error, summary, button = (
        form.index('name="email"'),
        form.index('class="field-error"'),
        form.index('class="error-summary"'),
        form.index("Send me the link"),
    )
    assert field < error < summary < button
    assert 'href="#id_email"' in form[summary:button]
    # The field names its message, so a screen reader reads it with the field.
    assert 'aria-describedby="id_email_error"' in form
    assert '<p class="field-error" id="id_email_error">' in form


def test_erase_without_the_tick_shows_the_error_by_the_box_and_above_the_button(
    client: Client, daily: MailingList
) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    path = url_path(links.data_link_url(subscriber=subscriber, purpose="erase"))

    html = client.post(path, {}).content.decode()

    assert html.index('class="field-error"') < html.index('class="error-summary"')
    assert html.index('class="error-summary"') < html.index("Delete my data</button>")


# --- Changing the address ------------------------------------------------------------------------


def test_asking_for_a_new_address_mails_it_a_link_and_changes_nothing_yet(
    client: Client, daily: MailingList, django_capture_on_commit_callbacks
) -> None:
    subscriber = SubscriptionFactory.create(
        mailing_list=daily, subscriber=SubscriberFactory.create(email="ada@example.com")
    ).subscriber
    path = url_path(links.preferences_url(subscriber=subscriber))

    with django_capture_on_commit_callbacks() as enqueued:
        asked = client.post(path + "address/", {"email": "Ada@New.Example"}, follow=True)

    assert len(enqueued) == 1
    assert b"We&#x27;ve sent a link to Ada@new.example" in asked.content
    subscriber.refresh_from_db()
    assert subscriber.email == "ada@example.com"


def test_asking_for_ones_own_address_is_a_field_error(client: Client, daily: MailingList) -> None:
    subscriber = SubscriptionFactory.create(
        mailing_list=daily, subscriber=SubscriberFactory.create(email="ada@example.com")
    ).subscriber
    path = url_path(links.preferences_url(subscriber=subscriber))

    response = client.post(path + "address/", {"email": "ADA@example.com"})

    assert response.status_code == 400
    assert b"That&#x27;s already your address." in response.content


def test_the_answer_is_the_same_for_a_taken_or_suppressed_address_and_nothing_is_mailed_twice(
    client: Client, daily: MailingList, django_capture_on_commit_callbacks
) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    SubscriberFactory.create(email="taken@example.com")
    subscriptions.suppression_add(email="bounced@example.com", reason=Suppression.Reason.BOUNCED)
    path = url_path(links.preferences_url(subscriber=subscriber))

    with django_capture_on_commit_callbacks() as enqueued:
        answers = [
            client.post(path + "address/", {"email": email}, follow=True)
            for email in ("taken@example.com", "bounced@example.com", "taken@example.com")
        ]

    for answer, email in zip(answers, ["taken", "bounced", "taken"], strict=True):
        assert answer.status_code == 200
        assert f"We&#x27;ve sent a link to {email}@example.com".encode() in answer.content
    # The owner of the taken address gets one link (and learns why when pressing it); a
    # bounced address is never mailed; a second ask the same day sends nothing more.
    assert len(enqueued) == 1


def test_the_link_at_the_new_address_shows_a_button_and_only_the_post_changes_it(
    client: Client, daily: MailingList, django_capture_on_commit_callbacks
) -> None:
    subscriber = SubscriptionFactory.create(
        mailing_list=daily, subscriber=SubscriberFactory.create(email="ada@example.com")
    ).subscriber
    path = _change_path(subscriber, "ada@new.example")

    shown = client.get(path)
    subscriber.refresh_from_db()
    assert b"Yes, use this address" in shown.content
    assert subscriber.email == "ada@example.com"  # link scanners GET every link

    with django_capture_on_commit_callbacks() as enqueued:
        done = Client(enforce_csrf_checks=True).post(path)

    subscriber.refresh_from_db()
    assert done.status_code == 200
    assert b"Your address is changed" in done.content
    assert subscriber.email == "ada@new.example"
    assert len(enqueued) == 1  # the notice to the old address
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.PREFERENCES)
    assert event.detail["address_changed"] is True
    assert "ada@example.com" not in str(event.detail)
    again = client.get(path)
    assert b"Your address is already changed" in again.content
    assert b"<button" not in again.content


def test_a_new_address_that_became_someone_elses_is_refused_without_saying_whose(
    client: Client, daily: MailingList
) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    path = _change_path(subscriber, "new@example.com")
    SubscriberFactory.create(email="NEW@example.com")

    response = client.post(path)

    assert response.status_code == 409
    assert b"already on our lists" in response.content
    subscriber.refresh_from_db()
    assert subscriber.email != "new@example.com"


def test_a_new_address_that_bounced_since_is_refused(client: Client, daily: MailingList) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    path = _change_path(subscriber, "new@example.com")
    subscriptions.suppression_add(email="new@example.com", reason=Suppression.Reason.BOUNCED)

    response = client.post(path)

    assert response.status_code == 409
    assert b"can&#x27;t send to this address" in response.content
    subscriber.refresh_from_db()
    assert subscriber.email != "new@example.com"


def test_an_older_change_link_stops_working_once_the_address_changed(
    client: Client, daily: MailingList
) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    first = _change_path(subscriber, "first@example.com")
    second = _change_path(subscriber, "second@example.com")

    client.post(second)
    stale = client.post(first)

    subscriber.refresh_from_db()
    assert subscriber.email == "second@example.com"
    assert stale.status_code == 409
    assert b"Your address has changed since this link was sent" in stale.content


def test_change_links_expire_and_other_links_cannot_stand_in(
    client: Client, daily: MailingList, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    eight_days_ago = time.time() - 8 * 86400
    with monkeypatch.context() as patched:
        patched.setattr("django.core.signing.time.time", lambda: eight_days_ago)
        patched.setattr("mailinglist.tokens.time.time", lambda: eight_days_ago)
        expired = _change_path(subscriber, "new@example.com")
    preferences_token = tokens.preferences_token_make(public_id=subscriber.public_id)

    assert client.get(expired).status_code == 410
    assert client.post(expired).status_code == 410
    assert client.post(f"/address/{preferences_token}/").status_code == 400
    with pytest.raises(tokens.TokenInvalid):
        tokens.address_change_token_read(preferences_token)
    subscriber.refresh_from_db()
    assert subscriber.email != "new@example.com"


# --- One welcome ---------------------------------------------------------------------------------


def test_confirming_several_lists_enqueues_one_welcome_for_all_of_them(
    daily: MailingList, django_capture_on_commit_callbacks
) -> None:
    weekly = MailingListFactory.create(slug="weekly")
    quiet = MailingListFactory.create(slug="quiet", is_welcome_enabled=False)
    subscriber = SubscriberFactory.create()
    for mailing_list in (daily, weekly, quiet):
        SubscriptionFactory.create(
            subscriber=subscriber, mailing_list=mailing_list, state=State.PENDING
        )

    with django_capture_on_commit_callbacks() as enqueued:
        subscriptions.subscription_confirm(
            subscriber=subscriber,
            list_ids=[daily.pk, weekly.pk, quiet.pk],
            meta=RequestMeta(),
        )

    assert len(enqueued) == 1


# --- Every page ----------------------------------------------------------------------------------


def test_pages_have_a_skip_link_a_favicon_and_one_h1(client: Client, daily: MailingList) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    pages = [
        url_path(links.preferences_url(subscriber=subscriber)),
        url_path(links.unsubscribe_url(subscriber=subscriber, mailing_list=daily)),
        "/confirm/not-a-token/",
        "/no-such-page/",
    ]
    for path in pages:
        html = client.get(path).content.decode()
        assert html.count("<h1") == 1, path
        assert '<a class="skip-link" href="#content">' in html, path
        assert '<main id="content" tabindex="-1">' in html, path
        assert 'rel="icon"' in html and "operations/favicon.svg" in html, path


def test_the_not_found_and_server_error_pages_have_a_heading(client: Client) -> None:
    from django.template.loader import render_to_string

    missing = client.get("/no-such-page/")
    broken = render_to_string("500.html")

    assert missing.status_code == 404
    assert b"<h1>We can't find that page</h1>" in missing.content
    assert broken.count("<h1>") == 1
    assert 'href="#content"' in broken
