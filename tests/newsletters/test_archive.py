from __future__ import annotations

from xml.etree import ElementTree

import pytest
from django.test import Client
from django.utils import timezone

from newsletters import rendering
from newsletters.models import Digest, Story
from tests.factories import MailingListFactory
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db


def _sent(digest: Digest) -> Digest:
    digest = rendering.digest_freeze(digest=digest)
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENT, sent_at=timezone.now())
    digest.refresh_from_db()
    return digest


def test_archive_lists_sent_digests_of_public_lists_only(client: Client) -> None:
    sent = _sent(make_digest(stories=2, subject="Monday's briefing"))
    private = _sent(
        make_digest(
            stories=1,
            subject="Members only",
            mailing_list=MailingListFactory.create(is_public=False),
        )
    )
    draft = make_digest(stories=1, subject="Not yet", mailing_list=sent.mailing_list)

    html = client.get("/archive/").content.decode()

    assert "Monday&#x27;s briefing" in html or "Monday's briefing" in html
    assert "Members only" not in html and "Not yet" not in html
    assert client.get(f"/archive/{private.pk}/").status_code == 404
    assert client.get(f"/archive/{draft.pk}/").status_code == 404


def test_web_version_is_the_frozen_render_without_recipient_links(client: Client) -> None:
    digest = _sent(make_digest(stories=2))
    Story.objects.update(headline="Changed after sending")  # the archive shows what went out

    html = client.get(f"/archive/{digest.pk}/").content.decode()

    assert "Story number 0 about the harbour &amp; the city" in html
    assert "Changed after sending" not in html
    assert "/unsubscribe/" not in html and "/preferences/" not in html
    for slot in rendering.SLOTS:
        assert slot not in html


def test_freezing_twice_keeps_the_first_render() -> None:
    digest = rendering.digest_freeze(digest=make_digest(stories=1))
    first = digest.rendered_html
    Story.objects.update(headline="Later")

    again = rendering.digest_freeze(digest=digest)

    assert again.rendered_html == first


def test_archive_feed_is_rss_of_past_issues(client: Client) -> None:
    digest = _sent(make_digest(stories=1, subject="Tuesday's briefing"))

    response = client.get("/archive/feed/")

    assert response["Content-Type"].startswith("application/rss+xml")
    root = ElementTree.fromstring(response.content)  # noqa: S314 - our own feed, in a test
    items = root.findall("./channel/item")
    assert [item.findtext("title") for item in items] == [digest.rendered_subject]
    assert (items[0].findtext("link") or "").endswith(f"/archive/{digest.pk}/")
