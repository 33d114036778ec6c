"""The preference centre and the change of address: pages a reader reaches from their mail.

Like every page reached from a link in mail, the signed token is the reader's credential: the
POSTs need no cookie or CSRF token (see views.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from mailinglist import preferences as preference_centre
from mailinglist import reader_links, subscriptions, tokens
from mailinglist.data_links import Asked, data_link_request
from mailinglist.data_views import data_link_asked_message
from mailinglist.forms import (
    AddressChangeForm,
    PauseForm,
    PreferencesForm,
)
from mailinglist.models import Subscriber, Subscription
from mailinglist.signup import (
    request_meta,
)
from mailinglist.tokens import DataPurpose
from mailinglist.views import _invalid_link, _preferences_path, _subscriber


def _preferences_subscriber(token: str) -> Subscriber | None:
    return reader_links.preferences_link_read(token=token)


def _reader_from_token(
    view: Callable[[HttpRequest, str, Subscriber], HttpResponse],
) -> Callable[[HttpRequest, str], HttpResponse]:
    """The preference pages' view, given the reader its link was made for (or a friendly 400)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, token: str) -> HttpResponse:
        subscriber = _preferences_subscriber(token)
        if subscriber is None:
            return _invalid_link(request)
        return view(request, token, subscriber)

    return wrapper


def _preferences_context(subscriber: Subscriber, token: str, **extra: Any) -> dict[str, Any]:
    managed = preference_centre.preference_lists(subscriber=subscriber)
    chosen = [
        m.slug
        for m, state in managed
        if state in {Subscription.State.ACTIVE, Subscription.State.PENDING}
    ]
    pending = {m.slug for m, state in managed if state == Subscription.State.PENDING}
    context: dict[str, Any] = {
        "subscriber": subscriber,
        "token": token,
        "pending": pending,
        "form": PreferencesForm(
            initial={"name": subscriber.name, "lists": chosen},
            list_choices=[(m.slug, m.name) for m, _ in managed],
        ),
        "pause_form": PauseForm(),
        "address_form": AddressChangeForm(current_email=subscriber.email),
    }
    context.update(extra)
    return context


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
@_reader_from_token
def preferences(request: HttpRequest, token: str, subscriber: Subscriber) -> HttpResponse:
    if request.method == "GET":
        return render(
            request, "mailinglist/preferences.html", _preferences_context(subscriber, token)
        )
    managed = preference_centre.preference_lists(subscriber=subscriber)
    form = PreferencesForm(request.POST, list_choices=[(m.slug, m.name) for m, _ in managed])
    if not form.is_valid():
        context = _preferences_context(subscriber, token, form=form)
        return render(request, "mailinglist/preferences.html", context, status=400)
    wanted = {m.pk for m, _ in managed if m.slug in set(form.cleaned_data["lists"])}
    preference_centre.preferences_update(
        subscriber=subscriber,
        wanted_list_ids=wanted,
        name=form.cleaned_data["name"],
        meta=request_meta(request),
    )
    messages.success(request, gettext("Your preferences are saved."))
    return redirect("mailinglist:preferences", token=token)


@csrf_exempt
@require_POST
@_reader_from_token
def preferences_pause(request: HttpRequest, token: str, subscriber: Subscriber) -> HttpResponse:
    if "resume" in request.POST:
        preference_centre.subscriber_pause(
            subscriber=subscriber, weeks=0, meta=request_meta(request)
        )
        messages.success(request, gettext("Your newsletters are back on."))
        return redirect("mailinglist:preferences", token=token)
    form = PauseForm(request.POST)
    if not form.is_valid():
        context = _preferences_context(subscriber, token, pause_form=form)
        return render(request, "mailinglist/preferences.html", context, status=400)
    weeks = form.cleaned_data["weeks"]
    preference_centre.subscriber_pause(
        subscriber=subscriber, weeks=weeks, meta=request_meta(request)
    )
    paused = ngettext("Paused for %(count)d week.", "Paused for %(count)d weeks.", weeks)
    messages.success(request, paused % {"count": weeks})
    return redirect("mailinglist:preferences", token=token)


