"""The content pages an Editor uses, pressed in Chromium: stories and recurring editions."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.workers import Worker
from newsletters.models import EditionSchedule, Story
from tests.browser.staff import log_in, script_errors
from tests.factories import MailingListFactory
from tests.newsletters.image_server import image_server, picture
from tests.polling import wait_until
from tests.roles.helpers import EDITOR, PASSWORD, role_user

pytestmark = pytest.mark.browser


def _save(page: Any) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Save", exact=True).click()


def test_an_editor_sets_up_a_weekday_edition_and_a_mistake_is_explained(
    page: Any, live_server: Any
) -> None:
    editor = role_user(EDITOR)
    MailingListFactory.create(name="The Morning Briefing", slug="morning")
    errors = script_errors(page)
    log_in(
        page,
        live_server.url,
        username=editor.username,
        password=PASSWORD,
        next_path="newsletters/editionschedule/add/",
    )

    page.get_by_label("Mailing list").select_option(label="The Morning Briefing")
    page.get_by_label("Local time").fill("06:30")
    page.get_by_label("Timezone").fill("Asia/Qatar")
    _save(page)  # no day ticked
    assert "Tick at least one day." in page.locator(".errorlist").first.inner_text()
    assert not EditionSchedule.objects.exists()
    # What was typed is still there to correct.
    assert page.get_by_label("Timezone").input_value() == "Asia/Qatar"

    page.get_by_label("Monday").check()
    page.get_by_label("Wednesday").check()
    _save(page)

    schedule = EditionSchedule.objects.get()
    assert schedule.days_of_week == [1, 3]
    assert schedule.timezone == "Asia/Qatar"
    assert str(schedule.local_time) == "06:30:00"
    assert "was added successfully" in page.locator(".messagelist").inner_text()
    assert errors == []


def test_an_editor_adds_a_story_and_features_it_from_the_list(page: Any, live_server: Any) -> None:
    editor = role_user(EDITOR)
    log_in(
        page,
        live_server.url,
        username=editor.username,
        password=PASSWORD,
        next_path="newsletters/story/add/",
    )

    page.get_by_label("Headline").fill("The sea comes back to the harbour")
    page.locator("#id_url").fill("https://news.example.com/harbour")
    _save(page)
    story = Story.objects.get(url="https://news.example.com/harbour")
    assert not story.is_featured

    page.get_by_role("row", name="The sea comes back to the harbour").get_by_role(
        "checkbox"
    ).check()
    page.locator("select[name=action]").select_option(label="Feature selected stories")
    with page.expect_navigation():
        page.get_by_role("button", name="Go").click()

    story.refresh_from_db()
    assert story.is_featured
    assert "Featured 1 story(ies)." in page.locator(".messagelist").inner_text()


def test_a_storys_image_is_measured_by_a_worker_for_the_digest(
    page: Any, live_server: Any, celery_worker: Worker
) -> None:
    editor = role_user(EDITOR)
    log_in(
        page,
        live_server.url,
        username=editor.username,
        password=PASSWORD,
        next_path="newsletters/story/add/",
    )
    with image_server() as images:
        images.routes["/harbour.jpg"] = (200, {"Content-Type": "image/jpeg"}, picture(1200, 675))
        page.get_by_label("Headline").fill("The sea comes back to the harbour")
        page.locator("#id_url").fill("https://news.example.com/harbour")
        page.locator("#id_image_url").fill(f"{images.url}/harbour.jpg")
        page.get_by_label("Image alt").fill("The old docks at high tide")
        page.get_by_role("button", name="Save and continue editing").click()
        page.wait_for_load_state()
        assert "was added successfully" in page.locator(".messagelist").inner_text()

        story = Story.objects.get(url="https://news.example.com/harbour")
        wait_until(lambda: Story.objects.filter(pk=story.pk, image_width__isnull=False).exists())

    page.reload()
    size = page.locator(".field-image_size").inner_text()
    assert "1200 × 675 px" in size  # noqa: RUF001  (what the page shows)
    story.refresh_from_db()
    assert (story.image_width, story.image_height) == (1200, 675)


def test_an_editor_adds_a_feed_and_polls_it_now(page: Any, live_server: Any) -> None:
    from newsletters.models import Feed
    from tests.newsletters.feed_server import feed_server_running

    editor = role_user(EDITOR)
    with feed_server_running() as server:
        url = server.serve("/rss.xml", file="rss2.xml")
        log_in(
            page,
            live_server.url,
            username=editor.username,
            password=PASSWORD,
            next_path="newsletters/feed/add/",
        )
        page.locator("#id_url").fill(url)
        page.locator("#id_title").fill("Shopper")
        _save(page)
        feed = Feed.objects.get(url=url)

        page.get_by_role("row", name="Shopper").get_by_role("checkbox").check()
        page.locator("select[name=action]").select_option(value="poll_now")
        with page.expect_navigation():
            page.get_by_role("button", name="Go").click()

    assert Story.objects.filter(feed=feed).count() == 3
    assert "Shopper: 3 new" in page.locator(".messagelist").inner_text()


def test_a_lists_seed_addresses_are_checked_and_its_zone_picked_from_the_list(
    page: Any, live_server: Any
) -> None:
    from django.contrib.auth.models import User

    from mailinglist.models import MailingList

    User.objects.create_superuser(username="chief", email="c@example.com", password=PASSWORD)
    mailing_list = MailingListFactory.create(name="The Morning Briefing", slug="morning")
    log_in(
        page,
        live_server.url,
        username="chief",
        password=PASSWORD,
        next_path=f"mailinglist/mailinglist/{mailing_list.pk}/change/",
    )

    page.get_by_label("Seed addresses").fill("desk@newsroom.example\nthe chief editor")
    page.get_by_label("Default timezone").select_option("Asia/Qatar")
    page.get_by_label("Requires second approval").check()
    _save(page)
    assert (
        "Not an email address: line 2 ('the chief editor')."
        in page.locator(".errorlist").first.inner_text()
    )
    assert MailingList.objects.get(pk=mailing_list.pk).seed_addresses == ""

    page.get_by_label("Seed addresses").fill("desk@newsroom.example\nchief@newsroom.example")
    _save(page)

    mailing_list.refresh_from_db()
    assert mailing_list.seed_addresses == "desk@newsroom.example\nchief@newsroom.example"
    assert mailing_list.default_timezone == "Asia/Qatar"
    assert mailing_list.requires_second_approval
