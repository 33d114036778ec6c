"""The audit trail in admin: superusers read, filter and search it; nobody changes it."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Group, Permission, User
from django.test import Client

from audit.models import AuditEntry
from audit.records import audit_record
from tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db

TRAIL = "/admin/audit/auditentry/"


@pytest.fixture
def entry(staff_user: User) -> AuditEntry:
    return audit_record(
        action="list.change", actor=staff_user, target=MailingListFactory.create(name="Daily")
    )


@pytest.fixture
def superuser(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


def test_a_superuser_reads_filters_and_searches_the_trail(
    superuser: Client, entry: AuditEntry
) -> None:
    bot = User.objects.create_user(username="cms-bot", is_staff=True)
    audit_record(action="story.add", actor=bot, via="api")

    everything = superuser.get(TRAIL)
    by_action = superuser.get(TRAIL, {"action": "list.change"})
    by_via = superuser.get(TRAIL, {"via__exact": "api"})
    searched = superuser.get(TRAIL, {"q": "cms-bot"})
    detail = superuser.get(f"{TRAIL}{entry.pk}/change/")

    assert everything.status_code == 200
    assert [e.action for e in everything.context["cl"].result_list] == ["story.add", "list.change"]
    assert [e.pk for e in by_action.context["cl"].result_list] == [entry.pk]
    assert [e.action for e in by_via.context["cl"].result_list] == ["story.add"]
    assert [e.action for e in searched.context["cl"].result_list] == ["story.add"]
    assert detail.status_code == 200
    assert b"Daily" in detail.content
    assert b'name="_save"' not in detail.content  # shown, not editable


def test_nobody_adds_changes_or_deletes_an_entry_not_even_a_superuser(
    superuser: Client, entry: AuditEntry
) -> None:
    changelist = superuser.get(TRAIL)

    assert superuser.get(f"{TRAIL}add/").status_code == 403
    assert superuser.post(f"{TRAIL}{entry.pk}/change/", {"action": "rewritten"}).status_code == 403
    assert superuser.get(f"{TRAIL}{entry.pk}/delete/").status_code == 403
    assert superuser.post(f"{TRAIL}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert "delete_selected" not in changelist.context["cl"].model_admin.get_actions(
        changelist.wsgi_request
    )
    superuser.post(
        TRAIL, {"action": "delete_selected", ACTION_CHECKBOX_NAME: [entry.pk], "post": "yes"}
    )
    assert AuditEntry.objects.get().action == "list.change"
    assert b"Add audit entry" not in changelist.content


def test_staff_who_are_not_superusers_get_403_even_with_every_permission(
    client: Client, entry: AuditEntry
) -> None:
    manager = User.objects.create_user(username="manager", password="pw-1", is_staff=True)
    manager.groups.add(Group.objects.get(name="Audience manager"))
    manager.user_permissions.add(*Permission.objects.filter(content_type__app_label="audit"))
    client.force_login(manager)

    assert client.get(TRAIL).status_code == 403
    assert client.get(f"{TRAIL}{entry.pk}/change/").status_code == 403
    home = client.get("/admin/")
    assert home.status_code == 200
    assert b"Audit trail" not in home.content
