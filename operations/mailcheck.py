"""Mail checks: send one test message the way real mail goes, and record what happened.

"The way real mail goes" is the product's one transport (operations.transport): the same
per-process connection and the same reading of the server's answers as digests and
confirmations, so a check that passes proves their path.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth.models import User
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone

from operations import transport
from operations.models import MailCheck
from operations.transport.message_ids import message_id_make

logger = logging.getLogger(__name__)


def mail_check_create(*, recipient: str, requested_by: User | None) -> MailCheck:
    """Record a check and hand it to a worker once the row is committed (never before)."""
    from operations.tasks import send_mail_check

    check = MailCheck.objects.create(recipient=recipient, requested_by=requested_by)
    transaction.on_commit(lambda: send_mail_check.delay(check.pk))
    return check


def mail_check_send(*, check_id: int, worker: str = "") -> MailCheck:
    """Send the check's message over EMAIL_URL; the outcome is on the row, never raised.

    A mail server that refuses or cannot be reached is a configuration fact to report, not a
    task failure to retry: the operator is waiting for an answer.
    """
    check = MailCheck.objects.get(pk=check_id)
    if check.state != MailCheck.State.QUEUED:
        return check  # a re-delivered task must not send a second message
    message_id = message_id_make()
    message = EmailMessage(
        subject="Mail check: your newsletter server can send mail",
        body=(
            "This message was sent by a Celery worker through the mail server configured in "
            f"EMAIL_URL ({settings.EMAIL_URL_REDACTED}).\n\n"
            f"Requested at {check.requested_at:%Y-%m-%d %H:%M:%S %Z}; "
            f"sent by {worker or 'a worker'}.\n"
            "If you can read this, signup confirmations and digests can reach readers too.\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[check.recipient],
        headers={"Message-ID": message_id, "X-Newsdesk-Mail-Check": str(check.pk)},
    )
    outcome = transport.email_message_send(message=message)
    if not outcome.ok:
        error = f"Could not send through EMAIL_URL ({settings.EMAIL_URL_REDACTED}): {outcome.error}"
        logger.warning("Mail check %s failed: %s", check.pk, error)
        check.state = MailCheck.State.FAILED
        check.error = error
    else:
        check.state = MailCheck.State.SENT
        check.message_id = message_id
    check.worker = worker
    check.finished_at = timezone.now()
    check.save(update_fields=["state", "error", "message_id", "worker", "finished_at"])
    return check
