"""The set-based import (#12) on a file with every kind of row, on both paths, row for row.

Runs on SQLite and on PostgreSQL, where new subscribers go through COPY: the same file must
leave exactly the same subscribers, subscriptions, consent events and report.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.utils import timezone

from mailinglist import import_writes, imports, subscriptions, tasks
from mailinglist.addresses import email_hash
from mailinglist.models import (
    ConsentEvent,
    MailingList,
    Subscriber,
    Subscription,
    Suppression,
)
from tests.factories import MailingListFactory, SubscriberFactory, SubscriptionFactory
from tests.mailinglist.imports_helpers import NOTE, import_file, job_counts

State = Subscription.State
UNSUBSCRIBED = "Unsubscribed from this list earlier; an import never subscribes them again."
INVALID = "Enter a valid email address, like name@example.com."


def _world(daily: MailingList, domain: str) -> dict[str, Subscriber]:
    """Readers the database has before the import, on a domain of this test's own."""
    weekly = MailingListFactory.create(slug=f"weekly-{domain[:8]}")
    named = SubscriberFactory.create(email=f"Named@{domain}", name="Kept")
    SubscriptionFactory.create(subscriber=named, mailing_list=weekly, state=State.ACTIVE)
    unnamed = SubscriberFactory.create(email=f"unnamed@{domain}", name="")
    SubscriptionFactory.create(subscriber=unnamed, mailing_list=daily, state=State.ACTIVE)
    left = SubscriberFactory.create(email=f"left@{domain}", name="Left Alone")
    SubscriptionFactory.create(subscriber=left, mailing_list=daily, state=State.UNSUBSCRIBED)
    subscriptions.suppression_add(email=f"bounced@{domain}", reason=Suppression.Reason.BOUNCED)
    return {"named": named, "unnamed": unnamed, "left": left}


def _file(domain: str) -> str:
    return "\n".join(
        [
            "email,name",
            f"ada@{domain},Ada Lovelace",  # 2: new
            f"named@{domain.upper()},Replaced",  # 3: known, joins the list, keeps her name
            f"UNNAMED@{domain},Zoë Ångström",  # 4: on the list already; the blank name filled
            "not an address,Bad",  # 5: invalid
            f"left@{domain},Left",  # 6: unsubscribed earlier
            f"Bounced@{domain},B",  # 7: suppressed
            f"ADA@{domain},Ada Again",  # 8: a duplicate of line 2
            ",Nobody",  # 9: no address
            "chen@bücher.example,李小龍",  # 10: new, an international domain
        ]
    )


def _state(daily: MailingList) -> dict[str, tuple[str, str | None]]:
    """address → (name, state on the list)."""
    on_list = dict(
        Subscription.objects.filter(mailing_list=daily).values_list("subscriber__email", "state")
    )
    return {
        email: (name, on_list.get(email))
        for email, name in Subscriber.objects.values_list("email", "name")
    }


def _report(domain: str) -> list[dict[str, Any]]:
    return [
        {
            "line": 5,
            "email": "not an address",
            "reason": "An email address cannot contain spaces or control characters.",
        },
        {"line": 6, "email": f"left@{domain}", "reason": UNSUBSCRIBED},
        {
            "line": 7,
            "email": f"Bounced@{domain}",
            "reason": "On the suppression list (Hard bounce).",
        },
        {"line": 9, "email": "", "reason": "No email address in this row."},
    ]


@pytest.mark.parametrize("chunk_size", [imports.CHUNK_SIZE, 3])
def test_consented_import_of_every_kind_of_row(
    daily: MailingList, staff_user: Any, monkeypatch: pytest.MonkeyPatch, chunk_size: int
) -> None:
    monkeypatch.setattr(imports, "CHUNK_SIZE", chunk_size)
    domain = f"{uuid.uuid4().hex[:10]}.example.com"
    readers = _world(daily, domain)

    job = import_file(_file(domain), daily, by=staff_user)

    assert job_counts(job) == {
        "imported": 3,
        "merged": 1,
        "duplicate": 1,
        "skipped_unsubscribed": 1,
        "suppressed": 1,
        "invalid": 2,
    }
    assert (job.total_rows, job.processed_rows) == (9, 9)
    assert job.errors == _report(domain)
    assert _state(daily) == {
        f"ada@{domain}": ("Ada Lovelace", State.ACTIVE),
        f"Named@{domain}": ("Kept", State.ACTIVE),
        f"unnamed@{domain}": ("Zoë Ångström", State.ACTIVE),
        f"left@{domain}": ("Left Alone", State.UNSUBSCRIBED),
        "chen@xn--bcher-kva.example": ("李小龍", State.ACTIVE),
    }
    imported = Subscription.objects.filter(mailing_list=daily, source=Subscription.Source.IMPORT)
    assert all(s.confirmed_at is not None and s.requested_at is not None for s in imported)
    events = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.IMPORT)
    assert sorted(events.values_list("subscriber__email", flat=True)) == sorted(
        [f"ada@{domain}", f"Named@{domain}", "chen@xn--bcher-kva.example"]
    )
    for event in events:
        assert (event.lists, event.email_hash, event.ip) == ([daily.slug], "", None)
        assert event.detail == {"consent": NOTE, "job": job.pk, "by": "staff"}
    # Set-based writes still give every subscriber what save() would have.
    for subscriber in Subscriber.objects.all():
        assert subscriber.email_hash == email_hash(subscriber.email)
        assert len(subscriber.public_id) == 22
    assert readers["left"].events.count() == 0


