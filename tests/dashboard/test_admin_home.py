"""The dashboard on the admin home, as the server renders it (the browser test presses it)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client, override_settings
from kombu import Queue

from mailinglist.models import ConsentEvent, Subscription
from newsletters.models import Delivery
from operations import heartbeat, queues
from operations.redis_client import redis_client
from tests.dashboard.builders import days_ago, event, ledger_digest, readers
from tests.factories import MailingListFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db
Row = Delivery.State


def _home(user: User, query: str = "") -> str:
    client = Client()
    client.force_login(user)
    response = client.get(f"/admin/{query}")
    assert response.status_code == 200
    return str(response.content.decode())


def _cell(html: str, pattern: str) -> str:
    found = re.search(pattern, html, re.S)
    assert found, pattern
    return found.group(1)


def test_the_home_shows_figures_equal_to_the_tables(viewer: User) -> None:
    morning = MailingListFactory.create(name="The Morning Briefing", slug="morning")
    people = readers(morning, 4)
    SubscriptionFactory.create(mailing_list=morning, state=Subscription.State.PENDING)
    for n in range(3):
        event(ConsentEvent.Kind.SIGNUP, at=days_ago(n), source_url="https://news.example.com/a")
    digest = ledger_digest(
        mailing_list=morning,
        subject="Tuesday: harbour park",
        rows=[*[(p, Row.SENT, "") for p in people[:3]], (people[3], Row.FAILED, "550 no")],
    )

    html = _home(viewer)

    active = Subscription.objects.filter(mailing_list=morning, state="active").count()
    assert _cell(html, r'data-list="morning">.*?class="nd-num nd-active">([\d,]+)<') == str(active)
    assert _cell(html, r'id="nd-active-total">([\d,]+)<') == str(active)
    signups = ConsentEvent.objects.filter(kind="signup").count()
    assert _cell(html, r'id="nd-signups-total">([\d,]+)<') == str(signups) == "3"
    row = _cell(html, rf'<tr data-digest="{digest.pk}">(.*?)</tr>')
    numbers = re.findall(r'class="nd-num" data-label="[^"]+">(\d+)', row)
    assert numbers[:2] == ["3", "1"]  # sent, failed
    assert "Tuesday: harbour park" in row
    assert "https://news.example.com/a" in html


def test_the_window_picker_changes_the_period(viewer: User) -> None:
    html = _home(viewer)
    wider = _home(viewer, "?window=90")

    assert re.search(r'href="\?window=30" aria-current="page"', html)
    assert re.search(r'href="\?window=90" aria-current="page"', wider)
    for page, days in ((html, 30), (wider, 90)):
        table = _cell(page, r'<table id="nd-audience-table">(.*?)</table>')
        assert table.count('<th scope="row">') == days
        assert f"last {days} days" in page
    assert _cell(_home(viewer, "?window=12"), r'href="\?window=(\d+)" aria-current') == "30"


def test_each_chart_is_an_svg_with_its_table_and_nothing_from_elsewhere(viewer: User) -> None:
    html = _home(viewer)

    for chart in ("nd-audience", "nd-net"):
        figure = _cell(html, rf'<figure class="[^"]*" id="{chart}">(.*?)</figure>')
        assert re.search(r'<svg [^>]*role="img" aria-labelledby="[^"]+"', figure)
        assert "<polyline" in figure
        assert re.search(r"<details[^>]*>\s*<summary>The figures as a table</summary>", figure)
        assert "<table" in figure
    assert "<script" not in _cell(
        html, r'(<section class="newsroom".*?</section>\s*</div>\s*</section>)'
    )
    assert not re.search(r'(src|href)="https?://(?!127\.0\.0\.1|testserver)', html)


def test_a_user_sees_only_what_they_may_view(digest_only: User) -> None:
    html = _home(digest_only)

    assert 'id="newsroom"' in html
    assert 'id="nd-digests"' in html and 'id="nd-health"' in html
    for part in ("nd-audience", "nd-net", "nd-lists", "nd-sources", "nd-active-total"):
        assert f'id="{part}"' not in html
    assert "Recurring editions" not in html


def test_staff_who_may_not_view_digests_get_the_plain_home(db: None) -> None:
    staff = User.objects.create_user(username="plain", password="x-pw-12345", is_staff=True)

    html = _home(staff)

    assert 'id="newsroom"' not in html
    operations = _cell(html, r'<div class="module" id="operations-links">(.*?)</div>')
    # Only the links this person may follow: the outbox is the superusers', the mail check
    # needs its permission; health and the API docs are for everyone.
    assert "Local outbox" not in operations and "Send a mail check" not in operations
    assert ">Health</a>" in operations and ">API docs</a>" in operations


def test_the_operations_links_sit_in_the_sidebar_with_the_api_docs(db: None) -> None:
    html = _home(User.objects.create_superuser("root", "root@example.com", "pw-for-tests-1"))

    sidebar = _cell(html, r'<div id="content-related">(.*)</div>\s*<br class="clear">')
    operations = _cell(sidebar, r'<div class="module" id="operations-links">(.*?)</div>')
    for text, url in [
        ("Local outbox", "/admin/outbox/"),
        ("Send a mail check", "/admin/operations/mailcheck/add/"),
        ("Health", "/healthz"),
        ("API docs", "/api/v1/docs"),
    ]:
        assert f'<a href="{url}">{text}</a>' in operations
    assert 'id="recent-actions-module"' in sidebar
    # Nothing of the sidebar is outside it (that is what slid under the app list).
    assert html.count('id="operations-links"') == 1


@pytest.fixture
def test_queue() -> Iterator[str]:
    """A queue of its own in the tests' Redis, so no worker of the suite takes what is put in."""
    name = "dashboard-test-queue"
    client = redis_client()
    client.delete(name, f"{name}\x06\x163")
    with override_settings(CELERY_TASK_QUEUES=[Queue(name)]):
        yield name
    client.delete(name, f"{name}\x06\x163")
    heartbeat.worker_heartbeat_remove(hostname="dashboard-test@host")


def test_worker_health_is_what_redis_holds(test_queue: str, viewer: User) -> None:
    client = redis_client()
    client.rpush(test_queue, "a", "b")
    client.rpush(f"{test_queue}\x06\x163", "c")  # a priority step of the same queue
    heartbeat.worker_heartbeat_record(hostname="dashboard-test@host")

    health = queues.worker_health()
    html = _home(viewer)

    assert health.is_redis_up
    assert health.queues == [queues.QueueLength(name=test_queue, waiting=3)]
    assert health.workers_alive == heartbeat.alive_worker_count() >= 1
    assert health.in_progress == client.hlen("unacked")
    assert re.search(rf"Waiting in <code>{test_queue}</code></th><td[^>]*>3<", html)


def test_worker_health_says_when_redis_does_not_answer(settings: Any) -> None:
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there

    health = queues.worker_health()

    assert not health.is_redis_up and health.queues == []
