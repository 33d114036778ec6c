"""Why messages failed, in four kinds, from what the transport and the ESPs' events really write."""

from __future__ import annotations

import pytest

from newsletters.delivery.failure_kinds import failures_by_kind
from newsletters.delivery.failures import MAX_ATTEMPTS
from newsletters.models import Delivery
from operations.transport.outcomes import reply_outcome
from tests.factories import SubscriberFactory
from tests.newsletters.digests import make_digest
from tests.newsletters.tracking_payloads import POSTMARK, post, postmark_bounce, sent_row

pytestmark = pytest.mark.django_db
Row = Delivery.State


def _kind_of(last_error: str, *, attempts: int = 1) -> str:
    digest = make_digest(stories=0)
    Delivery.objects.create(
        digest=digest,
        subscriber=SubscriberFactory.create(),
        state=Row.FAILED,
        attempts=attempts,
        last_error=last_error,
    )
    counted = failures_by_kind(digest_ids=[digest.pk])
    return next(kind for kind, n in counted.items() if n)


@pytest.mark.parametrize(
    ("last_error", "attempts", "kind"),
    [
        (reply_outcome(550, "5.1.1 <ann@example.com>: user unknown").error, 1, "bounced"),
        (reply_outcome(551, "User not local").error, 1, "bounced"),
        (reply_outcome(553, "5.1.3 Bad recipient address syntax").error, 1, "bounced"),
        # A policy refusal is about us, not the address.
        (reply_outcome(550, "5.7.1 Message rejected as spam").error, 1, "rejected"),
        (reply_outcome(554, "5.7.1 Relay access denied").error, 1, "rejected"),
        (reply_outcome(552, "5.3.4 Message too big").error, 1, "rejected"),
        (reply_outcome(452, "4.2.2 Mailbox full").error, MAX_ATTEMPTS, "expired"),
        ("ConnectionResetError: [Errno 104] reset by peer", MAX_ATTEMPTS, "expired"),
        # operations/transport/esp.py's answers.
        ("Postmark: invalid address. Inactive recipient", 1, "bounced"),
        ("Postmark rejected it. Not allowed to send", 1, "rejected"),
        ("HTTP 422: recipient is on the suppression list", 1, "rejected"),
        ("Invalid email address 'ann@': missing @domain part", 1, "bounced"),
        # tracking.py's reject and failure events.
        ("Rejected by Mailgun (invalid; no such mailbox)", 1, "bounced"),
        ("Rejected by Mailgun (spam; reported earlier)", 1, "rejected"),
        ("Mailgun could not send it: unknown", 1, "other"),
        ("", 1, "other"),
    ],
)
def test_each_answer_is_one_kind(last_error: str, attempts: int, kind: str) -> None:
    assert _kind_of(last_error, attempts=attempts) == kind


@pytest.mark.usefixtures("webhook_secret")
def test_an_esps_bounce_event_is_bounced_and_a_soft_one_expired() -> None:
    hard, soft = sent_row(email="hard@example.com"), sent_row(email="soft@example.com")

    post(POSTMARK, postmark_bounce(hard, "hard@example.com"))
    post(
        POSTMARK,
        postmark_bounce(
            soft,
            "soft@example.com",
            Type="SoftBounce",
            Details="smtp;452 4.2.2 The email account that you tried to reach is over quota.",
        ),
    )

    assert failures_by_kind(digest_ids=[hard.digest_id]) == {
        "bounced": 1,
        "rejected": 0,
        "expired": 0,
        "other": 0,
    }
    assert failures_by_kind(digest_ids=[soft.digest_id])["expired"] == 1


@pytest.mark.usefixtures("webhook_secret")
def test_an_esps_reject_for_an_invalid_address_is_bounced() -> None:
    row = sent_row()

    post(
        POSTMARK,
        postmark_bounce(
            row, "reader@example.com", Type="BadEmailAddress", TypeCode=100000, Details="Invalid"
        ),
    )

    row.refresh_from_db()
    assert row.last_error.startswith("Rejected by Postmark (invalid;")
    assert failures_by_kind(digest_ids=[row.digest_id])["bounced"] == 1
