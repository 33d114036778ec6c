"""An unsubscribe is attributed to the digest whose link the reader used.

A digest message's unsubscribe token names its digest under the message's MAC
(mailinglist.message_tokens); the digest's id also rides in the query string (the same for every
reader, so it is in the render made once), which is what links sent before carry. The unsubscribe
view writes it into the consent record: on the page's button, and on the RFC 8058 one-click POST
a mail app makes.
"""

from __future__ import annotations

import email
import email.policy
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client

from mailinglist import links, reader_links
from mailinglist.models import ConsentEvent, Subscription
from newsletters import rendering
from newsletters.delivery import messages
from newsletters.models import Digest
from tests.factories import MailingListFactory, SubscriptionFactory
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db


def _message(digest: Digest, subscription: Subscription) -> email.message.EmailMessage:
    frozen = rendering.digest_freeze(digest=digest)
    template = messages.message_template_build(
        digest_id=frozen.pk,
        mailing_list=frozen.mailing_list,
        rendered=rendering.RenderedDigest(
            subject=frozen.rendered_subject, html=frozen.rendered_html, text=frozen.rendered_text
        ),
    )
    raw = messages.message_bytes(
        template=template,
        recipient=messages.recipient_values(
            template=template,
            subscriber=subscription.subscriber,
        ),
    )
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def reader_mail() -> tuple[Digest, Subscription, email.message.EmailMessage]:
    digest = make_digest(stories=2)
    subscription = SubscriptionFactory.create(mailing_list=digest.mailing_list)
    return digest, subscription, _message(digest, subscription)


def test_every_unsubscribe_link_of_a_digest_names_it_and_stays_the_readers_own(
    reader_mail: Any,
) -> None:
    digest, subscription, message = reader_mail
    header = message["List-Unsubscribe"].strip().strip("<>")
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()

    token = urlsplit(header).path.removeprefix("/unsubscribe/").removesuffix("/")
    link = reader_links.unsubscribe_link_read(token=token, digest_param=None)
    assert (link.subscriber, link.mailing_list, link.from_digest) == (
        subscription.subscriber,
        digest.mailing_list,
        digest.pk,
    )
    assert header in text and header in html
    assert parse_qs(urlsplit(header).query) == {"digest": [str(digest.pk)]}
    # The same suffix for every reader: it is part of the frozen render, not of the slot.
    assert f"?digest={digest.pk}" in Digest.objects.get(pk=digest.pk).rendered_html


def test_the_unsubscribe_page_keeps_the_digest_through_its_button(reader_mail: Any) -> None:
    digest, subscription, message = reader_mail
    path = _path(message["List-Unsubscribe"].strip().strip("<>"))
    browser = Client(enforce_csrf_checks=True)

    page = browser.get(path)
    assert f'action="{path}"' in page.content.decode()
    done = browser.post(path)

    assert done.status_code == 200
    subscription.refresh_from_db()
    assert subscription.state == Subscription.State.UNSUBSCRIBED
    recorded = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert recorded.detail == {"method": "page", "digest": digest.pk}


def test_one_click_from_the_mail_app_records_the_digest(reader_mail: Any) -> None:
    digest, _subscription, message = reader_mail
    url = message["List-Unsubscribe"].strip().strip("<>")

    response = Client(enforce_csrf_checks=True).post(
        _path(url),
        data=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    recorded = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert recorded.detail == {"method": "one-click", "digest": digest.pk}


def test_a_digest_messages_link_keeps_its_own_digest_whatever_the_query_says(
    reader_mail: Any,
) -> None:
    digest, subscription, message = reader_mail
    path = _path(message["List-Unsubscribe"].strip().strip("<>")).partition("?")[0]

    response = Client(enforce_csrf_checks=True).post(
        f"{path}?digest={digest.pk + 1000}",
        data=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    subscription.refresh_from_db()
    assert subscription.state == Subscription.State.UNSUBSCRIBED
    recorded = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert recorded.detail == {"method": "one-click", "digest": digest.pk}


def test_a_link_sent_before_still_takes_its_digest_from_the_query(reader_mail: Any) -> None:
    digest, subscription, _message = reader_mail
    url = links.unsubscribe_url(
        subscriber=subscription.subscriber, mailing_list=digest.mailing_list
    )

    response = Client().post(f"{_path(url)}?digest={digest.pk}")

    assert response.status_code == 200
    recorded = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert recorded.detail == {"method": "page", "digest": digest.pk}


@pytest.mark.parametrize("junk", ["", "abc", "-4", "0", "1" * 30, "٣", "12%0A"])
def test_a_digest_reference_that_cannot_be_one_is_left_out(junk: str) -> None:
    daily = MailingListFactory.create(slug="daily")
    subscription = SubscriptionFactory.create(mailing_list=daily)
    url = links.unsubscribe_url(subscriber=subscription.subscriber, mailing_list=daily)

    response = Client().post(f"{_path(url)}?digest={junk}")

    assert response.status_code == 200
    recorded = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert recorded.detail == {"method": "page"}
