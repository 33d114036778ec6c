from __future__ import annotations

import pytest
from django.test import override_settings

from devtools.ports import free_port
from devtools.smtp_sink import SmtpSink
from operations.mailcheck import mail_check_send
from operations.models import MailCheck

SMTP_BACKEND = "django.core.mail.backends.smtp.EmailBackend"


def _smtp(port: int) -> override_settings:
    return override_settings(
        EMAIL_BACKEND=SMTP_BACKEND,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=port,
        EMAIL_TIMEOUT=5,
        EMAIL_URL_REDACTED=f"smtp://127.0.0.1:{port}",
    )


@pytest.mark.django_db
def test_sending_a_check_twice_mails_once(smtp_sink: SmtpSink) -> None:
    check = MailCheck.objects.create(recipient="twice@example.com")

    with _smtp(smtp_sink.port):
        first = mail_check_send(check_id=check.pk, worker="w1")
        # A task delivered a second time (acks_late after a lost worker) finds the row done.
        second = mail_check_send(check_id=check.pk, worker="w2")

    assert [r.rcpt_tos for r in smtp_sink.received] == [["twice@example.com"]]
    assert first.state == second.state == MailCheck.State.SENT
    check.refresh_from_db()
    assert check.worker == "w1"


@pytest.mark.django_db
def test_unreachable_mail_server_is_recorded_naming_email_url() -> None:
    closed_port = free_port()  # nothing listens here: a real refused connection
    check = MailCheck.objects.create(recipient="ops@example.com")

    with _smtp(closed_port):
        result = mail_check_send(check_id=check.pk)

    assert result.state == MailCheck.State.FAILED
    assert result.error.startswith(
        f"Could not send through EMAIL_URL (smtp://127.0.0.1:{closed_port}):"
    )
    # The transport's own words: the check reports what a digest's batch would have met.
    assert "Could not reach the mail server in EMAIL_URL" in result.error
    assert "Connection refused" in result.error
    assert result.finished_at is not None
    assert result.message_id == ""


@pytest.mark.django_db
def test_mail_server_refusing_the_recipient_is_recorded(smtp_sink: SmtpSink) -> None:
    check = MailCheck.objects.create(recipient="ops@example.com")

    # A real server that speaks SMTP but rejects everything: the sink's port with the wrong
    # protocol would not do, so ask for STARTTLS, which the plain sink does not offer.
    with _smtp(smtp_sink.port), override_settings(EMAIL_USE_TLS=True):
        result = mail_check_send(check_id=check.pk)

    assert result.state == MailCheck.State.FAILED
    assert "SMTPNotSupportedError" in result.error or "STARTTLS" in result.error
    assert smtp_sink.received == []
