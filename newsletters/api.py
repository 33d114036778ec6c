"""The content part of /api/v1/ (staff, Bearer token): stories and digests."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja import Router, Schema
from pydantic import Field

from audit.records import audit_record
from mailinglist.models import MailingList
from newsletters import digests, scheduling
from newsletters.delivery import controls, progress
from newsletters.models import Digest, Story
from newsletters.stories import StoryInput, story_upsert, text_clean
from operations.api_auth import request_perms_require, staff_token_for

# Each endpoint names the permission it needs (its `auth=`); an endpoint that forgets inherits a
# read-only check rather than being open to every token.
router = Router(
    auth=staff_token_for("newsletters.view_story", "newsletters.view_digest", doing="this"),
    tags=["content"],
)
SCHEDULE = "newsletters.schedule_digest"
CONTROL = "newsletters.control_digest"


class StoryIn(Schema):
    url: str
    headline: str
    summary: str | None = None
    image_url: str | None = None
    image_alt: str | None = None
    section: str | None = None
    byline: str | None = None
    published_at: datetime | None = None
    featured: bool | None = None


class StoryOut(Schema):
    id: int
    url: str
    headline: str
    summary: str
    image_url: str
    image_alt: str
    section: str
    byline: str
    published_at: datetime | None
    featured: bool
    source: str


class DigestIn(Schema):
    list_slug: str = Field(alias="list")
    subject: str
    preheader: str | None = None
    intro: str | None = None
    story_ids: list[int] | None = None
    send_at: datetime | None = None


class ScheduleIn(Schema):
    send_at: datetime


class Problem(Schema):
    detail: str


def _story_out(story: Story) -> dict[str, object]:
    return {
        "id": story.pk,
        "url": story.url,
        "headline": story.headline,
        "summary": story.summary,
        "image_url": story.image_url,
        "image_alt": story.image_alt,
        "section": story.section,
        "byline": story.byline,
        "published_at": story.published_at,
        "featured": story.is_featured,
        "source": story.source,
    }


def _digest_out(digest: Digest) -> dict[str, object]:
    return {
        "id": digest.pk,
        "state": digest.state,
        "list": digest.mailing_list.slug,
        "subject": digest.subject,
        "send_at": digest.send_at.isoformat() if digest.send_at else None,
        "story_ids": list(
            digest.items.order_by("position", "id").values_list("story_id", flat=True)
        ),
        "counts": _counts(digest),
    }


def _counts(digest: Digest) -> dict[str, int]:
    counts = progress.digest_counts(digest_id=digest.pk)
    # "sending" rows are in a worker's hands right now: still owed, so counted as pending.
    return {
        "total": counts["total"],
        "pending": counts["pending"] + counts["sending"],
        "sent": counts["sent"],
        "failed": counts["failed"],
        "skipped": counts["skipped"],
    }


def _problem(detail: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": detail}, status=status)


def _aware(moment: datetime) -> datetime | None:
    return moment if timezone.is_aware(moment) else None


def _audit(request: HttpRequest, action: str, target: Story | Digest) -> None:
    """On the audit trail, as the token's user (the session's user is anonymous here)."""
    detail: dict[str, object] = {}
    if isinstance(target, Digest) and action in {"digest.add", "digest.schedule"}:
        detail = {"send_at": target.send_at, "state": target.state}
    user = request.auth  # type: ignore[attr-defined]  # the staff user StaffToken found
    audit_record(
        action=action, request=request, actor=user, target=target, detail=detail, via="api"
    )


@router.get(
    "/stories",
    response=list[StoryOut],
    auth=staff_token_for("newsletters.view_story", doing="reading stories"),
)
def stories_list(
    request: HttpRequest, featured: bool | None = None, limit: int = 50
) -> list[dict[str, object]]:
    """Newest stories first; `featured=true` for the featured ones only."""
    query = Story.objects.order_by("-published_at", "-id")
    if featured is not None:
        query = query.filter(is_featured=featured)
    return [_story_out(story) for story in query[: max(1, min(limit, 500))]]


@router.post(
    "/stories",
    response={200: StoryOut, 201: StoryOut, 400: Problem},
    # An upsert may create or change the story at that URL: it needs both.
    auth=staff_token_for(
        "newsletters.add_story", "newsletters.change_story", doing="adding or changing stories"
    ),
)
def stories_upsert(request: HttpRequest, payload: StoryIn) -> HttpResponse:
    """Create or update the story at `url` (idempotent: the same URL is always one story)."""
    if payload.published_at is not None and _aware(payload.published_at) is None:
        return _problem("published_at: include a timezone, e.g. 2026-11-28T06:30:00Z.", 400)
    try:
        story, created = story_upsert(
            data=StoryInput(
                url=payload.url,
                headline=payload.headline,
                summary=payload.summary or "",
                image_url=payload.image_url or "",
                image_alt=payload.image_alt or "",
                section=payload.section or "",
                byline=payload.byline or "",
                published_at=payload.published_at,
                featured=payload.featured,
            ),
            source=Story.Source.API,
        )
    except ValidationError as invalid:
        return _problem(" ".join(invalid.messages), 400)
    _audit(request, "story.add" if created else "story.change", story)
    return JsonResponse(
        _story_out(story), status=201 if created else 200, json_dumps_params={"default": str}
    )


@router.post(
    "/digests",
    response={201: dict, 400: Problem, 404: Problem},
    auth=staff_token_for("newsletters.add_digest", doing="creating digests"),
)
def digests_create(request: HttpRequest, payload: DigestIn) -> HttpResponse:
    """A digest for a list: given stories, or the featured stories that list has not had yet.

    With `send_at` it is also scheduled, and only if the pre-send checks pass; otherwise
    nothing is created and the answer says what to fix.
    """
    if payload.send_at is not None:
        request_perms_require(request, SCHEDULE, doing="scheduling digests (send_at)")
    mailing_list = MailingList.objects.filter(slug=payload.list_slug).first()
    if mailing_list is None:
        return _problem(f"list: no mailing list {payload.list_slug!r}.", 404)
    if payload.send_at is not None and _aware(payload.send_at) is None:
        return _problem("send_at: include a timezone, e.g. 2026-11-28T06:30:00Z.", 400)
    subject = text_clean(payload.subject, limit=200)
    if not subject:
        return _problem("subject: a subject is required.", 400)
    user = request.auth  # type: ignore[attr-defined]  # the staff user StaffToken found
    try:
        digest = digests.digest_create(
            mailing_list=mailing_list,
            subject=subject,
            preheader=payload.preheader or "",
            intro=payload.intro or "",  # Markdown, like admin
            stories=payload.story_ids,
            created_by=user,
            send_at=payload.send_at,
            schedule=payload.send_at is not None,
        )
    except digests.StoriesMissing as unknown:
        missing = ", ".join(str(pk) for pk in unknown.missing)
        return _problem(f"story_ids: no stories with id {missing}.", 400)
    except scheduling.DigestNotReady as not_ready:
        return _problem(
            "Not scheduled, nothing created. Fix first: " + " ".join(not_ready.problems), 400
        )
    _audit(request, "digest.add", digest)
    if payload.send_at is not None:
        _audit(request, "digest.schedule", digest)
    return JsonResponse(_digest_out(digest), status=201)


@router.get(
    "/digests/{digest_id}",
    response={200: dict, 404: Problem},
    auth=staff_token_for("newsletters.view_digest", doing="reading digests"),
)
def digests_detail(request: HttpRequest, digest_id: int) -> HttpResponse:
    digest = Digest.objects.select_related("mailing_list").filter(pk=digest_id).first()
    if digest is None:
        return _problem("No such digest.", 404)
    return JsonResponse(_digest_out(digest))


@router.post(
    "/digests/{digest_id}/schedule",
    response={200: dict, 400: Problem, 404: Problem, 409: Problem},
    auth=staff_token_for(SCHEDULE, doing="scheduling digests"),
)
def digests_schedule(request: HttpRequest, digest_id: int, payload: ScheduleIn) -> HttpResponse:
    if _aware(payload.send_at) is None:
        return _problem("send_at: include a timezone, e.g. 2026-11-28T06:30:00Z.", 400)
    if not Digest.objects.filter(pk=digest_id).exists():
        return _problem("No such digest.", 404)
    try:
        digest = scheduling.digest_schedule(
            digest_id=digest_id,
            send_at=payload.send_at,
            by=request.auth,  # type: ignore[attr-defined]
        )
    except scheduling.DigestNotReady as not_ready:
        return _problem("Not scheduled. Fix first: " + " ".join(not_ready.problems), 400)
    except scheduling.DigestStateError as wrong_state:
        return _problem(str(wrong_state), 409)
    _audit(request, "digest.schedule", digest)
    return JsonResponse(_digest_out(digest))


@router.post(
    "/digests/{digest_id}/unschedule",
    response={200: dict, 404: Problem, 409: Problem},
    auth=staff_token_for(SCHEDULE, doing="unscheduling digests"),
)
def digests_unschedule(request: HttpRequest, digest_id: int) -> HttpResponse:
    if not Digest.objects.filter(pk=digest_id).exists():
        return _problem("No such digest.", 404)
    try:
        digest = scheduling.digest_unschedule(digest_id=digest_id, by=request.auth)  # type: ignore[attr-defined]
    except scheduling.DigestStateError as wrong_state:
        return _problem(str(wrong_state), 409)
    _audit(request, "digest.unschedule", digest)
    return JsonResponse(_digest_out(digest))


def _control(request: HttpRequest, digest_id: int, action: str) -> HttpResponse:
    if not Digest.objects.filter(pk=digest_id).exists():
        return _problem("No such digest.", 404)
    control = {
        "pause": controls.digest_pause,
        "resume": controls.digest_resume,
        "cancel": controls.digest_cancel,
    }[action]
    try:
        control(digest_id=digest_id, by=request.auth)  # type: ignore[attr-defined]
    except controls.ControlRefused as refused:
        return _problem(str(refused), 409)
    digest = Digest.objects.select_related("mailing_list").get(pk=digest_id)
    _audit(request, f"digest.{action}", digest)
    return JsonResponse(_digest_out(digest))


@router.post(
    "/digests/{digest_id}/pause",
    response={200: dict, 404: Problem, 409: Problem},
    auth=staff_token_for(CONTROL, doing="pausing digests"),
)
def digests_pause(request: HttpRequest, digest_id: int) -> HttpResponse:
    """Stop sending after the current group of messages; nothing is lost."""
    return _control(request, digest_id, "pause")


@router.post(
    "/digests/{digest_id}/resume",
    response={200: dict, 404: Problem, 409: Problem},
    auth=staff_token_for(CONTROL, doing="resuming digests"),
)
def digests_resume(request: HttpRequest, digest_id: int) -> HttpResponse:
    return _control(request, digest_id, "resume")


@router.post(
    "/digests/{digest_id}/cancel",
    response={200: dict, 404: Problem, 409: Problem},
    auth=staff_token_for(CONTROL, doing="cancelling digests"),
)
def digests_cancel(request: HttpRequest, digest_id: int) -> HttpResponse:
    """Stop for good: readers not yet sent to are skipped."""
    return _control(request, digest_id, "cancel")