def test_import_without_consent_of_every_kind_of_row_sends_one_batch_after_commit(
    daily: MailingList, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    domain = f"{uuid.uuid4().hex[:10]}.example.com"
    _world(daily, domain)
    chen = f"chen@{uuid.uuid4().hex[:8]}.example"  # confirmation slots live a day in Redis
    published: list[tuple[list[int], list[int]]] = []
    monkeypatch.setattr(
        tasks.send_confirmations, "apply_async", lambda args, **_: published.append(args)
    )

    with django_capture_on_commit_callbacks(execute=True):
        job = import_file(_file(domain).replace("chen@bücher.example", chen), daily, consent="")

    assert (job.imported_count, job.merged_count, job.errors) == (3, 1, _report(domain))
    assert _state(daily) == {
        f"ada@{domain}": ("Ada Lovelace", State.PENDING),
        f"Named@{domain}": ("Kept", State.PENDING),
        f"unnamed@{domain}": ("Zoë Ångström", State.ACTIVE),
        f"left@{domain}": ("Left Alone", State.UNSUBSCRIBED),
        chen: ("李小龍", State.PENDING),
    }
    assert not Subscription.objects.filter(state=State.PENDING, confirmed_at__isnull=False).exists()
    joined = {
        s.subscriber_id
        for s in Subscription.objects.filter(mailing_list=daily, state=State.PENDING)
    }
    ((batch, list_ids),) = published
    assert (sorted(batch), list_ids) == (sorted(joined), [daily.pk])
    events = ConsentEvent.objects.filter(kind=ConsentEvent.Kind.IMPORT)
    assert {event.subscriber_id for event in events} == joined
    for event in events:
        assert event.detail == {
            "consent": None,
            "double_opt_in": True,
            "job": job.pk,
            "by": "manage.py import_subscribers",
        }


def test_the_daily_cap_holds_for_batches_too(
    daily: MailingList, django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    weekly = MailingListFactory.create(slug="weekly")
    fresh, again = (
        f"fresh@{uuid.uuid4().hex[:10]}.example",
        f"again@{uuid.uuid4().hex[:10]}.example",
    )
    published: list[tuple[list[int], list[int]]] = []
    monkeypatch.setattr(
        tasks.send_confirmations, "apply_async", lambda args, **_: published.append(args)
    )
    with django_capture_on_commit_callbacks(execute=True):
        import_file(f"email\n{again}\n", daily, consent="")
    published.clear()

    with django_capture_on_commit_callbacks(execute=True):
        job = import_file(f"email\n{again.upper()}\n{fresh}\n", weekly, consent="")

    # Both join the list, but the address mailed an hour ago is not mailed again today.
    assert job.imported_count == 2
    assert published == [([Subscriber.objects.get(email=fresh).pk], [weekly.pk])]


def test_an_address_a_signup_stored_meanwhile_is_joined_not_duplicated(daily: MailingList) -> None:
    # What ON CONFLICT is for: the classification saw no subscriber, the insert meets one.
    domain = f"{uuid.uuid4().hex[:10]}.example.com"
    raced = SubscriberFactory.create(email=f"Raced@{domain}", name="Theirs")

    found = import_writes.subscribers_insert(
        rows=[
            (f"raced@{domain}", email_hash(f"raced@{domain}"), "Ours"),
            (f"new@{domain}", email_hash(f"new@{domain}"), "New"),
        ],
        now=timezone.now(),
    )

    assert found[f"raced@{domain}"].pk == raced.pk
    assert found[f"raced@{domain}"].name == "Theirs"
    # Only the reader this insert made counts as new: the raced one may have subscriptions,
    # which a `new` reader's subscription insert would not check for.
    assert (found[f"raced@{domain}"].new, found[f"new@{domain}"].new) == (False, True)
    assert Subscriber.objects.get(pk=found[f"new@{domain}"].pk).name == "New"
    assert Subscriber.objects.filter(email__iexact=f"raced@{domain}").count() == 1