@csrf_exempt
@require_POST
@_reader_from_token
def preferences_address(request: HttpRequest, token: str, subscriber: Subscriber) -> HttpResponse:
    form = AddressChangeForm(request.POST, current_email=subscriber.email)
    if not form.is_valid():
        context = _preferences_context(subscriber, token, address_form=form)
        return render(request, "mailinglist/preferences.html", context, status=400)
    new_email = form.cleaned_data["email"]
    preference_centre.address_change_request(subscriber=subscriber, new_email=new_email)
    # The same answer whatever became of the request (suppressed, someone else's, sent today).
    messages.success(
        request,
        gettext(
            "We've sent a link to %(new_email)s. Open it to confirm; until then your "
            "newsletters keep going to %(email)s."
        )
        % {"new_email": new_email, "email": subscriber.email},
    )
    return redirect("mailinglist:preferences", token=token)


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def address_change(request: HttpRequest, token: str) -> HttpResponse:
    """The link mailed to a new address: GET shows a button, only the POST moves the reader."""
    try:
        data = tokens.address_change_token_read(token)
    except tokens.TokenExpired as expired:
        if _subscriber(expired.public_id) is None:
            return _invalid_link(request)
        return render(request, "mailinglist/address_change_expired.html", status=410)
    except tokens.TokenInvalid:
        return _invalid_link(request)
    subscriber = _subscriber(data.public_id)
    if subscriber is None:
        return _invalid_link(request)
    if request.method == "GET":
        if subscriber.email.lower() == data.new_email.lower():
            context = {
                "subscriber": subscriber,
                "already": True,
                "preferences_url": _preferences_path(subscriber),
            }
            return render(request, "mailinglist/address_changed.html", context)
        return render(
            request,
            "mailinglist/address_change.html",
            {"new_email": data.new_email, "token": token},
        )
    outcome = preference_centre.address_change_confirm(
        subscriber=subscriber, data=data, meta=request_meta(request)
    )
    if not outcome.is_changed:
        context = {"new_email": data.new_email, "refusal": outcome.refusal}
        return render(request, "mailinglist/address_change_refused.html", context, status=409)
    subscriber.refresh_from_db()
    context = {
        "subscriber": subscriber,
        "preferences_url": _preferences_path(subscriber),
    }
    return render(request, "mailinglist/address_changed.html", context)


@csrf_exempt
@require_POST
@_reader_from_token
def preferences_unsubscribe_all(
    request: HttpRequest, token: str, subscriber: Subscriber
) -> HttpResponse:
    subscriptions.subscription_unsubscribe(
        subscriber=subscriber, list_ids=None, meta=request_meta(request), method="preferences"
    )
    messages.success(
        request, gettext("You're unsubscribed from everything. We won't email you again.")
    )
    return redirect("mailinglist:preferences", token=token)


def _data_link_asked(
    request: HttpRequest, token: str, subscriber: Subscriber, purpose: DataPurpose
) -> HttpResponse:
    """Mail a data link to the reader's address (never the data itself: see data_links.py)."""
    asked = data_link_request(subscriber=subscriber, purpose=purpose)
    message = data_link_asked_message(asked=asked, subscriber=subscriber, purpose=purpose)
    if asked.outcome is Asked.SENT:
        messages.success(request, message)
    else:
        messages.warning(request, message)
    # To the top of the page, where the answer is shown.
    return redirect("mailinglist:preferences", token=token)


@csrf_exempt
@require_POST
@_reader_from_token
def preferences_export(request: HttpRequest, token: str, subscriber: Subscriber) -> HttpResponse:
    return _data_link_asked(request, token, subscriber, "export")


@csrf_exempt
@require_http_methods(["GET", "POST"])
@_reader_from_token
def preferences_erase(request: HttpRequest, token: str, subscriber: Subscriber) -> HttpResponse:
    if request.method == "GET":
        # Where "delete me" used to ask for the tick box; a bookmark of it lands on the buttons.
        return redirect(reverse("mailinglist:preferences", args=[token]) + "#your-data")
    return _data_link_asked(request, token, subscriber, "erase")
