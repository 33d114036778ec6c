"""How an import's chunks commit on PostgreSQL (imports.import_job_run).

A consented import's chunks do not wait for the WAL flush: nothing outside the database depends
on them, and a crash of the server undoes the last ones together with the job's progress. An
import that mails confirmations waits, as each mail is published after its chunk commits and
must name rows the server keeps. Either way the setting ends with the chunk's transaction.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from mailinglist import import_writes, imports
from mailinglist.models import MailingList, Subscription
from tests.factories import MailingListFactory
from tests.mailinglist.imports_helpers import NOTE, import_file


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@pytest.fixture
def seen_in_chunks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """synchronous_commit as each chunk's writes ran."""
    if connection.vendor != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    seen: list[str] = []
    insert = import_writes.consent_events_insert

    def spying(**kwargs: Any) -> None:
        seen.append(_synchronous_commit())
        insert(**kwargs)

    monkeypatch.setattr(import_writes, "consent_events_insert", spying)
    return seen


# Committed for real: inside a test's transaction SET LOCAL would last to the test's end.
@pytest.mark.django_db(transaction=True)
def test_consented_chunks_do_not_wait_for_the_disk_and_the_session_does_afterwards(
    seen_in_chunks: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(imports, "CHUNK_SIZE", 2)
    daily = MailingListFactory.create(slug="daily")
    job = import_file("email\na@example.com\nb@example.com\nc@example.com\n", daily, consent=NOTE)

    assert seen_in_chunks == ["off", "off"]
    assert _synchronous_commit() == "on"
    assert job.imported_count == 3
    assert Subscription.objects.filter(mailing_list=daily, state="active").count() == 3


def test_chunks_that_mail_confirmations_wait_for_the_disk(
    daily: MailingList, seen_in_chunks: list[str]
) -> None:
    job = import_file("email\na@example.com\nb@example.com\n", daily, consent="")

    assert seen_in_chunks == ["on"]
    assert job.imported_count == 2
