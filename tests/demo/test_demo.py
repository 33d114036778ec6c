from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from PIL import Image

from demo.seeding import DEMO_IMAGE_SIZE, DEMO_STORIES
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


@pytest.mark.django_db
def test_the_demo_stories_pictures_are_served_here_at_the_size_their_img_says(
    client: Client,
) -> None:
    call_command("load_demo")

    stories = list(Story.objects.filter(url__startswith="https://news.example.com/demo/"))
    assert len(stories) == len(DEMO_STORIES)
    for story in stories:
        assert story.image_url.startswith("http://127.0.0.1:8000/static/demo/stories/")
        assert story.image_alt.startswith("Illustration: ")
        served = client.get(story.image_url.removeprefix("http://127.0.0.1:8000"))
        assert served.status_code == 200
        body = b"".join(served.streaming_content)  # type: ignore[attr-defined]
        with Image.open(io.BytesIO(body)) as picture:
            assert picture.size == (story.image_width, story.image_height) == DEMO_IMAGE_SIZE
