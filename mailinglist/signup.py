"""The one code path behind every signup: the footer form, /subscribe/, the embed and the API.

Whatever the address, a valid signup gets the same answer: the state-dependent work happens later
in a worker (see signup_drain.signup_request_submit). What changes the answer never depends on
the address: a page of a foreign origin (403), too many signups from one IP (429), invalid input
(400, saying what to fix) and a form that proves nothing about its sender (one more step: a
button). Bots that fill the honeypot or forge a token get the success answer and nothing happens.
See protection.py for why this is not Django's CSRF.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from mailinglist import protection
from mailinglist.forms import SignupForm
from mailinglist.public_lists import public_list_slugs
from mailinglist.signup_drain import signup_request_submit
from mailinglist.signup_fields import signup_fields_read
from mailinglist.subscriptions import RequestMeta
from operations.client_address import client_ip

# Lazy: made at import, read by each reader in their language.
ACCEPTED_MESSAGE = _(
    "Almost done! If this address isn't subscribed yet, we've sent it an email with a link "
    "to confirm. It can take a few minutes; check your spam folder too."
)
STEP_MESSAGE = _("One more step: press “Yes, subscribe me” to get your confirmation email.")
FOREIGN_ORIGIN_MESSAGE = _(
    "This signup form was sent from a site we don't know. Please sign up on our own site."
)


class Result(StrEnum):
    ACCEPTED = "accepted"  # stored for a worker, or a bot's, answered the same
    INVALID = "invalid"
    RATE_LIMITED = "rate_limited"
    FOREIGN_ORIGIN = "foreign_origin"
    STEP = "step"  # unsure who sent it: ask for one button press


@dataclasses.dataclass(frozen=True)
class SignupOutcome:
    result: Result
    # Built only where the answer shows it (INVALID: its errors; STEP: what the step page
    # repeats); a valid signup is read without one (signup_fields.py).
    form: SignupForm | None = None
    retry_after_seconds: int = 0
    step_token: str = ""

    @property
    def checked_form(self) -> SignupForm:
        """The Form of an INVALID or STEP answer: its errors, or what the step page repeats."""
        if self.form is None:
            raise ValueError(f"a {self.result} answer has no form")
        return self.form

    @property
    def accepted(self) -> bool:
        return self.result is Result.ACCEPTED

    @property
    def is_rate_limited(self) -> bool:
        return self.result is Result.RATE_LIMITED

    @property
    def rate_limited_message(self) -> str:
        minutes = max(1, round(self.retry_after_seconds / 60))
        return ngettext(
            "Too many signups from your network in the last few minutes. Please try again in "
            "%(count)d minute.",
            "Too many signups from your network in the last few minutes. Please try again in "
            "%(count)d minutes.",
            minutes,
        ) % {"count": minutes}


def request_meta(request: HttpRequest) -> RequestMeta:
    """Where a request came from, for the consent record and the per-IP limit.

    The address is the reader's as our trusted proxies report it; the Referer is the article page.
    """
    return RequestMeta(
        ip=client_ip(request),
        user_agent=str(request.META.get("HTTP_USER_AGENT", ""))[:300],
        source_url=str(request.META.get("HTTP_REFERER", ""))[:500],
    )


def signup_allowed_origins(request: HttpRequest) -> set[str]:
    """Pages that may send a signup: this site (as asked and as SITE_URL) and its embedders."""
    own = {
        f"{request.scheme}://{request.get_host()}",
        protection.origin_of(settings.SITE_URL or ""),
    }
    return {o for o in own if o} | set(settings.CORS_ALLOWED_ORIGINS)


def signup_attempt(
    *,
    request: HttpRequest,
    data: Mapping[str, Any],
    source: str,
    let_unsure_through: bool = False,
) -> SignupOutcome:
    """Check, validate and, when valid and not a bot's, store a signup for a worker to apply.

    `let_unsure_through`: the API's callers are programs that hold no time token; their
    token-less signups go on to double opt-in, whose per-address cap bounds any abuse.
    """
    if not protection.origin_allowed(
        origin=request.META.get("HTTP_ORIGIN"),
        referer=request.META.get("HTTP_REFERER"),
        allowed=signup_allowed_origins(request),
    ):
        return SignupOutcome(result=Result.FOREIGN_ORIGIN)
    meta = request_meta(request)
    form: SignupForm | None = None
    cleaned = signup_fields_read(data, offered=public_list_slugs())
    if cleaned is None:
        # Something to correct: the Form finds it and words it (or, rarely, accepts what the
        # fast reading left to it; then on as below with its cleaned_data).
        form = SignupForm(data=data)
        cleaned = form.cleaned_data if form.is_valid() else None
    # Every POST is counted, a script's junk as much as valid addresses, in one Redis round trip:
    # a signup to store is counted with its kick (signup_drain.signup_request_submit),
    # anything else here. Over the limit, the answer is 429 whatever the form held.
    try:
        if cleaned is None:
            protection.ip_limit_hit(ip=meta.ip)
            return SignupOutcome(result=Result.INVALID, form=form)
        verdict = _verdict(cleaned)
        if verdict is protection.Verdict.UNSURE and not let_unsure_through:
            protection.ip_limit_hit(ip=meta.ip)
            step_token = protection.step_token_make(
                email=cleaned["email"], source_url=meta.source_url
            )
            return SignupOutcome(
                result=Result.STEP, form=form or _form_valid(data), step_token=step_token
            )
        if verdict is protection.Verdict.BOT:
            protection.ip_limit_hit(ip=meta.ip)
            return SignupOutcome(result=Result.ACCEPTED)
        if verdict is protection.Verdict.PERSON and cleaned["step_token"]:
            started_on = protection.step_token_source(cleaned["step_token"])
            meta = dataclasses.replace(meta, source_url=started_on or meta.source_url)
        signup_request_submit(
            email=cleaned["email"],
            name=cleaned["name"],
            list_slugs=list(cleaned["lists"]),
            source=source,
            meta=meta,
        )
    except protection.RateLimited as limited:
        return SignupOutcome(
            result=Result.RATE_LIMITED, retry_after_seconds=limited.retry_after_seconds
        )
    return SignupOutcome(result=Result.ACCEPTED)


def _verdict(cleaned: Mapping[str, Any]) -> protection.Verdict:
    """Person, bot (honeypot, forged token) or unsure (no token, too fast): see protection."""
    return protection.signup_verdict(
        honeypot=cleaned.get("website"),
        form_token=cleaned.get("form_token"),
        step_token=cleaned.get("step_token"),
        email=cleaned["email"],
    )


def _form_valid(data: Mapping[str, Any]) -> SignupForm:
    """The bound, cleaned Form of input the fast reading accepted (for the step page)."""
    form = SignupForm(data=data)
    if not form.is_valid():  # cannot happen: signup_fields_read accepts only what it accepts
        raise AssertionError(f"SignupForm refused what signup_fields_read accepted: {form.errors}")
    return form
