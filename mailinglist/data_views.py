"""The pages behind a data link (data_links.py): download my data, delete me.

Link scanners open every link, so a GET only shows the button; the POST downloads or erases. As
on every page reached from our mail, the signed token is the credential: no cookie, no CSRF
token (see views.py). An expired link, or one mailed to an address the reader has since left,
offers to mail a new one to the address they have now.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from mailinglist import preferences as preference_centre
from mailinglist import protection
from mailinglist.data_links import (
    Asked,
    DataLinkAsked,
    Opened,
    data_link_lifetime,
    data_link_open,
    data_link_request,
)
from mailinglist.emails import email_mask
from mailinglist.forms import EraseForm
from mailinglist.models import Subscriber
from mailinglist.signup import request_meta
from mailinglist.tokens import DataPurpose
from mailinglist.views import _invalid_link

DOWNLOAD_NAME = "my-newsletter-data.json"


def _unopened(
    request: HttpRequest, *, state: Opened, token: str, purpose: DataPurpose
) -> HttpResponse:
    """The page for a link that opens nothing: a new link offered when it was genuine."""
    if state is Opened.INVALID:
        return _invalid_link(request)
    context = {
        "token": token,
        "purpose": purpose,
        "is_stale": state is Opened.STALE,
        "lifetime": data_link_lifetime(),
    }
    return render(request, "mailinglist/data_link_expired.html", context, status=410)


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def data_export(request: HttpRequest, token: str) -> HttpResponse:
    opened = data_link_open(token=token, purpose="export")
    if opened.state is not Opened.OPEN or opened.subscriber is None:
        return _unopened(request, state=opened.state, token=token, purpose="export")
    if request.method == "GET":
        return render(request, "mailinglist/data_export.html", {"token": token})
    data = preference_centre.subscriber_export(subscriber=opened.subscriber)
    response = HttpResponse(
        json.dumps(data, indent=2, ensure_ascii=False),
        content_type="application/json; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{DOWNLOAD_NAME}"'
    return response


@never_cache
@csrf_exempt
@require_http_methods(["GET", "POST"])
def data_erase(request: HttpRequest, token: str) -> HttpResponse:
    opened = data_link_open(token=token, purpose="erase")
    if opened.state is not Opened.OPEN or opened.subscriber is None:
        return _unopened(request, state=opened.state, token=token, purpose="erase")
    form = EraseForm(request.POST if request.method == "POST" else None)
    if request.method == "GET" or not form.is_valid():
        status = 400 if request.method == "POST" else 200
        return render(
            request, "mailinglist/erase.html", {"form": form, "token": token}, status=status
        )
    preference_centre.subscriber_erase(
        subscriber=opened.subscriber, meta=request_meta(request), by="reader"
    )
    return render(request, "mailinglist/erased.html")


def _resend(request: HttpRequest, token: str, purpose: DataPurpose) -> HttpResponse:
    opened = data_link_open(token=token, purpose=purpose)
    if opened.state is Opened.INVALID or opened.subscriber is None:
        return _invalid_link(request)
    asked = data_link_request(subscriber=opened.subscriber, purpose=purpose)
    return data_link_asked_page(request, asked=asked, subscriber=opened.subscriber, purpose=purpose)


@csrf_exempt
@require_POST
def data_export_resend(request: HttpRequest, token: str) -> HttpResponse:
    return _resend(request, token, "export")


@csrf_exempt
@require_POST
def data_erase_resend(request: HttpRequest, token: str) -> HttpResponse:
    return _resend(request, token, "erase")


# --- What asking for a link answers --------------------------------------------------------------


def data_link_asked_message(
    *, asked: DataLinkAsked, subscriber: Subscriber, purpose: DataPurpose
) -> str:
    """What the reader is told after asking for a data link, in one sentence or two."""
    masked = email_mask(subscriber.email)
    if asked.outcome is Asked.UNREACHABLE:
        return gettext(
            "We can't send mail to %(address)s (it bounced, or we were asked to stop), so we "
            "can't send you the link. Contact the newsroom and we'll help."
        ) % {"address": masked}
    if asked.outcome is Asked.RATE_LIMITED:
        minutes = max(1, round(asked.retry_after_seconds / 60))
        return ngettext(
            "We've already sent %(links)d links to %(address)s in the last hour. Check your "
            "inbox (and your spam folder), or ask again in %(count)d minute.",
            "We've already sent %(links)d links to %(address)s in the last hour. Check your "
            "inbox (and your spam folder), or ask again in %(count)d minutes.",
            minutes,
        ) % {"links": protection.DATA_LINK_LIMIT, "address": masked, "count": minutes}
    if purpose == "export":
        sent = gettext(
            "We've sent a link to %(address)s. Open it within %(lifetime)s to download your data."
        )
    else:
        sent = gettext(
            "We've sent a link to %(address)s. Open it within %(lifetime)s to delete your data."
        )
    return sent % {"address": masked, "lifetime": data_link_lifetime()}


def data_link_asked_page(
    request: HttpRequest, *, asked: DataLinkAsked, subscriber: Subscriber, purpose: DataPurpose
) -> HttpResponse:
    message = data_link_asked_message(asked=asked, subscriber=subscriber, purpose=purpose)
    context: dict[str, Any] = {"message": message, "is_sent": asked.outcome is Asked.SENT}
    status = {Asked.SENT: 200, Asked.RATE_LIMITED: 429, Asked.UNREACHABLE: 409}[asked.outcome]
    response = render(request, "mailinglist/data_link_sent.html", context, status=status)
    if asked.outcome is Asked.RATE_LIMITED:
        response["Retry-After"] = str(asked.retry_after_seconds)
    return response
