"""The audience's domain rules, called directly (no HTTP, no worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from mailinglist import preferences, subscriptions
from mailinglist.addresses import email_hash
from mailinglist.models import ConsentEvent, SignupRequest, Subscriber, Subscription, Suppression
from mailinglist.subscriptions import RequestMeta
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
State = Subscription.State
META = RequestMeta(
    ip="203.0.113.9", user_agent="Mozilla/5.0", source_url="https://news.example.com/a"
)


def _signup(email: str, *slugs: str, name: str = "") -> None:
    request = SignupRequest.objects.create(
        email=email,
        name=name,
        list_slugs=list(slugs),
        source=Subscription.Source.FORM,
        ip=META.ip,
        user_agent=META.user_agent,
        source_url=META.source_url,
        form_version=subscriptions.FORM_VERSION,
    )
    subscriptions.signup_request_process(request_id=request.pk)


def test_a_new_signup_is_pending_with_its_consent_recorded(
    django_capture_on_commit_callbacks,
) -> None:
    MailingListFactory.create(slug="daily")

    with django_capture_on_commit_callbacks() as enqueued:
        _signup("new@example.com", "daily", name="Ada")

    subscription = Subscription.objects.get(subscriber__email="new@example.com")
    assert subscription.state == State.PENDING
    assert subscription.subscriber.name == "Ada"
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.SIGNUP)
    assert event.lists == ["daily"]
    assert (event.ip, event.user_agent, event.source_url) == (
        META.ip,
        META.user_agent,
        META.source_url,
    )
    assert event.form_version == subscriptions.FORM_VERSION
    assert len(enqueued) == 1  # one confirmation, sent once this commits


def test_processing_a_signup_twice_does_it_once(django_capture_on_commit_callbacks) -> None:
    MailingListFactory.create(slug="daily")
    request = SignupRequest.objects.create(
        email="x@example.com", list_slugs=["daily"], source="form"
    )

    with django_capture_on_commit_callbacks() as enqueued:
        subscriptions.signup_request_process(request_id=request.pk)
        subscriptions.signup_request_process(request_id=request.pk)

    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.SIGNUP).count() == 1
    assert len(enqueued) == 1


def test_at_most_one_confirmation_per_address_per_day(django_capture_on_commit_callbacks) -> None:
    MailingListFactory.create(slug="daily")
    MailingListFactory.create(slug="weekly")

    with django_capture_on_commit_callbacks() as enqueued:
        _signup("x@example.com", "daily")
        _signup("X@EXAMPLE.com", "weekly")
        _signup("x@example.com", "daily")

    assert len(enqueued) == 1
    assert Subscriber.objects.count() == 1  # the same person whatever the case


def test_an_active_subscription_is_not_touched_by_a_new_signup(
    django_capture_on_commit_callbacks,
) -> None:
    active = SubscriptionFactory.create(mailing_list=MailingListFactory.create(slug="daily"))

    with django_capture_on_commit_callbacks() as enqueued:
        _signup(active.subscriber.email, "daily")

    active.refresh_from_db()
    assert active.state == State.ACTIVE
    assert enqueued == []


def test_private_and_unknown_lists_are_ignored() -> None:
    MailingListFactory.create(slug="staff-only", is_public=False)

    _signup("x@example.com", "staff-only", "no-such-list")

    assert not Subscription.objects.exists()


@pytest.mark.parametrize(
    "reason", [Suppression.Reason.BOUNCED, Suppression.Reason.COMPLAINED, Suppression.Reason.MANUAL]
)
def test_a_suppressed_address_gets_nothing(reason: str, django_capture_on_commit_callbacks) -> None:
    MailingListFactory.create(slug="daily")
    subscriptions.suppression_add(email="gone@example.com", reason=reason)

    with django_capture_on_commit_callbacks() as enqueued:
        _signup("GONE@example.com", "daily")

    assert not Subscriber.objects.exists()
    assert enqueued == []


def test_confirming_activates_only_the_lists_of_the_link(
    django_capture_on_commit_callbacks,
) -> None:
    daily, weekly = (
        MailingListFactory.create(slug="daily"),
        MailingListFactory.create(slug="weekly"),
    )
    pending_daily = SubscriptionFactory.create(mailing_list=daily, state=State.PENDING)
    pending_weekly = SubscriptionFactory.create(
        subscriber=pending_daily.subscriber, mailing_list=weekly, state=State.PENDING
    )

    with django_capture_on_commit_callbacks() as enqueued:
        confirmed = subscriptions.subscription_confirm(
            subscriber=pending_daily.subscriber, list_ids=[daily.pk], meta=META
        )

    pending_daily.refresh_from_db()
    pending_weekly.refresh_from_db()
    assert confirmed == [daily]
    assert pending_daily.state == State.ACTIVE and pending_daily.confirmed_at is not None
    assert pending_weekly.state == State.PENDING
    assert ConsentEvent.objects.filter(kind=ConsentEvent.Kind.CONFIRM, lists=["daily"]).count() == 1
    assert len(enqueued) == 1  # the welcome mail


def test_a_stale_confirmation_link_does_not_override_a_later_unsubscribe() -> None:
    left = SubscriptionFactory.create(state=State.UNSUBSCRIBED)

    confirmed = subscriptions.subscription_confirm(
        subscriber=left.subscriber, list_ids=[left.mailing_list_id], meta=META
    )

    left.refresh_from_db()
    assert confirmed == []
    assert left.state == State.UNSUBSCRIBED


def test_unsubscribe_and_undo() -> None:
    subscription = SubscriptionFactory.create()
    subscriber, list_id = subscription.subscriber, subscription.mailing_list_id

    left = subscriptions.subscription_unsubscribe(
        subscriber=subscriber, list_ids=[list_id], meta=META, method="one-click"
    )
    again = subscriptions.subscription_unsubscribe(
        subscriber=subscriber, list_ids=[list_id], meta=META, method="one-click"
    )
    subscription.refresh_from_db()
    assert [m.pk for m in left] == [list_id]
    assert again == []  # idempotent, one event
    assert subscription.state == State.UNSUBSCRIBED and subscription.unsubscribed_at is not None
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert event.detail == {"method": "one-click"}

    back = subscriptions.subscription_undo_unsubscribe(
        subscriber=subscriber, list_ids=[list_id], meta=META
    )
    subscription.refresh_from_db()
    assert [m.pk for m in back] == [list_id]
    assert subscription.state == State.ACTIVE


def test_undo_never_activates_what_was_never_confirmed() -> None:
    never_confirmed = SubscriptionFactory.create(state=State.UNSUBSCRIBED, confirmed_at=None)

    back = subscriptions.subscription_undo_unsubscribe(
        subscriber=never_confirmed.subscriber, list_ids=[never_confirmed.mailing_list_id], meta=META
    )

    assert back == []


def test_preferences_switch_lists_and_rename() -> None:
    daily, weekly, private = (
        MailingListFactory.create(slug="daily", name="Daily"),
        MailingListFactory.create(slug="weekly", name="Weekly"),
        MailingListFactory.create(slug="vip", name="VIP", is_public=False),
    )
    subscription = SubscriptionFactory.create(mailing_list=daily)
    subscriber = subscription.subscriber

    offered = [m.slug for m, _ in preferences.preference_lists(subscriber=subscriber)]
    preferences.preferences_update(
        subscriber=subscriber, wanted_list_ids={weekly.pk, private.pk}, name="Ada", meta=META
    )

    states = dict(
        Subscription.objects.filter(subscriber=subscriber).values_list(
            "mailing_list__slug", "state"
        )
    )
    assert offered == ["daily", "weekly"]  # a private list they are not on is not offered
    assert states == {"daily": State.UNSUBSCRIBED, "weekly": State.ACTIVE}
    subscriber.refresh_from_db()
    assert subscriber.name == "Ada"
    event = ConsentEvent.objects.get(kind=ConsentEvent.Kind.PREFERENCES)
    assert event.detail == {"added": ["weekly"], "removed": ["daily"], "name_changed": True}


def test_pause_and_resume() -> None:
    subscriber = SubscriberFactory.create()

    preferences.subscriber_pause(subscriber=subscriber, weeks=4, meta=META)
    assert subscriber.paused_until is not None
    assert subscriber.paused_until - timezone.now() > timedelta(weeks=4) - timedelta(minutes=1)

    preferences.subscriber_pause(subscriber=subscriber, weeks=0, meta=META)
    assert subscriber.paused_until is None


def test_export_holds_subscriptions_and_consent_history() -> None:
    MailingListFactory.create(slug="daily")
    _signup("ada@example.com", "daily", name="Ada")
    subscriber = Subscriber.objects.get()

    data = preferences.subscriber_export(subscriber=subscriber)

    assert data["email"] == "ada@example.com"
    assert data["name"] == "Ada"
    assert [(s["list"], s["state"]) for s in data["subscriptions"]] == [("daily", "pending")]
    assert [e["kind"] for e in data["consent_events"]] == ["signup"]
    assert data["consent_events"][0]["ip"] == META.ip


def test_erase_removes_personal_data_and_keeps_only_the_hash() -> None:
    subscription = SubscriptionFactory.create()
    subscriber = subscription.subscriber
    email = subscriber.email
    SignupRequest.objects.create(
        email=email.upper(), list_slugs=[], source="form", ip="198.51.100.1"
    )
    subscriptions.subscription_unsubscribe(
        subscriber=subscriber, list_ids=None, meta=META, method="page"
    )

    hashed = preferences.subscriber_erase(subscriber=subscriber, meta=META, by="reader")

    assert hashed == email_hash(email)
    assert not Subscriber.objects.exists()
    assert not Subscription.objects.exists()
    assert not SignupRequest.objects.exists()
    suppression = Suppression.objects.get()
    assert (suppression.email, suppression.reason) == ("", Suppression.Reason.ERASED)
    (event,) = ConsentEvent.objects.all()
    assert event.kind == ConsentEvent.Kind.ERASE
    assert event.subscriber is None and event.email_hash == hashed
    assert event.ip is None and event.user_agent == ""
    assert subscriptions.is_suppressed(email=email)


def test_after_erasure_only_a_new_double_opt_in_brings_someone_back(
    django_capture_on_commit_callbacks,
) -> None:
    daily = MailingListFactory.create(slug="daily")
    subscriber = SubscriptionFactory.create(mailing_list=daily).subscriber
    preferences.subscriber_erase(subscriber=subscriber, meta=META, by="reader")

    with django_capture_on_commit_callbacks() as enqueued:
        _signup("reader@example.com".replace("reader", subscriber.email.split("@")[0]), "daily")

    again = Subscription.objects.get()
    assert again.state == State.PENDING  # not active: consent must be given anew
    assert len(enqueued) == 1
    assert subscriptions.is_suppressed(email=subscriber.email)  # still, until they confirm

    subscriptions.subscription_confirm(subscriber=again.subscriber, list_ids=[daily.pk], meta=META)

    assert not subscriptions.is_suppressed(email=subscriber.email)


def test_erase_also_scrubs_admin_history_and_import_reports(staff_user) -> None:
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from mailinglist.models import ImportJob

    subscriber = SubscriptionFactory.create(
        subscriber=SubscriberFactory.create(email="gone@example.com")
    ).subscriber
    LogEntry.objects.log_actions(
        user_id=staff_user.pk, queryset=[subscriber], action_flag=CHANGE, change_message="x"
    )
    daily = MailingListFactory.create(slug="daily")
    report = ImportJob.objects.create(
        mailing_list=daily,
        file_name="a.csv",
        errors=[
            {"line": 2, "email": "GONE@example.com", "reason": "unsubscribed"},
            {"line": 3, "email": "x", "reason": "bad"},
        ],
    )
    waiting = ImportJob.objects.create(
        mailing_list=daily, file_name="b.csv", content="email\ngone@example.com\n"
    )

    preferences.subscriber_erase(subscriber=subscriber, meta=META, by="staff")

    assert not LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Subscriber)
    ).exists()
    report.refresh_from_db()
    waiting.refresh_from_db()
    assert report.errors == [{"line": 3, "email": "x", "reason": "bad"}]
    assert waiting.content == ""
