"""Subscriber admin actions (unsubscribe, resend confirmation, erase) and the CSV export."""

from __future__ import annotations

import csv
import io
import uuid

from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.test import Client

from mailinglist.addresses import email_hash
from mailinglist.models import ConsentEvent, MailingList, Subscriber, Subscription, Suppression
from tests.factories import SubscriberFactory, SubscriptionFactory
from tests.mailinglist.admin_helpers import EXPORT, SUBSCRIBERS, emails_in

State = Subscription.State


def _csv(response) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="subscribers-')
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


# --- Subscribers: actions ----------------------------------------------------------------------


def _act(client: Client, action: str, *subscribers: Subscriber, **extra: str):
    return client.post(
        SUBSCRIBERS,
        {"action": action, "_selected_action": [s.pk for s in subscribers], **extra},
    )


def test_unsubscribe_action_leaves_every_list_and_records_it(
    staff: Client, daily: MailingList, weekly: MailingList
) -> None:
    subscriber = SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE).subscriber
    SubscriptionFactory.create(subscriber=subscriber, mailing_list=weekly, state=State.PENDING)
    bystander = SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE)

    response = _act(staff, "unsubscribe_everywhere", subscriber)

    assert response.status_code == 302
    assert set(subscriber.subscriptions.values_list("state", flat=True)) == {State.UNSUBSCRIBED}
    bystander.refresh_from_db()
    assert bystander.state == State.ACTIVE
    event = ConsentEvent.objects.get(subscriber=subscriber, kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert event.detail == {"method": "staff"}
    assert event.lists == ["daily", "weekly"]


def test_resend_confirmation_asks_only_for_pending_subscriptions(
    staff: Client, daily: MailingList, weekly: MailingList, django_capture_on_commit_callbacks
) -> None:
    pending = SubscriptionFactory.create(
        mailing_list=daily,
        state=State.PENDING,
        subscriber__email=f"pending@{uuid.uuid4().hex[:12]}.example.com",
    ).subscriber
    active = SubscriptionFactory.create(mailing_list=weekly, state=State.ACTIVE).subscriber

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = _act(staff, "resend_confirmation", pending, active)

    assert response.status_code == 302
    assert len(enqueued) == 1  # the pending one; the active one needs nothing


def test_erasing_asks_first_then_leaves_only_a_hash(
    staff: Client, daily: MailingList, staff_user: User
) -> None:
    subscriber = SubscriptionFactory.create(
        mailing_list=daily, subscriber__email="Gone@Example.com"
    ).subscriber
    LogEntry.objects.log_actions(
        user_id=staff_user.pk, queryset=[subscriber], action_flag=CHANGE, change_message="x"
    )

    confirm = _act(staff, "erase_selected", subscriber)

    assert confirm.status_code == 200
    assert "Gone@Example.com" in confirm.content.decode()
    assert Subscriber.objects.filter(pk=subscriber.pk).exists()

    done = _act(staff, "erase_selected", subscriber, post="yes")

    assert done.status_code == 302
    assert not Subscriber.objects.filter(pk=subscriber.pk).exists()
    suppression = Suppression.objects.get()
    assert (suppression.reason, suppression.email) == (Suppression.Reason.ERASED, "")
    assert suppression.email_hash == email_hash("Gone@Example.com")
    content_type = ContentType.objects.get_for_model(Subscriber)
    assert not LogEntry.objects.filter(content_type=content_type).exists()
    erase = ConsentEvent.objects.get(kind=ConsentEvent.Kind.ERASE)
    assert erase.detail == {"by": "staff"}


# --- Subscribers: CSV export -------------------------------------------------------------------


def test_the_export_holds_exactly_what_the_current_filter_and_search_show(
    staff: Client, daily: MailingList, weekly: MailingList
) -> None:
    wanted = [
        SubscriptionFactory.create(
            mailing_list=daily, state=State.ACTIVE, subscriber__name=f"Wanted {n}"
        ).subscriber
        for n in range(3)
    ]
    SubscriptionFactory.create(subscriber=wanted[0], mailing_list=weekly, state=State.UNSUBSCRIBED)
    SubscriptionFactory.create(mailing_list=daily, state=State.PENDING, subscriber__name="Wanted")
    SubscriptionFactory.create(mailing_list=weekly, state=State.ACTIVE, subscriber__name="Wanted")
    SubscriptionFactory.create(mailing_list=daily, state=State.ACTIVE, subscriber__name="Other")
    query = {"list": "daily", "state": "active", "q": "wanted", "p": "2"}

    changelist = staff.get(SUBSCRIBERS, {k: v for k, v in query.items() if k != "p"})
    redirect = staff.get(EXPORT, query)  # a page number is dropped: the export is every page
    rows = _csv(staff.get(redirect["Location"]))

    assert redirect.status_code == 302
    assert rows[0] == ["email", "name", "created_at", "lists"]
    assert {row[0] for row in rows[1:]} == emails_in(changelist) == {s.email for s in wanted}
    by_email = {row[0]: row for row in rows[1:]}
    assert by_email[wanted[0].email][3] == "daily:active;weekly:unsubscribed"
    assert by_email[wanted[1].email][1] == "Wanted 1"


def test_export_selected_exports_only_those(staff: Client, daily: MailingList) -> None:
    ada, _, cy = SubscriberFactory.create_batch(3)

    rows = _csv(_act(staff, "export_selected", ada, cy))

    assert sorted(row[0] for row in rows[1:]) == sorted([ada.email, cy.email])


def test_a_bad_filter_on_the_export_goes_back_to_the_list(staff: Client, db: None) -> None:
    response = staff.get(EXPORT, {"created_at__gte": "not a date"})

    assert response.status_code == 302
    assert response["Location"] == f"{SUBSCRIBERS}?e=1"
