from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree

import pytest
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext

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


def test_the_web_version_leads_to_its_neighbours_and_to_subscribing(client: Client) -> None:
    morning = MailingListFactory.create(slug="morning", language="fr")
    first = _sent(make_digest(stories=1, mailing_list=morning, subject="Lundi"))
    second = _sent(make_digest(stories=1, mailing_list=morning, subject="Mardi"))
    third = _sent(make_digest(stories=1, mailing_list=morning, subject="Mercredi"))
    Digest.objects.filter(pk=first.pk).update(sent_at=timezone.now() - timedelta(days=2))
    Digest.objects.filter(pk=second.pk).update(sent_at=timezone.now() - timedelta(days=1))

    response = client.get(f"/archive/{second.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    page = response.content.decode()

    # In its list's language, whatever the reader's browser asks for.
    assert response["Content-Language"] == "fr"
    with translation.override("fr"):
        newer, older = gettext("Newer issue"), gettext("Older issue")
        subscribe = gettext("Get it in your inbox: subscribe")
    assert newer != "Newer issue"
    assert f'href="/archive/{third.pk}/" style="color:#ffffff">{newer}' in page
    assert f'href="/archive/{first.pk}/" style="color:#ffffff">{older}' in page
    assert f'href="/subscribe/?lang=fr" style="color:#ffffff;font-weight:bold">{subscribe}' in page
    # The bar comes first in the body, before the issue's own masthead.
    assert page.index("<body") < page.index('id="web-version-bar"') < page.index('class="topbar"')


def test_staff_see_an_issue_before_it_is_sent_and_nobody_else_does(
    client: Client, admin_client: Client
) -> None:
    draft = make_digest(stories=2, subject="Not yet")

    assert client.get(f"/archive/{draft.pk}/").status_code == 404
    response = admin_client.get(f"/archive/{draft.pk}/")
    assert response.status_code == 200
    assert "Preview: only staff can see this page until the issue is sent." in (
        response.content.decode()
    )
    assert "private" in response["Cache-Control"] and "no-store" in response["Cache-Control"]
    # Once sent, it is public, and says nothing of previews.
    sent = _sent(draft)
    public = client.get(f"/archive/{sent.pk}/")
    assert public.status_code == 200
    assert "Preview:" not in public.content.decode()
