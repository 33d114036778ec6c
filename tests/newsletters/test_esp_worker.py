"""A real Celery worker process sends a scheduled digest through the local Postmark server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from devtools.workers import Worker, database_url, own_bulk_worker
from mailinglist.models import Suppression
from newsletters import scheduling
from newsletters.delivery import dispatch
from newsletters.models import Delivery, Digest
from tests.factories import MailingListFactory
from tests.newsletters.digests import make_digest
from tests.newsletters.esp_server import PostmarkServer, add_readers, rows_by_email
from tests.polling import wait_until

Row = Delivery.State


@pytest.fixture(scope="module")
def esp_worker(
    django_db_setup: Any, django_db_blocker: Any
) -> Iterator[tuple[PostmarkServer, Worker]]:
    from django.db import connection

    server = PostmarkServer().start()
    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    try:
        with own_bulk_worker(db_url=db_url, email_url=server.email_url, name="esp") as worker:
            yield server, worker
    finally:
        server.stop()


@pytest.mark.integration
def test_a_worker_sends_a_scheduled_digest_through_the_esp(
    esp_worker: tuple[PostmarkServer, Worker], transactional_db: None
) -> None:
    server, worker = esp_worker
    mailing_list = MailingListFactory.create(name="Evening", slug="evening")
    digest = make_digest(stories=2, mailing_list=mailing_list)
    emails = [f"evening{n}@example.com" for n in range(30)]
    add_readers(mailing_list, emails)
    server.plans = {"evening7@example.com": ["invalid"]}
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)

    assert dispatch.digests_dispatch_due() == [digest.pk]  # what the beat tick does
    wait_until(
        lambda: Digest.objects.filter(pk=digest.pk, state=Digest.State.SENT).exists(),
        timeout=120,
    )

    rows = rows_by_email(digest)
    assert {e for e, r in rows.items() if r.state == Row.SENT} == set(emails) - {
        "evening7@example.com"
    }
    assert rows["evening7@example.com"].state == Row.FAILED
    assert Suppression.objects.filter(email="evening7@example.com").exists()
    assert len(server.requests) == 30
    echoed = {r["json"]["To"]: r["json"]["Metadata"] for r in server.requests}
    assert echoed == {
        email: {"digest": str(digest.pk), "delivery": str(row.pk)} for email, row in rows.items()
    }
    assert worker.process is not None and worker.process.poll() is None
