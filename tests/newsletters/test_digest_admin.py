from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from newsletters.models import Digest
from tests.newsletters.digests import make_digest

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client: Client, staff_user: User) -> Client:
    client.force_login(staff_user)
    return client


def test_change_page_shows_the_presend_checks_and_buttons(staff: Client) -> None:
    digest = make_digest(stories=2)

    html = staff.get(f"/admin/newsletters/digest/{digest.pk}/change/").content.decode()

    assert "Pre-send checks" in html
    assert "Every image has alt text." in html
    assert "Send a test" in html
    # The schedule inputs belong to the schedule form, outside the admin's own <form>.
    desk = html[html.index('id="digest-desk"') :]
    assert html.index('id="digest-desk"') < html.index('id="digest_form"')
    assert 'id="digest-schedule"' in desk and 'name="send_at"' in desk


def test_preview_shows_desktop_mobile_and_text(staff: Client) -> None:
    digest = make_digest(stories=2)

    page = staff.get(f"/admin/newsletters/digest/{digest.pk}/preview/")
    html = staff.get(f"/admin/newsletters/digest/{digest.pk}/preview/html/")

    content = page.content.decode()
    assert 'title="Desktop preview"' in content and 'title="Mobile preview"' in content
    assert "Story number 0 about the harbour &amp; the city" in content  # the text part, escaped
    assert html["Content-Security-Policy"].startswith("sandbox")
    assert b"Hello Alex," in html.content


def test_schedule_from_admin_and_back(staff: Client) -> None:
    digest = make_digest(stories=1)

    staff.post(
        f"/admin/newsletters/digest/{digest.pk}/schedule/",
        {"send_at": "2030-01-06T06:30", "zone": "Europe/London"},
    )
    digest.refresh_from_db()
    assert digest.state == Digest.State.SCHEDULED
    assert digest.send_at is not None
    assert digest.send_at.isoformat() == "2030-01-06T06:30:00+00:00"  # London is on GMT in January

    staff.post(f"/admin/newsletters/digest/{digest.pk}/unschedule/")
    digest.refresh_from_db()
    assert digest.state == Digest.State.DRAFT


def test_a_digest_failing_its_checks_is_not_scheduled_and_says_why(staff: Client) -> None:
    digest = make_digest(stories=0)

    response = staff.post(
        f"/admin/newsletters/digest/{digest.pk}/schedule/",
        {"send_at": "2030-01-06T06:30", "zone": "UTC"},
        follow=True,
    )

    digest.refresh_from_db()
    assert digest.state == Digest.State.DRAFT
    assert "Add at least one story." in response.content.decode()


def test_editing_is_locked_once_sending_starts(staff: Client) -> None:
    digest = make_digest(stories=1)
    Digest.objects.filter(pk=digest.pk).update(state=Digest.State.SENDING)

    page = staff.get(f"/admin/newsletters/digest/{digest.pk}/change/")
    post = staff.post(f"/admin/newsletters/digest/{digest.pk}/change/", {"subject": "changed"})

    assert page.status_code == 200
    assert 'name="subject"' not in page.content.decode()  # read-only view
    assert post.status_code == 403
    digest.refresh_from_db()
    assert digest.subject != "changed"


def _intro_post(digest: Digest, intro: str) -> dict[str, object]:
    return {
        "mailing_list": digest.mailing_list_id,
        "subject": "S",
        "preheader": "",
        "intro": intro,
        "items-TOTAL_FORMS": "0",
        "items-INITIAL_FORMS": "0",
    }


HOSTILE = '<p onclick="x()">Hi <script>alert(1)</script><a href="javascript:x()">j</a></p>'


