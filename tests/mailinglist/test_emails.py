from __future__ import annotations

from typing import Any

import pytest

from mailinglist import links
from mailinglist.emails import email_mask, email_render
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
    unsubscribe_url = links.unsubscribe_url(subscriber=subscriber, mailing_list=daily)
    context: dict[str, Any] = {
        "subscriber": subscriber,
        "lists": [daily],
        "mailing_list": daily,
        "list_links": [(daily, unsubscribe_url)],
        "preferences_url": links.preferences_url(subscriber=subscriber),
        "mailing_address": "1 Example Street",
    }

    _, text, html = email_render(template="welcome", context=context)

    for part in (text, html):
        assert unsubscribe_url in part
        assert context["preferences_url"] in part
        assert "1 Example Street" in part


def test_one_welcome_names_every_list_confirmed_together() -> None:
    subscriber = SubscriberFactory.create()
    daily = MailingListFactory.create(name="Morning Briefing")
    weekly = MailingListFactory.create(name="Weekend Reads")
    culture = MailingListFactory.create(name="Culture Desk")
    lists = [daily, weekly, culture]
    context: dict[str, Any] = {
        "subscriber": subscriber,
        "lists": lists,
        "mailing_list": daily,
        "list_links": [
            (m, links.unsubscribe_url(subscriber=subscriber, mailing_list=m)) for m in lists
        ],
        "preferences_url": links.preferences_url(subscriber=subscriber),
        "mailing_address": "1 Example Street",
    }

    subject, text, html = email_render(template="welcome", context=context)

    assert subject == "Welcome to Morning Briefing, Weekend Reads and Culture Desk"
    for mailing_list, unsubscribe_url in context["list_links"]:
        assert mailing_list.name in text
        assert unsubscribe_url in text
        assert unsubscribe_url.replace("&", "&amp;") in html


def test_email_mask_shows_enough_to_recognise_an_address() -> None:
    assert email_mask("ada@example.com") == "a••@example.com"
    assert email_mask("x@example.org") == "x••@example.org"
    assert email_mask("marguerite.yourcenar@example.fr") == "m••••••@example.fr"
