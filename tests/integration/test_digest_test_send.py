"""An editor's "send a test to me": admin -> Redis -> worker -> SMTP, marked as a test."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from devtools.smtp_sink import SmtpSink
from devtools.workers import Worker
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.integration


def test_send_a_test_to_me_reaches_only_the_editor(
    celery_worker: Worker, smtp_sink: SmtpSink, staff_user: User, client: Client
) -> None:
    digest = make_digest(stories=10)
    client.force_login(staff_user)

    response = client.post(f"/admin/newsletters/digest/{digest.pk}/test/")

    assert response.status_code == 302
    (received,) = smtp_sink.wait_for(1)
    message = received.message
    assert received.rcpt_tos == [staff_user.email]
    assert message["Subject"].startswith("[TEST] ")
    assert message["X-Newsdesk-Test"] == "yes"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    assert "10. Story number 9" in text.get_content()