def test_a_markdown_intro_is_kept_as_typed_and_rendered_clean(staff: Client) -> None:
    from newsletters.rendering import intro_html

    digest = make_digest(stories=1)
    assert digest.intro_format == Digest.IntroFormat.MARKDOWN

    staff.post(
        f"/admin/newsletters/digest/{digest.pk}/change/",
        _intro_post(digest, "Good **morning**.\n\n" + HOSTILE),
    )

    digest.refresh_from_db()
    assert digest.intro.startswith("Good **morning**.")
    html = intro_html(digest=digest)
    assert "<strong>morning</strong>" in html
    assert "script" not in html and "onclick" not in html and "javascript" not in html


def test_an_html_intro_from_before_markdown_is_cleaned_when_saved(staff: Client) -> None:
    digest = make_digest(stories=1, intro_format=Digest.IntroFormat.HTML)

    staff.post(f"/admin/newsletters/digest/{digest.pk}/change/", _intro_post(digest, HOSTILE))

    digest.refresh_from_db()
    assert (
        "script" not in digest.intro
        and "onclick" not in digest.intro
        and "javascript" not in digest.intro
    )


def test_progress_and_controls_of_a_sending_digest(
    staff: Client, django_capture_on_commit_callbacks
) -> None:
    from django.utils import timezone

    from mailinglist.models import Subscriber, Subscription
    from newsletters import scheduling
    from newsletters.delivery import dispatch, progress
    from newsletters.models import DigestEvent

    digest = make_digest(stories=1)
    for n in range(3):
        subscriber = Subscriber.objects.create(email=f"p{n}@example.com")
        Subscription.objects.create(
            subscriber=subscriber, mailing_list=digest.mailing_list, state="active"
        )
    scheduling.digest_schedule(digest_id=digest.pk, send_at=timezone.now(), by=None)
    with django_capture_on_commit_callbacks(execute=False):
        dispatch.digest_start(digest_id=digest.pk)

    counts_now = staff.get(f"/admin/newsletters/digest/{digest.pk}/progress/").json()
    page = staff.get(f"/admin/newsletters/digest/{digest.pk}/change/").content.decode()
    staff.post(f"/admin/newsletters/digest/{digest.pk}/control/pause/")
    paused = Digest.objects.get(pk=digest.pk).state
    with django_capture_on_commit_callbacks(execute=False):
        staff.post(f"/admin/newsletters/digest/{digest.pk}/control/resume/")
    staff.post(f"/admin/newsletters/digest/{digest.pk}/control/cancel/")

    assert counts_now["counts"]["total"] == 3
    assert counts_now["text"] == "0 sent · 0 failed · 0 skipped · 3 to go, of 3"
    assert 'id="delivery-bar"' in page
    assert paused == Digest.State.PAUSED
    assert Digest.objects.get(pk=digest.pk).state == Digest.State.CANCELLED
    assert progress.digest_counts(digest_id=digest.pk)["skipped"] == 3
    assert list(
        DigestEvent.objects.filter(digest=digest)
        .order_by("at", "id")
        .values_list("action", flat=True)
    ) == ["started", "paused", "resumed", "cancelled"]


def test_progress_shows_rate_and_time_to_go_while_sending(staff: Client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from mailinglist.models import Subscriber
    from newsletters.models import Delivery

    digest = make_digest(stories=1)
    for n in range(180):
        subscriber = Subscriber.objects.create(email=f"rate{n}@example.com")
        sent = n < 60
        Delivery.objects.create(
            digest=digest,
            subscriber=subscriber,
            state="sent" if sent else "pending",
            sent_at=timezone.now() if sent else None,
        )
    Digest.objects.filter(pk=digest.pk).update(
        state=Digest.State.SENDING, snapshot_at=timezone.now() - timedelta(minutes=2)
    )

    data = staff.get(f"/admin/newsletters/digest/{digest.pk}/progress/").json()

    assert data["text"] == (
        "60 sent · 0 failed · 0 skipped · 120 to go, of 180 · 1.0/s over the last minute"
        " · about 2 min to go"
    )
    assert data["eta_seconds"] == 120
