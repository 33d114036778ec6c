"""Staff API for stories and digests: validation through schemas, JSON errors, never a 500."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletters.models import Digest, Story
from operations.api_tokens import api_token_issue
from tests.factories import MailingListFactory
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(staff_user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token_issue(user=staff_user)}"}


def _post(client: Client, path: str, body: object, auth: dict[str, str]):
    return client.post(path, json.dumps(body), content_type="application/json", headers=auth)


def test_story_upsert_is_idempotent_by_url(client: Client, auth: dict[str, str]) -> None:
    body = {
        "url": "https://news.example.com/a",
        "headline": "First",
        "summary": "<p>Hi<script>x()</script></p>",
    }

    created = _post(client, "/api/v1/stories", body, auth)
    updated = _post(
        client, "/api/v1/stories", {**body, "headline": "Second", "featured": True}, auth
    )

    assert created.status_code == 201
    assert updated.status_code == 200
    assert created.json()["id"] == updated.json()["id"]
    story = Story.objects.get()
    assert (story.headline, story.is_featured, story.source) == ("Second", True, "api")
    assert "<script>" not in story.summary


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        ({"url": "javascript:alert(1)", "headline": "x"}, "url: must start with http"),
        (
            {"url": "https://news.example.com/a", "headline": "  "},
            "headline: a headline is required",
        ),
        (
            {"url": "https://news.example.com/a", "headline": "x", "image_url": "ftp://x/y.jpg"},
            "image_url",
        ),
        (
            {
                "url": "https://news.example.com/a",
                "headline": "x",
                "published_at": "2026-11-28T06:30:00",
            },
            "timezone",
        ),
        ({"headline": "x"}, "url"),
        ({"url": 5, "headline": "x"}, "url"),
    ],
)
def test_bad_stories_get_400_with_a_reason(
    client: Client, auth: dict[str, str], body: dict[str, object], detail: str
) -> None:
    response = _post(client, "/api/v1/stories", body, auth)

    assert response.status_code == 400
    assert detail in response.json()["detail"]
    assert not Story.objects.exists()


def test_stories_need_a_token(client: Client) -> None:
    assert client.post("/api/v1/stories", "{}", content_type="application/json").status_code == 401
    assert client.get("/api/v1/stories").status_code == 401


def test_digest_from_story_ids_then_get_schedule_unschedule(
    client: Client, auth: dict[str, str]
) -> None:
    source = make_digest(stories=3)
    ids = list(source.items.order_by("-position").values_list("story_id", flat=True))

    created = _post(
        client,
        "/api/v1/digests",
        {"list": "morning", "subject": "Evening edition", "story_ids": ids},
        auth,
    )
    digest_id = created.json()["id"]
    fetched = client.get(f"/api/v1/digests/{digest_id}", headers=auth)
    send_at = (timezone.now() + timedelta(hours=3)).isoformat()
    scheduled = _post(client, f"/api/v1/digests/{digest_id}/schedule", {"send_at": send_at}, auth)
    unscheduled = _post(client, f"/api/v1/digests/{digest_id}/unschedule", {}, auth)

    assert created.status_code == 201
    assert fetched.json()["story_ids"] == ids
    assert fetched.json()["counts"] == {
        "total": 0,
        "pending": 0,
        "sent": 0,
        "failed": 0,
        "skipped": 0,
    }
    assert scheduled.status_code == 200
    assert scheduled.json()["state"] == "scheduled"
    assert unscheduled.json()["state"] == "draft"


def test_a_digest_scheduled_at_creation_must_pass_the_checks(
    client: Client, auth: dict[str, str]
) -> None:
    MailingListFactory.create(slug="empty")
    send_at = (timezone.now() + timedelta(hours=1)).isoformat()

    response = _post(
        client,
        "/api/v1/digests",
        {"list": "empty", "subject": "Nothing", "story_ids": [], "send_at": send_at},
        auth,
    )

    assert response.status_code == 400
    assert "Add at least one story." in response.json()["detail"]
    assert not Digest.objects.exists()  # nothing half-made


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"list": "nope", "subject": "x"}, 404),
        ({"list": "morning", "subject": ""}, 400),
        ({"list": "morning", "subject": "x", "story_ids": [999999]}, 400),
        ({"list": "morning", "subject": "x", "send_at": "tomorrow"}, 400),
        ({"list": "morning", "subject": "x", "send_at": "2026-11-28T06:30:00"}, 400),
        ({"subject": "x"}, 400),
    ],
)
def test_bad_digests_get_4xx_json(
    client: Client, auth: dict[str, str], body: dict[str, object], status: int
) -> None:
    make_digest(stories=1)

    response = _post(client, "/api/v1/digests", body, auth)

    assert response.status_code == status
    assert response.json()["detail"]


def test_unknown_digest_is_404(client: Client, auth: dict[str, str]) -> None:
    assert client.get("/api/v1/digests/424242", headers=auth).status_code == 404
    assert (
        _post(
            client, "/api/v1/digests/424242/schedule", {"send_at": timezone.now().isoformat()}, auth
        ).status_code
        == 404
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=50),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.dictionaries(
        st.sampled_from(
            ["url", "headline", "summary", "image_url", "published_at", "featured", "x"]
        ),
        json_values,
    )
)
def test_hostile_story_payloads_never_error(
    client: Client, auth: dict[str, str], body: dict[str, object]
) -> None:
    response = _post(client, "/api/v1/stories", body, auth)

    assert response.status_code in {200, 201, 400}
    for story in Story.objects.all():
        assert story.url.startswith(("http://", "https://"))
        assert "<script" not in story.summary.lower()


def test_pause_resume_cancel_over_the_api(
    client: Client, auth: dict[str, str], django_capture_on_commit_callbacks
) -> None:
    from mailinglist.models import Subscriber, Subscription
    from newsletters import scheduling
    from newsletters.delivery import dispatch

    digest = make_digest(stories=1)
    subscriber = Subscriber.objects.create(email="api-reader@example.com")
    Subscription.objects.create(
        subscriber=subscriber, mailing_list=digest.mailing_list, state="active"
    )
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    with django_capture_on_commit_callbacks(execute=False):
        dispatch.digest_start(digest_id=digest.pk)

    paused = _post(client, f"/api/v1/digests/{digest.pk}/pause", {}, auth)
    again = _post(client, f"/api/v1/digests/{digest.pk}/pause", {}, auth)
    with django_capture_on_commit_callbacks(execute=False):
        resumed = _post(client, f"/api/v1/digests/{digest.pk}/resume", {}, auth)
    cancelled = _post(client, f"/api/v1/digests/{digest.pk}/cancel", {}, auth)

    assert paused.json()["state"] == "paused"
    assert again.status_code == 409
    assert resumed.json()["state"] == "sending"
    assert cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["counts"] == {
        "total": 1,
        "pending": 0,
        "sent": 0,
        "failed": 0,
        "skipped": 1,
    }


def test_a_digest_intro_sent_as_markdown_is_kept_and_rendered_clean(
    client: Client, auth: dict[str, str]
) -> None:
    from newsletters.rendering import intro_html

    MailingListFactory.create(slug="morning")
    body = {
        "list": "morning",
        "subject": "Tuesday",
        "intro": "Good **morning**, see [the plan](https://news.example.com/plan)."
        "\n\n<script>x()</script>\u0000",
    }

    response = _post(client, "/api/v1/digests", body, auth)

    assert response.status_code == 201
    digest = Digest.objects.get(pk=response.json()["id"])
    assert digest.intro_format == Digest.IntroFormat.MARKDOWN
    assert digest.intro.startswith("Good **morning**")
    assert "\u0000" not in digest.intro
    html = intro_html(digest=digest)
    assert "<strong>morning</strong>" in html
    assert '<a href="https://news.example.com/plan"' in html
    assert "<script" not in html


def test_api_scheduling_keeps_the_two_person_rule(client: Client, auth: dict[str, str]) -> None:
    mailing_list = MailingListFactory.create(slug="careful", requires_second_approval=True)
    digest = make_digest(stories=1, mailing_list=mailing_list)
    send_at = (timezone.now() + timedelta(days=1)).isoformat()

    response = _post(client, f"/api/v1/digests/{digest.pk}/schedule", {"send_at": send_at}, auth)

    assert response.status_code == 200
    assert response.json()["state"] == "awaiting_approval"
    digest.refresh_from_db()
    assert digest.state == Digest.State.AWAITING_APPROVAL
