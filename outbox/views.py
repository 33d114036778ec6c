from __future__ import annotations

import re
from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from outbox.backend import OutboxEmailBackend
from outbox.forms import OutboxSearchForm
from outbox.reading import outbox_clear, outbox_entries, outbox_message

MESSAGES_PER_PAGE = 50

# Mail HTML is untrusted: no scripts, no forms, no same-origin access, nothing that runs as this
# site. Popups are allowed, and escape the sandbox, only so that a link opens its page in a new
# tab as it would in a mail client (see _open_links_in_new_tab).
PREVIEW_SANDBOX = "allow-popups allow-popups-to-escape-sandbox"
PREVIEW_CSP = (
    f"sandbox {PREVIEW_SANDBOX}; default-src 'none'; img-src * data:; "
    "style-src 'unsafe-inline'; form-action 'none'"
)
_HEAD_TAG = re.compile(r"<head(?:\s[^>]*)?>", re.IGNORECASE)
_DOCTYPE = re.compile(r"^\s*<!doctype[^>]*>", re.IGNORECASE)


def superuser_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anyone not logged in as staff goes to the admin login; staff who are not superusers get 403.

    The outbox holds every reader's address and every link with a token in it, so it belongs
    with API tokens, branding and the audit trail, to superusers only.
    """

    @wraps(view)
    def checked(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if not request.user.is_superuser:
            raise PermissionDenied("The local outbox is for superusers.")
        return view(request, *args, **kwargs)

    return staff_member_required(checked)


def _is_active() -> bool:
    backend_path = f"{OutboxEmailBackend.__module__}.{OutboxEmailBackend.__name__}"
    return bool(backend_path == settings.EMAIL_BACKEND)


@superuser_required
def message_list(request: HttpRequest) -> HttpResponse:
    form = OutboxSearchForm(request.GET)
    is_valid = form.is_valid()
    query: str = form.cleaned_data["q"] if is_valid else ""
    entries, total = outbox_entries(query=query)
    if not is_valid:
        # An unusable query (too long) shows its error, not messages nobody asked for.
        entries = []
    # get_page never raises: a page that is not a number is page 1, one past the end the last.
    page = Paginator(entries, MESSAGES_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        **admin.site.each_context(request),
        "title": gettext("Local outbox"),
        "form": form,
        "query": query,
        "page": page,
        "page_links": page.paginator.get_elided_page_range(page.number, on_each_side=2),
        "total": total,
        "is_active": _is_active(),
        "email_url": settings.EMAIL_URL_REDACTED,
    }
    return render(request, "outbox/message_list.html", context)


@superuser_required
def message_detail(request: HttpRequest, key: str) -> HttpResponse:
    message = outbox_message(key=key)
    if message is None:
        raise Http404("No such message in the outbox.")
    context = {
        **admin.site.each_context(request),
        "title": message.entry.subject,
        "message": message,
        "preview_sandbox": PREVIEW_SANDBOX,
    }
    return render(request, "outbox/message_detail.html", context)


@superuser_required
@xframe_options_sameorigin
def message_html(request: HttpRequest, key: str) -> HttpResponse:
    """The HTML part alone, for the sandboxed iframe of the detail page."""
    message = outbox_message(key=key)
    if message is None or message.html is None:
        raise Http404("This message has no HTML part.")
    response = HttpResponse(
        _open_links_in_new_tab(message.html), content_type="text/html; charset=utf-8"
    )
    response["Content-Security-Policy"] = PREVIEW_CSP
    # A link followed from the preview must not tell its site which admin page it came from.
    response["Referrer-Policy"] = "no-referrer"
    return response


@superuser_required
@require_POST
def message_clear(request: HttpRequest) -> HttpResponse:
    deleted = outbox_clear()
    messages.success(
        request, gettext("Deleted %(count)d message(s) from the outbox.") % {"count": deleted}
    )
    return redirect("outbox:list")


def _open_links_in_new_tab(html: str) -> str:
    # A sandboxed frame may not navigate itself away from the mail or its parent; with
    # <base target="_blank"> a click opens a new tab instead (a popup, which the sandbox allows),
    # and target=_blank implies rel=noopener. The first <base> with a target wins, so it goes
    # first in <head>; a fragment without one gets it ahead of everything but the doctype
    # (before <!doctype> it would switch the page to quirks mode).
    base = '<base target="_blank">'
    head = _HEAD_TAG.search(html)
    if head is not None:
        return html[: head.end()] + base + html[head.end() :]
    doctype = _DOCTYPE.match(html)
    at = doctype.end() if doctype is not None else 0
    return html[:at] + base + html[at:]
