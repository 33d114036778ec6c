"""Telling the Publisher who started a send how it ended: by mail, and in admin on their next page.

A send can take an hour; nobody watches a progress bar that long. When a digest is sent, or the
engine pauses it on a fault only a person can fix, the person who scheduled it (else its author)
gets a short mail through the product's one transport (operations.transport) — the path digests
and confirmations take — and a message on the next admin page they open.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMessage
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from newsletters.delivery import progress
from newsletters.models import Digest, DigestEvent
from operations import transport

# The DigestEvent actions that end (or stop) a send, and what each says to the Publisher (the
# start of the mail's subject).
OUTCOMES = {"sent": _("Sent"), "paused": _("Paused")}


@dataclass(frozen=True)
class Notice:
    digest_id: int
    at: datetime
    text: str
    is_problem: bool


def _person(digest: Digest) -> User | None:
    return digest.scheduled_by or digest.created_by


def _summary(digest: Digest, action: str, detail: str) -> str:
    counts = progress.digest_counts(digest_id=digest.pk)
    if action == "sent":
        return gettext(
            "“%(digest)s” to %(list)s has been sent: %(sent)s sent, %(failed)s failed, "
            "%(skipped)s skipped, of %(total)s."
        ) % {
            "digest": digest,
            "list": digest.mailing_list,
            "sent": f"{counts['sent']:,}",
            "failed": f"{counts['failed']:,}",
            "skipped": f"{counts['skipped']:,}",
            "total": f"{counts['total']:,}",
        }
    # `detail` is the engine's reason, stored in English with the event.
    return gettext(
        "“%(digest)s” to %(list)s was paused with %(pending)s still to go. %(detail)s"
    ) % {
        "digest": digest,
        "list": digest.mailing_list,
        "pending": f"{counts['pending']:,}",
        "detail": detail or gettext("Open it in admin to see why."),
    }


def digest_notify_publisher(*, digest_id: int, action: str) -> bool:
    """Mail the person who started the send how it ended; False when there is no one to tell.

    Raises transport.TransportFailure if the mail server would not take it.
    """
    digest = Digest.objects.select_related("mailing_list", "scheduled_by", "created_by").get(
        pk=digest_id
    )
    person = _person(digest)
    if person is None or not person.email or action not in OUTCOMES:
        return False
    event = digest.events.filter(action=action).order_by("-at", "-id").first()
    link = f"{settings.SITE_URL}{reverse('admin:newsletters_digest_change', args=[digest.pk])}"
    body = f"{_summary(digest, action, event.detail if event else '')}\n\n{link}\n"
    message = EmailMessage(
        subject=f"{OUTCOMES[action]}: {digest}"[:200],
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[person.email],
    )
    # Not paced by the digest throttle: it is one mail, and the digest it reports has finished.
    outcome = transport.email_message_send(message=message)
    if not outcome.ok:
        raise transport.TransportFailure(outcome)  # the task fails and the log says why
    return True


def notices_since(*, user: User, since: datetime) -> list[Notice]:
    """Sends this person started that ended (or paused) after `since`, oldest first."""
    events = (
        # A pause a person pressed is news to nobody; only the engine's own pauses (by no one).
        DigestEvent.objects.filter(Q(action="sent") | Q(action="paused", by__isnull=True))
        .filter(at__gt=since)
        .filter(
            Q(digest__scheduled_by=user)
            | Q(digest__scheduled_by__isnull=True, digest__created_by=user)
        )
        .select_related("digest", "digest__mailing_list")
        .order_by("at", "id")[:20]
    )
    return [
        Notice(
            digest_id=event.digest_id,
            at=event.at,
            text=_summary(event.digest, event.action, event.detail),
            is_problem=event.action != "sent",
        )
        for event in events
    ]
