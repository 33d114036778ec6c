"""A digest message's links, as the send loop makes them, through the pages they open.

Every signed value of one reader's message comes from one MAC (mailinglist.message_tokens): the
https unsubscribe link in List-Unsubscribe and the body, the preference centre link, the VERP
envelope sender and the mailto: unsubscribe.
"""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import pytest
from django.test import Client

from mailinglist import message_tokens, return_path
from mailinglist.models import ConsentEvent, Subscriber, Subscription
from mailinglist.return_path import Ref
from newsletters import rendering
from newsletters.delivery import messages
from tests.factories import SubscriptionFactory
from tests.mail_links import url_path
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db


@pytest.fixture
def _bounce_address(settings: Any) -> None:
    settings.BOUNCE_ADDRESS = "bounces@news.example"


def _mail(subscriber: Subscriber | None = None) -> tuple[messages.Recipient, EmailMessage, Any]:
    digest = make_digest(stories=1)
    if subscriber is None:
        subscriber = SubscriptionFactory.create(mailing_list=digest.mailing_list).subscriber
    template = messages.message_template_build(
        digest_id=digest.pk,
        mailing_list=digest.mailing_list,
        rendered=rendering.digest_render(digest=digest),
    )
    recipient = messages.recipient_values(template=template, subscriber=subscriber)
    raw = messages.message_bytes(template=template, recipient=recipient)
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return recipient, parsed, digest


def _link(recipient: messages.Recipient, slot: str) -> str:
    return url_path(recipient.values[slot].decode())


@pytest.mark.usefixtures("_bounce_address")
def test_one_message_pays_for_one_mac(monkeypatch: pytest.MonkeyPatch) -> None:
    made = []
    real = message_tokens._mac

    def counted(*args: Any) -> bytes:
        made.append(args)
        return real(*args)

    monkeypatch.setattr(message_tokens, "_mac", counted)
    recipient, message, digest = _mail()

    assert len(made) == 1
    assert str(message["List-Unsubscribe"]).count("mailto:bounces+u") == 1
    assert return_path.signed_ref_read(recipient.envelope_from) == Ref(
        "b", made[0][1], digest.mailing_list_id, digest.pk
    )


def test_the_preference_link_opens_the_readers_own_centre() -> None:
    recipient, _, _ = _mail()
    reader = Subscriber.objects.get(email=recipient.email)

    page = Client().get(_link(recipient, rendering.SLOT_PREFERENCES_URL))

    assert page.status_code == 200
    assert page.context["subscriber"] == reader


def test_the_unsubscribe_link_leaves_and_comes_back_through_its_buttons() -> None:
    _, message, digest = _mail()
    https = str(message["List-Unsubscribe"]).strip().strip("<>")
    path = url_path(https)
    browser = Client(enforce_csrf_checks=True)

    assert browser.get(path).status_code == 200  # a page with a button: a GET changes nothing
    assert Subscription.objects.get().state == Subscription.State.ACTIVE
    left = browser.post(path)
    assert Subscription.objects.get().state == Subscription.State.UNSUBSCRIBED
    back = browser.post(path.partition("?")[0] + "undo/")

    assert (left.status_code, back.status_code) == (200, 200)
    assert Subscription.objects.get().state == Subscription.State.ACTIVE
    recorded = ConsentEvent.objects.get(kind=ConsentEvent.Kind.UNSUBSCRIBE)
    assert recorded.detail == {"method": "page", "digest": digest.pk}


def test_a_test_sends_links_open_nobodys_pages() -> None:
    stand_in = Subscriber(email="editor@news.example", public_id="test-1-staff")
    recipient, _, _ = _mail(subscriber=stand_in)

    one_click = Client().post(
        _link(recipient, rendering.SLOT_UNSUBSCRIBE_URL),
        data=b"List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )
    preferences = Client().get(_link(recipient, rendering.SLOT_PREFERENCES_URL))

    assert (one_click.status_code, one_click.content) == (200, b"Unsubscribed.")
    assert preferences.status_code == 400
    assert not ConsentEvent.objects.filter(kind=ConsentEvent.Kind.UNSUBSCRIBE).exists()


def test_a_forged_one_click_changes_nothing() -> None:
    recipient, _, _ = _mail()
    path = _link(recipient, rendering.SLOT_UNSUBSCRIBE_URL)
    forged = path[:-2] + ("0" if path[-2] != "0" else "1") + "/"

    response = Client().post(
        forged, data=b"List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 400
    assert Subscription.objects.get().state == Subscription.State.ACTIVE
