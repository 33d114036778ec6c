from __future__ import annotations

from typing import Any

import pytest

from mailinglist import links
from mailinglist.emails import email_render
from tests.factories import MailingListFactory, SubscriberFactory

pytestmark = pytest.mark.django_db


def test_confirmation_mail_escapes_what_readers_typed_in_html_and_keeps_text_plain() -> None:
    subscriber = SubscriberFactory.create(name='<script>alert("x")</script>')
    daily = MailingListFactory.create(name="Morning <Briefing> & more")
    context: dict[str, Any] = {
        "subscriber": subscriber,
        "lists": [daily],
        "confirm_url": links.confirm_url(subscriber=subscriber, list_ids=[daily.pk]),
        "mailing_address": "1 Example Street",
    }

    subject, text, html = email_render(template="confirm", context=context)

    assert subject == "Confirm your subscription to Morning <Briefing> & more"
    assert "\n" not in subject
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert '<script>alert("x")</script>' in text  # plain text is not HTML: shown as typed
    assert context["confirm_url"] in text
    assert "1 Example Street" in text


def test_welcome_mail_carries_unsubscribe_and_preference_links() -> None:
    subscriber = SubscriberFactory.create()
    daily = MailingListFactory.create()
    context: dict[str, Any] = {
        "subscriber": subscriber,
        "mailing_list": daily,
        "unsubscribe_url": links.unsubscribe_url(subscriber=subscriber, mailing_list=daily),
        "preferences_url": links.preferences_url(subscriber=subscriber),
        "mailing_address": "1 Example Street",
    }

    _, text, html = email_render(template="welcome", context=context)

    for part in (text, html):
        assert context["unsubscribe_url"] in part
        assert context["preferences_url"] in part
        assert "1 Example Street" in part
