"""A batch's ledger writes skip the WAL flush on PostgreSQL, and only the batch's own."""

from __future__ import annotations

import pytest
from django.db import connection

from devtools.smtp_sink import SmtpSink
from newsletters.delivery import batch, commit_mode, fanout, snapshot
from newsletters.models import Delivery
from tests.mail_transport import transport_to
from tests.newsletters.digests import sending_digest

pytestmark = pytest.mark.django_db
ON_POSTGRESQL = connection.vendor == "postgresql"


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        (value,) = cursor.fetchone()
    return str(value)


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL pass only (DATABASE_URL=postgres://…)")
def test_the_session_is_unflushed_inside_and_durable_again_after_even_on_an_error() -> None:
    assert _synchronous_commit() == "on"
    with commit_mode.ledger_commits_unflushed():
        assert _synchronous_commit() == "off"
    assert _synchronous_commit() == "on"

    with pytest.raises(RuntimeError), commit_mode.ledger_commits_unflushed():
        raise RuntimeError("a batch that fails mid-send")
    assert _synchronous_commit() == "on"


@pytest.mark.skipif(ON_POSTGRESQL, reason="the SQLite pass (no such setting there)")
def test_on_sqlite_it_changes_nothing() -> None:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        (before,) = cursor.fetchone()
    with commit_mode.ledger_commits_unflushed(), connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous")
        (inside,) = cursor.fetchone()
    assert inside == before


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL pass only (DATABASE_URL=postgres://…)")
def test_a_batch_records_every_message_and_leaves_its_connection_durable(
    smtp_sink: SmtpSink, django_capture_on_commit_callbacks
) -> None:
    digest = sending_digest(readers=5)
    with django_capture_on_commit_callbacks(execute=False):
        snapshot.digest_snapshot(digest_id=digest.pk)
    with transport_to(smtp_sink.port):
        (block,) = fanout.batch_ranges(digest_id=digest.pk)
        result = batch.batch_send(
            digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="t"
        )
    assert result.sent == 5
    states = Delivery.objects.filter(digest=digest).values_list("state", flat=True)
    assert set(states) == {Delivery.State.SENT}
    assert len(smtp_sink.wait_for(5)) == 5
    assert _synchronous_commit() == "on"
