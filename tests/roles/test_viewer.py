"""A Viewer reads everything and changes nothing: every control and API call that writes is 403."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from operations.api_tokens import api_token_issue
from tests.roles.cases import API, AUDIENCE_ADMIN, DIGEST_ADMIN, Call
from tests.roles.world import World, state_snapshot, world_build


@pytest.fixture
def world(db: None) -> World:
    return world_build()


def _send(client: Client, call: Call, **headers: str) -> Any:
    if call.method == "get":
        return client.get(call.url, headers=headers)
    if headers:  # the API takes JSON
        return client.post(call.url, call.data, content_type="application/json", headers=headers)
    return client.post(call.url, call.data)


@pytest.mark.parametrize("case", [*AUDIENCE_ADMIN, *DIGEST_ADMIN])
def test_every_admin_control_that_writes_is_403_for_a_viewer(
    case: str, viewer: User, world: World, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(viewer)
    call = {**AUDIENCE_ADMIN, **DIGEST_ADMIN}[case](world, viewer)
    before = state_snapshot()

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = _send(client, call)

    assert response.status_code == 403, (case, response.status_code)
    assert state_snapshot() == before
    assert enqueued == []  # no mail, no task


@pytest.mark.parametrize("case", list(API))
def test_every_api_call_that_writes_is_403_for_a_viewer(
    case: str, viewer: User, world: World, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    token = api_token_issue(user=viewer)
    call = API[case](world)
    before = state_snapshot()

    with django_capture_on_commit_callbacks(execute=False) as enqueued:
        response = _send(client, call, Authorization=f"Bearer {token}")

    assert response.status_code == 403, (case, response.content)
    assert response["Content-Type"] == "application/json; charset=utf-8"
    assert response.json()["detail"].startswith("Your role does not allow ")
    assert state_snapshot() == before
    assert enqueued == []


def test_a_viewer_reads_everything_over_the_api(viewer: User, world: World, client: Client) -> None:
    auth = {"Authorization": f"Bearer {api_token_issue(user=viewer)}"}

    for url in (
        "/api/v1/lists",
        "/api/v1/subscribers?email=reader@example.com",
        "/api/v1/stories",
        f"/api/v1/digests/{world.draft.pk}",
    ):
        assert client.get(url, headers=auth).status_code == 200, url


def test_a_viewer_reads_every_audience_page_and_sees_no_control_that_writes(
    viewer: User, world: World, client: Client
) -> None:
    client.force_login(viewer)

    subscribers = client.get(reverse("admin:mailinglist_subscriber_changelist"))
    html = subscribers.content.decode()
    assert subscribers.status_code == 200
    assert "reader@example.com" in html
    assert 'name="action"' not in html  # no actions at all
    assert "Import CSV" not in html
    assert "Export CSV" not in html
    reader = client.get(reverse("admin:mailinglist_subscriber_change", args=[world.reader.pk]))
    assert reader.status_code == 200
    assert 'name="_save"' not in reader.content.decode()
    for name in ("mailinglist", "suppression", "importjob", "consentevent"):
        page = client.get(reverse(f"admin:mailinglist_{name}_changelist"))
        assert page.status_code == 200, name
        assert f"/admin/mailinglist/{name}/add/" not in page.content.decode(), name
    job = client.get(reverse("admin:mailinglist_importjob_change", args=[world.job.pk]))
    assert job.status_code == 200
    assert 'id="import-start"' not in job.content.decode()
    checks = client.get(reverse("admin:operations_mailcheck_changelist"))
    assert checks.status_code == 200
    assert "/admin/operations/mailcheck/add/" not in checks.content.decode()
