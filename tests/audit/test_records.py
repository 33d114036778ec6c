"""audit_record: who, what, which record, from where — and never a failure because of odd input."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.http import HttpRequest
from django.test import RequestFactory

from audit.models import AuditEntry
from audit.records import audit_record, audit_record_each, audit_target_redact
from mailinglist.models import Subscription
from tests.factories import MailingListFactory

pytestmark = pytest.mark.django_db


def _request(user: User | AnonymousUser, **meta: str) -> HttpRequest:
    request = RequestFactory().post("/admin/somewhere/")
    request.META.update({"REMOTE_ADDR": "203.0.113.7", **meta})
    request.user = user
    return request


def test_the_actor_target_and_address_come_from_the_request_and_the_record(
    staff_user: User,
) -> None:
    mailing_list = MailingListFactory.create(name="The Morning Briefing")
    request = _request(staff_user, HTTP_USER_AGENT="Firefox/140")

    entry = audit_record(
        action="list.change", request=request, target=mailing_list, detail={"fields": ["Name"]}
    )

    stored = AuditEntry.objects.get()
    assert stored.pk == entry.pk
    assert stored.actor == staff_user
    assert stored.actor_name == "staff"
    assert stored.action == "list.change"
    assert (stored.target_type, stored.target_id) == ("mailinglist", str(mailing_list.pk))
    assert stored.target_repr == "The Morning Briefing"
    assert stored.detail == {"fields": ["Name"]}
    assert stored.ip == "203.0.113.7"
    assert stored.user_agent == "Firefox/140"
    assert stored.via == "admin"
    assert stored.at is not None


def test_an_explicit_actor_wins_over_the_request_user(staff_user: User) -> None:
    token_user = User.objects.create_user(username="cms-bot", is_staff=True)
    request = _request(AnonymousUser())

    audit_record(action="story.add", request=request, actor=token_user, via="api")

    entry = AuditEntry.objects.get()
    assert (entry.actor, entry.actor_name, entry.via) == (token_user, "cms-bot", "api")


def test_anonymous_and_missing_actors_leave_no_actor() -> None:
    audit_record(action="digest.pause", request=_request(AnonymousUser()))
    audit_record(action="token.issue", via="command")

    for entry in AuditEntry.objects.all():
        assert entry.actor is None
        assert entry.actor_name == ""
    assert AuditEntry.objects.get(via="command").ip is None


def test_the_entry_outlives_its_user(staff_user: User) -> None:
    audit_record(action="list.add", request=_request(staff_user))

    staff_user.delete()

    entry = AuditEntry.objects.get()
    assert entry.actor is None
    assert entry.actor_name == "staff"


def test_odd_input_is_trimmed_or_dropped_never_raised(staff_user: User) -> None:
    # Its __str__ follows a relation that is not there, and raises.
    broken = Subscription()
    unsaved = User(username="never-saved")
    request = _request(
        staff_user, HTTP_USER_AGENT="A" * 5000 + "\x00", REMOTE_ADDR="not-an-address"
    )
    looping: dict[str, object] = {}
    looping["self"] = looping

    entries = [
        audit_record(action="x" * 500, request=request, target=broken, via="v" * 50),
        audit_record(action="list.change", actor=unsaved, detail={"big": "y" * 50_000}),
        audit_record(
            action="digest.schedule",
            detail={
                "send_at": datetime(2026, 12, 1, 6, 30, tzinfo=UTC),
                "local": time(6, 30, tzinfo=UTC),
                "amount": Decimal("1.5"),
                "nan": float("nan"),
                "nul": "a\x00b",
                "ids": {3, 1, 2},
                "user": staff_user,
                "looping": looping,
                7: object(),  # type: ignore[dict-item]  # odd input on purpose
            },
        ),
    ]

    first, second, third = (AuditEntry.objects.get(pk=e.pk) for e in entries)
    assert len(first.action) == 64
    assert len(first.via) == 16
    assert (first.target_type, first.target_id, first.target_repr) == (
        "subscription",
        "",
        "subscription",
    )
    assert len(first.user_agent) == 300
    assert "\x00" not in first.user_agent
    assert first.ip is None
    assert (second.actor, second.actor_name) == (None, "never-saved")
    assert len(json.dumps(second.detail)) <= 10_100
    assert third.detail["send_at"] == "2026-12-01T06:30:00Z"
    assert third.detail["amount"] == "1.5"
    assert third.detail["nan"] == "nan"
    assert third.detail["nul"] == "ab"
    assert third.detail["ids"] == [1, 2, 3]
    assert third.detail["user"] == "staff"
    assert "7" in third.detail


def test_an_ipv6_address_with_a_zone_is_kept_without_it(staff_user: User) -> None:
    audit_record(action="list.change", request=_request(staff_user, REMOTE_ADDR="fe80::1%eth0"))

    assert AuditEntry.objects.get().ip == "fe80::1"


def test_a_bulk_action_records_one_entry_per_record_in_one_statement(
    staff_user: User, django_assert_num_queries
) -> None:
    lists = [MailingListFactory.create() for _ in range(3)]

    with django_assert_num_queries(1):
        audit_record_each(
            action="list.feature", request=_request(staff_user), targets=lists, detail={"n": 3}
        )

    assert sorted(AuditEntry.objects.values_list("target_id", flat=True)) == sorted(
        str(m.pk) for m in lists
    )


def test_redacting_a_target_renames_it_in_every_entry_about_it(staff_user: User) -> None:
    kept, erased = MailingListFactory.create(name="Kept"), MailingListFactory.create(name="Gone")
    for target in (kept, erased, erased):
        audit_record(action="list.change", request=_request(staff_user), target=target)

    changed = audit_target_redact(
        target_type="mailinglist", target_id=str(erased.pk), target_repr="(erased) abc…"
    )

    assert changed == 2
    assert set(AuditEntry.objects.values_list("target_repr", flat=True)) == {
        "Kept",
        "(erased) abc…",
    }
