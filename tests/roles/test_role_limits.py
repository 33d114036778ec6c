"""What each role may not do, and that it can still do its own job (admin and API)."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from mailinglist.models import ImportJob, Subscriber, Subscription, Suppression
from newsletters.models import Digest
from operations.api_tokens import api_token_issue
from operations.models import ApiToken, MailCheck
from tests.roles.cases import API, AUDIENCE_ADMIN, DIGEST_ADMIN, SEND_AT, Call
from tests.roles.helpers import ROLES, role_group, role_user
from tests.roles.world import World, state_snapshot, world_build

SUBSCRIBERS = "admin:mailinglist_subscriber_changelist"


@pytest.fixture
def world(db: None) -> World:
    return world_build()


def _post(client: Client, call: Call) -> Any:
    return client.get(call.url) if call.method == "get" else client.post(call.url, call.data)


class Api:
    """Calls /api/v1/ as a user, with that user's token (issued once: issuing writes a row)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.tokens: dict[int, str] = {}

    def token(self, user: User) -> str:
        if user.pk not in self.tokens:
            self.tokens[user.pk] = api_token_issue(user=user)
        return self.tokens[user.pk]

    def post(self, user: User, call: Call) -> Any:
        auth = {"Authorization": f"Bearer {self.token(user)}"}
        return self.client.post(call.url, call.data, content_type="application/json", headers=auth)


@pytest.fixture
def api(client: Client) -> Api:
    return Api(client)


def test_the_migration_ships_the_four_roles_as_groups(db: None) -> None:
    groups = {name: {p.codename for p in role_group(name).permissions.all()} for name in ROLES}

    assert {"view_subscriber", "view_digest"} <= groups["Viewer"]
    assert not any(code.split("_")[0] in {"add", "change", "delete"} for code in groups["Viewer"])
    assert "schedule_digest" not in groups["Editor"]
    assert {"schedule_digest", "control_digest"} <= groups["Publisher"]
    assert groups["Editor"] <= groups["Publisher"]
    assert "add_importjob" not in groups["Publisher"]
    assert {"add_importjob", "export_subscribers", "delete_subscriber"} <= groups[
        "Audience manager"
    ]
    assert not {"add_digest", "schedule_digest"} & groups["Audience manager"]
    assert not any("apitoken" in code for codes in groups.values() for code in codes)


# --- A Publisher cannot import -------------------------------------------------------------------


@pytest.mark.parametrize("case", ["import form", "import upload", "import start"])
def test_a_publisher_cannot_import_in_admin(
    case: str, publisher: User, world: World, client: Client
) -> None:
    client.force_login(publisher)
    before = state_snapshot()

    response = _post(client, AUDIENCE_ADMIN[case](world, publisher))

    assert response.status_code == 403
    assert state_snapshot() == before


def test_a_publisher_sees_no_import_button(publisher: User, world: World, client: Client) -> None:
    client.force_login(publisher)

    listing = client.get(reverse(SUBSCRIBERS)).content.decode()
    job = client.get(reverse("admin:mailinglist_importjob_change", args=[world.job.pk]))

    assert "Import CSV" not in listing
    assert reverse("admin:mailinglist_subscriber_import") not in listing
    assert 'id="import-start"' not in job.content.decode()


def test_a_publisher_cannot_import_over_the_api(publisher: User, world: World, api: Api) -> None:
    response = api.post(publisher, API["POST /subscribers"](world))

    assert response.status_code == 403
    assert response.json() == {
        "detail": "Your role does not allow adding subscribers (an import) "
        "(it needs mailinglist.add_importjob)."
    }
    assert not Subscriber.objects.filter(email="api@example.com").exists()


def test_a_publisher_schedules_and_controls_over_the_api(
    publisher: User, world: World, api: Api
) -> None:
    scheduled = api.post(publisher, API["POST /digests/{id}/schedule"](world))
    paused = api.post(publisher, API["POST /digests/{id}/pause"](world))

    assert scheduled.status_code == 200, scheduled.content
    assert paused.status_code == 200, paused.content
    assert Digest.objects.get(pk=world.sending.pk).state == Digest.State.PAUSED


# --- An Audience manager cannot schedule a digest -------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "POST /digests",
        "POST /digests with send_at",
        "POST /digests/{id}/schedule",
        "POST /digests/{id}/unschedule",
        "POST /digests/{id}/cancel",
        "POST /stories",
    ],
)
def test_an_audience_manager_cannot_touch_digests_over_the_api(
    case: str, audience_manager: User, world: World, api: Api
) -> None:
    api.token(audience_manager)
    before = state_snapshot()

    response = api.post(audience_manager, API[case](world))

    assert response.status_code == 403, response.content
    assert state_snapshot() == before


@pytest.mark.parametrize(
    "case", ["digest: schedule", "digest: unschedule", "digest: cancel", "digest: add"]
)
def test_an_audience_manager_cannot_schedule_in_admin(
    case: str, audience_manager: User, world: World, client: Client
) -> None:
    client.force_login(audience_manager)
    before = state_snapshot()

    response = _post(client, DIGEST_ADMIN[case](world, audience_manager))

    assert response.status_code == 403
    assert state_snapshot() == before


def test_an_audience_manager_imports_one_address_over_the_api(
    audience_manager: User, world: World, api: Api
) -> None:
    response = api.post(audience_manager, API["POST /subscribers"](world))

    assert response.status_code == 201, response.content
    assert Subscription.objects.get(subscriber__email="api@example.com").state == "active"


# --- An Editor cannot export ----------------------------------------------------------------------


