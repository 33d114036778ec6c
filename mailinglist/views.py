"""Reader-facing pages. Each view: validate, call one domain function, render or redirect.

Pages reached from links in mail carry a signed token, which is the reader's credential: those
POSTs need no cookie or CSRF token (a forger would need the token itself), so they work in any
browser and for the RFC 8058 one-click POST a mailbox provider sends.

A page about one list passes its `brand` (branding.brand_on_page), so the reader lands under the
masthead of the mail they came from; base.html shows it. Pages about the reader as a whole (the
preference centre) and refusals of a bad link pass none and keep the site's.
"""

from __future__ import annotations

import functools
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from mailinglist import links, protection, reader_links, subscriptions, tokens
from mailinglist.branding import Brand, brand_on_page
from mailinglist.forms import (
    form_errors_json,
)
from mailinglist.models import MailingList, Subscriber, Subscription
from mailinglist.public_lists import public_lists
from mailinglist.signup import (
    ACCEPTED_MESSAGE,
    FOREIGN_ORIGIN_MESSAGE,
    STEP_MESSAGE,
    request_meta,
    signup_attempt,
)
from mailinglist.signup import Result as SignupResult
from mailinglist.subscriptions import FORM_CONSENT_TEXT

# RFC 8058's one-click answer: read by mail servers, never shown to a reader.
ONE_CLICK_DONE = "Unsubscribed."  # English: read by mail servers


def _wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.META.get("HTTP_ACCEPT", "")


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return render(request, "mailinglist/link_invalid.html", status=400)


# --- Signup ------------------------------------------------------------------------------------


# The signup views take no CSRF token: they are served in pages cached for everyone and on other
# sites, so signup.signup_attempt checks Origin/Referer, honeypot, time token and limits instead
# (see protection.py). Staff pages keep Django's CSRF.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def subscribe(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(request, "mailinglist/subscribe.html", {"consent_text": FORM_CONSENT_TEXT})
    outcome = signup_attempt(request=request, data=request.POST, source=Subscription.Source.FORM)
    wants_json = _wants_json(request)
    if outcome.result is SignupResult.FOREIGN_ORIGIN:
        if wants_json:
            return JsonResponse({"detail": FOREIGN_ORIGIN_MESSAGE}, status=403)
        context: dict[str, Any] = {"message": FOREIGN_ORIGIN_MESSAGE}
        return render(request, "mailinglist/subscribe_refused.html", context, status=403)
    if outcome.is_rate_limited:
        if wants_json:
            response: HttpResponse = JsonResponse(
                {"detail": outcome.rate_limited_message}, status=429
            )
        else:
            response = render(
                request,
                "mailinglist/rate_limited.html",
                {"message": outcome.rate_limited_message},
                status=429,
            )
        response["Retry-After"] = str(outcome.retry_after_seconds)
        return response
    if outcome.result is SignupResult.INVALID:
        if wants_json:
            return JsonResponse(
                {
                    "detail": gettext("Please correct the errors below."),
                    "errors": form_errors_json(outcome.checked_form),
                },
                status=400,
            )
        context = {"signup_form": outcome.checked_form, "consent_text": FORM_CONSENT_TEXT}
        return render(request, "mailinglist/subscribe.html", context, status=400)
    if outcome.result is SignupResult.STEP:
        # Too fast or no time token: maybe autofill, maybe a script. One button press decides,
        # and it never depends on the address's state.
        if wants_json:
            return JsonResponse(
                {
                    "ok": False,
                    "step": True,
                    "detail": STEP_MESSAGE,
                    "step_token": outcome.step_token,
                }
            )
        form = outcome.checked_form
        context = {
            "email": form.cleaned_data["email"],
            "name": form.cleaned_data["name"],
            "lists": [m for m in form.available if m.slug in form.cleaned_data["lists"]],
            "step_token": outcome.step_token,
            "message": STEP_MESSAGE,
        }
        response = render(request, "mailinglist/subscribe_step.html", context)
        response["Cache-Control"] = "no-store"
        return response
    if wants_json:
        return JsonResponse({"ok": True, "message": ACCEPTED_MESSAGE}, status=202)
    return HttpResponseRedirect(
        _thanks_path(get_script_prefix(), get_urlconf(settings.ROOT_URLCONF))
    )


