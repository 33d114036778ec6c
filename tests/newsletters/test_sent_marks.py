"""A batch's sent marks: on PostgreSQL each leaves without waiting and is answered before
anything else uses the connection; on SQLite (and inside a transaction) each runs at once.

Transactional tests: inside pytest-django's usual transaction the marks take the ordinary path,
so these are the tests that exercise the one a worker takes.
"""

from __future__ import annotations

from email import message_from_bytes

import psycopg
import pytest
from django.db import DataError, OperationalError, connection, transaction
from django.utils import timezone

from devtools.smtp_sink import SmtpSink
from newsletters.delivery import batch, fanout, record, snapshot
from newsletters.models import Delivery
from operations.driver_statements import driver_fetch
from tests.mail_transport import transport_to
from tests.newsletters.digests import sending_digest

pytestmark = pytest.mark.django_db(transaction=True)
ON_POSTGRESQL = connection.vendor == "postgresql"
Row = Delivery.State


def _claimed_rows(readers: int) -> list[int]:
    digest = sending_digest(readers=readers)
    snapshot.digest_snapshot(digest_id=digest.pk)
    pks = list(Delivery.objects.filter(digest=digest).order_by("pk").values_list("pk", flat=True))
    Delivery.objects.filter(pk__in=pks).update(
        state=Row.SENDING, claimed_by="w:1", claimed_at=timezone.now()
    )
    return pks


def test_a_mark_is_answered_before_the_next_statement_and_counts_only_rows_still_ours() -> None:
    ours, taken_back = _claimed_rows(2)
    Delivery.objects.filter(pk=taken_back).update(state=Row.PENDING, claimed_by="")

    with record.marking() as marks:
        marks.mark(row_id=ours, claimed_by="w:1", message_id="<a@example.com>")
        # On PostgreSQL the mark has left and nobody has read its reply yet.
        assert (marks._waiting is not None) == ON_POSTGRESQL
        # Any statement of the thread reads it first, so it sees the mark applied.
        row = Delivery.objects.get(pk=ours)
        assert marks._waiting is None
        assert (row.state, row.message_id, row.attempts, row.claimed_by) == (
            Row.SENT,
            "<a@example.com>",
            1,
            "",
        )
        marks.mark(row_id=taken_back, claimed_by="w:1", message_id="<b@example.com>")
    assert marks.sent == 1  # the row taken back was left as it was
    assert Delivery.objects.get(pk=taken_back).state == Row.PENDING
    # The block answered everything: the connection is free for a transaction again.
    with transaction.atomic():
        assert Delivery.objects.filter(state=Row.SENT).count() == 1


def test_a_query_on_the_driver_s_own_cursor_reads_the_mark_s_reply_first() -> None:
    # A batch's per-group checks run on the driver cursor, past Django's cursor wrapper.
    (pk,) = _claimed_rows(1)
    with record.marking() as marks:
        marks.mark(row_id=pk, claimed_by="w:1", message_id="<a@example.com>")
        sql = f"SELECT state FROM {Delivery._meta.db_table} WHERE id = {{}}"  # noqa: S608
        found = driver_fetch(
            connection, postgresql=sql.format("%s"), sqlite=sql.format("?"), params=[pk]
        )
        assert marks._waiting is None and marks.sent == 1
    assert found == [(Row.SENT,)]


def test_inside_a_transaction_a_mark_runs_at_once() -> None:
    (pk,) = _claimed_rows(1)
    with transaction.atomic(), record.marking() as marks:
        marks.mark(row_id=pk, claimed_by="w:1", message_id="<a@example.com>")
        assert marks._waiting is None and marks.sent == 1


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL pass only (DATABASE_URL=postgres://…)")
def test_a_mark_the_server_refuses_raises_django_s_error_and_changes_nothing() -> None:
    (pk,) = _claimed_rows(1)
    with record.marking() as marks:
        marks.mark(row_id=pk, claimed_by="w:1", message_id="<" + "x" * 300 + ">")
        with pytest.raises(DataError):
            marks.settle()
    row = Delivery.objects.get(pk=pk)
    assert (row.state, row.claimed_by) == (Row.SENDING, "w:1")


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL pass only (DATABASE_URL=postgres://…)")
def test_a_connection_lost_under_the_marks_raises_and_django_connects_again() -> None:
    before, after = _claimed_rows(2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()

    def lose_the_connection_then_mark(marks: record.SentMarks) -> None:
        marks.mark(row_id=before, claimed_by="w:1", message_id="<a@example.com>")
        marks.settle()
        with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", [pid])
        marks.mark(row_id=after, claimed_by="w:1", message_id="<b@example.com>")
        marks.settle()

    with record.marking() as marks, pytest.raises(OperationalError):
        lose_the_connection_then_mark(marks)
    connection.close_if_unusable_or_obsolete()
    assert Delivery.objects.get(pk=before).state == Row.SENT
    assert Delivery.objects.get(pk=after).state == Row.SENDING  # never applied: sent again later


@pytest.mark.skipif(not ON_POSTGRESQL, reason="PostgreSQL pass only (DATABASE_URL=postgres://…)")
def test_without_prepared_statements_a_mark_still_leaves_unanswered_and_lands() -> None:
    # OPTIONS {"prepare_threshold": None}: a PgBouncer in transaction mode.
    pks = _claimed_rows(2)
    options = connection.settings_dict.setdefault("OPTIONS", {})
    options["prepare_threshold"] = None
    try:
        with record.marking() as marks:
            for n, pk in enumerate(pks):
                marks.mark(row_id=pk, claimed_by="w:1", message_id=f"<{n}@example.com>")
                assert marks._waiting is not None
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'newsdesk%%'"
            )
            (prepared,) = cursor.fetchone()
    finally:
        del options["prepare_threshold"]
    assert marks.sent == 2 and prepared == 0
    assert set(Delivery.objects.filter(pk__in=pks).values_list("state", flat=True)) == {Row.SENT}


def test_a_batch_outside_a_transaction_records_every_message(
    smtp_sink: SmtpSink,
) -> None:
    digest = sending_digest(readers=45)  # three groups: marks answered across group checks
    snapshot.digest_snapshot(digest_id=digest.pk)
    with transport_to(smtp_sink.port):
        (block,) = fanout.batch_ranges(digest_id=digest.pk)
        result = batch.batch_send(
            digest_id=digest.pk, first_id=block.first_id, last_id=block.last_id, worker="t"
        )
    assert result.sent == 45 and result.released == 0
    rows = Delivery.objects.filter(digest=digest)
    assert set(rows.values_list("state", flat=True)) == {Row.SENT}
    # The ledger keeps each message's Message-ID local part: every accepted message is on its row.
    recorded = {
        email: f"<{mid}@" for email, mid in rows.values_list("subscriber__email", "message_id")
    }
    accepted = {r.rcpt_tos[0]: message_from_bytes(r.raw)["Message-ID"] for r in smtp_sink.received}
    assert len(smtp_sink.received) == len(accepted) == 45
    assert all(accepted[email].startswith(prefix) for email, prefix in recorded.items())
