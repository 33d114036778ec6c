"""Staff actions outside admin are on the trail too, and an erasure by the reader renames them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from audit.models import AuditEntry
from audit.records import audit_record
from mailinglist import preferences, subscriptions
from tests.factories import MailingListFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def test_an_import_from_the_shell_is_recorded_as_a_command(tmp_path: Path) -> None:
    MailingListFactory.create(slug="daily", name="Daily")
    path = tmp_path / "readers.csv"
    path.write_text("email\nreader@example.com\n", encoding="utf-8")

    call_command(
        "import_subscribers",
        str(path),
        "--list",
        "daily",
        "--consented",
        "Signed up at the fair, May 2026",
        stdout=io.StringIO(),
    )

    (entry,) = AuditEntry.objects.filter(action="import.start")
    assert entry.via == "command"
    assert entry.target_type == "importjob"


def test_a_reader_erasing_themselves_leaves_no_address_on_the_trail(staff_user: User) -> None:
    subscriber = SubscriberFactory.create(email="private.person@example.com")
    audit_record(action="subscriber.change", actor=staff_user, target=subscriber)

    hashed = preferences.subscriber_erase(
        subscriber=subscriber, meta=subscriptions.RequestMeta(), by="reader"
    )

    (entry,) = AuditEntry.objects.filter(action="subscriber.change")
    assert "private.person" not in entry.target_repr
    assert entry.target_repr == f"(erased) {hashed[:12]}…"
    assert entry.actor == staff_user  # who did what, and when, stays