@functools.lru_cache(maxsize=8)
def _thanks_path(script_prefix: str, urlconf: str) -> str:
    # Every accepted signup is sent here: reversed once per prefix and URLconf, not per POST.
    return reverse("mailinglist:subscribe_thanks", urlconf=urlconf)


@require_GET
def subscribe_thanks(request: HttpRequest) -> HttpResponse:
    return render(request, "mailinglist/subscribe_thanks.html", {"message": ACCEPTED_MESSAGE})


@never_cache
@require_GET
def signup_form_token(request: HttpRequest) -> HttpResponse:
    """A fresh time token for a form in a cached page (its script asks; no-store, CORS)."""
    return JsonResponse({"form_token": protection.form_token_make()})


# --- Confirmation --------------------------------------------------------------------------------


def _subscriber(public_id: str) -> Subscriber | None:
    return Subscriber.objects.filter(public_id=public_id).first()


def _brand(list_ids: list[int]) -> Brand | None:
    return brand_on_page(mailing_lists=list(MailingList.objects.filter(pk__in=list_ids)))


def _preferences_path(subscriber: Subscriber) -> str:
    # On a page, a link relative to the host the reader is on (SITE_URL is for mail).
    token = tokens.preferences_token_make(public_id=subscriber.public_id)
    return reverse("mailinglist:preferences", args=[token])


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def confirm(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data = tokens.confirm_token_read(token)
    except tokens.TokenExpired as expired:
        if _subscriber(expired.public_id) is None:
            return _invalid_link(request)
        context: dict[str, Any] = {"token": token, "brand": _brand(expired.list_ids)}
        return render(request, "mailinglist/confirm_expired.html", context, status=410)
    except tokens.TokenInvalid:
        return _invalid_link(request)
    subscriber = _subscriber(data.public_id)
    if subscriber is None:
        return _invalid_link(request)
    lists = list(MailingList.objects.filter(pk__in=data.list_ids))
    # One signup may join several lists: their masthead only if they all share one brand, else
    # the site's (brand_on_page). Taken from every list the link names, so the masthead stays
    # the same after the button however many of them were confirmed already.
    brand = brand_on_page(mailing_lists=lists)
    if request.method == "GET":
        if subscriptions.subscriptions_all_active(subscriber=subscriber, list_ids=data.list_ids):
            # A used link: no button that would seem to do something again.
            context = {
                "lists": lists,
                "already": True,
                "preferences_url": _preferences_path(subscriber),
                "brand": brand,
            }
            return render(request, "mailinglist/confirm_done.html", context)
        # Link scanners open every link: a GET only shows the button.
        context = {"lists": lists, "token": token, "brand": brand}
        return render(request, "mailinglist/confirm.html", context)
    confirmed = subscriptions.subscription_confirm(
        subscriber=subscriber, list_ids=data.list_ids, meta=request_meta(request)
    )
    context = {
        "lists": confirmed or lists,
        "already": not confirmed,
        "preferences_url": _preferences_path(subscriber),
        "brand": brand,
    }
    return render(request, "mailinglist/confirm_done.html", context)


@csrf_exempt
@require_POST
def confirm_resend(request: HttpRequest, token: str) -> HttpResponse:
    try:
        data = tokens.confirm_token_read(token)
        public_id, list_ids = data.public_id, data.list_ids
    except tokens.TokenExpired as expired:
        public_id, list_ids = expired.public_id, expired.list_ids
    except tokens.TokenInvalid:
        return _invalid_link(request)
    subscriber = _subscriber(public_id)
    if subscriber is None:
        return _invalid_link(request)
    subscriptions.confirmation_resend(subscriber=subscriber, list_ids=list_ids)
    return render(request, "mailinglist/confirm_resent.html", {"brand": _brand(list_ids)})


# --- Unsubscribe ---------------------------------------------------------------------------------


def _unsubscribe_target(
    request: HttpRequest, token: str
) -> tuple[Subscriber | None, MailingList | None, int | None]:
    # Which digest's link this is: signed in a digest message's token, else the query string
    # (on the one-click POST too).
    link = reader_links.unsubscribe_link_read(
        token=token, digest_param=request.GET.get(links.DIGEST_PARAM)
    )
    return link.subscriber, link.mailing_list, link.from_digest


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    one_click = request.method == "POST" and request.POST.get("List-Unsubscribe") == "One-Click"
    try:
        subscriber, mailing_list, from_digest = _unsubscribe_target(request, token)
    except (tokens.TokenInvalid, tokens.TokenExpired):
        if one_click:
            refused = "Invalid unsubscribe link."  # English: read by mail servers (RFC 8058)
            return HttpResponse(refused, status=400, content_type="text/plain")
        return _invalid_link(request)
    if subscriber is None or mailing_list is None:
        # Erased, or the list was deleted: there is nothing left to unsubscribe from.
        if one_click:
            return HttpResponse(ONE_CLICK_DONE, content_type="text/plain")
        context: dict[str, Any] = {
            "mailing_list": mailing_list,
            "brand": brand_on_page(mailing_lists=[mailing_list] if mailing_list else []),
        }
        return render(request, "mailinglist/unsubscribed.html", context)
    is_subscribed = subscriptions.subscription_is_current(
        subscriber=subscriber, list_id=mailing_list.pk
    )
    if request.method == "GET" and is_subscribed:
        context = {
            "mailing_list": mailing_list,
            "token": token,
            "from_digest": from_digest,
            "brand": brand_on_page(mailing_lists=[mailing_list]),
        }
        return render(request, "mailinglist/unsubscribe.html", context)
    left: list[MailingList] = []
    if request.method == "POST":
        left = subscriptions.subscription_unsubscribe(
            subscriber=subscriber,
            list_ids=[mailing_list.pk],
            meta=request_meta(request),
            method="one-click" if one_click else "page",
            from_digest=from_digest,
        )
    if one_click:
        # RFC 8058: the mailbox provider needs only a 2xx; nobody reads this body.
        return HttpResponse(ONE_CLICK_DONE, content_type="text/plain")
    context = {
        "mailing_list": mailing_list,
        "token": token,
        # A used link (or a second press) says so, and still offers the way back.
        "already": not left,
        "can_undo": True,
        "preferences_url": _preferences_path(subscriber),
        "brand": brand_on_page(mailing_lists=[mailing_list]),
    }
    return render(request, "mailinglist/unsubscribed.html", context)


@csrf_exempt
@require_POST
def unsubscribe_undo(request: HttpRequest, token: str) -> HttpResponse:
    try:
        subscriber, mailing_list, _ = _unsubscribe_target(request, token)
    except (tokens.TokenInvalid, tokens.TokenExpired):
        return _invalid_link(request)
    if subscriber is None or mailing_list is None:
        return _invalid_link(request)
    back = subscriptions.subscription_undo_unsubscribe(
        subscriber=subscriber, list_ids=[mailing_list.pk], meta=request_meta(request)
    )
    return render(
        request,
        "mailinglist/resubscribed.html",
        {
            "mailing_list": mailing_list,
            "is_back": bool(back),
            "brand": brand_on_page(mailing_lists=[mailing_list]),
        },
    )


def signup_embed_snippet(request: HttpRequest) -> HttpResponse:
    """The copy-paste snippet for sites that are not built with Django."""
    context = {
        # The host the snippet was asked from, which embedders reach us by (like its script).
        "subscribe_url": request.build_absolute_uri(reverse("mailinglist:subscribe")),
        "token_url": request.build_absolute_uri(reverse("mailinglist:signup_form_token")),
        "lists": public_lists(),
        "consent_text": FORM_CONSENT_TEXT,
    }
    return render(request, "mailinglist/embed.html", context)
