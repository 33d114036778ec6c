"""The one code path behind every signup: the footer form, /subscribe/ and POST /api/v1/subscribe.

Whatever the address, a valid signup gets the same answer: the state-dependent work happens later
in a worker (see subscriptions.signup_request_submit). Only two things change the answer, and
neither depends on the address: invalid input (400, saying what to fix) and too many signups from
one IP (429).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest

from mailinglist import protection
from mailinglist.forms import SignupForm
from mailinglist.subscriptions import RequestMeta, signup_request_submit

ACCEPTED_MESSAGE = (
    "Almost done! If this address isn't subscribed yet, we've sent it an email with a link "
    "to confirm. It can take a few minutes; check your spam folder too."
)
RATE_LIMITED_MESSAGE = (
    "Too many signups from your network in the last few minutes. Please try again in "
    "{minutes} minute{plural}."
)


@dataclass(frozen=True)
class SignupOutcome:
    accepted: bool
    form: SignupForm
    retry_after_seconds: int = 0

    @property
    def is_rate_limited(self) -> bool:
        return self.retry_after_seconds > 0

    @property
    def rate_limited_message(self) -> str:
        minutes = max(1, round(self.retry_after_seconds / 60))
        return RATE_LIMITED_MESSAGE.format(minutes=minutes, plural="" if minutes == 1 else "s")


def request_meta(request: HttpRequest) -> RequestMeta:
    """Where a request came from, for the consent record (the Referer is the article page)."""
    return RequestMeta(
        ip=request.META.get("REMOTE_ADDR") or None,
        user_agent=str(request.META.get("HTTP_USER_AGENT", ""))[:300],
        source_url=str(request.META.get("HTTP_REFERER", ""))[:500],
    )


def signup_attempt(*, data: Mapping[str, Any], meta: RequestMeta, source: str) -> SignupOutcome:
    """Validate and, when valid and human, store a signup for a worker to apply."""
    form = SignupForm(data=data)
    try:
        # Counted before validation: a script sending junk spends its budget as fast as one
        # sending valid addresses.
        protection.ip_limit_hit(ip=meta.ip)
    except protection.RateLimited as limited:
        return SignupOutcome(
            accepted=False, form=form, retry_after_seconds=limited.retry_after_seconds
        )
    if not form.is_valid():
        return SignupOutcome(accepted=False, form=form)
    if not form.is_automated:
        signup_request_submit(
            email=form.cleaned_data["email"],
            name=form.cleaned_data["name"],
            list_slugs=list(form.cleaned_data["lists"]),
            source=source,
            meta=meta,
        )
    return SignupOutcome(accepted=True, form=form)
