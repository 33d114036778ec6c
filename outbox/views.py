from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.clickjacking import xframe_options_sameorigin
from django.views.decorators.http import require_POST

from outbox.backend import OutboxEmailBackend
from outbox.reading import outbox_clear, outbox_entries, outbox_message


def _is_active() -> bool:
    backend_path = f"{OutboxEmailBackend.__module__}.{OutboxEmailBackend.__name__}"
    return bool(backend_path == settings.EMAIL_BACKEND)


@staff_member_required
def message_list(request: HttpRequest) -> HttpResponse:
    entries, total = outbox_entries()
    context = {
        **admin.site.each_context(request),
        "title": "Local outbox",
        "entries": entries,
        "total": total,
        "is_active": _is_active(),
        "email_url": settings.EMAIL_URL_REDACTED,
    }
    return render(request, "outbox/message_list.html", context)


@staff_member_required
def message_detail(request: HttpRequest, key: str) -> HttpResponse:
    message = outbox_message(key=key)
    if message is None:
        raise Http404("No such message in the outbox.")
    context = {
        **admin.site.each_context(request),
        "title": message.entry.subject,
        "message": message,
    }
    return render(request, "outbox/message_detail.html", context)


@staff_member_required
@xframe_options_sameorigin
def message_html(request: HttpRequest, key: str) -> HttpResponse:
    """The HTML part alone, for the sandboxed iframe of the detail page."""
    message = outbox_message(key=key)
    if message is None or message.html is None:
        raise Http404("This message has no HTML part.")
    response = HttpResponse(message.html, content_type="text/html; charset=utf-8")
    # Mail HTML is untrusted content: no scripts, no forms, nothing that runs as this site.
    response["Content-Security-Policy"] = (
        "sandbox; default-src 'none'; img-src * data:; style-src 'unsafe-inline'"
    )
    return response


@staff_member_required
@require_POST
def message_clear(request: HttpRequest) -> HttpResponse:
    deleted = outbox_clear()
    messages.success(request, f"Deleted {deleted} message(s) from the outbox.")
    return redirect("outbox:list")
