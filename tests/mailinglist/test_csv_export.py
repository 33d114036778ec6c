"""The subscriber CSV export, called directly: its columns, defused formulas, a clean round trip."""

from __future__ import annotations

import csv
import io

from mailinglist import csvfiles
from mailinglist.models import MailingList, Subscriber, Subscription
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.mailinglist.imports_helpers import import_file

State = Subscription.State


def test_export_lists_each_subscriber_with_their_lists_and_defuses_formulas(
    daily: MailingList,
) -> None:
    weekly = MailingListFactory.create(slug="weekly")
    ada = SubscriberFactory.create(email="ada@example.com", name='=HYPERLINK("x")')
    SubscriptionFactory.create(subscriber=ada, mailing_list=weekly, state=State.UNSUBSCRIBED)
    SubscriptionFactory.create(subscriber=ada, mailing_list=daily, state=State.ACTIVE)
    SubscriberFactory.create(email="-dash@example.com", name="@Bob")

    text = "".join(csvfiles.subscribers_csv_export(queryset=Subscriber.objects.order_by("email")))

    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    assert rows[0] == ["email", "name", "created_at", "lists"]
    assert [row[:2] + row[3:] for row in rows[1:]] == [
        ["'-dash@example.com", "'@Bob", ""],
        ["ada@example.com", '\'=HYPERLINK("x")', "daily:active;weekly:unsubscribed"],
    ]


def test_an_export_imports_back_unchanged(daily: MailingList) -> None:
    SubscriberFactory.create(email="-dash@example.com", name="+Plus")
    exported = "".join(csvfiles.subscribers_csv_export(queryset=Subscriber.objects.all()))
    other = MailingListFactory.create(slug="other")

    job = import_file(exported, other)

    assert (job.merged_count, job.imported_count, job.invalid_count) == (0, 1, 0)
    assert list(Subscriber.objects.values_list("email", "name")) == [("-dash@example.com", "+Plus")]