@pytest.mark.parametrize("case", ["export (current filter)", "subscribers: export selected"])
def test_an_editor_cannot_export(case: str, editor: User, world: World, client: Client) -> None:
    client.force_login(editor)

    response = _post(client, AUDIENCE_ADMIN[case](world, editor))

    assert response.status_code == 403
    assert b"reader@example.com" not in response.content


def test_an_editor_sees_no_export_and_no_actions(
    editor: User, world: World, client: Client
) -> None:
    client.force_login(editor)

    html = client.get(reverse(SUBSCRIBERS)).content.decode()

    assert "Export CSV" not in html
    assert reverse("admin:mailinglist_subscriber_export") not in html
    assert 'name="action"' not in html


def test_an_editor_writes_stories_and_drafts_but_does_not_schedule(
    editor: User, world: World, api: Api
) -> None:
    story = api.post(editor, API["POST /stories"](world))
    draft = api.post(editor, API["POST /digests"](world))
    scheduled = api.post(editor, API["POST /digests with send_at"](world))

    assert story.status_code == 201, story.content
    assert draft.status_code == 201, draft.content
    assert Digest.objects.get(pk=draft.json()["id"]).state == Digest.State.DRAFT
    assert scheduled.status_code == 403
    assert scheduled.json()["detail"] == (
        "Your role does not allow scheduling digests (send_at) "
        "(it needs newsletters.schedule_digest)."
    )
    assert Digest.objects.filter(subject="From the API").count() == 1


def test_an_editor_cannot_send_a_mail_check(editor: User, client: Client) -> None:
    client.force_login(editor)

    response = client.post(reverse("admin:operations_mailcheck_add"), {"recipient": "a@b.example"})

    assert response.status_code == 403
    assert not MailCheck.objects.exists()


# --- The Audience manager's own controls ----------------------------------------------------------


def test_an_audience_manager_uses_every_audience_control(
    audience_manager: User, world: World, client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(audience_manager)
    listing = client.get(reverse(SUBSCRIBERS)).content.decode()
    assert "Import CSV" in listing and "Export CSV" in listing

    export = client.get(reverse("admin:mailinglist_subscriber_export"))
    rows = list(csv.reader(io.StringIO(export.getvalue().decode("utf-8-sig"))))
    assert export.status_code == 200
    assert "reader@example.com" in {row[0] for row in rows}

    added = _post(client, AUDIENCE_ADMIN["suppression: add"](world, audience_manager))
    removed = _post(client, AUDIENCE_ADMIN["suppression: remove"](world, audience_manager))
    assert (added.status_code, removed.status_code) == (302, 302)
    assert list(Suppression.objects.values_list("email", flat=True)) == ["more@example.com"]

    with django_capture_on_commit_callbacks(execute=False):
        started = _post(client, AUDIENCE_ADMIN["import start"](world, audience_manager))
    assert started.status_code == 302
    assert ImportJob.objects.get(pk=world.job.pk).state == ImportJob.State.QUEUED

    asked = _post(client, AUDIENCE_ADMIN["subscribers: erase (asks)"](world, audience_manager))
    assert asked.status_code == 200 and b"Yes, erase them" in asked.content
    erased = _post(
        client, AUDIENCE_ADMIN["subscribers: erase (confirmed)"](world, audience_manager)
    )
    assert erased.status_code == 302
    assert not Subscriber.objects.filter(pk=world.reader.pk).exists()


# --- API tokens are for superusers ---------------------------------------------------------------


@pytest.mark.parametrize("role", ROLES)
def test_only_superusers_handle_api_tokens(role: str, db: None, client: Client) -> None:
    user = role_user(role)
    client.force_login(user)

    assert client.get(reverse("admin:operations_apitoken_changelist")).status_code == 403
    assert client.post(reverse("admin:operations_apitoken_add"), {"user": user.pk}).status_code == (
        403
    )
    assert b"/admin/operations/apitoken/" not in client.get(reverse("admin:index")).content
    assert not ApiToken.objects.exists()


def test_a_superuser_still_creates_tokens(staff_user: User, client: Client) -> None:
    client.force_login(staff_user)

    response = client.post(reverse("admin:operations_apitoken_add"), {"user": staff_user.pk})

    assert response.status_code == 302
    assert ApiToken.objects.filter(user=staff_user).exists()


# --- Tokens of people who left ------------------------------------------------------------------


@pytest.mark.parametrize("change", ["is_active", "is_staff"])
def test_a_token_stops_working_when_its_user_leaves_the_staff(
    change: str, publisher: User, world: World, client: Client
) -> None:
    auth = {"Authorization": f"Bearer {api_token_issue(user=publisher)}"}
    assert client.get("/api/v1/lists", headers=auth).status_code == 200
    setattr(publisher, change, False)
    publisher.save()

    listed = client.get("/api/v1/lists", headers=auth)
    paused = client.post(f"/api/v1/digests/{world.sending.pk}/pause", headers=auth)

    assert (listed.status_code, paused.status_code) == (401, 401)
    assert paused.json() == {"detail": "Unauthorized"}
    assert Digest.objects.get(pk=world.sending.pk).state == Digest.State.SENDING


def test_a_role_taken_away_is_403_at_once(publisher: User, world: World, client: Client) -> None:
    auth = {"Authorization": f"Bearer {api_token_issue(user=publisher)}"}
    publisher.groups.clear()

    response = client.post(
        f"/api/v1/digests/{world.draft.pk}/schedule",
        {"send_at": SEND_AT},
        content_type="application/json",
        headers=auth,
    )

    assert response.status_code == 403
    assert Digest.objects.get(pk=world.draft.pk).state == Digest.State.DRAFT
