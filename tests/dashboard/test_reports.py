"""A digest's report: its figures, failures by reason, possible duplicates, the readers it lost,
and its ledger as a streamed CSV. The views are called as DigestAdmin will call them (wired by
the digest admin); until then through RequestFactory with a logged-in user."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import StreamingHttpResponse
from django.template.response import TemplateResponse
from django.test import RequestFactory
from django.utils import timezone

from mailinglist.models import ConsentEvent, Suppression
from newsletters.admin.reports import digest_ledger_csv_view, digest_report_view
from newsletters.delivery import ledger_export, reports
from newsletters.models import Delivery, Digest
from tests.dashboard.builders import ledger_digest, readers, suppressed
from tests.dashboard.test_figures import FIGURE_NAMES, _direct_figures, _lost_through_link
from tests.factories import MailingListFactory
from tests.newsletters.tracking_payloads import POSTMARK, SECRET, post, postmark_complaint

pytestmark = pytest.mark.django_db
Row = Delivery.State


@pytest.fixture
def digest(settings: Any) -> Digest:
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET]}
    morning = MailingListFactory.create(name="The Morning Briefing", slug="morning")
    people = readers(morning, 10)
    made = ledger_digest(
        mailing_list=morning,
        subject="Tuesday: harbour park",
        rows=[
            *[(p, Row.SENT, "") for p in people[:5]],
            (people[5], Row.FAILED, "550 5.1.1 <reader5@example.com>: Recipient address rejected"),
            (people[6], Row.FAILED, "550 5.1.1 <reader6@example.com>: Recipient address rejected"),
            (people[7], Row.FAILED, "552 5.2.2 Mailbox full (queue id 8F3A2B1C9D)"),
            (people[8], Row.SKIPPED, "Suppressed."),
            (people[9], Row.FAILED, '=HYPERLINK("http://evil.example")'),
        ],
        duplicates=(people[0], people[1]),
    )
    for reader in people[5:7]:
        suppressed(reader.email, Suppression.Reason.BOUNCED, at=timezone.now())
    row = Delivery.objects.get(digest=made, subscriber=people[2])
    assert post(POSTMARK, postmark_complaint(row)).status_code == 200
    _lost_through_link(made, people[3])
    return made


def _request(user: User, path: str = "/admin/") -> Any:
    request = RequestFactory().get(path)
    request.user = user
    return request


def test_the_reports_figures_equal_the_ledger_and_consent_records(digest: Digest) -> None:
    report = reports.digest_report(digest=digest)

    assert {name: getattr(report.figures, name) for name in FIGURE_NAMES} == _direct_figures(digest)
    assert (report.figures.bounced, report.figures.complained) == (2, 1)
    assert report.figures.unsubscribed == 1


def test_failures_are_grouped_by_reason_with_addresses_and_ids_masked(digest: Digest) -> None:
    reasons = reports.digest_failure_reasons(digest_id=digest.pk)

    assert [(r.reason, r.count) for r in reasons] == [
        ("550 5.1.1 <address>: Recipient address rejected", 2),
        ("552 5.2.2 Mailbox full (queue id #)", 1),
        ('=HYPERLINK("http://evil.example")', 1),
    ]
    assert (
        sum(r.count for r in reasons)
        == Delivery.objects.filter(digest=digest, state=Row.FAILED).count()
    )
    skipped = reports.digest_failure_reasons(digest_id=digest.pk, state=Row.SKIPPED)
    assert [(r.reason, r.count) for r in skipped] == [("Suppressed.", 1)]


def test_the_reasons_shown_are_capped_and_the_rest_summed() -> None:
    morning = MailingListFactory.create(slug="morning")
    people = readers(morning, reports.FAILURE_REASONS_SHOWN + 3)
    made = ledger_digest(
        mailing_list=morning,
        rows=[
            (p, Row.FAILED, f"554 refused for policy {chr(65 + n % 26)}{n // 26}")
            for n, p in enumerate(people)
        ],
    )

    reasons = reports.digest_failure_reasons(digest_id=made.pk)

    assert len(reasons) == reports.FAILURE_REASONS_SHOWN + 1
    assert reasons[-1] == reports.FailureReason("other reasons", 3)
    assert sum(r.count for r in reasons) == len(people)


def test_the_report_lists_possible_duplicates_and_the_readers_it_lost(digest: Digest) -> None:
    report = reports.digest_report(digest=digest)

    assert [r.email for r in report.duplicates] == ["reader0@example.com", "reader1@example.com"]
    assert [(r.email, r.how) for r in report.unsubscribed] == [
        ("reader3@example.com", "the unsubscribe link")
    ]
    assert [(r.email, r.how) for r in report.complained] == [
        ("reader2@example.com", "reported it as spam")
    ]
    direct = ConsentEvent.objects.filter(kind="unsubscribe", detail__digest=digest.pk)
    assert [r.subscriber_id for r in report.unsubscribed] == [e.subscriber_id for e in direct]


def test_the_report_page_shows_readers_only_to_who_may_view_subscribers(
    digest: Digest, viewer: User, digest_only: User
) -> None:
    full = digest_report_view(_request(viewer), digest)
    bare = digest_report_view(_request(digest_only), digest)
    assert isinstance(full, TemplateResponse) and isinstance(bare, TemplateResponse)
    full.render()
    bare.render()

    page, limited = full.content.decode(), bare.content.decode()
    assert full.status_code == bare.status_code == 200
    assert "Report: Tuesday: harbour park" in page  # admin's title, from each_context
    assert 'id="site-name"' in page  # the admin's header
    for text in ("reader3@example.com", "reader0@example.com", "reader2@example.com"):
        assert text in page and text not in limited
    assert "Who they are is shown to people who may view subscribers" in limited
    assert '<dd id="nd-sent">5</dd>' in page and '<dd id="nd-failed">4</dd>' in page
    assert "550 5.1.1 &lt;address&gt;: Recipient address rejected" in page
    assert "Download the ledger" not in page  # not wired into DigestAdmin in these tests


def test_the_ledger_csv_streams_every_row_with_formulas_defused(
    digest: Digest, audience_manager: User
) -> None:
    response = digest_ledger_csv_view(_request(audience_manager), digest)

    assert isinstance(response, StreamingHttpResponse)
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert (
        response["Content-Disposition"] == f'attachment; filename="digest-{digest.pk}-ledger.csv"'
    )
    body = response.getvalue().decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"))))
    assert rows[0] == ledger_export.LEDGER_COLUMNS
    by_email = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    ledger = Delivery.objects.filter(digest=digest).select_related("subscriber")
    assert len(by_email) == ledger.count() == 10
    for delivery in ledger:
        row = by_email[delivery.subscriber.email]
        assert row["state"] == delivery.state
        assert row["attempts"] == str(delivery.attempts)
        assert row["message_id"] == delivery.message_id
        assert row["possible_duplicate"] == ("yes" if delivery.expired_claims else "")
    assert by_email["reader9@example.com"]["last_error"] == '\'=HYPERLINK("http://evil.example")'
    assert by_email["reader0@example.com"]["sent_at"].startswith(str(timezone.localdate().year))


def test_the_ledger_is_read_a_chunk_at_a_time(
    digest: Digest, django_assert_num_queries: Any
) -> None:
    rows = ledger_export.digest_ledger_rows(digest_id=digest.pk, chunk_size=3)

    with django_assert_num_queries(0):
        header = next(rows)  # nothing is read before the first row is asked for
    with django_assert_num_queries(1):
        first = next(rows)

    assert header == ledger_export.LEDGER_COLUMNS
    assert first[0] == "reader0@example.com"
    assert len(list(rows)) == 9


def test_the_ledger_csv_needs_the_permission_to_export_subscribers(
    digest: Digest, viewer: User
) -> None:
    with pytest.raises(PermissionDenied):
        digest_ledger_csv_view(_request(viewer), digest)


def test_a_retained_digest_has_no_rows_left_to_export(
    digest: Digest, audience_manager: User
) -> None:
    Delivery.objects.filter(digest=digest).delete()
    Digest.objects.filter(pk=digest.pk).update(
        retained_counts={"sent": 5, "failed": 4, "skipped": 1, "total": 10}
    )
    digest.refresh_from_db()

    response = digest_ledger_csv_view(_request(audience_manager), digest)
    report = reports.digest_report(digest=digest)

    assert response.getvalue().decode().strip() == "\ufeff" + ",".join(ledger_export.LEDGER_COLUMNS)
    assert report.figures.is_retained and report.figures.sent == 5
    assert report.failure_reasons == [] and report.duplicates == []
    assert report.figures.bounced is None  # not kept
    assert [r.email for r in report.unsubscribed] == ["reader3@example.com"]  # consent kept
