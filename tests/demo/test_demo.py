from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from demo.seeding import DEMO_STORIES
from mailinglist.models import MailingList, Subscription
from newsletters.models import Story


@pytest.mark.django_db
def test_article_page_is_a_news_article_with_a_footer(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "<h1" in html and "tidal park" in html
    assert '<footer class="site-footer">' in html


@pytest.mark.django_db
def test_load_demo_is_idempotent_and_shows_the_login_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    call_command("load_demo")
    first = capsys.readouterr().out
    call_command("load_demo")
    second = capsys.readouterr().out

    user = User.objects.get(username="editor")
    assert User.objects.count() == 1
    assert MailingList.objects.count() == 2
    assert Story.objects.filter(is_featured=True).count() == len(DEMO_STORIES)
    # Demo readers, so a demo digest goes to someone; added once.
    assert (
        Subscription.objects.filter(mailing_list__slug="morning-briefing", state="active").count()
        == 3
    )
    assert user.is_staff and user.is_superuser
    password = first.split("editor / ")[1].split()[0]
    assert user.check_password(password)
    assert "(shown once)" in first
    assert password not in second  # printed once, never again
    assert "changepassword editor" in second


@pytest.mark.django_db
def test_admin_index_links_the_outbox_and_health(client: Client, staff_user: User) -> None:
    client.force_login(staff_user)

    html = client.get("/admin/").content.decode()

    assert 'href="/admin/outbox/"' in html
    assert 'href="/healthz"' in html
    assert 'href="/admin/operations/mailcheck/add/"' in html
