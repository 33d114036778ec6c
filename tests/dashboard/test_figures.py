"""The dashboard's figures of the last digests equal their ledger and consent records, live,
kept a while, retained or counted again, with their rates against the mailbox providers' limits;
and what comes next is the scheduled digests and each edition's next slot.

The audience figures are in test_audience_figures.py. test_reports.py checks a digest's report by
FIGURE_NAMES, _direct_figures and _lost_through_link from here."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from mailinglist import links
from mailinglist.models import ConsentEvent, Subscription, Suppression
from newsletters import dashboard
from newsletters.delivery import figures as delivery_figures
from newsletters.delivery.retention import deliveries_retain
from newsletters.models import Delivery, Digest
from tests.dashboard.builders import ledger_digest, readers, suppressed
from tests.factories import DigestFactory, EditionScheduleFactory, MailingListFactory
from tests.newsletters.tracking_payloads import (
    POSTMARK,
    SECRET,
    post,
    postmark_complaint,
    postmark_subscription_change,
)

pytestmark = pytest.mark.django_db
Kind = ConsentEvent.Kind
Row = Delivery.State


# --- Digests -------------------------------------------------------------------------------------


def _lost_through_link(digest: Digest, subscriber: Any, *, one_click: bool = False) -> None:
    """The reader presses Unsubscribe on the page the digest's link opens (or their mail app's)."""
    url = links.unsubscribe_url(subscriber=subscriber, mailing_list=digest.mailing_list)
    path = url.removeprefix("http://127.0.0.1:8000") + f"?{links.DIGEST_PARAM}={digest.pk}"
    body = {"List-Unsubscribe": "One-Click"} if one_click else {}
    assert Client().post(path, body).status_code == 200


@pytest.fixture
def sent_digest(settings: Any) -> Digest:
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": [SECRET]}
    morning = MailingListFactory.create(name="The Morning Briefing", slug="morning")
    people = readers(morning, 12)
    digest = ledger_digest(
        mailing_list=morning,
        rows=[
            *[(p, Row.SENT, "") for p in people[:8]],
            (people[8], Row.FAILED, "550 5.1.1 <reader8@example.com>: user unknown"),
            (people[9], Row.FAILED, "552 5.2.2 mailbox full"),
            (people[10], Row.SKIPPED, "Unsubscribed before sending."),
            (people[11], Row.PENDING, ""),
        ],
        duplicates=(people[0],),
    )
    # A hard bounce suppresses the address (batches.py does so on a 550 at RCPT).
    suppressed(people[8].email, Suppression.Reason.BOUNCED, at=timezone.now())
    # A complaint and an unsubscribe through the ESP, as its webhooks report them.
    row = Delivery.objects.get(digest=digest, subscriber=people[1])
    assert post(POSTMARK, postmark_complaint(row)).status_code == 200
    row = Delivery.objects.get(digest=digest, subscriber=people[2])
    assert post(POSTMARK, postmark_subscription_change(row, people[2].email)).status_code == 200
    # Two readers leave through the digest's own links.
    _lost_through_link(digest, people[3])
    _lost_through_link(digest, people[4], one_click=True)
    return digest


def _direct_figures(digest: Digest) -> dict[str, int]:
    ledger = Delivery.objects.filter(digest=digest)
    bounced_hashes = Suppression.objects.filter(reason="bounced").values("email_hash")
    return {
        "total": ledger.count(),
        "sent": ledger.filter(state=Row.SENT).count(),
        "failed": ledger.filter(state=Row.FAILED).count(),
        "skipped": ledger.filter(state=Row.SKIPPED).count(),
        "pending": ledger.filter(state__in=[Row.PENDING, Row.SENDING]).count(),
        "bounced": ledger.filter(
            state=Row.FAILED, subscriber__email_hash__in=bounced_hashes
        ).count(),
        "complained": ledger.filter(state=Row.SENT, last_error__icontains="spam").count(),
        "unsubscribed": ConsentEvent.objects.filter(
            kind=Kind.UNSUBSCRIBE, detail__digest=digest.pk
        ).count(),
        "possible_duplicates": ledger.filter(expired_claims__gt=0).count(),
    }


FIGURE_NAMES = (
    "total",
    "sent",
    "failed",
    "skipped",
    "pending",
    "bounced",
    "complained",
    "unsubscribed",
    "possible_duplicates",
)


def _figures(figures: delivery_figures.DigestFigures) -> dict[str, int | None]:
    return {name: getattr(figures, name) for name in FIGURE_NAMES}


def test_the_last_digests_figures_equal_their_ledger_and_consent_records(
    sent_digest: Digest,
) -> None:
    lines = dashboard.last_digests()

    assert [line.digest.pk for line in lines] == [sent_digest.pk]
    figures = _figures(lines[0].figures)
    assert figures == _direct_figures(sent_digest)
    assert figures == {
        "total": 12,
        "sent": 8,
        "failed": 2,
        "skipped": 1,
        "pending": 1,
        "bounced": 1,
        "complained": 1,
        "unsubscribed": 3,  # the ESP's, the page's and the one-click's
        "possible_duplicates": 1,
    }
    rates = lines[0].figures
    assert rates.bounce_rate.value == pytest.approx(1 / 10)
    assert rates.complaint_rate.value == pytest.approx(1 / 8)
    assert rates.bounce_rate.is_over and rates.complaint_rate.is_over


def test_an_unsubscribe_through_another_way_is_not_the_digests() -> None:
    morning = MailingListFactory.create(slug="morning")
    people = readers(morning, 2)
    digest = ledger_digest(mailing_list=morning, rows=[(p, Row.SENT, "") for p in people])
    url = links.unsubscribe_url(subscriber=people[0], mailing_list=morning)
    # A link from a confirmation or welcome mail carries no digest.
    assert Client().post(url.removeprefix("http://127.0.0.1:8000")).status_code == 200

    assert dashboard.last_digests()[0].figures.unsubscribed == 0
    assert ConsentEvent.objects.filter(kind=Kind.UNSUBSCRIBE).count() == 1
    assert digest.pk  # the digest exists, the reader left, but not because of it


def test_only_digests_that_went_out_are_listed_newest_first_and_at_most_ten() -> None:
    morning = MailingListFactory.create(slug="morning")
    people = readers(morning, 1)
    made = [
        ledger_digest(
            mailing_list=morning,
            rows=[(people[0], Row.SENT, "")],
            snapshot_at=timezone.now() - timedelta(days=n),
        )
        for n in range(12)
    ]
    DigestFactory.create(mailing_list=morning, state=Digest.State.DRAFT)

    listed = [line.digest.pk for line in dashboard.last_digests()]

    assert listed == [d.pk for d in made[:10]]


def test_a_retained_digest_answers_from_its_kept_counts_and_its_consent_records(
    sent_digest: Digest,
) -> None:
    Delivery.objects.filter(digest=sent_digest, state=Row.PENDING).update(state=Row.SENT)
    Digest.objects.filter(pk=sent_digest.pk).update(
        updated_at=timezone.now() - timedelta(days=40), sent_at=timezone.now() - timedelta(days=40)
    )
    before = _direct_figures(sent_digest)

    assert deliveries_retain() == 1
    assert not Delivery.objects.filter(digest=sent_digest).exists()
    figures = dashboard.last_digests()[0].figures

    kept = Digest.objects.get(pk=sent_digest.pk).retained_counts
    assert kept is not None
    assert figures.is_retained
    assert (figures.total, figures.sent, figures.failed, figures.skipped, figures.pending) == (
        kept["total"],
        kept["sent"],
        kept["failed"],
        kept["skipped"],
        kept["pending"] + kept["sending"],
    )
    assert (figures.sent, figures.failed) == (before["sent"], before["failed"])
    assert figures.possible_duplicates == kept["possible_duplicates"] == 1
    # Consent records outlive the ledger.
    assert figures.unsubscribed == before["unsubscribed"] == 3
    # What only the ledger knew is shown as not known unless retention kept it.
    expected = {key: kept.get(key) for key in ("bounced", "complained")}
    assert {"bounced": figures.bounced, "complained": figures.complained} == expected


def test_retention_can_keep_what_only_the_ledger_knows(sent_digest: Digest) -> None:
    outcomes = delivery_figures.digest_ledger_outcomes(digest_id=sent_digest.pk)
    Digest.objects.filter(pk=sent_digest.pk).update(
        retained_counts={
            **{state: 0 for state in Row.values},
            "sent": 9,
            "failed": 2,
            "total": 11,
            **outcomes,
        }
    )

    figures = dashboard.last_digests()[0].figures

    assert outcomes == {"bounced": 1, "complained": 1}
    assert (figures.bounced, figures.complained) == (1, 1)
    assert figures.bounce_rate.value == pytest.approx(1 / 11)


def test_a_finished_digests_figures_are_kept_a_while_and_a_sending_ones_are_live(
    sent_digest: Digest,
) -> None:
    going = ledger_digest(
        mailing_list=sent_digest.mailing_list,
        rows=[(s.subscriber, Row.PENDING, "") for s in Subscription.objects.all()[:3]],
        state=Digest.State.SENDING,
        snapshot_at=timezone.now(),
    )
    dashboard.last_digests()
    Delivery.objects.filter(digest__in=[sent_digest, going], state=Row.PENDING).update(
        state=Row.SENT
    )

    figures = {line.digest.pk: line.figures for line in dashboard.last_digests()}

    assert figures[going.pk].sent == 3  # counted now
    assert figures[sent_digest.pk].pending == 1  # as counted a moment ago
    now = timezone.now()
    assert dashboard._figures_seconds(sent_digest, now) == dashboard.FINISHED_FIGURES_SECONDS == 60
    assert dashboard._figures_seconds(sent_digest, now + timedelta(days=2)) == 900


def test_rates_sit_against_the_mailbox_providers_limits() -> None:
    def figures(**counts: int) -> delivery_figures.DigestFigures:
        base = {
            "digest_id": 1,
            "total": 1000,
            "sent": 1000,
            "failed": 0,
            "skipped": 0,
            "pending": 0,
            "bounced": 0,
            "complained": 0,
            "unsubscribed": 0,
            "possible_duplicates": 0,
            "is_retained": False,
        }
        return delivery_figures.DigestFigures(**{**base, **counts})  # type: ignore[arg-type]

    assert not figures(complained=2).complaint_rate.is_over  # 0.2 %
    assert figures(complained=3).complaint_rate.is_over  # 0.3 % is not under 0.3 %
    assert not figures(sent=981, failed=19, bounced=19).bounce_rate.is_over  # 1.9 %
    assert figures(sent=980, failed=20, bounced=20).bounce_rate.is_over  # 2 %
    assert figures(sent=980, failed=20, bounced=20).bounce_rate.percent == "2.00 %"
    assert figures(complained=3).complaint_rate.limit_percent == "0.3 %"
    nothing = figures(sent=0, total=0)
    assert nothing.complaint_rate.value is None and not nothing.is_over_a_limit
    assert figures(bounced=None).bounce_rate.percent == "—"  # type: ignore[arg-type]


def test_figures_kept_by_an_older_release_that_no_longer_fit_are_counted_again(
    sent_digest: Digest,
) -> None:
    from django.core.cache import cache

    cache.set(dashboard._figures_key(sent_digest), {"sent": 1, "gone_field": 2}, 60)

    figures = dashboard.last_digests()[0].figures

    assert _figures(figures) == _direct_figures(sent_digest)


def test_a_sent_digest_is_counted_again_from_its_rows_not_sent(sent_digest: Digest) -> None:
    from django.core.cache import cache

    Digest.objects.filter(pk=sent_digest.pk).update(state=Digest.State.SENT)
    Delivery.objects.filter(digest=sent_digest, state=Row.PENDING).update(state=Row.SENT)
    dashboard.last_digests()
    # A late bounce arrives; a minute later the kept figures have expired (the size has not).
    row = Delivery.objects.filter(digest=sent_digest, state=Row.SENT).first()
    assert row is not None
    Delivery.objects.filter(pk=row.pk).update(state=Row.FAILED, last_error="Bounced (Postmark)")
    cache.delete(dashboard._figures_key(sent_digest))

    figures = dashboard.last_digests()[0].figures

    assert _figures(figures) == _direct_figures(sent_digest)
    assert (figures.sent, figures.failed) == (8, 3)


# --- What comes next -----------------------------------------------------------------------------


def test_what_comes_next_is_the_scheduled_digests_and_each_editions_next_slot() -> None:
    morning = MailingListFactory.create(name="The Morning Briefing", slug="morning")
    soon = DigestFactory.create(
        mailing_list=morning,
        state=Digest.State.SCHEDULED,
        send_at=timezone.now() + timedelta(hours=1),
    )
    later = DigestFactory.create(
        mailing_list=morning,
        state=Digest.State.AWAITING_APPROVAL,
        send_at=timezone.now() + timedelta(hours=5),
    )
    DigestFactory.create(mailing_list=morning, state=Digest.State.DRAFT)
    schedule = EditionScheduleFactory.create(mailing_list=morning)
    EditionScheduleFactory.create(is_active=False)

    upcoming = dashboard.next_digests()
    editions = dashboard.next_editions()

    assert upcoming == [soon, later]
    assert [e.schedule for e in editions] == [schedule]
    assert editions[0].due_at > timezone.now()
    assert editions[0].digest is None
    composed = DigestFactory.create(
        mailing_list=morning, edition_of=schedule, edition_due_at=editions[0].due_at
    )
    assert dashboard.next_editions()[0].digest == composed
