"""The whole path a real message takes: web request -> Redis -> Celery worker -> SMTP server."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker
from operations.models import MailCheck
from tests.polling import wait_until

pytestmark = pytest.mark.integration


def test_mail_check_from_admin_reaches_the_smtp_server(
    celery_worker: Worker, smtp_sink: SmtpSink, staff_user: User, client: Client
) -> None:
    client.force_login(staff_user)

    response = client.post("/admin/operations/mailcheck/add/", {"recipient": "ops@example.com"})

    assert response.status_code == 302, response.content[:500]
    (received,) = smtp_sink.wait_for(1)
    check = wait_until(lambda: MailCheck.objects.exclude(state=MailCheck.State.QUEUED).first())
    assert received.rcpt_tos == ["ops@example.com"]
    message = received.message
    assert message["To"] == "ops@example.com"
    assert message["Subject"] == "Mail check: your newsletter server can send mail"
    assert message["Message-ID"] == check.message_id
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    assert "EMAIL_URL (smtp://127.0.0.1:" in body.get_content()
    assert check.state == MailCheck.State.SENT
    assert check.requested_by == staff_user
    assert check.worker == celery_worker.name
    assert check.error == ""
