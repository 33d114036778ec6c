"""Staff actions through the admin, the API and a command each leave one entry: who, what, which
record, from where."""

from __future__ import annotations

import json

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db.models.fields.files import FieldFile
from django.test import Client

from audit.models import AuditEntry
from mailinglist.addresses import email_hash
from mailinglist.models import ImportJob, MailingList, Subscriber, Suppression
from newsletters.models import Digest
from operations.api_tokens import api_token_issue
from operations.models import ApiToken
from tests.factories import MailingListFactory, StoryFactory, SubscriptionFactory

pytestmark = pytest.mark.django_db

IP = "198.51.100.23"
SUBSCRIBERS = "/admin/mailinglist/subscriber/"


@pytest.fixture
def staff(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    # Every request of this client comes from IP, as if through the newsroom's network.
    client.defaults["REMOTE_ADDR"] = IP
    client.defaults["HTTP_USER_AGENT"] = "Mozilla/5.0 (newsroom)"
    return client


def _only(action: str) -> AuditEntry:
    entries = list(AuditEntry.objects.filter(action=action))
    assert len(entries) == 1, [str(e) for e in AuditEntry.objects.all()]
    return entries[0]


def _assert_by_staff(entry: AuditEntry, staff_user: User, *, via: str = "admin") -> None:
    assert entry.actor == staff_user
    assert entry.actor_name == staff_user.username
    assert entry.ip == IP
    assert entry.via == via


# --- Admin saves ---------------------------------------------------------------------------------


def test_a_list_renamed_in_admin_is_recorded_with_the_changed_field(
    staff: Client, staff_user: User
) -> None:
    daily = MailingListFactory.create(slug="daily", name="Daily")
    page = staff.get(f"/admin/mailinglist/mailinglist/{daily.pk}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {key: "" if value is None else value for key, value in data.items()}
    data["name"] = "The Daily Briefing"
    # A browser sends no unticked box and no file when none is picked (the list has no logo).
    data = {
        key: value
        for key, value in data.items()
        if value is not False and not (isinstance(value, FieldFile) and not value)
    }

    response = staff.post(f"/admin/mailinglist/mailinglist/{daily.pk}/change/", data)

    assert response.status_code == 302, response.content.decode()[:2000]
    entry = _only("list.change")
    _assert_by_staff(entry, staff_user)
    assert (entry.target_type, entry.target_id) == ("mailinglist", str(daily.pk))
    assert entry.target_repr == "The Daily Briefing"
    assert entry.detail == {"fields": ["Name"]}
    assert entry.user_agent == "Mozilla/5.0 (newsroom)"
    assert AuditEntry.objects.count() == 1


def test_a_suppression_added_and_removed_in_admin(staff: Client, staff_user: User) -> None:
    added = staff.post(
        "/admin/mailinglist/suppression/add/",
        {"email": "Complainer@Example.com", "reason": "manual", "note": "asked by phone"},
    )

    assert added.status_code == 302, added.content.decode()[:2000]
    suppression = Suppression.objects.get()
    entry = _only("suppression.add")
    _assert_by_staff(entry, staff_user)
    assert (entry.target_type, entry.target_id) == ("suppression", str(suppression.pk))
    assert entry.target_repr == "Complainer@example.com (Added by staff)"
    assert entry.detail == {"reason": "manual"}

    removed = staff.post(
        f"/admin/mailinglist/suppression/{suppression.pk}/delete/", {"post": "yes"}
    )

    assert removed.status_code == 302
    assert not Suppression.objects.exists()
    gone = _only("suppression.remove")
    _assert_by_staff(gone, staff_user)
    assert gone.target_id == str(suppression.pk)


def test_an_api_token_issued_in_admin(staff: Client, staff_user: User) -> None:
    bot = User.objects.create_user(username="cms-bot", is_staff=True)

    response = staff.post("/admin/operations/apitoken/add/", {"user": bot.pk})

    assert response.status_code == 302, response.content.decode()[:2000]
    token = ApiToken.objects.get(user=bot)
    entry = _only("token.issue")
    _assert_by_staff(entry, staff_user)
    assert (entry.target_type, entry.target_id) == ("apitoken", str(token.pk))
    assert entry.detail == {"user": "cms-bot"}
    # The token itself is shown once to the person who made it, and never kept.
    stored = json.dumps([entry.target_repr, entry.detail])
    assert token.prefix in entry.target_repr
    assert len(stored) < 200


def test_an_api_token_issued_by_the_command(staff_user: User) -> None:
    call_command("create_api_token", staff_user.username)

    entry = _only("token.issue")
    assert entry.via == "command"
    assert entry.actor is None
    assert entry.ip is None
    assert entry.target_id == str(ApiToken.objects.get(user=staff_user).pk)
    assert entry.detail["user"] == "staff"


# --- Staff actions that are not plain saves ------------------------------------------------------


def test_erasing_a_subscriber_is_recorded_without_keeping_the_address(
    staff: Client, staff_user: User
) -> None:
    subscription = SubscriptionFactory.create(subscriber__email="gone@example.com")
    subscriber = subscription.subscriber
    # An earlier staff action named them.
    staff.post(
        SUBSCRIBERS,
        {"action": "unsubscribe_everywhere", ACTION_CHECKBOX_NAME: [subscriber.pk]},
    )
    assert _only("subscriber.unsubscribe").target_repr == "gone@example.com"

    response = staff.post(
        SUBSCRIBERS,
        {"action": "erase_selected", ACTION_CHECKBOX_NAME: [subscriber.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert not Subscriber.objects.exists()
    entry = _only("subscriber.erase")
    _assert_by_staff(entry, staff_user)
    assert (entry.target_type, entry.target_id) == ("subscriber", str(subscriber.pk))
    assert entry.target_repr == f"(erased) {email_hash('gone@example.com')[:12]}…"
    trail = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert "gone@example.com" not in trail
    assert _only("subscriber.unsubscribe").target_repr == entry.target_repr


def test_exporting_the_selection_is_recorded_with_its_size(staff: Client, staff_user: User) -> None:
    chosen = [SubscriptionFactory.create().subscriber for _ in range(2)]
    SubscriptionFactory.create()

    response = staff.post(
        SUBSCRIBERS,
        {"action": "export_selected", ACTION_CHECKBOX_NAME: [s.pk for s in chosen]},
    )

    assert response.status_code == 200
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    entry = _only("subscriber.export")
    _assert_by_staff(entry, staff_user)
    assert entry.target_type == ""
    assert entry.detail == {"rows": 2, "selected": True}


def test_the_export_csv_view_records_its_filters_but_not_a_searched_address(
    staff: Client, staff_user: User
) -> None:
    daily = MailingListFactory.create(slug="daily")
    SubscriptionFactory.create(mailing_list=daily, subscriber__email="kim@example.com")
    SubscriptionFactory.create(mailing_list=daily)

    response = staff.get(f"{SUBSCRIBERS}export/", {"list": "daily", "q": "kim@example.com"})

    assert response.status_code == 200
    b"".join(response.streaming_content)  # type: ignore[attr-defined]
    entry = _only("subscriber.export")
    _assert_by_staff(entry, staff_user)
    assert entry.detail == {"rows": 1, "filters": {"list": "daily"}, "searched": True}
    assert "kim@" not in json.dumps(entry.detail)


def test_an_import_uploaded_and_started(staff: Client, staff_user: User) -> None:
    MailingListFactory.create(slug="daily", name="Daily")
    upload = SimpleUploadedFile(
        "survey.csv", b"email\nann@example.com\nbo@example.com\n", content_type="text/csv"
    )
    uploaded = staff.post(
        f"{SUBSCRIBERS}import/",
        {"file": upload, "mailing_list": "daily", "consent_note": ""},
    )
    assert uploaded.status_code == 302, uploaded.content.decode()[:2000]
    job = ImportJob.objects.get()

    started = staff.post(f"/admin/mailinglist/importjob/{job.pk}/start/")
    staff.post(f"/admin/mailinglist/importjob/{job.pk}/start/")  # a second click starts nothing

    assert started.status_code == 302
    upload_entry = _only("import.upload")
    assert upload_entry.detail == {"list": "daily", "rows": 2}
    entry = _only("import.start")
    _assert_by_staff(entry, staff_user)
    assert (entry.target_type, entry.target_id) == ("importjob", str(job.pk))
    assert entry.target_repr == f"Import {job.pk}: survey.csv"
    assert entry.detail == {"list": "daily", "rows": 2, "is_consented": False}


# --- The staff API -------------------------------------------------------------------------------


@pytest.fixture
def api(client: Client, staff_user: User) -> Client:
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {api_token_issue(user=staff_user)}"
    client.defaults["REMOTE_ADDR"] = IP
    return client


def test_a_subscriber_added_through_the_api(api: Client, staff_user: User) -> None:
    MailingListFactory.create(slug="daily")

    response = api.post(
        "/api/v1/subscribers",
        {"email": "new@example.com", "lists": ["daily"], "consent": "Signed up at the fair"},
        content_type="application/json",
    )

    assert response.status_code == 201, response.content
    entry = _only("subscriber.add")
    _assert_by_staff(entry, staff_user, via="api")
    assert entry.target_repr == "new@example.com"
    assert entry.detail == {"lists": ["daily"]}


def test_stories_and_digest_controls_through_the_api(api: Client, staff_user: User) -> None:
    story = {"url": "https://news.example/a", "headline": "A"}
    assert api.post("/api/v1/stories", story, content_type="application/json").status_code == 201
    story["headline"] = "A, updated"
    assert api.post("/api/v1/stories", story, content_type="application/json").status_code == 200
    MailingListFactory.create(slug="daily")
    created = api.post(
        "/api/v1/digests",
        {"list": "daily", "subject": "Monday", "story_ids": [StoryFactory.create().pk]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    digest = Digest.objects.get(pk=created.json()["id"])

    scheduled = api.post(
        f"/api/v1/digests/{digest.pk}/schedule",
        {"send_at": "2099-01-01T06:30:00Z"},
        content_type="application/json",
    )
    unscheduled = api.post(f"/api/v1/digests/{digest.pk}/unschedule")

    assert scheduled.status_code == 200, scheduled.content
    assert unscheduled.status_code == 200, unscheduled.content
    for action in (
        "story.add",
        "story.change",
        "digest.add",
        "digest.schedule",
        "digest.unschedule",
    ):
        _assert_by_staff(_only(action), staff_user, via="api")
    entry = _only("digest.schedule")
    assert (entry.target_type, entry.target_id) == ("digest", str(digest.pk))
    assert entry.detail["send_at"] == "2099-01-01T06:30:00Z"
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.DRAFT
    # A refused control is not an action: nothing recorded.
    assert api.post(f"/api/v1/digests/{digest.pk}/pause").status_code == 409
    assert not AuditEntry.objects.filter(action="digest.pause").exists()


def test_every_list_admin_page_still_works_with_recording(staff: Client) -> None:
    # The mixin sits on these admins; their pages must not mind it.
    MailingList.objects.create(name="Weekly", slug="weekly")
    for url in (
        "/admin/mailinglist/mailinglist/",
        "/admin/mailinglist/suppression/",
        "/admin/mailinglist/importjob/",
        "/admin/newsletters/story/",
        "/admin/newsletters/feed/",
        "/admin/newsletters/editionschedule/",
        "/admin/operations/apitoken/",
        "/admin/operations/mailcheck/",
    ):
        assert staff.get(url).status_code == 200, url
