"""An issue's web version in Chromium: from one issue to the one before, and on to subscribing,
all in its list's language."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone, translation
from django.utils.translation import gettext

from newsletters import rendering
from newsletters.models import Digest
from tests.factories import MailingListFactory
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.browser


def _sent(digest: Digest, *, days_ago: int) -> Digest:
    rendering.digest_freeze(digest=digest)
    sent_at = timezone.now() - timedelta(days=days_ago)
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENT, sent_at=sent_at)
    return digest


def test_a_reader_walks_back_an_issue_then_subscribes(page: Any, live_server: Any) -> None:
    matin = MailingListFactory.create(slug="matin", name="Le Matin", language="fr")
    older = _sent(make_digest(stories=1, mailing_list=matin, subject="Lundi"), days_ago=1)
    newer = _sent(make_digest(stories=1, mailing_list=matin, subject="Mardi"), days_ago=0)
    with translation.override("fr"):
        older_words, subscribe_words = (
            gettext("Older issue"),
            gettext("Get it in your inbox: subscribe"),
        )

    page.goto(f"{live_server.url}/archive/{newer.pk}/")
    bar = page.get_by_role("navigation")
    bar.get_by_role("link", name=older_words).click()
    page.wait_for_url(f"**/archive/{older.pk}/")
    assert page.title() == "Lundi"

    page.get_by_role("navigation").get_by_role("link", name=subscribe_words).click()
    page.wait_for_url("**/subscribe/?lang=fr")
    assert page.evaluate("document.documentElement.lang") == "fr"
    with translation.override("fr"):
        assert page.get_by_role("button", name=gettext("Subscribe"), exact=True).is_visible()
