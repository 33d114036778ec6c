"""The audience's part of /api/v1/: public signup (the form's code path) and staff endpoints."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext
from ninja import Router, Schema

from audit.records import audit_record
from mailinglist import staff
from mailinglist.addresses import email_normalise, name_clean
from mailinglist.forms import form_errors_json
from mailinglist.models import MailingList, Subscriber, Subscription
from mailinglist.signup import (
    ACCEPTED_MESSAGE,
    FOREIGN_ORIGIN_MESSAGE,
    Result,
    signup_attempt,
)
from operations.api_auth import staff_token_for

router = Router()


class SubscribeIn(Schema):
    email: str
    lists: list[str] = []
    name: str | None = None
    # Sent by browsers' forms (older embed snippets post here): honeypot and time token.
    website: str | None = None
    form_token: str | None = None


class Accepted(Schema):
    ok: bool
    message: str


class Problem(Schema):
    detail: str


@router.post(
    "/subscribe",
    url_name="subscribe",
    response={202: Accepted, 400: Problem, 403: Problem, 429: Problem},
    tags=["signup"],
    summary="Sign up an address (double opt-in); same defences and answer as the form",
)
def subscribe(request: HttpRequest, payload: SubscribeIn) -> HttpResponse:
    """A program holds no time token: token-less signups go on to double opt-in.

    Browsers are held to their page's Origin (or Referer), like the form: a page of a site not in
    CORS_ALLOWED_ORIGINS gets 403.
    """
    outcome = signup_attempt(
        request=request,
        data=payload.model_dump(),
        source=Subscription.Source.API,
        let_unsure_through=True,
    )
    if outcome.result is Result.FOREIGN_ORIGIN:
        return JsonResponse({"detail": FOREIGN_ORIGIN_MESSAGE}, status=403)
    if outcome.is_rate_limited:
        response = JsonResponse({"detail": outcome.rate_limited_message}, status=429)
        response["Retry-After"] = str(outcome.retry_after_seconds)
        return response
    if not outcome.accepted:
        return JsonResponse(
            {
                "detail": gettext("Please correct the errors below."),
                "errors": form_errors_json(outcome.checked_form),
            },
            status=400,
        )
    return JsonResponse({"ok": True, "message": ACCEPTED_MESSAGE}, status=202)


# --- Staff endpoints (Authorization: Bearer <token>) ---------------------------------------------


class ListOut(Schema):
    slug: str
    name: str
    subscriber_count: int


class SubscriberOut(Schema):
    email: str
    state: str
    lists: dict[str, str]


class SubscriberIn(Schema):
    email: str
    lists: list[str]
    name: str | None = None
    consent: str


@router.get(
    "/lists",
    response=list[ListOut],
    auth=staff_token_for("mailinglist.view_mailinglist", doing="reading mailing lists"),
    tags=["audience"],
)
def lists(request: HttpRequest) -> list[dict[str, object]]:
    """Every list with its number of active subscribers."""
    annotated = MailingList.objects.annotate(
        subscriber_count=Count(
            "subscriptions", filter=Q(subscriptions__state=Subscription.State.ACTIVE)
        )
    ).order_by("name")
    return [
        {"slug": m.slug, "name": m.name, "subscriber_count": m.subscriber_count} for m in annotated
    ]


@router.get(
    "/subscribers",
    response={200: SubscriberOut, 400: Problem, 404: Problem},
    auth=staff_token_for("mailinglist.view_subscriber", doing="looking up subscribers"),
    tags=["audience"],
)
def subscriber_detail(request: HttpRequest, email: str) -> HttpResponse | dict[str, object]:
    """One subscriber by address (any case): overall state and state per list."""
    try:
        normalised = email_normalise(email)
    except ValidationError as invalid:
        return JsonResponse({"detail": invalid.messages[0]}, status=400)
    subscriber = Subscriber.objects.filter(email__iexact=normalised).first()
    if subscriber is None:
        detail = "No subscriber with this address."  # English: staff API
        return JsonResponse({"detail": detail}, status=404)
    return staff.subscriber_summary(subscriber=subscriber)


@router.post(
    "/subscribers",
    response={201: SubscriberOut, 400: Problem, 409: Problem},
    # A staff import of one address: the same right as a CSV import (Audience manager).
    auth=staff_token_for("mailinglist.add_importjob", doing="adding subscribers (an import)"),
    tags=["audience"],
)
def subscriber_add(request: HttpRequest, payload: SubscriberIn) -> HttpResponse:
    """Add one address that already agreed (a staff import): active at once, consent recorded."""
    try:
        email = email_normalise(payload.email)
    except ValidationError as invalid:
        return JsonResponse({"detail": invalid.messages[0]}, status=400)
    consent = payload.consent.strip()
    if not consent:
        detail = "consent: say how and when this person agreed."  # English: staff API
        return JsonResponse({"detail": detail}, status=400)
    wanted = list(dict.fromkeys(payload.lists))
    found = list(MailingList.objects.filter(slug__in=wanted))
    missing = sorted(set(wanted) - {m.slug for m in found})
    if not wanted or missing:
        detail = (
            f"Unknown list(s): {', '.join(missing)}."
            if missing
            else "lists: name at least one list."
        )
        return JsonResponse({"detail": detail}, status=400)
    try:
        subscriber = staff.subscriber_add_by_staff(
            email=email,
            lists=found,
            name=name_clean(payload.name),
            consent=consent[:500],
            by=request.auth.get_username(),  # type: ignore[attr-defined]  # StaffToken's user
        )
    except staff.SubscriptionRefused as refused:
        return JsonResponse({"detail": str(refused)}, status=409)
    audit_record(
        action="subscriber.add",
        request=request,
        actor=request.auth,  # type: ignore[attr-defined]  # StaffToken's user
        target=subscriber,
        detail={"lists": [m.slug for m in found]},
        via="api",
    )
    return JsonResponse(staff.subscriber_summary(subscriber=subscriber), status=201)
