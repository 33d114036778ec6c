"""The suppression and consent record admin pages: added through the domain, never rewritten."""

from __future__ import annotations

from django.contrib.admin.models import LogEntry
from django.test import Client

from mailinglist import preferences
from mailinglist.addresses import email_hash
from mailinglist.models import ConsentEvent, MailingList, Suppression
from mailinglist.subscriptions import RequestMeta
from tests.factories import SubscriberFactory


def test_adding_a_suppression_goes_through_the_domain_and_never_keeps_an_erased_address(
    staff: Client, db: None
) -> None:
    manual = staff.post(
        "/admin/mailinglist/suppression/add/",
        {"email": " Blocked@EXAMPLE.com ", "reason": "manual", "note": "asked by phone"},
    )
    erased = staff.post(
        "/admin/mailinglist/suppression/add/",
        {"email": "forget@example.com", "reason": "erased", "note": ""},
    )
    duplicate = staff.post(
        "/admin/mailinglist/suppression/add/",
        {"email": "blocked@example.com", "reason": "bounced", "note": ""},
    )

    assert manual.status_code == erased.status_code == 302
    assert duplicate.status_code == 200
    assert "already on the suppression list" in duplicate.content.decode()
    stored = {s.email_hash: s for s in Suppression.objects.all()}
    assert stored[email_hash("blocked@example.com")].email == "Blocked@example.com"
    assert stored[email_hash("forget@example.com")].email == ""
    assert not LogEntry.objects.filter(object_repr__icontains="forget").exists()
    found = staff.get("/admin/mailinglist/suppression/", {"q": "Forget@example.com"})
    assert [s.email_hash for s in found.context["cl"].result_list] == [
        email_hash("forget@example.com")
    ]


def test_consent_records_are_listed_filtered_and_never_changed(
    staff: Client, daily: MailingList
) -> None:
    subscriber = SubscriberFactory.create()
    ConsentEvent.objects.create(subscriber=subscriber, kind=ConsentEvent.Kind.SIGNUP)
    event = ConsentEvent.objects.create(subscriber=subscriber, kind=ConsentEvent.Kind.CONFIRM)
    preferences.subscriber_erase(
        subscriber=SubscriberFactory.create(), meta=RequestMeta(), by="staff"
    )

    listing = staff.get("/admin/mailinglist/consentevent/", {"kind": "confirm"})

    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [event]
    assert staff.get("/admin/mailinglist/consentevent/").status_code == 200
    assert staff.get("/admin/mailinglist/consentevent/add/").status_code == 403
    assert staff.get(f"/admin/mailinglist/consentevent/{event.pk}/delete/").status_code == 403
    page = staff.post(f"/admin/mailinglist/consentevent/{event.pk}/change/", {"kind": "signup"})
    assert page.status_code == 403
    event.refresh_from_db()
    assert event.kind == ConsentEvent.Kind.CONFIRM
