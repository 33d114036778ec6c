"""/metrics: behind METRICS_TOKEN, in Prometheus' format, delivery figures moving with rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from newsletters.delivery import controls, retention, snapshot
from newsletters.delivery.failures import MAX_ATTEMPTS
from newsletters.models import Delivery, Digest
from operations.metrics import HIGH_WATER_KEY
from operations.redis_client import redis_client
from operations.transport.outcomes import reply_outcome
from tests.factories import MailingListFactory, SubscriptionFactory
from tests.newsletters.digests import make_digest, sending_digest
from tests.newsletters.metrics_helpers import TOKEN, scrape, value

Row = Delivery.State
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_metrics")]


# --- The token ---------------------------------------------------------------------------------


def test_without_a_token_set_there_is_no_such_page(settings: Any) -> None:
    settings.METRICS_TOKEN = None

    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 404


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x", "Bearer ü"],
)
def test_a_missing_or_wrong_token_is_refused_with_401(authorization: str | None) -> None:
    headers = {} if authorization is None else {"Authorization": authorization}

    response = Client().get("/metrics", headers=headers)

    assert response.status_code == 401
    assert response["Content-Type"].startswith("text/plain")
    assert b"METRICS_TOKEN" in response.content
    assert response["WWW-Authenticate"] == 'Bearer realm="metrics"'


def test_the_right_token_gets_every_metric_with_its_help_text() -> None:
    response = Client().get("/metrics", HTTP_AUTHORIZATION=f"bearer  {TOKEN} ")

    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.content.decode())}
    expected = {
        "newsdesk_redis_up": "gauge",
        "newsdesk_queue_depth": "gauge",
        "newsdesk_tasks_unacked": "gauge",
        "newsdesk_workers_alive": "gauge",
        "newsdesk_beat_last_tick_age_seconds": "gauge",
        "newsdesk_messages_sent": "counter",
        "newsdesk_messages_failed": "counter",
        "newsdesk_messages_skipped": "counter",
        "newsdesk_signups": "counter",
        "newsdesk_confirmations": "counter",
        "newsdesk_deliveries_pending": "gauge",
        "newsdesk_deliveries_deferred": "gauge",
        "newsdesk_deliveries_in_flight": "gauge",
        "newsdesk_oldest_due_delivery_age_seconds": "gauge",
        "newsdesk_throttle_configured_messages_per_second": "gauge",
        "newsdesk_throttle_effective_messages_per_second": "gauge",
        "newsdesk_domain_pacing_messages_per_second": "gauge",
    }
    assert {name: family.type for name, family in families.items()} == expected
    assert all(family.documentation for family in families.values())
    # Counters go out as totals, for rate(); nothing of this process (GC, CPU) is in the body.
    assert "newsdesk_messages_sent_total " in response.content.decode()
    assert b"python_gc" not in response.content and b"process_cpu" not in response.content


def test_only_get_is_answered() -> None:
    response = Client().post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")

    assert response.status_code == 405


def test_a_scraper_asking_for_openmetrics_gets_it() -> None:
    response = Client().get(
        "/metrics",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        HTTP_ACCEPT="application/openmetrics-text; version=1.0.0",
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.rstrip().endswith(b"# EOF")


# --- Deliveries ----------------------------------------------------------------------------------


def _snapshot_digest(readers: int, *, email: str = "reader{n}@example.com") -> Digest:
    digest = sending_digest(readers=readers, email=email)
    snapshot.digest_snapshot(digest_id=digest.pk)  # its fan-out waits for a commit that never comes
    digest.refresh_from_db()
    return digest


def _set(digest: Digest, n: int, **fields: Any) -> None:
    """The first `n` rows still pending (by id) get `fields`."""
    ids = list(
        Delivery.objects.filter(digest=digest, state=Row.PENDING, next_attempt_at__isnull=True)
        .order_by("pk")
        .values_list("pk", flat=True)[:n]
    )
    Delivery.objects.filter(pk__in=ids).update(**fields)


def test_outcomes_and_the_backlog_move_with_the_ledger() -> None:
    before = scrape()
    digest = _snapshot_digest(readers=14)
    now = timezone.now()
    _set(digest, 4, state=Row.SENT, sent_at=now, message_id="m")
    _set(
        digest,
        1,
        state=Row.FAILED,
        attempts=1,
        last_error=reply_outcome(550, "5.1.1 <a@b>: no such user").error,
    )
    _set(digest, 1, state=Row.FAILED, attempts=1, last_error=reply_outcome(554, "5.7.1 spam").error)
    _set(digest, 1, state=Row.FAILED, attempts=MAX_ATTEMPTS, last_error="451 4.3.0 try later")
    _set(digest, 1, state=Row.FAILED, attempts=1, last_error="Resend could not send it: boom")
    _set(digest, 2, state=Row.SKIPPED, last_error="Unsubscribed since the snapshot.")
    _set(digest, 1, state=Row.SENDING, claimed_by="w1", claimed_at=now)
    _set(digest, 1, attempts=1, next_attempt_at=now + timedelta(minutes=5), last_error="421 busy")
    # Two rows remain untried: due since the snapshot.
    Digest.objects.filter(pk=digest.pk).update(snapshot_at=now - timedelta(seconds=90))

    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("newsdesk_messages_sent_total") == 4
    assert moved("newsdesk_messages_failed_total", reason="bounced") == 1
    assert moved("newsdesk_messages_failed_total", reason="rejected") == 1
    assert moved("newsdesk_messages_failed_total", reason="expired") == 1
    assert moved("newsdesk_messages_failed_total", reason="other") == 1
    assert moved("newsdesk_messages_skipped_total") == 2
    assert value(after, "newsdesk_deliveries_pending") == 3
    assert value(after, "newsdesk_deliveries_deferred") == 1
    assert value(after, "newsdesk_deliveries_in_flight") == 1
    assert 90 <= value(after, "newsdesk_oldest_due_delivery_age_seconds") < 120


def test_the_oldest_due_row_is_a_retry_once_every_row_was_tried() -> None:
    assert value(scrape(), "newsdesk_oldest_due_delivery_age_seconds") == 0
    digest = _snapshot_digest(readers=3)
    now = timezone.now()
    _set(digest, 1, state=Row.SENT, sent_at=now)
    _set(digest, 1, attempts=1, next_attempt_at=now - timedelta(seconds=40))
    _set(digest, 1, attempts=1, next_attempt_at=now + timedelta(minutes=10))  # not due yet

    age = value(scrape(), "newsdesk_oldest_due_delivery_age_seconds")

    assert 40 <= age < 70
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.PAUSED)  # a paused digest owes
    assert value(scrape(), "newsdesk_oldest_due_delivery_age_seconds") == 0  # nothing now


def test_counters_never_go_down_when_rows_go_back() -> None:
    digest = _snapshot_digest(readers=4)
    _set(digest, 3, state=Row.SENT, sent_at=timezone.now())
    _set(digest, 1, state=Row.FAILED, attempts=1, last_error="554 5.7.1 spam")
    first = scrape()
    # An ESP's late bounce turns a sent row into a failed one; a resend sends failed rows again.
    late = Delivery.objects.filter(digest=digest, state=Row.SENT).order_by("pk").first()
    assert late is not None
    Delivery.objects.filter(pk=late.pk).update(
        state=Row.FAILED, last_error="Bounced (Postmark): smtp;550 5.1.1 gone"
    )
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENT)
    controls.digest_resend_failed(digest_id=digest.pk)

    second = scrape()

    for name, labels in [
        ("newsdesk_messages_sent_total", {}),
        ("newsdesk_messages_failed_total", {"reason": "rejected"}),
        ("newsdesk_messages_failed_total", {"reason": "bounced"}),
    ]:
        assert value(second, name, **labels) >= value(first, name, **labels)
    assert value(second, "newsdesk_deliveries_pending") == 2


def test_retention_changes_no_counter() -> None:
    digest = make_digest(stories=1)
    rows = [
        (Row.SENT, 1, ""),
        (Row.SENT, 1, ""),
        (Row.FAILED, 1, "550 5.1.1 no such user"),
        (Row.FAILED, MAX_ATTEMPTS, "452 4.2.2 mailbox full"),
        (Row.SKIPPED, 0, "Digest cancelled."),
    ]
    for state, attempts, error in rows:
        subscriber = SubscriptionFactory.create(mailing_list=digest.mailing_list).subscriber
        Delivery.objects.create(
            digest=digest, subscriber=subscriber, state=state, attempts=attempts, last_error=error
        )
    long_ago = timezone.now() - timedelta(days=40)
    Digest.objects.filter(pk=digest.pk).update(
        state=Digest.State.SENT,
        snapshot_at=long_ago,
        sent_at=long_ago,
        updated_at=long_ago,
        audience_count=len(rows),
    )
    before = scrape()

    assert retention.deliveries_retain(older_than=timedelta(days=30)) == 1
    redis_client().delete(HIGH_WATER_KEY)  # the counts alone, without the kept high-water mark
    after = scrape()

    assert not Delivery.objects.filter(digest=digest).exists()
    counters = [key for key in before if key[0].endswith("_total")]
    assert {key: after[key] for key in counters} == {key: before[key] for key in counters}


def test_digests_retained_before_failures_were_kept_by_kind_count_as_bounced_and_other() -> None:
    before = scrape()
    digest = make_digest(stories=1)
    Digest.objects.filter(pk=digest.pk).update(
        state=Digest.State.SENT,
        snapshot_at=timezone.now(),
        retained_counts={"sent": 90, "failed": 7, "skipped": 3, "bounced": 2, "total": 100},
    )

    after = scrape()

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("newsdesk_messages_sent_total") == 90
    assert moved("newsdesk_messages_skipped_total") == 3
    assert moved("newsdesk_messages_failed_total", reason="bounced") == 2
    assert moved("newsdesk_messages_failed_total", reason="other") == 5
    assert moved("newsdesk_messages_failed_total", reason="rejected") == 0


def test_a_scrape_is_a_handful_of_queries(django_assert_max_num_queries: Any) -> None:
    for k in range(3):  # whatever the number of digests
        digest = _snapshot_digest(readers=5, email=f"r{k}-{{n}}@example.com")
        _set(digest, 2, state=Row.SENT, sent_at=timezone.now())
        # Only retries left: the oldest due row is looked for among them too.
        _set(digest, 3, attempts=1, next_attempt_at=timezone.now())
    kept = make_digest(stories=1, mailing_list=MailingListFactory.create())
    Digest.objects.filter(pk=kept.pk).update(
        state=Digest.State.SENT,
        snapshot_at=timezone.now(),
        retained_counts={"sent": 1, "failed": 0, "total": 1},
    )
    scrape()  # confirmations before today are counted once, then kept until midnight

    # Digests with rows, kept counts, rows not sent, failures by kind, the oldest due retry,
    # the last signup request, today's confirmations: 7, whatever the number of digests.
    with django_assert_max_num_queries(7):
        scrape()
