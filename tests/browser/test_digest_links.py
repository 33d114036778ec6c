"""A digest message's own links (one MAC per message, mailinglist.message_tokens), followed from
the message's plain-text part and pressed in Chromium: unsubscribe, and the preference centre."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest

from mailinglist.models import ConsentEvent, Subscriber, Subscription
from newsletters import rendering
from newsletters.delivery import messages
from newsletters.models import Digest
from tests.factories import SubscriberFactory, SubscriptionFactory
from tests.mail_links import url_path
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.browser
State = Subscription.State


def _digest_mail() -> tuple[Digest, Subscriber, EmailMessage]:
    digest = make_digest(stories=1)
    reader = SubscriberFactory.create(email="ada@example.com", name="Ada")
    SubscriptionFactory.create(subscriber=reader, mailing_list=digest.mailing_list)
    template = messages.message_template_build(
        digest_id=digest.pk,
        mailing_list=digest.mailing_list,
        rendered=rendering.digest_render(digest=digest),
    )
    recipient = messages.recipient_values(template=template, subscriber=reader)
    raw = messages.message_bytes(template=template, recipient=recipient)
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return digest, reader, parsed


def _text_link(message: EmailMessage, prefix: str) -> str:
    text = message.get_body(preferencelist=("plain",))
    assert text is not None
    found = re.search(rf"https?://\S+{re.escape(prefix)}\S+", text.get_content())
    assert found, text.get_content()
    return url_path(found.group(0))


def test_unsubscribe_from_a_digest_and_come_back(page: Any, live_server: Any) -> None:
    digest, reader, message = _digest_mail()

    page.goto(live_server.url + _text_link(message, "/unsubscribe/"))
    page.get_by_role("button", name="Unsubscribe").click()
    assert page.locator("h1").inner_text() == "You're unsubscribed"
    assert Subscription.objects.get(subscriber=reader).state == State.UNSUBSCRIBED
    recorded = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert recorded.detail == {"method": "page", "digest": digest.pk}

    page.get_by_role("button", name="Undo: keep me subscribed").click()
    assert page.locator("h1").inner_text() == f"You're back on {digest.mailing_list.name}"
    assert Subscription.objects.get(subscriber=reader).state == State.ACTIVE


def test_the_preference_link_of_a_digest_opens_the_readers_centre(
    page: Any, live_server: Any
) -> None:
    _, reader, message = _digest_mail()

    page.goto(live_server.url + _text_link(message, "/preferences/"))
    assert page.locator("h1").inner_text() == "Your newsletters"
    page.get_by_role("button", name="Pause", exact=True).click()

    assert "Paused for 2 weeks." in page.locator(".messages").inner_text()
    reader.refresh_from_db()
    assert reader.paused_until is not None
