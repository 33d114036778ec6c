"""Every state-changing control of the staff side, as (method, URL, data) built for a World.

Shared by the role tests: a Viewer must get 403 from each and change nothing; other roles from
the ones their role lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from tests.roles.world import World

SUBSCRIBERS = "admin:mailinglist_subscriber_changelist"


@dataclass
class Call:
    method: str
    url: str
    data: dict[str, Any] = field(default_factory=dict)


def _csv() -> SimpleUploadedFile:
    return SimpleUploadedFile("people.csv", b"email\nsomeone@example.com\n", "text/csv")


def _action(changelist: str, action: str, *pks: int, **extra: str) -> Call:
    data = {"action": action, "_selected_action": list(pks), "index": "0", **extra}
    return Call("post", reverse(changelist), data)


def _url(name: str, *args: object) -> str:
    return reverse(name, args=args)


def _digest_form(w: World) -> dict[str, Any]:
    return {
        "mailing_list": w.daily.pk,
        "subject": "Changed by someone who may not",
        "items-TOTAL_FORMS": "0",
        "items-INITIAL_FORMS": "0",
    }


Build = Callable[[World, User], Call]

AUDIENCE_ADMIN: dict[str, Build] = {
    "import form": lambda w, u: Call("get", _url("admin:mailinglist_subscriber_import")),
    "import upload": lambda w, u: Call(
        "post",
        _url("admin:mailinglist_subscriber_import"),
        {"file": _csv(), "mailing_list": w.daily.slug},
    ),
    "import start": lambda w, u: Call("post", _url("admin:mailinglist_importjob_start", w.job.pk)),
    "import job delete": lambda w, u: Call(
        "post", _url("admin:mailinglist_importjob_delete", w.job.pk), {"post": "yes"}
    ),
    "import jobs: delete selected": lambda w, u: _action(
        "admin:mailinglist_importjob_changelist", "delete_selected", w.job.pk, post="yes"
    ),
    "export (current filter)": lambda w, u: Call(
        "get", _url("admin:mailinglist_subscriber_export")
    ),
    "subscribers: export selected": lambda w, u: _action(
        SUBSCRIBERS, "export_selected", w.reader.pk
    ),
    "subscribers: unsubscribe everywhere": lambda w, u: _action(
        SUBSCRIBERS, "unsubscribe_everywhere", w.reader.pk
    ),
    "subscribers: resend confirmation": lambda w, u: _action(
        SUBSCRIBERS, "resend_confirmation", w.reader.pk
    ),
    "subscribers: erase (asks)": lambda w, u: _action(SUBSCRIBERS, "erase_selected", w.reader.pk),
    "subscribers: erase (confirmed)": lambda w, u: _action(
        SUBSCRIBERS, "erase_selected", w.reader.pk, post="yes"
    ),
    "subscriber: edit name": lambda w, u: Call(
        "post", _url("admin:mailinglist_subscriber_change", w.reader.pk), {"name": "Changed"}
    ),
    "list: add": lambda w, u: Call(
        "post",
        _url("admin:mailinglist_mailinglist_add"),
        {"name": "New list", "slug": "new-list", "language": "en", "timezone": "Europe/London"},
    ),
    "list: change": lambda w, u: Call(
        "post",
        _url("admin:mailinglist_mailinglist_change", w.daily.pk),
        {"name": "Renamed", "slug": "daily"},
    ),
    "list: delete": lambda w, u: Call(
        "post", _url("admin:mailinglist_mailinglist_delete", w.daily.pk), {"post": "yes"}
    ),
    "suppression: add": lambda w, u: Call(
        "post",
        _url("admin:mailinglist_suppression_add"),
        {"email": "more@example.com", "reason": "manual", "note": ""},
    ),
    "suppression: remove": lambda w, u: Call(
        "post", _url("admin:mailinglist_suppression_delete", w.suppression.pk), {"post": "yes"}
    ),
    "suppressions: remove selected": lambda w, u: _action(
        "admin:mailinglist_suppression_changelist", "delete_selected", w.suppression.pk, post="yes"
    ),
    "mail check: send": lambda w, u: Call(
        "post", _url("admin:operations_mailcheck_add"), {"recipient": "ops@example.com"}
    ),
    "API token: create": lambda w, u: Call(
        "post", _url("admin:operations_apitoken_add"), {"user": u.pk}
    ),
    "API tokens: list": lambda w, u: Call("get", _url("admin:operations_apitoken_changelist")),
}

# The digest side's controls (newsletters/admin/digests.py).
DIGEST_ADMIN: dict[str, Build] = {
    "digest: add": lambda w, u: Call("post", _url("admin:newsletters_digest_add"), _digest_form(w)),
    "digest: change": lambda w, u: Call(
        "post", _url("admin:newsletters_digest_change", w.draft.pk), _digest_form(w)
    ),
    "digest: delete": lambda w, u: Call(
        "post", _url("admin:newsletters_digest_delete", w.draft.pk), {"post": "yes"}
    ),
    "digests: delete selected": lambda w, u: _action(
        "admin:newsletters_digest_changelist", "delete_selected", w.draft.pk, post="yes"
    ),
    "digest: fill": lambda w, u: Call("post", _url("admin:newsletters_digest_fill", w.draft.pk)),
    "digest: schedule": lambda w, u: Call(
        "post",
        _url("admin:newsletters_digest_schedule", w.draft.pk),
        {"send_at_0": "2099-01-01", "send_at_1": "06:30", "send_at": "2099-01-01T06:30"},
    ),
    "digest: unschedule": lambda w, u: Call(
        "post", _url("admin:newsletters_digest_unschedule", w.scheduled.pk)
    ),
    "digest: test send": lambda w, u: Call(
        "post", _url("admin:newsletters_digest_test", w.draft.pk)
    ),
    "digest: pause": lambda w, u: Call(
        "post", _url("admin:newsletters_digest_control", w.sending.pk, "pause")
    ),
    "digest: resume": lambda w, u: Call(
        "post", _url("admin:newsletters_digest_control", w.paused.pk, "resume")
    ),
    "digest: cancel": lambda w, u: Call(
        "post", _url("admin:newsletters_digest_control", w.sending.pk, "cancel")
    ),
    "digest: resend to the undelivered": lambda w, u: Call(
        "post", _url("admin:newsletters_digest_control", w.sent_with_failures.pk, "resend")
    ),
}

SEND_AT = "2099-01-01T06:30:00Z"

# Every state-changing call of /api/v1/ (JSON bodies).
API: dict[str, Callable[[World], Call]] = {
    "POST /subscribers": lambda w: Call(
        "post",
        "/api/v1/subscribers",
        {"email": "api@example.com", "lists": ["daily"], "consent": "Said yes at the fair"},
    ),
    "POST /stories": lambda w: Call(
        "post", "/api/v1/stories", {"url": "https://news.example/new", "headline": "New"}
    ),
    "POST /stories (update)": lambda w: Call(
        "post", "/api/v1/stories", {"url": w.story.url, "headline": "Rewritten"}
    ),
    "POST /digests": lambda w: Call(
        "post", "/api/v1/digests", {"list": "daily", "subject": "From the API"}
    ),
    "POST /digests with send_at": lambda w: Call(
        "post",
        "/api/v1/digests",
        {"list": "daily", "subject": "From the API", "send_at": SEND_AT},
    ),
    "POST /digests/{id}/schedule": lambda w: Call(
        "post", f"/api/v1/digests/{w.draft.pk}/schedule", {"send_at": SEND_AT}
    ),
    "POST /digests/{id}/unschedule": lambda w: Call(
        "post", f"/api/v1/digests/{w.scheduled.pk}/unschedule"
    ),
    "POST /digests/{id}/pause": lambda w: Call("post", f"/api/v1/digests/{w.sending.pk}/pause"),
    "POST /digests/{id}/resume": lambda w: Call("post", f"/api/v1/digests/{w.paused.pk}/resume"),
    "POST /digests/{id}/cancel": lambda w: Call("post", f"/api/v1/digests/{w.sending.pk}/cancel"),
}
