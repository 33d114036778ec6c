"""Recurring editions in admin: the schedule form's checks, the next slot, the record of runs."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailinglist.models import MailingList
from newsletters import editions
from newsletters.admin.editions import EditionScheduleForm
from newsletters.models import Digest, EditionRun, EditionSchedule
from tests.factories import DigestFactory, EditionScheduleFactory, MailingListFactory

pytestmark = pytest.mark.django_db
SCHEDULES = "/admin/newsletters/editionschedule/"


@pytest.fixture
def staff(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


@pytest.fixture
def morning(db: None) -> MailingList:
    return MailingListFactory.create(slug="morning", name="The Morning Briefing")


def _data(mailing_list: MailingList, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "mailing_list": str(mailing_list.pk),
        "is_active": "on",
        "days_of_week": ["5", "1", "3"],
        "local_time": "06:30",
        "timezone": "Europe/London",
        "story_count": "8",
        "subject_template": "{list} — {date}",
        "lead_minutes": "60",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


# --- The form ------------------------------------------------------------------------------------


def test_a_valid_form_stores_ticked_days_as_iso_weekdays(morning: MailingList) -> None:
    form = EditionScheduleForm(data=_data(morning))

    assert form.is_valid(), form.errors
    schedule = form.save()
    schedule.refresh_from_db()
    assert schedule.days_of_week == [1, 3, 5]
    assert schedule.local_time == time(6, 30)
    assert schedule.timezone == "Europe/London"


@pytest.mark.parametrize(
    "name",
    ["Europe/Londres", "Europe", "europe/london", "/etc/passwd", "../etc/x", "localtime", ""],
)
def test_an_unknown_timezone_is_a_form_error(morning: MailingList, name: str) -> None:
    form = EditionScheduleForm(data=_data(morning, timezone=name))

    assert not form.is_valid()
    assert list(form.errors) == ["timezone"]


@pytest.mark.parametrize("days", [None, [], ["0"], ["8"], ["monday"]])
def test_at_least_one_real_weekday(morning: MailingList, days: list[str] | None) -> None:
    form = EditionScheduleForm(data=_data(morning, days_of_week=days))

    assert not form.is_valid()
    assert list(form.errors) == ["days_of_week"]


@pytest.mark.parametrize(
    ("field", "value"), [("story_count", "0"), ("story_count", "51"), ("lead_minutes", "1441")]
)
def test_story_count_and_lead_time_stay_sensible(
    morning: MailingList, field: str, value: str
) -> None:
    form = EditionScheduleForm(data=_data(morning, **{field: value}))

    assert not form.is_valid()
    assert list(form.errors) == [field]


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.text(max_size=80))
def test_any_timezone_text_is_either_a_zone_or_a_form_error(
    morning: MailingList, name: str
) -> None:
    form = EditionScheduleForm(data=_data(morning, timezone=name))

    if form.is_valid():
        assert editions.zone_load(name=form.cleaned_data["timezone"]) is not None
    else:
        assert "timezone" in form.errors


# --- The pages -----------------------------------------------------------------------------------


def test_adding_a_schedule_through_admin(staff: Client, morning: MailingList) -> None:
    response = staff.post(f"{SCHEDULES}add/", _data(morning, timezone="America/New_York"))

    assert response.status_code == 302
    schedule = EditionSchedule.objects.get(mailing_list=morning)
    assert (schedule.days_of_week, schedule.timezone) == ([1, 3, 5], "America/New_York")


def test_a_bad_timezone_in_admin_is_shown_on_the_form_not_a_500(
    staff: Client, morning: MailingList
) -> None:
    response = staff.post(
        f"{SCHEDULES}add/", _data(morning, timezone="Mars/Olympus_Mons", days_of_week=None)
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert set(errors) == {"timezone", "days_of_week"}
    assert "Tick at least one day." in response.content.decode()
    assert not EditionSchedule.objects.exists()


def test_the_list_shows_when_each_next_edition_goes_out(
    staff: Client, morning: MailingList
) -> None:
    EditionScheduleFactory.create(
        mailing_list=morning, days_of_week=[1, 2, 3, 4, 5, 6, 7], timezone="Asia/Tokyo"
    )
    EditionScheduleFactory.create(
        mailing_list=MailingListFactory.create(slug="weekly"), is_active=False
    )

    response = staff.get(SCHEDULES)

    page = response.content.decode()
    assert response.status_code == 200
    assert "06:30 JST" in page
    assert "Mon, Tue, Wed, Thu, Fri, Sat, Sun" in page
    assert "— (switched off)" in page


def test_a_schedule_shows_its_latest_runs_read_only(staff: Client, morning: MailingList) -> None:
    schedule = EditionScheduleFactory.create(mailing_list=morning)
    digest = DigestFactory.create(
        mailing_list=morning, subject="Tuesday's briefing", state=Digest.State.SCHEDULED
    )
    due = datetime(2025, 6, 3, 5, 30, tzinfo=UTC)
    EditionRun.objects.create(
        schedule=schedule, due_at=due, outcome=EditionRun.Outcome.CREATED, digest=digest
    )
    EditionRun.objects.create(
        schedule=schedule,
        due_at=due - timedelta(days=1),
        outcome=EditionRun.Outcome.SKIPPED,
        reason="No featured stories since the last issue on Sunday 1 June 2025, 06:30 BST.",
    )

    response = staff.get(f"{SCHEDULES}{schedule.pk}/change/")

    page = response.content.decode()
    assert response.status_code == 200
    assert f'href="/admin/newsletters/digest/{digest.pk}/change/"' in page
    assert "Tuesday&#x27;s briefing" in page
    assert "No featured stories since the last issue on Sunday 1 June 2025" in page
    assert page.index("Digest created") < page.index("Skipped")  # newest first
    assert 'name="runs-0-reason"' not in page  # shown, not editable
