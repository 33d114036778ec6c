"""The audience's part of /api/v1/: the public subscribe endpoint (same path as the form)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router, Schema

from mailinglist.forms import form_errors_json
from mailinglist.models import Subscription
from mailinglist.signup import ACCEPTED_MESSAGE, request_meta, signup_attempt

router = Router(tags=["subscribe"])


class SubscribeIn(Schema):
    email: str
    lists: list[str] = []
    name: str | None = None
    # The embeddable snippet sends these two, exactly as the form does (honeypot, time trap).
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
    response={202: Accepted, 400: Problem, 429: Problem},
    summary="Sign up an address (double opt-in); same defences and answer as the form",
)
def subscribe(request: HttpRequest, payload: SubscribeIn) -> HttpResponse:
    outcome = signup_attempt(
        data=payload.model_dump(), meta=request_meta(request), source=Subscription.Source.API
    )
    if outcome.is_rate_limited:
        response = JsonResponse({"detail": outcome.rate_limited_message}, status=429)
        response["Retry-After"] = str(outcome.retry_after_seconds)
        return response
    if not outcome.accepted:
        return JsonResponse(
            {
                "detail": "Please correct the errors below.",
                "errors": form_errors_json(outcome.form),
            },
            status=400,
        )
    return JsonResponse({"ok": True, "message": ACCEPTED_MESSAGE}, status=202)
